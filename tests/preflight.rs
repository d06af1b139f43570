//! Preflight: `up` fails before touching anything when the kernel lacks a
//! driver the plan needs, naming every missing kind; where the kernel has
//! them all (the VM), the preflight passes.
#[path = "support/common/mod.rs"]
mod common;

use std::collections::BTreeSet;

use common::Lab;
use netloom::kernel::support;
use netloom::model::Need;

fn kinds(words: &[&str]) -> BTreeSet<Need> {
    words.iter().map(|k| Need::Kind(k.to_string())).collect()
}

/// On a kernel without bonding (this machine) `up` of the bond example stops
/// before anything, naming bond; where bonding exists it must pass instead.
#[test]
fn up_without_bonding_names_bond_and_touches_nothing() {
    netloom::sandboxed!("up_without_bonding_names_bond_and_touches_nothing");
    let has_bond = support::check(&kinds(&["bond"]))
        .expect("preflight runs")
        .is_empty();
    let lab = Lab::new("07-bond-active-backup.yaml");
    let up = lab.verb("up", &[]);
    if has_bond {
        assert_eq!(up.code, 0, "{}", up.text());
        lab.expect("down", &[], 0);
    } else {
        assert_eq!(up.code, 1, "{}", up.text());
        assert!(
            up.err
                .contains("this kernel cannot make `bond` devices (bonding driver missing"),
            "{}",
            up.text()
        );
        assert!(up.err.contains("nothing was changed"), "{}", up.text());
    }
    lab.assert_no_residue();
}

/// Every missing kind is listed, each with the kernel's words; supported
/// ones are not.
#[test]
fn every_missing_kind_is_reported_and_present_ones_are_not() {
    netloom::sandboxed!("every_missing_kind_is_reported_and_present_ones_are_not");
    let all = [
        "bond", "team", "vlan", "ipvlan", "ipvtap", "dummy", "macvlan", "macvtap", "vxlan",
        "bridge", "veth", "tun",
    ];
    let missing = support::check(&kinds(&all)).expect("preflight runs");
    // veth, bridge, macvlan, vxlan and tun exist on every kernel netloom runs on.
    for present in ["veth", "bridge", "macvlan", "vxlan", "tun"] {
        assert!(
            !missing.iter().any(|m| m.need == Need::Kind(present.into())),
            "{present} reported missing: {missing:?}"
        );
    }
    let on_host = std::path::Path::new("/sys/module/bonding").exists()
        || support::check(&kinds(&["bond"])).unwrap().is_empty();
    if !on_host {
        let text: Vec<String> = missing.iter().map(|m| m.to_string()).collect();
        assert!(
            text.iter()
                .any(|t| t.contains("`bond`") && t.contains("bonding driver")),
            "{text:#?}"
        );
        // Each message carries the kernel's reason, not just the kind.
        assert!(text.iter().all(|t| t.contains(": ")), "{text:#?}");
    }
    // Nothing of the probes is left in the sandbox's own namespace.
    let links = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("pfl-"))
        .count();
    assert_eq!(links, 0);
}

/// The VM's kernel has every driver netloom uses, and teamd: preflight passes.
#[test]
#[ignore = "needs a kernel with bond, team, 8021q, ipvlan, dummy, vlan filtering: runs in the VM"]
fn preflight_passes_on_a_full_kernel() {
    netloom::sandboxed!("preflight_passes_on_a_full_kernel");
    let mut needs = kinds(&[
        "bond", "team", "vlan", "ipvlan", "ipvtap", "dummy", "macvlan", "macvtap", "vxlan",
        "bridge", "veth", "tun",
    ]);
    needs.insert(Need::BridgeVlanFiltering);
    needs.insert(Need::Teamd);
    let missing = support::check(&needs).expect("preflight runs");
    assert!(missing.is_empty(), "{missing:#?}");
    // And `up` of the bond example passes it and comes up.
    let lab = Lab::new("07-bond-active-backup.yaml");
    lab.expect("up", &[], 0);
    lab.expect("down", &[], 0);
    lab.assert_no_residue();
}
