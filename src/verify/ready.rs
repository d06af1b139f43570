//! Readiness before judging: carrier on the links probes use, bridge ports
//! settled (forwarding, or blocking under STP), IPv6 addresses past DAD.
//!
//! Probing too early turns a correct network into false failures, so `verify`
//! waits for the kernel to report these states, read by netlink dumps in each
//! node. Waiting is bounded, and it stops at once when what is missing can
//! never come by waiting ("never": a link administratively down, a veth whose
//! peer is down or gone, a duplicate address), as opposed to "not yet" (a
//! bridge port listening or learning, an address still tentative).
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::nl;
use crate::kernel;
use crate::model::{Expectation, Link, LinkKind, Network, Target};

/// IFLA_BRPORT_STATE values (include/uapi/linux/if_bridge.h).
const BR_STATE_DISABLED: u8 = 0;
const BR_STATE_FORWARDING: u8 = 3;
const BR_STATE_BLOCKING: u8 = 4;

/// How long a "never" must persist before waiting stops (state changes of a
/// network `up` just built, such as teamd re-enslaving a port, settle well within).
const NEVER_CONFIRM: Duration = Duration::from_millis(250);

/// Time between two looks at the kernel.
const POLL: Duration = Duration::from_millis(25);

/// How a readiness wait ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Readiness {
    /// Every link involved forwards: the verdicts that follow are meaningful.
    pub ready: bool,
    /// Waiting stopped early because something can never become ready.
    pub broken: bool,
    /// How long the wait took, in milliseconds.
    pub waited_ms: f64,
    /// The bound the wait had, in milliseconds.
    pub bound_ms: u64,
    /// What was still not ready when waiting stopped (empty when ready).
    pub waiting: Vec<String>,
}

impl std::fmt::Display for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.waited_ms / 1000.0;
        if self.ready {
            write!(f, "ready after {secs:.1} s")
        } else if self.broken {
            write!(
                f,
                "not ready, and never will be (stopped after {secs:.1} s): {}",
                self.waiting.join(", ")
            )
        } else {
            write!(
                f,
                "not ready after {secs:.1} s (bound {:.1} s): {}",
                self.bound_ms as f64 / 1000.0,
                self.waiting.join(", ")
            )
        }
    }
}

/// What to check in one node.
struct NodeCheck {
    node: String,
    /// Links whose carrier must be up.
    carrier: Vec<String>,
    /// Bridge ports whose state must be settled.
    ports: Vec<String>,
    /// The file's addresses in an endpoint node, which must be past DAD. Kernel-made
    /// link-local addresses are not waited for: probes use the file's addresses,
    /// and their DAD would add about two seconds to every run.
    addrs: Vec<IpAddr>,
}

/// Whether the file means `l` to be up (links declared `state: down` are not waited for).
fn wanted_up(l: &Link) -> bool {
    l.up != Some(false)
}

