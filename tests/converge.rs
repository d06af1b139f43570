//! `up` converges or says so (issue 17): after applying it reads the kernel
//! back; what is still pending is applied in a further pass, and when it
//! stays pending `up` rolls back and fails naming it. A kernel that
//! acknowledges an op without doing it stands in for one that undoes
//! netloom's work behind its back (NETLOOM_FAULT_SKIP[_ONCE]).
#[path = "support/common/mod.rs"]
mod common;

use common::{Lab, Run};

const PAIR: &str = "name: conv
nodes:
  a:
    interfaces:
      eth0: { addresses: [10.0.0.1/24] }
    routes:
      - { to: default, via: 10.0.0.2 }
  b:
    interfaces:
      eth0: { addresses: [10.0.0.2/24] }
links:
  - [a/eth0, b/eth0]
expect:
  - reach: a -> 10.0.0.2
";

/// `netloom up FILE EXTRA...` with one environment variable set.
fn up_with(lab: &Lab, extra: &[&str], var: &str, value: &str) -> Run {
    let file = lab.file.to_string_lossy().into_owned();
    let mut args = vec!["up", file.as_str()];
    args.extend_from_slice(extra);
    lab.netloom_with(&args, &[(var, value)])
}

#[test]
fn an_op_the_kernel_dropped_is_applied_in_a_second_pass() {
    let lab = Lab::from_text("conv.yaml", PAIR);
    let r = up_with(&lab, &[], "NETLOOM_FAULT_SKIP_ONCE", "route add default");
    assert_eq!(r.code, 0, "{}", r.text());
    let r = lab.verb("up", &["--json"]);
    assert_eq!(r.code, 0, "{}", r.text());
    assert!(lab.pending().is_empty(), "in sync after one up");
    let routes = lab.exec("a", &["ip", "route", "show", "default"]);
    assert!(routes.out.contains("via 10.0.0.2"), "{}", routes.text());
    lab.expect("verify", &[], 0);
    lab.expect("down", &[], 0);
    lab.assert_no_residue();
}

#[test]
fn the_second_pass_is_counted_in_the_report() {
    let lab = Lab::from_text("conv.yaml", PAIR);
    let r = up_with(
        &lab,
        &["--json"],
        "NETLOOM_FAULT_SKIP_ONCE",
        "route add default",
    );
    assert_eq!(r.code, 0, "{}", r.text());
    let report: serde_json::Value = serde_json::from_str(&r.out).expect("JSON report");
    assert_eq!(report["passes"], 2, "{}", r.out);
    lab.expect("down", &[], 0);
}

#[test]
fn what_never_converges_is_named_and_rolled_back() {
    let lab = Lab::from_text("conv.yaml", PAIR);
    let r = up_with(&lab, &[], "NETLOOM_FAULT_SKIP", "route add default");
    assert_eq!(r.code, 1, "{}", r.text());
    assert!(
        r.err.contains("did not converge") && r.err.contains("a: route add default via 10.0.0.2"),
        "{}",
        r.text()
    );
    assert!(
        r.err.contains("rolled back") && r.err.contains("the machine is as before"),
        "{}",
        r.text()
    );
    lab.assert_no_residue();
}
