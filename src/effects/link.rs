//! Links: what vanishes with a link or a namespace, and what a master does
//! to the ports it takes and releases.
use std::collections::{BTreeSet, HashMap};

use super::{iref, Effects, Follow, Later};
use crate::model::{IfRef, Link, LinkChange, LinkKind, Network, TeamdSetup};

/// Where to find the devices stacked on each link: lower -> uppers.
#[derive(Debug, Default)]
pub struct Stacks {
    uppers: HashMap<IfRef, Vec<IfRef>>,
}

impl Stacks {
    /// The stacking of every link of `net` (one pass over it).
    pub fn of(net: &Network) -> Stacks {
        let mut uppers: HashMap<IfRef, Vec<IfRef>> = HashMap::new();
        for (node, n) in &net.nodes {
            for l in n.links.values() {
                if let Some(lower) = l.kind.lower() {
                    uppers
                        .entry(lower.clone())
                        .or_default()
                        .push(iref(node, &l.name));
                }
            }
        }
        Stacks { uppers }
    }

    /// The links stacked directly on `lower`.
    pub fn on(&self, lower: &IfRef) -> &[IfRef] {
        self.uppers.get(lower).map_or(&[], Vec::as_slice)
    }
}

/// The link `r` of `net`, if it exists.
pub fn find<'a>(net: &'a Network, r: &IfRef) -> Option<&'a Link> {
    net.nodes.get(&r.node).and_then(|n| n.links.get(&r.name))
}

/// The links whose deletion takes `l` along: its veth peer and the lower
/// it is stacked on (see [`vanishing_with`]).
pub fn goes_with(l: &Link) -> impl Iterator<Item = &IfRef> {
    let peer = match &l.kind {
        LinkKind::Veth(v) => v.peer.as_ref(),
        _ => None,
    };
    peer.into_iter().chain(l.kind.lower())
}

/// The links that vanish with `start` (not `start` itself), to a fixed
/// point: a veth's peer (veth_dellink unregisters both ends), the devices
/// stacked on a link (macvlan_device_event, vlan_device_event and
/// ipvlan_device_event delete them on NETDEV_UNREGISTER of their lower;
/// vxlan_handle_lowerdev_unregister deletes a vxlan whose underlay it is),
/// and what vanishes with those. In order: each after the link it goes with.
pub fn vanishing_with(net: &Network, stacks: &Stacks, start: &[IfRef]) -> Vec<IfRef> {
    let mut seen: BTreeSet<IfRef> = start.iter().cloned().collect();
    let mut out = Vec::new();
    let mut queue: Vec<IfRef> = start.to_vec();
    while let Some(r) = queue.pop() {
        let mut next: Vec<IfRef> = stacks.on(&r).to_vec();
        if let Some(LinkKind::Veth(v)) = find(net, &r).map(|l| &l.kind) {
            next.extend(v.peer.iter().filter(|p| find(net, p).is_some()).cloned());
        }
        for n in next {
            if seen.insert(n.clone()) {
                out.push(n.clone());
                queue.push(n);
            }
        }
    }
    out
}

