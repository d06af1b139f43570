//! Links: conflicts with devices netloom does not own, deletions (a veth pair
//! once), creations (lower devices first, a veth pair once) with what
//! follows a creation; changes in place are [`super::change`].
use std::collections::BTreeSet;

use super::address;
use super::change::{changes, is_bond, set_link, set_up};
use super::effect::{iref, Cause, Ctx};
use super::graph::{Key, Pending, Phase};
use super::kind;
use super::sysctl;
use super::teamd;
use super::Conflict;
use crate::model::{IfRef, Link, LinkKind};
use crate::model::{LinkChange, Op};

/// Desired links that collide with devices netloom does not own, or external
/// devices that are missing.
pub(crate) fn conflicts(ctx: &Ctx, out: &mut Vec<Conflict>) {
    for node in ctx.kept_nodes() {
        for (name, want) in &ctx.want(&node).links {
            let have = ctx
                .observed
                .nodes
                .get(&node)
                .and_then(|n| n.links.get(name));
            let object = format!("{node}/{name}");
            match (&want.kind, have) {
                (LinkKind::External, None) => out.push(Conflict {
                    object,
                    reason: format!("external device {name} does not exist in node {node}"),
                }),
                (LinkKind::Loopback, None) if !ctx.new_nodes.contains(&node) => {
                    out.push(Conflict {
                        object,
                        reason: format!("loopback device {name} does not exist in node {node}"),
                    })
                }
                (LinkKind::External | LinkKind::Loopback, _) | (_, None) => {}
                (_, Some(h)) if !ctx.ours(&node, h) => out.push(Conflict {
                    object,
                    reason: format!(
                        "a device named {name} exists but topology {} did not create it ({}); remove or rename it, or declare it `kind: external`",
                        ctx.desired.name,
                        match h.alias.as_deref() {
                            None | Some("") => "it carries no netloom mark".to_string(),
                            Some(a) => format!("its alias is {a:?}"),
                        }
                    ),
                }),
                _ => {}
            }
        }
    }
}

/// All link ops: deletions, creations with their follow-ups, in-place changes.
pub(crate) fn plan(ctx: &Ctx, out: &mut Vec<Pending>) {
    deletions(ctx, out);
    let mut creations: Vec<(usize, IfRef)> = Vec::new();
    let mut mtus: Vec<(isize, Pending)> = Vec::new();
    let mut late = Vec::new();
    for node in ctx.kept_nodes() {
        for (name, want) in &ctx.want(&node).links {
            let me = iref(&node, name);
            match (&want.kind, ctx.have(&node).links.get(name)) {
                (LinkKind::External, _) | (LinkKind::Loopback, None) => {}
                (_, None) => {
                    if !carried_by_peer(ctx, &me, want) {
                        creations.push((depth(ctx, want, 0), me.clone()));
                    }
                    follow_ups(ctx, &me, want, out);
                    late.extend(bond_primary(ctx, &me, want));
                    late.extend(kind::bridge::snooping_on(ctx, &me, want));
                    late.extend(kind::bridge::mtu_after_ports(ctx, &me, want));
                }
                (_, Some(have)) => {
                    changes(ctx, &me, want, have, out, &mut mtus);
                    late.extend(kind::bridge::left_quiet(ctx, &me, want, have));
                }
            }
        }
    }
    // Lower devices before the devices stacked on them; stable otherwise.
    creations.sort();
    // Once per node: a host with a thousand ports has a thousand sysctls.
    let shaping: BTreeSet<&str> = ctx
        .desired
        .nodes
        .keys()
        .map(String::as_str)
        .filter(|n| sysctl::shapes_new_links(ctx, n))
        .collect();
    for (_, me) in creations {
        if let Some(want) = ctx.want(&me.node).links.get(&me.name) {
            out.push(add_link(ctx, &me, want, &shaping));
        }
    }
    // In stack order within their phase, so each finds the op it waits for.
    mtus.sort_by_key(|m| m.0);
    out.extend(mtus.into_iter().map(|m| m.1));
    // After every port's enslaving op, so the dependency on it is kept.
    out.extend(late);
}

/// A new bond whose `primary` port is created by this plan too: the kernel
/// takes the primary as an ifindex, so the bond is created without it and
/// gets it once the port exists (and is enslaved).
fn bond_primary(ctx: &Ctx, me: &IfRef, want: &Link) -> Option<Pending> {
    let LinkKind::Bond(o) = &want.kind else {
        return None;
    };
    let port = o.primary.as_ref()?;
    if ctx.have(&me.node).links.contains_key(port) {
        return None;
    }
    let only = |primary: Option<String>| LinkChange {
        kind: Some(LinkKind::Bond(crate::model::BondOptions {
            primary,
            ..Default::default()
        })),
        ..LinkChange::default()
    };
    let port = iref(&me.node, port);
    Some(set_link(
        me,
        only(o.primary.clone()),
        only(None),
        vec![Key::Link(port.clone()), Key::Config(port)],
    ))
}

