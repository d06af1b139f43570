//! Forwarding database entries: a static entry the file lists is added
//! once its device (and a bridge entry's port, enslaved) is in place; one
//! netloom manages that the file no longer lists is deleted. Entries that
//! go with their device or port (see [`crate::effects::fdb`]) are not in
//! the effective network, so they are neither deleted nor kept: added
//! again when still wanted.
use super::effect::{iref, Ctx};
use super::graph::{Key, Pending, Phase};
use crate::model::{FdbEntry, LinkKind, Node, Op};

/// Whether observed `entry` stays through the plan: its device and port
/// stay, and the port stays a port of that bridge (the file moving it
/// elsewhere or out releases it, which flushes its entries). `have` is the
/// node once deletions are done, `want` the node as desired.
pub(crate) fn survives(entry: &FdbEntry, have: &Node, want: &Node) -> bool {
    let Some(port) = &entry.port else {
        return have.links.contains_key(&entry.dev);
    };
    let enslaved = have
        .links
        .get(port)
        .is_some_and(|l| l.master.as_ref() == Some(&entry.dev));
    let kept = want
        .links
        .get(port)
        .is_none_or(|w| w.kind == LinkKind::External || w.master.as_ref() == Some(&entry.dev));
    have.links.contains_key(&entry.dev) && enslaved && kept
}

/// Whether an observed entry of `node` is netloom's to delete: it lives
/// on a device of this topology.
pub(crate) fn ours(ctx: &Ctx, node: &str, have: &Node, entry: &FdbEntry) -> bool {
    have.links
        .get(&entry.dev)
        .is_some_and(|l| ctx.ours(node, l))
}

/// DelFdb for our entries the file no longer lists, AddFdb for missing ones.
pub(crate) fn plan(ctx: &Ctx, out: &mut Vec<Pending>) {
    for node in ctx.kept_nodes() {
        let want = ctx.want(&node);
        let have = ctx.have(&node);
        for e in &have.fdb {
            if !want.fdb.contains(e) && ours(ctx, &node, have, e) {
                let op = Op::DelFdb {
                    node: node.clone(),
                    entry: e.clone(),
                };
                out.push(Pending::new(Phase::DelFdb, op, vec![], vec![]));
            }
        }
        for e in &want.fdb {
            if have.fdb.contains(e) {
                continue;
            }
            // The device configured (a bridge filtering VLANs), a port
            // enslaved with its VLANs, a `via` device made.
            let mut needs = vec![
                Key::Netns(node.clone()),
                Key::Link(iref(&node, &e.dev)),
                Key::Config(iref(&node, &e.dev)),
            ];
            for r in e.refers_to() {
                needs.push(Key::Link(iref(&node, r)));
                needs.push(Key::Config(iref(&node, r)));
            }
            let op = Op::AddFdb {
                node: node.clone(),
                entry: e.clone(),
            };
            out.push(Pending::new(Phase::AddFdb, op, needs, vec![]));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::model::fdb::FLOOD;
    use crate::model::{FdbEntry, Link, LinkKind, Network, Node, Op, HOST};
    use crate::plan::Owned;

    fn host(fdb: Vec<FdbEntry>, port_master: Option<&str>) -> Network {
        let mut n = Node::default();
        let mut br = Link::new("br0", LinkKind::Bridge(Default::default()));
        br.alias = Some("netloom:t".into());
        n.links.insert("br0".into(), br);
        let mut p1 = Link::new("p1", LinkKind::Dummy(Default::default()));
        p1.alias = Some("netloom:t".into());
        p1.master = port_master.map(String::from);
        n.links.insert("p1".into(), p1);
        n.fdb = fdb;
        Network {
            name: "t".into(),
            nodes: [(HOST.to_string(), n)].into(),
        }
    }

    fn ops(desired: &Network, observed: &Network) -> Vec<String> {
        crate::plan::up(desired, observed, &Owned::default())
            .unwrap()
            .steps
            .into_iter()
            .filter(|s| matches!(s.op, Op::AddFdb { .. } | Op::DelFdb { .. }))
            .map(|s| s.op.to_string())
            .collect()
    }

    #[test]
    fn missing_entries_are_added_and_stale_ones_deleted() {
        let mac = "02:00:00:00:00:09".parse().unwrap();
        let a = FdbEntry::bridge("br0", mac, "p1", None);
        let b = FdbEntry::vxlan("br0", FLOOD, "10.0.0.2".parse().unwrap());
        let want = host(vec![a.clone()], Some("br0"));
        assert_eq!(
            ops(&want, &host(vec![], Some("br0"))),
            ["host: fdb add 02:00:00:00:00:09 dev p1 master br0"]
        );
        assert!(ops(&want, &host(vec![a.clone()], Some("br0"))).is_empty());
        assert_eq!(
            ops(&want, &host(vec![a, b], Some("br0"))),
            ["host: fdb del 00:00:00:00:00:00 dev br0 dst 10.0.0.2"]
        );
    }

    /// A port the file takes out of its bridge loses its entries with it:
    /// nothing to delete, and an entry still wanted comes back.
    #[test]
    fn a_released_port_takes_its_entries_along() {
        let mac = "02:00:00:00:00:09".parse().unwrap();
        let a = FdbEntry::bridge("br0", mac, "p1", None);
        let want = host(vec![], None);
        assert!(ops(&want, &host(vec![a], Some("br0"))).is_empty());
    }
}
