//! Readiness before judging: carrier on the links probes use, bridge ports
//! settled (forwarding, or blocking under STP), 802.3ad bond ports done
//! negotiating with their LACP partner, IPv6 addresses past DAD.
//!
//! Probing too early turns a correct network into false failures, so `verify`
//! waits for the kernel to report these states, read by netlink dumps in each node.
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::{netns, nl};
use crate::model::{Expectation, LinkKind, Network, Target};

/// IFLA_BRPORT_STATE values (include/uapi/linux/if_bridge.h).
const BR_STATE_FORWARDING: u8 = 3;
const BR_STATE_BLOCKING: u8 = 4;

/// What to check in one node.
struct NodeCheck {
    node: String,
    /// Links whose carrier must be up (when administratively up).
    carrier: Vec<String>,
    /// Bridge ports whose state must be settled.
    ports: Vec<String>,
    /// Ports of 802.3ad bonds whose LACP negotiation must be over.
    lacp: Vec<String>,
    /// The file's addresses in an endpoint node, which must be past DAD. Kernel-made
    /// link-local addresses are not waited for: probes use the file's addresses,
    /// and their DAD would add about two seconds to every run.
    addrs: Vec<IpAddr>,
}

/// Which links of which nodes the expectations depend on.
fn plan(network: &Network, expect: &[Expectation]) -> Vec<NodeCheck> {
    let mut endpoints = BTreeSet::new();
    for e in expect {
        endpoints.insert(e.from.node.clone());
        match &e.to {
            Target::Node(n) => {
                endpoints.insert(n.clone());
            }
            Target::Iface(r) => {
                endpoints.insert(r.node.clone());
            }
            Target::Addr(_) => {}
        }
    }
    let mut out = Vec::new();
    for (name, node) in &network.nodes {
        let is_bridge = |m: &str| {
            node.links
                .get(m)
                .is_some_and(|l| matches!(l.kind, LinkKind::Bridge(_)))
        };
        let ports: Vec<String> = node
            .links
            .values()
            .filter(|l| l.up != Some(false) && l.master.as_deref().is_some_and(is_bridge))
            .map(|l| l.name.clone())
            .collect();
        let is_lacp_bond = |m: &str| {
            node.links.get(m).is_some_and(
                |l| matches!(&l.kind, LinkKind::Bond(o) if o.mode.as_deref() == Some("802.3ad")),
            )
        };
        let lacp: Vec<String> = node
            .links
            .values()
            .filter(|l| l.up != Some(false) && l.master.as_deref().is_some_and(is_lacp_bond))
            .map(|l| l.name.clone())
            .collect();
        let carrier: Vec<String> = if endpoints.contains(name) {
            node.links
                .values()
                .filter(|l| l.up != Some(false))
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
        } else {
            ports.clone()
        };
        let addrs: Vec<IpAddr> = if endpoints.contains(name) {
            node.links
                .values()
                .flat_map(|l| l.addresses.iter().map(|a| a.net.addr()))
                .collect()
        } else {
            Vec::new()
        };
        if carrier.is_empty() && ports.is_empty() && lacp.is_empty() && addrs.is_empty() {
            continue;
        }
        out.push(NodeCheck {
            node: name.clone(),
            carrier,
            ports,
            lacp,
            addrs,
        });
    }
    out
}

