//! Undo: the ops that take one finished step back. The step's own inverse
//! comes from the journal; what the kernel did along with the step comes
//! from [`crate::effects`], and is put back too: links that vanished with
//! it made anew, addresses and routes it took along added again, ports it
//! released taken back, MTUs and states that followed set back, static
//! forwarding entries that went with them added again.
use std::collections::BTreeSet;

use super::{journal, recreate};
use crate::effects::{self, link::find, Follow};
use crate::model::{IfRef, LinkChange, LinkKind, Network, Op};

/// The links `op` removes, as they were `before`: a DelLink's link and all
/// that vanished with it.
pub fn removed(op: &Op, before: &Network) -> Vec<IfRef> {
    let Op::DelLink { node, name } = op else {
        return Vec::new();
    };
    let mut out = vec![IfRef {
        node: node.clone(),
        name: name.clone(),
    }];
    out.extend(effects::of(op, before).links);
    out
}

/// The ops undoing `op` (`None`: it cannot be undone). `gone` says which
/// links a step not undone yet removed (their own undo makes them anew as
/// they were, so nothing is set on them now); `removed` holds every link
/// the plan's finished steps removed.
pub fn ops(
    op: &Op,
    before: &Network,
    gone: &dyn Fn(&IfRef) -> bool,
    removed: &BTreeSet<IfRef>,
) -> Option<Vec<Op>> {
    let mut out = journal::inverse(op, before)?;
    let e = effects::of(op, before);
    // What vanished with a deleted link is made anew after it (a veth's
    // peer comes back with its end), each after the link it went with.
    let mut vanished: BTreeSet<IfRef> = removed_target(op).into_iter().collect();
    let peer = veth_peer(op, before);
    for r in &e.links {
        vanished.insert(r.clone());
        if Some(r) != peer.as_ref() {
            out.extend(recreate::link(before, &r.node, &r.name));
        }
    }
    // Addresses and routes taken from links that stay: addresses first, so
    // that the routes find their gateways and sources again.
    for (r, a) in &e.addresses {
        if !vanished.contains(r) && !gone(r) {
            out.push(Op::AddAddress {
                node: r.node.clone(),
                link: r.name.clone(),
                addr: *a,
            });
        }
    }
    for (node, route) in &e.routes {
        let through = route.dev.as_ref().map(|d| IfRef {
            node: node.clone(),
            name: d.clone(),
        });
        if through.is_some_and(|t| vanished.contains(&t) || gone(&t)) {
            continue;
        }
        out.push(Op::AddRoute {
            node: node.clone(),
            route: route.clone(),
        });
    }
    let mut states = Vec::new();
    for f in &e.follows {
        match f {
            // A team's ports come back with its teamd (recreate starts it).
            Follow::Released { link, master, port } => {
                let team = find(
                    before,
                    &IfRef {
                        node: link.node.clone(),
                        name: master.clone(),
                    },
                )
                .is_some_and(|m| matches!(m.kind, LinkKind::Team(_)));
                if !team && !removed.contains(link) && !gone(link) {
                    let change = LinkChange {
                        master: Some(Some(master.clone())),
                        port: port.clone(),
                        ..LinkChange::default()
                    };
                    let prior = LinkChange {
                        master: Some(None),
                        ..LinkChange::default()
                    };
                    out.push(Op::set_link(link, change, prior));
                }
            }
            // Only links stacked on a lower follow it; a bond's or team's
            // ports follow their master's own undo (a team refuses any
            // other change of a port's MTU).
            Follow::Mtu { link, from, .. } => {
                let stacked =
                    find(before, link).is_some_and(|l| effects::mtu::follows_lower(&l.kind));
                if let (true, Some(mtu), false) = (stacked, from, gone(link)) {
                    out.push(Op::set_link(
                        link,
                        LinkChange::only_mtu(Some(*mtu)),
                        LinkChange::default(),
                    ));
                }
            }
            Follow::Up { link, from, .. } => {
                if let (Some(up), false) = (from, gone(link) || removed.contains(link)) {
                    states.push(Op::set_link(
                        link,
                        LinkChange::only_up(Some(*up)),
                        LinkChange::default(),
                    ));
                }
            }
        }
    }
    out.extend(states);
    // Forwarding entries that went with a link or a port come back once
    // their device and port are back (a link a step not undone yet
    // removed comes back with that step's undo, which adds them then).
    for (node, entry) in &e.fdb {
        let at = |name: &str| IfRef {
            node: node.clone(),
            name: name.to_string(),
        };
        if !gone(&at(&entry.dev)) && !entry.refers_to().any(|r| gone(&at(r))) {
            out.push(Op::AddFdb {
                node: node.clone(),
                entry: entry.clone(),
            });
        }
    }
    Some(closed_again(out, before, gone))
}

/// The link a DelLink deletes.
fn removed_target(op: &Op) -> Option<IfRef> {
    match op {
        Op::DelLink { node, name } => Some(IfRef {
            node: node.clone(),
            name: name.clone(),
        }),
        _ => None,
    }
}

