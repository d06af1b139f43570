//! Verify by traffic: prove each expectation of a topology with real packets
//! sent from inside its namespaces (ICMP, ARP, TCP, UDP), and report why not.
//!
//! [`run`] first waits, within a bound it reports, until the links involved
//! forward ([`ready`]); then reach and isolation checks run in parallel (a
//! bounded pool of workers, each entering the source namespace in place);
//! failover checks change links, so they run one after another afterwards.
pub mod dhcp;
pub mod error;
pub mod failover;
pub mod lif;
pub mod node;
pub mod probe;
pub mod ready;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use ipnet::IpNet;
use serde::Serialize;

use crate::kernel::netns;
use crate::kernel::query::Query;
use crate::model::{Claim, Expectation, Network, Probe, Target};

pub use error::Error;
pub use probe::{probe, ProbeResult};
pub use ready::{default_bound, readiness, wait_ready, Readiness};

/// The verdict on one expectation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    /// The expectation as written: claim, arrow, and probe unless ICMP.
    pub text: String,
    /// The source node.
    pub from_node: String,
    /// Whether the claim holds.
    pub ok: bool,
    /// Round-trip (or, for failover, recovery) time in milliseconds.
    pub rtt_ms: Option<f64>,
    /// One sentence saying why it holds or not.
    pub reason: String,
    /// The source-side interface the probes left from (in `from_node`).
    pub from_iface: Option<String>,
    /// The address probed.
    pub to_addr: Option<IpAddr>,
    /// The destination interface, when the address belongs to the topology.
    pub to_iface: Option<String>,
}

/// What `verify` found: how readiness ended, and one outcome per expectation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The wait for the network to forward, before judging.
    pub readiness: Readiness,
    /// Outcomes in the file's order.
    pub outcomes: Vec<Outcome>,
}

impl Report {
    /// Every expectation holds.
    pub fn ok(&self) -> bool {
        self.outcomes.iter().all(|o| o.ok)
    }
}

/// Wait for readiness (at most `bound`), then check every expectation.
///
/// Probes run even when the network did not become ready, so each failure
/// says where it broke. An isolation claim is only proven on a ready network
/// (silence from a link that does not forward yet proves nothing), so it fails then.
pub fn run(network: &Network, expect: &[Expectation], bound: Duration) -> Report {
    let t = std::time::Instant::now();
    let readiness = readiness(network, expect, bound);
    crate::timing::record("verify readiness", t.elapsed());
    let t = std::time::Instant::now();
    let mut outcomes = judge(network, expect);
    crate::timing::record("verify judge", t.elapsed());
    if !readiness.ready {
        for (o, e) in outcomes.iter_mut().zip(expect) {
            if o.ok && matches!(e.claim, Claim::Isolated) {
                o.ok = false;
                o.reason = format!(
                    "isolation unproven: the network was not ready ({}); {}",
                    readiness.waiting.join(", "),
                    o.reason
                );
            }
        }
    }
    Report {
        readiness,
        outcomes,
    }
}

/// Check every expectation now, without waiting for readiness; outcomes in input order.
pub fn judge(network: &Network, expect: &[Expectation]) -> Vec<Outcome> {
    let parallel: Vec<usize> = (0..expect.len())
        .filter(|&i| !changes_links(&expect[i].claim))
        .collect();
    let ifaces = Interfaces::of(network);
    let next = AtomicUsize::new(0);
    let done = Mutex::new(vec![None; expect.len()]);
    // A pool of workers, each taking the next expectation, bounds the threads.
    let workers = parallel.len().min(netns::MAX_THREADS);
    std::thread::scope(|s| {
        for _ in 0..workers {
            // Each worker enters the source's namespace itself, probe by probe.
            s.spawn(|| {
                netns::as_worker(|| loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&i) = parallel.get(k) else { break };
                    let o = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        check(network, &ifaces, &expect[i])
                    }))
                    .unwrap_or_else(|_| Outcome {
                        reason: "verifier thread panicked".into(),
                        ..blank(&expect[i])
                    });
                    done.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(o);
                })
            });
        }
    });
    let mut out: Vec<Option<Outcome>> = done.into_inner().unwrap_or_else(|e| e.into_inner());
    for (i, e) in expect.iter().enumerate() {
        if changes_links(&e.claim) {
            out[i] = Some(check(network, &ifaces, e));
        }
    }
    out.into_iter()
        .zip(expect)
        .map(|(o, e)| {
            o.unwrap_or_else(|| Outcome {
                reason: "not checked".into(),
                ..blank(e)
            })
        })
        .collect()
}

