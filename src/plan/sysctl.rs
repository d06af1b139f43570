//! Sysctls: write desired values (before any link of the node goes up), and
//! put back the value from before netloom's first change when the file stops
//! setting a key. Per-interface keys (`net.ipv6.conf.eth0.accept_ra`) exist
//! only once their link does, so they wait for it.
use super::effect::{iref, Ctx};
use super::graph::{Key, Pending, Phase};
use crate::effects::sysctl::{cascade, cascaded_from, default_of, interface};
use crate::model::Op;
use crate::model::HOST;

/// SetSysctl ops. `restore_unknown`: also restore keys whose current value was
/// not observed (`down` does; `up` does not, so that it stays idempotent).
///
/// Some `all` keys cascade in the kernel: writing `net.ipv6.conf.all.disable_ipv6`
/// (or `all.forwarding` of IPv4 or IPv6) also sets the `default` key and the
/// key of every interface. So those writes go first, the keys they cascade to
/// after them; and in a namespace netloom made (any node but `host`, where
/// the value from before must be restorable key by key) a `default` write
/// the cascade already makes is left out.
pub(crate) fn plan(ctx: &Ctx, restore_unknown: bool, out: &mut Vec<Pending>) {
    for node in ctx.kept_nodes() {
        let want = ctx.want(&node);
        let have = ctx.have(&node);
        // (key, value, prior) of every write.
        let mut writes: Vec<(&str, &str, Option<&String>)> = Vec::new();
        for (key, value) in &want.sysctls {
            let mut prior = have.sysctls.get(key);
            if prior.is_none() {
                // A link this plan creates starts with the node's `default`
                // value: that is what to put back should the file stop
                // setting the key while the link lives on.
                prior = default_of(key).and_then(|d| have.sysctls.get(&d));
            }
            if prior.is_none() && ctx.new_nodes.contains(&node) {
                // A namespace this plan makes starts with a fresh one's values.
                prior = ctx.fresh.get(key);
            }
            if have.sysctls.get(key) != Some(value) {
                writes.push((key, value, prior));
            }
        }
        // This node's records only (they sort by node first): scanning all
        // of them for each node is quadratic at a thousand nodes.
        let records = ctx
            .owned
            .sysctls
            .range((node.clone(), String::new())..)
            .take_while(|((n, _), _)| *n == node);
        for ((_, key), original) in records {
            if want.sysctls.contains_key(key) {
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
                writes.push((key, original, prior));
            }
        }
        // What the cascading writes leave in each `default` key.
        let cascaded: Vec<(String, &str)> = writes
            .iter()
            .filter_map(|(k, v, _)| Some((cascade(k)?, *v)))
            .collect();
        for (key, value) in &want.sysctls {
            let Some((_, by)) = cascaded.iter().find(|(d, _)| d == key) else {
                continue;
            };
            let planned = writes.iter().position(|(k, _, _)| k == key);
            match planned {
                Some(i) if *by == value && node != HOST => {
                    writes.remove(i);
                }
                // The cascade changes a key that is right now: put it back.
                None if *by != value => writes.push((key, value, have.sysctls.get(key))),
                _ => {}
            }
        }
        writes.sort_by_key(|(k, _, _)| cascade(k).is_none());
        let written: Vec<&str> = writes.iter().map(|(k, _, _)| *k).collect();
        for (key, value, prior) in writes {
            let after = cascaded_from(key).is_some_and(|all| written.contains(&all.as_str()));
            out.push(set(&node, key, value, prior.cloned(), after));
        }
    }
}

/// Whether links created in `node` wait for its sysctl writes: the file sets
/// a `default` key there, which a link takes only when it is created (e.g.
/// `net.ipv6.conf.default.accept_dad`), and no write of the same value to a
/// cascading `all` key in this plan gives it to links made before as well.
pub(crate) fn shapes_new_links(ctx: &Ctx, node: &str) -> bool {
    let want = &ctx.want(node).sysctls;
    let have = &ctx.have(node).sysctls;
    want.iter().any(|(key, value)| {
        let parts: Vec<&str> = key.split('.').collect();
        let is_default = matches!(
            parts.as_slice(),
            ["net", "ipv4" | "ipv6", "conf" | "neigh", "default", ..]
        );
        let cascaded = cascaded_from(key)
            .is_some_and(|all| want.get(&all) == Some(value) && have.get(&all) != Some(value));
        is_default && !cascaded
    })
}

