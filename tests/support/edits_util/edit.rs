//! Random edits of the model, each valid by construction: an edit is read
//! from a step of choices (numbers; all zeros is the simplest edit), applies
//! only where it can (else the next kind is tried), and removes what it
//! leaves dangling (model::Topo::repair), as a person editing would.
use std::net::IpAddr;

use ipnet::IpNet;

use super::claims;
use super::edit_more::*;
use super::model::*;

/// Choices per step.
pub const STEP: usize = 8;

/// One edit's choices.
pub type Step = [u32; STEP];

/// Reads choices; past the end, zeros.
pub struct Pick<'a> {
    c: &'a [u32],
    at: usize,
}

impl Pick<'_> {
    pub fn next(&mut self) -> u32 {
        let v = self.c.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        v
    }
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            self.next() as usize % n
        }
    }
    pub fn one<T: Clone>(&mut self, xs: &[T]) -> Option<T> {
        (!xs.is_empty()).then(|| xs[self.below(xs.len())].clone())
    }
    /// True with probability `num/den` (true when the choice is 0).
    pub fn chance(&mut self, num: u32, den: u32) -> bool {
        self.next() % den < num
    }
}

type Edit = fn(&mut Topo, &mut Pick) -> Option<String>;

/// Edit kinds with their weights.
const KINDS: &[(u32, Edit)] = &[
    (5, add_addr),
    (3, del_addr),
    (6, change_host),
    (3, change_prefix),
    (3, change_subnet),
    (5, add_route),
    (2, del_route),
    (4, change_route),
    (2, add_node),
    (1, del_node),
    (2, add_link),
    (1, del_link),
    (1, add_bridge),
    (1, del_bridge),
    (2, add_port),
    (2, del_port),
    (3, port_opt),
    (2, macvlan_mode),
    (2, add_macvlan),
    (1, del_macvlan),
    (4, mtu),
    (4, sysctl),
    (3, nat),
    (1, add_tun),
    (1, del_tun),
    (1, add_vxlan),
    (1, del_vxlan),
];

/// Applies the edit `step` names to `t` and describes it.
pub fn apply(t: &mut Topo, step: &Step) -> String {
    let total: u32 = KINDS.iter().map(|k| k.0).sum();
    let mut r = step[0] % total;
    let mut k = 0;
    while r >= KINDS[k].0 {
        r -= KINDS[k].0;
        k += 1;
    }
    for off in 0..KINDS.len() {
        let mut trial = t.clone();
        let mut p = Pick {
            c: &step[1..],
            at: 0,
        };
        if let Some(desc) = KINDS[(k + off) % KINDS.len()].1(&mut trial, &mut p) {
            let gone = trial.repair();
            *t = trial;
            return if gone.is_empty() {
                desc
            } else {
                format!("{desc} (and with it: {})", gone.join(", "))
            };
        }
    }
    unreachable!("a sysctl edit always applies")
}

// ---- shared pieces ----

pub(super) fn family(a: &IpNet) -> bool {
    a.addr().is_ipv6()
}

/// A host number 1..=60 whose address in subnet `s` is used nowhere.
pub(super) fn fresh_host(t: &Topo, p: &mut Pick, s: u8, six: bool) -> Option<u8> {
    let start = p.below(60) as u8;
    (0..60u8).map(|i| (start + i) % 60 + 1).find(|&h| {
        let a = if six { v6(s, h, 64) } else { v4(s, h, 24) };
        !t.ip_used(a.addr())
    })
}

/// A subnet `(S, prefix length)` for a new address on `e`: mostly one its
/// segment already uses, else a fresh one.
pub(super) fn subnet_for(t: &mut Topo, p: &mut Pick, e: &End, six: bool) -> (u8, u8) {
    let l2 = claims::l2(t);
    let mut used: Vec<(u8, u8)> = l2
        .segment(e)
        .iter()
        .filter_map(|x| t.iface(x))
        .flat_map(|i| &i.addrs)
        .filter(|a| family(a) == six)
        .map(|a| (parts(*a).0, a.prefix_len()))
        .collect();
    used.sort();
    used.dedup();
    if !used.is_empty() && p.chance(3, 4) {
        return p.one(&used).unwrap();
    }
    (t.fresh_subnet(), if six { 64 } else { 24 })
}

