//! Apply tests against the real kernel: run ops, then read the kernel back
//! independently with iproute2 / nft JSON output. Each test in its own sandbox.
use std::process::Command;

use netloom::kernel::{apply, Kernel, KernelError};
use netloom::model::{
    Address, BondOptions, BondPort, BridgeOptions, BridgePort, BridgeVlan, IfRef, IpvlanOptions,
    Link, LinkKind, MacAddr, MacvlanOptions, Masquerade, PortOptions, Route, TunOptions,
    VethOptions, VlanOptions, VxlanOptions,
};
use netloom::plan::{LinkChange, Op};
use serde_json::Value;

const TOPO: &str = "t";
const MARK: &str = "netloom:t";

/// A kernel handle for topology `t` with these nodes created.
async fn lab(nodes: &[&str]) -> Kernel {
    let k = Kernel::new(TOPO).unwrap();
    for n in nodes {
        run(
            &k,
            Op::AddNetns {
                node: n.to_string(),
            },
        )
        .await;
    }
    k
}

/// Run one op that must succeed.
async fn run(k: &Kernel, op: Op) {
    if let Err(e) = apply::run(k, &op).await {
        panic!("{op:?} failed: {e}");
    }
}

/// The iproute2 namespace arguments for a node.
fn ns_args(node: &str) -> Vec<String> {
    match netloom::model::netns_name(TOPO, node) {
        Some(n) => vec!["-n".into(), n],
        None => vec![],
    }
}

/// `ip -j ARGS` in a node, parsed.
fn ip(node: &str, args: &[&str]) -> Value {
    let out = Command::new("ip")
        .args(ns_args(node))
        .arg("-j")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `ip -d -j link show dev NAME` in a node, or None when absent.
fn link(node: &str, name: &str) -> Option<Value> {
    let out = Command::new("ip")
        .args(ns_args(node))
        .args(["-d", "-j", "link", "show", "dev", name])
        .output()
        .unwrap();
    if !out.status.success() {
        return None;
    }
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    Some(v[0].clone())
}

/// Like [`link`] but the link must exist.
fn must(node: &str, name: &str) -> Value {
    link(node, name).unwrap_or_else(|| panic!("{node}/{name} does not exist"))
}

/// A veth end `node/name` whose peer is `peer_node/peer`.
fn veth(name: &str, peer_node: &str, peer: &str) -> Link {
    Link::new(
        name,
        LinkKind::Veth(VethOptions {
            peer: Some(IfRef {
                node: peer_node.into(),
                name: peer.into(),
            }),
        }),
    )
}

/// Create a veth pair `node/a` - `peer_node/b`.
async fn add_veth(k: &Kernel, node: &str, a: &str, peer_node: &str, b: &str) {
    run(
        k,
        Op::AddLink {
            node: node.into(),
            link: veth(a, peer_node, b),
            peer: Some(Box::new(veth(b, node, a))),
        },
    )
    .await;
}

/// Add a link with no peer.
async fn add(k: &Kernel, node: &str, l: Link) {
    run(
        k,
        Op::AddLink {
            node: node.into(),
            link: l,
            peer: None,
        },
    )
    .await;
}

/// A SetLink op.
async fn set(k: &Kernel, node: &str, name: &str, change: LinkChange) {
    run(
        k,
        Op::SetLink {
            node: node.into(),
            name: name.into(),
            change,
            prior: LinkChange::default(),
        },
    )
    .await;
}

fn mac(s: &str) -> MacAddr {
    s.parse().unwrap()
}

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
            master: Some(Some("br0".into())),
            ..Default::default()
        },
    )
    .await;
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

/// A macvlan or macvtap on `lower`.
fn macvlan(name: &str, lower: IfRef, mode: &str, macs: Vec<MacAddr>, tap: bool) -> Link {
    let o = MacvlanOptions {
        lower: Some(lower),
        mode: Some(mode.into()),
        source_macs: macs,
        tap_path: None,
    };
    Link::new(
        name,
        if tap {
            LinkKind::Macvtap(o)
        } else {
            LinkKind::Macvlan(o)
        },
    )
}

