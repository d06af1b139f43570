//! Repairing the records: before a plan runs, forget what a crash wrote
//! ahead but never made (and remove a half-made namespace placeholder);
//! after it ran, forget what went with deleted peers and namespaces, which
//! no op of its own forgot.
use std::collections::{BTreeMap, BTreeSet, HashSet};

use super::forget_sysctls_of;
use crate::apply::settle;
use crate::effects::sysctl::interface;
use crate::kernel::{self, Kernel, KernelError};
use crate::model::{IfRef, Network, Op, Plan, HOST};
use crate::state::Records;

/// Before running `plan` on the network `observed`: records of objects
/// that do not exist are stale.
pub fn recover(
    k: &Kernel,
    rec: &mut Records,
    plan: &Plan,
    observed: &Network,
) -> Result<(), KernelError> {
    // A namespace recorded but absent: a crash before it was made.
    let mut stale = Vec::new();
    rec.namespaces.retain(|n| {
        let keep = observed.nodes.contains_key(n)
            || plan
                .steps
                .iter()
                .any(|s| matches!(&s.op, Op::AddNetns { node } if node == n));
        if !keep {
            stale.push(n.clone());
        }
        keep
    });
    // A kill inside netns::create can leave its placeholder: a plain file
    // under /run/netns holding no namespace (open() says "none"). It is
    // ours (the name was written ahead): remove it.
    for n in stale {
        if let Some(name) = k.netns_name(&n) {
            kernel::netns::delete(&name)?;
        }
        // Nothing can live in a namespace that is not there: its NAT and
        // sysctls written ahead are stale too, and a service started in it
        // (which could outlive its name) is stopped with its files.
        rec.nat.remove(&n);
        rec.sysctls.remove(&n);
        rec.processes.retain(|p| p.node != n);
        let dir = k.service_dir(&n);
        for s in kernel::service::names(&dir)? {
            kernel::service::stop_and_forget(&dir.join(s))?;
        }
        let _ = std::fs::remove_dir(&dir);
    }
    // A sysctl written ahead whose value is (still or again) the original
    // needs no restoring: a crash came before the write, or it was undone.
    // A per-interface sysctl whose link is gone died with it, and any
    // sysctl of a namespace that is gone (a crash after the namespace was
    // deleted, or before it was recorded) went with the namespace.
    for (node, m) in rec.sysctls.iter_mut() {
        let seen = observed.nodes.get(node);
        m.retain(|k, original| {
            let value = seen.and_then(|n| n.sysctls.get(k));
            let alive = match interface(k) {
                Some(l) => seen.is_some_and(|n| n.links.contains_key(&l)),
                None => seen.is_some() || node == HOST,
            };
            alive && value != Some(original)
        });
    }
    rec.sysctls.retain(|_, m| !m.is_empty());
    // Links written ahead but never created are stale too, and so are
    // quiet bridges that are gone.
    let exists = |l: &IfRef| {
        observed
            .nodes
            .get(&l.node)
            .is_some_and(|n| n.links.contains_key(&l.name))
    };
    rec.links.retain(exists);
    rec.quiet_bridges.retain(exists);
    Ok(())
}

/// After `plan` ran: forget the per-interface sysctls of `vanished` links
/// (gone with a deleted peer or namespace: no DelLink of their own forgot
/// them), and the recorded links and sysctls whose link the kernel no
/// longer has. True when the records changed.
pub async fn tidy(
    k: &Kernel,
    rec: &mut Records,
    plan: &Plan,
    vanished: &[IfRef],
) -> Result<bool, KernelError> {
    let vanished: Vec<(String, String)> = vanished
        .iter()
        .map(|r| (r.node.clone(), r.name.clone()))
        .collect();
    let mut changed = forget_links_sysctls(rec, &vanished);
    // A deleted link can take others along (a veth's peer): ask for the
    // links of the sysctls still recorded, but only after deletions, and
    // each link once however many of its keys are recorded.
    let deleted = plan
        .steps
        .iter()
        .any(|s| matches!(s.op, Op::DelLink { .. } | Op::DelNetns { .. }));
    let mut dead = Vec::new();
    let mut asked = BTreeSet::new();
    for (node, m) in rec.sysctls.iter().filter(|_| deleted) {
        for l in m.keys().filter_map(|k| interface(k)) {
            if asked.insert((node.clone(), l.clone())) && !settle::link_exists(k, node, &l).await? {
                dead.push((node.clone(), l));
            }
        }
    }
    changed |= forget_links_sysctls(rec, &dead);
    // Written-ahead link names whose device went with a deleted peer or
    // namespace (no DelLink of their own forgot them).
    if !rec.links.is_empty() {
        let mut keep = BTreeSet::new();
        for l in &rec.links {
            if settle::link_exists(k, &l.node, &l.name).await? {
                keep.insert(l.clone());
            }
        }
        changed |= keep.len() != rec.links.len();
        rec.links = keep;
    }
    Ok(changed)
}

/// Forget the recorded per-interface sysctls of the links `dead` names
/// (node, link): one pass over each node's keys.
fn forget_links_sysctls(rec: &mut Records, dead: &[(String, String)]) -> bool {
    let mut by_node: BTreeMap<&str, HashSet<&str>> = BTreeMap::new();
    for (node, l) in dead {
        by_node.entry(node).or_default().insert(l);
    }
    let mut changed = false;
    for (node, links) in by_node {
        changed |= forget_sysctls_of(rec, node, |l| links.contains(l));
    }
    changed
}
