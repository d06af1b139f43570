//! Apply tests against the real kernel, links: run ops, then read the kernel
//! back independently with iproute2 JSON. Each test in its own sandbox.
#[path = "support/apply_support/mod.rs"]
mod apply_support;

use apply_support::*;
use netloom::kernel::{apply, KernelError};
use netloom::model::{
    BridgeOptions, BridgePort, Link, LinkKind, MacAddr, MacvlanOptions, PortOptions, TunOptions,
    VxlanOptions,
};
use netloom::model::{LinkChange, Op};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn veth_across_nodes_with_mtu_mac_and_mark() {
    netloom::sandboxed!("veth_across_nodes_with_mtu_mac_and_mark");
    let k = lab(&["a", "b"]).await;
    let mut a = veth("v0", "b", "v1");
    a.mtu = Some(1400);
    a.mac = Some(mac("02:00:00:00:0a:01"));
    let mut b = veth("v1", "a", "v0");
    b.mtu = Some(1300);
    b.mac = Some(mac("02:00:00:00:0b:01"));
    run(
        &k,
        Op::AddLink {
            node: "a".into(),
            link: a,
            peer: Some(Box::new(b)),
        },
    )
    .await;
    let v0 = must("a", "v0");
    let v1 = must("b", "v1");
    assert_eq!(v0["linkinfo"]["info_kind"], "veth");
    assert_eq!(v0["mtu"], 1400);
    assert_eq!(v0["address"], "02:00:00:00:0a:01");
    assert_eq!(v0["ifalias"], MARK);
    assert_eq!(v1["mtu"], 1300);
    assert_eq!(v1["address"], "02:00:00:00:0b:01");
    assert_eq!(v1["ifalias"], MARK);
    assert!(link("a", "v1").is_none(), "the peer must not be in a");
    // Deleting one end removes both.
    run(
        &k,
        Op::DelLink {
            node: "a".into(),
            name: "v0".into(),
        },
    )
    .await;
    assert!(link("a", "v0").is_none());
    assert!(link("b", "v1").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn veth_in_the_host_node_and_netns_lifecycle() {
    netloom::sandboxed!("veth_in_the_host_node_and_netns_lifecycle");
    let k = lab(&["a"]).await;
    add_veth(&k, "host", "h0", "a", "a0").await;
    assert_eq!(must("host", "h0")["ifalias"], MARK);
    assert_eq!(must("a", "a0")["ifalias"], MARK);
    run(&k, Op::DelNetns { node: "a".into() }).await;
    assert!(k.node("a").await.unwrap().is_none());
    // The host end dies with its peer's namespace; the kernel tears a
    // namespace down asynchronously, so give it a moment.
    let mut gone = false;
    for _ in 0..50 {
        if link("host", "h0").is_none() {
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        gone,
        "host/h0 survived the deletion of its peer's namespace"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setlink_up_mtu_mac_master_nomaster() {
    netloom::sandboxed!("setlink_up_mtu_mac_master_nomaster");
    let k = lab(&["a"]).await;
    add_veth(&k, "a", "p0", "a", "p1").await;
    add(
        &k,
        "a",
        Link::new("br0", LinkKind::Bridge(BridgeOptions::default())),
    )
    .await;
    set(
        &k,
        "a",
        "p0",
        LinkChange {
            up: Some(true),
            mtu: Some(1280),
            mac: Some(mac("02:00:00:00:00:42")),
            master: Some(Some("br0".into())),
            ..Default::default()
        },
    )
    .await;
    let p0 = must("a", "p0");
    assert_eq!(p0["mtu"], 1280);
    assert_eq!(p0["address"], "02:00:00:00:00:42");
    assert_eq!(p0["master"], "br0");
    assert!(p0["flags"].as_array().unwrap().contains(&"UP".into()));
    set(
        &k,
        "a",
        "p0",
        LinkChange {
            up: Some(false),
            master: Some(None),
            ..Default::default()
        },
    )
    .await;
    let p0 = must("a", "p0");
    assert!(p0.get("master").is_none());
    assert!(!p0["flags"].as_array().unwrap().contains(&"UP".into()));
    // lo is brought up by a SetLink like any other link.
    set(
        &k,
        "a",
        "lo",
        LinkChange {
            up: Some(true),
            ..Default::default()
        },
    )
    .await;
    assert!(must("a", "lo")["flags"]
        .as_array()
        .unwrap()
        .contains(&"UP".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_with_every_option_and_a_kind_change() {
    netloom::sandboxed!("bridge_with_every_option_and_a_kind_change");
    let k = lab(&["a"]).await;
    let o = BridgeOptions {
        stp: Some(true),
        forward_delay: Some(400),
        hello_time: Some(300),
        max_age: Some(2500),
        priority: Some(100),
        ageing_time: Some(12300),
        mcast_snooping: Some(false),
        ..Default::default()
    };
    add(&k, "a", Link::new("br0", LinkKind::Bridge(o))).await;
    let br = must("a", "br0");
    assert_eq!(br["ifalias"], MARK);
    let d = &br["linkinfo"]["info_data"];
    assert_eq!(br["linkinfo"]["info_kind"], "bridge");
    assert_eq!(d["stp_state"], 1);
    assert_eq!(d["forward_delay"], 400);
    assert_eq!(d["hello_time"], 300);
    assert_eq!(d["max_age"], 2500);
    assert_eq!(d["priority"], 100);
    assert_eq!(d["ageing_time"], 12300);
    assert_eq!(d["mcast_snooping"], 0);
    // A kind change touches only the options it names.
    set(
        &k,
        "a",
        "br0",
        LinkChange {
            kind: Some(LinkKind::Bridge(BridgeOptions {
                stp: Some(false),
                priority: Some(4096),
                ..Default::default()
            })),
            ..Default::default()
        },
    )
    .await;
    let d = must("a", "br0")["linkinfo"]["info_data"].clone();
    assert_eq!(d["stp_state"], 0);
    assert_eq!(d["priority"], 4096);
    assert_eq!(d["forward_delay"], 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_port_options() {
    netloom::sandboxed!("bridge_port_options");
    let k = lab(&["a"]).await;
    bridge_with_port_p0(&k).await;
    let port = BridgePort {
        cost: Some(42),
        priority: Some(7),
        learning: Some(false),
        flood: Some(false),
        hairpin: Some(true),
        isolated: Some(true),
        vlans: vec![],
    };
    set(
        &k,
        "a",
        "p0",
        LinkChange {
            port: Some(PortOptions::Bridge(port)),
            ..Default::default()
        },
    )
    .await;
    let p0 = must("a", "p0");
    assert_eq!(p0["linkinfo"]["info_slave_kind"], "bridge");
    let d = &p0["linkinfo"]["info_slave_data"];
    assert_eq!(d["cost"], 42);
    assert_eq!(d["priority"], 7);
    assert_eq!(d["learning"], false);
    assert_eq!(d["flood"], false);
    assert_eq!(d["hairpin"], true);
    assert_eq!(d["isolated"], true);
    // Only the named options change.
    set(
        &k,
        "a",
        "p0",
        LinkChange {
            port: Some(PortOptions::Bridge(BridgePort {
                learning: Some(true),
                ..Default::default()
            })),
            ..Default::default()
        },
    )
    .await;
    let d = must("a", "p0")["linkinfo"]["info_slave_data"].clone();
    assert_eq!(d["learning"], true);
    assert_eq!(d["cost"], 42);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn macvlan_all_modes_and_source_macs() {
    netloom::sandboxed!("macvlan_all_modes_and_source_macs");
    let k = lab(&["a"]).await;
    for (i, mode) in ["private", "vepa", "bridge", "passthru", "source"]
        .iter()
        .enumerate()
    {
        // Each mode on its own lower: passthru wants its lower alone.
        let (lo, peer, mv) = (format!("l{i}"), format!("r{i}"), format!("mv{i}"));
        add_veth(&k, "a", &lo, "a", &peer).await;
        let macs = if *mode == "source" {
            vec![mac("02:00:00:00:00:01"), mac("02:00:00:00:00:02")]
        } else {
            vec![]
        };
        add(&k, "a", macvlan(&mv, at("a", &lo), mode, macs, false)).await;
        let l = must("a", &mv);
        assert_eq!(l["linkinfo"]["info_kind"], "macvlan");
        assert_eq!(l["linkinfo"]["info_data"]["mode"], *mode);
        assert_eq!(l["link"], lo.as_str());
        assert_eq!(l["ifalias"], MARK);
    }
    let d = must("a", "mv4")["linkinfo"]["info_data"].clone();
    assert_eq!(d["macaddr_count"], 2);
    // The kernel keeps source MACs in a hash: compare as a set.
    let mut got: Vec<String> = d["macaddr_data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_string())
        .collect();
    got.sort();
    assert_eq!(got, vec!["02:00:00:00:00:01", "02:00:00:00:00:02"]);
    // Changing the source list replaces it; an empty list leaves it alone.
    let change = |macs: Vec<MacAddr>| LinkChange {
        kind: Some(LinkKind::Macvlan(MacvlanOptions {
            source_macs: macs,
            ..Default::default()
        })),
        ..Default::default()
    };
    set(&k, "a", "mv4", change(vec![mac("02:00:00:00:00:03")])).await;
    let d = must("a", "mv4")["linkinfo"]["info_data"].clone();
    assert_eq!(d["macaddr_data"], serde_json::json!(["02:00:00:00:00:03"]));
    let mut only_mode = change(vec![]);
    if let Some(LinkKind::Macvlan(o)) = &mut only_mode.kind {
        o.mode = Some("source".into());
    }
    run(
        &k,
        Op::SetLink {
            node: "a".into(),
            name: "mv4".into(),
            change: only_mode,
            prior: change(vec![mac("02:00:00:00:00:03")]),
        },
    )
    .await;
    let d = must("a", "mv4")["linkinfo"]["info_data"].clone();
    assert_eq!(d["macaddr_data"], serde_json::json!(["02:00:00:00:00:03"]));
    // Mode change in place.
    set(
        &k,
        "a",
        "mv0",
        LinkChange {
            kind: Some(LinkKind::Macvlan(MacvlanOptions {
                mode: Some("vepa".into()),
                ..Default::default()
            })),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(must("a", "mv0")["linkinfo"]["info_data"]["mode"], "vepa");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn macvlan_with_lower_in_another_node() {
    netloom::sandboxed!("macvlan_with_lower_in_another_node");
    let k = lab(&["a", "b"]).await;
    add_veth(&k, "b", "up0", "b", "up1").await;
    let mut l = macvlan("mv0", at("b", "up0"), "bridge", vec![], false);
    l.mac = Some(mac("02:00:00:00:77:01"));
    l.mtu = Some(1400);
    add(&k, "a", l).await;
    let mv = must("a", "mv0");
    assert_eq!(mv["linkinfo"]["info_kind"], "macvlan");
    assert_eq!(mv["address"], "02:00:00:00:77:01");
    assert_eq!(mv["mtu"], 1400);
    assert_eq!(mv["ifalias"], MARK);
    // Its lower lives in another namespace.
    assert!(mv.get("link_netnsid").is_some(), "{mv}");
    assert!(link("b", "mv0").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn macvtap_on_a_veth() {
    netloom::sandboxed!("macvtap_on_a_veth");
    let k = lab(&["a"]).await;
    add_veth(&k, "a", "l0", "a", "r0").await;
    add(
        &k,
        "a",
        macvlan("tap0", at("a", "l0"), "bridge", vec![], true),
    )
    .await;
    let t = must("a", "tap0");
    assert_eq!(t["linkinfo"]["info_kind"], "macvtap");
    assert_eq!(t["linkinfo"]["info_data"]["mode"], "bridge");
    assert_eq!(t["ifalias"], MARK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vxlan_with_every_option() {
    netloom::sandboxed!("vxlan_with_every_option");
    let k = lab(&["a"]).await;
    add_veth(&k, "a", "u0", "a", "u1").await;
    let o = VxlanOptions {
        vni: 42,
        local: Some("10.0.0.1".parse().unwrap()),
        remote: Some("10.0.0.2".parse().unwrap()),
        group: None,
        dev: Some(at("a", "u0")),
        dstport: Some(4789),
        ttl: Some(5),
        learning: Some(false),
    };
    add(&k, "a", Link::new("vx0", LinkKind::Vxlan(o))).await;
    let v = must("a", "vx0");
    assert_eq!(v["ifalias"], MARK);
    let d = &v["linkinfo"]["info_data"];
    assert_eq!(v["linkinfo"]["info_kind"], "vxlan");
    assert_eq!(d["id"], 42);
    assert_eq!(d["local"], "10.0.0.1");
    assert_eq!(d["remote"], "10.0.0.2");
    assert_eq!(d["link"], "u0");
    assert_eq!(d["port"], 4789);
    assert_eq!(d["ttl"], 5);
    assert_eq!(d["learning"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tun_and_tap_with_owner_group_multi_queue_persist() {
    netloom::sandboxed!("tun_and_tap_with_owner_group_multi_queue_persist");
    let k = lab(&["a"]).await;
    let tun = TunOptions {
        mode: "tun".into(),
        owner: Some(4242),
        group: Some(4343),
        multi_queue: Some(false),
        persist: Some(true),
    };
    let mut l = Link::new("tun0", LinkKind::Tun(tun));
    l.mtu = Some(1400);
    add(&k, "a", l).await;
    let tap = TunOptions {
        mode: "tap".into(),
        owner: None,
        group: None,
        multi_queue: Some(true),
        persist: Some(true),
    };
    let mut l = Link::new("tap0", LinkKind::Tun(tap));
    l.mac = Some(mac("02:00:00:00:00:99"));
    add(&k, "a", l).await;
    let t = must("a", "tun0");
    let d = &t["linkinfo"]["info_data"];
    assert_eq!(d["type"], "tun");
    assert_eq!(d["pi"], false);
    assert_eq!(d["multi_queue"], false);
    assert_eq!(d["persist"], true);
    // iproute2 prints a name when the id has one, else the number.
    assert!(d["user"] == 4242 || d["user"] == "4242", "{d}");
    assert!(d["group"] == 4343 || d["group"] == "4343", "{d}");
    assert_eq!(t["mtu"], 1400);
    assert_eq!(t["ifalias"], MARK);
    let t = must("a", "tap0");
    let d = &t["linkinfo"]["info_data"];
    assert_eq!(d["type"], "tap");
    assert_eq!(d["multi_queue"], true);
    assert_eq!(d["persist"], true);
    assert_eq!(t["address"], "02:00:00:00:00:99");
    assert_eq!(t["ifalias"], MARK);
    // The device is in the node, not where netloom runs.
    assert!(link("host", "tun0").is_none());
    // A second create under a taken name fails and leaves the first alone.
    let clash = Link::new(
        "tun0",
        LinkKind::Tun(TunOptions {
            mode: "tap".into(),
            ..Default::default()
        }),
    );
    let err = apply::run(
        &k,
        &Op::AddLink {
            node: "a".into(),
            link: clash,
            peer: None,
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.errno(), Some(libc::EEXIST), "{err}");
    assert_eq!(must("a", "tun0")["linkinfo"]["info_data"]["type"], "tun");
    // A kind change re-attaches and sets the owner.
    set(
        &k,
        "a",
        "tun0",
        LinkChange {
            kind: Some(LinkKind::Tun(TunOptions {
                mode: "tun".into(),
                owner: Some(4444),
                group: None,
                multi_queue: Some(false),
                persist: Some(true),
            })),
            ..Default::default()
        },
    )
    .await;
    let d = must("a", "tun0")["linkinfo"]["info_data"].clone();
    assert!(d["user"] == 4444 || d["user"] == "4444", "{d}");
    run(
        &k,
        Op::DelLink {
            node: "a".into(),
            name: "tun0".into(),
        },
    )
    .await;
    assert!(link("a", "tun0").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kernel_refusal_carries_its_message_and_the_object() {
    netloom::sandboxed!("kernel_refusal_carries_its_message_and_the_object");
    let k = lab(&["a"]).await;
    bridge_with_port_p0(&k).await;
    let op = Op::AddLink {
        node: "a".into(),
        link: macvlan("mv0", at("a", "p0"), "bridge", vec![], false),
        peer: None,
    };
    match apply::run(&k, &op).await {
        Err(KernelError::Netlink {
            object,
            errno,
            message,
            ..
        }) => {
            assert_eq!(object, "a/mv0");
            assert_eq!(errno, libc::EBUSY);
            assert!(!message.is_empty());
        }
        other => panic!("expected a netlink refusal, got {other:?}"),
    }
    assert!(link("a", "mv0").is_none());
    // The kernel's own extended-ACK text comes through.
    let err = apply::run(
        &k,
        &Op::SetLink {
            node: "a".into(),
            name: "p1".into(),
            change: LinkChange {
                mtu: Some(70000),
                ..Default::default()
            },
            prior: LinkChange::default(),
        },
    )
    .await
    .unwrap_err();
    match &err {
        KernelError::Netlink {
            object, message, ..
        } => {
            assert_eq!(object, "a/p1");
            assert!(message.contains("mtu greater than device maximum"), "{err}");
        }
        other => panic!("expected a netlink refusal, got {other:?}"),
    }
    // An unknown interface is named too.
    let err = apply::run(
        &k,
        &Op::SetLink {
            node: "a".into(),
            name: "nope0".into(),
            change: netloom::model::LinkChange {
                mtu: Some(1400),
                ..Default::default()
            },
            prior: Default::default(),
        },
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("a/nope0"), "{err}");
    // Deleting what is already gone is done: the goal holds.
    apply::run(
        &k,
        &Op::DelLink {
            node: "a".into(),
            name: "nope0".into(),
        },
    )
    .await
    .expect("deleting an absent link is a no-op");
}
