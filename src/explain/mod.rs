//! explain: why a node reaches an address, hop by hop, or which rule of the
//! kernel stops it, in the kernel's terms and with the field of the file to
//! change.
//!
//! One walk ([`walk`]) over a resolved network: per node the L3 decision
//! ([`route`]: local table, longest-prefix match over routes and connected
//! prefixes, forwarding and rp_filter, NAT), between nodes the L2 segment
//! ([`frame`]: a frame simulated device by device, each device kind's
//! behaviour in its file under [`rules`], which also holds the rule
//! catalogue). The walk reads its facts from a [`facts::Facts`]: from the
//! file alone (`--static`), or from the kernel ([`live`]), where every step
//! is confirmed by the kernel of the node it happens in and every
//! difference from the file is reported as drift. Both directions are
//! walked: the request, then the reply from the address that answered.
pub mod drift;
pub mod facts;
pub mod fast;
pub mod frame;
pub mod index;
pub mod live;
pub mod nft;
pub mod render;
pub mod route;
pub mod rules;
pub mod target;
pub mod trace;
pub mod walk;

use std::net::IpAddr;

use serde::Serialize;

use crate::model::Probe;

pub use facts::Facts;
pub use index::Index;
pub use rules::{Rule, RuleHit};
pub use target::{ExplainError, Flow};

/// How a flow ended: delivered, or the reason it was not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// The destination received it (and, for the whole flow, answered).
    Delivered,
    /// A node on the way has no route (or an unreachable, prohibit or blackhole one).
    NoRoute,
    /// The next hop's address was never resolved: nothing on the segment answered ARP / ND.
    NeighbourUnreachable,
    /// A device mode forbids the path (macvlan private / vepa / source,
    /// ipvlan private / l3 without ARP, bond or team port not active, ...).
    DeniedByDeviceMode,
    /// A bridge port does not forward (STP state, isolated, hairpin, flooding off).
    PortNotForwarding,
    /// VLAN membership or tags do not match.
    VlanFiltered,
    /// An nftables rule dropped it.
    FilteredByNft,
    /// A transit node does not forward (ip_forward / forwarding off on the input interface).
    ForwardingDisabled,
    /// The reverse-path filter (rp_filter) or the martian-source check dropped it.
    ReversePathFilter,
    /// The request arrived, but the answer has no way back.
    NoReturnPath,
    /// A routing loop: the packet came back to a node it had left.
    Loop,
    /// A link on the path is down: administratively, or without carrier.
    LinkDown,
    /// The kernel does not forward yet (STP listening or learning, namespace missing).
    NotReady,
    /// The file does not say enough to decide (a device outside the file,
    /// an address the kernel assigns).
    InsufficientInfo,
}

impl Disposition {
    /// Whether the flow got through.
    pub fn ok(self) -> bool {
        self == Disposition::Delivered
    }

    /// The word used in tables and JSON.
    pub fn word(self) -> &'static str {
        match self {
            Disposition::Delivered => "delivered",
            Disposition::NoRoute => "no_route",
            Disposition::NeighbourUnreachable => "neighbour_unreachable",
            Disposition::DeniedByDeviceMode => "denied_by_device_mode",
            Disposition::PortNotForwarding => "port_not_forwarding",
            Disposition::VlanFiltered => "vlan_filtered",
            Disposition::FilteredByNft => "filtered_by_nft",
            Disposition::ForwardingDisabled => "forwarding_disabled",
            Disposition::ReversePathFilter => "reverse_path_filter",
            Disposition::NoReturnPath => "no_return_path",
            Disposition::Loop => "loop",
            Disposition::LinkDown => "link_down",
            Disposition::NotReady => "not_ready",
            Disposition::InsufficientInfo => "insufficient_info",
        }
    }
}

impl std::fmt::Display for Disposition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.word())
    }
}

