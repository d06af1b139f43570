//! Namespaces: create the missing ones, delete owned ones no longer in the
//! file, and refuse to touch a namespace netloom did not create.
use super::effect::{Cause, Ctx};
use super::graph::{Key, Pending, Phase};
use super::Conflict;
use crate::model::Op;
use crate::model::{netns_name, HOST};

/// Desired nodes whose namespace exists but is not netloom's.
pub(crate) fn conflicts(ctx: &Ctx, out: &mut Vec<Conflict>) {
    for name in ctx.desired.nodes.keys() {
        if name != HOST
            && ctx.observed.nodes.contains_key(name)
            && !ctx.owned.namespaces.contains(name)
        {
            let ns = netns_name(&ctx.desired.name, name).unwrap_or_default();
            out.push(Conflict {
                object: format!("node {name} (netns {ns})"),
                reason: format!(
                    "namespace {ns} exists but topology {} did not create it; delete it or rename the node",
                    ctx.desired.name
                ),
            });
        }
    }
}

/// AddNetns for new nodes, DelNetns for orphaned ones (after any deletion touching them).
pub(crate) fn plan(ctx: &Ctx, out: &mut Vec<Pending>) {
    for name in &ctx.new_nodes {
        out.push(Pending::new(
            Phase::AddNetns,
            Op::AddNetns { node: name.clone() },
            vec![],
            vec![Key::Netns(name.clone())],
        ));
    }
    for name in &ctx.del_nodes {
        out.push(Pending::new(
            Phase::DelNetns,
            Op::DelNetns { node: name.clone() },
            vec![Key::Touched(name.clone())],
            ctx.vanish
                .get(&Cause::Netns(name.clone()))
                .cloned()
                .unwrap_or_default(),
        ));
    }
}
