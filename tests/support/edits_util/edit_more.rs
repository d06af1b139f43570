//! The edits of devices (bridges and their ports, macvlans, MTUs, tun/tap,
//! vxlan) and of sysctls and NAT; see edit.rs.
use ipnet::IpNet;

use super::claims;
use super::edit::*;
use super::model::*;

/// Global sysctls an edit may set, with their values.
pub const SYSCTLS: &[(&str, &[&str])] = &[
    ("net.ipv4.ip_forward", &["0", "1"]),
    ("net.ipv6.conf.all.forwarding", &["0", "1"]),
    ("net.ipv4.conf.all.rp_filter", &["0", "1", "2"]),
    ("net.ipv4.icmp_ratelimit", &["0", "500", "1000"]),
    ("net.ipv4.conf.default.arp_announce", &["0", "1", "2"]),
];

/// The per-interface sysctl an edit may set (`net.ipv4.conf.IF.arp_ignore`).
pub const ARP_IGNORE: &[&str] = &["0", "1", "2"];

/// MTUs an edit may set; not below 1400, so that a vxlan made over any
/// device gets at least the 1280 bytes IPv6 needs (1280 for tun/tap only).
const MTUS: &[u32] = &[1400, 1450, 1500, 4000, 9000];

fn bridges(t: &Topo) -> Vec<End> {
    t.ends()
        .into_iter()
        .filter(|e| matches!(t.iface(e).unwrap().kind, Kind::Bridge { .. }))
        .collect()
}

fn ports_mut<'a>(t: &'a mut Topo, br: &End) -> &'a mut std::collections::BTreeMap<String, Port> {
    match &mut t.iface_mut(br).unwrap().kind {
        Kind::Bridge { ports } => ports,
        _ => unreachable!("not a bridge"),
    }
}

fn all_ports(t: &Topo) -> Vec<(End, String)> {
    bridges(t)
        .into_iter()
        .flat_map(|b| match &t.iface(&b).unwrap().kind {
            Kind::Bridge { ports } => ports.keys().map(|p| (b.clone(), p.clone())).collect(),
            _ => Vec::new(),
        })
        .collect()
}

fn random_port(p: &mut Pick) -> Port {
    if p.chance(1, 2) {
        return Port::default();
    }
    Port {
        cost: p.one(&[None, Some(5), Some(100)]).unwrap(),
        priority: p.one(&[None, Some(0), Some(32), Some(63)]).unwrap(),
        learning: p.one(&[None, None, Some(true), Some(false)]).unwrap(),
        flood: p.one(&[None, None, Some(true), Some(false)]).unwrap(),
        hairpin: p.one(&[None, None, Some(true), Some(false)]).unwrap(),
        isolated: p.one(&[None, None, Some(true), Some(false)]).unwrap(),
    }
}

pub(super) fn add_bridge(t: &mut Topo, p: &mut Pick) -> Option<String> {
    let node = p.one(&nodes_with_room(t, 1))?;
    let br = End::new(&node, &t.fresh_name("br"));
    let mut ports = std::collections::BTreeMap::new();
    let free = free_ends(t, &node);
    for f in free.iter().take(p.below(3)) {
        ports.insert(f.clone(), random_port(p));
    }
    let names: Vec<String> = ports.keys().cloned().collect();
    insert(t, &br, Iface::new(Kind::Bridge { ports }));
    let s = t.fresh_subnet();
    let v6_too = p.chance(1, 2);
    let a = if p.chance(3, 4) {
        address(t, p, &br, s, v6_too)
    } else {
        Vec::new()
    };
    Some(format!(
        "add bridge {br} with ports {names:?} and [{}]",
        show(&a)
    ))
}

pub(super) fn del_bridge(t: &mut Topo, p: &mut Pick) -> Option<String> {
    let br = p.one(&bridges(t))?;
    t.nodes.get_mut(&br.node).unwrap().ifaces.remove(&br.name);
    Some(format!(
        "remove bridge {br} (its ports stay, as plain veth ends)"
    ))
}

