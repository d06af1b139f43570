//! What the kernel reports, read in every node that matters, and judged
//! against the checks: each thing not ready is either "not yet" (a bridge
//! port listening or learning, an address still tentative) or "never" (a
//! link administratively down, a veth whose peer is down or gone, a
//! duplicate address).
use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::checks::NodeCheck;
use crate::kernel::netns::{run_in_each, Netns};
use crate::kernel::query::{AddrState, LinkState, Query};
use crate::kernel::KernelError;
use crate::model::{Link, LinkKind, Network};
use crate::verify::{node, Error};

/// IFLA_BRPORT_STATE values (include/uapi/linux/if_bridge.h).
const BR_STATE_DISABLED: u8 = 0;
const BR_STATE_FORWARDING: u8 = 3;
const BR_STATE_BLOCKING: u8 = 4;

/// One node's links and addresses as the kernel reports them.
pub struct Snapshot {
    links: Vec<LinkState>,
    /// Index into `links` by name (a host has 1000 ports to look up).
    by_name: HashMap<String, usize>,
    addrs: Vec<AddrState>,
}

impl Snapshot {
    fn new(links: Vec<LinkState>, addrs: Vec<AddrState>) -> Snapshot {
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
    fn link(&self, name: &str) -> Option<&LinkState> {
        self.by_name.get(name).map(|&i| &self.links[i])
    }
}

/// Each node's snapshot, or why it could not be read.
pub type Snapshots = BTreeMap<String, Result<Snapshot, Error>>;

/// Read the given nodes: helper threads enter the namespaces in turn and
/// dump each through a blocking socket (a thread, a runtime and a
/// connection per node cost more than the dumps at 1000 nodes).
pub fn snapshot(network: &Network, nodes: &BTreeSet<String>) -> Snapshots {
    let mut out = BTreeMap::new();
    let mut opened: Vec<(&String, Netns)> = Vec::new();
    for n in nodes {
        match node::open(&network.name, n) {
            Ok(ns) => opened.push((n, ns)),
            Err(e) => {
                out.insert(n.clone(), Err(e));
            }
        }
    }
    let nss: Vec<&Netns> = opened.iter().map(|(_, ns)| ns).collect();
    match run_in_each(&nss, |i, _| read(opened[i].0)) {
        Ok(reads) => {
            for ((n, _), r) in opened.iter().zip(reads) {
                out.insert(n.to_string(), r.map_err(Error::from).and_then(|r| r));
            }
        }
        // run_in_each fails only when a helper thread panicked.
        Err(_) => {
            for (n, _) in &opened {
                let object = format!("node {n}");
                out.insert(n.to_string(), Err(KernelError::Thread { object }.into()));
            }
        }
    }
    out
}

/// Dump the links and addresses of the calling thread's namespace, `node`'s.
fn read(node: &str) -> Result<Snapshot, Error> {
    let mut q = Query::open(format!("node {node}"))?;
    Ok(Snapshot::new(q.links()?, q.addresses()?))
}

/// One thing not ready, and whether waiting can help.
#[derive(Debug, Clone, PartialEq)]
pub enum Wait {
    /// The kernel is still getting there.
    NotYet(String),
    /// It will not come by waiting.
    Never(String),
}

impl Wait {
    /// What is not ready, in words.
    pub fn text(&self) -> &str {
        match self {
            Wait::NotYet(s) | Wait::Never(s) => s,
        }
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

/// The kernel's view of the state of all nodes, with the file's model beside it.
pub struct View<'a> {
    /// The topology as the file declares it.
    pub network: &'a Network,
    /// What the kernel reported, node by node.
    pub snaps: &'a Snapshots,
}

impl<'a> View<'a> {
    fn link(&self, node: &str, name: &str) -> Option<&'a LinkState> {
        match self.snaps.get(node) {
            Some(Ok(s)) => s.link(name),
            _ => None,
        }
    }

    /// The file's link `node/name`.
    fn model(&self, node: &str, name: &str) -> Option<&'a Link> {
        self.network.nodes.get(node)?.links.get(name)
    }

    /// The file's links of `node` enslaved to `master`.
    fn ports_of(&self, node: &str, master: &str) -> Vec<&'a Link> {
        self.network.nodes.get(node).map_or_else(Vec::new, |n| {
            n.links
                .values()
                .filter(|l| l.master.as_deref() == Some(master))
                .collect()
        })
    }

    /// Why `node/name` has no carrier, when waiting cannot fix it; `None` when it may still come.
    pub fn never_carrier(&self, node: &str, name: &str, depth: u8) -> Option<String> {
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
        match &self.model(node, name)?.kind {
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
                let ports = self.ports_of(node, name);
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
    pub fn node(&self, c: &NodeCheck) -> Vec<Wait> {
        let node = &c.node;
        let snap = match self.snaps.get(node) {
            Some(Ok(s)) => s,
            Some(Err(e)) => return vec![Wait::Never(e.to_string())],
            None => return vec![Wait::Never(format!("node {node} not read"))],
        };
        let mut out = self.carrier(c, snap);
        out.extend(self.lacp(c, snap));
        out.extend(self.ports(c, snap));
        out.extend(dad(c, snap));
        out
    }

    /// Links of `c` without carrier.
    fn carrier(&self, c: &NodeCheck, snap: &Snapshot) -> Vec<Wait> {
        let node = &c.node;
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
        out
    }

    /// 802.3ad bonds of `c` that do not forward yet: such a bond has carrier
    /// as soon as a port is up, but forwards only once LACP lets a port of
    /// its active aggregator distribute.
    fn lacp(&self, c: &NodeCheck, snap: &Snapshot) -> Vec<Wait> {
        let node = &c.node;
        let mut out = Vec::new();
        for name in &c.carrier {
            let lacp = self.model(node, name).is_some_and(
                |l| matches!(&l.kind, LinkKind::Bond(b) if b.mode.as_deref() == Some("802.3ad")),
            );
            if !lacp {
                continue;
            }
            let distributing = self
                .ports_of(node, name)
                .iter()
                .filter_map(|p| snap.link(&p.name))
                .any(|p| p.lacp_distributing == Some(true));
            if !distributing {
                out.push(Wait::NotYet(format!(
                    "{node}/{name}: no port distributing (LACP negotiating)"
                )));
            }
        }
        out
    }

    /// Bridge ports of `c` not settled yet (forwarding, or blocking under STP).
    fn ports(&self, c: &NodeCheck, snap: &Snapshot) -> Vec<Wait> {
        let node = &c.node;
        let mut out = Vec::new();
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
        out
    }
}

/// The file's addresses in `c` whose DAD failed or still runs.
fn dad(c: &NodeCheck, snap: &Snapshot) -> Vec<Wait> {
    let node = &c.node;
    let mut out = Vec::new();
    for a in snap.addrs.iter().filter(|a| c.addrs.contains(&a.addr)) {
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
