//! The journal: how to undo each op, and what to write in the records before
//! an op runs (write-ahead), so that rollback and crash recovery know the
//! prior state.
use crate::model::Op;
use crate::model::{IfRef, Network};
use crate::state::Records;

/// The ops that undo `op`, computed from the state observed before apply.
/// `None` means the op cannot be undone (only namespace deletion: apply runs
/// those last, after every undoable step has succeeded).
pub fn inverse(op: &Op, before: &Network) -> Option<Vec<Op>> {
    let node_before = |node: &str| before.nodes.get(node);
    Some(match op {
        Op::AddNetns { node } => vec![Op::DelNetns { node: node.clone() }],
        Op::DelNetns { .. } => return None,
        Op::AddLink { node, link, .. } => vec![Op::DelLink {
            node: node.clone(),
            name: link.name.clone(),
        }],
        Op::DelLink { node, name } => super::recreate::link(before, node, name),
        Op::SetLink {
            node,
            name,
            change,
            prior,
        } => {
            let mut back = prior.clone();
            // `prior` holds the whole old kind and port options; put back only
            // what the change touched (writing an untouched option may be
            // refused, e.g. vlan_filtering on a kernel without it).
            if let (Some(p), Some(c)) = (&prior.kind, &change.kind) {
                back.kind = Some(only_changed(p, c));
            }
            if let (Some(p), Some(c)) = (&prior.port, &change.port) {
                back.port = Some(only_changed(p, c));
            }
            let mut ops = vec![Op::SetLink {
                node: node.clone(),
                name: name.clone(),
                change: back,
                prior: change.clone(),
            }];
            // Setting a link down flushes its IPv6 addresses (unless
            // keep_addr_on_down): what the step's own down took is put back
            // from its effects (see apply::undo); what this undo's down
            // takes, those the link had before the step brought it up, here.
            if change.up == Some(true) && change.up != prior.up {
                let had = node_before(node).and_then(|n| n.links.get(name));
                for addr in had.iter().flat_map(|l| &l.addresses) {
                    if addr.net.addr().is_ipv6() {
                        ops.push(Op::AddAddress {
                            node: node.clone(),
                            link: name.clone(),
                            addr: *addr,
                        });
                    }
                }
            }
            ops
        }
        Op::AddAddress { node, link, addr } => vec![Op::DelAddress {
            node: node.clone(),
            link: link.clone(),
            addr: *addr,
        }],
        Op::DelAddress { node, link, addr } => vec![Op::AddAddress {
            node: node.clone(),
            link: link.clone(),
            addr: *addr,
        }],
        Op::AddRoute { node, route } => vec![Op::DelRoute {
            node: node.clone(),
            route: route.clone(),
        }],
        Op::DelRoute { node, route } => vec![Op::AddRoute {
            node: node.clone(),
            route: route.clone(),
        }],
        Op::SetSysctl {
            node,
            key,
            value,
            prior,
        } => match prior {
            Some(p) => vec![Op::SetSysctl {
                node: node.clone(),
                key: key.clone(),
                value: p.clone(),
                prior: Some(value.clone()),
            }],
            None => Vec::new(),
        },
        Op::SetNat { node, .. } | Op::DelNat { node } => {
            let rules = node_before(node).map(|n| n.nat.clone()).unwrap_or_default();
            if rules.is_empty() {
                if matches!(op, Op::DelNat { .. }) {
                    Vec::new()
                } else {
                    vec![Op::DelNat { node: node.clone() }]
                }
            } else {
                vec![Op::SetNat {
                    node: node.clone(),
                    rules,
                }]
            }
        }
        // Undoing a teamd start is its stop, or a restart with what ran before.
        Op::StartTeamd {
            node,
            dev,
            setup,
            prior,
        } => match prior {
            Some(p) => vec![Op::StartTeamd {
                node: node.clone(),
                dev: dev.clone(),
                setup: p.clone(),
                prior: Some(setup.clone()),
            }],
            None => vec![Op::StopTeamd {
                node: node.clone(),
                dev: dev.clone(),
                prior: Some(setup.clone()),
            }],
        },
        Op::StopTeamd { node, dev, prior } => match prior {
            Some(p) => vec![Op::StartTeamd {
                node: node.clone(),
                dev: dev.clone(),
                setup: p.clone(),
                prior: None,
            }],
            None => Vec::new(),
        },
    })
}

