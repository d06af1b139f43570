//! A node's routing decision, from its addresses and routes, as the kernel
//! makes it: the local table first (every address of the node, on any
//! interface, up or down: fib_add_ifaddr adds it to table local), then
//! main (connected prefixes of interfaces that are up, plus routes), then,
//! for IPv4, table `default` (fib4_rules_init's rule order); longest
//! prefix first, then lowest metric (fib_table_lookup walks the trie from
//! the longest prefix, fib_find_alias orders aliases by priority).
//!
//! A packet that came in by, or is bound to, a port of a VRF is looked up
//! in the VRF's table first (the l3mdev rule, preference 1000, after local's
//! 0): the addresses and connected prefixes of the VRF's ports live there,
//! not in local and main (fib_add_ifaddr asks l3mdev_fib_table for the
//! table); a miss falls through to main and default, as the rules go on.
use std::net::IpAddr;

use ipnet::IpNet;

use super::index::{If, Index};
use crate::model::{Link, LinkKind, Route, RT_TABLE_DEFAULT, RT_TABLE_MAIN};

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

/// The VRF whose table a packet in or out of `i` is looked up in: `i`
/// itself when it is a VRF device, else its master when that is one
/// (l3mdev_master_ifindex).
pub fn vrf_of(idx: &Index, i: If) -> Option<If> {
    let is_vrf = |j: If| matches!(idx.link(j).kind, LinkKind::Vrf(_));
    if is_vrf(i) {
        return Some(i);
    }
    idx.master(i).filter(|&m| is_vrf(m))
}

/// The routing table of VRF device `v`.
fn vrf_table(idx: &Index, v: If) -> Option<u32> {
    match &idx.link(v).kind {
        LinkKind::Vrf(o) => Some(o.table),
        _ => None,
    }
}

/// Look `dst` up in `node`; with `oif`, only routes out of that interface
/// count, and without one the destination is assumed on link there
/// (ip_route_output_key_hash_rcu: "routing tables are wrong, assume the
/// destination is on link"). The VRF is `oif`'s, if any.
pub fn lookup<'a>(idx: &Index<'a>, node: &str, dst: IpAddr, oif: Option<If>) -> Lookup {
    lookup_in(idx, node, dst, oif, oif.and_then(|o| vrf_of(idx, o)))
}

