//! The picture as plain data: nodes as clusters holding their interfaces,
//! edges for what joins interfaces, and (with `--live`) the kernel's state
//! laid over them. Every output format is drawn from this, and `--format
//! json` is this itself.
use serde::Serialize;

/// A whole topology to draw.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Graph {
    /// Topology name.
    pub name: String,
    /// Nodes in file order.
    pub nodes: Vec<Cluster>,
    /// What joins interfaces.
    pub edges: Vec<Edge>,
    /// VXLAN peers outside the file (by address).
    pub remotes: Vec<Remote>,
    /// Expectations that failed (live only).
    pub failed: Vec<Failed>,
    /// Whether the kernel's state is laid over the file.
    pub live: bool,
}

/// A node (network namespace) and its interfaces.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cluster {
    /// Node name.
    pub name: String,
    /// `host`: the machine itself.
    pub host: bool,
    /// Its interfaces.
    pub interfaces: Vec<Iface>,
}

/// One interface.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Iface {
    /// `node/iface`, unique in the graph.
    pub id: String,
    /// Interface name.
    pub name: String,
    /// Kind word (`veth`, `bridge`, `external`...).
    pub kind: String,
    /// Label lines under the name: mode, ids, addresses.
    pub detail: Vec<String>,
    /// The kernel's state (live only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<State>,
}

/// What an interface looks like in the kernel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct State {
    /// The device exists.
    pub present: bool,
    /// Administratively up.
    pub up: Option<bool>,
    /// Carrier (lower layer up).
    pub carrier: Option<bool>,
    /// How it differs from the file (`status`'s words), when it does.
    pub drift: Option<String>,
}

/// How two interfaces are joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Relation {
    /// The two ends of a veth pair.
    Veth,
    /// A port of a bridge, bond or team (from port to master).
    Port,
    /// A device stacked on its lower (vlan, macvlan, ipvlan, vxlan `dev`).
    Lower,
    /// A VXLAN to its remote.
    Tunnel,
}

/// An edge from `from` to `to` (interface ids, or a remote's id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Edge {
    /// Source id.
    pub from: String,
    /// Target id.
    pub to: String,
    /// What joins them.
    pub relation: Relation,
    /// Words on the edge (`vni 200`, `vlan 10`, `cost 10`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// For a port, live: its STP state (`forwarding`, `blocking`...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stp: Option<String>,
    /// For a port of a bond or team, live: it is the active one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
}

/// A VXLAN peer no interface of the file holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Remote {
    /// Its id in the graph.
    pub id: String,
    /// The address.
    pub addr: String,
}

/// An expectation that failed at the last `verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failed {
    /// The claim as written.
    pub text: String,
    /// The id it starts from (an interface of the source node).
    pub from: String,
    /// The id it aims at, when it is in the picture.
    pub to: Option<String>,
    /// Why it failed.
    pub reason: String,
}

impl Graph {
    /// Every interface, with its node.
    pub fn interfaces(&self) -> impl Iterator<Item = (&Cluster, &Iface)> {
        self.nodes
            .iter()
            .flat_map(|c| c.interfaces.iter().map(move |i| (c, i)))
    }
}