/// Claims that set links down and up: checked one after another, alone.
fn changes_links(c: &Claim) -> bool {
    matches!(c, Claim::Failover { .. } | Claim::Revert { .. })
}

/// A failed outcome with no details yet.
fn blank(e: &Expectation) -> Outcome {
    Outcome {
        text: label(e),
        from_node: e.from.node.clone(),
        ok: false,
        rtt_ms: None,
        reason: String::new(),
        from_iface: None,
        to_addr: None,
        to_iface: None,
    }
}

/// An expectation in words: `reach a -> b`, `isolated c -> d udp/53`,
/// `failover a -> b, cut a/eth0`.
pub fn label(e: &Expectation) -> String {
    let mut s = match &e.claim {
        Claim::Reach => format!("reach {}", e.text),
        Claim::Isolated => format!("isolated {}", e.text),
        Claim::Failover { .. } => format!("failover {}", e.text),
        Claim::Revert { .. } => format!("revert {}", e.text),
        Claim::Lease { .. } => return format!("lease {}", e.text),
        Claim::Resolve { .. } => return format!("resolve {}", e.text),
    };
    match e.probe {
        Probe::Icmp => {}
        Probe::Arp => s.push_str(" arp"),
        Probe::Udp(p) => s.push_str(&format!(" udp/{p}")),
        Probe::Tcp(p) => s.push_str(&format!(" tcp/{p}")),
    }
    if let Claim::Failover { cut, .. } | Claim::Revert { cut, .. } = &e.claim {
        s.push_str(&format!(", cut {cut}"));
    }
    s
}

/// Check one expectation.
fn check(network: &Network, ifaces: &Interfaces, e: &Expectation) -> Outcome {
    let mut o = blank(e);
    match (&e.claim, &e.to) {
        (Claim::Lease { first, last }, _) => return dhcp::lease(network, e, *first, *last, o),
        (Claim::Resolve { name }, Target::Node(target)) => {
            return dhcp::resolve(network, e, name, target, o)
        }
        _ => {}
    }
    let dst = match resolve_target(network, e) {
        Ok(a) => a,
        Err(r) => {
            o.reason = r.to_string();
            return o;
        }
    };
    o.to_addr = Some(dst);
    o.to_iface = ifaces.holding(dst);
    let timeout = Duration::from_millis(u64::from(e.timeout_ms.max(1)));
    if let Claim::Failover { cut, within_ms } = &e.claim {
        return failover::check(network, e, cut, *within_ms, dst, o);
    }
    if let Claim::Revert { cut, within_ms } = &e.claim {
        return lif::revert(network, e, cut, *within_ms, dst, o);
    }
    let r = probe(
        &network.name,
        &e.from.node,
        e.from.iface.as_deref(),
        dst,
        e.probe,
        e.count,
        timeout,
    );
    if let (Some(src), Some(to)) = (r.on_link_src, o.to_iface.as_deref()) {
        forget_at_target(&network.name, to, src);
    }
    o.from_iface = r.from_iface.clone();
    o.rtt_ms = r.rtt_ms;
    match e.claim {
        Claim::Reach => {
            o.ok = r.answered;
            o.reason = r.reason;
        }
        _ => {
            o.ok = r.ran && !r.answered;
            // "no route" also isolates; the reason says which way it held.
            o.reason = if !r.ran {
                format!("cannot probe, isolation unproven: {}", r.reason)
            } else if r.answered {
                format!("expected isolation, but {dst} answered: {}", r.reason)
            } else {
                format!("isolated: {}", r.reason)
            };
        }
    }
    o
}