pub(super) fn add_port(t: &mut Topo, p: &mut Pick) -> Option<String> {
    let cands: Vec<End> = bridges(t)
        .into_iter()
        .filter(|b| nodes_with_room(t, 1).contains(&b.node) || !free_ends(t, &b.node).is_empty())
        .collect();
    let br = p.one(&cands)?;
    let opts = random_port(p);
    let free = free_ends(t, &br.node);
    if !free.is_empty() && p.chance(1, 2) {
        let f = p.one(&free).unwrap();
        ports_mut(t, &br).insert(f.clone(), opts.clone());
        return Some(format!("make {}/{f} a port of {br} {opts:?}", br.node));
    }
    if !nodes_with_room(t, 1).contains(&br.node) {
        return None;
    }
    let others: Vec<String> = nodes_with_room(t, 1)
        .into_iter()
        .filter(|n| *n != br.node)
        .collect();
    let far_node = p.one(&others)?;
    let near = End::new(&br.node, &t.fresh_name("p"));
    let far = End::new(&far_node, &t.fresh_name("e"));
    insert(t, &near, Iface::new(Kind::Veth));
    insert(t, &far, Iface::new(Kind::Veth));
    t.links.push((near.clone(), far.clone()));
    ports_mut(t, &br).insert(near.name.clone(), opts.clone());
    let (s, _) = subnet_for(t, p, &br, false);
    let v6_too = p.chance(1, 3);
    let a = address(t, p, &far, s, v6_too);
    Some(format!(
        "add port {near} {opts:?} to {br}, linked to {far} with [{}]",
        show(&a)
    ))
}

pub(super) fn del_port(t: &mut Topo, p: &mut Pick) -> Option<String> {
    let (br, port) = p.one(&all_ports(t))?;
    ports_mut(t, &br).remove(&port);
    if p.chance(1, 2) {
        return Some(format!("release port {}/{port} from {br}", br.node));
    }
    t.nodes.get_mut(&br.node).unwrap().ifaces.remove(&port);
    Some(format!(
        "remove port {}/{port} of {br} and its link",
        br.node
    ))
}

pub(super) fn port_opt(t: &mut Topo, p: &mut Pick) -> Option<String> {
    let (br, port) = p.one(&all_ports(t))?;
    let o = ports_mut(t, &br).get_mut(&port).unwrap();
    let before = o.clone();
    let bools = [None, Some(true), Some(false)];
    let pick_other = |p: &mut Pick, cur: Option<u32>, xs: &[Option<u32>]| -> Option<u32> {
        let xs: Vec<Option<u32>> = xs.iter().copied().filter(|x| *x != cur).collect();
        p.one(&xs).unwrap()
    };
    let pick_bool = |p: &mut Pick, cur: Option<bool>| -> Option<bool> {
        let xs: Vec<Option<bool>> = bools.iter().copied().filter(|x| *x != cur).collect();
        p.one(&xs).unwrap()
    };
    match p.below(6) {
        0 => o.cost = pick_other(p, o.cost, &[None, Some(5), Some(100), Some(2000)]),
        1 => o.priority = pick_other(p, o.priority, &[None, Some(0), Some(32), Some(63)]),
        2 => o.learning = pick_bool(p, o.learning),
        3 => o.flood = pick_bool(p, o.flood),
        4 => o.hairpin = pick_bool(p, o.hairpin),
        _ => o.isolated = pick_bool(p, o.isolated),
    }
    let after = o.clone();
    Some(format!(
        "port {}/{port} of {br}: {before:?} -> {after:?}",
        br.node
    ))
}

// ---- macvlan ----

fn macvlans(t: &Topo) -> Vec<End> {
    t.ends()
        .into_iter()
        .filter(|e| matches!(t.iface(e).unwrap().kind, Kind::Macvlan { .. }))
        .collect()
}

/// Whether `m` may be in passthru mode: alone on a veth lower.
fn passthru_ok(t: &Topo, m: &End, lower: &End) -> bool {
    t.iface(lower).is_some_and(|l| l.kind == Kind::Veth)
        && t.macvlans_on(lower).iter().all(|(x, _)| x == m)
}

