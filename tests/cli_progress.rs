//! A large `up` shows a progress bar on a terminal and stays quiet when
//! its output is not one. Host only (vm/test.sh leaves it out): it tests
//! the command line, which no kernel changes.
#[path = "support/common/mod.rs"]
mod common;

use common::{netloom_bin, Lab};

/// A bridge with `n` containers on veths, as in the scale bench.
fn containers(n: usize) -> String {
    let ports: Vec<String> = (1..=n).map(|i| format!("h{i}")).collect();
    let mut t = format!(
        "name: bar\nnodes:\n  host:\n    interfaces:\n      br0: {{ kind: bridge, stp: false, addresses: [10.31.0.1/16], ports: [{}] }}\n",
        ports.join(", ")
    );
    for p in &ports {
        t += &format!("      {p}: {{}}\n");
    }
    for i in 1..=n {
        t += &format!(
            "  c{i}:\n    interfaces:\n      eth0: {{ addresses: [10.31.0.{}/16] }}\n    routes:\n      - {{ to: default, via: 10.31.0.1 }}\n",
            i + 1
        );
    }
    t += "links:\n";
    for i in 1..=n {
        t += &format!("  - [host/h{i}, c{i}/eth0]\n");
    }
    t
}

#[test]
fn a_large_up_draws_progress_on_a_terminal_and_nothing_elsewhere() {
    let lab = Lab::from_text("bar.yaml", &containers(16));
    // Not a terminal (a pipe): nothing on stderr.
    let r = lab.expect("up", &[], 0);
    assert!(r.err.is_empty(), "stderr of a piped up:\n{}", r.text());
    lab.expect("down", &[], 0);
    // On a terminal (script(1) gives netloom a pty): a bar that counts up
    // to the number of operations the summary line reports.
    let cmd = format!("{} up {}", netloom_bin().display(), lab.file.display());
    let r = lab.sh(&format!("script -qec '{cmd}' /dev/null"));
    assert_eq!(r.code, 0, "{}", r.text());
    let n: usize = r
        .out
        .split("bar: ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no summary line:\n{}", r.text()));
    assert!(n >= 50, "only {n} operations: too few for a bar");
    assert!(
        r.out.contains(&format!("] {n}/{n}")) && r.out.contains('\r'),
        "no progress bar on a terminal:\n{}",
        r.text()
    );
    lab.expect("down", &[], 0);
    lab.assert_no_residue();
}
