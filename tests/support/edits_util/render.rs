//! The model as a topology file (docs/format.md), and the base topologies
//! every edit sequence starts from.
use std::fmt::Write;
use std::net::IpAddr;

use ipnet::IpNet;

use super::model::*;

/// A YAML scalar for an address or prefix: IPv6 quoted (a plain scalar may
/// not start with `:`, and quoting all of them keeps one rule).
fn ip(a: impl std::fmt::Display) -> String {
    let s = a.to_string();
    if s.contains(':') {
        format!("'{s}'")
    } else {
        s
    }
}

fn table(t: u32) -> String {
    match t {
        254 => "main".into(),
        253 => "default".into(),
        n => n.to_string(),
    }
}

fn route(r: &Route) -> String {
    let mut f = Vec::new();
    let to = match r.to {
        IpNet::V4(n) if n.prefix_len() == 0 => "default".to_string(),
        // `default` means ::/0 only when `via` is IPv6.
        IpNet::V6(n) if n.prefix_len() == 0 && r.via.is_some() => "default".to_string(),
        n => ip(n),
    };
    f.push(format!("to: {to}"));
    if let Some(v) = r.via {
        f.push(format!("via: {}", ip(v)));
    }
    if let Some(d) = &r.dev {
        f.push(format!("dev: {d}"));
    }
    if let Some(m) = r.metric {
        f.push(format!("metric: {m}"));
    }
    if let Some(t) = r.table {
        f.push(format!("table: {}", table(t)));
    }
    format!("{{ {} }}", f.join(", "))
}

fn port(p: &Port) -> String {
    let mut f = Vec::new();
    if let Some(v) = p.cost {
        f.push(format!("cost: {v}"));
    }
    if let Some(v) = p.priority {
        f.push(format!("priority: {v}"));
    }
    for (k, v) in [
        ("learning", p.learning),
        ("flood", p.flood),
        ("hairpin", p.hairpin),
        ("isolated", p.isolated),
    ] {
        if let Some(v) = v {
            f.push(format!("{k}: {v}"));
        }
    }
    format!("{{ {} }}", f.join(", "))
}

fn iface(node: &str, i: &Iface) -> String {
    let mut f = Vec::new();
    match &i.kind {
        Kind::Veth => {}
        Kind::Bridge { ports } => {
            f.push("kind: bridge, stp: false".to_string());
            if !ports.is_empty() {
                let ps: Vec<String> = ports
                    .iter()
                    .map(|(n, p)| format!("{n}: {}", port(p)))
                    .collect();
                f.push(format!("ports: {{ {} }}", ps.join(", ")));
            }
        }
        Kind::Macvlan { lower, mode, tap } => {
            let kind = if *tap { "macvtap" } else { "macvlan" };
            let lower = if lower.node == node {
                lower.name.clone()
            } else {
                lower.to_string()
            };
            f.push(format!("kind: {kind}, lower: {lower}, mode: {}", mode.word()));
        }
        Kind::Vxlan {
            vni,
            local,
            remote,
            dev,
            dstport,
        } => f.push(format!(
            "kind: vxlan, vni: {vni}, local: {local}, remote: {remote}, dev: {dev}, dstport: {dstport}"
        )),
        Kind::Tun { tap, multi_queue } => {
            f.push(format!("kind: {}", if *tap { "tap" } else { "tun" }));
            if *multi_queue {
                f.push("multi_queue: true".into());
            }
        }
    }
    if let Some(m) = i.mtu {
        f.push(format!("mtu: {m}"));
    }
    if !i.addrs.is_empty() {
        let a: Vec<String> = i.addrs.iter().map(ip).collect();
        f.push(format!("addresses: [{}]", a.join(", ")));
    }
    format!("{{ {} }}", f.join(", "))
}

