//! Thorough teardown: `down` removes everything netloom created even when
//! the file was edited since (netloom's records still name it) or is gone
//! (`down --name`).
#[path = "support/common/mod.rs"]
mod common;
#[path = "support/txn_support/mod.rs"]
mod txn_support;

use common::Lab;
use txn_support::{edited, topology};

#[test]
fn down_after_the_file_was_edited_removes_what_the_file_no_longer_names() {
    let lab = Lab::from_text("txn.yaml", &topology("txn", 3));
    lab.expect("up", &[], 0);
    // Nodes, links, an address, a NAT rule change: all gone from the file.
    std::fs::write(&lab.file, edited("txn", 3)).unwrap();
    lab.expect("down", &[], 0);
    lab.assert_no_residue();
    // Forwarding (a host sysctl netloom changed) is back to the kernel default.
    let r = lab.sh("cat /proc/sys/net/ipv4/ip_forward");
    assert_eq!(r.out.trim(), "0", "{}", r.text());
}

#[test]
fn down_needs_only_the_name_of_a_file_broken_since_up() {
    let lab = Lab::from_text("txn.yaml", &topology("txn", 3));
    lab.expect("up", &[], 0);
    let text = std::fs::read_to_string(&lab.file).unwrap();
    std::fs::write(&lab.file, format!("{text}\nlinks: [broken\n")).unwrap();
    let r = lab.verb("validate", &[]);
    assert_ne!(r.code, 0, "the file must be broken: {}", r.text());
    lab.expect("down", &[], 0);
    lab.assert_no_residue();
    // Without a valid name, down says where the file is wrong.
    std::fs::write(&lab.file, "name: Not_Valid\nnodes: {}\n").unwrap();
    let r = lab.verb("down", &[]);
    assert_ne!(r.code, 0, "{}", r.text());
    assert!(r.text().contains(":1:"), "no location: {}", r.text());
}

#[test]
fn down_by_name_without_the_file() {
    let lab = Lab::from_text("txn.yaml", &topology("txn", 3));
    lab.expect("up", &[], 0);
    std::fs::remove_file(&lab.file).unwrap();
    let r = lab.netloom(&["down", "--name", "txn"]);
    assert_eq!(r.code, 0, "{}", r.text());
    assert!(!r.out.contains(": 0 operation"), "{}", r.text());
    lab.assert_no_residue();
    let r = lab.sh("cat /proc/sys/net/ipv4/ip_forward");
    assert_eq!(r.out.trim(), "0", "{}", r.text());
}

/// A `down` that fails at any step (namespace deletion cannot be undone, so
/// it may stop half-way) leaves records that let the next `down` finish.
#[test]
fn down_failing_at_any_step_is_finished_by_the_next_down() {
    let lab = Lab::from_text("txn.yaml", &topology("txn", 2));
    let file = lab.file.to_string_lossy().into_owned();
    let mut faults = 0;
    for k in 0..64 {
        lab.expect("up", &[], 0);
        let r = txn_support::command(&lab, &["down", &file])
            .env("NETLOOM_FAULT_AT", k.to_string())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&r.stderr);
        if r.status.code() == Some(0) {
            // k is past the last step: the fault never fired.
            lab.assert_no_residue();
            break;
        }
        faults += 1;
        assert_eq!(r.status.code(), Some(1), "fault at {k}:\n{err}");
        assert!(
            err.contains(&format!("NETLOOM_FAULT_AT={k}")),
            "fault at {k}:\n{err}"
        );
        let again = lab.netloom(&["down", "--name", "txn"]);
        assert_eq!(again.code, 0, "fault at {k}, down again:\n{}", again.text());
        txn_support::assert_clean(&lab, &format!("down after a fault at step {k}"));
    }
    assert!(faults >= 5, "only {faults} down steps");
}

/// A container replaced by another under the same host veth name: the old
/// namespace dies in a kernel worker after its deletion returned, and the
/// new pair (whose host end takes the old name) must wait until the old end
/// is gone. Before that wait, this `up` failed every time with EEXIST;
/// then it waited 10 s for the old h1 in the new one's place.
#[test]
fn a_node_replaced_under_the_same_host_veth_name_comes_up() {
    let text = "name: mv
nodes:
  host:
    interfaces:
      h1: { addresses: [10.9.0.1/24] }
  c1:
    interfaces:
      eth0: { addresses: [10.9.0.2/24] }
links:
  - [host/h1, c1/eth0]
";
    let lab = Lab::from_text("mv.yaml", text);
    lab.expect("up", &[], 0);
    let text = text.replace("c1", "c2").replace("10.9.0.2", "10.9.0.3");
    std::fs::write(&lab.file, text).unwrap();
    let start = std::time::Instant::now();
    lab.expect("up", &[], 0);
    // The settling after it must not wait for the new h1 to vanish.
    let took = start.elapsed();
    assert!(took.as_secs() < 5, "up took {took:?}");
    let ping = lab.exec("c2", &["ping", "-c", "1", "-W", "2", "10.9.0.1"]);
    assert_eq!(ping.code, 0, "{}", ping.text());
    let gone = lab.sh("ls /run/netns");
    assert!(!gone.out.contains("c1"), "{}", gone.text());
    let again = lab.expect("up", &[], 0);
    assert!(again.out.contains(": 0 operation"), "{}", again.text());
    lab.expect("down", &[], 0);
    lab.assert_no_residue();
}
