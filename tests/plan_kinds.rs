//! Planner per-kind rules: which option changes are made in place and which recreate.
#[path = "support/plan_util/mod.rs"]
mod plan_util;

use netloom::model::Op;
use netloom::model::*;
use netloom::plan::{self, Owned};
use plan_util::*;

/// A network with one host link of `kind` (up, addressed) and a bare host kernel that has it.
fn one(kind: LinkKind) -> (Network, Kernel) {
    let mut net = Network {
        name: "k".into(),
        nodes: Default::default(),
    };
    let mut host = Node::default();
    let mut l = Link::new("d0", kind);
    l.up = Some(true);
    l.addresses = vec![a("10.5.0.1/24")];
    host.links.insert("d0".into(), l);
    let mut lower = Link::new("low0", LinkKind::Dummy(Default::default()));
    lower.up = Some(true);
    host.links.insert("low0".into(), lower);
    net.nodes.insert("host".into(), host);
    let mut k = Kernel::new(bare_host("k"));
    let p = plan::up(&net, &k.net, &k.owned).expect("no conflicts");
    k.apply(&p);
    (net, k)
}

fn set_kind(net: &mut Network, kind: LinkKind) {
    net.nodes
        .get_mut("host")
        .unwrap()
        .links
        .get_mut("d0")
        .unwrap()
        .kind = kind;
}

fn lines(net: &Network, k: &Kernel) -> Vec<String> {
    let p = plan::up(net, &k.net, &k.owned).expect("no conflicts");
    check_shape(&p);
    let mut k = k.clone();
    k.apply(&p);
    let again = plan::up(net, &k.net, &k.owned).expect("no conflicts");
    assert!(again.steps.is_empty(), "not converged: {again}");
    p.steps.iter().map(|s| s.op.to_string()).collect()
}

fn recreates(l: &[String]) -> bool {
    l.iter().any(|x| x == "host: link del d0")
        && l.iter().any(|x| x.starts_with("host: link add d0"))
}

#[test]
fn bond_mode_recreates_but_miimon_changes_in_place() {
    let bond = |mode: &str, miimon| {
        LinkKind::Bond(BondOptions {
            mode: Some(mode.into()),
            miimon: Some(miimon),
            ..Default::default()
        })
    };
    let (mut net, k) = one(bond("active-backup", 100));
    set_kind(&mut net, bond("active-backup", 200));
    assert_eq!(lines(&net, &k), ["host: link set d0 type bond miimon 200"]);
    set_kind(&mut net, bond("802.3ad", 100));
    let l = lines(&net, &k);
    assert!(recreates(&l), "{l:?}");
    assert!(
        l.contains(&"host: addr add 10.5.0.1/24 dev d0".to_string())
            && l.contains(&"host: link set d0 up".to_string())
    );
}

#[test]
fn macvlan_mode_changes_in_place_but_lower_recreates() {
    let mv = |lower: &str, mode: &str| {
        LinkKind::Macvlan(MacvlanOptions {
            lower: Some(r("host", lower)),
            mode: Some(mode.into()),
            ..Default::default()
        })
    };
    let (mut net, mut k) = one(mv("low0", "bridge"));
    set_kind(&mut net, mv("low0", "private"));
    assert_eq!(
        lines(&net, &k),
        ["host: link set d0 type macvlan mode private"]
    );
    k.net
        .nodes
        .get_mut("host")
        .unwrap()
        .links
        .insert("low1".into(), {
            let mut l = Link::new("low1", LinkKind::Dummy(Default::default()));
            l.alias = Some(owner_mark("k"));
            l
        });
    net.nodes.get_mut("host").unwrap().links.insert(
        "low1".into(),
        Link::new("low1", LinkKind::Dummy(Default::default())),
    );
    set_kind(&mut net, mv("low1", "bridge"));
    assert!(recreates(&lines(&net, &k)));
}

#[test]
fn ipvlan_mode_and_tun_flags_recreate() {
    let ipv = |mode: &str| {
        LinkKind::Ipvlan(IpvlanOptions {
            lower: Some(r("host", "low0")),
            mode: Some(mode.into()),
            ..Default::default()
        })
    };
    let (mut net, k) = one(ipv("l2"));
    set_kind(&mut net, ipv("l3"));
    assert!(recreates(&lines(&net, &k)));
    let tun = |mq| {
        LinkKind::Tun(TunOptions {
            mode: "tap".into(),
            multi_queue: Some(mq),
            ..Default::default()
        })
    };
    let (mut net, k) = one(tun(false));
    set_kind(&mut net, tun(true));
    assert!(recreates(&lines(&net, &k)));
}