/// A SetSysctl; `after_cascade`: it waits for the node's other sysctl writes
/// (pushed before it), among them the cascading one that would undo it.
fn set(node: &str, key: &str, value: &str, prior: Option<String>, after_cascade: bool) -> Pending {
    let op = Op::SetSysctl {
        node: node.to_string(),
        key: key.to_string(),
        value: value.to_string(),
        prior,
    };
    let mut needs = vec![Key::Netns(node.to_string())];
    if after_cascade {
        needs.push(Key::Sysctl(node.to_string()));
    }
    match interface(key) {
        Some(link) => {
            let me = iref(node, &link);
            needs.push(Key::Link(me.clone()));
            Pending::new(Phase::LinkSysctl, op, needs, vec![Key::LinkSysctl(me)])
        }
        None => Pending::new(
            Phase::Sysctl,
            op,
            needs,
            vec![Key::Sysctl(node.to_string())],
        ),
    }
}

#[cfg(test)]
mod tests {
    use crate::effects::sysctl::default_of;
    use crate::model::Op;
    use crate::model::{Network, Node, HOST};
    use crate::plan::{up, Owned};

    /// The SetSysctl steps of a plan as (node, key, value, after).
    fn writes(desired: &Network, observed: &Network) -> Vec<(String, String, String, Vec<usize>)> {
        let mut owned = Owned::default();
        owned.namespaces.insert("c".into());
        let plan = up(desired, observed, &owned).expect("no conflicts");
        plan.steps
            .iter()
            .filter_map(|s| match &s.op {
                Op::SetSysctl {
                    node, key, value, ..
                } => Some((node.clone(), key.clone(), value.clone(), s.after.clone())),
                _ => None,
            })
            .collect()
    }

    fn net(nodes: Vec<(&str, Vec<(&str, &str)>)>) -> Network {
        Network {
            name: "t".into(),
            nodes: nodes
                .into_iter()
                .map(|(n, sysctls)| {
                    let mut node = Node::default();
                    for (k, v) in sysctls {
                        node.sysctls.insert(k.into(), v.into());
                    }
                    (n.to_string(), node)
                })
                .collect(),
        }
    }

    const ALL: &str = "net.ipv6.conf.all.disable_ipv6";
    const DEFAULT: &str = "net.ipv6.conf.default.disable_ipv6";

    #[test]
    fn an_interface_key_starts_from_its_default_key() {
        assert_eq!(
            default_of("net.ipv6.conf.eth0/10.disable_ipv6").as_deref(),
            Some("net.ipv6.conf.default.disable_ipv6")
        );
        assert_eq!(
            default_of("net.ipv4.neigh.p0.retrans_time_ms").as_deref(),
            Some("net.ipv4.neigh.default.retrans_time_ms")
        );
        assert_eq!(default_of(ALL), None);
        assert_eq!(default_of("net.ipv4.ip_forward"), None);
    }

    #[test]
    fn in_a_new_namespace_the_all_write_makes_the_default_one() {
        let desired = net(vec![
            (HOST, vec![]),
            ("c", vec![(ALL, "1"), (DEFAULT, "1")]),
        ]);
        let observed = net(vec![(HOST, vec![])]);
        let w = writes(&desired, &observed);
        assert_eq!(w.len(), 1, "{w:?}");
        assert_eq!((w[0].1.as_str(), w[0].2.as_str()), (ALL, "1"));
    }

    #[test]
    fn a_different_default_is_written_after_the_all_that_would_undo_it() {
        let desired = net(vec![
            (HOST, vec![]),
            ("c", vec![(DEFAULT, "0"), (ALL, "1")]),
        ]);
        let observed = net(vec![(HOST, vec![])]);
        let w = writes(&desired, &observed);
        let plan = up(&desired, &observed, &Owned::default()).unwrap();
        let index = |key: &str| {
            plan.steps
                .iter()
                .position(|s| matches!(&s.op, Op::SetSysctl { key: k, .. } if k == key))
                .unwrap()
        };
        // The default is 0 already in a new namespace, yet the all write sets it to 1.
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            plan.steps[index(DEFAULT)].after.contains(&index(ALL)),
            "{plan}"
        );
    }

    #[test]
    fn on_host_both_keys_are_written_so_each_can_be_restored() {
        let desired = net(vec![(HOST, vec![(ALL, "1"), (DEFAULT, "1")])]);
        let observed = net(vec![(HOST, vec![(ALL, "0"), (DEFAULT, "0")])]);
        let w = writes(&desired, &observed);
        let keys: Vec<&str> = w.iter().map(|x| x.1.as_str()).collect();
        assert_eq!(keys, vec![ALL, DEFAULT]);
    }

    #[test]
    fn keys_already_right_are_not_written() {
        let desired = net(vec![
            (HOST, vec![]),
            ("c", vec![(ALL, "1"), (DEFAULT, "1")]),
        ]);
        let observed = net(vec![
            (HOST, vec![]),
            ("c", vec![(ALL, "1"), (DEFAULT, "1")]),
        ]);
        assert!(writes(&desired, &observed).is_empty());
    }
}
