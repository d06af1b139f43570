//! The claims about services in `expect:`: `lease: NODE/IFACE in
//! FIRST-LAST` (a DHCP client holds a lease in the range), `resolve: NODE ->
//! NAME` (the name server the node's lease gave answers NAME with the
//! address of the node NAME's first label names), and the checks of
//! `revert:` (its `cut` is a LIF's home port).
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use super::decode::{str_of, Ctx};
use super::expect::{iface_in, node};
use super::yaml::Yaml;
use crate::model::{Claim, Endpoint, Expectation, IfRef, Node, Probe, ServiceSetup, Target};

/// `lease: NODE/IFACE in FIRST-LAST`.
pub fn lease(
    cx: &mut Ctx,
    y: &Yaml,
    nodes: &BTreeMap<String, Node>,
    count: u32,
    timeout_ms: u32,
) -> Option<Expectation> {
    let text = str_of(cx, y)?.trim().to_string();
    let parsed = text.split_once(" in ").and_then(|(i, r)| {
        let (a, b) = r.trim().split_once('-')?;
        let a: Ipv4Addr = a.trim().parse().ok()?;
        let b: Ipv4Addr = b.trim().parse().ok()?;
        Some((i.trim(), a, b))
    });
    let Some((iface, first, last)) = parsed.filter(|(_, a, b)| a <= b) else {
        cx.err(
            y.at,
            format!("`{text}` is not `NODE/IFACE in FIRST-LAST`"),
            Some("e.g. `lease: c1/eth0 in 10.0.3.100-10.0.3.200`".into()),
        );
        return None;
    };
    let Some((n, i)) = iface.split_once('/') else {
        cx.err(y.at, format!("`{iface}` must be written NODE/IFACE"), None);
        return None;
    };
    node(cx, y, n, nodes)?;
    let r = iface_in(cx, y, n, i, nodes)?;
    let leases = nodes[n]
        .services
        .values()
        .any(|s| matches!(&s.setup, ServiceSetup::DhcpClient(c) if c.iface == r.name));
    if !leases {
        cx.err(
            y.at,
            format!("`{r}` has no DHCP client"),
            Some(format!(
                "give it `addresses: [dhcp]` to lease an address on `{r}`"
            )),
        );
        return None;
    }
    Some(Expectation {
        claim: Claim::Lease { first, last },
        from: Endpoint {
            node: r.node.clone(),
            iface: Some(r.name.clone()),
        },
        to: Target::Iface(r),
        probe: Probe::Icmp,
        count,
        timeout_ms,
        text,
    })
}

/// `resolve: NODE -> NAME`.
pub fn resolve(
    cx: &mut Ctx,
    y: &Yaml,
    nodes: &BTreeMap<String, Node>,
    count: u32,
    timeout_ms: u32,
) -> Option<Expectation> {
    let text = str_of(cx, y)?.trim().to_string();
    let Some((from, name)) = text.split_once("->").map(|(a, b)| (a.trim(), b.trim())) else {
        cx.err(
            y.at,
            format!("`{text}` is not `NODE -> NAME`"),
            Some("e.g. `resolve: c1 -> c2.lxc`".into()),
        );
        return None;
    };
    let from = node(cx, y, from, nodes)?;
    let label = name.split('.').next().unwrap_or_default();
    if !super::dhcp::domain_ok(name) || !nodes.contains_key(label) {
        cx.err(
            y.at,
            format!("`{name}` is not a name of a node of the topology"),
            Some("write NODE.DOMAIN, e.g. `c2.lxc` (the domain of the `dhcp` server, by default the topology's name)".into()),
        );
        return None;
    }
    Some(Expectation {
        claim: Claim::Resolve {
            name: name.to_string(),
        },
        from: Endpoint {
            node: from.clone(),
            iface: None,
        },
        to: Target::Node(label.to_string()),
        probe: Probe::Udp(53),
        count,
        timeout_ms,
        text: format!("{from} -> {name}"),
    })
}

/// A `revert:` claim's `cut` must be a LIF's home port.
pub fn check_revert(
    cx: &mut Ctx,
    y: &Yaml,
    cut: &IfRef,
    nodes: &BTreeMap<String, Node>,
) -> Option<()> {
    let home = nodes.get(&cut.node).is_some_and(|n| {
        n.services.values().any(|s| match &s.setup {
            ServiceSetup::LifWatch(l) => l.lifs.iter().any(|f| f.home == cut.name),
            _ => false,
        })
    });
    if home {
        return Some(());
    }
    cx.err(
        y.at,
        format!("`{cut}` is no LIF's home port"),
        Some(
            "a revert cuts the home port of a LIF (see `lifs:`) and watches the address come back"
                .into(),
        ),
    );
    None
}
