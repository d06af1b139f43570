//! Settling: the kernel finishes some changes after the request returned
//! (bridge ports start forwarding, deleted namespaces are torn down). Wait
//! for those, bounded, so that a verb returning means the kernel matches
//! the file.
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::effects::{self, Later};
use crate::kernel::{self, Kernel, KernelError};
use crate::model::{IfRef, Network, Op, Plan};

/// Links that linger until namespaces die: node -> name -> the ifindex
/// they had, when known; see [`lingering`].
pub type Lingering = BTreeMap<String, BTreeMap<String, Option<u32>>>;

/// How long a verb waits for the kernel to finish.
const BOUND: Duration = Duration::from_secs(10);

/// True when interface `name` exists in `node`.
pub async fn link_exists(k: &Kernel, node: &str, name: &str) -> Result<bool, KernelError> {
    Ok(kernel::observe::link_by_name(k, node, name)
        .await?
        .is_some())
}

/// What the model says a plan leaves for the kernel to finish: the state
/// after it (for what a rollback's namespace deletions take along), and
/// the bridge ports that forward only later. Simulated over the plan's
/// serial order from `observed`; an op the model refuses is passed over
/// (the kernel did it: the model is only asked what comes later).
pub struct Expected {
    /// The network after the plan, as the model sees it.
    pub after: Network,
    /// Bridge ports the plan brings up or enslaves.
    pub forwards: Vec<IfRef>,
}

/// See [`Expected`].
pub fn expected(plan: &Plan, observed: &Network) -> Expected {
    let mut after = observed.clone();
    let mut forwards = Vec::new();
    for s in &plan.steps {
        if let Ok(e) = effects::sim::apply(&s.op, &mut after) {
            for l in e.later {
                if let Later::Forwards { port } = l {
                    forwards.push(port);
                }
            }
        }
    }
    Expected { after, forwards }
}