pub(super) fn addr_of(s: u8, h: u8, len: u8, six: bool) -> IpNet {
    if six {
        v6(s, h, len)
    } else {
        v4(s, h, len)
    }
}

/// Every address: (interface, index).
fn all_addrs(t: &Topo) -> Vec<(End, usize)> {
    t.ends()
        .into_iter()
        .flat_map(|e| {
            let n = t.iface(&e).unwrap().addrs.len();
            (0..n).map(move |i| (e.clone(), i))
        })
        .collect()
}

pub(super) fn nodes_with_room(t: &Topo, room: usize) -> Vec<String> {
    t.nodes
        .iter()
        .filter(|(_, n)| n.ifaces.len() + room <= MAX_IFACES)
        .map(|(k, _)| k.clone())
        .collect()
}

pub(super) fn insert(t: &mut Topo, e: &End, i: Iface) {
    t.nodes
        .entry(e.node.clone())
        .or_default()
        .ifaces
        .insert(e.name.clone(), i);
}

/// Gives `e` an IPv4 address in subnet `s` (and maybe an IPv6 one).
pub(super) fn address(t: &mut Topo, p: &mut Pick, e: &End, s: u8, v6_too: bool) -> Vec<IpNet> {
    let mut out = Vec::new();
    for six in [false, true] {
        if six && !v6_too {
            continue;
        }
        if let Some(h) = fresh_host(t, p, s, six) {
            let a = addr_of(s, h, if six { 64 } else { 24 }, six);
            t.iface_mut(e).unwrap().addrs.push(a);
            out.push(a);
        }
    }
    out
}

