//! A model kernel: applies an op and its effects to a [`Network`], refusing
//! what the kernel refuses. The planner's tests run plans through it; the
//! kernel tests (tests/effects_kernel.rs) check it against the real one.
use std::net::IpAddr;

use super::link::find;
use super::{iref, Effects, Follow};
use crate::model::{
    owner_mark, Address, IfRef, Link, LinkKind, Network, Node, Op, PortOptions, Route, TeamOptions,
    VethOptions,
};

/// What the kernel would refuse, in words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

pub(super) fn refuse<T>(why: impl Into<String>) -> Result<T, Refused> {
    Err(Refused(why.into()))
}

/// Apply `op` to `net` as the kernel would, with every effect [`super::of`]
/// names; returns those effects, or why the kernel refuses the op (then
/// `net` may be half changed, as a kernel's would not be: callers stop).
pub fn apply(op: &Op, net: &mut Network) -> Result<Effects, Refused> {
    let effects = super::of(op, net);
    direct(op, net)?;
    settle(net, &effects);
    Ok(effects)
}

/// Apply the side effects `e` (computed before the op) to `net`.
pub fn settle(net: &mut Network, e: &Effects) {
    for r in &e.links {
        if let Some(n) = net.nodes.get_mut(&r.node) {
            n.links.remove(&r.name);
            n.sysctls
                .retain(|k, _| super::sysctl::interface(k).as_deref() != Some(r.name.as_str()));
        }
    }
    for (r, a) in &e.addresses {
        if let Some(l) = link_mut(net, r) {
            l.addresses.retain(|x| x.net != a.net);
        }
        drop_prefix_route(net, r, a);
    }
    for (node, route) in &e.routes {
        if let Some(n) = net.nodes.get_mut(node) {
            n.routes.retain(|x| x != route);
        }
    }
    for (node, entry) in &e.fdb {
        if let Some(n) = net.nodes.get_mut(node) {
            n.fdb.retain(|x| x != entry);
        }
    }
    for f in &e.follows {
        match f {
            Follow::Mtu { link, to, .. } => {
                if let Some(l) = link_mut(net, link) {
                    l.mtu = Some(*to);
                }
            }
            Follow::Up { link, to, .. } => set_up(net, link, *to),
            Follow::Released { link, .. } => {
                if let Some(l) = link_mut(net, link) {
                    l.master = None;
                    l.port = None;
                }
            }
        }
    }
}

pub(super) fn node_mut<'a>(net: &'a mut Network, node: &str) -> Result<&'a mut Node, Refused> {
    match net.nodes.get_mut(node) {
        Some(n) => Ok(n),
        None => refuse(format!("no netns {node}")),
    }
}

fn link_mut<'a>(net: &'a mut Network, r: &IfRef) -> Option<&'a mut Link> {
    net.nodes.get_mut(&r.node)?.links.get_mut(&r.name)
}

pub(super) fn existing<'a>(
    net: &'a mut Network,
    node: &str,
    name: &str,
) -> Result<&'a mut Link, Refused> {
    match link_mut(net, &iref(node, name)) {
        Some(l) => Ok(l),
        None => refuse(format!("no link {node}/{name}")),
    }
}

/// The prefix route the kernel keeps for an address (shown as a device
/// route of the link in this model).
fn prefix_route(link: &str, a: &Address) -> Route {
    Route {
        to: a.net.trunc(),
        via: None,
        dev: Some(link.to_string()),
        metric: None,
        table: None,
        src: None,
    }
}

fn drop_prefix_route(net: &mut Network, r: &IfRef, a: &Address) {
    let p = prefix_route(&r.name, a);
    if let Some(n) = net.nodes.get_mut(&r.node) {
        n.routes.retain(|x| x != &p);
    }
}