/// The ports of master `m` in `net`.
pub fn ports_of<'a>(
    net: &'a Network,
    m: &'a IfRef,
) -> impl Iterator<Item = (IfRef, &'a Link)> + 'a {
    net.nodes.get(&m.node).into_iter().flat_map(move |n| {
        n.links
            .values()
            .filter(move |l| l.master.as_deref() == Some(m.name.as_str()))
            .map(move |l| (iref(&m.node, &l.name), l))
    })
}

/// What vanishes with the links `gone` (the op's own target among them,
/// which is not listed): the links that go with them, every address on
/// any of them, every route through any of them, and the ports they
/// release (closed by a bond or team).
fn links_gone(before: &Network, stacks: &Stacks, target: &[IfRef], e: &mut Effects) {
    let more = vanishing_with(before, stacks, target);
    let all: BTreeSet<&IfRef> = target.iter().chain(&more).collect();
    super::fdb::with_links(before, &all, e);
    for r in &all {
        let Some(l) = find(before, r) else { continue };
        e.addresses
            .extend(l.addresses.iter().map(|a| ((*r).clone(), *a)));
        if let Some(n) = before.nodes.get(&r.node) {
            e.routes.extend(
                n.routes
                    .iter()
                    .filter(|rt| rt.dev.as_deref() == Some(r.name.as_str()))
                    .map(|rt| (r.node.clone(), rt.clone())),
            );
        }
        for (p, port) in ports_of(before, r) {
            if all.contains(&p) {
                continue;
            }
            e.follows.push(Follow::Released {
                link: p.clone(),
                master: r.name.clone(),
                port: port.port.clone(),
            });
            if l.kind.facts().closes_released_port() && port.up == Some(true) {
                e.follows.push(Follow::Up {
                    link: p.clone(),
                    from: port.up,
                    to: false,
                });
            } else if l.kind.facts().cycles_ports() && port.up == Some(true) {
                super::address::link_down(before, &p, e);
            }
        }
    }
    e.links.extend(more);
}

/// Deleting link `me`.
pub(super) fn deleted(before: &Network, me: &IfRef, e: &mut Effects) {
    links_gone(before, &Stacks::of(before), std::slice::from_ref(me), e);
}

/// Deleting namespace `node`: every link inside goes at once (its addresses
/// and routes with it), and the links elsewhere that go with them (veth
/// peers, devices stacked on them) go later: cleanup_net tears the
/// namespace down from a workqueue after the deletion returned.
pub(super) fn netns_deleted(before: &Network, node: &str, e: &mut Effects) {
    let inside: Vec<IfRef> = before
        .nodes
        .get(node)
        .map(|n| n.links.keys().map(|l| iref(node, l)).collect())
        .unwrap_or_default();
    // The links elsewhere that go with one inside, found from their own
    // side too: a namespace that goes whole need not have been read.
    let mut start = inside.clone();
    for (other, n) in before.nodes.iter().filter(|(o, _)| *o != node) {
        for l in n.links.values() {
            if goes_with(l).any(|r| r.node == node) {
                start.push(iref(other, &l.name));
            }
        }
    }
    let mut sub = Effects::default();
    links_gone(before, &Stacks::of(before), &start, &mut sub);
    // The ones found from their side are not the op's target: they vanish.
    sub.links
        .extend(start.into_iter().filter(|r| r.node != node));
    for r in &sub.links {
        if r.node != node {
            e.later.push(Later::Vanishes {
                link: r.clone(),
                ifindex: find(before, r).and_then(|l| l.ifindex),
            });
        }
    }
    e.links.extend(inside);
    e.links.extend(sub.links);
    // What lives inside the namespace goes with it whole; only what is
    // elsewhere is worth naming.
    e.addresses
        .extend(sub.addresses.into_iter().filter(|(r, _)| r.node != node));
    e.routes
        .extend(sub.routes.into_iter().filter(|(n, _)| n != node));
    e.fdb.extend(sub.fdb.into_iter().filter(|(n, _)| n != node));
    e.follows
        .extend(sub.follows.into_iter().filter(|f| match f {
            Follow::Released { link, .. } | Follow::Up { link, .. } | Follow::Mtu { link, .. } => {
                link.node != node
            }
        }));
}

/// Moving `me` from the master it has to `master` (`None`: released): a
/// bond or team it leaves closes it, a bond or team it joins opens it and
/// gives it its MTU.
pub(super) fn master_changed(before: &Network, me: &IfRef, master: Option<&str>, e: &mut Effects) {
    let Some(l) = find(before, me) else { return };
    if l.master.as_deref() == master {
        return;
    }
    let kind_of = |m: &str| find(before, &iref(&me.node, m)).map(|x| &x.kind);
    let mut up = l.up;
    let mut cycled = false;
    if let Some(m) = &l.master {
        super::fdb::port_released(before, me, m, e);
    }
    if let Some(old) = l.master.as_deref().and_then(kind_of) {
        if old.facts().closes_released_port() && up == Some(true) {
            up = Some(false);
        }
        cycled |= old.facts().cycles_ports();
    }
    if let Some(new) = master.and_then(|m| find(before, &iref(&me.node, m))) {
        if new.kind.facts().opens_enslaved_port() {
            up = Some(true);
        }
        cycled |= new.kind.facts().cycles_ports();
        if new.kind.facts().sets_port_mtu() {
            if let Some(to) = new.mtu.filter(|m| l.mtu != Some(*m)) {
                e.follows.push(Follow::Mtu {
                    link: me.clone(),
                    from: l.mtu,
                    to,
                });
            }
        }
    }
    // A master that cycles its ports (down and up, to move their routes
    // between tables) takes their routes and IPv6 addresses along.
    if cycled && l.up == Some(true) {
        super::address::link_down(before, me, e);
    }
    if let Some(to) = up.filter(|u| l.up != Some(*u)) {
        e.follows.push(Follow::Up {
            link: me.clone(),
            from: l.up,
            to,
        });
    }
}

/// Opening or closing `me`: the devices stacked on it that follow their
/// lower's state (see model::kind::Kind::follows_lower_state) follow, and
/// what a closed one loses goes with it.
pub(super) fn state_changed(before: &Network, me: &IfRef, up: bool, e: &mut Effects) {
    if find(before, me).is_some_and(|l| l.up == Some(up)) {
        return;
    }
    let stacks = Stacks::of(before);
    for r in stacks.on(me) {
        let Some(l) = find(before, r) else { continue };
        if !l.kind.facts().follows_lower_state() || l.up == Some(up) {
            continue;
        }
        e.follows.push(Follow::Up {
            link: r.clone(),
            from: l.up,
            to: up,
        });
        if !up {
            super::address::link_down(before, r, e);
        }
    }
}

/// A bridge port brought up or joining a bridge forwards only once the
/// linkwatch worker has passed its carrier on to the bridge.
pub(super) fn port_forwards_later(
    before: &Network,
    me: &IfRef,
    change: &LinkChange,
    e: &mut Effects,
) {
    let Some(l) = find(before, me) else { return };
    let master = match &change.master {
        Some(m) => m.as_deref(),
        None => l.master.as_deref(),
    };
    let up = change.up.or(l.up) == Some(true);
    let bridged = master
        .and_then(|m| find(before, &iref(&me.node, m)))
        .is_some_and(|m| matches!(m.kind, LinkKind::Bridge(_)));
    if up && bridged {
        e.later.push(Later::Forwards { port: me.clone() });
    }
}

/// teamd (re)started for team `dev` with `setup`: the team driver opens
/// every port teamd adds (team_port_add -> dev_open) and gives it the
/// team's MTU.
pub(super) fn teamd_started(before: &Network, dev: &IfRef, setup: &TeamdSetup, e: &mut Effects) {
    let team = find(before, dev);
    for port in setup.ports.keys() {
        let p = iref(&dev.node, port);
        let Some(l) = find(before, &p) else { continue };
        if l.up != Some(true) {
            e.follows.push(Follow::Up {
                link: p.clone(),
                from: l.up,
                to: true,
            });
        }
        if let Some(to) = team.and_then(|t| t.mtu).filter(|m| l.mtu != Some(*m)) {
            e.follows.push(Follow::Mtu {
                link: p,
                from: l.mtu,
                to,
            });
        }
    }
}

/// teamd stopped for team `dev`: teamd removes its ports as it exits, and
/// the team driver closes each one it releases (team_port_del).
pub(super) fn teamd_stopped(before: &Network, dev: &IfRef, e: &mut Effects) {
    for (p, l) in ports_of(before, dev) {
        e.follows.push(Follow::Released {
            link: p.clone(),
            master: dev.name.clone(),
            port: l.port.clone(),
        });
        if l.up == Some(true) {
            e.follows.push(Follow::Up {
                link: p,
                from: l.up,
                to: false,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{BondOptions, MacvlanOptions, Node, Op, VxlanOptions, HOST};

    fn net(nodes: Vec<(&str, Vec<Link>)>) -> Network {
        Network {
            name: "t".into(),
            nodes: nodes
                .into_iter()
                .map(|(n, links)| {
                    let mut node = Node::default();
                    for l in links {
                        node.links.insert(l.name.clone(), l);
                    }
                    (n.to_string(), node)
                })
                .collect(),
        }
    }

    fn macvlan(name: &str, lower: IfRef) -> Link {
        Link::new(
            name,
            LinkKind::Macvlan(MacvlanOptions {
                lower: Some(lower),
                ..Default::default()
            }),
        )
    }

    fn up(mut l: Link, master: Option<&str>) -> Link {
        l.up = Some(true);
        l.master = master.map(String::from);
        l
    }

    /// veth_dellink takes the peer; *_device_event takes what is stacked
    /// on it, and what is stacked on that; a vxlan goes with its underlay.
    #[test]
    fn a_deleted_link_takes_its_peer_and_its_stack_along() {
        let vx = Link::new(
            "vx0",
            LinkKind::Vxlan(VxlanOptions {
                dev: Some(iref("b", "v1")),
                ..Default::default()
            }),
        );
        let n = net(vec![
            (
                "a",
                vec![Link::veth("v0", "b", "v1"), macvlan("mv0", iref("a", "v0"))],
            ),
            (
                "b",
                vec![
                    Link::veth("v1", "a", "v0"),
                    macvlan("mv1", iref("b", "v1")),
                    vx,
                ],
            ),
            ("c", vec![macvlan("mv2", iref("b", "mv1"))]),
        ]);
        let e = super::super::of(
            &Op::DelLink {
                node: "a".into(),
                name: "v0".into(),
            },
            &n,
        );
        let got: BTreeSet<String> = e.links.iter().map(ToString::to_string).collect();
        let want: BTreeSet<String> = ["a/mv0", "b/v1", "b/mv1", "b/vx0", "c/mv2"]
            .map(String::from)
            .into();
        assert_eq!(got, want);
    }

    /// __bond_release_one closes a port; del_nbp leaves a bridge's alone.
    #[test]
    fn a_deleted_bond_releases_and_closes_its_ports_a_bridge_only_releases() {
        for (master, closes) in [
            (LinkKind::Bond(BondOptions::default()), true),
            (LinkKind::Bridge(Default::default()), false),
        ] {
            let n = net(vec![(
                HOST,
                vec![
                    Link::new("m0", master.clone()),
                    up(Link::veth("p0", "x", "q0"), Some("m0")),
                ],
            )]);
            let e = super::super::of(
                &Op::DelLink {
                    node: HOST.into(),
                    name: "m0".into(),
                },
                &n,
            );
            assert!(e.links.is_empty(), "{e:?}");
            assert!(
                matches!(&e.follows[0], Follow::Released { link, master, .. } if link.name == "p0" && master == "m0")
            );
            let closed = e
                .follows
                .iter()
                .any(|f| matches!(f, Follow::Up { to: false, .. }));
            assert_eq!(closed, closes, "{master:?}");
        }
    }

    /// cleanup_net tears a namespace down after the deletion returned: the
    /// peers elsewhere vanish later, with their addresses.
    #[test]
    fn a_deleted_namespace_takes_peers_elsewhere_later() {
        let mut host_end = Link::veth("p1", "c1", "eth0");
        host_end.ifindex = Some(7);
        host_end.addresses.push(crate::model::Address {
            net: "10.0.0.1/24".parse().unwrap(),
            dad: false,
            secondary: false,
        });
        let n = net(vec![
            (HOST, vec![host_end]),
            (
                "c1",
                vec![
                    Link::veth("eth0", HOST, "p1"),
                    Link::new("lo", LinkKind::Loopback),
                ],
            ),
        ]);
        let e = super::super::of(&Op::DelNetns { node: "c1".into() }, &n);
        assert_eq!(e.links.len(), 3, "{e:?}");
        assert_eq!(
            e.later,
            vec![Later::Vanishes {
                link: iref(HOST, "p1"),
                ifindex: Some(7)
            }]
        );
        assert_eq!(e.addresses.len(), 1);
    }

    /// bond_enslave opens a port and gives it the bond's MTU; leaving a
    /// bond closes it.
    #[test]
    fn joining_a_bond_opens_the_port_leaving_closes_it() {
        let mut bond = Link::new("bond0", LinkKind::Bond(BondOptions::default()));
        bond.mtu = Some(9000);
        let mut p = Link::veth("p0", "x", "q0");
        p.up = Some(false);
        p.mtu = Some(1500);
        let n = net(vec![(HOST, vec![bond, p])]);
        let mut e = Effects::default();
        master_changed(&n, &iref(HOST, "p0"), Some("bond0"), &mut e);
        assert!(e.follows.contains(&Follow::Up {
            link: iref(HOST, "p0"),
            from: Some(false),
            to: true
        }));
        assert!(e.follows.contains(&Follow::Mtu {
            link: iref(HOST, "p0"),
            from: Some(1500),
            to: 9000
        }));
        let mut bonded = n.clone();
        let port = bonded
            .nodes
            .get_mut(HOST)
            .unwrap()
            .links
            .get_mut("p0")
            .unwrap();
        port.master = Some("bond0".into());
        port.up = Some(true);
        let mut e = Effects::default();
        master_changed(&bonded, &iref(HOST, "p0"), None, &mut e);
        assert_eq!(
            e.follows,
            vec![Follow::Up {
                link: iref(HOST, "p0"),
                from: Some(true),
                to: false
            }]
        );
    }
}