pub(super) fn macvlan_mode(t: &mut Topo, p: &mut Pick) -> Option<String> {
    let m = p.one(&macvlans(t))?;
    let Kind::Macvlan { lower, mode, .. } = t.iface(&m).unwrap().kind.clone() else {
        unreachable!()
    };
    let modes: Vec<Mode> = [Mode::Bridge, Mode::Private, Mode::Vepa, Mode::Passthru]
        .into_iter()
        .filter(|x| *x != mode && (*x != Mode::Passthru || passthru_ok(t, &m, &lower)))
        .collect();
    let new = p.one(&modes)?;
    if let Kind::Macvlan { mode, .. } = &mut t.iface_mut(&m).unwrap().kind {
        *mode = new;
    }
    Some(format!(
        "macvlan {m}: mode {} -> {}",
        mode.word(),
        new.word()
    ))
}

pub(super) fn add_macvlan(t: &mut Topo, p: &mut Pick) -> Option<String> {
    let lowers: Vec<End> = t
        .ends()
        .into_iter()
        .filter(|e| {
            let i = t.iface(e).unwrap();
            let ok_kind = (i.kind == Kind::Veth && t.master(e).is_none())
                || matches!(i.kind, Kind::Bridge { .. });
            let on = t.macvlans_on(e);
            ok_kind && on.len() < 3 && on.iter().all(|(_, m)| *m != Mode::Passthru)
        })
        .collect();
    let lower = p.one(&lowers)?;
    let room = nodes_with_room(t, 1);
    let node = if p.chance(1, 2) && room.contains(&lower.node) {
        lower.node.clone()
    } else {
        p.one(&room)?
    };
    let m = End::new(&node, &t.fresh_name("mv"));
    let mut mode = p
        .one(&[
            Mode::Bridge,
            Mode::Bridge,
            Mode::Private,
            Mode::Vepa,
            Mode::Passthru,
        ])
        .unwrap();
    if mode == Mode::Passthru && !passthru_ok(t, &m, &lower) {
        mode = Mode::Bridge;
    }
    let tap = p.chance(1, 5);
    insert(
        t,
        &m,
        Iface::new(Kind::Macvlan {
            lower: lower.clone(),
            mode,
            tap,
        }),
    );
    let (s, _) = subnet_for(t, p, &lower, false);
    let v6_too = p.chance(1, 3);
    let a = address(t, p, &m, s, v6_too);
    Some(format!(
        "add {} {m} mode {} on {lower} with [{}]",
        if tap { "macvtap" } else { "macvlan" },
        mode.word(),
        show(&a)
    ))
}

pub(super) fn del_macvlan(t: &mut Topo, p: &mut Pick) -> Option<String> {
    let m = p.one(&macvlans(t))?;
    t.nodes.get_mut(&m.node).unwrap().ifaces.remove(&m.name);
    Some(format!("remove macvlan {m}"))
}

// ---- MTU ----

/// Whether `e` may have MTU `m` (None: unset) as validate judges it, with
/// an explicit MTU on a macvlan or vxlan only over a lower whose MTU the
/// file sets too (an unset one counts as 1500 in validate, whatever the
/// kernel has).
fn mtu_ok(t: &Topo, e: &End, m: Option<u32>) -> bool {
    let i = t.iface(e).unwrap();
    let eff = m.unwrap_or(1500);
    let fits = match &i.kind {
        Kind::Macvlan { lower, .. } => {
            m.is_none() || t.iface(lower).and_then(|l| l.mtu).is_some_and(|l| eff <= l)
        }
        Kind::Vxlan { dev, .. } => {
            let d = t.iface(&End::new(&e.node, dev)).and_then(|l| l.mtu);
            m.is_none() || d.is_some_and(|d| eff + 50 <= d)
        }
        _ => true,
    };
    let under = t.stacked_on(e).into_iter().all(|s| {
        let sm = t.iface(&s).unwrap().mtu;
        match (&t.iface(&s).unwrap().kind, sm) {
            (_, Some(_)) if m.is_none() => false,
            (Kind::Macvlan { .. }, Some(x)) => eff >= x,
            (Kind::Vxlan { .. }, Some(x)) => eff >= x + 50,
            _ => true,
        }
    });
    fits && under
}

