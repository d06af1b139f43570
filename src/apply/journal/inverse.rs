//! Inverses: the op that takes each op back, from the state observed before
//! apply. What the kernel did along with the op is put back by
//! [`super::super::undo`], from the kernel-effects model.
use crate::model::{Network, Op};

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
        Op::DelLink { node, name } => super::super::recreate::link(before, node, name),
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
        Op::AddFdb { node, entry } => vec![Op::DelFdb {
            node: node.clone(),
            entry: entry.clone(),
        }],
        Op::DelFdb { node, entry } => vec![Op::AddFdb {
            node: node.clone(),
            entry: entry.clone(),
        }],
        Op::StopTeamd { node, dev, prior } => match prior {
            Some(p) => vec![Op::StartTeamd {
                node: node.clone(),
                dev: dev.clone(),
                setup: p.clone(),
                prior: None,
            }],
            None => Vec::new(),
        },
        // Services likewise: a start is undone by a stop (or a restart
        // with what ran before), a stop by a start.
        Op::StartService {
            node,
            name,
            setup,
            prior,
        } => match prior {
            Some(p) => vec![Op::StartService {
                node: node.clone(),
                name: name.clone(),
                setup: p.clone(),
                prior: Some(setup.clone()),
            }],
            None => vec![Op::StopService {
                node: node.clone(),
                name: name.clone(),
                prior: Some(setup.clone()),
            }],
        },
        Op::StopService { node, name, prior } => match prior {
            Some(p) => vec![Op::StartService {
                node: node.clone(),
                name: name.clone(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Address, Link, LinkChange, LinkKind, Node};

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
}
