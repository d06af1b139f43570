//! A node's routing decision, from its addresses and routes, as the kernel
//! makes it: the local table first (every address of the node, on any
//! interface, up or down: fib_add_ifaddr adds it to table local), then
//! main (connected prefixes of interfaces that are up, plus routes), then,
//! for IPv4, table `default` (fib4_rules_init's rule order); longest
//! prefix first, then lowest metric (fib_table_lookup walks the trie from
//! the longest prefix, fib_find_alias orders aliases by priority).
use std::net::IpAddr;

use ipnet::IpNet;

use super::index::{If, Index};
use crate::model::{Link, Route, RT_TABLE_DEFAULT, RT_TABLE_MAIN};

/// The outcome of a route lookup.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    /// The destination is an address of the node.
    Local {
        /// The interface holding it.
        holder: If,
    },
    /// Out of `dev`.
    Unicast(Hop),
    /// No route matches.
    None,
}

/// A unicast decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Hop {
    /// Output interface.
    pub dev: If,
    /// Gateway, when the route has one.
    pub via: Option<IpAddr>,
    /// The route that matched, in iproute2's words.
    pub matched: String,
    /// The prefix that matched.
    pub prefix: IpNet,
    /// The source address the kernel picks.
    pub src: Option<IpAddr>,
}

impl Hop {
    /// The next hop: the gateway, or the destination on link.
    pub fn nexthop(&self, dst: IpAddr) -> IpAddr {
        self.via.unwrap_or(dst)
    }
}

/// A candidate route with what ranks it.
struct Cand<'a> {
    prefix: IpNet,
    metric: u32,
    table_rank: u8,
    connected: bool,
    dev: If,
    via: Option<IpAddr>,
    src: Option<IpAddr>,
    /// The route of the file, for a candidate that is not a connected prefix.
    route: Option<&'a Route>,
}

/// Whether a link is administratively up (routes through it exist only then:
/// fib_disable_ip flushes them when it goes down).
pub fn is_up(l: &Link) -> bool {
    l.up.unwrap_or(true)
}

/// The interface of `node` that puts `via` on link: an up interface whose
/// connected prefix holds it, or a device route in main holding it.
fn onlink_dev(idx: &Index, node: &str, via: IpAddr) -> Option<If> {
    for &i in idx.ifaces_of(node) {
        let l = idx.link(i);
        if is_up(l) && l.addresses.iter().any(|a| a.net.contains(&via)) {
            return Some(i);
        }
    }
    let n = idx.node(node)?;
    n.routes
        .iter()
        .find(|r| r.puts_on_link(via, RT_TABLE_MAIN) && r.dev.is_some())
        .and_then(|r| idx.find(node, r.dev.as_deref()?))
}

fn same_family(a: IpAddr, b: IpAddr) -> bool {
    a.is_ipv4() == b.is_ipv4()
}

/// Look `dst` up in `node`; with `oif`, only routes out of that interface
/// count, and without one the destination is assumed on link there
/// (ip_route_output_key_hash_rcu: "routing tables are wrong, assume the
/// destination is on link").
pub fn lookup<'a>(idx: &Index<'a>, node: &str, dst: IpAddr, oif: Option<If>) -> Lookup {
    if let Some(holder) = idx.holder_in(node, dst) {
        return Lookup::Local { holder };
    }
    // The best candidate so far (the words are made for the winner only:
    // `--all` looks up routes for every pair).
    let mut best: Option<Cand<'a>> = None;
    let mut offer = |c: Cand<'a>| {
        if !c.prefix.contains(&dst) || oif.is_some_and(|o| o != c.dev) {
            return;
        }
        let better = match &best {
            None => true,
            Some(b) => {
                (
                    c.table_rank,
                    std::cmp::Reverse(c.prefix.prefix_len()),
                    c.metric,
                    !c.connected,
                ) < (
                    b.table_rank,
                    std::cmp::Reverse(b.prefix.prefix_len()),
                    b.metric,
                    !b.connected,
                )
            }
        };
        if better {
            best = Some(c);
        }
    };
    for &i in idx.ifaces_of(node) {
        let l = idx.link(i);
        if !is_up(l) {
            continue;
        }
        for a in &l.addresses {
            let full = if a.net.addr().is_ipv4() { 32 } else { 128 };
            if a.net.prefix_len() == full || !same_family(a.net.addr(), dst) {
                continue;
            }
            offer(Cand {
                prefix: a.net.trunc(),
                metric: if dst.is_ipv4() { 0 } else { 256 },
                table_rank: 0,
                connected: true,
                dev: i,
                via: None,
                src: Some(a.net.addr()),
                route: None,
            });
        }
    }
    if let Some(n) = idx.node(node) {
        for r in &n.routes {
            if let Some(c) = candidate(idx, node, r, dst) {
                offer(c);
            }
        }
    }
    match (best, oif) {
        (Some(c), _) => {
            let src = c
                .src
                .or_else(|| select_src(idx, node, c.dev, c.via.unwrap_or(dst)));
            let matched = match c.route {
                Some(r) if r.dev.is_some() => r.to_string(),
                Some(r) => format!("{r} dev {}", idx.ifs[c.dev].name),
                None => format!(
                    "{} dev {} proto kernel scope link src {}",
                    c.prefix,
                    idx.ifs[c.dev].name,
                    c.src.map_or_else(String::new, |s| s.to_string())
                ),
            };
            Lookup::Unicast(Hop {
                dev: c.dev,
                via: c.via,
                matched,
                prefix: c.prefix,
                src,
            })
        }
        (None, Some(o)) => Lookup::Unicast(Hop {
            dev: o,
            via: None,
            matched: format!("none: assumed on link of {} (bound to it)", idx.ifs[o].name),
            prefix: IpNet::from(dst),
            src: select_src(idx, node, o, dst),
        }),
        (None, None) => Lookup::None,
    }
}

