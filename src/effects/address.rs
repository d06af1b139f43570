//! Addresses and routes: what deleting an address, or taking a link down,
//! takes along.
use std::net::IpAddr;

use super::link::find;
use super::Effects;
use crate::model::{Address, IfRef, Network, Node, Route};

/// Whether the kernel promotes a secondary address when its primary goes
/// (`promote_secondaries` of `all` or of the link, IN_DEV_PROMOTE_SECONDARIES),
/// as far as `node`'s observed sysctls tell; the kernel's default is off.
pub fn promotes(node: &Node, link: &str) -> bool {
    ["all", link].iter().any(|scope| {
        node.sysctls
            .get(&format!("net.ipv4.conf.{scope}.promote_secondaries"))
            .is_some_and(|v| v == "1")
    })
}

/// Whether a link keeps its IPv6 addresses when it goes down
/// (`keep_addr_on_down` of `all` or of the link), as far as `node`'s
/// observed sysctls tell; the kernel's default is off.
pub fn keeps_ipv6_on_down(node: &Node, link: &str) -> bool {
    ["all", link].iter().any(|scope| {
        node.sysctls
            .get(&format!("net.ipv6.conf.{scope}.keep_addr_on_down"))
            .is_some_and(|v| v == "1")
    })
}

/// The secondaries of IPv4 address `primary` among `addrs`: those the
/// kernel flags secondary, of the same prefix length and in its subnet
/// (the ones __inet_del_ifa deletes with it unless promoted).
pub fn secondaries_of<'a>(
    addrs: &'a [Address],
    primary: &'a Address,
) -> impl Iterator<Item = &'a Address> + 'a {
    addrs.iter().filter(move |a| {
        primary.net.addr().is_ipv4()
            && !primary.secondary
            && a.secondary
            && a.net != primary.net
            && a.net.prefix_len() == primary.net.prefix_len()
            && primary.net.contains(&a.net.addr())
    })
}

/// Routes of `node` through link `dev` of one family (`v4`).
fn routes_through<'a>(
    node: &'a Node,
    dev: &'a str,
    v4: bool,
) -> impl Iterator<Item = &'a Route> + 'a {
    node.routes
        .iter()
        .filter(move |r| r.dev.as_deref() == Some(dev) && r.to.addr().is_ipv4() == v4)
}

/// Deleting `addr` from link `me`. For IPv4: the primary's secondaries go
/// with it unless promoted (__inet_del_ifa); routes preferring it as their
/// source go (fib_del_ifaddr -> fib_sync_down_addr); and when it was the
/// link's last IPv4 address, every IPv4 route through the link goes
/// (fib_inetaddr_event, NETDEV_DOWN: fib_disable_ip). An IPv6 address takes
/// only its own prefix route, which the kernel made and netloom does not track.
pub(super) fn deleted(before: &Network, me: &IfRef, addr: &Address, e: &mut Effects) {
    let (Some(node), Some(link)) = (before.nodes.get(&me.node), find(before, me)) else {
        return;
    };
    if addr.net.addr().is_ipv6() {
        return;
    }
    // The address as the kernel has it (the op's copy may lack the flag).
    let addr = link
        .addresses
        .iter()
        .find(|a| a.net == addr.net)
        .unwrap_or(addr);
    let mut left: Vec<&Address> = link
        .addresses
        .iter()
        .filter(|a| a.net.addr().is_ipv4() && a.net != addr.net)
        .collect();
    if !promotes(node, &me.name) {
        for s in secondaries_of(&link.addresses, addr) {
            e.addresses.push((me.clone(), *s));
            left.retain(|a| a.net != s.net);
        }
    }
    let ip: IpAddr = addr.net.addr();
    let last = left.is_empty();
    for r in &node.routes {
        let through = r.dev.as_deref() == Some(me.name.as_str()) && r.to.addr().is_ipv4();
        if r.src == Some(ip) || (last && through) {
            e.routes.push((me.node.clone(), r.clone()));
        }
    }
}

/// Taking link `me` down: its IPv6 addresses go unless kept
/// (addrconf_ifdown), and every route through it goes (fib_sync_down_dev
/// for IPv4, rt6_sync_down_dev for IPv6).
pub(super) fn link_down(before: &Network, me: &IfRef, e: &mut Effects) {
    let (Some(node), Some(link)) = (before.nodes.get(&me.node), find(before, me)) else {
        return;
    };
    if link.up != Some(true) {
        return;
    }
    if !keeps_ipv6_on_down(node, &me.name) {
        e.addresses.extend(
            link.addresses
                .iter()
                .filter(|a| a.net.addr().is_ipv6())
                .map(|a| (me.clone(), *a)),
        );
    }
    for v4 in [true, false] {
        e.routes
            .extend(routes_through(node, &me.name, v4).map(|r| (me.node.clone(), r.clone())));
    }
    // What is stacked on it loses its carrier, not its own state: nothing more.
}

