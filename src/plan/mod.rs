//! Plan: the difference between a desired and an observed network, as an ordered
//! graph of operations. Pure logic: plain data in, plain data out.
mod address;
mod change;
mod down;
pub mod dynamic;
mod effect;
mod fdb;
mod graph;
mod kind;
mod link;
mod mtu;
mod nat;
mod needs;
mod node;
mod route;
pub mod service;
mod status;
mod sysctl;
mod teamd;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::model::{Network, Plan};

pub use down::down;
pub use dynamic::resolve;
pub use kind::bridge::snooping_turned_on;
pub use needs::needs;
pub use route::kernel_made as kernel_made_route;
pub use status::{status, FieldDiff, ObjectStatus, SyncState};

/// What this topology owns, from netloom's records plus observed ownership marks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Owned {
    /// Node names whose netns netloom created.
    pub namespaces: BTreeSet<String>,
    /// Nodes with a netloom nft table.
    pub nat: BTreeSet<String>,
    /// (node, key) -> value before netloom first changed it.
    pub sysctls: BTreeMap<(String, String), String>,
    /// Links netloom was creating when it stopped: ours even without the mark.
    #[serde(default)]
    pub links: BTreeSet<crate::model::IfRef>,
    /// Bridges built with snooping off whose turning it on did not happen.
    #[serde(default)]
    pub quiet_bridges: BTreeSet<crate::model::IfRef>,
}

/// In tests: the index of the step printed as `line`; panics naming them all.
#[cfg(test)]
pub(crate) fn step_at(lines: &[String], line: &str) -> usize {
    lines
        .iter()
        .position(|l| l == line)
        .unwrap_or_else(|| panic!("no `{line}` in {lines:#?}"))
}

/// Something in the way of a plan: an object netloom would have to take over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    /// The object, e.g. `host/br0` or `node c1 (netns netloom-lab.c1)`.
    pub object: String,
    /// Why, and what to do about it.
    pub reason: String,
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.object, self.reason)
    }
}

/// The plan turning `observed` into `desired`, or the conflicts that forbid it.
pub fn up(desired: &Network, observed: &Network, owned: &Owned) -> Result<Plan, Vec<Conflict>> {
    up_with(desired, observed, owned, &BTreeMap::new())
}

/// [`up`], knowing the values sysctls have in a namespace made now
/// (`fresh`, see kernel::sysctl::fresh): those of the nodes this plan
/// creates are recorded as the values to put back when the file stops
/// setting them.
pub fn up_with(
    desired: &Network,
    observed: &Network,
    owned: &Owned,
    fresh: &BTreeMap<String, String>,
) -> Result<Plan, Vec<Conflict>> {
    // What services placed (leases, LIFs) is wanted where they put it.
    let desired = &*resolve(desired, observed);
    let mut ctx = effect::Ctx::new(desired, observed, owned, &desired.name);
    ctx.fresh = fresh;
    let mut conflicts = Vec::new();
    node::conflicts(&ctx, &mut conflicts);
    link::conflicts(&ctx, &mut conflicts);
    nat::conflicts(&ctx, &mut conflicts);
    if !conflicts.is_empty() {
        return Err(conflicts);
    }
    Ok(diff(&ctx, false))
}

/// Every op of a plan from a prepared context, in dependency order.
fn diff(ctx: &effect::Ctx, restore_unknown: bool) -> Plan {
    let mut pending = Vec::new();
    node::plan(ctx, &mut pending);
    sysctl::plan(ctx, restore_unknown, &mut pending);
    link::plan(ctx, &mut pending);
    teamd::plan(ctx, &mut pending);
    service::plan(ctx, &mut pending);
    route::plan(ctx, &mut pending);
    fdb::plan(ctx, &mut pending);
    nat::plan(ctx, &mut pending);
    graph::build(pending)
}
