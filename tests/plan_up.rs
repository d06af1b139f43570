//! Planner scenarios: full plans from nothing, minimal changes, recreation, conflicts.
#[path = "support/plan_util/mod.rs"]
mod plan_util;

use netloom::model::Op;
use netloom::model::*;
use netloom::plan::{self, Owned};
use plan_util::*;

/// Kernel state after applying `desired` onto a bare host.
fn built(desired: &Network) -> Kernel {
    let mut k = Kernel::new(bare_host(&desired.name));
    let p = plan::up(desired, &k.net, &k.owned).expect("no conflicts");
    k.apply(&p);
    k
}

#[test]
fn lxc_from_nothing_is_a_full_ordered_plan() {
    let want = lxc();
    let k = Kernel::new(bare_host("lxc"));
    let p = plan::up(&want, &k.net, &k.owned).expect("no conflicts");
    check_shape(&p);
    let lines: Vec<String> = p.steps.iter().map(|s| s.op.to_string()).collect();
    assert_eq!(
        lines.iter().filter(|l| l.contains("link add")).count(),
        2,
        "bridge + one veth pair: {p}"
    );
    let netns = find(&p, "c1: netns add");
    let pair = find(&p, "c1: link add eth0 type veth peer host/veth0");
    let bridge = find(&p, "host: link add lxcbr0 type bridge stp false");
    let enslave = find(&p, "host: link set veth0 master lxcbr0");
    let veth0_up = find(&p, "host: link set veth0 up");
    let eth0_up = find(&p, "c1: link set eth0 up");
    let addr = find(&p, "c1: addr add 10.0.3.78/24 dev eth0");
    let default = find(&p, "c1: route add default via 10.0.3.1");
    let fwd = find(&p, "host: sysctl net.ipv4.ip_forward=1 (was 0)");
    let br_up = find(&p, "host: link set lxcbr0 up");
    find(&p, "c1: link set lo up");
    find(&p, "host: addr add 10.0.3.1/24 dev lxcbr0");
    find(&p, "host: nft masquerade 10.0.3.0/24 out uplink0");
    assert_eq!(p.steps.len(), 13, "{p}");
    assert!(depends(&p, pair, netns));
    assert!(depends(&p, enslave, pair) && depends(&p, enslave, bridge));
    assert!(depends(&p, veth0_up, enslave));
    assert!(depends(&p, default, eth0_up) && depends(&p, default, addr));
    assert!(
        depends(&p, br_up, fwd),
        "host sysctls before host links go up"
    );
    // Independent things stay independent: the host bridge does not wait for the container.
    assert!(!depends(&p, bridge, netns));
    assert!(!depends(&p, br_up, pair));
}

#[test]
fn applied_network_replans_to_nothing() {
    let want = lxc();
    let k = built(&want);
    let again = plan::up(&want, &k.net, &k.owned).expect("no conflicts");
    assert!(again.steps.is_empty(), "{again}");
}

