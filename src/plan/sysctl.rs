//! Sysctls: write desired values (before any link of the node goes up), and
//! put back the value from before netloom's first change when the file stops
//! setting a key. Per-interface keys (`net.ipv6.conf.eth0.accept_ra`) exist
//! only once their link does, so they wait for it.
use super::effect::{iref, Ctx};
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
            // A per-interface key died with its link: nothing to restore.
            if interface(key).is_some_and(|l| !have.links.contains_key(&l)) {
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

/// The interface a per-interface key names (`net.ipv4.conf.eth0/2.rp_filter`
/// names `eth0.2`: sysctl writes dots inside names as slashes); `None` for
/// node-wide keys and for `all` / `default`.
pub(crate) fn interface(key: &str) -> Option<String> {
    let parts: Vec<&str> = key.split('.').collect();
    match parts.as_slice() {
        ["net", "ipv4" | "ipv6", "conf" | "neigh", name, _, ..]
            if *name != "all" && *name != "default" =>
        {
            Some(name.replace('/', "."))
        }
        _ => None,
    }
}

fn set(node: &str, key: &str, value: &str, prior: Option<String>) -> Pending {
    let op = Op::SetSysctl {
        node: node.to_string(),
        key: key.to_string(),
        value: value.to_string(),
        prior,
    };
    let netns = Key::Netns(node.to_string());
    match interface(key) {
        Some(link) => {
            let me = iref(node, &link);
            let needs = vec![netns, Key::Link(me.clone())];
            Pending::new(Phase::LinkSysctl, op, needs, vec![Key::LinkSysctl(me)])
        }
        None => Pending::new(
            Phase::Sysctl,
            op,
            vec![netns],
            vec![Key::Sysctl(node.to_string())],
        ),
    }
}
