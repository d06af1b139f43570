//! Planner: a team's teamd is started once its ports exist and before they
//! come up, restarted when the setup changes, and its start undone by a stop.
#[path = "support/plan_util/mod.rs"]
mod plan_util;

use netloom::apply::journal;
use netloom::model::Op;
use netloom::model::*;
use netloom::plan;
use plan_util::*;

/// Node `a` with team0 over eth0/eth1, veths to node `sw`.
fn team_net(prio0: i32) -> Network {
    let mut net = Network {
        name: "t".into(),
        nodes: Default::default(),
    };
    let mut a = Node::default();
    let mut sw = Node::default();
    let mut team = Link::new(
        "team0",
        LinkKind::Team(TeamOptions {
            runner: "activebackup".into(),
            ..TeamOptions::default()
        }),
    );
    team.up = Some(true);
    team.addresses = vec![plan_util::a("10.19.0.1/24")];
    a.links.insert("team0".into(), team);
    for (i, port) in ["eth0", "eth1"].iter().enumerate() {
        let mut l = veth(port, r("sw", &format!("p{i}")));
        l.up = Some(true);
        l.master = Some("team0".into());
        l.port = Some(PortOptions::Team(TeamPort {
            prio: Some(if i == 0 { prio0 } else { 0 }),
            ..TeamPort::default()
        }));
        a.links.insert(port.to_string(), l);
        let p = format!("p{i}");
        sw.links.insert(p.clone(), veth(&p, r("a", port)));
    }
    net.nodes.insert("a".into(), a);
    net.nodes.insert("sw".into(), sw);
    net
}

#[test]
fn teamd_starts_after_ports_exist_and_before_they_come_up() {
    let net = team_net(10);
    let mut k = Kernel::new(bare_host("t"));
    let p = plan::up(&net, &k.net, &k.owned).expect("no conflicts");
    check_shape(&p);
    let start = p
        .steps
        .iter()
        .position(|s| matches!(s.op, Op::StartTeamd { .. }))
        .expect("a teamd start");
    let Op::StartTeamd { setup, prior, .. } = &p.steps[start].op else {
        unreachable!()
    };
    assert_eq!(prior, &None);
    assert_eq!(setup.options.runner, "activebackup");
    assert_eq!(setup.ports.keys().collect::<Vec<_>>(), vec!["eth0", "eth1"]);
    assert_eq!(setup.ports["eth0"].prio, Some(10));
    // No rtnetlink enslaving of team ports: teamd does that.
    for s in &p.steps {
        if let Op::SetLink { change, .. } = &s.op {
            assert!(change.master.is_none() && change.port.is_none(), "{}", s.op);
        }
    }
    for port in ["eth0", "eth1", "team0"] {
        let up = find(&p, &format!("a: link set {port} up"));
        assert!(depends(&p, up, start), "{port} up before teamd:\n{p}");
    }
    let add0 = p
        .steps
        .iter()
        .position(|s| {
            matches!(&s.op, Op::AddLink { peer: Some(x), .. } if x.name == "eth0")
                || matches!(&s.op, Op::AddLink { link, .. } if link.name == "eth0")
        })
        .expect("eth0 made");
    assert!(
        depends(&p, start, add0),
        "teamd before its port exists:\n{p}"
    );
    k.apply(&p);
    let again = plan::up(&net, &k.net, &k.owned).expect("no conflicts");
    assert!(again.steps.is_empty(), "not converged: {again}");
}

#[test]
fn a_port_option_change_is_exactly_one_teamd_restart() {
    let mut k = Kernel::new(bare_host("t"));
    let p = plan::up(&team_net(10), &k.net, &k.owned).unwrap();
    k.apply(&p);
    let changed = team_net(20);
    let p = plan::up(&changed, &k.net, &k.owned).unwrap();
    assert_eq!(p.steps.len(), 1, "{p}");
    let Op::StartTeamd { setup, prior, .. } = &p.steps[0].op else {
        panic!("not a teamd restart: {p}")
    };
    assert_eq!(setup.ports["eth0"].prio, Some(20));
    assert_eq!(prior.as_ref().unwrap().ports["eth0"].prio, Some(10));
    assert!(p.steps[0].op.to_string().contains("teamd restart team0"));
    assert!(p.steps[0].op.to_string().contains("prio 20"));
    // Rolling it back restarts teamd with the old setup.
    let inv = journal::inverse(&p.steps[0].op, &k.net).unwrap();
    assert!(
        matches!(&inv[..], [Op::StartTeamd { setup, .. }] if setup.ports["eth0"].prio == Some(10))
    );
    k.apply(&p);
    assert!(plan::up(&changed, &k.net, &k.owned)
        .unwrap()
        .steps
        .is_empty());
}