#[test]
fn mtu_change_is_one_set_link_with_prior() {
    let mut want = lxc();
    let k = built(&want);
    want.nodes
        .get_mut("c1")
        .unwrap()
        .links
        .get_mut("eth0")
        .unwrap()
        .mtu = Some(9000);
    let p = plan::up(&want, &k.net, &k.owned).unwrap();
    assert_eq!(p.steps.len(), 1, "{p}");
    match &p.steps[0].op {
        Op::SetLink {
            node,
            name,
            change,
            prior,
        } => {
            assert_eq!((node.as_str(), name.as_str()), ("c1", "eth0"));
            assert_eq!(change.mtu, Some(9000));
            assert_eq!(prior.mtu, Some(1500));
            assert!(change.up.is_none() && change.kind.is_none());
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(p.steps[0].op.to_string(), "c1: link set eth0 mtu 9000");
}

#[test]
fn bridge_option_change_is_set_in_place() {
    let mut want = lxc();
    let k = built(&want);
    let br = want
        .nodes
        .get_mut("host")
        .unwrap()
        .links
        .get_mut("lxcbr0")
        .unwrap();
    br.kind = LinkKind::Bridge(BridgeOptions {
        stp: Some(true),
        ..Default::default()
    });
    let p = plan::up(&want, &k.net, &k.owned).unwrap();
    assert_eq!(p.steps.len(), 1, "{p}");
    assert_eq!(
        p.steps[0].op.to_string(),
        "host: link set lxcbr0 type bridge stp true"
    );
}

#[test]
fn address_change_deletes_old_adds_new() {
    let mut want = lxc();
    let k = built(&want);
    want.nodes
        .get_mut("c1")
        .unwrap()
        .links
        .get_mut("eth0")
        .unwrap()
        .addresses = vec![a("10.0.3.79/24")];
    let p = plan::up(&want, &k.net, &k.owned).unwrap();
    let lines: Vec<String> = p.steps.iter().map(|s| s.op.to_string()).collect();
    // The default route goes with the link's last IPv4 address and comes
    // back after the new one (issue 17: it used to be lost).
    assert_eq!(
        lines,
        [
            "c1: addr del 10.0.3.78/24 dev eth0",
            "c1: addr add 10.0.3.79/24 dev eth0",
            "c1: route add default via 10.0.3.1"
        ]
    );
}

#[test]
fn route_metric_change_replaces_that_route_only() {
    let mut want = lxc();
    let k = built(&want);
    want.nodes.get_mut("c1").unwrap().routes[0].metric = Some(50);
    let p = plan::up(&want, &k.net, &k.owned).unwrap();
    let lines: Vec<String> = p.steps.iter().map(|s| s.op.to_string()).collect();
    assert_eq!(
        lines,
        [
            "c1: route del default via 10.0.3.1 dev eth0",
            "c1: route add default via 10.0.3.1 metric 50"
        ]
    );
}

#[test]
fn a_gateway_on_link_through_a_device_route_waits_for_it() {
    let mut want = lxc();
    let c1 = want.nodes.get_mut("c1").unwrap();
    // Written before the device route that puts its gateway on link.
    c1.routes
        .push(route("10.50.0.0/16", Some("10.20.0.1"), None, None));
    c1.routes
        .push(route("10.20.0.0/16", None, Some("eth0"), None));
    let bare = Kernel::new(bare_host("lxc"));
    let p = plan::up(&want, &bare.net, &bare.owned).unwrap();
    let gateway = find(&p, "c1: route add 10.50.0.0/16 via 10.20.0.1");
    let device = find(&p, "c1: route add 10.20.0.0/16 dev eth0");
    assert!(depends(&p, gateway, device), "{p}");
    let k = built(&want);
    assert!(plan::up(&want, &k.net, &k.owned).unwrap().steps.is_empty());
}

#[test]
fn observed_routes_with_dev_and_metric_filled_still_match() {
    let mut want = lxc();
    want.nodes.get_mut("c1").unwrap().routes = vec![route("::/0", Some("fd00::1"), None, None)];
    want.nodes
        .get_mut("c1")
        .unwrap()
        .links
        .get_mut("eth0")
        .unwrap()
        .addresses
        .push(a("fd00::2/64"));
    let k = built(&want);
    let got = &k.net.nodes["c1"].routes;
    assert!(got
        .iter()
        .any(|r| r.metric == Some(1024) && r.dev.as_deref() == Some("eth0")));
    assert!(plan::up(&want, &k.net, &k.owned).unwrap().steps.is_empty());
}

/// A host with a veth wire into node `w`, a vxlan over it and a macvlan on a vlan on it.
fn stacked() -> Network {
    let mut net = lxc();
    let host = net.nodes.get_mut("host").unwrap();
    let mut up0 = veth("up0", r("w", "eth0"));
    up0.up = Some(true);
    up0.addresses = vec![a("10.9.0.1/24")];
    host.links.insert("up0".into(), up0);
    let mut vx = Link::new(
        "vx0",
        LinkKind::Vxlan(VxlanOptions {
            vni: 100,
            local: Some("10.9.0.1".parse().unwrap()),
            remote: Some("10.9.0.2".parse().unwrap()),
            dev: Some(r("host", "up0")),
            dstport: Some(4789),
            ..Default::default()
        }),
    );
    vx.up = Some(true);
    vx.addresses = vec![a("10.10.0.1/24")];
    host.links.insert("vx0".into(), vx);
    let mut vl = Link::new(
        "up0.2",
        LinkKind::Vlan(VlanOptions {
            lower: Some(r("host", "up0")),
            id: 2,
            ..Default::default()
        }),
    );
    vl.up = Some(true);
    host.links.insert("up0.2".into(), vl);
    host.routes
        .push(route("10.20.0.0/16", Some("10.10.0.2"), None, None));
    let mut w = Node::default();
    let mut e = veth("eth0", r("host", "up0"));
    e.up = Some(true);
    w.links.insert("eth0".into(), e);
    let mut mv = Link::new(
        "mv0",
        LinkKind::Macvlan(MacvlanOptions {
            lower: Some(r("host", "up0.2")),
            mode: Some("bridge".into()),
            ..Default::default()
        }),
    );
    mv.up = Some(true);
    w.links.insert("mv0".into(), mv);
    net.nodes.insert("w".into(), w);
    net
}

#[test]
fn stacked_devices_come_after_their_lowers() {
    let want = stacked();
    let k = Kernel::new(bare_host("lxc"));
    let p = plan::up(&want, &k.net, &k.owned).unwrap();
    check_shape(&p);
    let pair = find(&p, "host: link add up0 type veth peer w/eth0");
    let vx = find(&p, "host: link add vx0 type vxlan dev host/up0 dstport 4789 local 10.9.0.1 remote 10.9.0.2 vni 100");
    let vl = find(&p, "host: link add up0.2 type vlan id 2 lower host/up0");
    let mv = find(
        &p,
        "w: link add mv0 type macvlan lower host/up0.2 mode bridge",
    );
    let w = find(&p, "w: netns add");
    assert!(
        depends(&p, vx, pair) && depends(&p, vl, pair) && depends(&p, mv, vl) && depends(&p, mv, w)
    );
    assert!(depends(&p, pair, w), "veth peer lives in w");
    converges(&want, k, &p);
}

#[test]
fn vxlan_vni_change_recreates_it_and_its_dependents() {
    let mut want = stacked();
    let k = built(&want);
    if let LinkKind::Vxlan(o) = &mut want
        .nodes
        .get_mut("host")
        .unwrap()
        .links
        .get_mut("vx0")
        .unwrap()
        .kind
    {
        o.vni = 200;
    }
    let p = plan::up(&want, &k.net, &k.owned).unwrap();
    check_shape(&p);
    let del = find(&p, "host: link del vx0");
    let add = find(&p, "host: link add vx0 type vxlan dev host/up0 dstport 4789 local 10.9.0.1 remote 10.9.0.2 vni 200");
    let addr = find(&p, "host: addr add 10.10.0.1/24 dev vx0");
    let up = find(&p, "host: link set vx0 up");
    let rt = find(&p, "host: route add 10.20.0.0/16 via 10.10.0.2");
    assert!(
        depends(&p, add, del)
            && depends(&p, addr, add)
            && depends(&p, up, add)
            && depends(&p, rt, up)
            && depends(&p, rt, addr)
    );
    assert_eq!(p.steps.len(), 5, "nothing else changes: {p}");
    converges(&want, k, &p);
}

#[test]
fn links_wait_for_default_sysctls_they_would_miss() {
    let position = |p: &netloom::model::Plan, start: &str| {
        p.steps
            .iter()
            .position(|s| s.op.to_string().starts_with(start))
            .unwrap_or_else(|| panic!("no `{start}` in\n{p}"))
    };
    let bare = Kernel::new(bare_host("lxc"));
    let with = |keys: &[(&str, &str)]| {
        let mut want = lxc();
        let c1 = want.nodes.get_mut("c1").unwrap();
        for (k, v) in keys {
            c1.sysctls.insert(k.to_string(), v.to_string());
        }
        plan::up(&want, &bare.net, &bare.owned).unwrap()
    };
    // A link made before this write would keep DAD on.
    let p = with(&[("net.ipv6.conf.default.accept_dad", "0")]);
    let add = position(&p, "c1: link add eth0");
    let write = position(&p, "c1: sysctl net.ipv6.conf.default.accept_dad=0");
    assert!(depends(&p, add, write), "{p}");
    // The `all` write (which sets `default` too) gives every link the
    // value anyway: no wait.
    let p = with(&[
        ("net.ipv6.conf.all.disable_ipv6", "1"),
        ("net.ipv6.conf.default.disable_ipv6", "1"),
    ]);
    let add = position(&p, "c1: link add eth0");
    let write = position(&p, "c1: sysctl net.ipv6.conf.all.disable_ipv6=1");
    assert!(!depends(&p, add, write), "{p}");
    // But when `all` is right already, only `default` is written: wait.
    let mut want = lxc();
    let mut seen = Kernel::new(bare_host("lxc"));
    for net in [&mut want, &mut seen.net] {
        let host = net.nodes.get_mut("host").unwrap();
        host.sysctls
            .insert("net.ipv6.conf.all.disable_ipv6".into(), "1".into());
    }
    want.nodes
        .get_mut("host")
        .unwrap()
        .sysctls
        .insert("net.ipv6.conf.default.disable_ipv6".into(), "1".into());
    let p = plan::up(&want, &seen.net, &seen.owned).unwrap();
    let add = position(&p, "host: link add lxcbr0");
    let write = position(&p, "host: sysctl net.ipv6.conf.default.disable_ipv6=1");
    assert!(depends(&p, add, write), "{p}");
}

#[test]
fn a_bond_port_gets_its_mtu_from_the_bond_and_an_ipvlan_keeps_its_own() {
    let mut want = lxc();
    let host = want.nodes.get_mut("host").unwrap();
    host.links.get_mut("lxcbr0").unwrap().kind = LinkKind::Bond(BondOptions {
        mode: Some("active-backup".into()),
        ..Default::default()
    });
    let mut low = Link::new("low0", LinkKind::Dummy(Default::default()));
    low.mtu = Some(1500);
    let mut ipv = Link::new(
        "ipv0",
        LinkKind::Ipvlan(IpvlanOptions {
            lower: Some(r("host", "low0")),
            mode: Some("l2".into()),
            ..Default::default()
        }),
    );
    ipv.mtu = Some(1400);
    host.links.insert("low0".into(), low);
    host.links.insert("ipv0".into(), ipv);
    let k = built(&want);
    let host = want.nodes.get_mut("host").unwrap();
    for name in ["lxcbr0", "veth0", "low0"] {
        host.links.get_mut(name).unwrap().mtu = Some(9000);
    }
    let p = plan::up(&want, &k.net, &k.owned).unwrap();
    find(&p, "host: link set lxcbr0 mtu 9000");
    assert!(
        !p.to_string().contains("link set veth0 mtu"),
        "the bond sets its port: {p}"
    );
    // The kernel gives the ipvlan its lower's new MTU: its own comes after.
    let low = find(&p, "host: link set low0 mtu 9000");
    let ipv = find(&p, "host: link set ipv0 mtu 1400");
    assert!(depends(&p, ipv, low), "{p}");
    converges(&want, k, &p);
}

#[test]
fn mtus_rise_lowers_first_and_fall_stacked_devices_first() {
    // up0 carries the vlan up0.2, which carries w/mv0 (a macvlan).
    let chain = [("host", "up0"), ("host", "up0.2"), ("w", "mv0")];
    let set_all = |net: &mut Network, mtu: u32| {
        for (node, name) in chain {
            let l = net
                .nodes
                .get_mut(node)
                .unwrap()
                .links
                .get_mut(name)
                .unwrap();
            l.mtu = Some(mtu);
        }
    };
    let mut want = stacked();
    for (mtu, rising) in [(9000, true), (1400, false)] {
        let k = built(&want);
        set_all(&mut want, mtu);
        let p = plan::up(&want, &k.net, &k.owned).unwrap();
        let [low, mid, top] = [
            "host: link set up0",
            "host: link set up0.2",
            "w: link set mv0",
        ]
        .map(|l| find(&p, &format!("{l} mtu {mtu}")));
        let ordered = match rising {
            true => depends(&p, mid, low) && depends(&p, top, mid),
            false => depends(&p, low, mid) && depends(&p, mid, top),
        };
        assert!(ordered, "{p}");
        converges(&want, k, &p);
    }
}

#[test]
fn vlan_id_change_recreates_the_macvlan_on_it_in_another_node() {
    let mut want = stacked();
    let k = built(&want);
    if let LinkKind::Vlan(o) = &mut want
        .nodes
        .get_mut("host")
        .unwrap()
        .links
        .get_mut("up0.2")
        .unwrap()
        .kind
    {
        o.id = 3;
    }
    let p = plan::up(&want, &k.net, &k.owned).unwrap();
    let del = find(&p, "host: link del up0.2");
    let add = find(&p, "host: link add up0.2 type vlan id 3 lower host/up0");
    let mv = find(
        &p,
        "w: link add mv0 type macvlan lower host/up0.2 mode bridge",
    );
    assert!(depends(&p, add, del) && depends(&p, mv, add));
    assert!(
        !p.steps
            .iter()
            .any(|s| s.op.to_string() == "w: link del mv0"),
        "mv0 vanishes with its lower: {p}"
    );
    converges(&want, k, &p);
}

#[test]
fn bridge_recreated_as_bond_reenslaves_its_port() {
    let mut want = lxc();
    let k = built(&want);
    let host = want.nodes.get_mut("host").unwrap();
    host.links.get_mut("lxcbr0").unwrap().kind = LinkKind::Bond(BondOptions {
        mode: Some("active-backup".into()),
        ..Default::default()
    });
    let p = plan::up(&want, &k.net, &k.owned).unwrap();
    let del = find(&p, "host: link del lxcbr0");
    let add = find(&p, "host: link add lxcbr0 type bond mode active-backup");
    let enslave = find(&p, "host: link set veth0 master lxcbr0");
    assert!(depends(&p, add, del) && depends(&p, enslave, add));
    // veth0 is up, and a bond refuses a port that is up.
    let down = find(&p, "host: link set veth0 down");
    assert!(depends(&p, enslave, down), "{p}");
    converges(&want, k, &p);
    find(&p, "host: addr add 10.0.3.1/24 dev lxcbr0");
}

#[test]
fn foreign_link_and_foreign_netns_are_conflicts() {
    let want = lxc();
    let mut obs = bare_host("lxc");
    obs.nodes.get_mut("host").unwrap().links.insert(
        "lxcbr0".into(),
        Link::new("lxcbr0", LinkKind::Bridge(Default::default())),
    );
    obs.nodes.insert("c1".into(), Node::default());
    let err = plan::up(&want, &obs, &Owned::default()).unwrap_err();
    let objects: Vec<&str> = err.iter().map(|c| c.object.as_str()).collect();
    assert!(objects.contains(&"host/lxcbr0"), "{err:?}");
    assert!(
        objects.contains(&"node c1 (netns netloom-lxc.c1)"),
        "{err:?}"
    );
}

#[test]
fn external_devices_must_exist_and_are_never_touched() {
    let mut want = lxc();
    let mut ext = Link::new("eth0", LinkKind::External);
    ext.mtu = Some(9000);
    want.nodes
        .get_mut("host")
        .unwrap()
        .links
        .insert("eth0".into(), ext.clone());
    let k = built(&want);
    let first = plan::up(&want, &bare_host("lxc"), &Owned::default()).unwrap();
    assert!(
        !first
            .steps
            .iter()
            .any(|s| s.op.to_string().contains("host: link set eth0")),
        "{first}"
    );
    assert!(plan::up(&want, &k.net, &k.owned).unwrap().steps.is_empty());
    want.nodes
        .get_mut("host")
        .unwrap()
        .links
        .insert("uplink9".into(), Link::new("uplink9", LinkKind::External));
    let err = plan::up(&want, &k.net, &k.owned).unwrap_err();
    assert_eq!(err.len(), 1);
    assert_eq!(err[0].object, "host/uplink9");
    assert!(err[0]
        .reason
        .contains("external device uplink9 does not exist"));
}

#[test]
fn orphaned_host_link_is_deleted_and_reported() {
    let mut want = stacked();
    let k = built(&want);
    want.nodes.get_mut("host").unwrap().links.remove("vx0");
    want.nodes
        .get_mut("host")
        .unwrap()
        .routes
        .retain(|r| r.via != Some("10.10.0.2".parse().unwrap()));
    let p = plan::up(&want, &k.net, &k.owned).unwrap();
    let lines: Vec<String> = p.steps.iter().map(|s| s.op.to_string()).collect();
    assert_eq!(
        lines,
        ["host: link del vx0"],
        "its address and route vanish with it"
    );
    let st = plan::status(&want, &k.net, &k.owned);
    assert!(
        st.iter()
            .any(|s| s.object == "host/vx0" && s.state == plan::SyncState::Orphaned),
        "{st:?}"
    );
}

#[test]
fn node_removed_from_file_is_one_delnetns() {
    let mut want = stacked();
    let k = built(&want);
    want.nodes.remove("w");
    want.nodes.get_mut("host").unwrap().links.remove("up0");
    want.nodes.get_mut("host").unwrap().links.remove("vx0");
    want.nodes.get_mut("host").unwrap().links.remove("up0.2");
    want.nodes.get_mut("host").unwrap().routes.clear();
    let p = plan::up(&want, &k.net, &k.owned).unwrap();
    let lines: Vec<String> = p.steps.iter().map(|s| s.op.to_string()).collect();
    // up0 dies with w (its peer), and vx0 and up0.2 die with up0.
    assert_eq!(lines, ["w: netns delete"], "{p}");
    converges(&want, k, &p);
}

/// The lxc topology with its bridge made an active-backup bond.
fn lxc_bond() -> Network {
    let mut want = lxc();
    let host = want.nodes.get_mut("host").unwrap();
    host.links.get_mut("lxcbr0").unwrap().kind = LinkKind::Bond(BondOptions {
        mode: Some("active-backup".into()),
        ..Default::default()
    });
    want
}

/// Apply `p` to `k`: then `want` plans to nothing.
fn converges(want: &Network, mut k: Kernel, p: &netloom::model::Plan) {
    k.apply(p);
    assert!(plan::up(want, &k.net, &k.owned).unwrap().steps.is_empty());
}

/// Point host/veth0 of `want` (the lxc topology) at another peer.
fn peer_of_veth0(want: &mut Network, peer: IfRef) {
    let host = want.nodes.get_mut("host").unwrap();
    if let LinkKind::Veth(v) = &mut host.links.get_mut("veth0").unwrap().kind {
        v.peer = Some(peer);
    }
}

#[test]
fn recreated_veth_is_deleted_once() {
    let mut want = lxc();
    let k = built(&want);
    // Move the container end to a new name: the pair is made anew.
    let c1 = want.nodes.get_mut("c1").unwrap();
    let mut e = c1.links.remove("eth0").unwrap();
    e.name = "eth1".into();
    c1.links.insert("eth1".into(), e);
    c1.routes[0].dev = None;
    peer_of_veth0(&mut want, r("c1", "eth1"));
    let p = plan::up(&want, &k.net, &k.owned).unwrap();
    check_shape(&p);
    let dels = p
        .steps
        .iter()
        .filter(|s| matches!(s.op, Op::DelLink { .. }))
        .count();
    assert_eq!(dels, 1, "{p}");
    converges(&want, k, &p);
}

#[test]
fn per_interface_sysctls_wait_for_their_link_and_precede_its_up() {
    let mut want = stacked();
    let host = want.nodes.get_mut("host").unwrap();
    host.sysctls
        .insert("net.ipv6.conf.up0/2.disable_ipv6".into(), "1".into());
    host.sysctls
        .insert("net.ipv6.conf.all.forwarding".into(), "1".into());
    let k = Kernel::new(bare_host("lxc"));
    let p = plan::up(&want, &k.net, &k.owned).unwrap();
    let vlan = find(&p, "host: link add up0.2 type vlan id 2 lower host/up0");
    let key = find(&p, "host: sysctl net.ipv6.conf.up0/2.disable_ipv6=1");
    let all = find(&p, "host: sysctl net.ipv6.conf.all.forwarding=1");
    let up = find(&p, "host: link set up0.2 up");
    assert!(depends(&p, key, vlan) && depends(&p, up, key) && depends(&p, up, all));
    assert!(
        !depends(&p, all, vlan),
        "node-wide keys do not wait for links"
    );
    converges(&want, k, &p);
}

/// A bridge and its port's veth pair both removed: the pair's DelLink
/// (which takes the port) comes before the bridge's, even when its name
/// sorts after it, so that rollback makes the bridge anew first and the
/// pair made anew finds its master there.
#[test]
fn a_port_deleted_with_its_bridge_goes_first() {
    let mut want = lxc();
    // A container node whose name sorts after `host`, so its end does too.
    let c1 = want.nodes.remove("c1").unwrap();
    want.nodes.insert("z1".into(), c1);
    peer_of_veth0(&mut want, r("z1", "eth0"));
    let k = built(&want);
    let host = want.nodes.get_mut("host").unwrap();
    host.links.remove("lxcbr0");
    host.links.remove("veth0");
    let z1 = want.nodes.get_mut("z1").unwrap();
    z1.links.remove("eth0");
    z1.routes.clear();
    let p = plan::up(&want, &k.net, &k.owned).unwrap();
    check_shape(&p);
    let pair = find(&p, "host: link del veth0");
    let bridge = find(&p, "host: link del lxcbr0");
    assert!(depends(&p, bridge, pair), "{p}");
    converges(&want, k, &p);
}

/// A bond removed while its port stays: the kernel closes the ports a bond
/// releases, so the plan brings the port up again after the bond went.
#[test]
fn a_port_released_by_a_removed_bond_comes_up_again() {
    let mut want = lxc_bond();
    let k = built(&want);
    let host = want.nodes.get_mut("host").unwrap();
    host.links.remove("lxcbr0");
    host.links.get_mut("veth0").unwrap().master = None;
    host.nat.clear();
    let p = plan::up(&want, &k.net, &k.owned).unwrap();
    let del = find(&p, "host: link del lxcbr0");
    let up = find(&p, "host: link set veth0 up");
    assert!(depends(&p, up, del), "{p}");
    converges(&want, k, &p);
}

/// A port taken out of a bond that stays: the bond closes it, so the plan
/// brings it up again after the release.
#[test]
fn a_port_leaving_a_bond_comes_up_again() {
    let mut want = lxc_bond();
    let k = built(&want);
    let host = want.nodes.get_mut("host").unwrap();
    host.links.get_mut("veth0").unwrap().master = None;
    let p = plan::up(&want, &k.net, &k.owned).unwrap();
    let release = find(&p, "host: link set veth0 nomaster");
    let up = find(&p, "host: link set veth0 up");
    assert!(depends(&p, up, release), "{p}");
    converges(&want, k, &p);
}

/// A bond opens a port it takes: a port the file wants down is set down
/// after it is enslaved, and the plan then replans to nothing.
#[test]
fn a_bond_port_wanted_down_ends_down() {
    let mut want = lxc_bond();
    let host = want.nodes.get_mut("host").unwrap();
    host.links.get_mut("veth0").unwrap().up = Some(false);
    let k = Kernel::new(bare_host("lxc"));
    let p = plan::up(&want, &k.net, &k.owned).unwrap();
    let enslave = find(&p, "host: link set veth0 master lxcbr0");
    let down = find(&p, "host: link set veth0 down");
    assert!(depends(&p, down, enslave), "{p}");
    converges(&want, k, &p);
}

/// A link set down loses its routes and IPv6 addresses in the kernel
/// (unless keep_addr_on_down): the routes the file drops are deleted
/// before (after, they are gone and the delete fails), and the IPv6
/// addresses it keeps are deleted before and added again after, so the
/// result does not depend on keep_addr_on_down.
#[test]
fn a_link_set_down_drops_its_routes_first_and_gets_its_ipv6_back() {
    let mut want = lxc();
    let c1 = want.nodes.get_mut("c1").unwrap();
    c1.links
        .get_mut("eth0")
        .unwrap()
        .addresses
        .push(a("fd00:3::78/64"));
    let k = built(&want);
    let c1 = want.nodes.get_mut("c1").unwrap();
    c1.links.get_mut("eth0").unwrap().up = Some(false);
    c1.routes.clear();
    let p = plan::up(&want, &k.net, &k.owned).expect("no conflicts");
    let del = find(&p, "c1: route del default via 10.0.3.1 dev eth0");
    let down = find(&p, "c1: link set eth0 down");
    let unadd = find(&p, "c1: addr del fd00:3::78/64 dev eth0");
    let readd = find(&p, "c1: addr add fd00:3::78/64 dev eth0");
    assert!(depends(&p, down, del) && depends(&p, down, unadd), "{p}");
    assert!(depends(&p, readd, down), "{p}");
    converges(&want, k, &p);
}

/// Issue 17, defect 1: changing a container's only address must not lose
/// its default route (the kernel flushes a link's IPv4 routes with its last
/// IPv4 address) nor the address (added before the old one went, it would
/// be the old one's secondary and go with it). The model kernel applies
/// the plan in the most adversarial order the dependencies allow.
#[test]
fn an_address_change_keeps_the_address_and_the_routes_through_the_link() {
    let mut want = lxc();
    let k = built(&want);
    let eth0 = want
        .nodes
        .get_mut("c1")
        .unwrap()
        .links
        .get_mut("eth0")
        .unwrap();
    eth0.addresses = vec![a("10.0.3.79/24")];
    let p = plan::up(&want, &k.net, &k.owned).unwrap();
    check_shape(&p);
    let add = find(&p, "c1: addr add 10.0.3.79/24 dev eth0");
    let del = find(&p, "c1: addr del 10.0.3.78/24 dev eth0");
    let route = find(&p, "c1: route add default via 10.0.3.1");
    assert!(depends(&p, add, del) && depends(&p, route, del), "{p}");
    converges(&want, k, &p);
}

/// Replacing a primary address keeps a secondary the file still lists:
/// deleted before the primary (which would take it along unless
/// promote_secondaries is on) and added again after.
#[test]
fn replacing_a_primary_keeps_the_secondaries_the_file_lists() {
    let mut want = lxc();
    want.nodes
        .get_mut("c1")
        .unwrap()
        .links
        .get_mut("eth0")
        .unwrap()
        .addresses = vec![a("10.0.3.78/24"), a("10.0.3.90/24")];
    let k = built(&want);
    // Which of the two came first (the primary) depends on the order the
    // model kernel ran the additions in.
    let have = &k.net.nodes["c1"].links["eth0"].addresses;
    let secondary = have.iter().find(|x| x.secondary).expect("a secondary");
    let primary = have.iter().find(|x| !x.secondary).expect("a primary");
    let (keep, old) = (secondary.net.to_string(), primary.net.to_string());
    want.nodes
        .get_mut("c1")
        .unwrap()
        .links
        .get_mut("eth0")
        .unwrap()
        .addresses = vec![a(&keep), a("10.0.3.91/24")];
    let p = plan::up(&want, &k.net, &k.owned).unwrap();
    check_shape(&p);
    let keep_del = find(&p, &format!("c1: addr del {keep} dev eth0"));
    let primary_del = find(&p, &format!("c1: addr del {old} dev eth0"));
    let keep_add = find(&p, &format!("c1: addr add {keep} dev eth0"));
    assert!(depends(&p, primary_del, keep_del), "{p}");
    assert!(depends(&p, keep_add, primary_del), "{p}");
    converges(&want, k, &p);
}

/// A route preferring a source comes after that address, and when the
/// address is replaced the route (which the kernel takes along with it,
/// fib_sync_down_addr) is added again after the new one.
#[test]
fn a_route_with_a_preferred_source_follows_its_address() {
    let mut want = lxc();
    let c1 = want.nodes.get_mut("c1").unwrap();
    c1.links.get_mut("eth0").unwrap().addresses = vec![a("10.0.3.78/24"), a("10.0.4.5/24")];
    let mut r = route("192.168.0.0/16", Some("10.0.3.1"), None, None);
    r.src = Some("10.0.4.5".parse().unwrap());
    c1.routes.push(r);
    let k = Kernel::new(bare_host("lxc"));
    let p = plan::up(&want, &k.net, &k.owned).unwrap();
    let add = find(&p, "c1: addr add 10.0.4.5/24 dev eth0");
    let rt = find(&p, "c1: route add 192.168.0.0/16 via 10.0.3.1 src 10.0.4.5");
    assert!(depends(&p, rt, add), "{p}");
    let k = built(&want);
    let c1 = want.nodes.get_mut("c1").unwrap();
    c1.links.get_mut("eth0").unwrap().addresses = vec![a("10.0.3.78/24"), a("10.0.4.6/24")];
    c1.routes[1].src = Some("10.0.4.6".parse().unwrap());
    let p = plan::up(&want, &k.net, &k.owned).unwrap();
    check_shape(&p);
    converges(&want, k, &p);
}