fn at(node: &str, name: &str) -> IfRef {
    IfRef {
        node: node.into(),
        name: name.into(),
    }
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
    // Changing the source list replaces it; emptying it flushes.
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
    run(
        &k,
        Op::SetLink {
            node: "a".into(),
            name: "mv4".into(),
            change: change(vec![]),
            prior: change(vec![mac("02:00:00:00:00:03")]),
        },
    )
    .await;
    assert_eq!(
        must("a", "mv4")["linkinfo"]["info_data"]["macaddr_count"],
        0
    );
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
async fn addresses_v4_and_v6() {
    netloom::sandboxed!("addresses_v4_and_v6");
    let k = lab(&["a"]).await;
    add_veth(&k, "a", "e0", "a", "e1").await;
    set(
        &k,
        "a",
        "e0",
        LinkChange {
            up: Some(true),
            ..Default::default()
        },
    )
    .await;
    let v4 = Address {
        net: "10.0.3.1/24".parse().unwrap(),
        dad: false,
    };
    let v6 = Address {
        net: "fd00::1/64".parse().unwrap(),
        dad: false,
    };
    for addr in [v4, v6] {
        run(
            &k,
            Op::AddAddress {
                node: "a".into(),
                link: "e0".into(),
                addr,
            },
        )
        .await;
    }
    let info = ip("a", &["addr", "show", "dev", "e0"]);
    let addrs = info[0]["addr_info"].as_array().unwrap().clone();
    let find = |a: &str| {
        addrs
            .iter()
            .find(|x| x["local"] == a)
            .unwrap_or_else(|| panic!("{a} missing in {addrs:?}"))
            .clone()
    };
    let a4 = find("10.0.3.1");
    assert_eq!(a4["prefixlen"], 24);
    assert_eq!(a4["broadcast"], "10.0.3.255");
    let a6 = find("fd00::1");
    assert_eq!(a6["prefixlen"], 64);
    assert!(a6.get("tentative").is_none(), "{a6}");
    assert_eq!(a6["nodad"], true, "{a6}");
    run(
        &k,
        Op::DelAddress {
            node: "a".into(),
            link: "e0".into(),
            addr: v4,
        },
    )
    .await;
    let info = ip("a", &["addr", "show", "dev", "e0"]);
    assert!(!info[0]["addr_info"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["local"] == "10.0.3.1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_with_via_dev_metric_table() {
    netloom::sandboxed!("routes_with_via_dev_metric_table");
    let k = lab(&["a"]).await;
    add_veth(&k, "a", "e0", "a", "e1").await;
    set(
        &k,
        "a",
        "e0",
        LinkChange {
            up: Some(true),
            ..Default::default()
        },
    )
    .await;
    for a in ["10.0.0.1/24", "fd00::1/64"] {
        run(
            &k,
            Op::AddAddress {
                node: "a".into(),
                link: "e0".into(),
                addr: Address {
                    net: a.parse().unwrap(),
                    dad: false,
                },
            },
        )
        .await;
    }
    let routes = [
        Route {
            to: "0.0.0.0/0".parse().unwrap(),
            via: Some("10.0.0.254".parse().unwrap()),
            dev: None,
            metric: Some(100),
            table: None,
        },
        Route {
            to: "192.168.7.0/24".parse().unwrap(),
            via: None,
            dev: Some("e0".into()),
            metric: None,
            table: Some(1000),
        },
        Route {
            to: "fd01::/64".parse().unwrap(),
            via: Some("fd00::fe".parse().unwrap()),
            dev: Some("e0".into()),
            metric: Some(7),
            table: Some(100),
        },
    ];
    for r in &routes {
        run(
            &k,
            Op::AddRoute {
                node: "a".into(),
                route: r.clone(),
            },
        )
        .await;
    }
    let main = ip("a", &["route", "show", "table", "main"]);
    let def = main
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["dst"] == "default")
        .unwrap()
        .clone();
    assert_eq!(def["gateway"], "10.0.0.254");
    assert_eq!(def["metric"], 100);
    assert_eq!(def["dev"], "e0");
    let t1000 = ip("a", &["route", "show", "table", "1000"]);
    assert_eq!(t1000[0]["dst"], "192.168.7.0/24");
    assert_eq!(t1000[0]["dev"], "e0");
    assert_eq!(t1000[0]["scope"], "link");
    let t100 = ip("a", &["-6", "route", "show", "table", "100"]);
    let r6 = t100
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["dst"] == "fd01::/64")
        .unwrap()
        .clone();
    assert_eq!(r6["gateway"], "fd00::fe");
    assert_eq!(r6["metric"], 7);
    for r in &routes {
        run(
            &k,
            Op::DelRoute {
                node: "a".into(),
                route: r.clone(),
            },
        )
        .await;
    }
    assert!(ip("a", &["route", "show", "table", "1000"])
        .as_array()
        .unwrap()
        .is_empty());
    assert!(!ip("a", &["route", "show", "table", "main"])
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["dst"] == "default"));
}

