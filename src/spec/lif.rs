//! `lifs:`: logical interfaces, ONTAP's word for an address with a home
//! port and failover ports (see [`crate::model::service::Lif`]); each node
//! holding LIFs runs one watcher that moves them.
//!
//! A LIF's ports are in its home node: moving an address between the
//! interfaces of one namespace is one watcher's atomic work (delete, add,
//! re-route, announce, all in the node that owns it), while moving it to
//! another node would need a second party to take it over, with no shared
//! view of which of two nodes holds it when their link breaks (ONTAP's
//! `local-only` failover policy; `broadcast-domain-wide` is not offered).
//! The failover ports must be on the home port's segment (the address's
//! subnet lives there), no port of a bridge, bond or team, and no port
//! twice. The address must not be any interface's static address.
//!
//! So that the address answers only where it is, netloom sets the ports'
//! `arp_ignore` to 1 and `arp_announce` to 2 (the node's ports share one
//! segment, and by default Linux answers ARP for any local address on any
//! port, from that port's MAC), unless the file sets them.
use std::collections::BTreeMap;

use ipnet::IpNet;

use super::decode::{duration_ms, entries, net_of, str_of, Ctx, Fields};
use super::node::node_name_ok;
use super::segment::{iref, Segments};
use super::yaml::{Value, Yaml};
use crate::model::service::{Lif, LifSetup};
use crate::model::{IfRef, LinkKind, Node, Service, ServiceSetup};

/// Fields of a LIF.
pub const FIELDS: &[&str] = &["address", "home", "failover", "auto_revert", "revert_delay"];

/// Decode `lifs:` and give each home node its watcher.
pub fn decode(cx: &mut Ctx, y: Option<&Yaml>, nodes: &mut BTreeMap<String, Node>) {
    let Some(y) = y else { return };
    let mut segments = Segments::of(nodes);
    let mut seen: Vec<(IpNet, String)> = Vec::new();
    for e in entries(cx, y, "LIF", "a map of LIFs by name") {
        if !node_name_ok(&e.key) {
            cx.err(
                e.key_at,
                format!("invalid LIF name `{}`", e.key),
                Some(
                    "LIF names are 1-32 characters: lowercase letters, digits, `_` and `-`".into(),
                ),
            );
            continue;
        }
        let Some(lif) = one(cx, &e.key, &e.value, nodes, &mut segments) else {
            continue;
        };
        let (node, lif) = lif;
        if let Some((_, other)) = seen.iter().find(|(a, _)| a.addr() == lif.address.addr()) {
            let at = address_at(&e.value);
            cx.err(
                at,
                format!("LIF `{}` has the address of LIF `{other}`", lif.name),
                None,
            );
            continue;
        }
        seen.push((lif.address, lif.name.clone()));
        let n = nodes.get_mut(&node).expect("checked");
        if lif.address.addr().is_ipv4() {
            for port in lif.ports() {
                for (key, value) in [("arp_ignore", "1"), ("arp_announce", "2")] {
                    n.sysctls
                        .entry(format!("net.ipv4.conf.{port}.{key}"))
                        .or_insert_with(|| value.to_string());
                }
            }
        }
        let s = n
            .services
            .entry("lif".to_string())
            .or_insert_with(|| Service::new(ServiceSetup::LifWatch(LifSetup { lifs: vec![] })));
        if let ServiceSetup::LifWatch(l) = &mut s.setup {
            l.lifs.push(lif);
        }
    }
}

fn address_at(y: &Yaml) -> super::error::Location {
    match &y.value {
        Value::Map(m) => m
            .iter()
            .find(|e| e.key == "address")
            .map_or(y.at, |e| e.value.at),
        _ => y.at,
    }
}

