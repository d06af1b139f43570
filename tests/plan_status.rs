//! Planner status and down: per-object sync state, and tearing everything down.
#[path = "support/plan_util/mod.rs"]
mod plan_util;

use netloom::model::Op;
use netloom::model::*;
use netloom::plan::{self, FieldDiff, SyncState};
use plan_util::*;

fn built(desired: &Network) -> Kernel {
    let mut k = Kernel::new(bare_host(&desired.name));
    let p = plan::up(desired, &k.net, &k.owned).expect("no conflicts");
    k.apply(&p);
    k
}

fn state<'a>(st: &'a [plan::ObjectStatus], object: &str) -> &'a SyncState {
    &st.iter()
        .find(|s| s.object == object)
        .unwrap_or_else(|| panic!("no status for {object}: {st:#?}"))
        .state
}

#[test]
fn status_reports_in_sync_missing_drifted_and_orphaned() {
    let mut want = lxc();
    let mut k = built(&want);
    let st = plan::status(&want, &k.net, &k.owned);
    assert!(st.iter().all(|s| s.state == SyncState::InSync), "{st:#?}");
    // Drift the kernel and the file apart in several ways.
    let host = k.net.nodes.get_mut("host").unwrap();
    host.links.get_mut("lxcbr0").unwrap().kind = LinkKind::Bridge(BridgeOptions {
        stp: Some(true),
        ..Default::default()
    });
    host.links.get_mut("lxcbr0").unwrap().mtu = Some(1400);
    k.net
        .nodes
        .get_mut("c1")
        .unwrap()
        .routes
        .retain(|r| r.via.is_none());
    let mut extra = Link::new("dummy9", LinkKind::Dummy(Default::default()));
    extra.alias = Some(owner_mark("lxc"));
    k.net
        .nodes
        .get_mut("host")
        .unwrap()
        .links
        .insert("dummy9".into(), extra);
    want.nodes
        .get_mut("c1")
        .unwrap()
        .sysctls
        .insert("net.ipv6.conf.all.forwarding".into(), "1".into());
    want.nodes
        .get_mut("host")
        .unwrap()
        .links
        .get_mut("lxcbr0")
        .unwrap()
        .mtu = Some(1500);
    want.nodes.insert("c2".into(), Node::default());
    let st = plan::status(&want, &k.net, &k.owned);
    match state(&st, "host/lxcbr0") {
        SyncState::Drifted { fields } => {
            let names: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
            assert_eq!(names, ["stp", "mtu"]);
            assert_eq!(
                fields[1],
                FieldDiff {
                    field: "mtu".into(),
                    want: "1500".into(),
                    have: "1400".into()
                }
            );
        }
        other => panic!("lxcbr0 should drift: {other:?}"),
    }
    assert_eq!(
        state(&st, "c1 route default via 10.0.3.1"),
        &SyncState::Missing
    );
    assert_eq!(state(&st, "node c2"), &SyncState::Missing);
    assert_eq!(state(&st, "node c1"), &SyncState::InSync);
    assert_eq!(state(&st, "c1/eth0"), &SyncState::InSync);
    assert_eq!(state(&st, "host/veth0"), &SyncState::InSync);
    assert_eq!(state(&st, "host nat"), &SyncState::InSync);
    assert_eq!(state(&st, "host/dummy9"), &SyncState::Orphaned);
    assert!(
        matches!(state(&st, "c1 sysctl net.ipv6.conf.all.forwarding"), SyncState::Drifted { fields } if fields[0].have == "unset")
    );
    // The kernel's own host devices are none of netloom's business.
    assert!(
        !st.iter()
            .any(|s| s.object == "host/eth0" || s.object == "host/lo"),
        "{st:#?}"
    );
    let json = serde_json::to_string(&st).expect("status serializes");
    assert!(json.contains("Orphaned"));
}

