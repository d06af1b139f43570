//! Dependency graph: ops declare what they need and what they give; the builder
//! orders them by phase and turns needs into `after` indexes.
use std::collections::HashMap;

use ipnet::IpNet;

use crate::model::IfRef;
use crate::model::{Op, Plan, Step};

/// Coarse serial order of op families. Deletions come first so names can be
/// reused; within a phase, ops keep the order they were pushed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Phase {
    /// Services stop before anything they use goes.
    StopService,
    DelFdb,
    DelRoute,
    DelAddress,
    DelNat,
    DelLink,
    DelNetns,
    AddNetns,
    Sysctl,
    /// MTU decreases of existing links, stacked devices before their lowers.
    MtuDown,
    /// MTU increases of existing links, lowers before the devices stacked on them.
    MtuUp,
    AddLink,
    LinkSysctl,
    Config,
    Teamd,
    AddAddress,
    Up,
    /// IPv6 addresses a link set down lost, added again.
    Readd,
    /// Services start once their interfaces are up with their addresses,
    /// before the routes (a route through a LIF needs its address placed).
    Service,
    AddRoute,
    AddFdb,
    SetNat,
}

/// Something an op makes true, which later ops may wait for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Key {
    /// The node's namespace exists.
    Netns(String),
    /// The link exists (created by this plan).
    Link(IfRef),
    /// The link name is free again.
    LinkGone(IfRef),
    /// The link's settings other than `up` are applied (master, mtu, ...).
    Config(IfRef),
    /// The link's MTU change is applied.
    Mtu(IfRef),
    /// The link is up.
    Up(IfRef),
    /// The address is on the link.
    Addr(IfRef, IpNet),
    /// The address is no longer in the node.
    AddrGone(String, IpNet),
    /// No route to this prefix in this table remains (node, to, table).
    RouteGone(String, IpNet, u32),
    /// A device route (no gateway) to this prefix in this table is added (node, to, table).
    Route(String, IpNet, u32),
    /// Addresses and routes on the link that had to go are gone.
    Cleared(IfRef),
    /// A node-wide sysctl of the node is written.
    Sysctl(String),
    /// A per-interface sysctl of the link is written.
    LinkSysctl(IfRef),
    /// A deletion that involves devices of this node is done.
    Touched(String),
    /// The link, up before, is down to be enslaved to a bond.
    Down(IfRef),
    /// The service (node, name) runs as wanted.
    Service(String, String),
    /// The service (node, name) is stopped.
    ServiceGone(String, String),
}

/// An op waiting to be placed in the plan.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub phase: Phase,
    pub op: Op,
    pub needs: Vec<Key>,
    pub gives: Vec<Key>,
}

impl Pending {
    /// An op with its phase, needs and gives.
    pub fn new(phase: Phase, op: Op, needs: Vec<Key>, gives: Vec<Key>) -> Self {
        Pending {
            phase,
            op,
            needs,
            gives,
        }
    }
}

/// Order pending ops by phase (stable) and link each to the earlier steps
/// that give what it needs. Needs nobody gives are already true in the kernel.
pub(crate) fn build(mut pending: Vec<Pending>) -> Plan {
    pending.sort_by_key(|p| p.phase);
    // Hashed: a 1000-container plan makes some 30000 lookups, and ordered
    // keys would compare node and interface names at every tree level.
    let mut givers: HashMap<Key, Vec<usize>> = HashMap::with_capacity(pending.len());
    let mut steps = Vec::with_capacity(pending.len());
    for (index, p) in pending.into_iter().enumerate() {
        let mut after: Vec<usize> = p
            .needs
            .iter()
            .filter_map(|k| givers.get(k))
            .flatten()
            .copied()
            .collect();
        after.sort_unstable();
        after.dedup();
        for k in p.gives {
            givers.entry(k).or_default().push(index);
        }
        steps.push(Step { op: p.op, after });
    }
    Plan { steps }
}