/// Open or close a link: up brings back the prefix routes of its IPv4
/// addresses (fib_add_ifaddr on NETDEV_UP); what down takes is an effect.
fn set_up(net: &mut Network, r: &IfRef, up: bool) {
    let Some(l) = link_mut(net, r) else { return };
    let was = l.up == Some(true);
    l.up = Some(up);
    if up && !was {
        let v4: Vec<Address> = l
            .addresses
            .iter()
            .filter(|a| a.net.addr().is_ipv4())
            .copied()
            .collect();
        if let Some(n) = net.nodes.get_mut(&r.node) {
            for a in v4 {
                let p = prefix_route(&r.name, &a);
                if !n.routes.contains(&p) {
                    n.routes.push(p);
                }
            }
        }
    }
}

/// EINVAL for a device larger than its lower allows: a vlan, macvlan or
/// macvtap no larger than its lower, a vxlan no larger than its `dev`
/// less its headroom (vxlan_change_mtu).
fn fits(net: &Network, kind: &LinkKind, mtu: u32) -> Result<(), Refused> {
    let facts = kind.facts();
    let room = if facts.shrinks_with_lower() {
        Some(0)
    } else {
        facts.headroom()
    };
    if let (Some(room), Some(lower)) = (room, kind.lower()) {
        let Some(below) = find(net, lower) else {
            return refuse(format!("lower {lower} missing"));
        };
        let limit = below.mtu.unwrap_or(1500).saturating_sub(room);
        if mtu > limit {
            return refuse(format!("mtu {mtu} larger than {lower} allows ({limit})"));
        }
    }
    Ok(())
}

fn insert(net: &mut Network, node: &str, link: &Link) -> Result<(), Refused> {
    let mark = owner_mark(&net.name);
    let n = node_mut(net, node)?;
    if n.links.contains_key(&link.name) {
        return refuse(format!("{node}/{} exists", link.name));
    }
    let mut l = link.clone();
    l.alias = Some(mark);
    l.up = Some(false);
    l.mtu = l.mtu.or(Some(1500));
    n.links.insert(l.name.clone(), l);
    Ok(())
}