pub(super) fn show(addrs: &[IpNet]) -> String {
    addrs
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Interfaces of `node` a route may name as `dev`, or nat as `out`.
pub(super) fn devs(t: &Topo, node: &str) -> Vec<String> {
    t.nodes[node]
        .ifaces
        .keys()
        .filter(|i| t.master(&End::new(node, i)).is_none())
        .cloned()
        .collect()
}

/// Veth ends of `node` nothing else uses (no address, no port, nothing
/// stacked, not a route's dev, a nat's out or a sysctl's interface).
pub(super) fn free_ends(t: &Topo, node: &str) -> Vec<String> {
    let n = &t.nodes[node];
    n.ifaces
        .iter()
        .filter(|(name, i)| {
            let e = End::new(node, name);
            i.kind == Kind::Veth
                && i.addrs.is_empty()
                && i.mtu.is_none()
                && t.master(&e).is_none()
                && t.stacked_on(&e).is_empty()
                && !n.routes.iter().any(|r| r.dev.as_ref() == Some(*name))
                && !n.nat.iter().any(|m| &m.out == *name)
                && !n
                    .sysctl
                    .keys()
                    .any(|k| iface_of_key(k).as_ref() == Some(*name))
        })
        .map(|(k, _)| k.clone())
        .collect()
}

// ---- addresses ----

fn add_addr(t: &mut Topo, p: &mut Pick) -> Option<String> {
    let cands: Vec<End> = t
        .addressable()
        .into_iter()
        .filter(|e| t.iface(e).unwrap().addrs.len() < MAX_ADDRS)
        .collect();
    let e = p.one(&cands)?;
    let six = p.chance(1, 3);
    let (s, len) = subnet_for(t, p, &e, six);
    let h = fresh_host(t, p, s, six)?;
    let a = addr_of(s, h, len, six);
    t.iface_mut(&e).unwrap().addrs.push(a);
    Some(format!("add address {a} to {e}"))
}

fn del_addr(t: &mut Topo, p: &mut Pick) -> Option<String> {
    let (e, i) = p.one(&all_addrs(t))?;
    let a = t.iface_mut(&e).unwrap().addrs.remove(i);
    Some(format!("remove address {a} from {e}"))
}

fn replace(t: &mut Topo, e: &End, i: usize, new: IpNet) -> String {
    let old = std::mem::replace(&mut t.iface_mut(e).unwrap().addrs[i], new);
    format!("change address {old} to {new} on {e}")
}

fn change_host(t: &mut Topo, p: &mut Pick) -> Option<String> {
    let (e, i) = p.one(&all_addrs(t))?;
    let a = t.iface(&e).unwrap().addrs[i];
    let (s, _) = parts(a);
    let h = fresh_host(t, p, s, family(&a))?;
    Some(replace(t, &e, i, addr_of(s, h, a.prefix_len(), family(&a))))
}

fn change_prefix(t: &mut Topo, p: &mut Pick) -> Option<String> {
    let (e, i) = p.one(&all_addrs(t))?;
    let a = t.iface(&e).unwrap().addrs[i];
    let lens: &[u8] = if family(&a) {
        &[64, 80, 96, 112]
    } else {
        &[16, 22, 23, 24, 25, 26]
    };
    let lens: Vec<u8> = lens
        .iter()
        .copied()
        .filter(|l| *l != a.prefix_len())
        .collect();
    let len = p.one(&lens)?;
    let (s, h) = parts(a);
    Some(replace(t, &e, i, addr_of(s, h, len, family(&a))))
}

fn change_subnet(t: &mut Topo, p: &mut Pick) -> Option<String> {
    let (e, i) = p.one(&all_addrs(t))?;
    let a = t.iface(&e).unwrap().addrs[i];
    let six = family(&a);
    let (s, len) = subnet_for(t, p, &e, six);
    if s == parts(a).0 {
        return None;
    }
    let h = fresh_host(t, p, s, six)?;
    Some(replace(t, &e, i, addr_of(s, h, len, six)))
}

// ---- routes ----

const TABLES: &[Option<u32>] = &[None, None, Some(254), Some(100), Some(200), Some(253)];
const METRICS: &[Option<u32>] = &[None, None, Some(0), Some(5), Some(100), Some(1024)];

/// Gateways on link in `node` for family `six`: neighbours' addresses in a
/// subnet of the node, and a host nobody has; each with an interface
/// holding the subnet.
fn gateways(t: &Topo, p: &mut Pick, node: &str, six: bool) -> Vec<(IpAddr, String)> {
    let mut out = Vec::new();
    for dev in devs(t, node) {
        for a in t.nodes[node].ifaces[&dev].addrs.clone() {
            if family(&a) != six {
                continue;
            }
            let net = a.trunc();
            for (n, other) in &t.nodes {
                for b in other.ifaces.values().flat_map(|i| &i.addrs) {
                    if n != node && net.contains(&b.addr()) {
                        out.push((b.addr(), dev.clone()));
                    }
                }
            }
            if let Some(h) = fresh_host(t, p, parts(a).0, six) {
                out.push((
                    addr_of(parts(a).0, h, if six { 64 } else { 24 }, six).addr(),
                    dev.clone(),
                ));
            }
        }
    }
    out.retain(|(v, d)| t.on_link(node, *v, Some(d)));
    out.sort();
    out.dedup();
    out
}

fn taken(t: &Topo, node: &str, to: IpNet, table: u32, skip: Option<usize>) -> bool {
    t.nodes[node]
        .routes
        .iter()
        .enumerate()
        .any(|(i, r)| Some(i) != skip && r.to == to && r.table_id() == table)
}

fn add_route(t: &mut Topo, p: &mut Pick) -> Option<String> {
    let nodes: Vec<String> = t
        .nodes
        .iter()
        .filter(|(_, n)| n.routes.len() < MAX_ROUTES)
        .map(|(k, _)| k.clone())
        .collect();
    let node = p.one(&nodes)?;
    let six = p.chance(1, 3);
    let table = p.one(TABLES).unwrap();
    let metric = p.one(METRICS).unwrap();
    let default = p.chance(1, 3);
    let r0 = p.below(8);
    let to = (0..8)
        .map(|i| -> IpNet {
            match (default, six) {
                (true, false) => "0.0.0.0/0".parse().unwrap(),
                (true, true) => "::/0".parse().unwrap(),
                (false, false) => format!("172.16.{}.0/24", (r0 + i) % 8).parse().unwrap(),
                (false, true) => format!("fd99:0:0:{}::/64", (r0 + i) % 8).parse().unwrap(),
            }
        })
        .find(|to| !taken(t, &node, *to, table.unwrap_or(254), None))?;
    let form = p.below(3);
    let gws = gateways(t, p, &node, six);
    let (via, dev) = match (form, p.one(&gws)) {
        (0, Some((v, _))) => (Some(v), None),
        (1, Some((v, d))) => (Some(v), Some(d)),
        _ => (None, Some(p.one(&devs(t, &node))?)),
    };
    let r = Route {
        to,
        via,
        dev,
        metric,
        table,
    };
    let desc = format!("{node}: add route {r}");
    t.nodes.get_mut(&node).unwrap().routes.push(r);
    Some(desc)
}

fn all_routes(t: &Topo) -> Vec<(String, usize)> {
    t.nodes
        .iter()
        .flat_map(|(n, node)| (0..node.routes.len()).map(move |i| (n.clone(), i)))
        .collect()
}

fn del_route(t: &mut Topo, p: &mut Pick) -> Option<String> {
    let (n, i) = p.one(&all_routes(t))?;
    let r = t.nodes.get_mut(&n).unwrap().routes.remove(i);
    Some(format!("{n}: remove route {r}"))
}

fn change_route(t: &mut Topo, p: &mut Pick) -> Option<String> {
    let (n, i) = p.one(&all_routes(t))?;
    let old = t.nodes[&n].routes[i].clone();
    let six = old.to.addr().is_ipv6();
    let mut r = old.clone();
    match p.below(4) {
        0 => {
            old.via?;
            let gws: Vec<(IpAddr, String)> = gateways(t, p, &n, six)
                .into_iter()
                .filter(|(v, d)| Some(*v) != old.via && old.dev.as_ref().is_none_or(|x| x == d))
                .collect();
            r.via = Some(p.one(&gws)?.0);
        }
        1 => {
            let ms: Vec<Option<u32>> = METRICS
                .iter()
                .copied()
                .filter(|m| *m != old.metric)
                .collect();
            r.metric = p.one(&ms).unwrap();
        }
        2 => {
            let ts: Vec<Option<u32>> = TABLES
                .iter()
                .copied()
                .filter(|x| x.unwrap_or(254) != old.table_id())
                .collect();
            r.table = p.one(&ts).unwrap();
            if taken(t, &n, r.to, r.table_id(), Some(i)) {
                return None;
            }
        }
        _ => match (old.via, &old.dev) {
            (Some(_), Some(_)) => r.dev = None,
            (Some(v), None) => {
                let holders: Vec<String> = devs(t, &n)
                    .into_iter()
                    .filter(|d| t.on_link(&n, v, Some(d)))
                    .collect();
                r.dev = Some(p.one(&holders)?);
            }
            (None, Some(d)) => {
                let others: Vec<String> = devs(t, &n).into_iter().filter(|x| x != d).collect();
                r.dev = Some(p.one(&others)?);
            }
            (None, None) => return None,
        },
    }
    t.nodes.get_mut(&n).unwrap().routes[i] = r.clone();
    Some(format!("{n}: change route {old} to {r}"))
}

// ---- nodes and links ----

fn add_node(t: &mut Topo, p: &mut Pick) -> Option<String> {
    if t.nodes.len() >= MAX_NODES {
        return None;
    }
    let x = p.one(&nodes_with_room(t, 1))?;
    let name = format!("n{}", t.next());
    let bridges: Vec<String> = t.nodes[&x]
        .ifaces
        .iter()
        .filter(|(_, i)| matches!(i.kind, Kind::Bridge { .. }))
        .map(|(k, _)| k.clone())
        .collect();
    let port_of = if p.chance(1, 2) {
        p.one(&bridges)
    } else {
        None
    };
    let near = End::new(&x, &t.fresh_name(if port_of.is_some() { "p" } else { "e" }));
    let far = End::new(&name, "eth0");
    insert(t, &near, Iface::new(Kind::Veth));
    insert(t, &far, Iface::new(Kind::Veth));
    t.links.push((near.clone(), far.clone()));
    let v6_too = p.chance(1, 2);
    let (gw_side, s) = match &port_of {
        Some(br) => {
            if let Some(Kind::Bridge { ports }) =
                t.iface_mut(&End::new(&x, br)).map(|i| &mut i.kind)
            {
                ports.insert(near.name.clone(), Port::default());
            }
            let b = End::new(&x, br);
            (b.clone(), subnet_for(t, p, &b, false).0)
        }
        None => {
            let s = t.fresh_subnet();
            address(t, p, &near, s, v6_too);
            (near.clone(), s)
        }
    };
    let mine = address(t, p, &far, s, v6_too);
    // A default route through the gateway side, when it has an address there.
    let gw = t
        .iface(&gw_side)
        .unwrap()
        .addrs
        .iter()
        .find(|a| a.addr().is_ipv4() && parts(**a).0 == s && a.prefix_len() == 24)
        .copied();
    if let (Some(gw), true) = (gw, p.chance(2, 3)) {
        if t.on_link(&name, gw.addr(), None) {
            t.nodes.get_mut(&name).unwrap().routes.push(Route {
                to: "0.0.0.0/0".parse().unwrap(),
                via: Some(gw.addr()),
                dev: None,
                metric: None,
                table: None,
            });
        }
    }
    Some(format!(
        "add node {name} linked to {near}{} with {}",
        port_of
            .map(|b| format!(" (a port of {b})"))
            .unwrap_or_default(),
        show(&mine)
    ))
}

fn del_node(t: &mut Topo, p: &mut Pick) -> Option<String> {
    if t.nodes.len() <= 2 {
        return None;
    }
    let names: Vec<String> = t.nodes.keys().cloned().collect();
    let n = p.one(&names)?;
    t.nodes.remove(&n);
    Some(format!("remove node {n}"))
}

fn add_link(t: &mut Topo, p: &mut Pick) -> Option<String> {
    let nodes = nodes_with_room(t, 1);
    let a = p.one(&nodes)?;
    let others: Vec<String> = nodes.into_iter().filter(|n| *n != a).collect();
    let b = p.one(&others)?;
    let ea = End::new(&a, &t.fresh_name("e"));
    let eb = End::new(&b, &t.fresh_name("e"));
    insert(t, &ea, Iface::new(Kind::Veth));
    insert(t, &eb, Iface::new(Kind::Veth));
    t.links.push((ea.clone(), eb.clone()));
    let s = t.fresh_subnet();
    let v6_too = p.chance(1, 2);
    let mut addrs = Vec::new();
    if !p.chance(1, 5) {
        addrs.extend(address(t, p, &ea, s, v6_too));
        addrs.extend(address(t, p, &eb, s, v6_too));
    }
    Some(format!("add link {ea} - {eb} with [{}]", show(&addrs)))
}

fn del_link(t: &mut Topo, p: &mut Pick) -> Option<String> {
    let (a, b) = p.one(&t.links)?;
    for e in [&a, &b] {
        t.nodes.get_mut(&e.node).unwrap().ifaces.remove(&e.name);
    }
    Some(format!("remove link {a} - {b}"))
}