/// Whether the file makes `l` carrier-less on purpose: a veth whose peer is
/// declared down, or a device stacked on such a link.
fn down_by_design(network: &Network, l: &Link, depth: u8) -> bool {
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

/// Which links of which nodes the expectations depend on: every link of an
/// endpoint node, and every bridge port anywhere (a path may cross any bridge).
fn plan(network: &Network, expect: &[Expectation]) -> Vec<NodeCheck> {
    let endpoints = endpoints(expect);
    let mut out = Vec::new();
    for (name, node) in &network.nodes {
        let is_bridge = |m: &str| {
            node.links
                .get(m)
                .is_some_and(|l| matches!(l.kind, LinkKind::Bridge(_)))
        };
        let usable = |l: &&Link| wanted_up(l) && !down_by_design(network, l, 0);
        let ports: Vec<String> = node
            .links
            .values()
            .filter(usable)
            .filter(|l| l.master.as_deref().is_some_and(is_bridge))
            .map(|l| l.name.clone())
            .collect();
        let carrier: Vec<String> = if endpoints.contains(name) {
            node.links
                .values()
                .filter(usable)
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
                .filter(|l| wanted_up(l))
                .flat_map(|l| l.addresses.iter().map(|a| a.net.addr()))
                .collect()
        } else {
            Vec::new()
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

/// One node's links and addresses as the kernel reports them.
struct Snapshot {
    links: Vec<nl::LinkState>,
    /// Index into `links` by name (a host has 1000 ports to look up).
    by_name: HashMap<String, usize>,
    addrs: Vec<nl::AddrState>,
}

impl Snapshot {
    fn new(links: Vec<nl::LinkState>, addrs: Vec<nl::AddrState>) -> Snapshot {
        let by_name = links
            .iter()
            .enumerate()
            .map(|(i, l)| (l.name.clone(), i))
            .collect();
        Snapshot {
            links,
            by_name,
            addrs,
        }
    }

    /// The link called `name`.
    fn link(&self, name: &str) -> Option<&nl::LinkState> {
        self.by_name.get(name).map(|&i| &self.links[i])
    }
}

/// Add to `out` the nodes whose state explains `node/name`'s carrier: a veth's
/// peer, a stacked device's lower (and what explains it), a master's ports.
fn explainers(network: &Network, node: &str, name: &str, depth: u8, out: &mut BTreeSet<String>) {
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
fn nodes_to_read(network: &Network, checks: &[NodeCheck]) -> BTreeSet<String> {
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

/// Read the given nodes: two helper threads enter the namespaces in turn
/// and dump each through a blocking socket (a thread, a runtime and a
/// connection per node cost more than the dumps at 1000 nodes).
fn snapshot(
    network: &Network,
    nodes: &BTreeSet<String>,
) -> BTreeMap<String, Result<Snapshot, String>> {
    let mut out = BTreeMap::new();
    let mut opened = Vec::new();
    for node in nodes {
        match open(network, node) {
            Ok(ns) => opened.push((node, ns)),
            Err(e) => {
                out.insert(node.clone(), Err(e));
            }
        }
    }
    let nss: Vec<&kernel::Netns> = opened.iter().map(|(_, ns)| ns).collect();
    match kernel::netns::run_in_each(&nss, |i, _| read(opened[i].0)) {
        Ok(reads) => {
            for ((node, _), r) in opened.iter().zip(reads) {
                out.insert(
                    node.to_string(),
                    r.map_err(|e| e.to_string()).and_then(|r| r),
                );
            }
        }
        Err(e) => {
            for (node, _) in &opened {
                out.insert(node.to_string(), Err(e.to_string()));
            }
        }
    }
    out
}

/// The namespace of `node`, opened.
fn open(network: &Network, node: &str) -> Result<kernel::Netns, String> {
    let Some(name) = crate::model::netns_name(&network.name, node) else {
        return kernel::netns::current().map_err(|e| e.to_string());
    };
    match kernel::netns::open(&name) {
        Ok(Some(ns)) => Ok(ns),
        Ok(None) => Err(super::error::Error::OpenNetns {
            node: node.to_string(),
            path: kernel::netns::netns_path(&name),
            source: std::io::ErrorKind::NotFound.into(),
        }
        .to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// Dump the links and addresses of the calling thread's namespace, `node`'s.
fn read(node: &str) -> Result<Snapshot, String> {
    use kernel::rtnl::Rtnl;
    use rtnetlink::packet_route::address::AddressMessage;
    use rtnetlink::packet_route::RouteNetlinkMessage as Msg;
    let object = format!("node {node}");
    let mut r = Rtnl::open().map_err(|e| format!("{object}: netlink socket: {e}"))?;
    let links = r
        .dump(kernel::observe::link_request, &object, "link dump")
        .map_err(|e| e.to_string())?;
    let addrs = r
        .dump(
            || Msg::GetAddress(AddressMessage::default()),
            &object,
            "address dump",
        )
        .map_err(|e| e.to_string())?;
    Ok(Snapshot::new(
        links
            .iter()
            .filter_map(|m| match m {
                Msg::NewLink(l) => Some(nl::link_state(l)),
                _ => None,
            })
            .collect(),
        addrs
            .iter()
            .filter_map(|m| match m {
                Msg::NewAddress(a) => nl::addr_state(a),
                _ => None,
            })
            .collect(),
    ))
}

/// One thing not ready, and whether waiting can help.
#[derive(Debug, Clone, PartialEq)]
enum Wait {
    /// The kernel is still getting there.
    NotYet(String),
    /// It will not come by waiting.
    Never(String),
}

/// The kernel's view of the state of all nodes, with the file's model beside it.
struct View<'a> {
    network: &'a Network,
    snaps: &'a BTreeMap<String, Result<Snapshot, String>>,
}

impl View<'_> {
    fn link(&self, node: &str, name: &str) -> Option<&nl::LinkState> {
        match self.snaps.get(node) {
            Some(Ok(s)) => s.link(name),
            _ => None,
        }
    }

    /// Why `node/name` has no carrier, when waiting cannot fix it; `None` when it may still come.
    fn never_carrier(&self, node: &str, name: &str, depth: u8) -> Option<String> {
        if depth > 8 {
            return None;
        }
        let Some(k) = self.link(node, name) else {
            return Some(format!("{node}/{name} is missing"));
        };
        if !k.up {
            return Some(format!("{node}/{name} is administratively down"));
        }
        if k.lower_up {
            return None;
        }
        let model = self.network.nodes.get(node)?.links.get(name)?;
        match &model.kind {
            // A veth has carrier exactly while its peer is up.
            LinkKind::Veth(o) => {
                let p = o.peer.as_ref()?;
                match self.link(&p.node, &p.name) {
                    None => Some(format!("its peer {p} is missing")),
                    Some(pk) if !pk.up => Some(format!("its peer {p} is down")),
                    Some(_) => None,
                }
            }
            // A master has carrier once one of its ports can forward.
            LinkKind::Bridge(_) | LinkKind::Bond(_) | LinkKind::Team(_) => {
                let ports: Vec<&Link> = self.network.nodes[node]
                    .links
                    .values()
                    .filter(|l| l.master.as_deref() == Some(name))
                    .collect();
                let dead: Vec<String> = ports
                    .iter()
                    .filter_map(|p| self.never_carrier(node, &p.name, depth + 1))
                    .collect();
                (!ports.is_empty() && dead.len() == ports.len())
                    .then(|| format!("every port is dead ({})", dead.join("; ")))
            }
            // Stacked devices follow their lower device's carrier.
            kind => {
                let low = kind.lower()?;
                let lk = self.link(&low.node, &low.name)?;
                if lk.lower_up {
                    return None;
                }
                self.never_carrier(&low.node, &low.name, depth + 1)
                    .map(|why| format!("lower {low} has no carrier: {why}"))
            }
        }
    }

    /// Everything not ready in one node.
    fn node(&self, c: &NodeCheck) -> Vec<Wait> {
        let node = &c.node;
        let snap = match self.snaps.get(node) {
            Some(Ok(s)) => s,
            Some(Err(e)) => return vec![Wait::Never(e.clone())],
            None => return vec![Wait::Never(format!("node {node} not read"))],
        };
        let mut out = Vec::new();
        for name in &c.carrier {
            match snap.link(name) {
                None => out.push(Wait::Never(format!("{node}/{name}: missing"))),
                Some(l) if !l.up => {
                    out.push(Wait::Never(format!("{node}/{name}: administratively down")))
                }
                Some(l) if !l.lower_up => out.push(match self.never_carrier(node, name, 0) {
                    Some(why) => Wait::Never(format!("{node}/{name}: no carrier ({why})")),
                    None => Wait::NotYet(format!("{node}/{name}: no carrier")),
                }),
                Some(_) => {}
            }
        }
        // An 802.3ad bond has carrier as soon as a port is up, but forwards
        // only once LACP lets a port of its active aggregator distribute.
        for name in &c.carrier {
            let lacp = self
                .network
                .nodes
                .get(node)
                .and_then(|n| n.links.get(name))
                .is_some_and(|l| {
                    matches!(&l.kind, LinkKind::Bond(b) if b.mode.as_deref() == Some("802.3ad"))
                });
            if !lacp {
                continue;
            }
            let ports: Vec<&nl::LinkState> = snap
                .links
                .iter()
                .filter(|p| {
                    self.network.nodes[node]
                        .links
                        .get(&p.name)
                        .is_some_and(|m| m.master.as_deref() == Some(name.as_str()))
                })
                .collect();
            if !ports.iter().any(|p| p.lacp_distributing == Some(true)) {
                out.push(Wait::NotYet(format!(
                    "{node}/{name}: no port distributing (LACP negotiating)"
                )));
            }
        }
        for name in &c.ports {
            let Some(l) = snap.link(name) else {
                out.push(Wait::Never(format!("{node}/{name}: missing")));
                continue;
            };
            match l.brport_state {
                Some(BR_STATE_FORWARDING | BR_STATE_BLOCKING) | None => {}
                Some(BR_STATE_DISABLED) => {
                    let what = format!("{node}/{name}: bridge port disabled");
                    out.push(match self.never_carrier(node, name, 0) {
                        Some(why) => Wait::Never(format!("{what} ({why})")),
                        None => Wait::NotYet(what),
                    })
                }
                Some(s) => out.push(Wait::NotYet(format!(
                    "{node}/{name}: bridge port {}",
                    port_state_name(s)
                ))),
            }
        }
        for a in &snap.addrs {
            if !c.addrs.contains(&a.addr) {
                continue;
            }
            let Some(l) = snap.links.iter().find(|l| l.index == a.index) else {
                continue;
            };
            if a.dadfailed {
                out.push(Wait::Never(format!(
                    "{node}/{}: {} failed DAD (duplicate)",
                    l.name, a.addr
                )));
            } else if a.tentative && l.up {
                out.push(Wait::NotYet(format!(
                    "{node}/{}: {} tentative (DAD)",
                    l.name, a.addr
                )));
            }
        }
        out
    }
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

/// A sensible bound for a network: 10 s, plus listening and learning
/// (2 x forward_delay) of the slowest STP bridge, plus 10 s when an 802.3ad
/// bond must negotiate LACP (8 s was seen under emulation).
pub fn default_bound(network: &Network) -> Duration {
    let lacp = network
        .nodes
        .values()
        .flat_map(|n| n.links.values())
        .any(|l| matches!(&l.kind, LinkKind::Bond(b) if b.mode.as_deref() == Some("802.3ad")));
    let lacp = if lacp {
        Duration::from_secs(10)
    } else {
        Duration::ZERO
    };
    let stp_cs = network
        .nodes
        .values()
        .flat_map(|n| n.links.values())
        .filter_map(|l| match &l.kind {
            LinkKind::Bridge(b) if b.stp == Some(true) => Some(b.forward_delay.unwrap_or(1500)),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    Duration::from_secs(10) + Duration::from_millis(u64::from(stp_cs) * 20) + lacp
}

/// Wait until the links the expectations use are ready, at most `bound`, and
/// say how it ended. Stops early when something can never become ready.
pub fn readiness(network: &Network, expect: &[Expectation], bound: Duration) -> Readiness {
    let checks = plan(network, expect);
    let nodes = nodes_to_read(network, &checks);
    let start = Instant::now();
    let mut never_since: Option<Instant> = None;
    loop {
        let snaps = snapshot(network, &nodes);
        let view = View {
            network,
            snaps: &snaps,
        };
        let waits: Vec<Wait> = checks.iter().flat_map(|c| view.node(c)).collect();
        let finish = |ready: bool, broken: bool| Readiness {
            ready,
            broken,
            waited_ms: (start.elapsed().as_secs_f64() * 10_000.0).round() / 10.0,
            bound_ms: u64::try_from(bound.as_millis()).unwrap_or(u64::MAX),
            waiting: waits
                .iter()
                .map(|w| match w {
                    Wait::NotYet(s) => s.clone(),
                    Wait::Never(s) => s.clone(),
                })
                .collect(),
        };
        if waits.is_empty() {
            return finish(true, false);
        }
        if waits.iter().any(|w| matches!(w, Wait::Never(_))) {
            let since = *never_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= NEVER_CONFIRM {
                return finish(false, true);
            }
        } else {
            never_since = None;
        }
        if start.elapsed() >= bound {
            return finish(false, false);
        }
        std::thread::sleep(POLL);
    }
}

/// Wait until the links the expectations use are ready; return how long it took,
/// or an error naming what is still not ready when `bound` passes (or at once,
/// when it can never become ready).
pub fn wait_ready(
    network: &Network,
    expect: &[Expectation],
    bound: Duration,
) -> Result<Duration, String> {
    let r = readiness(network, expect, bound);
    if r.ready {
        Ok(Duration::from_secs_f64(r.waited_ms / 1000.0))
    } else {
        Err(r.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{BridgeOptions, Link, Node};

    fn veth(name: &str, peer: (&str, &str), up: Option<bool>) -> Link {
        let mut l = Link::veth(name, peer.0, peer.1);
        l.up = up;
        l
    }

    fn net(nodes: Vec<(&str, Vec<Link>)>) -> Network {
        let mut n = Network {
            name: "t".into(),
            ..Network::default()
        };
        for (name, links) in nodes {
            let mut node = Node::default();
            for l in links {
                node.links.insert(l.name.clone(), l);
            }
            n.nodes.insert(name.into(), node);
        }
        n
    }

    #[test]
    fn bound_allows_for_the_slowest_stp_bridge() {
        let plain = net(vec![("a", vec![veth("eth0", ("b", "eth0"), None)])]);
        assert_eq!(default_bound(&plain), Duration::from_secs(10));
        let mut br = Link::new(
            "br0",
            LinkKind::Bridge(BridgeOptions {
                stp: Some(true),
                forward_delay: Some(200),
                ..BridgeOptions::default()
            }),
        );
        let stp = net(vec![("sw", vec![br.clone()])]);
        assert_eq!(default_bound(&stp), Duration::from_secs(14));
        br.kind = LinkKind::Bridge(BridgeOptions {
            stp: Some(true),
            ..BridgeOptions::default()
        });
        // The kernel's default forward_delay is 15 s.
        assert_eq!(
            default_bound(&net(vec![("sw", vec![br])])),
            Duration::from_secs(40)
        );
    }

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