/// The fields of `prior` that `change` sets (others cleared), compared field
/// by field through their serialized form; the whole `prior` when the two are
/// not of one shape.
fn only_changed<T: serde::Serialize + serde::de::DeserializeOwned + Clone>(
    prior: &T,
    change: &T,
) -> T {
    fn mask(p: &mut serde_json::Value, c: &serde_json::Value) {
        use serde_json::Value;
        let (Value::Object(p), Value::Object(c)) = (p, c) else {
            return;
        };
        for (k, pv) in p.iter_mut() {
            match c.get(k) {
                None | Some(Value::Null) => {
                    *pv = if pv.is_array() {
                        Value::Array(Vec::new())
                    } else {
                        Value::Null
                    }
                }
                Some(Value::Array(a)) if a.is_empty() => *pv = Value::Array(Vec::new()),
                Some(cv) => mask(pv, cv),
            }
        }
    }
    let (Ok(mut p), Ok(c)) = (serde_json::to_value(prior), serde_json::to_value(change)) else {
        return prior.clone();
    };
    mask(&mut p, &c);
    serde_json::from_value(p).unwrap_or_else(|_| prior.clone())
}

/// Record in `rec`, before `op` runs, what a crash or `down` must know about it.
/// Returns true when the records changed (and must be saved before the op runs).
pub fn write_ahead(rec: &mut Records, op: &Op) -> bool {
    match op {
        Op::AddNetns { node } => rec.namespaces.insert(node.clone()),
        // The ownership mark follows the create request: until it is set,
        // only the records can say the device is ours.
        Op::AddLink { node, link, .. } => {
            let mut changed = false;
            for r in link_names(node, link) {
                changed |= rec.links.insert(r);
            }
            changed
        }
        Op::SetNat { node, .. } => rec.nat.insert(node.clone()),
        Op::SetLink { .. } => match crate::plan::snooping_turned_on(op) {
            Some(bridge) => rec.quiet_bridges.insert(bridge),
            None => false,
        },
        Op::SetSysctl {
            node,
            key,
            prior: Some(p),
            ..
        } => {
            let m = rec.sysctls.entry(node.clone()).or_default();
            if m.contains_key(key) {
                false // keep the value from before netloom's *first* change
            } else {
                m.insert(key.clone(), p.clone());
                true
            }
        }
        _ => false,
    }
}

/// Forget in `rec`, after `op` succeeded, what no longer exists.
pub fn settle(rec: &mut Records, op: &Op) -> bool {
    match op {
        Op::DelNetns { node } => {
            let a = rec.namespaces.remove(node);
            let b = rec.nat.remove(node);
            let c = rec.sysctls.remove(node).is_some();
            let count = |r: &Records| r.processes.len() + r.links.len() + r.quiet_bridges.len();
            let before = count(rec);
            rec.processes.retain(|p| &p.node != node);
            rec.links.retain(|l| &l.node != node);
            rec.quiet_bridges.retain(|l| &l.node != node);
            a || b || c || before != count(rec)
        }
        Op::SetLink { .. } => match crate::plan::snooping_turned_on(op) {
            Some(bridge) => rec.quiet_bridges.remove(&bridge),
            None => false,
        },
        Op::DelNat { node } => rec.nat.remove(node),
        // Back at the value from before netloom's first change: nothing to restore.
        Op::SetSysctl {
            node, key, value, ..
        } => {
            let Some(m) = rec.sysctls.get_mut(node) else {
                return false;
            };
            if m.get(key) != Some(value) {
                return false;
            }
            m.remove(key);
            if m.is_empty() {
                rec.sysctls.remove(node);
            }
            true
        }
        // Marked now (apply::link::add marks before it returns), or gone.
        Op::AddLink { node, link, .. } => {
            let mut changed = false;
            for r in link_names(node, link) {
                changed |= rec.links.remove(&r);
            }
            changed
        }
        Op::DelLink { node, name } => {
            let me = IfRef {
                node: node.clone(),
                name: name.clone(),
            };
            let a = rec.links.remove(&me);
            let q = rec.quiet_bridges.remove(&me);
            // The link's own sysctls went with it: nothing to restore.
            let b = forget_sysctls_of(rec, node, |l| l == name);
            a || q || b
        }
        _ => false,
    }
}

