//! Settling: the kernel finishes some changes after the request returned
//! (bridge ports start forwarding, deleted namespaces are torn down). Wait
//! for those, bounded, so that a verb returning means the kernel matches
//! the file.
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use super::Planned;
use crate::kernel::{self, Kernel, KernelError};
use crate::model::{IfRef, LinkKind};

/// Links that linger until namespaces die: node -> name -> the ifindex
/// they had, when known; see [`lingering`].
pub(super) type Lingering = BTreeMap<String, BTreeMap<String, Option<u32>>>;

/// How long a verb waits for the kernel to finish.
const BOUND: Duration = Duration::from_secs(10);

/// True when interface `name` exists in `node`.
pub(super) async fn link_exists(k: &Kernel, node: &str, name: &str) -> Result<bool, KernelError> {
    Ok(kernel::observe::link_by_name(k, node, name)
        .await?
        .is_some())
}

/// A bridge port forwards only once the kernel's linkwatch worker has
/// seen its carrier, which it does after the request that brought the
/// port up returned. Wait (bounded) until no port this plan brought up
/// is still "disabled", so that traffic flows when `up` returns: a
/// first ARP request dropped by such a port costs a second (the
/// kernel's ARP retransmission time). Ports without carrier (a veth
/// whose peer is down) stay disabled; the wait gives up on them after
/// a bound, and `verify` explains them.
pub(super) async fn ports(k: &Kernel, planned: &Planned) -> Result<(), KernelError> {
    const BR_STATE_DISABLED: u8 = 0;
    // Links this plan enslaves, or brings up while they have a master;
    // those that turn out not to be bridge ports have no port state.
    let mut ports: Vec<(&str, &str)> = Vec::new();
    for s in &planned.plan.steps {
        let crate::model::Op::SetLink {
            node, name, change, ..
        } = &s.op
        else {
            continue;
        };
        let enslaved = matches!(change.master, Some(Some(_)));
        let has_master = change.up == Some(true)
            && planned
                .observed
                .nodes
                .get(node)
                .and_then(|n| n.links.get(name))
                .is_some_and(|l| l.master.is_some());
        if enslaved || has_master {
            ports.push((node, name));
        }
    }
    ports.sort();
    ports.dedup();
    let start = Instant::now();
    let deadline = start + Duration::from_secs(2);
    // Most are forwarding at the first look; a port is looked at again
    // only while it is disabled.
    while !ports.is_empty() && Instant::now() < deadline {
        // One dump per node with ports still to settle.
        let mut nodes: Vec<&str> = ports.iter().map(|(n, _)| *n).collect();
        nodes.dedup();
        let mut states = BTreeMap::new();
        for node in nodes {
            states.insert(node, kernel::observe::bridge::port_states(k, node).await?);
        }
        ports.retain(|(node, name)| {
            states.get(node).and_then(|s| s.get(*name)) == Some(&BR_STATE_DISABLED)
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
                .map(|&(node, name)| kernel::observe::link_by_name(k, node, name)),
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

/// The namespaces whose teardown a verb waits for: after a success those
/// the plan deleted; after a rollback those the plan created.
fn gone_nodes(planned: &Planned, rolled_back: bool) -> BTreeSet<&str> {
    planned
        .plan
        .steps
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
fn lingering(planned: &Planned, gone: &BTreeSet<&str>, rolled_back: bool) -> Lingering {
    let mut candidates: Vec<(&str, &crate::model::Link)> = Vec::new();
    if rolled_back {
        for s in &planned.plan.steps {
            if let crate::model::Op::AddLink { node, link, peer } = &s.op {
                candidates.push((node.as_str(), link));
                if let (Some(p), LinkKind::Veth(v)) = (peer, &link.kind) {
                    if let Some(r) = &v.peer {
                        candidates.push((r.node.as_str(), p));
                    }
                }
            }
        }
    } else {
        for (node, n) in &planned.observed.nodes {
            candidates.extend(n.links.values().map(|l| (node.as_str(), l)));
        }
    }
    let mut waiting = Lingering::new();
    for (node, l) in candidates.into_iter().filter(|(n, _)| !gone.contains(n)) {
        let other = match &l.kind {
            LinkKind::Veth(v) => v.peer.as_ref().map(|p| p.node.as_str()),
            k => k.lower().map(|r| r.node.as_str()),
        };
        if other.is_some_and(|o| gone.contains(o)) {
            let ifindex = if rolled_back { None } else { l.ifindex };
            waiting
                .entry(node.to_string())
                .or_default()
                .insert(l.name.clone(), ifindex);
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
pub(super) async fn deletions(
    k: &Kernel,
    planned: &Planned,
    rolled_back: bool,
) -> Result<Vec<IfRef>, KernelError> {
    let gone = gone_nodes(planned, rolled_back);
    if gone.is_empty() {
        return Ok(Vec::new());
    }
    let start = Instant::now();
    let waiting = lingering(planned, &gone, rolled_back);
    let (vanished, _) = until_gone(k, waiting).await?;
    crate::timing::record("settle deletions", start.elapsed());
    Ok(vanished)
}

/// For each namespace the plan deletes while later steps depend on its
/// deletion (a new pair taking a veth end's name in another node), the
/// links dying with it in the nodes that stay.
pub(super) fn awaited(planned: &Planned) -> BTreeMap<String, Lingering> {
    let steps = &planned.plan.steps;
    let needed: BTreeSet<usize> = steps.iter().flat_map(|s| s.after.iter().copied()).collect();
    let deleted = gone_nodes(planned, false);
    let mut out = BTreeMap::new();
    for (i, s) in steps.iter().enumerate() {
        if let crate::model::Op::DelNetns { node } = &s.op {
            if needed.contains(&i) {
                let mut w = lingering(planned, &BTreeSet::from([node.as_str()]), false);
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
pub(super) async fn namespace_gone(k: &Kernel, waiting: Lingering) -> Result<(), KernelError> {
    until_gone(k, waiting).await.map(drop)
}