/// The veth peer of the link a DelLink deletes (made anew with it).
fn veth_peer(op: &Op, before: &Network) -> Option<IfRef> {
    let target = removed_target(op)?;
    match &find(before, &target)?.kind {
        LinkKind::Veth(v) => v.peer.clone(),
        _ => None,
    }
}

/// `ops` with, after each teamd start among them, a SetLink down for every
/// port of its setup that was down `before` and is not `gone`: the driver
/// opens each port teamd takes (see [`crate::effects::link`]), and teamd
/// takes them all at every start.
pub fn closed_again(ops: Vec<Op>, before: &Network, gone: &dyn Fn(&IfRef) -> bool) -> Vec<Op> {
    let mut out = Vec::with_capacity(ops.len());
    for op in ops {
        let mut downs = Vec::new();
        if let Op::StartTeamd { .. } = &op {
            for f in effects::of(&op, before).follows {
                if let Follow::Up {
                    link,
                    from: Some(false),
                    to: true,
                } = f
                {
                    if !gone(&link) {
                        let change = LinkChange::only_up(Some(false));
                        downs.push(Op::set_link(&link, change, LinkChange::default()));
                    }
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
    use crate::model::{Address, BridgePort, Link, MacvlanOptions, Node, PortOptions, HOST};

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

    fn lines(ops: &[Op]) -> Vec<String> {
        ops.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_deleted_bridge_takes_back_its_ports_but_not_removed_ones() {
        let bridge = Link::new("br0", LinkKind::Bridge(Default::default()));
        let before = host(vec![bridge, port("p1", "br0"), port("p2", "br0")]);
        let removed: BTreeSet<IfRef> = removed(&del("p2"), &before).into_iter().collect();
        let ops = ops(&del("br0"), &before, &|_| false, &removed).unwrap();
        let l = lines(&ops);
        assert_eq!(l[0], "host: link add br0 type bridge", "{l:#?}");
        assert_eq!(l[1], "host: link set p1 master br0 port cost 20", "{l:#?}");
        assert_eq!(l.len(), 2, "{l:#?}");
    }

    #[test]
    fn a_team_port_is_left_to_teamd() {
        let team = Link::new("team0", LinkKind::Team(Default::default()));
        let before = host(vec![team, port("p1", "team0")]);
        let ops = ops(&del("team0"), &before, &|_| false, &BTreeSet::new()).unwrap();
        assert!(
            !lines(&ops).iter().any(|l| l.contains("master team0")),
            "{:#?}",
            lines(&ops)
        );
    }

    /// A macvlan that went with its deleted lower is made anew after it.
    #[test]
    fn what_vanished_with_a_deleted_link_is_made_anew_after_it() {
        let mut lower = Link::veth("up0", "c1", "eth0");
        lower.up = Some(true);
        let mut mv = Link::new(
            "mv0",
            LinkKind::Macvlan(MacvlanOptions {
                lower: Some(IfRef {
                    node: HOST.into(),
                    name: "up0".into(),
                }),
                ..Default::default()
            }),
        );
        mv.up = Some(true);
        let before = host(vec![lower, mv]);
        let l = lines(&ops(&del("up0"), &before, &|_| false, &BTreeSet::new()).unwrap());
        let lower = l
            .iter()
            .position(|x| x.starts_with("host: link add up0"))
            .unwrap();
        let upper = l
            .iter()
            .position(|x| x.starts_with("host: link add mv0"))
            .unwrap();
        assert!(lower < upper, "{l:#?}");
        assert!(l.contains(&"host: link set mv0 up".to_string()), "{l:#?}");
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
        let l = lines(&ops);
        assert_eq!(ops[0], start);
        assert_eq!(l[1], "host: link set p1 down", "{l:#?}");
        assert_eq!(ops[2], del("x"), "{l:#?}");
        assert_eq!(ops.len(), 3, "{l:#?}");
    }

    /// Down flushes IPv6 addresses: undoing an up, and undoing a down (a
    /// port set down before a bond takes it), both put back those it had.
    #[test]
    fn undoing_up_or_down_puts_back_ipv6_addresses_the_link_had() {
        for up in [true, false] {
            undo_puts_back_ipv6(up);
        }
    }

    fn undo_puts_back_ipv6(up: bool) {
        let mut before = Network::default();
        let mut l = Link::veth("v0", "b", "v1");
        l.up = Some(!up);
        for a in ["10.0.0.1/24", "fd00::1/64"] {
            l.addresses.push(Address {
                net: a.parse().unwrap(),
                dad: false,
                secondary: false,
            });
        }
        before.nodes.insert(
            "a".into(),
            Node {
                links: [("v0".to_string(), l)].into(),
                ..Node::default()
            },
        );
        let op = Op::SetLink {
            node: "a".into(),
            name: "v0".into(),
            change: LinkChange {
                up: Some(up),
                ..LinkChange::default()
            },
            prior: LinkChange {
                up: Some(!up),
                ..LinkChange::default()
            },
        };
        let inv = ops(&op, &before, &|_| false, &BTreeSet::new()).unwrap();
        assert_eq!(inv.len(), 2, "up {up}: {inv:?}");
        assert!(
            matches!(&inv[1], Op::AddAddress { addr, .. } if addr.net.to_string() == "fd00::1/64")
        );
    }
}