/// Disabling IPv6 on link `me` (`disable_ipv6` 1): its IPv6 addresses and
/// routes go (addrconf_disable_ipv6 -> addrconf_ifdown).
pub(super) fn ipv6_disabled(before: &Network, me: &IfRef, e: &mut Effects) {
    let (Some(node), Some(link)) = (before.nodes.get(&me.node), find(before, me)) else {
        return;
    };
    e.addresses.extend(
        link.addresses
            .iter()
            .filter(|a| a.net.addr().is_ipv6())
            .map(|a| (me.clone(), *a)),
    );
    e.routes
        .extend(routes_through(node, &me.name, false).map(|r| (me.node.clone(), r.clone())));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effects::iref;
    use crate::model::{Link, Op, HOST};

    fn a(s: &str, secondary: bool) -> Address {
        Address {
            net: s.parse().unwrap(),
            dad: false,
            secondary,
        }
    }

    fn route(to: &str, via: Option<&str>, src: Option<&str>) -> Route {
        Route {
            to: to.parse().unwrap(),
            via: via.map(|v| v.parse().unwrap()),
            dev: Some("eth0".into()),
            metric: None,
            table: None,
            src: src.map(|s| s.parse().unwrap()),
        }
    }

    fn node(addrs: Vec<Address>, routes: Vec<Route>) -> Network {
        let mut l = Link::veth("eth0", "b", "eth0");
        l.up = Some(true);
        l.addresses = addrs;
        let mut n = Node::default();
        n.links.insert("eth0".into(), l);
        n.routes = routes;
        Network {
            name: "t".into(),
            nodes: [(HOST.into(), n)].into(),
        }
    }

    fn del(net: &Network, addr: Address) -> Effects {
        crate::effects::of(
            &Op::DelAddress {
                node: HOST.into(),
                link: "eth0".into(),
                addr,
            },
            net,
        )
    }

    /// fib_inetaddr_event: the last IPv4 address going takes every IPv4
    /// route through the link (the defect of issue 17: `default via` lost).
    #[test]
    fn the_last_ipv4_address_takes_the_links_ipv4_routes() {
        let routes = vec![
            route("0.0.0.0/0", Some("10.0.0.2"), None),
            route("2001:db8::/64", None, None),
        ];
        let net = node(
            vec![a("10.0.0.1/24", false), a("2001:db8::1/64", false)],
            routes,
        );
        let e = del(&net, a("10.0.0.1/24", false));
        assert_eq!(e.routes.len(), 1, "{e:?}");
        assert_eq!(e.routes[0].1.to.to_string(), "0.0.0.0/0");
        assert!(e.addresses.is_empty());
        // Another IPv4 address left: the routes stay.
        let net = node(
            vec![a("10.0.0.1/24", false), a("10.1.0.1/24", false)],
            vec![route("0.0.0.0/0", Some("10.0.0.2"), None)],
        );
        assert!(del(&net, a("10.0.0.1/24", false)).is_empty());
    }

    /// __inet_del_ifa: a primary takes its secondaries unless promoted;
    /// a secondary takes nothing.
    #[test]
    fn a_primary_takes_its_secondaries_unless_promoted() {
        let addrs = vec![
            a("10.0.0.1/24", false),
            a("10.0.0.9/24", true),
            a("10.1.0.1/24", false),
        ];
        let mut net = node(addrs, vec![]);
        let e = del(&net, a("10.0.0.1/24", false));
        assert_eq!(
            e.addresses,
            vec![(iref(HOST, "eth0"), a("10.0.0.9/24", true))]
        );
        assert!(del(&net, a("10.0.0.9/24", true)).is_empty());
        net.nodes
            .get_mut(HOST)
            .unwrap()
            .sysctls
            .insert("net.ipv4.conf.eth0.promote_secondaries".into(), "1".into());
        assert!(del(&net, a("10.0.0.1/24", false)).is_empty());
    }

    /// fib_sync_down_addr: routes preferring a deleted address go.
    #[test]
    fn routes_preferring_a_deleted_source_go() {
        let net = node(
            vec![a("10.0.0.1/24", false), a("10.1.0.1/24", false)],
            vec![
                route("192.168.0.0/16", Some("10.0.0.2"), Some("10.1.0.1")),
                route("172.16.0.0/12", Some("10.0.0.2"), None),
            ],
        );
        let e = del(&net, a("10.1.0.1/24", false));
        assert_eq!(e.routes.len(), 1);
        assert_eq!(e.routes[0].1.to.to_string(), "192.168.0.0/16");
    }

    /// addrconf_ifdown and fib_sync_down_dev: down flushes IPv6 addresses
    /// (unless kept) and every route through the link.
    #[test]
    fn down_flushes_ipv6_addresses_and_routes() {
        let mut net = node(
            vec![a("10.0.0.1/24", false), a("2001:db8::1/64", false)],
            vec![route("0.0.0.0/0", Some("10.0.0.2"), None)],
        );
        let mut e = Effects::default();
        link_down(&net, &iref(HOST, "eth0"), &mut e);
        assert_eq!(e.addresses.len(), 1);
        assert_eq!(e.routes.len(), 1);
        net.nodes
            .get_mut(HOST)
            .unwrap()
            .sysctls
            .insert("net.ipv6.conf.all.keep_addr_on_down".into(), "1".into());
        let mut e = Effects::default();
        link_down(&net, &iref(HOST, "eth0"), &mut e);
        assert!(e.addresses.is_empty());
    }
}