#[test]
fn a_runner_change_restarts_teamd_without_recreating_the_team() {
    let mut k = Kernel::new(bare_host("t"));
    k.apply(&plan::up(&team_net(10), &k.net, &k.owned).unwrap());
    let mut net = team_net(10);
    if let LinkKind::Team(o) = &mut net
        .nodes
        .get_mut("a")
        .unwrap()
        .links
        .get_mut("team0")
        .unwrap()
        .kind
    {
        o.runner = "roundrobin".into();
    }
    let p = plan::up(&net, &k.net, &k.owned).unwrap();
    let lines: Vec<String> = p.steps.iter().map(|s| s.op.to_string()).collect();
    assert_eq!(lines.len(), 1, "{p}");
    assert!(
        lines[0].starts_with("a: teamd restart team0 runner roundrobin"),
        "{p}"
    );
}

#[test]
fn a_team_without_teamd_gets_it_started_and_a_start_is_undone_by_a_stop() {
    let net = team_net(10);
    let mut k = Kernel::new(bare_host("t"));
    k.apply(&plan::up(&net, &k.net, &k.owned).unwrap());
    // teamd died (killed: it removed no port): observe reports the team
    // with no runner, its ports still in it.
    k.net
        .nodes
        .get_mut("a")
        .unwrap()
        .links
        .get_mut("team0")
        .unwrap()
        .kind = LinkKind::Team(Default::default());
    let p = plan::up(&net, &k.net, &k.owned).unwrap();
    assert_eq!(p.steps.len(), 1, "{p}");
    assert!(matches!(&p.steps[0].op, Op::StartTeamd { prior: None, .. }));
    let inv = journal::inverse(&p.steps[0].op, &k.net).unwrap();
    assert!(matches!(&inv[..], [Op::StopTeamd { dev, prior: Some(_), .. }] if dev == "team0"));
    let status = plan::status(&net, &k.net, &k.owned);
    assert!(status
        .iter()
        .any(|s| s.object == "a/team0" && matches!(s.state, plan::SyncState::Drifted { .. })));
}

#[test]
fn deleting_a_team_is_undone_with_its_teamd() {
    let net = team_net(10);
    let mut k = Kernel::new(bare_host("t"));
    k.apply(&plan::up(&net, &k.net, &k.owned).unwrap());
    let ops = journal::inverse(
        &Op::DelLink {
            node: "a".into(),
            name: "team0".into(),
        },
        &k.net,
    )
    .unwrap();
    assert!(matches!(ops.first(), Some(Op::AddLink { .. })));
    assert!(
        matches!(ops.last(), Some(Op::StartTeamd { setup, .. }) if setup.ports.len() == 2),
        "{ops:#?}"
    );
}

/// The team driver opens each port teamd takes, at the first start and at
/// every restart (teamd 1.31 releases its ports when it stops): a port
/// wanted down is set down after teamd, and a second plan is empty.
#[test]
fn a_port_wanted_down_goes_down_after_every_teamd_start() {
    let down = |prio0| {
        let mut net = team_net(prio0);
        net.nodes
            .get_mut("a")
            .unwrap()
            .links
            .get_mut("eth1")
            .unwrap()
            .up = Some(false);
        net
    };
    let mut k = Kernel::new(bare_host("t"));
    for prio0 in [10, 20] {
        let p = plan::up(&down(prio0), &k.net, &k.owned).unwrap();
        let start = p
            .steps
            .iter()
            .position(|s| matches!(s.op, Op::StartTeamd { .. }))
            .expect("a teamd (re)start");
        let off = find(&p, "a: link set eth1 down");
        assert!(depends(&p, off, start), "eth1 down before teamd:\n{p}");
        k.apply(&p);
        assert_eq!(k.net.nodes["a"].links["eth1"].up, Some(false));
        let again = plan::up(&down(prio0), &k.net, &k.owned).unwrap();
        assert!(again.steps.is_empty(), "not converged: {again}");
    }
}
