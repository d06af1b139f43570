//! Ports of a master that rollback recreates: deleting a bridge or bond
//! releases its ports, and making it anew does not take them back; a
//! teamd started again opens every port it takes.
use std::collections::BTreeSet;

use crate::model::{IfRef, LinkKind, Network};
use crate::model::{LinkChange, Op};

/// The links `op` removes, as they were `before`: a DelLink's link and,
/// for a veth, its peer.
pub fn removed(op: &Op, before: &Network) -> Vec<IfRef> {
    let Op::DelLink { node, name } = op else {
        return Vec::new();
    };
    let mut out = vec![IfRef {
        node: node.clone(),
        name: name.clone(),
    }];
    let link = before.nodes.get(node).and_then(|n| n.links.get(name));
    if let Some(LinkKind::Veth(v)) = link.map(|l| &l.kind) {
        out.extend(v.peer.clone());
    }
    out
}

/// The ops enslaving again, with their port options, the ports that `op`
/// (a DelLink) released, as they were `before`. Left out: ports in
/// `removed` (their own undo makes them with their master set) and a
/// team's ports (its teamd, started again, takes them back).
pub fn back(op: &Op, before: &Network, removed: &BTreeSet<IfRef>) -> Vec<Op> {
    let Op::DelLink { node, name } = op else {
        return Vec::new();
    };
    let Some(n) = before.nodes.get(node) else {
        return Vec::new();
    };
    if n.links
        .get(name)
        .is_none_or(|l| matches!(l.kind, LinkKind::Team(_)))
    {
        return Vec::new();
    }
    n.links
        .values()
        .filter(|l| l.master.as_deref() == Some(name.as_str()))
        .map(|l| {
            let r = IfRef {
                node: node.clone(),
                name: l.name.clone(),
            };
            (r, l)
        })
        .filter(|(r, _)| !removed.contains(r))
        .map(|(r, l)| {
            let change = LinkChange {
                master: Some(Some(name.clone())),
                port: l.port.clone(),
                ..LinkChange::default()
            };
            let prior = LinkChange {
                master: Some(None),
                ..LinkChange::default()
            };
            Op::set_link(&r, change, prior)
        })
        .collect()
}

/// `ops` with, after each teamd start among them, a SetLink down for every
/// port of its setup that was down `before` and is not `gone`: the driver
/// opens each port it takes, and teamd takes them all at every start.
pub fn closed_again(ops: Vec<Op>, before: &Network, gone: &dyn Fn(&IfRef) -> bool) -> Vec<Op> {
    let mut out = Vec::with_capacity(ops.len());
    for op in ops {
        let mut downs = Vec::new();
        if let Op::StartTeamd { node, setup, .. } = &op {
            let links = before.nodes.get(node).map(|n| &n.links);
            for port in setup.ports.keys() {
                let was_down = links
                    .and_then(|l| l.get(port))
                    .is_some_and(|l| l.up == Some(false));
                let me = IfRef {
                    node: node.clone(),
                    name: port.clone(),
                };
                if was_down && !gone(&me) {
                    let change = LinkChange::only_up(Some(false));
                    downs.push(Op::set_link(&me, change, LinkChange::default()));
                }
            }
        }
        out.push(op);
        out.extend(downs);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{BridgePort, Link, Node, PortOptions, HOST};

    fn port(name: &str, master: &str) -> Link {
        let mut l = Link::veth(name, "c1", "eth0");
        l.master = Some(master.into());
        l.port = Some(PortOptions::Bridge(BridgePort {
            cost: Some(20),
            ..BridgePort::default()
        }));
        l
    }

    fn host(links: Vec<Link>) -> Network {
        let mut n = Node::default();
        for l in links {
            n.links.insert(l.name.clone(), l);
        }
        Network {
            name: "t".into(),
            nodes: [(HOST.into(), n)].into(),
        }
    }

    fn del(name: &str) -> Op {
        Op::DelLink {
            node: HOST.into(),
            name: name.into(),
        }
    }

    #[test]
    fn a_deleted_bridge_takes_back_its_ports_but_not_removed_ones() {
        let bridge = Link::new("br0", LinkKind::Bridge(Default::default()));
        let before = host(vec![bridge, port("p1", "br0"), port("p2", "br0")]);
        let removed: BTreeSet<IfRef> = removed(&del("p2"), &before).into_iter().collect();
        let ops = back(&del("br0"), &before, &removed);
        assert_eq!(ops.len(), 1, "{ops:?}");
        let Op::SetLink { name, change, .. } = &ops[0] else {
            panic!("{ops:?}")
        };
        assert_eq!(name, "p1");
        assert_eq!(change.master, Some(Some("br0".into())));
        assert!(
            matches!(&change.port, Some(PortOptions::Bridge(p)) if p.cost == Some(20)),
            "{change:?}"
        );
    }

    #[test]
    fn a_team_and_a_port_itself_take_nothing_back() {
        let team = Link::new("team0", LinkKind::Team(Default::default()));
        let before = host(vec![team, port("p1", "team0")]);
        assert!(back(&del("team0"), &before, &BTreeSet::new()).is_empty());
        assert!(back(&del("p1"), &before, &BTreeSet::new()).is_empty());
    }

    #[test]
    fn a_teamd_start_is_followed_by_closing_the_ports_that_were_down() {
        let mut team = Link::new("team0", LinkKind::Team(Default::default()));
        team.up = Some(true);
        let mut links = vec![team];
        for (name, up) in [("p1", false), ("p2", true), ("p3", false)] {
            let mut l = Link::veth(name, "c1", name);
            l.master = Some("team0".into());
            l.up = Some(up);
            links.push(l);
        }
        let before = host(links);
        let setup = crate::model::TeamdSetup {
            options: Default::default(),
            ports: ["p1", "p2", "p3"]
                .into_iter()
                .map(|p| (p.to_string(), Default::default()))
                .collect(),
        };
        let start = Op::StartTeamd {
            node: HOST.into(),
            dev: "team0".into(),
            setup,
            prior: None,
        };
        let gone = |r: &IfRef| r.name == "p3";
        let ops = closed_again(vec![start.clone(), del("x")], &before, &gone);
        let lines: Vec<String> = ops.iter().map(ToString::to_string).collect();
        assert_eq!(ops[0], start);
        assert_eq!(lines[1], "host: link set p1 down", "{lines:#?}");
        assert_eq!(ops[2], del("x"), "{lines:#?}");
        assert_eq!(ops.len(), 3, "{lines:#?}");
    }
}