pub(super) fn mtu(t: &mut Topo, p: &mut Pick) -> Option<String> {
    let e = p.one(&t.ends())?;
    let i = t.iface(&e).unwrap();
    let cur = i.mtu;
    let mut values: Vec<Option<u32>> = MTUS.iter().map(|m| Some(*m)).collect();
    if matches!(i.kind, Kind::Tun { .. }) {
        values.push(Some(1280));
    }
    values.push(None);
    let values: Vec<Option<u32>> = values
        .into_iter()
        .filter(|v| *v != cur && mtu_ok(t, &e, *v))
        .collect();
    let new = p.one(&values)?;
    t.iface_mut(&e).unwrap().mtu = new;
    Some(format!("{e}: mtu {cur:?} -> {new:?}"))
}

// ---- sysctl and NAT ----

pub(super) fn sysctl(t: &mut Topo, p: &mut Pick) -> Option<String> {
    let names: Vec<String> = t.nodes.keys().cloned().collect();
    let node = p.one(&names)?;
    let ifaces: Vec<String> = t.nodes[&node].ifaces.keys().cloned().collect();
    let which = p.below(SYSCTLS.len() + 2);
    let n = t.nodes.get_mut(&node).unwrap();
    if which == 0 {
        let all = [None, Some(true), Some(false)];
        let others: Vec<Option<bool>> = all.into_iter().filter(|f| *f != n.forwarding).collect();
        let before = n.forwarding;
        n.forwarding = p.one(&others).unwrap();
        return Some(format!(
            "{node}: forwarding {before:?} -> {:?}",
            n.forwarding
        ));
    }
    let (key, values): (String, &[&str]) = match (which - 1 < SYSCTLS.len(), p.one(&ifaces)) {
        (true, _) | (false, None) => {
            let (k, v) = SYSCTLS[(which - 1) % SYSCTLS.len()];
            (k.to_string(), v)
        }
        (false, Some(i)) => (format!("net.ipv4.conf.{i}.arp_ignore"), ARP_IGNORE),
    };
    let cur = n.sysctl.get(&key).cloned();
    let mut opts: Vec<Option<String>> = values.iter().map(|v| Some(v.to_string())).collect();
    opts.push(None);
    opts.retain(|o| *o != cur);
    let new = p.one(&opts).unwrap();
    match &new {
        Some(v) => n.sysctl.insert(key.clone(), v.clone()),
        None => n.sysctl.remove(&key),
    };
    Some(format!("{node}: sysctl {key} {cur:?} -> {new:?}"))
}

pub(super) fn nat(t: &mut Topo, p: &mut Pick) -> Option<String> {
    let names: Vec<String> = t.nodes.keys().cloned().collect();
    let node = p.one(&names)?;
    let outs = devs(t, &node);
    let op = p.below(3);
    let s = t.fresh_subnet();
    let n = t.nodes.get_mut(&node).unwrap();
    match op {
        0 if n.nat.len() < 3 => {
            let mut sources: Vec<IpNet> = n
                .ifaces
                .values()
                .flat_map(|i| &i.addrs)
                .map(|a| a.trunc())
                .collect();
            sources.push(format!("10.{s}.0.0/16").parse().unwrap());
            let m = Nat {
                source: p.one(&sources).unwrap(),
                out: p.one(&outs)?,
            };
            if n.nat.contains(&m) {
                return None;
            }
            let desc = format!("{node}: add nat {} out {}", m.source, m.out);
            n.nat.push(m);
            Some(desc)
        }
        1 if !n.nat.is_empty() => {
            let i = p.below(n.nat.len());
            let m = n.nat.remove(i);
            Some(format!("{node}: remove nat {} out {}", m.source, m.out))
        }
        2 if !n.nat.is_empty() => {
            let i = p.below(n.nat.len());
            let old = n.nat[i].out.clone();
            let others: Vec<String> = outs.into_iter().filter(|o| *o != old).collect();
            let new = p.one(&others)?;
            let m = Nat {
                source: n.nat[i].source,
                out: new.clone(),
            };
            if n.nat.contains(&m) {
                return None;
            }
            n.nat[i] = m;
            Some(format!(
                "{node}: nat {} out {old} -> {new}",
                n.nat[i].source
            ))
        }
        _ => None,
    }
}