/// A bridge port forwards only once the kernel's linkwatch worker has
/// seen its carrier, which it does after the request that brought the
/// port up returned. Wait (bounded) until no port this plan brought up
/// is still "disabled", so that traffic flows when `up` returns: a
/// first ARP request dropped by such a port costs a second (the
/// kernel's ARP retransmission time). Ports without carrier (a veth
/// whose peer is down) stay disabled; the wait gives up on them after
/// a bound, and `verify` explains them.
pub async fn ports(k: &Kernel, mut ports: Vec<IfRef>) -> Result<(), KernelError> {
    const BR_STATE_DISABLED: u8 = 0;
    ports.sort();
    ports.dedup();
    let start = Instant::now();
    let deadline = start + Duration::from_secs(2);
    // Most are forwarding at the first look; a port is looked at again
    // only while it is disabled.
    while !ports.is_empty() && Instant::now() < deadline {
        // One dump per node with ports still to settle.
        let mut nodes: Vec<String> = ports.iter().map(|p| p.node.clone()).collect();
        nodes.dedup();
        let mut states = BTreeMap::new();
        for node in nodes {
            let s = kernel::bridge::port_states(k, &node).await?;
            states.insert(node, s);
        }
        ports.retain(|p| {
            states.get(&p.node).and_then(|s| s.get(&p.name)) == Some(&BR_STATE_DISABLED)
        });
        if ports.is_empty() {
            break;
        }
        // linkwatch handles at most 100 events per run and may put the
        // rest off by up to a second; asking for a link by itself
        // (RTM_GETLINK) makes the kernel handle that link's pending
        // event at once (linkwatch_sync_dev), and with it the port's
        // carrier reaches the bridge.
        use futures::StreamExt;
        let asked: Vec<Result<_, KernelError>> = futures::stream::iter(
            ports
                .iter()
                .map(|p| kernel::observe::link_by_name(k, &p.node, &p.name)),
        )
        .buffered(64)
        .collect()
        .await;
        for a in asked {
            a?;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    crate::timing::record("settle ports", start.elapsed());
    Ok(())
}

/// The teams the plan (re)started teamd for get their first active port,
/// once every other step ran: an activebackup teamd takes whichever port
/// came up first (see kernel::teamd::active).
pub async fn teams(k: &Kernel, plan: &Plan) -> Result<(), KernelError> {
    let start = Instant::now();
    for s in &plan.steps {
        if let Op::StartTeamd {
            node, dev, setup, ..
        } = &s.op
        {
            kernel::apply::first_choice(k, node, dev, setup).await?;
        }
    }
    crate::timing::record("settle teams", start.elapsed());
    Ok(())
}

/// The namespaces whose teardown a verb waits for: after a success those
/// the plan deleted; after a rollback those the plan created.
fn gone_nodes(plan: &Plan, rolled_back: bool) -> BTreeSet<&str> {
    plan.steps
        .iter()
        .filter_map(|s| match (&s.op, rolled_back) {
            (crate::model::Op::DelNetns { node }, false)
            | (crate::model::Op::AddNetns { node }, true) => Some(node.as_str()),
            _ => None,
        })
        .collect()
}

/// The links outside `gone` that the kernel removes when the namespaces in
/// `gone` die (veth ends whose peer, stacked devices whose lower is inside):
/// after a success those observed before (with their ifindex: a link the
/// plan made anew under the same name is another one); after a rollback
/// those the plan created.
fn lingering(net: &Network, gone: &BTreeSet<&str>, rolled_back: bool) -> Lingering {
    let mut waiting = Lingering::new();
    for node in gone {
        let op = Op::DelNetns {
            node: node.to_string(),
        };
        for l in effects::of(&op, net).later {
            if let Later::Vanishes { link, ifindex } = l {
                if !gone.contains(link.node.as_str()) {
                    // After a rollback the links are the ones the plan made.
                    let ifindex = if rolled_back { None } else { ifindex };
                    waiting
                        .entry(link.node)
                        .or_default()
                        .insert(link.name, ifindex);
                }
            }
        }
    }
    waiting
}

/// Wait until the links in `waiting` are gone (no link of the name, or
/// one with another ifindex), at most [`BOUND`]. Returns those gone and
/// those still there.
async fn until_gone(
    k: &Kernel,
    mut waiting: Lingering,
) -> Result<(Vec<IfRef>, Lingering), KernelError> {
    let deadline = Instant::now() + BOUND;
    // Each link is asked for by name, and a node's next one only once the
    // one before is gone: a full dump of a host with 1000 veths costs the
    // kernel O(N^2) (and holds it up while it is tearing those down), and
    // namespaces are torn down in batches, so most questions find a link
    // gone.
    let mut vanished = Vec::new();
    while !waiting.is_empty() && Instant::now() < deadline {
        for (node, names) in waiting.iter_mut() {
            while let Some((name, ifindex)) = names.first_key_value() {
                let found = kernel::observe::link_by_name(k, node, name).await?;
                if found.is_some_and(|m| ifindex.is_none_or(|i| m.header.index == i)) {
                    break;
                }
                vanished.push(IfRef {
                    node: node.clone(),
                    name: name.clone(),
                });
                names.pop_first();
            }
        }
        waiting.retain(|_, names| !names.is_empty());
        if !waiting.is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    Ok((vanished, waiting))
}

/// The kernel destroys a deleted namespace asynchronously; the veth ends
/// and stacked devices it takes along in other nodes linger for a moment.
/// Wait (bounded) until they are gone; returns those gone.
/// `net` is the network the deletions happened in: as observed before
/// the plan after a success, as the plan left it (see [`expected`]) after
/// a rollback.
pub async fn deletions(
    k: &Kernel,
    plan: &Plan,
    net: &Network,
    rolled_back: bool,
) -> Result<Vec<IfRef>, KernelError> {
    let gone = gone_nodes(plan, rolled_back);
    if gone.is_empty() {
        return Ok(Vec::new());
    }
    let start = Instant::now();
    let waiting = lingering(net, &gone, rolled_back);
    let (vanished, _) = until_gone(k, waiting).await?;
    crate::timing::record("settle deletions", start.elapsed());
    Ok(vanished)
}

/// For each namespace the plan deletes while later steps depend on its
/// deletion (a new pair taking a veth end's name in another node), the
/// links dying with it in the nodes that stay.
pub fn awaited(plan: &Plan, observed: &Network) -> BTreeMap<String, Lingering> {
    let steps = &plan.steps;
    let needed: BTreeSet<usize> = steps.iter().flat_map(|s| s.after.iter().copied()).collect();
    let deleted = gone_nodes(plan, false);
    let mut out = BTreeMap::new();
    for (i, s) in steps.iter().enumerate() {
        if let Op::DelNetns { node } = &s.op {
            if needed.contains(&i) {
                let mut w = lingering(observed, &BTreeSet::from([node.as_str()]), false);
                w.retain(|n, _| !deleted.contains(n.as_str()));
                out.insert(node.clone(), w);
            }
        }
    }
    out
}

/// Wait until the links dying with a deleted namespace are gone. Past the
/// bound it returns all the same: the namespace is deleted either way (a
/// failure here would make rollback think it was not), and the step that
/// needs a name still taken fails with the kernel's own error.
pub async fn namespace_gone(k: &Kernel, waiting: Lingering) -> Result<(), KernelError> {
    until_gone(k, waiting).await.map(drop)
}