/// The topology file.
pub fn render(t: &Topo) -> String {
    let mut s = format!("name: {TOPO}\nnodes:\n");
    for (name, n) in &t.nodes {
        let empty = n.ifaces.is_empty()
            && n.routes.is_empty()
            && n.sysctl.is_empty()
            && n.forwarding.is_none()
            && n.nat.is_empty();
        if empty {
            writeln!(s, "  {name}: {{}}").unwrap();
            continue;
        }
        writeln!(s, "  {name}:").unwrap();
        if let Some(f) = n.forwarding {
            writeln!(s, "    forwarding: {f}").unwrap();
        }
        if !n.sysctl.is_empty() {
            let kv: Vec<String> = n.sysctl.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            writeln!(s, "    sysctl: {{ {} }}", kv.join(", ")).unwrap();
        }
        if !n.ifaces.is_empty() {
            writeln!(s, "    interfaces:").unwrap();
            for (iname, i) in &n.ifaces {
                writeln!(s, "      {iname}: {}", iface(name, i)).unwrap();
            }
        }
        if !n.routes.is_empty() {
            writeln!(s, "    routes:").unwrap();
            for r in &n.routes {
                writeln!(s, "      - {}", route(r)).unwrap();
            }
        }
        if !n.nat.is_empty() {
            writeln!(s, "    nat:").unwrap();
            for m in &n.nat {
                writeln!(
                    s,
                    "      - masquerade: {{ source: {}, out: {} }}",
                    ip(m.source),
                    m.out
                )
                .unwrap();
            }
        }
    }
    if !t.links.is_empty() {
        s.push_str("links:\n");
        for (a, b) in &t.links {
            writeln!(s, "  - [{a}, {b}]").unwrap();
        }
    }
    if !t.expect.is_empty() {
        s.push_str("expect:\n");
        for (from, to) in &t.expect {
            writeln!(s, "  - reach: {from} -> {to}").unwrap();
        }
    }
    s
}

/// The base topologies, by number (names in [`BASES`]).
pub const BASES: &[&str] = &["pair", "lan", "macvlan", "vxlan", "taps"];

fn veth(t: &mut Topo, a: (&str, &str), b: (&str, &str)) {
    for (n, i) in [a, b] {
        t.nodes
            .entry(n.into())
            .or_default()
            .ifaces
            .insert(i.into(), Iface::new(Kind::Veth));
    }
    t.links.push((End::new(a.0, a.1), End::new(b.0, b.1)));
}

fn addr(t: &mut Topo, n: &str, i: &str, a: IpNet) {
    t.iface_mut(&End::new(n, i)).unwrap().addrs.push(a);
}

fn rt(t: &mut Topo, n: &str, to: &str, via: Option<&str>, dev: Option<&str>) -> usize {
    let routes = &mut t.nodes.get_mut(n).unwrap().routes;
    routes.push(Route {
        to: to.parse().unwrap(),
        via: via.map(|v| v.parse::<IpAddr>().unwrap()),
        dev: dev.map(String::from),
        metric: None,
        table: None,
    });
    routes.len() - 1
}