/// What kind of step: where the packet is and what decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepType {
    /// The packet leaves the source's stack.
    Originate,
    /// A routing decision (route lookup, forwarding, reverse path).
    Route,
    /// Next hop resolution (ARP / ND).
    Neighbour,
    /// A frame crosses a device: veth, bridge, macvlan, ipvlan, vlan, vxlan, bond, team.
    Segment,
    /// A filter: nftables, rp_filter.
    Filter,
    /// An address translation (masquerade).
    Transform,
    /// The packet is delivered to a local address.
    Deliver,
    /// The model and the kernel disagree here.
    Drift,
}

/// What happened to the packet at a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// It goes on.
    Forward,
    /// It is delivered.
    Deliver,
    /// It is dropped here.
    Drop,
    /// It is rewritten and goes on.
    Transform,
    /// Information only.
    Note,
}

/// Where a step's facts come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Evidence {
    /// The topology file (and the kernel's documented behaviour).
    Model,
    /// The node's kernel, asked just now.
    Kernel,
}

/// One step inside a hop.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// What kind of step.
    #[serde(rename = "type")]
    pub kind: StepType,
    /// What happened, in the kernel's terms.
    pub detail: String,
    /// Forward, deliver, drop, transform or note.
    pub action: Action,
    /// Model or kernel.
    pub evidence: Evidence,
}

/// The steps taken inside one node.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hop {
    /// The node.
    pub node: String,
    /// Its steps, in order.
    pub steps: Vec<Step>,
}

/// One direction of a flow: the hops and how it ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trace {
    /// How this direction ended.
    pub disposition: Disposition,
    /// One sentence why.
    pub reason: String,
    /// The catalogue rule that stopped it, when one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<RuleHit>,
    /// The nodes crossed, in order.
    pub hops: Vec<Hop>,
}

/// Static (from the file) or live (confirmed by the kernel).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// From the file alone.
    Static,
    /// Confirmed by the kernel of each node.
    Live,
}

/// The whole answer for one flow.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    /// What was asked.
    pub flow: Flow,
    /// Static or live.
    pub mode: Mode,
    /// How the flow ended: delivered only when the answer came back too.
    pub disposition: Disposition,
    /// One sentence why, naming the rule and what to change.
    pub reason: String,
    /// The rule that stopped it, in either direction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<RuleHit>,
    /// The request's path.
    pub forward: Trace,
    /// The answer's path (absent when the request did not arrive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply: Option<Trace>,
    /// Where the kernel differs from the file (live only).
    pub drift: Vec<String>,
    /// What a real probe under nftrace showed (`--trace`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace: Option<trace::TraceReport>,
}

impl Explanation {
    /// Whether the flow gets through (request and answer).
    pub fn ok(&self) -> bool {
        self.disposition.ok()
    }
}

/// The words of a probe protocol: `icmp`, `arp`, `udp/53`, `tcp/80`.
pub fn probe_word(p: Probe) -> String {
    match p {
        Probe::Icmp => "icmp".into(),
        Probe::Arp => "arp".into(),
        Probe::Udp(n) => format!("udp/{n}"),
        Probe::Tcp(n) => format!("tcp/{n}"),
    }
}

/// Parse `icmp`, `arp`, `udp/PORT` or `tcp/PORT`.
pub fn parse_probe(s: &str) -> Option<Probe> {
    let port = |p: &str| p.parse::<u16>().ok().filter(|p| *p > 0);
    match s {
        "icmp" => Some(Probe::Icmp),
        "arp" => Some(Probe::Arp),
        _ => match s.split_once('/') {
            Some(("udp", p)) => port(p).map(Probe::Udp),
            Some(("tcp", p)) => port(p).map(Probe::Tcp),
            _ => None,
        },
    }
}