#[test]
fn vlan_flags_change_in_place() {
    let vl = |gvrp| {
        LinkKind::Vlan(VlanOptions {
            lower: Some(r("host", "low0")),
            id: 7,
            gvrp: Some(gvrp),
            ..Default::default()
        })
    };
    let (mut net, k) = one(vl(false));
    set_kind(&mut net, vl(true));
    assert_eq!(
        lines(&net, &k),
        ["host: link set d0 type vlan gvrp true id 7"]
    );
}

#[test]
fn changing_kind_recreates() {
    let (mut net, k) = one(LinkKind::Dummy(Default::default()));
    set_kind(&mut net, LinkKind::Bridge(BridgeOptions::default()));
    let l = lines(&net, &k);
    assert!(recreates(&l), "{l:?}");
    let st = plan::status(&net, &k.net, &k.owned);
    let d0 = st
        .iter()
        .find(|s| s.object == "host/d0")
        .expect("status of d0");
    assert!(
        matches!(&d0.state, plan::SyncState::Drifted { fields } if fields[0].field == "kind" && fields[0].want == "bridge" && fields[0].have == "dummy")
    );
}

#[test]
fn port_option_change_and_release_from_master() {
    let mut want = lxc();
    let k = Kernel::new(bare_host("lxc"));
    let mut k = k;
    k.apply(&plan::up(&want, &k.net, &k.owned).unwrap());
    let v0 = want
        .nodes
        .get_mut("host")
        .unwrap()
        .links
        .get_mut("veth0")
        .unwrap();
    v0.port = Some(PortOptions::Bridge(BridgePort {
        cost: Some(7),
        ..Default::default()
    }));
    let p = plan::up(&want, &k.net, &k.owned).unwrap();
    assert_eq!(p.steps.len(), 1, "{p}");
    assert_eq!(
        p.steps[0].op.to_string(),
        "host: link set veth0 port cost 7"
    );
    let v0 = want
        .nodes
        .get_mut("host")
        .unwrap()
        .links
        .get_mut("veth0")
        .unwrap();
    v0.port = None;
    v0.master = None;
    let p = plan::up(&want, &k.net, &k.owned).unwrap();
    match &p.steps[..] {
        [s] => match &s.op {
            Op::SetLink { change, prior, .. } => {
                assert_eq!(change.master, Some(None));
                assert_eq!(prior.master, Some(Some("lxcbr0".into())));
            }
            other => panic!("{other:?}"),
        },
        _ => panic!("{p}"),
    }
    assert_eq!(p.steps[0].op.to_string(), "host: link set veth0 nomaster");
}

#[test]
fn host_loopback_is_only_ever_set_up() {
    let mut want = lxc();
    let mut lo = Link::new("lo", LinkKind::Loopback);
    lo.up = Some(true);
    lo.mtu = Some(1000);
    want.nodes
        .get_mut("host")
        .unwrap()
        .links
        .insert("lo".into(), lo);
    let mut obs = bare_host("lxc");
    obs.nodes
        .get_mut("host")
        .unwrap()
        .links
        .get_mut("lo")
        .unwrap()
        .up = Some(false);
    let p = plan::up(&want, &obs, &Owned::default()).unwrap();
    let lo_ops: Vec<String> = p
        .steps
        .iter()
        .map(|s| s.op.to_string())
        .filter(|l| l.starts_with("host:") && l.contains(" lo"))
        .collect();
    assert_eq!(lo_ops, ["host: link set lo up"]);
    assert!(!p
        .steps
        .iter()
        .any(|s| matches!(&s.op, Op::DelAddress { link, .. } if link == "lo")));
}

#[test]
fn foreign_nft_table_in_host_is_a_conflict() {
    let want = lxc();
    let mut obs = bare_host("lxc");
    obs.nodes.get_mut("host").unwrap().nat = want.nodes["host"].nat.clone();
    let err = plan::up(&want, &obs, &Owned::default()).unwrap_err();
    assert_eq!(err[0].object, "nft table inet netloom-lxc in host");
    let owned = Owned {
        nat: ["host".to_string()].into(),
        ..Default::default()
    };
    let p = plan::up(&want, &obs, &owned).unwrap();
    assert!(
        !p.steps.iter().any(|s| matches!(s.op, Op::SetNat { .. })),
        "same rules: no change"
    );
}
