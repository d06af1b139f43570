//! Rollback with kinds the host kernel lacks: a fault at every step of an
//! `up` leaves the machine as before. Ignored here; `vm/test.sh` runs them
//! in the VM with --include-ignored.
#[path = "support/common/mod.rs"]
mod common;
#[path = "support/txn_support/mod.rs"]
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

/// A team port removed from the file is deleted (teamd keeps running: its
/// setup follows the ports that stay). A fault at any later step must bring
/// the port back enslaved to the team, with the port that is down (which
/// every teamd start opens) down again.
/// (`only_active` keeps the backup ports' own MACs: with `same_all` teamd
/// gives every port the team's, and a port made anew with it gets another
/// link-local address than the one its first MAC gave it.)
#[test]
#[ignore = "needs a kernel with team and teamd: runs in the VM"]
fn a_removed_team_port_comes_back_enslaved_when_rolled_back() {
    let text = |ports: &[&str]| {
        let list: Vec<String> = ports.iter().map(|p| format!("{p}: {{}}")).collect();
        let ifaces: String = ports
            .iter()
            .map(|p| match *p {
                "eth2" => format!("      {p}: {{ state: down }}\n"),
                _ => format!("      {p}: {{}}\n"),
            })
            .collect();
        let peers: String = ports
            .iter()
            .enumerate()
            .map(|(i, _)| format!("      q{i}: {{}}\n"))
            .collect();
        let links: String = ports
            .iter()
            .enumerate()
            .map(|(i, p)| format!("  - [a/{p}, b/q{i}]\n"))
            .collect();
        format!(
            "name: rteam
nodes:
  a:
    interfaces:
      team0: {{ kind: team, runner: {{ name: activebackup, hwaddr_policy: only_active }}, ports: {{ {} }}, addresses: [10.9.1.1/24] }}
{ifaces}  b:
    interfaces:
{peers}links:
{links}",
            list.join(", ")
        )
    };
    let lab = Lab::from_text("rteam.yaml", &text(&["eth0", "eth2", "eth1"]));
    lab.expect("up", &[], 0);
    // With a second change, so that faults come after the port's deletion.
    let edit = text(&["eth0", "eth2"]).replace("[10.9.1.1/24]", "[10.9.1.1/24, 10.9.2.1/24]");
    std::fs::write(&lab.file, edit).unwrap();
    let plan = lab.verb("plan", &[]);
    let n = every_step_rolls_back(&lab, "port removed");
    assert!(n >= 2, "only {n} steps:\n{}", plan.text());
    lab.expect("up", &[], 0);
    lab.expect("plan", &[], 0);
    lab.expect("down", &[], 0);
    lab.assert_no_residue();
}
