//! Rebuilding a link that apply deleted, as it was observed before, for
//! rollback.
use crate::model::{LinkChange, Op};
use crate::model::{LinkKind, Network, Route, TeamdSetup};

/// Ops that rebuild a link deleted by apply, as it was observed before: the
/// device (with its veth peer), its master and state, addresses and routes.
/// A team's port is taken back by its teamd, restarted with the setup from
/// before (netloom's kernel layer leaves team ports to teamd, and the driver
/// refuses a port that is up); the driver opens each port it takes.
pub(super) fn link(before: &Network, node: &str, name: &str) -> Vec<Op> {
    let Some(n) = before.nodes.get(node) else {
        return Vec::new();
    };
    let Some(link) = n.links.get(name) else {
        return Vec::new();
    };
    let peer = match &link.kind {
        LinkKind::Veth(v) => v
            .peer
            .as_ref()
            .and_then(|p| {
                before
                    .nodes
                    .get(&p.node)
                    .and_then(|pn| pn.links.get(&p.name))
            })
            .map(|l| Box::new(l.clone())),
        _ => None,
    };
    let mut made = link.clone();
    // Observed options hold every value the kernel reports; `vlan_filtering
    // false` is the default at creation, and a kernel built without bridge
    // VLAN support refuses the attribute even when false.
    if let LinkKind::Bridge(o) = &mut made.kind {
        if o.vlan_filtering == Some(false) {
            o.vlan_filtering = None;
        }
    }
    let mut ops = vec![Op::AddLink {
        node: node.to_string(),
        link: made,
        peer: peer.clone(),
    }];
    let mut restore = |node: &str, l: &crate::model::Link, routes: &[Route]| {
        let teamd = l.master.as_ref().and_then(|m| {
            let setup = TeamdSetup::of(before.nodes.get(node)?, m)?;
            Some(Op::StartTeamd {
                node: node.to_string(),
                dev: m.clone(),
                setup,
                prior: None,
            })
        });
        // A team's port: its teamd takes it (and opens it) before its
        // addresses and routes come back, as up does; a port that was down
        // is closed again by the undo (see undo::closed_again).
        if let Some(start) = teamd {
            ops.push(start);
        } else {
            let change = LinkChange {
                up: l.up,
                master: l.master.clone().map(Some),
                port: l.port.clone(),
                ..LinkChange::default()
            };
            if !change.is_empty() {
                ops.push(Op::SetLink {
                    node: node.to_string(),
                    name: l.name.clone(),
                    change,
                    prior: LinkChange::default(),
                });
            }
        }
        for addr in &l.addresses {
            ops.push(Op::AddAddress {
                node: node.to_string(),
                link: l.name.clone(),
                addr: *addr,
            });
        }
        for r in routes
            .iter()
            .filter(|r| r.dev.as_deref() == Some(l.name.as_str()))
        {
            ops.push(Op::AddRoute {
                node: node.to_string(),
                route: r.clone(),
            });
        }
    };
    restore(node, link, &n.routes);
    if let (Some(p), LinkKind::Veth(v)) = (&peer, &link.kind) {
        if let Some(pref) = &v.peer {
            let routes = before
                .nodes
                .get(&pref.node)
                .map(|x| x.routes.clone())
                .unwrap_or_default();
            restore(&pref.node, p, &routes);
        }
    }
    // A team comes back with its teamd, which enslaves its ports again.
    if let Some(setup) = TeamdSetup::of(n, name) {
        ops.push(Op::StartTeamd {
            node: node.to_string(),
            dev: name.to_string(),
            setup,
            prior: None,
        });
    }
    ops
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Link, Node, PortOptions, TeamOptions, TeamPort};

    #[test]
    fn a_team_port_is_taken_back_by_a_teamd_restart_not_over_rtnetlink() {
        let mut a = Node::default();
        let mut team = Link::new(
            "team0",
            LinkKind::Team(TeamOptions {
                runner: "activebackup".into(),
                ..TeamOptions::default()
            }),
        );
        team.up = Some(true);
        a.links.insert("team0".into(), team);
        for (port, up) in [("eth0", true), ("eth1", false)] {
            let mut l = Link::veth(port, "b", "q");
            l.master = Some("team0".into());
            l.port = Some(PortOptions::Team(TeamPort::default()));
            l.up = Some(up);
            a.links.insert(port.into(), l);
        }
        let before = Network {
            name: "t".into(),
            nodes: [("a".into(), a)].into(),
        };
        let ops = link(&before, "a", "eth1");
        let lines: Vec<String> = ops.iter().map(ToString::to_string).collect();
        assert!(matches!(ops[0], Op::AddLink { .. }), "{lines:#?}");
        let Some(Op::StartTeamd { dev, setup, .. }) = ops.get(1) else {
            panic!("no teamd restart after the port is made: {lines:#?}")
        };
        assert_eq!(dev, "team0");
        assert_eq!(setup.ports.keys().collect::<Vec<_>>(), ["eth0", "eth1"]);
        // Never enslaved over rtnetlink (the undo closes it again: undo::closed_again).
        assert_eq!(ops.len(), 2, "{lines:#?}");
    }
}
