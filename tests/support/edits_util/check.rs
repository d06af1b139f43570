//! The kernel state a model asks for, compared with the state iproute2, nft
//! and /proc/sys show (tests/support/kstate). Each difference is one line that
//! starts with its category in brackets (`[route]`, `[address]` ...), which
//! shrinking uses to tell one failure from another.
use std::collections::{BTreeMap, BTreeSet};

use crate::kstate::{self, World};

use super::edit_more::SYSCTLS;
use super::model::*;

/// The sysctl keys read in every namespace (globs allowed).
pub fn keys() -> Vec<String> {
    let mut k: Vec<String> = SYSCTLS.iter().map(|(k, _)| k.to_string()).collect();
    k.push("net.ipv4.conf.*.arp_ignore".into());
    k
}

/// What a namespace netloom made holds before any edit: the defaults an
/// unset key is put back to.
pub fn default_keys() -> Vec<String> {
    let mut k: Vec<String> = SYSCTLS.iter().map(|(k, _)| k.to_string()).collect();
    k.push("net.ipv4.conf.default.arp_ignore".into());
    k
}

fn expected_sysctl(n: &Node, key: &str, defaults: &BTreeMap<String, String>) -> Option<String> {
    if let Some(v) = n.sysctl.get(key) {
        return Some(v.clone());
    }
    let forwarding = key == "net.ipv4.ip_forward" || key == "net.ipv6.conf.all.forwarding";
    if let (true, Some(f)) = (forwarding, n.forwarding) {
        return Some(if f { "1" } else { "0" }.into());
    }
    match iface_of_key(key) {
        Some(_) => defaults.get("net.ipv4.conf.default.arp_ignore").cloned(),
        None => defaults.get(key).cloned(),
    }
}

/// The differences between what `t` asks for and what the kernel has.
pub fn diff(t: &Topo, w: &World, defaults: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    let want_ns: BTreeSet<String> = t.nodes.keys().map(|n| kstate::netns(TOPO, n)).collect();
    if want_ns != w.netns {
        out.push(format!(
            "[netns] namespaces: file {want_ns:?}, kernel {:?}",
            w.netns
        ));
    }
    let host: Vec<&String> = w.host.links.keys().filter(|l| *l != "lo").collect();
    if !host.is_empty() {
        out.push(format!("[host] links left in the sandbox itself: {host:?}"));
    }
    for (name, n) in &t.nodes {
        let Some(ns) = w.ns.get(&kstate::netns(TOPO, name)) else {
            continue;
        };
        node(t, name, n, ns, w, defaults, &mut out);
    }
    out
}

fn node(
    t: &Topo,
    name: &str,
    n: &Node,
    ns: &kstate::Ns,
    w: &World,
    defaults: &BTreeMap<String, String>,
    out: &mut Vec<String>,
) {
    let mut want: BTreeSet<&str> = n.ifaces.keys().map(String::as_str).collect();
    want.insert("lo");
    let have: BTreeSet<&str> = ns.links.keys().map(String::as_str).collect();
    for l in want.difference(&have) {
        out.push(format!("[link] {name}/{l}: missing"));
    }
    for l in have.difference(&want) {
        out.push(format!("[link] {name}/{l}: not in the file"));
    }
    if ns.links.get("lo").is_some_and(|l| !l.up) {
        out.push(format!("[link] {name}/lo: down"));
    }
    for (iname, i) in &n.ifaces {
        if let Some(k) = ns.links.get(iname) {
            link(t, &End::new(name, iname), i, k, ns, w, out);
        }
    }
    routes(name, n, ns, out);
    for key in ns.sysctl.keys() {
        // The global keys edits set, and arp_ignore of the node's interfaces
        // (not of all, default or lo).
        let global = SYSCTLS.iter().any(|(k, _)| k == key);
        let mine = iface_of_key(key).is_some_and(|i| n.ifaces.contains_key(&i));
        if !global && !mine {
            continue;
        }
        let want = expected_sysctl(n, key, defaults);
        if want.as_ref() != ns.sysctl.get(key) {
            out.push(format!(
                "[sysctl] {name}: {key} = {:?}, the file says {want:?}",
                ns.sysctl[key]
            ));
        }
    }
    for (k, _) in SYSCTLS {
        if !ns.sysctl.contains_key(*k) {
            out.push(format!("[sysctl] {name}: {k} unreadable"));
        }
    }
    let table = format!("netloom-{TOPO}");
    let want: BTreeSet<(String, String)> = n
        .nat
        .iter()
        .map(|m| (m.source.to_string(), m.out.clone()))
        .collect();
    let have = ns.nat.get(&table).cloned().unwrap_or_default();
    if want != have {
        out.push(format!(
            "[nat] {name}: masquerade rules {have:?}, the file says {want:?}"
        ));
    }
    for other in ns.nat.keys().filter(|k| **k != table) {
        out.push(format!("[nat] {name}: unexpected nft table {other}"));
    }
}

/// The name of the link `ifindex` in namespace `netnsid` as seen from `ns`.
fn peer_name(ns: &kstate::Ns, w: &World, netnsid: Option<i64>, index: Option<u64>) -> String {
    let Some(other) = netnsid.and_then(|id| ns.nsids.get(&id)) else {
        return "?".into();
    };
    let name = w.ns.get(other).and_then(|o| {
        o.links
            .iter()
            .find(|(_, l)| Some(l.ifindex) == index)
            .map(|(n, _)| n.clone())
    });
    format!(
        "{}/{}",
        other.rsplit('.').next().unwrap_or(other),
        name.unwrap_or_else(|| "?".into())
    )
}