/// A route of the file as a candidate for `dst`, when it is in a table the
/// standard rules consult and its device is there and up.
fn candidate<'r>(idx: &Index, node: &str, r: &'r Route, dst: IpAddr) -> Option<Cand<'r>> {
    if !same_family(r.to.addr(), dst) {
        return None;
    }
    let table_rank = match r.table_id() {
        RT_TABLE_MAIN => 0,
        RT_TABLE_DEFAULT if dst.is_ipv4() => 1,
        _ => return None,
    };
    let dev = match (&r.dev, r.via) {
        (Some(d), _) => idx.find(node, d)?,
        (None, Some(v)) => onlink_dev(idx, node, v)?,
        (None, None) => return None,
    };
    if !is_up(idx.link(dev)) {
        return None;
    }
    let metric = r.metric.unwrap_or(if dst.is_ipv4() { 0 } else { 1024 });
    Some(Cand {
        prefix: r.to.trunc(),
        metric,
        table_rank,
        connected: false,
        dev,
        via: r.via,
        src: r.src,
        route: Some(r),
    })
}

/// The source address the kernel picks for a packet out of `dev` towards
/// next hop `nh` (inet_select_addr): the first address of `dev` whose
/// subnet holds `nh`, else its first address of the family, else the first
/// of the family on another interface of the node.
pub fn select_src(idx: &Index, node: &str, dev: If, nh: IpAddr) -> Option<IpAddr> {
    let l = idx.link(dev);
    let fam =
        |a: &&crate::model::Address| same_family(a.net.addr(), nh) && !a.net.addr().is_loopback();
    if let Some(a) = l.addresses.iter().filter(fam).find(|a| a.net.contains(&nh)) {
        return Some(a.net.addr());
    }
    if let Some(a) = l.addresses.iter().find(fam) {
        return Some(a.net.addr());
    }
    idx.ifaces_of(node)
        .iter()
        .filter(|&&i| i != dev && is_up(idx.link(i)))
        .find_map(|&i| idx.link(i).addresses.iter().find(fam).map(|a| a.net.addr()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Address, Network, Node};

    fn addr(s: &str) -> Address {
        Address {
            net: s.parse().unwrap(),
            dad: false,
            secondary: false,
        }
    }

    fn net() -> Network {
        let mut a = Node::default();
        let mut e0 = Link::veth("eth0", "b", "eth0");
        e0.addresses = vec![addr("10.0.0.1/24")];
        let mut e1 = Link::veth("eth1", "c", "eth0");
        e1.addresses = vec![addr("10.1.0.1/24")];
        a.links.insert("eth0".into(), e0);
        a.links.insert("eth1".into(), e1);
        a.routes.push(Route {
            to: "0.0.0.0/0".parse().unwrap(),
            via: Some("10.0.0.254".parse().unwrap()),
            dev: None,
            metric: None,
            table: None,
            src: None,
        });
        a.routes.push(Route {
            to: "10.9.0.0/16".parse().unwrap(),
            via: Some("10.1.0.254".parse().unwrap()),
            dev: None,
            metric: None,
            table: Some(10),
            src: None,
        });
        Network {
            name: "t".into(),
            nodes: [("a".to_string(), a)].into(),
        }
    }

    #[test]
    fn local_then_longest_prefix_then_default() {
        let n = net();
        let idx = Index::new(&n);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(matches!(
            lookup(&idx, "a", ip("10.1.0.1"), None),
            Lookup::Local { .. }
        ));
        let Lookup::Unicast(h) = lookup(&idx, "a", ip("10.1.0.7"), None) else {
            panic!()
        };
        assert_eq!(idx.ifs[h.dev].name, "eth1");
        assert_eq!(h.via, None);
        assert_eq!(h.src, Some(ip("10.1.0.1")));
        // The route in table 10 is not consulted: the default route wins.
        let Lookup::Unicast(h) = lookup(&idx, "a", ip("10.9.1.1"), None) else {
            panic!()
        };
        assert_eq!(h.via, Some(ip("10.0.0.254")));
        assert_eq!(idx.ifs[h.dev].name, "eth0");
        assert_eq!(h.matched, "default via 10.0.0.254 dev eth0");
    }

    #[test]
    fn a_down_interface_takes_its_routes_but_not_its_local_address() {
        let mut n = net();
        n.nodes
            .get_mut("a")
            .unwrap()
            .links
            .get_mut("eth0")
            .unwrap()
            .up = Some(false);
        let idx = Index::new(&n);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(matches!(
            lookup(&idx, "a", ip("10.0.0.1"), None),
            Lookup::Local { .. }
        ));
        assert_eq!(lookup(&idx, "a", ip("10.0.0.9"), None), Lookup::None);
        assert_eq!(lookup(&idx, "a", ip("8.8.8.8"), None), Lookup::None);
        // Bound to an interface, an unmatched destination is assumed on link.
        let eth1 = idx.find("a", "eth1").unwrap();
        let Lookup::Unicast(h) = lookup(&idx, "a", ip("8.8.8.8"), Some(eth1)) else {
            panic!()
        };
        assert_eq!(h.dev, eth1);
    }
}
