//! From a topology (and the kernel's state) to a [`Graph`].
use std::collections::BTreeMap;

use super::model::{Cluster, Edge, Failed, Graph, Iface, Relation, Remote, State};
use crate::engine::live::Live;
use crate::model::service::ServiceSetup;
use crate::model::{IfRef, Link, LinkKind, Network, Node, PortOptions, HOST};
use crate::spec::Topology;

/// The graph of `topo`, with `live` laid over it when given.
pub fn build(topo: &Topology, live: Option<&Live>) -> Graph {
    let net = &topo.network;
    let mut g = Graph {
        name: net.name.clone(),
        nodes: Vec::new(),
        edges: Vec::new(),
        remotes: Vec::new(),
        failed: Vec::new(),
        live: live.is_some(),
    };
    // Nodes in the order the file declares them (the map is sorted).
    let mut nodes: Vec<(&String, &crate::model::Node)> = net.nodes.iter().collect();
    nodes.sort_by_key(|(n, _)| topo.locations.get(*n).map_or(usize::MAX, |l| l.offset));
    for (name, node) in nodes {
        // The loopback device is every node's, not the file's.
        let mut links: Vec<&Link> = node
            .links
            .values()
            .filter(|l| l.kind != LinkKind::Loopback)
            .collect();
        let at = |l: &Link| {
            topo.locations
                .get(&format!("{name}/{}", l.name))
                .map_or(usize::MAX, |x| x.offset)
        };
        links.sort_by_key(|l| at(l));
        let interfaces = links.iter().map(|l| iface(name, node, l, live)).collect();
        g.nodes.push(Cluster {
            name: name.clone(),
            host: name == HOST,
            interfaces,
        });
    }
    edges(net, live, &mut g);
    if let Some(report) = live.and_then(|l| l.verify.as_ref()) {
        for o in report.outcomes.iter().filter(|o| !o.ok) {
            let from = o
                .from_iface
                .as_ref()
                .map(|i| format!("{}/{i}", o.from_node))
                .or_else(|| first_iface(&g, &o.from_node));
            let Some(from) = from else { continue };
            let to = o
                .to_addr
                .and_then(|a| owner(net, &a.to_string()))
                .map(|r| r.to_string());
            g.failed.push(Failed {
                text: o.text.clone(),
                from,
                to,
                reason: o.reason.clone(),
            });
        }
    }
    g
}

fn first_iface(g: &Graph, node: &str) -> Option<String> {
    g.nodes
        .iter()
        .find(|c| c.name == node)
        .and_then(|c| c.interfaces.first())
        .map(|i| i.id.clone())
}

/// One interface of `n` with its label lines.
fn iface(node: &str, n: &Node, l: &Link, live: Option<&Live>) -> Iface {
    let id = format!("{node}/{}", l.name);
    let mut detail = Vec::new();
    let word = l.kind.word().to_string();
    let kind_line = match &l.kind {
        LinkKind::Bridge(b) => {
            let mut w = vec!["bridge".to_string()];
            if b.stp == Some(true) {
                w.push("stp".into());
            }
            if b.vlan_filtering == Some(true) {
                w.push("vlan filtering".into());
            }
            w.join(", ")
        }
        LinkKind::Bond(b) => format!("bond {}", b.mode.as_deref().unwrap_or("balance-rr")),
        LinkKind::Team(t) => format!("team {}", t.runner),
        LinkKind::Vlan(v) => match v.protocol {
            Some(0x88a8) => format!("vlan {} (802.1ad)", v.id),
            _ => format!("vlan {}", v.id),
        },
        LinkKind::Vxlan(v) => format!("vxlan vni {}", v.vni),
        LinkKind::Macvlan(m) | LinkKind::Macvtap(m) => {
            format!("{word} {}", m.mode.as_deref().unwrap_or("bridge"))
        }
        LinkKind::Ipvlan(m) | LinkKind::Ipvtap(m) => {
            let mut w = format!("{word} {}", m.mode.as_deref().unwrap_or("l3"));
            if let Some(f) = &m.flag {
                w.push_str(&format!(" {f}"));
            }
            w
        }
        LinkKind::Tun(t) => t.mode.clone(),
        _ => word.clone(),
    };
    detail.push(kind_line);
    for a in &l.addresses {
        detail.push(a.net.to_string());
    }
    if let Some(m) = l.mtu {
        detail.push(format!("mtu {m}"));
    }
    if l.up == Some(false) {
        detail.push("down".into());
    }
    detail.extend(served(n, &l.name));
    let state = live.map(|lv| {
        let k = lv.links.get(&id);
        State {
            present: k.is_some() || l.kind == LinkKind::External,
            up: k.and_then(|k| k.up),
            carrier: k.and_then(|k| k.carrier),
            drift: lv.drift.get(&id).cloned(),
        }
    });
    Iface {
        id,
        name: l.name.clone(),
        kind: word,
        detail,
        state,
    }
}