/// Forget the recorded per-interface sysctls in `node` of the links `gone`
/// accepts (they died with them); true when any was recorded. One pass over
/// the node's keys whatever the number of links: a down of 1000 containers
/// forgets 1000 ports' keys at once.
pub fn forget_sysctls_of(rec: &mut Records, node: &str, gone: impl Fn(&str) -> bool) -> bool {
    let Some(m) = rec.sysctls.get_mut(node) else {
        return false;
    };
    let before = m.len();
    m.retain(|k, _| !crate::effects::sysctl::interface(k).is_some_and(|l| gone(&l)));
    let changed = m.len() != before;
    if m.is_empty() {
        rec.sysctls.remove(node);
    }
    changed
}

/// The interfaces an AddLink creates: the link and, for a veth, its peer.
fn link_names(node: &str, link: &crate::model::Link) -> Vec<IfRef> {
    let mut out = vec![IfRef {
        node: node.to_string(),
        name: link.name.clone(),
    }];
    if let crate::model::LinkKind::Veth(v) = &link.kind {
        out.extend(v.peer.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LinkChange;
    use crate::model::{Address, Link, LinkKind, Node};

    fn veth(name: &str, peer: (&str, &str)) -> Link {
        let mut l = Link::veth(name, peer.0, peer.1);
        l.up = Some(true);
        l
    }

    #[test]
    fn deleting_a_veth_is_undone_with_both_ends_addresses_and_state() {
        let mut before = Network {
            name: "t".into(),
            ..Network::default()
        };
        let mut a = veth("v0", ("b", "v1"));
        a.addresses.push(Address {
            net: "10.0.0.1/24".parse().unwrap(),
            dad: false,
            secondary: false,
        });
        before.nodes.insert(
            "a".into(),
            Node {
                links: [("v0".to_string(), a)].into(),
                ..Node::default()
            },
        );
        before.nodes.insert(
            "b".into(),
            Node {
                links: [("v1".to_string(), veth("v1", ("a", "v0")))].into(),
                ..Node::default()
            },
        );
        let ops = inverse(
            &Op::DelLink {
                node: "a".into(),
                name: "v0".into(),
            },
            &before,
        )
        .unwrap();
        assert!(matches!(&ops[0], Op::AddLink { peer: Some(p), .. } if p.name == "v1"));
        assert!(ops
            .iter()
            .any(|o| matches!(o, Op::AddAddress { link, .. } if link == "v0")));
        assert_eq!(
            ops.iter()
                .filter(|o| matches!(o, Op::SetLink { .. }))
                .count(),
            2
        );
    }

    #[test]
    fn setlink_inverse_swaps_change_and_prior() {
        let change = LinkChange {
            mtu: Some(9000),
            ..LinkChange::default()
        };
        let prior = LinkChange {
            mtu: Some(1500),
            ..LinkChange::default()
        };
        let op = Op::SetLink {
            node: "a".into(),
            name: "x".into(),
            change: change.clone(),
            prior: prior.clone(),
        };
        assert_eq!(
            inverse(&op, &Network::default()).unwrap(),
            vec![Op::SetLink {
                node: "a".into(),
                name: "x".into(),
                change: prior,
                prior: change
            }]
        );
    }

    #[test]
    fn namespace_deletion_is_irreversible_and_first_sysctl_prior_is_kept() {
        assert!(inverse(&Op::DelNetns { node: "a".into() }, &Network::default()).is_none());
        let mut rec = Records::default();
        let set = |v: &str, p: &str| Op::SetSysctl {
            node: "host".into(),
            key: "net.ipv4.ip_forward".into(),
            value: v.into(),
            prior: Some(p.into()),
        };
        assert!(write_ahead(&mut rec, &set("1", "0")));
        assert!(!write_ahead(&mut rec, &set("1", "1")));
        assert_eq!(rec.sysctls["host"]["net.ipv4.ip_forward"], "0");
    }

    #[test]
    fn undoing_a_kind_change_sets_back_only_the_touched_options() {
        use crate::model::BridgeOptions;
        let old = BridgeOptions {
            stp: Some(false),
            ageing_time: Some(300),
            vlan_filtering: Some(false),
            ..BridgeOptions::default()
        };
        let op = Op::SetLink {
            node: "host".into(),
            name: "br0".into(),
            change: LinkChange {
                kind: Some(LinkKind::Bridge(BridgeOptions {
                    ageing_time: Some(600),
                    ..BridgeOptions::default()
                })),
                ..LinkChange::default()
            },
            prior: LinkChange {
                kind: Some(LinkKind::Bridge(old)),
                ..LinkChange::default()
            },
        };
        let inv = inverse(&op, &Network::default()).unwrap();
        let Op::SetLink { change, .. } = &inv[0] else {
            panic!("{inv:?}")
        };
        assert_eq!(
            change.kind,
            Some(LinkKind::Bridge(BridgeOptions {
                ageing_time: Some(300),
                ..BridgeOptions::default()
            }))
        );
    }

    #[test]
    fn link_names_are_written_ahead_and_settled_and_restored_sysctls_forgotten() {
        let mut rec = Records::default();
        let add = Op::AddLink {
            node: "host".into(),
            link: veth("p1", ("c1", "eth0")),
            peer: None,
        };
        assert!(write_ahead(&mut rec, &add));
        assert_eq!(rec.links.len(), 2, "both veth ends: {rec:?}");
        assert!(settle(&mut rec, &add));
        assert!(rec.links.is_empty());
        let set = |v: &str, p: &str| Op::SetSysctl {
            node: "host".into(),
            key: "net.ipv4.ip_forward".into(),
            value: v.into(),
            prior: Some(p.into()),
        };
        write_ahead(&mut rec, &set("1", "0"));
        assert!(!settle(&mut rec, &set("1", "0")), "still changed");
        assert!(settle(&mut rec, &set("0", "1")), "back at the original");
        assert!(rec.is_empty(), "{rec:?}");
    }

    #[test]
    fn a_deleted_link_takes_its_recorded_sysctls_along() {
        let mut rec = Records::default();
        let set = |key: &str| Op::SetSysctl {
            node: "host".into(),
            key: key.into(),
            value: "1".into(),
            prior: Some("0".into()),
        };
        write_ahead(&mut rec, &set("net.ipv6.conf.p1.disable_ipv6"));
        write_ahead(&mut rec, &set("net.ipv4.conf.p1.forwarding"));
        write_ahead(&mut rec, &set("net.ipv6.conf.p2.disable_ipv6"));
        let del = |name: &str| Op::DelLink {
            node: "host".into(),
            name: name.into(),
        };
        assert!(settle(&mut rec, &del("p1")));
        let left: Vec<&String> = rec.sysctls["host"].keys().collect();
        assert_eq!(left, ["net.ipv6.conf.p2.disable_ipv6"]);
        assert!(settle(&mut rec, &del("p2")));
        assert!(rec.is_empty(), "{rec:?}");
    }

    /// Turning a quiet bridge's snooping on is written ahead and forgotten
    /// once done, or when the bridge or its node goes.
    #[test]
    fn a_quiet_bridge_is_recorded_until_its_snooping_is_on() {
        use crate::model::BridgeOptions;
        use crate::model::LinkChange;
        let snooping = |on: bool| LinkChange {
            kind: Some(LinkKind::Bridge(BridgeOptions {
                mcast_snooping: Some(on),
                ..Default::default()
            })),
            ..LinkChange::default()
        };
        let on = Op::SetLink {
            node: "a".into(),
            name: "br0".into(),
            change: snooping(true),
            prior: snooping(false),
        };
        let off = Op::SetLink {
            node: "a".into(),
            name: "br0".into(),
            change: snooping(false),
            prior: snooping(true),
        };
        let br0 = IfRef {
            node: "a".into(),
            name: "br0".into(),
        };
        let mut rec = Records::default();
        assert!(!write_ahead(&mut rec, &off), "turning it off is no promise");
        assert!(write_ahead(&mut rec, &on));
        assert!(rec.quiet_bridges.contains(&br0) && !rec.is_empty());
        assert!(settle(&mut rec, &on));
        assert!(rec.is_empty());
        for gone in [
            Op::DelLink {
                node: "a".into(),
                name: "br0".into(),
            },
            Op::DelNetns { node: "a".into() },
        ] {
            write_ahead(&mut rec, &on);
            assert!(settle(&mut rec, &gone), "{gone}");
            assert!(rec.quiet_bridges.is_empty(), "{gone}");
        }
    }
}