/// The file's network with each logical interface's address on its home
/// port: where its watcher places it while every port is up as the file
/// declares (a DHCP lease, unknown before the server grants it, stays out).
fn lifs_at_home(net: &crate::model::Network) -> std::borrow::Cow<'_, crate::model::Network> {
    use crate::model::service::ServiceSetup;
    let has_lifs = net.nodes.values().any(|n| {
        n.services
            .values()
            .any(|s| matches!(s.setup, ServiceSetup::LifWatch(_)))
    });
    if !has_lifs {
        return std::borrow::Cow::Borrowed(net);
    }
    let mut out = net.clone();
    for node in out.nodes.values_mut() {
        let lifs: Vec<_> = node
            .services
            .values()
            .filter_map(|s| match &s.setup {
                ServiceSetup::LifWatch(w) => Some(w.lifs.clone()),
                _ => None,
            })
            .flatten()
            .collect();
        for lif in lifs {
            if let Some(home) = node.links.get_mut(&lif.home) {
                if !home.addresses.iter().any(|a| a.net == lif.address) {
                    home.addresses.push(crate::model::Address {
                        net: lif.address,
                        dad: false,
                        secondary: false,
                    });
                }
            }
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Explain `flow` of `topo` (read from `file`) from the file alone.
pub fn explain_static(topo: &crate::spec::Topology, file: &str, flow: &Flow) -> Explanation {
    let net = lifs_at_home(&topo.network);
    let idx = Index::new(&net);
    let facts = Facts::model();
    let place = rules::Place {
        file,
        locations: &topo.locations,
    };
    walk::explain(&idx, &facts, place, flow)
}

/// One cell of the reachability matrix.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cell {
    /// Source node.
    pub from: String,
    /// Destination address.
    pub to: IpAddr,
    /// Who holds it, `node/iface`.
    pub holder: String,
    /// How the flow ends.
    pub disposition: Disposition,
    /// Why, in one sentence.
    pub reason: String,
}

/// The reachability matrix: every node to every address of the file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Matrix {
    /// Static or live.
    pub mode: Mode,
    /// Probe protocol.
    pub proto: String,
    /// Source nodes, in order.
    pub nodes: Vec<String>,
    /// Addresses with their holders, in order.
    pub addresses: Vec<(IpAddr, String)>,
    /// Cells, row by row (node-major).
    pub cells: Vec<Cell>,
    /// Drift seen while building the live facts.
    pub drift: Vec<String>,
}

/// Every (node, address of the file) pair, the flows of `--all`.
pub fn all_flows(topo: &crate::spec::Topology, probe: Probe) -> Vec<Flow> {
    let idx = Index::new(&topo.network);
    let mut out = Vec::new();
    let addrs = idx.file_addresses();
    for node in topo.network.nodes.keys() {
        for (addr, holder) in &addrs {
            out.push(Flow {
                src: node.clone(),
                src_iface: None,
                dst: *addr,
                dst_holder: Some(holder.clone()),
                proto: probe_word(probe),
                probe,
            });
        }
    }
    out
}

/// The matrix from a list of explanations of [`all_flows`].
pub fn matrix(
    topo: &crate::spec::Topology,
    mode: Mode,
    probe: Probe,
    ex: &[Explanation],
) -> Matrix {
    let idx = Index::new(&topo.network);
    let cells = ex
        .iter()
        .map(|e| Cell {
            from: e.flow.src.clone(),
            to: e.flow.dst,
            holder: e.flow.dst_holder.clone().unwrap_or_default(),
            disposition: e.disposition,
            reason: e.reason.clone(),
        })
        .collect();
    let mut drift: Vec<String> = ex.iter().flat_map(|e| e.drift.iter().cloned()).collect();
    drift.sort();
    drift.dedup();
    Matrix {
        mode,
        proto: probe_word(probe),
        nodes: topo.network.nodes.keys().cloned().collect(),
        addresses: idx.file_addresses(),
        cells,
        drift,
    }
}

/// `--all --static`: the matrix from the file alone (the index and facts
/// are built once for every pair).
pub fn all_static(topo: &crate::spec::Topology, file: &str, probe: Probe) -> Matrix {
    let net = lifs_at_home(&topo.network);
    let idx = Index::new(&net);
    let facts = Facts::model();
    let place = rules::Place {
        file,
        locations: &topo.locations,
    };
    let walker = walk::Walker::new(&idx, &facts, place);
    let ex: Vec<Explanation> = all_flows(topo, probe)
        .iter()
        .map(|f| walker.explain(f))
        .collect();
    matrix(topo, Mode::Static, probe, &ex)
}