/// What the node's services do on interface `name`: a DHCP server or
/// client, and the logical interfaces that live there or may move there.
fn served(n: &Node, name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for s in n.services.values() {
        match &s.setup {
            ServiceSetup::Dnsmasq(d) if d.iface == name => {
                out.push(format!("dhcp server {}-{}", d.range.0, d.range.1));
            }
            ServiceSetup::DhcpClient(c) if c.iface == name => out.push("dhcp client".into()),
            ServiceSetup::LifWatch(w) => {
                for f in &w.lifs {
                    if f.home == name {
                        out.push(format!("lif {} {} (home)", f.name, f.address));
                    } else if f.failover.iter().any(|p| p == name) {
                        out.push(format!("lif {} failover", f.name));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// The interface holding address `addr` (without prefix), if any.
fn owner(net: &Network, addr: &str) -> Option<IfRef> {
    net.nodes.iter().find_map(|(node, n)| {
        n.links.values().find_map(|l| {
            l.addresses
                .iter()
                .any(|a| a.net.addr().to_string() == addr)
                .then(|| IfRef {
                    node: node.clone(),
                    name: l.name.clone(),
                })
        })
    })
}

/// The VXLAN of the same VNI in another node whose underlay holds
/// `v`'s remote (its `local`, or an address of its `dev`).
fn peer_vxlan(net: &Network, node: &str, v: &crate::model::VxlanOptions) -> Option<String> {
    let remote = v.remote?;
    net.nodes
        .iter()
        .filter(|(n, _)| n.as_str() != node)
        .find_map(|(n, other)| {
            other.links.values().find_map(|l| {
                let LinkKind::Vxlan(o) = &l.kind else {
                    return None;
                };
                let underlay = o.local == Some(remote)
                    || o.dev.as_ref().is_some_and(|d| {
                        other
                            .links
                            .get(&d.name)
                            .is_some_and(|dl| dl.addresses.iter().any(|a| a.net.addr() == remote))
                    });
                (o.vni == v.vni && underlay).then(|| format!("{n}/{}", l.name))
            })
        })
}

/// Veth pairs, ports, lowers and tunnels.
fn edges(net: &Network, live: Option<&Live>, g: &mut Graph) {
    let mut remotes: BTreeMap<String, String> = BTreeMap::new();
    for (node, n) in &net.nodes {
        for l in n.links.values() {
            let id = format!("{node}/{}", l.name);
            let edge = |to: String, relation: Relation, label: Option<String>| Edge {
                from: id.clone(),
                to,
                relation,
                label,
                stp: None,
                active: None,
            };
            if let LinkKind::Veth(v) = &l.kind {
                if let Some(p) = &v.peer {
                    // Each pair once.
                    if (node.as_str(), l.name.as_str()) < (p.node.as_str(), p.name.as_str()) {
                        g.edges.push(edge(p.to_string(), Relation::Veth, None));
                    }
                }
            }
            if let Some(m) = &l.master {
                let mut e = edge(format!("{node}/{m}"), Relation::Port, port_label(l));
                if let Some(lv) = live {
                    let bridged = n
                        .links
                        .get(m)
                        .is_some_and(|x| matches!(x.kind, LinkKind::Bridge(_)));
                    if bridged {
                        e.stp = lv.stp.get(&id).map(|s| stp_word(*s).to_string());
                    }
                    e.active = lv.active.get(&id).copied();
                }
                g.edges.push(e);
            }
            if let Some(lower) = l.kind.lower() {
                let label = match &l.kind {
                    LinkKind::Vxlan(_) => Some("dev".to_string()),
                    _ => None,
                };
                g.edges
                    .push(edge(lower.to_string(), Relation::Lower, label));
            }
            if let LinkKind::Vxlan(v) = &l.kind {
                let label = Some(format!("vni {}", v.vni));
                let peer = v.remote.or(v.group);
                if let Some(p) = peer {
                    let to = match (peer_vxlan(net, node, v), owner(net, &p.to_string())) {
                        // Two VXLANs of one VNI pointing at each other: one
                        // tunnel between them, drawn once.
                        (Some(other), _) => {
                            if id.as_str() > other.as_str() {
                                continue;
                            }
                            other
                        }
                        (None, Some(r)) => r.to_string(),
                        (None, None) => {
                            let rid = format!("remote {p}");
                            remotes.insert(rid.clone(), p.to_string());
                            rid
                        }
                    };
                    g.edges.push(edge(to, Relation::Tunnel, label));
                }
            }
        }
    }
    g.remotes = remotes
        .into_iter()
        .map(|(id, addr)| Remote { id, addr })
        .collect();
}

/// Port options worth a word on the edge.
fn port_label(l: &Link) -> Option<String> {
    let mut w = Vec::new();
    match &l.port {
        Some(PortOptions::Bridge(p)) => {
            if let Some(c) = p.cost {
                w.push(format!("cost {c}"));
            }
            if let Some(x) = p.priority {
                w.push(format!("prio {x}"));
            }
            if !p.vlans.is_empty() {
                let v: Vec<String> = p
                    .vlans
                    .iter()
                    .map(|v| {
                        if v.pvid {
                            format!("{}P", v.vid)
                        } else {
                            v.vid.to_string()
                        }
                    })
                    .collect();
                let shown = if v.len() > 6 {
                    format!("{},… ({} vlans)", v[..5].join(","), v.len())
                } else {
                    v.join(",")
                };
                w.push(format!("vlans {shown}"));
            }
            if p.isolated == Some(true) {
                w.push("isolated".into());
            }
        }
        Some(PortOptions::Bond(b)) => {
            if let Some(p) = b.prio {
                w.push(format!("prio {p}"));
            }
        }
        Some(PortOptions::Team(t)) => {
            if let Some(p) = t.prio {
                w.push(format!("prio {p}"));
            }
        }
        None => {}
    }
    (!w.is_empty()).then(|| w.join(", "))
}

/// IFLA_BRPORT_STATE in `bridge link`'s words.
pub fn stp_word(s: u8) -> &'static str {
    match s {
        0 => "disabled",
        1 => "listening",
        2 => "learning",
        3 => "forwarding",
        4 => "blocking",
        _ => "unknown",
    }
}
