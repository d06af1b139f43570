//! Thorough teardown: `down` removes everything netloom created even when
//! the file was edited since (netloom's records still name it) or is gone
//! (`down --name`).
mod common;
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