/// Run a program inside a node's namespace (tests only cross-check with it).
fn in_node(node: &str, prog: &[&str]) -> std::process::Output {
    let ns = netloom::model::netns_name(TOPO, node).unwrap();
    let out = Command::new("nsenter")
        .arg(format!("--net=/run/netns/{ns}"))
        .args(prog)
        .output()
        .unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sysctl_is_written_in_the_node() {
    netloom::sandboxed!("sysctl_is_written_in_the_node");
    let k = lab(&["a"]).await;
    run(
        &k,
        Op::SetSysctl {
            node: "a".into(),
            key: "net.ipv4.ip_forward".into(),
            value: "1".into(),
            prior: None,
        },
    )
    .await;
    let out = in_node("a", &["cat", "/proc/sys/net/ipv4/ip_forward"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");
    let own = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    assert_eq!(
        own.trim(),
        "0",
        "the sandbox's own namespace must not change"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nat_set_read_replace_delete() {
    netloom::sandboxed!("nat_set_read_replace_delete");
    use netloom::kernel::nft;
    let k = lab(&["a"]).await;
    let ns = k.node("a").await.unwrap().unwrap().netns;
    assert_eq!(nft::read_nat(&ns, TOPO).unwrap(), None);
    assert!(!nft::table_exists(&ns, TOPO).unwrap());
    let rules = vec![
        Masquerade {
            source: "10.0.0.0/24".parse().unwrap(),
            out: "eth0".into(),
        },
        Masquerade {
            source: "fd00::/64".parse().unwrap(),
            out: "eth1".into(),
        },
    ];
    run(
        &k,
        Op::SetNat {
            node: "a".into(),
            rules: rules.clone(),
        },
    )
    .await;
    assert_eq!(nft::read_nat(&ns, TOPO).unwrap(), Some(rules.clone()));
    // Independent read: the table exists in the node only, with a nat hook.
    let out = in_node("a", &["nft", "-j", "list", "table", "inet", "netloom-t"]);
    assert!(out.status.success());
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    let items = j["nftables"].as_array().unwrap();
    assert!(items
        .iter()
        .any(|i| i["chain"]["type"] == "nat" && i["chain"]["hook"] == "postrouting"));
    assert!(items
        .iter()
        .any(|i| i["chain"]["type"] == "filter" && i["chain"]["hook"] == "forward"));
    let masq = items
        .iter()
        .filter(|i| {
            i["rule"]["expr"]
                .as_array()
                .is_some_and(|e| e.iter().any(|x| x.get("masquerade").is_some()))
        })
        .count();
    assert_eq!(masq, 2);
    let host = Command::new("nft")
        .args(["list", "table", "inet", "netloom-t"])
        .output()
        .unwrap();
    assert!(!host.status.success(), "the table must not be in the host");
    // Replace: the old rules are gone.
    let new = vec![Masquerade {
        source: "10.9.0.0/16".parse().unwrap(),
        out: "up0".into(),
    }];
    run(
        &k,
        Op::SetNat {
            node: "a".into(),
            rules: new.clone(),
        },
    )
    .await;
    assert_eq!(nft::read_nat(&ns, TOPO).unwrap(), Some(new));
    run(&k, Op::DelNat { node: "a".into() }).await;
    assert_eq!(nft::read_nat(&ns, TOPO).unwrap(), None);
    // Deleting an absent table is fine.
    run(&k, Op::DelNat { node: "a".into() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kernel_refusal_carries_its_message_and_the_object() {
    netloom::sandboxed!("kernel_refusal_carries_its_message_and_the_object");
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
            master: Some(Some("br0".into())),
            ..Default::default()
        },
    )
    .await;
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
    // An unknown interface is named too.
    let err = apply::run(
        &k,
        &Op::DelLink {
            node: "a".into(),
            name: "nope0".into(),
        },
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("a/nope0"), "{err}");
}

// ---- Kinds this machine's kernel lacks: they run in the Debian 6.1 VM. ----

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
    let mut l = Link::new("d0", LinkKind::Dummy);
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
