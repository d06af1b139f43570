//! Sysctls: write desired values (before any link of the node goes up), and
//! put back the value from before netloom's first change when the file stops
//! setting a key.
use super::effect::Ctx;
use super::graph::{Key, Pending, Phase};
use super::op::Op;

/// SetSysctl ops. `restore_unknown`: also restore keys whose current value was
/// not observed (`down` does; `up` does not, so that it stays idempotent).
pub(crate) fn plan(ctx: &Ctx, restore_unknown: bool, out: &mut Vec<Pending>) {
    for node in ctx.kept_nodes() {
        let want = ctx.want(&node);
        let have = ctx.have(&node);
        for (key, value) in &want.sysctls {
            let prior = have.sysctls.get(key);
            if prior != Some(value) {
                out.push(set(&node, key, value, prior.cloned()));
            }
        }
        for ((n, key), original) in &ctx.owned.sysctls {
            if n != &node || want.sysctls.contains_key(key) {
                continue;
            }
            let prior = have.sysctls.get(key);
            let differs = match prior {
                Some(p) => p != original,
                None => restore_unknown,
            };
            if differs {
                out.push(set(&node, key, original, prior.cloned()));
            }
        }
    }
}

fn set(node: &str, key: &str, value: &str, prior: Option<String>) -> Pending {
    let op = Op::SetSysctl {
        node: node.to_string(),
        key: key.to_string(),
        value: value.to_string(),
        prior,
    };
    Pending::new(
        Phase::Sysctl,
        op,
        vec![Key::Netns(node.to_string())],
        vec![Key::Sysctl(node.to_string())],
    )
}