fn link(
    t: &Topo,
    e: &End,
    i: &Iface,
    k: &kstate::Link,
    ns: &kstate::Ns,
    w: &World,
    out: &mut Vec<String>,
) {
    let mut bad = |cat: &str, what: String| out.push(format!("[{cat}] {e}: {what}"));
    let kind = match &i.kind {
        Kind::Veth => "veth",
        Kind::Bridge { .. } => "bridge",
        Kind::Macvlan { tap: false, .. } => "macvlan",
        Kind::Macvlan { tap: true, .. } => "macvtap",
        Kind::Vxlan { .. } => "vxlan",
        Kind::Tun { .. } => "tun",
    };
    if k.kind != kind {
        bad("link", format!("kind {}, the file says {kind}", k.kind));
        return;
    }
    if !k.up {
        bad("link", "down".into());
    }
    if let Some(m) = i.mtu {
        if k.mtu != u64::from(m) {
            bad("mtu", format!("mtu {}, the file says {m}", k.mtu));
        }
    }
    let want_addrs: BTreeSet<String> = i.addrs.iter().map(|a| a.to_string()).collect();
    if want_addrs != k.addrs {
        let missing: Vec<&String> = want_addrs.difference(&k.addrs).collect();
        let extra: Vec<&String> = k.addrs.difference(&want_addrs).collect();
        bad(
            "address",
            format!("addresses missing {missing:?}, not in the file {extra:?}"),
        );
    }
    if !k.dadfailed.is_empty() {
        bad("address", format!("DAD failed for {:?}", k.dadfailed));
    }
    let master = t.master(e);
    if master.as_ref().map(|m| &m.0) != k.master.as_ref() {
        bad(
            "port",
            format!(
                "master {:?}, the file says {:?}",
                k.master,
                master.as_ref().map(|m| &m.0)
            ),
        );
    }
    if let Some((_, p)) = master {
        let s = &k.slave;
        let num = |f: &str| s[f].as_u64().map(|v| v as u32);
        for (f, want, have) in [
            ("cost", p.cost, num("cost")),
            ("priority", p.priority, num("priority")),
        ] {
            if want.is_some() && want != have {
                bad("port", format!("{f} {have:?}, the file says {want:?}"));
            }
        }
        for (f, want) in [
            ("learning", p.learning),
            ("flood", p.flood),
            ("hairpin", p.hairpin),
            ("isolated", p.isolated),
        ] {
            if want.is_some() && want != s[f].as_bool() {
                bad("port", format!("{f} {}, the file says {want:?}", s[f]));
            }
        }
    }
    match &i.kind {
        Kind::Veth => {
            let peer = t.peer(e).map(|p| p.to_string()).unwrap_or_default();
            let have = peer_name(ns, w, k.link_netnsid, k.link_index);
            if have != peer {
                bad("link", format!("veth peer {have}, the file says {peer}"));
            }
        }
        Kind::Bridge { .. } => {
            if k.info["stp_state"].as_u64() != Some(0) {
                bad("link", format!("stp_state {}", k.info["stp_state"]));
            }
        }
        Kind::Macvlan { lower, mode, .. } => {
            if k.info["mode"].as_str() != Some(mode.word()) {
                bad(
                    "mode",
                    format!("mode {}, the file says {}", k.info["mode"], mode.word()),
                );
            }
            let have = match &k.link {
                Some(l) => format!("{}/{l}", e.node),
                None => peer_name(ns, w, k.link_netnsid, k.link_index),
            };
            if have != lower.to_string() {
                bad("link", format!("lower {have}, the file says {lower}"));
            }
        }
        Kind::Vxlan {
            vni,
            local,
            remote,
            dev,
            dstport,
        } => {
            let d = &k.info;
            let same = d["id"].as_u64() == Some(u64::from(*vni))
                && d["local"].as_str() == Some(&local.to_string())
                && d["remote"].as_str() == Some(&remote.to_string())
                && d["port"].as_u64() == Some(u64::from(*dstport))
                && d["link"].as_str() == Some(dev.as_str());
            if !same {
                bad("link", format!("vxlan {d}, the file says vni {vni} local {local} remote {remote} dev {dev} port {dstport}"));
            }
        }
        Kind::Tun { tap, multi_queue } => {
            let want = if *tap { "tap" } else { "tun" };
            if k.info["type"].as_str() != Some(want)
                || k.info["multi_queue"].as_bool() != Some(*multi_queue)
            {
                bad(
                    "link",
                    format!(
                        "tun data {}, the file says {want} multi_queue {multi_queue}",
                        k.info
                    ),
                );
            }
        }
    }
}

fn routes(name: &str, n: &Node, ns: &kstate::Ns, out: &mut Vec<String>) {
    let mut have: Vec<kstate::Route> = ns.routes.clone();
    let mut missing = Vec::new();
    for r in &n.routes {
        let v6 = r.to.addr().is_ipv6();
        // IPv6 has no metric 0: the kernel makes 0 (and none) its user
        // default 1024 (ip6_route_info_create).
        let metric = match (r.metric, v6) {
            (None | Some(0), true) => 1024,
            (m, _) => u64::from(m.unwrap_or(0)),
        };
        let found = have.iter().position(|k| {
            k.v6 == v6
                && k.dst == r.to.trunc().to_string()
                && k.table == r.table_id()
                && k.metric == metric
                && k.gateway == r.via.map(|v| v.to_string())
                && r.dev.as_ref().is_none_or(|d| k.dev.as_ref() == Some(d))
        });
        match found {
            Some(i) => {
                have.remove(i);
            }
            None => missing.push(r.to_string()),
        }
    }
    if !missing.is_empty() {
        out.push(format!("[route] {name}: missing {missing:?}"));
    }
    if !have.is_empty() {
        let extra: Vec<String> = have.iter().map(|r| r.to_string()).collect();
        out.push(format!("[route] {name}: not in the file {extra:?}"));
    }
}