/// Base topology `i` (modulo their number).
pub fn base(i: usize) -> Topo {
    // Fresh names (`p11`, `e12`) start above the bases' own (`p1`, `p2`).
    let mut t = Topo {
        fresh: 10,
        ..Default::default()
    };
    match i % BASES.len() {
        // Two nodes on a veth, both families, defaults through each other.
        0 => {
            veth(&mut t, ("a", "eth0"), ("b", "eth0"));
            addr(&mut t, "a", "eth0", v4(1, 1, 24));
            addr(&mut t, "a", "eth0", v6(1, 1, 64));
            addr(&mut t, "b", "eth0", v4(1, 2, 24));
            addr(&mut t, "b", "eth0", v6(1, 2, 64));
            rt(&mut t, "a", "0.0.0.0/0", Some("10.1.0.2"), None);
            rt(&mut t, "a", "::/0", Some("fd00:0:0:1::2"), None);
            let r = rt(&mut t, "b", "172.16.0.0/24", Some("10.1.0.1"), None);
            t.nodes.get_mut("b").unwrap().routes[r].metric = Some(10);
        }
        // A LAN: a bridge with the gateway address, two hosts on its ports,
        // an uplink with NAT.
        1 => {
            let mut ports = std::collections::BTreeMap::new();
            ports.insert(
                "p1".to_string(),
                Port {
                    cost: Some(10),
                    ..Default::default()
                },
            );
            ports.insert("p2".to_string(), Port::default());
            t.nodes
                .entry("gw".into())
                .or_default()
                .ifaces
                .insert("br0".into(), Iface::new(Kind::Bridge { ports }));
            addr(&mut t, "gw", "br0", v4(2, 1, 24));
            addr(&mut t, "gw", "br0", v6(2, 1, 64));
            veth(&mut t, ("gw", "p1"), ("c1", "eth0"));
            veth(&mut t, ("gw", "p2"), ("c2", "eth0"));
            veth(&mut t, ("gw", "up0"), ("isp", "eth0"));
            addr(&mut t, "c1", "eth0", v4(2, 11, 24));
            addr(&mut t, "c2", "eth0", v4(2, 12, 24));
            addr(&mut t, "c2", "eth0", v6(2, 12, 64));
            addr(&mut t, "gw", "up0", v4(3, 1, 24));
            addr(&mut t, "isp", "eth0", v4(3, 2, 24));
            rt(&mut t, "c1", "0.0.0.0/0", Some("10.2.0.1"), None);
            rt(&mut t, "c2", "0.0.0.0/0", Some("10.2.0.1"), None);
            rt(&mut t, "c2", "::/0", Some("fd00:0:0:2::1"), None);
            let gw = t.nodes.get_mut("gw").unwrap();
            gw.forwarding = Some(true);
            gw.nat.push(Nat {
                source: "10.2.0.0/24".parse().unwrap(),
                out: "up0".into(),
            });
        }
        // macvlans in bridge and private mode on two stand-in uplinks.
        2 => {
            veth(&mut t, ("wire", "eth0"), ("sink", "up0"));
            veth(&mut t, ("wire", "eth1"), ("sink", "up1"));
            addr(&mut t, "sink", "up0", v4(4, 50, 24));
            addr(&mut t, "sink", "up1", v4(5, 50, 24));
            addr(&mut t, "sink", "up1", v6(5, 50, 64));
            for (n, lower, mode, a) in [
                ("a", "eth0", Mode::Bridge, v4(4, 1, 24)),
                ("b", "eth0", Mode::Bridge, v4(4, 2, 24)),
                ("c", "eth1", Mode::Private, v4(5, 1, 24)),
            ] {
                let mut i = Iface::new(Kind::Macvlan {
                    lower: End::new("wire", lower),
                    mode,
                    tap: false,
                });
                i.addrs.push(a);
                t.nodes
                    .entry(n.into())
                    .or_default()
                    .ifaces
                    .insert("mv0".into(), i);
            }
            addr(&mut t, "c", "mv0", v6(5, 1, 64));
            rt(&mut t, "c", "0.0.0.0/0", Some("10.5.0.50"), None);
        }
        // A VXLAN overlay over a veth underlay.
        3 => {
            veth(&mut t, ("a", "eth0"), ("b", "eth0"));
            addr(&mut t, "a", "eth0", v4(6, 1, 24));
            addr(&mut t, "b", "eth0", v4(6, 2, 24));
            for (n, local, remote, h) in [("a", 1, 2, 1), ("b", 2, 1, 2)] {
                let mut i = Iface::new(Kind::Vxlan {
                    vni: 100,
                    local: format!("10.6.0.{local}").parse().unwrap(),
                    remote: format!("10.6.0.{remote}").parse().unwrap(),
                    dev: "eth0".into(),
                    dstport: 4789,
                });
                i.addrs.push(v4(7, h, 24));
                i.addrs.push(v6(7, h, 64));
                t.nodes.get_mut(n).unwrap().ifaces.insert("vx0".into(), i);
            }
            let r = rt(&mut t, "a", "172.16.1.0/24", Some("10.7.0.2"), None);
            t.nodes.get_mut("a").unwrap().routes[r].table = Some(100);
        }
        // tun and tap devices, and three addresses in one subnet.
        _ => {
            veth(&mut t, ("t", "eth0"), ("u", "eth0"));
            for h in [1, 11, 12] {
                addr(&mut t, "t", "eth0", v4(10, h, 24));
            }
            addr(&mut t, "u", "eth0", v4(10, 2, 24));
            let node = t.nodes.get_mut("t").unwrap();
            let mut tap = Iface::new(Kind::Tun {
                tap: true,
                multi_queue: false,
            });
            tap.addrs.push(v4(8, 1, 24));
            node.ifaces.insert("tap0".into(), tap);
            let mut tun = Iface::new(Kind::Tun {
                tap: false,
                multi_queue: false,
            });
            tun.addrs.push(v6(9, 1, 64));
            node.ifaces.insert("tun0".into(), tun);
            node.sysctl
                .insert("net.ipv4.conf.all.rp_filter".into(), "1".into());
            rt(&mut t, "t", "0.0.0.0/0", Some("10.10.0.2"), None);
            rt(&mut t, "t", "172.16.2.0/24", None, Some("tun0"));
        }
    }
    t
}