/// Remove the neighbour entry that the interface `node/iface` learnt for a
/// probe's source address `src`, if the kernel learnt it: the probe source
/// already removes its own (see `probe`), and without this the destination
/// side alone would fill the machine-wide neighbour table (1024 entries by
/// default) when one address is probed from a thousand sources, as in a
/// topology of a thousand containers behind one bridge. A learnt entry is a
/// cache: traffic that needs it resolves it again.
fn forget_at_target(topo: &str, iface: &str, src: IpAddr) {
    let Some((node, name)) = iface.split_once('/') else {
        return;
    };
    // Best effort: a leftover entry is only a cache entry.
    let _ = node::run_in(topo, node, || {
        let mut q = Query::open(format!("node {node}"))?;
        if let Some(l) = q.link_by_name(name)? {
            q.forget_neighbour(l.index, src)?;
        }
        Ok(())
    });
}

/// Which topology interface (`node/iface`) holds each address: looked up
/// once per expectation, so built once (a thousand probes of one gateway
/// would otherwise search every node a thousand times).
struct Interfaces(HashMap<IpAddr, String>);

impl Interfaces {
    /// The index of `network`; an address held twice names the first holder
    /// in node and interface order.
    fn of(network: &Network) -> Interfaces {
        let mut m = HashMap::new();
        for (n, node) in &network.nodes {
            for l in node.links.values() {
                for a in &l.addresses {
                    m.entry(a.net.addr())
                        .or_insert_with(|| format!("{n}/{}", l.name));
                }
            }
        }
        Interfaces(m)
    }

    /// `node/iface` of the interface holding `addr`, if any.
    fn holding(&self, addr: IpAddr) -> Option<String> {
        self.0.get(&addr).cloned()
    }
}

/// The address to probe for an expectation.
///
/// `Target::Node`: the node's first address sharing a subnet with one of the
/// source node's addresses (of the probe's family for ARP), else its first IPv4
/// address, else its first address. `Target::Iface`: that interface's first address.
pub fn resolve_target(network: &Network, exp: &Expectation) -> Result<IpAddr, Error> {
    match &exp.to {
        Target::Addr(a) => Ok(*a),
        Target::Iface(r) => {
            let node = network
                .nodes
                .get(&r.node)
                .ok_or_else(|| Error::NoNode(r.node.clone()))?;
            let link = node
                .links
                .get(&r.name)
                .ok_or_else(|| Error::NoIface(r.to_string()))?;
            link.addresses
                .first()
                .map(|a| a.net.addr())
                .ok_or_else(|| Error::IfaceWithoutAddress(r.to_string()))
        }
        Target::Node(name) => {
            let node = network
                .nodes
                .get(name)
                .ok_or_else(|| Error::NoNode(name.clone()))?;
            let theirs: Vec<IpNet> = node
                .links
                .values()
                .flat_map(|l| l.addresses.iter().map(|a| a.net))
                .filter(|n| !n.addr().is_loopback())
                .filter(|n| !matches!(exp.probe, Probe::Arp) || n.addr().is_ipv4())
                .collect();
            let ours: Vec<IpNet> = network
                .nodes
                .get(&exp.from.node)
                .map(|n| {
                    n.links
                        .values()
                        .filter(|l| exp.from.iface.as_deref().is_none_or(|i| i == l.name))
                        .flat_map(|l| l.addresses.iter().map(|a| a.net))
                        .collect()
                })
                .unwrap_or_default();
            let shared = theirs.iter().find(|t| {
                ours.iter()
                    .any(|o| o.contains(&t.addr()) || t.contains(&o.addr()))
            });
            shared
                .or_else(|| theirs.iter().find(|t| t.addr().is_ipv4()))
                .or_else(|| theirs.first())
                .map(|n| n.addr())
                .ok_or_else(|| Error::NodeWithoutAddress(name.clone()))
        }
    }
}

