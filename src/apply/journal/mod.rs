//! The journal: what to write in the records before an op runs
//! (write-ahead) and what to forget once it ran, how to undo each op
//! ([`inverse`]), and the repair of records left by a crash ([`repair`]),
//! so that rollback, crash recovery and `down` know the prior state.
mod inverse;
pub mod repair;

use crate::model::IfRef;
use crate::model::Op;
use crate::state::Records;
pub use inverse::inverse;

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
        // Before the process exists: a crash right after its start still
        // leaves a record naming it (its pid follows once it runs).
        Op::StartService { node, name, .. } => {
            if rec
                .processes
                .iter()
                .any(|p| &p.node == node && &p.what == name)
            {
                false
            } else {
                rec.processes.push(crate::state::Process {
                    node: node.clone(),
                    what: name.clone(),
                    pid: 0,
                });
                true
            }
        }
        Op::AddFdb { node, .. } => rec.fdb.insert(node.clone()),
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
pub fn forget(rec: &mut Records, op: &Op) -> bool {
    match op {
        Op::DelNetns { node } => {
            let a = rec.namespaces.remove(node);
            let b = rec.nat.remove(node) | rec.fdb.remove(node);
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
        Op::StopService { node, name, .. } => {
            let before = rec.processes.len();
            rec.processes
                .retain(|p| !(&p.node == node && &p.what == name));
            before != rec.processes.len()
        }
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

/// Note in `rec` the pid each recorded service runs with in `observed`
/// (0 while it does not run); true when a pid changed. The pid is what the
/// process had when last seen: netloom finds and checks a service through
/// its files (see kernel::service), never by this number alone.
pub fn note_pids(rec: &mut Records, observed: &crate::model::Network) -> bool {
    let mut changed = false;
    for p in rec.processes.iter_mut() {
        let pid = observed
            .nodes
            .get(&p.node)
            .and_then(|n| n.services.get(&p.what))
            .and_then(|s| s.pid)
            .unwrap_or(0);
        if p.pid != pid {
            p.pid = pid;
            changed = true;
        }
    }
    changed
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
    use crate::model::{Link, LinkKind, Network};

    fn veth(name: &str, peer: (&str, &str)) -> Link {
        let mut l = Link::veth(name, peer.0, peer.1);
        l.up = Some(true);
        l
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
    fn link_names_are_written_ahead_and_settled_and_restored_sysctls_forgotten() {
        let mut rec = Records::default();
        let add = Op::AddLink {
            node: "host".into(),
            link: veth("p1", ("c1", "eth0")),
            peer: None,
        };
        assert!(write_ahead(&mut rec, &add));
        assert_eq!(rec.links.len(), 2, "both veth ends: {rec:?}");
        assert!(forget(&mut rec, &add));
        assert!(rec.links.is_empty());
        let set = |v: &str, p: &str| Op::SetSysctl {
            node: "host".into(),
            key: "net.ipv4.ip_forward".into(),
            value: v.into(),
            prior: Some(p.into()),
        };
        write_ahead(&mut rec, &set("1", "0"));
        assert!(!forget(&mut rec, &set("1", "0")), "still changed");
        assert!(forget(&mut rec, &set("0", "1")), "back at the original");
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
        assert!(forget(&mut rec, &del("p1")));
        let left: Vec<&String> = rec.sysctls["host"].keys().collect();
        assert_eq!(left, ["net.ipv6.conf.p2.disable_ipv6"]);
        assert!(forget(&mut rec, &del("p2")));
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
        assert!(forget(&mut rec, &on));
        assert!(rec.is_empty());
        for gone in [
            Op::DelLink {
                node: "a".into(),
                name: "br0".into(),
            },
            Op::DelNetns { node: "a".into() },
        ] {
            write_ahead(&mut rec, &on);
            assert!(forget(&mut rec, &gone), "{gone}");
            assert!(rec.quiet_bridges.is_empty(), "{gone}");
        }
    }
}

#[cfg(test)]
mod service_tests {
    use super::*;
    use crate::model::service::LifSetup;
    use crate::model::{Network, Node, Service, ServiceSetup};

    #[test]
    fn a_service_is_recorded_before_it_starts_and_forgotten_once_stopped() {
        let setup = ServiceSetup::LifWatch(LifSetup { lifs: vec![] });
        let start = Op::StartService {
            node: "a".into(),
            name: "lif".into(),
            setup: setup.clone(),
            prior: None,
        };
        let mut rec = Records::default();
        assert!(write_ahead(&mut rec, &start));
        assert!(!write_ahead(&mut rec, &start), "recorded once");
        assert_eq!(rec.processes[0].pid, 0);
        // The pid follows once it runs, and goes back to 0 when it does not.
        let mut node = Node::default();
        let mut s = Service::new(setup.clone());
        s.pid = Some(42);
        node.services.insert("lif".into(), s);
        let mut net = Network::default();
        net.nodes.insert("a".into(), node);
        assert!(note_pids(&mut rec, &net));
        assert_eq!(rec.processes[0].pid, 42);
        assert!(note_pids(&mut rec, &Network::default()));
        assert_eq!(rec.processes[0].pid, 0);
        // Undoing the start stops it; the stop forgets it.
        let undo = inverse(&start, &Network::default()).unwrap();
        assert!(matches!(&undo[..], [Op::StopService { prior: Some(p), .. }] if *p == setup));
        assert!(forget(&mut rec, &undo[0]));
        assert!(rec.is_empty(), "{rec:?}");
    }
}
