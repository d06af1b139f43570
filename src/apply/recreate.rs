//! Rebuilding a link that apply deleted, as it was observed before, for
//! rollback.
use crate::model::{LinkKind, Network, Route, TeamdSetup};
use crate::plan::{LinkChange, Op};

/// Ops that rebuild a link deleted by apply, as it was observed before: the
/// device (with its veth peer), its master and state, addresses and routes.
/// A team's port is taken back by its teamd, restarted with the setup from
/// before (the driver refuses a port over rtnetlink from netloom, and one
/// that is up); it opens the port, which goes down again if it was down.
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
    // (node, team, port, whether the port was up) of team ports remade.
    let mut team_ports: Vec<(String, String, String, Option<bool>)> = Vec::new();
    let mut restore = |node: &str, l: &crate::model::Link, routes: &[Route]| {
        let team = l.master.as_ref().filter(|m| {
            before
                .nodes
                .get(node)
                .and_then(|n| n.links.get(*m))
                .is_some_and(|t| matches!(t.kind, LinkKind::Team(_)))
        });
        let change = match team {
            Some(t) => {
                team_ports.push((node.to_string(), t.clone(), l.name.clone(), l.up));
                LinkChange::default()
            }
            None => LinkChange {
                up: l.up,
                master: l.master.clone().map(Some),
                port: l.port.clone(),
                ..LinkChange::default()
            },
        };
        if !change.is_empty() {
            ops.push(Op::SetLink {
                node: node.to_string(),
                name: l.name.clone(),
                change,
                prior: LinkChange::default(),
            });
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
    for (node, team, port, up) in team_ports {
        let Some(setup) = before
            .nodes
            .get(&node)
            .and_then(|n| TeamdSetup::of(n, &team))
        else {
            continue;
        };
        ops.push(Op::StartTeamd {
            node: node.clone(),
            dev: team,
            setup,
            prior: None,
        });
        if up == Some(false) {
            ops.push(Op::SetLink {
                node,
                name: port,
                change: LinkChange {
                    up: Some(false),
                    ..LinkChange::default()
                },
                prior: LinkChange::default(),
            });
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
        // Down again after teamd opened it; never enslaved over rtnetlink.
        assert_eq!(lines[2], "a: link set eth1 down", "{lines:#?}");
        assert_eq!(ops.len(), 3, "{lines:#?}");
    }
}
