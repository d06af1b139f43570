//! NAT: the node's netloom nftables table is replaced whole when its rules
//! differ, and deleted when the file wants none.
use super::effect::Ctx;
use super::graph::{Key, Pending, Phase};
use super::Conflict;
use crate::model::Op;
use crate::model::{nft_table, HOST};

/// A host table with netloom's name that this topology's records do not own.
pub(crate) fn conflicts(ctx: &Ctx, out: &mut Vec<Conflict>) {
    let wants = ctx
        .desired
        .nodes
        .get(HOST)
        .is_some_and(|n| !n.nat.is_empty());
    let exists = ctx
        .observed
        .nodes
        .get(HOST)
        .is_some_and(|n| !n.nat.is_empty());
    if wants && exists && !ctx.owned.nat.contains(HOST) {
        out.push(Conflict {
            object: format!("nft table inet {} in host", nft_table(&ctx.desired.name)),
            reason: "the table exists but netloom's records do not say this topology made it; delete it with `nft delete table inet ...` first".to_string(),
        });
    }
}

/// SetNat / DelNat ops.
pub(crate) fn plan(ctx: &Ctx, out: &mut Vec<Pending>) {
    for node in ctx.kept_nodes() {
        let want = &ctx.want(&node).nat;
        let have = &ctx.have(&node).nat;
        if !want.is_empty() && want != have {
            let op = Op::SetNat {
                node: node.clone(),
                rules: want.clone(),
            };
            out.push(Pending::new(
                Phase::SetNat,
                op,
                vec![Key::Netns(node.clone())],
                vec![],
            ));
        } else if want.is_empty()
            && (!have.is_empty()
                || (ctx.owned.nat.contains(&node) && !ctx.new_nodes.contains(&node)))
        {
            let op = Op::DelNat { node: node.clone() };
            out.push(Pending::new(Phase::DelNat, op, vec![], vec![]));
        }
    }
}