/// [`lookup`] in the routing domain of VRF `vrf` (`None`: the default one),
/// as for a packet that came in by one of its ports.
pub fn lookup_in<'a>(
    idx: &Index<'a>,
    node: &str,
    dst: IpAddr,
    oif: Option<If>,
    vrf: Option<If>,
) -> Lookup {
    // A VRF device as oif names the domain, not the next hop's device
    // (l3mdev_update_flow sets FLOWI_FLAG_SKIP_NH_OIF), as icmp_reply asks
    // for an answer to a packet that came in by one of its ports.
    let oif = oif.filter(|&o| !matches!(idx.link(o).kind, LinkKind::Vrf(_)));
    let holders = idx.holders(dst).iter().copied();
    let mut local = holders.filter(|&i| idx.ifs[i].node == node);
    // Table local holds the default domain's addresses and is consulted
    // first by every packet; a VRF's own addresses are in its table.
    if let Some(holder) = local
        .clone()
        .find(|&i| vrf_of(idx, i).is_none())
        .or_else(|| vrf.and_then(|v| local.find(|&i| vrf_of(idx, i) == Some(v))))
    {
        return Lookup::Local { holder };
    }
    let table = vrf.and_then(|v| vrf_table(idx, v));
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
        // The VRF's table ranks before main; another VRF's is not consulted.
        let table_rank = match vrf_of(idx, i) {
            None => 1,
            Some(v) if Some(v) == vrf => 0,
            Some(_) => continue,
        };
        for a in &l.addresses {
            let full = if a.net.addr().is_ipv4() { 32 } else { 128 };
            if a.net.prefix_len() == full || !same_family(a.net.addr(), dst) {
                continue;
            }
            offer(Cand {
                prefix: a.net.trunc(),
                metric: if dst.is_ipv4() { 0 } else { 256 },
                table_rank,
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
            if let Some(c) = candidate(idx, node, r, dst, table) {
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
/// rules consult (the VRF's `table`, then main, then default) and its
/// device is there and up.
fn candidate<'r>(
    idx: &Index,
    node: &str,
    r: &'r Route,
    dst: IpAddr,
    table: Option<u32>,
) -> Option<Cand<'r>> {
    if !same_family(r.to.addr(), dst) {
        return None;
    }
    let table_rank = match r.table_id() {
        t if Some(t) == table => 0,
        RT_TABLE_MAIN => 1,
        RT_TABLE_DEFAULT if dst.is_ipv4() => 2,
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
/// of the family on another interface of the node in the same VRF
/// (inet_select_addr skips devices of another l3mdev master).
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
        .filter(|&&i| i != dev && is_up(idx.link(i)) && vrf_of(idx, i) == vrf_of(idx, dev))
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

    /// Two VRFs with the same address on a port each, and a default-domain
    /// interface: each domain sees its own table, then main.
    #[test]
    fn a_vrf_routes_in_its_table_then_main() {
        let mut r = Node::default();
        let vrf = |t| LinkKind::Vrf(crate::model::vrf::VrfOptions { table: t });
        r.links.insert("red".into(), Link::new("red", vrf(10)));
        r.links.insert("blue".into(), Link::new("blue", vrf(20)));
        for (name, net, master) in [
            ("r1a", "10.16.1.1/24", Some("red")),
            ("r1b", "10.16.2.1/24", Some("red")),
            ("r2a", "10.16.1.1/24", Some("blue")),
            ("up", "10.9.0.1/24", None),
        ] {
            let mut l = Link::veth(name, "x", name);
            l.addresses = vec![addr(net)];
            l.master = master.map(String::from);
            r.links.insert(name.into(), l);
        }
        let n = Network {
            name: "t".into(),
            nodes: [("r".to_string(), r)].into(),
        };
        let idx = Index::new(&n);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let (red, blue) = (idx.find("r", "red"), idx.find("r", "blue"));
        let dev = |l: Lookup| match l {
            Lookup::Unicast(h) => Some(idx.ifs[h.dev].name),
            Lookup::Local { holder } => Some(idx.ifs[holder].name),
            Lookup::None => None,
        };
        assert_eq!(
            dev(lookup_in(&idx, "r", ip("10.16.2.2"), None, red)),
            Some("r1b")
        );
        assert_eq!(dev(lookup_in(&idx, "r", ip("10.16.2.2"), None, blue)), None);
        assert_eq!(dev(lookup_in(&idx, "r", ip("10.16.2.2"), None, None)), None);
        // Each domain's own copy of the shared address is local to it.
        assert_eq!(
            dev(lookup_in(&idx, "r", ip("10.16.1.1"), None, red)),
            Some("r1a")
        );
        assert_eq!(
            dev(lookup_in(&idx, "r", ip("10.16.1.1"), None, blue)),
            Some("r2a")
        );
        assert_eq!(dev(lookup_in(&idx, "r", ip("10.16.1.1"), None, None)), None);
        // A miss in the VRF's table falls through to main.
        assert_eq!(
            dev(lookup_in(&idx, "r", ip("10.9.0.7"), None, red)),
            Some("up")
        );
        // Table local is everyone's: the default domain's address is local in red.
        assert_eq!(
            dev(lookup_in(&idx, "r", ip("10.9.0.1"), None, red)),
            Some("up")
        );
        let r1b = idx.find("r", "r1b").unwrap();
        assert_eq!(
            select_src(&idx, "r", r1b, ip("10.9.0.7")),
            Some(ip("10.16.2.1"))
        );
        assert_eq!(vrf_of(&idx, r1b), red);
        // An answer routed with the VRF device as oif (icmp_reply) leaves
        // by the port its table names: the oif picks the domain only.
        assert_eq!(dev(lookup(&idx, "r", ip("10.16.1.2"), red)), Some("r1a"));
        assert_eq!(dev(lookup(&idx, "r", ip("10.16.1.2"), blue)), Some("r2a"));
    }
}
