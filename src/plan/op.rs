//! Operations: the steps of a plan, each one kernel change the apply layer performs.
use serde::{Deserialize, Serialize};

use crate::model::{Address, Link, LinkKind, MacAddr, Masquerade, PortOptions, Route};

/// One change to the kernel. Every op names the node it acts in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Op {
    /// Create the network namespace of a node.
    AddNetns {
        /// Node name.
        node: String,
    },
    /// Delete a node's namespace (and with it every device inside).
    DelNetns {
        /// Node name.
        node: String,
    },
    /// Write a sysctl in a node; `prior` is the value before, for rollback.
    SetSysctl {
        /// Node name.
        node: String,
        /// Dotted key, e.g. `net.ipv4.ip_forward`.
        key: String,
        /// New value.
        value: String,
        /// Value before the change (`None` when unknown).
        prior: Option<String>,
    },
    /// Create a link with its kind options, MTU, MAC and ownership mark. Not
    /// its master, state or addresses: those follow as separate ops. A veth
    /// carries its `peer` end, created at once inside the peer's node. A
    /// macvlan/ipvlan/vlan whose lower lives in another node is created there
    /// and moved into `node`.
    AddLink {
        /// Node the link ends up in.
        node: String,
        /// The link as desired.
        link: Link,
        /// For veth: the other end, created in the same request.
        peer: Option<Box<Link>>,
    },
    /// Delete a link netloom owns (for veth this removes both ends).
    DelLink {
        /// Node name.
        node: String,
        /// Interface name.
        name: String,
    },
    /// Change settings of an existing link; `prior` holds the old values of the changed fields.
    SetLink {
        /// Node name.
        node: String,
        /// Interface name.
        name: String,
        /// New values; `None` fields stay as they are.
        change: LinkChange,
        /// Old values of the fields in `change`, for rollback.
        prior: LinkChange,
    },
    /// Add an address to a link.
    AddAddress {
        /// Node name.
        node: String,
        /// Interface name.
        link: String,
        /// The address.
        addr: Address,
    },
    /// Remove an address from a link.
    DelAddress {
        /// Node name.
        node: String,
        /// Interface name.
        link: String,
        /// The address.
        addr: Address,
    },
    /// Add a route.
    AddRoute {
        /// Node name.
        node: String,
        /// The route.
        route: Route,
    },
    /// Remove a route.
    DelRoute {
        /// Node name.
        node: String,
        /// The route.
        route: Route,
    },
    /// Create or replace the node's netloom nftables table with these masquerade rules.
    SetNat {
        /// Node name.
        node: String,
        /// Rules, in order.
        rules: Vec<Masquerade>,
    },
    /// Delete the node's netloom nftables table.
    DelNat {
        /// Node name.
        node: String,
    },
}

/// Settings to change on an existing link; `None` leaves a field alone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LinkChange {
    /// Administrative state.
    pub up: Option<bool>,
    /// MTU.
    pub mtu: Option<u32>,
    /// Ethernet address.
    pub mac: Option<MacAddr>,
    /// `Some(Some(m))` enslave to `m`, `Some(None)` release from its master.
    pub master: Option<Option<String>>,
    /// Port options to set (only the `Some` fields inside).
    pub port: Option<PortOptions>,
    /// Kind options to change in place (only the `Some` fields inside).
    pub kind: Option<LinkKind>,
}

impl LinkChange {
    /// True when nothing would change.
    pub fn is_empty(&self) -> bool {
        self == &LinkChange::default()
    }
}

/// An op with its position in the plan's dependency graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// The operation.
    pub op: Op,
    /// Indexes of steps that must finish before this one starts.
    pub after: Vec<usize>,
}

/// An ordered plan: steps in a valid serial order, with dependencies for parallel apply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Steps; `after` indexes always point to earlier steps.
    pub steps: Vec<Step>,
}