/// The op's own change, and what the kernel refuses.
fn direct(op: &Op, net: &mut Network) -> Result<(), Refused> {
    match op {
        Op::AddNetns { node } => {
            if net.nodes.contains_key(node) {
                return refuse(format!("netns {node} exists"));
            }
            let mut n = Node::default();
            let mut lo = Link::new("lo", LinkKind::Loopback);
            lo.up = Some(false);
            n.links.insert("lo".into(), lo);
            net.nodes.insert(node.clone(), n);
        }
        Op::DelNetns { node } => {
            if net.nodes.remove(node).is_none() {
                return refuse(format!("no netns {node}"));
            }
        }
        Op::SetSysctl {
            node, key, value, ..
        } => {
            if let Some(link) = super::sysctl::interface(key) {
                existing(net, node, &link)?;
            }
            node_mut(net, node)?
                .sysctls
                .insert(key.clone(), value.clone());
        }
        Op::AddLink { node, link, peer } => {
            if let Some(l) = link.kind.lower() {
                if find(net, l).is_none() {
                    return refuse(format!("lower {l} missing"));
                }
            }
            if let Some(mtu) = link.mtu {
                fits(net, &link.kind, mtu)?;
            }
            // A new team has no teamd yet: observe reports no runner.
            let mut link = link.clone();
            if let LinkKind::Team(_) = link.kind {
                link.kind = LinkKind::Team(TeamOptions::default());
            }
            insert(net, node, &link)?;
            if let LinkKind::Veth(VethOptions { peer: Some(p) }) = &link.kind {
                let Some(other) = peer else {
                    return refuse("veth without peer link");
                };
                insert(net, &p.node, other)?;
            }
        }
        Op::DelLink { node, name } => {
            existing(net, node, name)?;
            let n = node_mut(net, node)?;
            n.links.remove(name);
            n.sysctls
                .retain(|k, _| super::sysctl::interface(k).as_deref() != Some(name.as_str()));
        }
        Op::SetLink {
            node, name, change, ..
        } => set_link(net, node, name, change)?,
        Op::AddAddress { node, link, addr } => {
            let l = existing(net, node, link)?;
            if l.addresses.iter().any(|x| x.net == addr.net) {
                return refuse(format!("address {} exists", addr.net));
            }
            // A second address in a subnet is a secondary of the first
            // (__inet_insert_ifa flags it IFA_F_SECONDARY).
            let secondary = addr.net.addr().is_ipv4()
                && l.addresses.iter().any(|x| {
                    !x.secondary
                        && x.net.addr().is_ipv4()
                        && x.net.prefix_len() == addr.net.prefix_len()
                        && x.net.contains(&addr.net.addr())
                });
            l.addresses.push(Address { secondary, ..*addr });
            let up = l.up == Some(true);
            if up || addr.net.addr().is_ipv6() {
                node_mut(net, node)?.routes.push(prefix_route(link, addr));
            }
        }
        Op::DelAddress { node, link, addr } => {
            let promotes = super::address::promotes(node_mut(net, node)?, link);
            let l = existing(net, node, link)?;
            let Some(gone) = l.addresses.iter().find(|x| x.net == addr.net).copied() else {
                return refuse(format!("no address {}", addr.net));
            };
            l.addresses.retain(|x| x.net != addr.net);
            // With promote_secondaries the first secondary takes its place.
            if promotes && !gone.secondary {
                if let Some(s) = l.addresses.iter_mut().find(|x| {
                    x.secondary
                        && x.net.prefix_len() == gone.net.prefix_len()
                        && gone.net.contains(&x.net.addr())
                }) {
                    s.secondary = false;
                }
            }
            drop_prefix_route(net, &iref(node, link), addr);
        }
        Op::AddRoute { node, route } => add_route(node_mut(net, node)?, route)?,
        Op::DelRoute { node, route } => {
            let n = node_mut(net, node)?;
            let before = n.routes.len();
            n.routes.retain(|x| x != route);
            if before == n.routes.len() {
                return refuse(format!("no route {route}"));
            }
        }
        Op::SetNat { node, rules } => node_mut(net, node)?.nat = rules.clone(),
        Op::DelNat { node } => node_mut(net, node)?.nat.clear(),
        Op::StartTeamd {
            node, dev, setup, ..
        } => {
            existing(net, node, dev)?.kind = LinkKind::Team(setup.options.clone());
            for (port, opts) in &setup.ports {
                let l = existing(net, node, port)?;
                l.master = Some(dev.clone());
                l.port = Some(PortOptions::Team(opts.clone()));
            }
        }
        Op::StopTeamd { node, dev, .. } => {
            existing(net, node, dev)?.kind = LinkKind::Team(TeamOptions::default());
        }
        Op::StartService {
            node, name, setup, ..
        } => {
            let service = crate::model::Service::new(setup.clone());
            node_mut(net, node)?.services.insert(name.clone(), service);
        }
        Op::StopService { node, name, .. } => {
            node_mut(net, node)?.services.remove(name);
        }
        Op::AddFdb { node, entry } => super::fdb::sim_add(net, node, entry)?,
        Op::DelFdb { node, entry } => {
            let n = node_mut(net, node)?;
            let before = n.fdb.len();
            n.fdb.retain(|x| x != entry);
            if before == n.fdb.len() {
                return refuse(format!("no fdb entry {entry}"));
            }
        }
    }
    Ok(())
}