/// DelLink for links to delete that do not vanish on their own.
fn deletions(ctx: &Ctx, out: &mut Vec<Pending>) {
    // Ports that go by a DelLink (their own or another's, as a veth end
    // goes with its peer) go before their master: rollback then makes the
    // master anew first, and a port made anew finds its master there.
    // Per deleted link: (its ports' keys to wait for, the DelLinks taking
    // them). Ports going with a namespace go last anyway (apply runs
    // namespace deletions after every undoable step).
    let ports_of = |me: &IfRef| -> (Vec<Key>, Vec<IfRef>) {
        let Some(n) = ctx.observed.nodes.get(&me.node) else {
            return Default::default();
        };
        n.links
            .values()
            .filter(|l| l.master.as_deref() == Some(me.name.as_str()))
            .map(|l| iref(&me.node, &l.name))
            .filter(|p| ctx.gone.contains(p))
            .filter_map(|p| match ctx.cause(&p, 0) {
                Cause::Link(by) => Some((Key::LinkGone(p), by)),
                Cause::Netns(_) => None,
            })
            .unzip()
    };
    let deleted: Vec<_> = ctx
        .del_links
        .iter()
        .filter(|me| ctx.needs_del(me))
        .map(|me| (me, ports_of(me)))
        .collect();
    // A need is resolved only against steps pushed before it: push the
    // DelLinks taking ports first, level by level. Masters form no cycle
    // (the spec refuses them); were there one, its links keep their order.
    let mut order = Vec::with_capacity(deleted.len());
    let mut left = deleted;
    while !left.is_empty() {
        let waiting: BTreeSet<&IfRef> = left.iter().map(|(me, _)| *me).collect();
        let (ready, wait): (Vec<_>, Vec<_>) = left
            .into_iter()
            .partition(|(_, (_, by))| by.iter().all(|b| !waiting.contains(b)));
        let stuck = ready.is_empty();
        order.extend(ready);
        left = wait;
        if stuck {
            order.append(&mut left);
        }
    }
    for (me, (ports, _)) in order {
        let mut gives = vec![Key::LinkGone(me.clone()), Key::Touched(me.node.clone())];
        gives.extend(
            ctx.vanish
                .get(&Cause::Link(me.clone()))
                .cloned()
                .unwrap_or_default(),
        );
        if let Some(link) = ctx
            .observed
            .nodes
            .get(&me.node)
            .and_then(|n| n.links.get(&me.name))
        {
            if let LinkKind::Veth(v) = &link.kind {
                if let Some(p) = &v.peer {
                    gives.push(Key::LinkGone(p.clone()));
                    gives.push(Key::Touched(p.node.clone()));
                }
            }
            if let Some(l) = link.kind.lower() {
                gives.push(Key::Touched(l.node.clone()));
            }
        }
        let mut needs = vec![Key::Cleared(me.clone())];
        needs.extend(ports);
        out.push(Pending::new(
            Phase::DelLink,
            Op::DelLink {
                node: me.node.clone(),
                name: me.name.clone(),
            },
            needs,
            gives,
        ));
    }
}

/// True when the other end of this veth is created first and brings this one along.
fn carried_by_peer(ctx: &Ctx, me: &IfRef, want: &Link) -> bool {
    let LinkKind::Veth(v) = &want.kind else {
        return false;
    };
    let Some(peer) = &v.peer else { return false };
    let peer_desired = ctx
        .want(&peer.node)
        .links
        .get(&peer.name)
        .is_some_and(|l| matches!(l.kind, LinkKind::Veth(_)));
    let peer_missing = !ctx.have(&peer.node).links.contains_key(&peer.name);
    peer < me && peer_desired && peer_missing && ctx.is_kept(&peer.node)
}

/// How many devices this one is stacked on (bounded: validation rejects cycles).
pub(super) fn depth(ctx: &Ctx, want: &Link, level: usize) -> usize {
    match want.kind.lower() {
        Some(l) if level < 16 => match ctx.want(&l.node).links.get(&l.name) {
            Some(lower) => 1 + depth(ctx, lower, level + 1),
            None => 0,
        },
        _ => 0,
    }
}

/// The link as AddLink carries it: kind, MTU, MAC; the rest are separate ops.
fn bare(link: &Link) -> Link {
    Link {
        up: None,
        master: None,
        port: None,
        addresses: Vec::new(),
        ifindex: None,
        alias: None,
        carrier: None,
        ..link.clone()
    }
}