/// Where the probes went: `a/eth0 -> b/eth0 (10.0.0.2)`, as far as known.
fn path(o: &Outcome) -> String {
    let from = match &o.from_iface {
        Some(i) => format!("{}/{i}", o.from_node),
        None => o.from_node.clone(),
    };
    let to = match (&o.to_iface, o.to_addr) {
        (Some(i), Some(a)) => format!("{i} ({a})"),
        (None, Some(a)) => a.to_string(),
        _ => "?".into(),
    };
    format!("{from} -> {to}")
}

/// Render outcomes as aligned columns: expectation, result, rtt, reason; the
/// reason starts with the interfaces used on both ends.
pub fn table(outcomes: &[Outcome]) -> String {
    let rows: Vec<[String; 4]> = outcomes
        .iter()
        .map(|o| {
            [
                o.text.clone(),
                if o.ok { "✓ PASS" } else { "✗ FAIL" }.to_string(),
                o.rtt_ms
                    .map(|r| format!("{r:.2}ms"))
                    .unwrap_or_else(|| "-".into()),
                format!("{}: {}", path(o), o.reason),
            ]
        })
        .collect();
    let head = ["EXPECTATION", "RESULT", "RTT", "REASON"].map(String::from);
    let mut widths = [0usize; 3];
    for r in std::iter::once(&head).chain(rows.iter()) {
        for (w, c) in widths.iter_mut().zip(r.iter()) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in std::iter::once(&head).chain(rows.iter()) {
        for (c, w) in r.iter().take(3).zip(widths) {
            out.push_str(c);
            out.push_str(&" ".repeat(w - c.chars().count() + 2));
        }
        out.push_str(&r[3]);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interfaces_name_the_first_holder_of_each_address() {
        use crate::model::{Address, Link, Node};
        let addr = |s: &str| Address {
            net: s.parse().expect("prefix"),
            dad: false,
            secondary: false,
        };
        let mut a = Node::default();
        let mut l = Link::veth("eth0", "b", "eth0");
        l.addresses = vec![addr("10.0.0.1/24"), addr("10.0.1.1/24")];
        a.links.insert("eth0".into(), l);
        let mut b = Node::default();
        let mut l = Link::veth("eth0", "a", "eth0");
        l.addresses = vec![addr("10.0.0.1/24"), addr("10.0.0.2/24")];
        b.links.insert("eth0".into(), l);
        let network = Network {
            name: "t".into(),
            nodes: [("a".into(), a), ("b".into(), b)].into(),
        };
        let ifaces = Interfaces::of(&network);
        let at = |s: &str| ifaces.holding(s.parse().expect("address"));
        assert_eq!(at("10.0.0.1").as_deref(), Some("a/eth0"));
        assert_eq!(at("10.0.1.1").as_deref(), Some("a/eth0"));
        assert_eq!(at("10.0.0.2").as_deref(), Some("b/eth0"));
        assert_eq!(at("10.0.0.3"), None);
    }

    #[test]
    fn table_aligns_columns() {
        let o = |text: &str, ok, rtt, reason: &str| Outcome {
            text: text.into(),
            from_node: "a".into(),
            ok,
            rtt_ms: rtt,
            reason: reason.into(),
            from_iface: None,
            to_addr: None,
            to_iface: None,
        };
        let t = table(&[
            o("a -> b", true, Some(0.5), "answered"),
            o("long-name -> 10.0.0.1", false, None, "no route"),
        ]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        let col = |l: &str, pat: &str| l.find(pat).expect("column present");
        assert_eq!(col(lines[0], "RESULT"), col(lines[1], "✓"));
        assert!(lines[2].contains("✗ FAIL"));
        assert!(lines[2].ends_with("no route"));
    }
}
