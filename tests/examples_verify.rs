//! The examples whose claims are about traffic, proved through `netloom
//! verify`: the vepa example's full life cycle here, and every example that
//! needs drivers this kernel lacks (bond, team, ipvlan, 8021q) up, verified
//! (failover included) and down in the VM.
#[path = "support/common/mod.rs"]
mod common;

use common::Lab;

#[test]
fn macvlan_vepa_isolated_without_hairpin_reaches_with_it() {
    let lab = Lab::new("15-macvlan-vepa.yaml");
    common::life_cycle(
        &lab,
        (
            "mode: vepa, addresses: [10.15.0.1/24]",
            "mode: vepa, addresses: [10.15.0.1/24], mtu: 1400",
        ),
        "mtu 1400",
        |lab| {
            // The same claims, checked independently of netloom's probes.
            let ping = |node: &str, to: &str| {
                lab.exec(node, &["ping", "-c", "2", "-i", "0.2", "-W", "1", to])
                    .code
            };
            assert_eq!(ping("c", "10.15.0.254"), 0);
            assert_ne!(ping("c", "10.15.0.2"), 0);
            assert_eq!(ping("e", "10.15.1.2"), 0);
            // Without the hairpin, e and f are isolated too: verify fails and
            // names the claim and where it broke.
            let off = lab.exec(
                "sw",
                &[
                    "ip",
                    "link",
                    "set",
                    "up1",
                    "type",
                    "bridge_slave",
                    "hairpin",
                    "off",
                ],
            );
            assert_eq!(off.code, 0, "{}", off.text());
            for n in ["e", "f"] {
                lab.exec(n, &["ip", "neigh", "flush", "dev", "mv0"]);
            }
            let r = lab.expect("verify", &[], 1);
            let row = r
                .out
                .lines()
                .find(|l| l.starts_with("reach e -> 10.15.1.2"))
                .unwrap_or_else(|| panic!("{}", r.text()));
            assert!(
                row.contains("FAIL")
                    && row.contains(
                        "e/mv0 -> f/mv0 (10.15.1.2): ARP for 10.15.1.2 on mv0 unanswered"
                    ),
                "{row}"
            );
            // The drift is seen, `up` puts the hairpin back, and the claims hold again.
            let pending = lab.pending();
            assert_eq!(pending.len(), 1, "{pending:?}");
            assert!(pending[0].contains("hairpin"), "{pending:?}");
            lab.expect("up", &[], 0);
            lab.expect("verify", &[], 0);
        },
    );
}

/// Up, verify (exit 0), down, no residue.
fn proves(example: &str) {
    let lab = Lab::new(example);
    lab.expect("up", &[], 0);
    let r = lab.verb("verify", &[]);
    println!("{}", r.out);
    assert_eq!(r.code, 0, "{example}:\n{}", r.text());
    assert!(r.out.starts_with("ready after"), "{}", r.text());
    lab.expect("down", &[], 0);
    lab.assert_no_residue();
}

#[test]
#[ignore = "needs a kernel with bonding: runs in the VM"]
fn bond_active_backup_survives_losing_the_active_port() {
    proves("07-bond-active-backup.yaml");
}

#[test]
#[ignore = "needs a kernel with bonding: runs in the VM"]
fn bond_lacp_survives_losing_a_link() {
    proves("08-bond-lacp.yaml");
}

#[test]
#[ignore = "needs a kernel with team and teamd: runs in the VM"]
fn team_activebackup_survives_losing_the_active_port() {
    proves("09-team-activebackup.yaml");
}

#[test]
#[ignore = "needs a kernel with ipvlan: runs in the VM"]
fn ipvlan_l3_reaches_across_subnets() {
    proves("10-ipvlan-l3.yaml");
}

#[test]
#[ignore = "needs a kernel with ipvlan: runs in the VM"]
fn ipvlan_l2_reaches_and_is_reached() {
    proves("11-ipvlan-l2.yaml");
}

#[test]
#[ignore = "needs a kernel with 8021q: runs in the VM"]
fn different_vlans_are_isolated() {
    proves("12-vlan.yaml");
}

#[test]
#[ignore = "needs a kernel with 8021q: runs in the VM"]
fn logical_switch_joins_vlan_and_vxlan() {
    proves("13-logical-switch.yaml");
}

#[test]
#[ignore = "needs a kernel with ipvtap: runs in the VM"]
fn ipvtap_and_macvtap_side_by_side() {
    proves("14-ipvtap-macvtap.yaml");
}