/// AddLink for a missing link (with its veth peer).
/// `shaping`: nodes whose `default` sysctls a new link must wait for.
fn add_link(ctx: &Ctx, me: &IfRef, want: &Link, shaping: &BTreeSet<&str>) -> Pending {
    let mut needs = vec![Key::Netns(me.node.clone()), Key::LinkGone(me.clone())];
    // A link takes the node's `default` sysctls when it is made.
    let defaults = |node: &str| shaping.contains(node).then(|| Key::Sysctl(node.into()));
    needs.extend(defaults(&me.node));
    let mut gives = vec![Key::Link(me.clone())];
    let mut peer = None;
    if let LinkKind::Veth(v) = &want.kind {
        if let Some(p) = &v.peer {
            needs.push(Key::Netns(p.node.clone()));
            needs.extend(defaults(&p.node));
            needs.push(Key::LinkGone(p.clone()));
            gives.push(Key::Link(p.clone()));
            let other = match ctx.want(&p.node).links.get(&p.name) {
                Some(l) => bare(l),
                None => Link::new(
                    p.name.clone(),
                    LinkKind::Veth(crate::model::VethOptions {
                        peer: Some(me.clone()),
                    }),
                ),
            };
            peer = Some(Box::new(other));
        }
    }
    if let Some(l) = want.kind.lower() {
        needs.push(Key::Netns(l.node.clone()));
        needs.push(Key::Link(l.clone()));
        // Created with its MTU: after the lower's own MTU change.
        needs.push(Key::Mtu(l.clone()));
    }
    let mut link = bare(want);
    if kind::bridge::quiet_bridge(ctx, me, want) {
        if let LinkKind::Bridge(o) = &mut link.kind {
            o.mcast_snooping = Some(false);
        }
    }
    let op = Op::AddLink {
        node: me.node.clone(),
        link,
        peer,
    };
    Pending::new(Phase::AddLink, op, needs, gives)
}

/// After creating a link: enslave it, add its addresses, bring it up.
fn follow_ups(ctx: &Ctx, me: &IfRef, want: &Link, out: &mut Vec<Pending>) {
    // A team's ports are enslaved by its teamd (see `teamd`).
    let by_teamd = want
        .master
        .as_ref()
        .is_some_and(|m| teamd::is_team(ctx, &me.node, m));
    if let Some(m) = want.master.as_ref().filter(|_| !by_teamd) {
        let change = LinkChange {
            master: Some(Some(m.clone())),
            port: want.port.clone(),
            ..LinkChange::default()
        };
        let prior = LinkChange {
            master: Some(None),
            ..LinkChange::default()
        };
        out.push(set_link(
            me,
            change,
            prior,
            vec![Key::Link(iref(&me.node, m))],
        ));
    }
    // A bond or team opens each port it takes (after the enslave, or
    // teamd's start, which give Key::Config): one wanted down goes down after.
    let opened = || {
        want.master
            .as_ref()
            .is_some_and(|m| is_bond(ctx, &me.node, m) || teamd::restarts(ctx, &me.node, m))
    };
    if want.up == Some(false) && opened() {
        out.push(set_up(me, want, false, Some(true)));
    }
    address::plan_link(me, &[], &address::change(want, &[]), &[], out);
    if want.up == Some(true) {
        out.push(set_up(me, want, true, Some(false)));
    }
}

#[cfg(test)]
mod tests {
    use crate::model::{BondOptions, Link, LinkKind, Network, Node};
    use crate::plan::{up, Owned};

    /// Node `a` with bond0 (primary eth0) over veths eth0/eth1 to node `b`.
    fn bonded() -> Network {
        let mut a = Node::default();
        let mut bond = Link::new(
            "bond0",
            LinkKind::Bond(BondOptions {
                mode: Some("active-backup".into()),
                primary: Some("eth0".into()),
                ..Default::default()
            }),
        );
        bond.up = Some(true);
        a.links.insert("bond0".into(), bond);
        let mut b = Node::default();
        for p in ["eth0", "eth1"] {
            let mut l = Link::veth(p, "b", p);
            l.master = Some("bond0".into());
            l.up = Some(true);
            a.links.insert(p.into(), l);
            let peer = Link::veth(p, "a", p);
            b.links.insert(p.into(), peer);
        }
        Network {
            name: "t".into(),
            nodes: [("a".into(), a), ("b".into(), b)].into(),
        }
    }

    #[test]
    fn a_new_bond_gets_its_new_primary_after_the_port_is_enslaved() {
        let observed = Network {
            name: "t".into(),
            nodes: [("host".into(), Node::default())].into(),
        };
        let plan = up(&bonded(), &observed, &Owned::default()).expect("no conflicts");
        let lines: Vec<String> = plan.steps.iter().map(|s| s.op.to_string()).collect();
        let at = |line: &str| crate::plan::step_at(&lines, line);
        let enslave = at("a: link set eth0 master bond0");
        let primary = at("a: link set bond0 type bond primary eth0");
        let bond_up = at("a: link set bond0 up");
        assert!(plan.steps[primary].after.contains(&enslave), "{plan}");
        assert!(plan.steps[bond_up].after.contains(&primary), "{plan}");
        assert_eq!(
            lines.iter().filter(|l| l.contains("primary")).count(),
            2,
            "the bond's creation names it too (used when the port exists): {lines:#?}"
        );
    }
}
