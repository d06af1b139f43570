//! Rollback with kinds the host kernel lacks: a fault at every step of an
//! `up` leaves the machine as before. Ignored here; `vm/test.sh` runs them
//! in the VM with --include-ignored.
mod common;
mod txn_support;

use common::Lab;
use txn_support::every_step_rolls_back;

/// An ipvlan takes its lower's MTU whenever that changes (both ways), so
/// `up` sets its own MTU again after the lower's; a fault after that must
/// leave it with its own MTU, not with the lower's old one.
#[test]
#[ignore = "needs a kernel with ipvlan: runs in the VM"]
fn an_ipvlan_keeps_its_own_mtu_when_its_lowers_change_is_undone() {
    let text = |mtu: u32| {
        format!(
            "name: ripv
nodes:
  host:
    interfaces:
      up0: {{ mtu: {mtu}, addresses: [10.9.0.1/24] }}
      up0iv: {{ kind: ipvlan, lower: up0, mode: l2, mtu: 1400 }}
  c1:
    interfaces:
      eth0: {{ mtu: {mtu}, addresses: [10.9.0.2/24] }}
links:
  - [host/up0, c1/eth0]
"
        )
    };
    let lab = Lab::from_text("ripv.yaml", &text(1500));
    lab.expect("up", &[], 0);
    let mtu = || {
        lab.sh("cat /sys/class/net/up0iv/mtu")
            .out
            .trim()
            .to_string()
    };
    assert_eq!(mtu(), "1400");
    for (what, lower) in [("rising", 9000), ("falling", 1500)] {
        std::fs::write(&lab.file, text(lower)).unwrap();
        let n = every_step_rolls_back(&lab, what);
        assert!(n >= 3, "{what}: only {n} steps");
        lab.expect("up", &[], 0);
        assert_eq!(mtu(), "1400", "{what}");
        lab.expect("plan", &[], 0);
    }
    lab.expect("down", &[], 0);
    lab.assert_no_residue();
}