/// A SetLink: MTU, then master (a bond or team refuses a port that is up),
/// MAC, port and kind options, and the state.
fn set_link(
    net: &mut Network,
    node: &str,
    name: &str,
    change: &crate::model::LinkChange,
) -> Result<(), Refused> {
    if let Some(mtu) = change.mtu {
        let kind = existing(net, node, name)?.kind.clone();
        fits(net, &kind, mtu)?;
        existing(net, node, name)?.mtu = Some(mtu);
    }
    if let Some(Some(m)) = &change.master {
        let master = existing(net, node, m)?.kind.clone();
        let l = existing(net, node, name)?;
        // A port the old master closes on release is down by then.
        let old = l.master.clone();
        let closed_by_old = match old.as_deref() {
            Some(o) if o != m => {
                find(net, &iref(node, o)).is_some_and(|x| x.kind.facts().closes_released_port())
            }
            _ => false,
        };
        let l = existing(net, node, name)?;
        if master.facts().refuses_up_port() && l.up == Some(true) && !closed_by_old {
            return refuse(format!(
                "{node}/{name}: device can not be enslaved while up"
            ));
        }
    }
    let l = existing(net, node, name)?;
    if change.mac.is_some() {
        l.mac = change.mac;
    }
    if let Some(m) = &change.master {
        l.master = m.clone();
        l.port = None;
    }
    if let Some(p) = &change.port {
        if matches!(p, PortOptions::Team(_)) {
            return refuse(format!("team port options on {node}/{name} are teamd's"));
        }
        if l.master.is_none() {
            return refuse(format!("port options on {node}/{name} without master"));
        }
        l.port = Some(match &l.port {
            Some(old) => merge(old, p),
            None => p.clone(),
        });
    }
    if let Some(k) = &change.kind {
        l.kind = merge(&l.kind, k);
    }
    if let Some(up) = change.up {
        let l = existing(net, node, name)?;
        let lower = l.kind.lower().cloned();
        let follows = l.kind.facts().follows_lower_state();
        let lower_down = lower.is_some_and(|r| find(net, &r).is_some_and(|x| x.up != Some(true)));
        if up && follows && lower_down {
            return refuse(format!("{node}/{name}: its lower is down (ENETDOWN)"));
        }
        set_up(net, &iref(node, name), up);
    }
    Ok(())
}

/// An AddRoute: the kernel finds the device from the gateway (on link
/// through an up link's address or a device route), wants the device up,
/// the preferred source among the node's addresses (fib_valid_prefsrc),
/// and no route of the same key already.
fn add_route(n: &mut Node, want: &Route) -> Result<(), Refused> {
    let on_link = |dev: &str, via: IpAddr| {
        n.links
            .get(dev)
            .is_some_and(|l| l.up == Some(true) && l.addresses.iter().any(|x| x.net.contains(&via)))
            || n.routes
                .iter()
                .any(|d| d.dev.as_deref() == Some(dev) && d.puts_on_link(via, want.table_id()))
    };
    let dev = match (&want.dev, want.via) {
        (Some(d), _) => d.clone(),
        (None, Some(via)) => match n.links.keys().find(|name| on_link(name, via)) {
            Some(d) => d.clone(),
            None => return refuse(format!("gateway {via} unreachable")),
        },
        (None, None) => return refuse("route without dev or via"),
    };
    let Some(l) = n.links.get(&dev) else {
        return refuse(format!("no dev {dev}"));
    };
    if l.up != Some(true) {
        return refuse(format!("dev {dev} is down"));
    }
    if let Some(via) = want.via {
        let link_local = matches!(via, IpAddr::V6(v6) if v6.is_unicast_link_local());
        if !link_local && !on_link(&dev, via) {
            return refuse(format!("gateway {via} not on {dev}"));
        }
    }
    if let Some(src) = want.src {
        let local = n
            .links
            .values()
            .any(|l| l.addresses.iter().any(|a| a.net.addr() == src));
        if !local {
            return refuse(format!("invalid prefsrc {src}: not an address of the node"));
        }
    }
    let mut have = want.clone();
    have.dev = Some(dev);
    // ip6_route_info_create gives IPv6 routes without a metric (or 0) 1024.
    if have.to.addr().is_ipv6() && have.metric.unwrap_or(0) == 0 {
        have.metric = Some(1024);
    }
    if n.routes
        .iter()
        .any(|x| x.to == have.to && x.table == have.table && x.metric == have.metric)
    {
        return refuse(format!("route to {} exists", have.to));
    }
    n.routes.push(have);
    Ok(())
}