#[test]
fn status_of_a_foreign_device_says_who_owns_it() {
    let want = lxc();
    let mut obs = bare_host("lxc");
    obs.nodes.get_mut("host").unwrap().links.insert(
        "lxcbr0".into(),
        Link::new("lxcbr0", LinkKind::Bridge(Default::default())),
    );
    let st = plan::status(&want, &obs, &Default::default());
    assert!(
        matches!(state(&st, "host/lxcbr0"), SyncState::Drifted { fields } if fields[0].field == "owner")
    );
    assert_eq!(state(&st, "node c1"), &SyncState::Missing);
    assert_eq!(state(&st, "c1/eth0"), &SyncState::Missing);
}

#[test]
fn down_removes_everything_owned_in_dependency_order() {
    let want = lxc();
    let mut k = built(&want);
    // An extra macvlan in the host on the container's end: it dies with c1.
    let mut mv = Link::new(
        "mvc",
        LinkKind::Macvlan(MacvlanOptions {
            lower: Some(r("c1", "eth0")),
            ..Default::default()
        }),
    );
    mv.alias = Some(owner_mark("lxc"));
    k.net
        .nodes
        .get_mut("host")
        .unwrap()
        .links
        .insert("mvc".into(), mv);
    let p = plan::down(&k.net, &k.owned);
    check_shape(&p);
    let mut lines: Vec<String> = p.steps.iter().map(|s| s.op.to_string()).collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "c1: netns delete",
            "host: link del lxcbr0",
            "host: nft delete table",
            "host: sysctl net.ipv4.ip_forward=0 (was 1)",
        ],
        "veth0 and mvc vanish with c1: {p}"
    );
    // Deletions touching nothing in common stay parallel.
    assert!(p.steps.iter().all(|s| s.after.is_empty()), "{p}");
    k.apply(&p);
    assert_eq!(k.net.nodes.keys().collect::<Vec<_>>(), ["host"]);
    let host = &k.net.nodes["host"];
    assert_eq!(host.links.keys().collect::<Vec<_>>(), ["eth0", "lo"]);
    assert_eq!(host.sysctls["net.ipv4.ip_forward"], "0");
    assert!(host.nat.is_empty());
    assert!(
        plan::down(&k.net, &k.owned).steps.is_empty(),
        "down twice does nothing"
    );
}

#[test]
fn down_deletes_a_host_veth_pair_once() {
    let mut want = lxc();
    // A veth pair with both ends in the host.
    want.nodes
        .get_mut("host")
        .unwrap()
        .links
        .insert("x0".into(), veth("x0", r("host", "x1")));
    want.nodes
        .get_mut("host")
        .unwrap()
        .links
        .insert("x1".into(), veth("x1", r("host", "x0")));
    let k = built(&want);
    let p = plan::down(&k.net, &k.owned);
    let del_pair: Vec<&Op> = p
        .steps
        .iter()
        .map(|s| &s.op)
        .filter(|o| matches!(o, Op::DelLink { name, .. } if name.starts_with('x')))
        .collect();
    assert_eq!(del_pair.len(), 1, "a pair is deleted once: {p}");
    assert_eq!(del_pair[0].to_string(), "host: link del x0");
}

#[test]
fn display_lines_read_like_iproute2() {
    let set = Op::SetLink {
        node: "host".into(),
        name: "br0".into(),
        change: netloom::model::LinkChange {
            up: Some(true),
            ..Default::default()
        },
        prior: netloom::model::LinkChange {
            up: Some(false),
            ..Default::default()
        },
    };
    assert_eq!(set.to_string(), "host: link set br0 up");
    let nat = Op::SetNat {
        node: "gw".into(),
        rules: vec![Masquerade {
            source: "10.0.3.0/24".parse().unwrap(),
            out: "uplink0".into(),
        }],
    };
    assert_eq!(
        nat.to_string(),
        "gw: nft masquerade 10.0.3.0/24 out uplink0"
    );
    let rt = Op::AddRoute {
        node: "c1".into(),
        route: route("0.0.0.0/0", Some("10.0.3.1"), None, None),
    };
    assert_eq!(rt.to_string(), "c1: route add default via 10.0.3.1");
    let json = serde_json::to_string(&rt).unwrap();
    assert_eq!(serde_json::from_str::<Op>(&json).unwrap(), rt);
}
