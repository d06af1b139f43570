//! Apply tests for kinds this machine's kernel lacks (bond, 8021q, ipvlan,
//! ipvtap, dummy, team, bridge VLAN filtering): ignored here, run in the
//! Debian 6.1 VM with --include-ignored.
#[path = "support/apply_support/mod.rs"]
mod apply_support;

use std::process::Command;

use apply_support::*;
use netloom::kernel::{apply, KernelError};
use netloom::model::{
    BondOptions, BondPort, BridgeOptions, BridgePort, BridgeVlan, IpvlanOptions, Link, LinkKind,
    PortOptions, VlanOptions,
};
use netloom::model::{LinkChange, Op};
use serde_json::Value;

/// A bond with `o`.
fn bond(name: &str, o: BondOptions) -> Link {
    Link::new(name, LinkKind::Bond(o))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kernel with bonding: runs in the VM"]
async fn bond_active_backup_options_ports_and_primary() {
    netloom::sandboxed!("bond_active_backup_options_ports_and_primary");
    let k = lab(&["a"]).await;
    let o = BondOptions {
        mode: Some("active-backup".into()),
        miimon: Some(100),
        updelay: Some(200),
        downdelay: Some(300),
        use_carrier: Some(true),
        primary_reselect: Some("better".into()),
        fail_over_mac: Some("active".into()),
        min_links: Some(1),
        all_slaves_active: Some(true),
        ..Default::default()
    };
    add(&k, "a", bond("bond0", o)).await;
    let b = must("a", "bond0");
    assert_eq!(b["ifalias"], MARK);
    assert_eq!(b["linkinfo"]["info_kind"], "bond");
    let d = &b["linkinfo"]["info_data"];
    assert_eq!(d["mode"], "active-backup");
    assert_eq!(d["miimon"], 100);
    assert_eq!(d["updelay"], 200);
    assert_eq!(d["downdelay"], 300);
    assert_eq!(d["use_carrier"], 1);
    assert_eq!(d["primary_reselect"], "better");
    assert_eq!(d["fail_over_mac"], "active");
    assert_eq!(d["min_links"], 1);
    assert_eq!(d["all_slaves_active"], 1);
    for (p, q) in [("p0", "q0"), ("p1", "q1")] {
        add_veth(&k, "a", p, "a", q).await;
        set(
            &k,
            "a",
            p,
            LinkChange {
                master: Some(Some("bond0".into())),
                ..Default::default()
            },
        )
        .await;
    }
    set(
        &k,
        "a",
        "p1",
        LinkChange {
            port: Some(PortOptions::Bond(BondPort {
                prio: Some(10),
                queue_id: Some(3),
            })),
            ..Default::default()
        },
    )
    .await;
    let p1 = must("a", "p1");
    assert_eq!(p1["master"], "bond0");
    assert_eq!(p1["linkinfo"]["info_slave_kind"], "bond");
    assert_eq!(p1["linkinfo"]["info_slave_data"]["queue_id"], 3);
    assert_eq!(p1["linkinfo"]["info_slave_data"]["prio"], 10);
    // The primary is set once its port exists (a kind change).
    set(
        &k,
        "a",
        "bond0",
        LinkChange {
            kind: Some(LinkKind::Bond(BondOptions {
                primary: Some("p1".into()),
                ..Default::default()
            })),
            ..Default::default()
        },
    )
    .await;
    let d = must("a", "bond0")["linkinfo"]["info_data"].clone();
    assert_eq!(d["primary"], "p1");
    assert_eq!(d["miimon"], 100, "a kind change keeps the other options");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kernel with bonding: runs in the VM"]
async fn bond_arp_monitoring_options() {
    netloom::sandboxed!("bond_arp_monitoring_options");
    let k = lab(&["a"]).await;
    let o = BondOptions {
        mode: Some("active-backup".into()),
        arp_interval: Some(250),
        arp_ip_target: vec!["10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap()],
        arp_validate: Some("all".into()),
        arp_all_targets: Some("all".into()),
        ..Default::default()
    };
    add(&k, "a", bond("bond0", o)).await;
    let d = must("a", "bond0")["linkinfo"]["info_data"].clone();
    assert_eq!(d["arp_interval"], 250);
    assert_eq!(
        d["arp_ip_target"],
        serde_json::json!(["10.0.0.1", "10.0.0.2"])
    );
    assert_eq!(d["arp_validate"], "all");
    assert_eq!(d["arp_all_targets"], "all");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kernel with bonding: runs in the VM"]
async fn bond_802_3ad_options() {
    netloom::sandboxed!("bond_802_3ad_options");
    let k = lab(&["a"]).await;
    let o = BondOptions {
        mode: Some("802.3ad".into()),
        miimon: Some(100),
        lacp_rate: Some("fast".into()),
        ad_select: Some("bandwidth".into()),
        xmit_hash_policy: Some("layer3+4".into()),
        min_links: Some(2),
        ..Default::default()
    };
    add(&k, "a", bond("bond0", o)).await;
    let d = must("a", "bond0")["linkinfo"]["info_data"].clone();
    assert_eq!(d["mode"], "802.3ad");
    assert_eq!(d["ad_lacp_rate"], "fast");
    assert_eq!(d["ad_select"], "bandwidth");
    assert_eq!(d["xmit_hash_policy"], "layer3+4");
    assert_eq!(d["min_links"], 2);
    // A word the kernel has no number for is refused before any request.
    let bad = BondOptions {
        mode: Some("round-robin".into()),
        ..Default::default()
    };
    let err = apply::run(
        &k,
        &Op::AddLink {
            node: "a".into(),
            link: bond("bond1", bad),
            peer: None,
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, KernelError::Invalid { .. }), "{err}");
    assert!(link("a", "bond1").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kernel with 8021q: runs in the VM"]
async fn vlan_with_protocol_flags_and_qos_maps() {
    netloom::sandboxed!("vlan_with_protocol_flags_and_qos_maps");
    let k = lab(&["a"]).await;
    add_veth(&k, "a", "l0", "a", "r0").await;
    let o = VlanOptions {
        lower: Some(at("a", "l0")),
        id: 10,
        protocol: Some(0x8100),
        reorder_hdr: Some(false),
        gvrp: Some(true),
        mvrp: None,
        loose_binding: Some(true),
        ingress_qos_map: vec![(1, 2)],
        egress_qos_map: vec![(3, 4)],
    };
    let mut l = Link::new("l0.10", LinkKind::Vlan(o));
    l.mtu = Some(1400);
    add(&k, "a", l).await;
    let v = must("a", "l0.10");
    assert_eq!(v["ifalias"], MARK);
    assert_eq!(v["link"], "l0");
    assert_eq!(v["mtu"], 1400);
    let d = &v["linkinfo"]["info_data"];
    assert_eq!(v["linkinfo"]["info_kind"], "vlan");
    assert_eq!(d["protocol"], "802.1Q");
    assert_eq!(d["id"], 10);
    let flags = d["flags"].as_array().unwrap();
    assert!(!flags.contains(&"REORDER_HDR".into()), "{d}");
    assert!(flags.contains(&"GVRP".into()), "{d}");
    assert!(flags.contains(&"LOOSE_BINDING".into()), "{d}");
    assert_eq!(d["ingress_qos"], serde_json::json!([{"from": 1, "to": 2}]));
    assert_eq!(d["egress_qos"], serde_json::json!([{"from": 3, "to": 4}]));
    // 802.1ad.
    let ad = VlanOptions {
        lower: Some(at("a", "l0")),
        id: 20,
        protocol: Some(0x88a8),
        ..Default::default()
    };
    add(&k, "a", Link::new("l0.20", LinkKind::Vlan(ad))).await;
    assert_eq!(
        must("a", "l0.20")["linkinfo"]["info_data"]["protocol"],
        "802.1ad"
    );
    // A flag change touches only the named flag.
    set(
        &k,
        "a",
        "l0.10",
        LinkChange {
            kind: Some(LinkKind::Vlan(VlanOptions {
                id: 10,
                reorder_hdr: Some(true),
                ..Default::default()
            })),
            ..Default::default()
        },
    )
    .await;
    let d = must("a", "l0.10")["linkinfo"]["info_data"].clone();
    let flags = d["flags"].as_array().unwrap();
    assert!(flags.contains(&"REORDER_HDR".into()), "{d}");
    assert!(flags.contains(&"GVRP".into()), "{d}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kernel with ipvlan and ipvtap: runs in the VM"]
async fn ipvlan_and_ipvtap_modes_and_flags() {
    netloom::sandboxed!("ipvlan_and_ipvtap_modes_and_flags");
    let k = lab(&["a", "b"]).await;
    let cases = [
        ("l2", "bridge", false),
        ("l3", "private", false),
        ("l3s", "vepa", false),
        ("l2", "private", true),
    ];
    for (i, (mode, flag, tap)) in cases.iter().enumerate() {
        // The mode and flags belong to the lower's port: one lower per case.
        let (lo, peer, name) = (format!("l{i}"), format!("r{i}"), format!("iv{i}"));
        add_veth(&k, "a", &lo, "a", &peer).await;
        let o = IpvlanOptions {
            lower: Some(at("a", &lo)),
            mode: Some(mode.to_string()),
            flag: Some(flag.to_string()),
            tap_path: None,
        };
        let kind = if *tap {
            LinkKind::Ipvtap(o)
        } else {
            LinkKind::Ipvlan(o)
        };
        add(&k, "a", Link::new(name.clone(), kind)).await;
        let l = must("a", &name);
        assert_eq!(l["ifalias"], MARK);
        assert_eq!(
            l["linkinfo"]["info_kind"],
            if *tap { "ipvtap" } else { "ipvlan" }
        );
        let d = &l["linkinfo"]["info_data"];
        assert_eq!(d["mode"], *mode, "{d}");
        assert_eq!(d[*flag], true, "{d}");
    }
    // Lower in another node: created there, lands in a.
    add_veth(&k, "b", "up0", "b", "up1").await;
    let o = IpvlanOptions {
        lower: Some(at("b", "up0")),
        mode: Some("l2".into()),
        flag: None,
        tap_path: None,
    };
    add(&k, "a", Link::new("ivx", LinkKind::Ipvlan(o))).await;
    let l = must("a", "ivx");
    assert!(l.get("link_netnsid").is_some(), "{l}");
    assert!(link("b", "ivx").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kernel with dummy: runs in the VM"]
async fn dummy_with_mtu_and_mac() {
    netloom::sandboxed!("dummy_with_mtu_and_mac");
    let k = lab(&["a"]).await;
    let mut l = Link::new("d0", LinkKind::Dummy(Default::default()));
    l.mtu = Some(9000);
    l.mac = Some(mac("02:00:00:00:d0:01"));
    add(&k, "a", l).await;
    let d = must("a", "d0");
    assert_eq!(d["linkinfo"]["info_kind"], "dummy");
    assert_eq!(d["mtu"], 9000);
    assert_eq!(d["address"], "02:00:00:00:d0:01");
    assert_eq!(d["ifalias"], MARK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kernel with team: runs in the VM"]
async fn team_device_is_created_bare() {
    netloom::sandboxed!("team_device_is_created_bare");
    let k = lab(&["a"]).await;
    add(
        &k,
        "a",
        Link::new(
            "team0",
            LinkKind::Team(netloom::model::TeamOptions {
                runner: "activebackup".into(),
                ..Default::default()
            }),
        ),
    )
    .await;
    let t = must("a", "team0");
    assert_eq!(t["linkinfo"]["info_kind"], "team");
    assert_eq!(t["ifalias"], MARK);
}

/// `bridge -j vlan show` in a node: vid -> flags, for one device.
fn bridge_vlans(node: &str, dev: &str) -> Vec<(u64, Vec<String>)> {
    let out = Command::new("bridge")
        .args(ns_args(node))
        .args(["-j", "vlan", "show"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let Some(entry) = v.as_array().unwrap().iter().find(|e| e["ifname"] == dev) else {
        return vec![];
    };
    entry["vlans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            let flags = x["flags"]
                .as_array()
                .map(|f| f.iter().map(|s| s.as_str().unwrap().to_string()).collect())
                .unwrap_or_default();
            (x["vlan"].as_u64().unwrap(), flags)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kernel with bridge vlan filtering: runs in the VM"]
async fn bridge_vlan_filtering_self_and_port_vlans() {
    netloom::sandboxed!("bridge_vlan_filtering_self_and_port_vlans");
    let k = lab(&["a"]).await;
    let vlan = |vid, pvid, untagged| BridgeVlan {
        vid,
        pvid,
        untagged,
    };
    let o = BridgeOptions {
        vlan_filtering: Some(true),
        vlan_protocol: Some(0x88a8),
        default_pvid: Some(1),
        vlans: vec![vlan(10, false, false), vlan(20, false, true)],
        ..Default::default()
    };
    add(&k, "a", Link::new("br0", LinkKind::Bridge(o))).await;
    let d = must("a", "br0")["linkinfo"]["info_data"].clone();
    assert_eq!(d["vlan_filtering"], 1);
    assert_eq!(d["vlan_protocol"], "802.1ad");
    assert_eq!(d["vlan_default_pvid"], 1);
    let own = bridge_vlans("a", "br0");
    assert!(own.iter().any(|(v, _)| *v == 10), "{own:?}");
    assert!(
        own.iter()
            .any(|(v, f)| *v == 20 && f.contains(&"Egress Untagged".to_string())),
        "{own:?}"
    );
    add_veth(&k, "a", "p0", "a", "q0").await;
    set(
        &k,
        "a",
        "p0",
        LinkChange {
            master: Some(Some("br0".into())),
            ..Default::default()
        },
    )
    .await;
    let port = |vlans| {
        Some(PortOptions::Bridge(BridgePort {
            vlans,
            ..Default::default()
        }))
    };
    set(
        &k,
        "a",
        "p0",
        LinkChange {
            port: port(vec![vlan(30, true, true)]),
            ..Default::default()
        },
    )
    .await;
    let p = bridge_vlans("a", "p0");
    assert!(
        p.iter()
            .any(|(v, f)| *v == 30 && f.contains(&"PVID".to_string())),
        "{p:?}"
    );
    // Replacing the port's VLANs removes the ones no longer wanted.
    run(
        &k,
        Op::SetLink {
            node: "a".into(),
            name: "p0".into(),
            change: LinkChange {
                port: port(vec![vlan(40, false, false)]),
                ..Default::default()
            },
            prior: LinkChange {
                port: port(vec![vlan(30, true, true)]),
                ..Default::default()
            },
        },
    )
    .await;
    let p = bridge_vlans("a", "p0");
    assert!(p.iter().any(|(v, _)| *v == 40), "{p:?}");
    assert!(!p.iter().any(|(v, _)| *v == 30), "{p:?}");
}
