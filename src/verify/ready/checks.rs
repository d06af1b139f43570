//! What readiness waits for, read from the file alone: which links of which
//! nodes must have carrier, which bridge ports must settle, which addresses
//! must be past DAD, and which nodes must be read to judge them.
use std::collections::BTreeSet;
use std::net::IpAddr;

use crate::model::{Expectation, Link, LinkKind, Network, Node, Target};

/// What to check in one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeCheck {
    /// The node.
    pub node: String,
    /// Links whose carrier must be up.
    pub carrier: Vec<String>,
    /// Bridge ports whose state must be settled.
    pub ports: Vec<String>,
    /// The file's addresses in an endpoint node, which must be past DAD. Kernel-made
    /// link-local addresses are not waited for: probes use the file's addresses,
    /// and their DAD would add about two seconds to every run.
    pub addrs: Vec<IpAddr>,
}

/// Whether the file means `l` to be up (links declared `state: down` are not waited for).
fn wanted_up(l: &Link) -> bool {
    l.up != Some(false)
}

/// Whether the file makes `l` carrier-less on purpose: a veth whose peer is
/// declared down, or a device stacked on such a link.
pub fn down_by_design(network: &Network, l: &Link, depth: u8) -> bool {
    if depth > 8 {
        return false;
    }
    let find = |n: &str, name: &str| network.nodes.get(n).and_then(|x| x.links.get(name));
    match &l.kind {
        LinkKind::Veth(o) => o
            .peer
            .as_ref()
            .and_then(|p| find(&p.node, &p.name))
            .is_some_and(|p| !wanted_up(p)),
        k => k
            .lower()
            .and_then(|r| find(&r.node, &r.name))
            .is_some_and(|low| !wanted_up(low) || down_by_design(network, low, depth + 1)),
    }
}

/// The nodes the expectations probe from or to.
fn endpoints(expect: &[Expectation]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for e in expect {
        out.insert(e.from.node.clone());
        match &e.to {
            Target::Node(n) => {
                out.insert(n.clone());
            }
            Target::Iface(r) => {
                out.insert(r.node.clone());
            }
            Target::Addr(_) => {}
        }
    }
    out
}

/// The links of `node` readiness may wait on: meant up, and not carrier-less by design.
fn usable<'a>(network: &'a Network, node: &'a Node) -> impl Iterator<Item = &'a Link> {
    node.links
        .values()
        .filter(move |l| wanted_up(l) && !down_by_design(network, l, 0))
}

/// The usable bridge ports of `node`.
fn bridge_ports(network: &Network, node: &Node) -> Vec<String> {
    let is_bridge = |m: &str| {
        node.links
            .get(m)
            .is_some_and(|l| matches!(l.kind, LinkKind::Bridge(_)))
    };
    usable(network, node)
        .filter(|l| l.master.as_deref().is_some_and(is_bridge))
        .map(|l| l.name.clone())
        .collect()
}

/// The usable links of an endpoint node whose carrier probes need.
fn carriers(network: &Network, node: &Node) -> Vec<String> {
    usable(network, node)
        // A tun/tap has carrier only while a program holds it; a bridge
        // only once it has a port; loopback and external links are not ours to wait on.
        .filter(|l| match &l.kind {
            LinkKind::Tun(_) | LinkKind::Loopback | LinkKind::External => false,
            LinkKind::Bridge(_) => node
                .links
                .values()
                .any(|p| p.master.as_deref() == Some(l.name.as_str())),
            _ => true,
        })
        .map(|l| l.name.clone())
        .collect()
}

/// The file's addresses of an endpoint node, on links meant up.
fn addresses(node: &Node) -> Vec<IpAddr> {
    node.links
        .values()
        .filter(|l| wanted_up(l))
        .flat_map(|l| l.addresses.iter().map(|a| a.net.addr()))
        .collect()
}

/// Which links of which nodes the expectations depend on: every link of an
/// endpoint node, and every bridge port anywhere (a path may cross any bridge).
pub fn checks(network: &Network, expect: &[Expectation]) -> Vec<NodeCheck> {
    let endpoints = endpoints(expect);
    let mut out = Vec::new();
    for (name, node) in &network.nodes {
        let ports = bridge_ports(network, node);
        let (carrier, addrs) = if endpoints.contains(name) {
            (carriers(network, node), addresses(node))
        } else {
            (ports.clone(), Vec::new())
        };
        if carrier.is_empty() && ports.is_empty() && addrs.is_empty() {
            continue;
        }
        out.push(NodeCheck {
            node: name.clone(),
            carrier,
            ports,
            addrs,
        });
    }
    out
}

/// Add to `out` the nodes whose state explains `node/name`'s carrier: a veth's
/// peer, a stacked device's lower (and what explains it), a master's ports.
pub fn explainers(
    network: &Network,
    node: &str,
    name: &str,
    depth: u8,
    out: &mut BTreeSet<String>,
) {
    let Some(l) = network.nodes.get(node).and_then(|n| n.links.get(name)) else {
        return;
    };
    if depth > 8 {
        return;
    }
    match &l.kind {
        LinkKind::Veth(o) => {
            if let Some(p) = &o.peer {
                out.insert(p.node.clone());
            }
        }
        LinkKind::Bridge(_) | LinkKind::Bond(_) | LinkKind::Team(_) => {
            for p in network.nodes[node].links.values() {
                if p.master.as_deref() == Some(name) {
                    explainers(network, node, &p.name, depth + 1, out);
                }
            }
        }
        k => {
            if let Some(low) = k.lower() {
                out.insert(low.node.clone());
                explainers(network, &low.node, &low.name, depth + 1, out);
            }
        }
    }
}

/// The nodes to read: those checked, and those that explain their links.
pub fn nodes_to_read(network: &Network, checks: &[NodeCheck]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for c in checks {
        out.insert(c.node.clone());
        for name in c.carrier.iter().chain(&c.ports) {
            explainers(network, &c.node, name, 0, &mut out);
        }
    }
    out.retain(|n| network.nodes.contains_key(n));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::ready::tests::{net, veth};

    #[test]
    fn a_peer_declared_down_is_not_waited_for() {
        let n = net(vec![
            ("a", vec![veth("eth0", ("b", "eth0"), None)]),
            ("b", vec![veth("eth0", ("a", "eth0"), Some(false))]),
        ]);
        let a = &n.nodes["a"].links["eth0"];
        assert!(down_by_design(&n, a, 0));
        let b = &n.nodes["b"].links["eth0"];
        assert!(!down_by_design(&n, b, 0));
        let mut nodes = BTreeSet::new();
        explainers(&n, "a", "eth0", 0, &mut nodes);
        assert_eq!(nodes.into_iter().collect::<Vec<_>>(), ["b"]);
    }
}