/// What is not ready yet in one node (empty when all is ready).
fn not_ready(topo: &str, c: &NodeCheck) -> Vec<String> {
    let node = c.node.clone();
    let result = netns::run_in(topo, &c.node, || {
        let rt = netns::runtime()?;
        rt.block_on(async {
            let h = nl::connect()?;
            let links = nl::links(&h).await?;
            let addrs = nl::addresses(&h).await?;
            let mut waiting = Vec::new();
            for name in &c.carrier {
                match links.iter().find(|l| &l.name == name) {
                    None => waiting.push(format!("{node}/{name}: missing")),
                    Some(l) if l.up && !l.lower_up => {
                        waiting.push(format!("{node}/{name}: no carrier"))
                    }
                    Some(_) => {}
                }
            }
            for name in &c.ports {
                if let Some(l) = links.iter().find(|l| &l.name == name) {
                    match l.brport_state {
                        Some(BR_STATE_FORWARDING | BR_STATE_BLOCKING) | None => {}
                        Some(s) => waiting
                            .push(format!("{node}/{name}: bridge port {}", port_state_name(s))),
                    }
                }
            }
            for name in &c.lacp {
                let Some(l) = links.iter().find(|l| &l.name == name) else {
                    continue;
                };
                if let Some((actor, partner)) = l.lacp {
                    if l.up && !lacp_settled(actor, partner) {
                        waiting.push(format!(
                            "{node}/{name}: LACP negotiating (actor state {actor:#04x}, partner {partner:#04x})"
                        ));
                    }
                }
            }
            for a in &addrs {
                let Some(l) = links.iter().find(|l| l.index == a.index) else {
                    continue;
                };
                if !c.addrs.contains(&a.addr) {
                    continue;
                }
                if a.dadfailed {
                    waiting.push(format!(
                        "{node}/{}: {} failed DAD (duplicate)",
                        l.name, a.addr
                    ));
                } else if a.tentative && l.up {
                    waiting.push(format!("{node}/{}: {} tentative (DAD)", l.name, a.addr));
                }
            }
            Ok(waiting)
        })
    });
    result.unwrap_or_else(|e| vec![e.to_string()])
}

/// LACP port state bits (IEEE 802.1AX; include/net/bond_3ad.h).
const LACP_AGGREGATION: u8 = 0x04;
const LACP_COLLECTING: u8 = 0x10;
const LACP_DISTRIBUTING: u8 = 0x20;
const LACP_EXPIRED: u8 = 0x80;

/// An 802.3ad port is settled when it collects and distributes in an
/// aggregate, or when no partner has spoken and the kernel has stopped
/// waiting for one (EXPIRED cleared: the port then works on its own). A
/// partner that advertised aggregation but is not in sync yet means LACP is
/// still converging, and probes sent now would be dropped.
fn lacp_settled(actor: u8, partner: u8) -> bool {
    let both = LACP_COLLECTING | LACP_DISTRIBUTING;
    if actor & both == both {
        return true;
    }
    partner & LACP_AGGREGATION == 0 && actor & LACP_EXPIRED == 0
}

/// Words for a bridge port state.
fn port_state_name(s: u8) -> &'static str {
    match s {
        0 => "disabled",
        1 => "listening",
        2 => "learning",
        3 => "forwarding",
        4 => "blocking",
        _ => "in an unknown state",
    }
}

/// Wait until the links the expectations use are ready; return how long it took,
/// or an error naming what is still not ready when `bound` passes.
pub fn wait_ready(
    network: &Network,
    expect: &[Expectation],
    bound: Duration,
) -> Result<Duration, String> {
    let checks = plan(network, expect);
    let start = Instant::now();
    loop {
        let waiting: Vec<String> = std::thread::scope(|s| {
            let hs: Vec<_> = checks
                .iter()
                .map(|c| s.spawn(|| not_ready(&network.name, c)))
                .collect();
            hs.into_iter()
                .flat_map(|h| {
                    h.join()
                        .unwrap_or_else(|_| vec!["readiness thread panicked".into()])
                })
                .collect()
        });
        if waiting.is_empty() {
            return Ok(start.elapsed());
        }
        if start.elapsed() >= bound {
            return Err(format!(
                "not ready after {}ms: {}",
                bound.as_millis(),
                waiting.join(", ")
            ));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

#[cfg(test)]
mod tests {
    use super::lacp_settled;

    #[test]
    fn lacp_ports_wait_for_their_partner_but_not_for_a_silent_one() {
        // Partner heard (aggregation), actor attached but not collecting yet.
        assert!(!lacp_settled(0x0f, 0x0f));
        // Waiting for a first LACPDU within the short timeout.
        assert!(!lacp_settled(0xc7, 0x03));
        // In the aggregate, collecting and distributing.
        assert!(lacp_settled(0x3f, 0x3f));
        // No partner ever spoke and the kernel gave up waiting: the port
        // works on its own.
        assert!(lacp_settled(0x47, 0x03));
    }
}
