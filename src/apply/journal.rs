//! The journal: how to undo each op, and what to write in the records before
//! an op runs (write-ahead), so that rollback and crash recovery know the
//! prior state.
use crate::model::{Network, Route, TeamdSetup};
use crate::plan::{LinkChange, Op};
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
        Op::DelLink { node, name } => recreate_link(before, node, name),
        Op::SetLink {
            node,
            name,
            change,
            prior,
        } => vec![Op::SetLink {
            node: node.clone(),
            name: name.clone(),
            change: prior.clone(),
            prior: change.clone(),
        }],
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

/// Ops that rebuild a link deleted by apply, as it was observed before: the
/// device (with its veth peer), its master and state, addresses and routes.
fn recreate_link(before: &Network, node: &str, name: &str) -> Vec<Op> {
    let Some(n) = before.nodes.get(node) else {
        return Vec::new();
    };
    let Some(link) = n.links.get(name) else {
        return Vec::new();
    };
    let peer = match &link.kind {
        crate::model::LinkKind::Veth(v) => v
            .peer
            .as_ref()
            .and_then(|p| {
                before
                    .nodes
                    .get(&p.node)
                    .and_then(|pn| pn.links.get(&p.name))
            })
            .map(|l| Box::new(l.clone())),
        _ => None,
    };
    let mut ops = vec![Op::AddLink {
        node: node.to_string(),
        link: link.clone(),
        peer: peer.clone(),
    }];
    let mut restore = |node: &str, l: &crate::model::Link, routes: &[Route]| {
        let change = LinkChange {
            up: l.up,
            master: l.master.clone().map(Some),
            port: l.port.clone(),
            ..LinkChange::default()
        };
        if !change.is_empty() {
            ops.push(Op::SetLink {
                node: node.to_string(),
                name: l.name.clone(),
                change,
                prior: LinkChange::default(),
            });
        }
        for addr in &l.addresses {
            ops.push(Op::AddAddress {
                node: node.to_string(),
                link: l.name.clone(),
                addr: *addr,
            });
        }
        for r in routes
            .iter()
            .filter(|r| r.dev.as_deref() == Some(l.name.as_str()))
        {
            ops.push(Op::AddRoute {
                node: node.to_string(),
                route: r.clone(),
            });
        }
    };
    restore(node, link, &n.routes);
    if let (Some(p), crate::model::LinkKind::Veth(v)) = (&peer, &link.kind) {
        if let Some(pref) = &v.peer {
            let routes = before
                .nodes
                .get(&pref.node)
                .map(|x| x.routes.clone())
                .unwrap_or_default();
            restore(&pref.node, p, &routes);
        }
    }
    // A team comes back with its teamd, which enslaves its ports again.
    if let Some(setup) = TeamdSetup::of(n, name) {
        ops.push(Op::StartTeamd {
            node: node.to_string(),
            dev: name.to_string(),
            setup,
            prior: None,
        });
    }
    ops
}

/// Record in `rec`, before `op` runs, what a crash or `down` must know about it.
/// Returns true when the records changed (and must be saved before the op runs).
pub fn write_ahead(rec: &mut Records, op: &Op) -> bool {
    match op {
        Op::AddNetns { node } => rec.namespaces.insert(node.clone()),
        Op::SetNat { node, .. } => rec.nat.insert(node.clone()),
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
            let before = rec.processes.len();
            rec.processes.retain(|p| &p.node != node);
            a || b || c || before != rec.processes.len()
        }
        Op::DelNat { node } => rec.nat.remove(node),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Address, IfRef, Link, LinkKind, Node, VethOptions};

    fn veth(name: &str, peer: (&str, &str)) -> Link {
        let mut l = Link::new(
            name,
            LinkKind::Veth(VethOptions {
                peer: Some(IfRef {
                    node: peer.0.into(),
                    name: peer.1.into(),
                }),
            }),
        );
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
}