/// One LIF: its home node and description, or `None` after reporting why not.
fn one(
    cx: &mut Ctx,
    name: &str,
    y: &Yaml,
    nodes: &BTreeMap<String, Node>,
    segments: &mut Segments,
) -> Option<(String, Lif)> {
    let f = Fields::new(cx, y, "a LIF", FIELDS)?;
    let addr_y = f.need(cx, "address");
    let home_y = f.need(cx, "home");
    let address = addr_y.and_then(|a| net_of(cx, a));
    let home = home_y.and_then(|h| port(cx, h, nodes));
    let auto_revert = f.bool(cx, "auto_revert").unwrap_or(false);
    let revert_delay_ms = match f.get("revert_delay") {
        Some(d) => duration_ms(cx, d)?,
        None => 0,
    };
    let (address, home) = (address?, home?);
    let mut failover: Vec<String> = Vec::new();
    if let Some(list) = f.get("failover") {
        let Value::Seq(items) = &list.value else {
            cx.expected(list, "a list of ports (NODE/IFACE)");
            return None;
        };
        for item in items {
            let p = port(cx, item, nodes)?;
            if p == home {
                cx.err(
                    item.at,
                    format!("home `{home}` is among its failover ports"),
                    Some("the failover ports are where the address goes when home fails".into()),
                );
                return None;
            }
            if p.node != home.node {
                cx.err(item.at, format!("failover port `{p}` is not in `{}`, the home node", home.node), Some("a LIF moves between the ports of its home node (see docs/format.md, `lifs`)".into()));
                return None;
            }
            if !segments.same(&p, &home) {
                cx.err(item.at, format!("failover port `{p}` is on another segment than home `{home}`"), Some("the address's subnet lives on the home port's segment: fail over to a port of that segment".into()));
                return None;
            }
            if failover.contains(&p.name) {
                cx.err(
                    item.at,
                    format!("`{p}` is twice among the failover ports"),
                    None,
                );
                return None;
            }
            failover.push(p.name);
        }
    }
    // The address is the LIF's alone.
    for (n, node) in nodes {
        for (i, l) in &node.links {
            if l.addresses.iter().any(|a| a.net.addr() == address.addr()) {
                let at = addr_y.map_or(y.at, |a| a.at);
                cx.err(at, format!("{} is also a static address of `{n}/{i}`", address.addr()), Some("a LIF's address lives on whichever of its ports is up: give it to no interface".into()));
                return None;
            }
        }
    }
    Some((
        home.node.clone(),
        Lif {
            name: name.to_string(),
            address,
            home: home.name,
            failover,
            auto_revert,
            revert_delay_ms,
        },
    ))
}

/// A LIF port, `NODE/IFACE`: an interface netloom makes, up, no port of a master.
fn port(cx: &mut Ctx, y: &Yaml, nodes: &BTreeMap<String, Node>) -> Option<IfRef> {
    let t = str_of(cx, y)?;
    let Some((n, i)) = t.split_once('/') else {
        cx.err(y.at, format!("`{t}` must be written NODE/IFACE"), None);
        return None;
    };
    let Some(link) = nodes.get(n).and_then(|node| node.links.get(i)) else {
        cx.err(y.at, format!("unknown interface `{t}`"), None);
        return None;
    };
    if matches!(link.kind, LinkKind::External | LinkKind::Loopback) {
        cx.err(
            y.at,
            format!("`{t}` cannot hold a LIF: netloom never changes that device"),
            None,
        );
        return None;
    }
    if let Some(m) = &link.master {
        cx.err(
            y.at,
            format!("`{t}` is a port of `{m}`: an address there would not be used"),
            Some(format!("use `{n}/{m}`")),
        );
        return None;
    }
    if link.up == Some(false) {
        cx.err(
            y.at,
            format!("`{t}` is `state: down`: it could never hold the LIF"),
            None,
        );
        return None;
    }
    Some(iref(n, i))
}

#[cfg(test)]
mod tests {
    use crate::model::ServiceSetup;

    #[test]
    fn a_lif_gives_its_node_a_watcher_and_its_ports_arp_sysctls() {
        let text = "name: t
nodes:
  sw:
    interfaces:
      br0: { kind: bridge, ports: [s0, s1] }
      s0: {}
      s1: {}
  n1:
    sysctl: { net.ipv4.conf.eth1.arp_ignore: 2 }
    interfaces:
      eth0: {}
      eth1: {}
links:
  - [sw/s0, n1/eth0]
  - [sw/s1, n1/eth1]
lifs:
  data1: { address: 10.0.5.10/24, home: n1/eth0, failover: [n1/eth1], revert_delay: 2s }
";
        let t = crate::spec::parse_str("t.yaml", text).unwrap();
        let n1 = &t.network.nodes["n1"];
        let ServiceSetup::LifWatch(l) = &n1.services["lif"].setup else {
            panic!("no watcher: {:?}", n1.services);
        };
        let lif = &l.lifs[0];
        assert_eq!(
            (lif.home.as_str(), lif.failover.clone()),
            ("eth0", vec!["eth1".to_string()])
        );
        assert!(
            !lif.auto_revert,
            "auto-revert is off unless asked, as ONTAP's data LIFs"
        );
        assert_eq!(lif.revert_delay_ms, 2000);
        assert_eq!(n1.sysctls["net.ipv4.conf.eth0.arp_ignore"], "1");
        assert_eq!(n1.sysctls["net.ipv4.conf.eth0.arp_announce"], "2");
        assert_eq!(
            n1.sysctls["net.ipv4.conf.eth1.arp_ignore"], "2",
            "the file's value stays"
        );
        assert!(t.network.nodes["sw"].services.is_empty());
    }
}