/// Overwrite the set fields of `old` with those of `new` (same enum
/// variant), as a change request does: unset fields and empty lists leave
/// the old value.
fn merge<T: serde::Serialize + serde::de::DeserializeOwned + Clone>(old: &T, new: &T) -> T {
    fn walk(old: &mut serde_json::Value, new: &serde_json::Value) {
        match (old, new) {
            (serde_json::Value::Object(o), serde_json::Value::Object(n)) => {
                for (k, v) in n {
                    match o.get_mut(k) {
                        Some(slot) if v.is_object() => walk(slot, v),
                        Some(slot)
                            if !v.is_null() && v.as_array().is_none_or(|a| !a.is_empty()) =>
                        {
                            *slot = v.clone()
                        }
                        _ => {}
                    }
                }
            }
            (slot, v) => *slot = v.clone(),
        }
    }
    let (Ok(mut o), Ok(n)) = (serde_json::to_value(old), serde_json::to_value(new)) else {
        return new.clone();
    };
    walk(&mut o, &n);
    serde_json::from_value(o).unwrap_or_else(|_| new.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{LinkChange, HOST};

    fn a(s: &str) -> Address {
        Address {
            net: s.parse().unwrap(),
            dad: false,
            secondary: false,
        }
    }

    fn lab() -> Network {
        let mut net = Network {
            name: "t".into(),
            nodes: [(HOST.into(), Node::default())].into(),
        };
        apply(&Op::AddNetns { node: "b".into() }, &mut net).unwrap();
        let add = Op::AddLink {
            node: HOST.into(),
            link: Link::veth("eth0", "b", "eth0"),
            peer: Some(Box::new(Link::veth("eth0", HOST, "eth0"))),
        };
        apply(&add, &mut net).unwrap();
        let up = Op::set_link(
            &iref(HOST, "eth0"),
            LinkChange::only_up(Some(true)),
            LinkChange::default(),
        );
        apply(&up, &mut net).unwrap();
        net
    }

    /// The defect of issue 17, in the model: adding the new address before
    /// deleting the old makes it a secondary that goes with the old one,
    /// and the default route goes with the last address.
    #[test]
    fn replacing_an_address_add_first_loses_it_and_the_route() {
        let mut net = lab();
        let add = |s: &str| Op::AddAddress {
            node: HOST.into(),
            link: "eth0".into(),
            addr: a(s),
        };
        apply(&add("10.0.0.1/24"), &mut net).unwrap();
        let via: Route = Route {
            to: "0.0.0.0/0".parse().unwrap(),
            via: Some("10.0.0.2".parse().unwrap()),
            dev: None,
            metric: None,
            table: None,
            src: None,
        };
        apply(
            &Op::AddRoute {
                node: HOST.into(),
                route: via,
            },
            &mut net,
        )
        .unwrap();
        apply(&add("10.0.0.3/24"), &mut net).unwrap();
        let e = apply(
            &Op::DelAddress {
                node: HOST.into(),
                link: "eth0".into(),
                addr: a("10.0.0.1/24"),
            },
            &mut net,
        )
        .unwrap();
        let host = &net.nodes[HOST];
        assert!(host.links["eth0"].addresses.is_empty(), "{e:?}");
        assert!(
            !host.routes.iter().any(|r| r.via.is_some()),
            "{:?}",
            host.routes
        );
    }

    #[test]
    fn a_bond_refuses_a_port_that_is_up() {
        let mut net = lab();
        let bond = Op::AddLink {
            node: HOST.into(),
            link: Link::new("bond0", LinkKind::Bond(Default::default())),
            peer: None,
        };
        apply(&bond, &mut net).unwrap();
        let enslave = Op::set_link(
            &iref(HOST, "eth0"),
            LinkChange {
                master: Some(Some("bond0".into())),
                ..LinkChange::default()
            },
            LinkChange::default(),
        );
        assert!(apply(&enslave, &mut net).is_err());
    }
}