// ---- tun/tap and vxlan ----

pub(super) fn add_tun(t: &mut Topo, p: &mut Pick) -> Option<String> {
    let node = p.one(&nodes_with_room(t, 1))?;
    let tap = p.chance(1, 2);
    let e = End::new(&node, &t.fresh_name(if tap { "tp" } else { "tn" }));
    let multi_queue = p.chance(1, 4);
    insert(t, &e, Iface::new(Kind::Tun { tap, multi_queue }));
    let s = t.fresh_subnet();
    let v6_too = p.chance(1, 3);
    let a = if p.chance(2, 3) {
        address(t, p, &e, s, v6_too)
    } else {
        Vec::new()
    };
    Some(format!(
        "add {} {e}{} with [{}]",
        if tap { "tap" } else { "tun" },
        if multi_queue { " (multi_queue)" } else { "" },
        show(&a)
    ))
}

fn of_kind(t: &Topo, f: fn(&Kind) -> bool) -> Vec<End> {
    t.ends()
        .into_iter()
        .filter(|e| f(&t.iface(e).unwrap().kind))
        .collect()
}

pub(super) fn del_tun(t: &mut Topo, p: &mut Pick) -> Option<String> {
    let e = p.one(&of_kind(t, |k| matches!(k, Kind::Tun { .. })))?;
    t.nodes.get_mut(&e.node).unwrap().ifaces.remove(&e.name);
    Some(format!("remove tun/tap {e}"))
}

pub(super) fn add_vxlan(t: &mut Topo, p: &mut Pick) -> Option<String> {
    let room = nodes_with_room(t, 1);
    let l2 = claims::l2(t);
    let mut cands = Vec::new();
    for (x, y) in &t.links {
        if x.node == y.node || !room.contains(&x.node) || !room.contains(&y.node) {
            continue;
        }
        if !l2.talk(x, y) {
            continue;
        }
        for a in &t.iface(x).unwrap().addrs {
            for b in &t.iface(y).unwrap().addrs {
                if let (IpNet::V4(a4), IpNet::V4(b4)) = (a, b) {
                    if a4.trunc() == b4.trunc() && a4.prefix_len() == b4.prefix_len() && a != b {
                        cands.push((x.clone(), a4.addr(), y.clone(), b4.addr()));
                    }
                }
            }
        }
    }
    let (x, la, y, lb) = p.one(&cands)?;
    let vni = 100 + t.next();
    let dstport = p.one(&[4789, 4789, 4790]).unwrap();
    let s = t.fresh_subnet();
    let v6_too = p.chance(1, 2);
    let mut made = Vec::new();
    for (u, local, remote) in [(&x, la, lb), (&y, lb, la)] {
        let v = End::new(&u.node, &t.fresh_name("vx"));
        insert(
            t,
            &v,
            Iface::new(Kind::Vxlan {
                vni,
                local,
                remote,
                dev: u.name.clone(),
                dstport,
            }),
        );
        let a = address(t, p, &v, s, v6_too);
        made.push(format!("{v} over {u} [{}]", show(&a)));
    }
    Some(format!(
        "add vxlan vni {vni} port {dstport}: {}",
        made.join(" and ")
    ))
}

pub(super) fn del_vxlan(t: &mut Topo, p: &mut Pick) -> Option<String> {
    let e = p.one(&of_kind(t, |k| matches!(k, Kind::Vxlan { .. })))?;
    t.nodes.get_mut(&e.node).unwrap().ifaces.remove(&e.name);
    Some(format!("remove vxlan {e}"))
}
