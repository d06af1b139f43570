//! Forwarding database entries: what vanishes with the devices they live on.
use std::collections::BTreeSet;

use super::sim::{existing, node_mut, refuse, Refused};
use super::Effects;
use crate::model::{FdbEntry, IfRef, LinkKind, Network};

/// The static entries that go with the links `gone` (each of them
/// vanishing): a vxlan's entries with the vxlan (vxlan_uninit flushes its
/// table), a bridge's with the bridge, and a port's with the port
/// (br_fdb_delete_by_port from del_nbp, which a deleted port and a deleted
/// bridge both run). A vxlan entry's `via` device may go without it: the
/// kernel keeps the destination with its stale ifindex (only a vxlan whose
/// underlay `dev` goes is deleted, see [`super::link`]).
pub fn with_links(before: &Network, gone: &BTreeSet<&IfRef>, e: &mut Effects) {
    for (node, n) in &before.nodes {
        let goes = |name: &str| {
            gone.contains(&IfRef {
                node: node.clone(),
                name: name.to_string(),
            })
        };
        for entry in &n.fdb {
            if goes(&entry.dev) || entry.port.as_deref().is_some_and(goes) {
                push(e, node, entry);
            }
        }
    }
}

/// A port released by bridge `master` (it leaves, or is moved to another
/// master) takes its entries in that bridge's table along (del_nbp ->
/// br_fdb_delete_by_port, static entries included).
pub fn port_released(before: &Network, port: &IfRef, master: &str, e: &mut Effects) {
    let Some(n) = before.nodes.get(&port.node) else {
        return;
    };
    for entry in &n.fdb {
        if entry.dev == master && entry.port.as_deref() == Some(port.name.as_str()) {
            push(e, &port.node, entry);
        }
    }
}

fn push(e: &mut Effects, node: &str, entry: &FdbEntry) {
    let item = (node.to_string(), entry.clone());
    if !e.fdb.contains(&item) {
        e.fdb.push(item);
    }
}

/// [`super::sim`] adding a static entry: on a bridge, held by one of its ports (rtnl_fdb_add
/// hands it to the master only for a bridge port: EOPNOTSUPP otherwise),
/// replacing the entry for that MAC and VLAN; on a vxlan, replacing the
/// one for that MAC, except the flood list, which takes one entry per
/// destination (vxlan_fdb_append).
pub(super) fn sim_add(net: &mut Network, node: &str, entry: &FdbEntry) -> Result<(), Refused> {
    let dev = existing(net, node, &entry.dev)?.kind.clone();
    for other in entry.refers_to() {
        existing(net, node, other)?;
    }
    match (&entry.port, &dev) {
        (Some(p), LinkKind::Bridge(_)) => {
            if existing(net, node, p)?.master.as_deref() != Some(entry.dev.as_str()) {
                return refuse(format!("{node}/{p} is not a port of {}", entry.dev));
            }
        }
        (None, LinkKind::Vxlan(_)) => {}
        _ => return refuse(format!("{node}/{}: no such fdb", entry.dev)),
    }
    let n = node_mut(net, node)?;
    n.fdb.retain(|x| {
        let same_key = x.dev == entry.dev && x.mac == entry.mac && x.vlan == entry.vlan;
        !(same_key && (!entry.floods() || x == entry))
    });
    n.fdb.push(entry.clone());
    n.fdb.sort();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fdb::FLOOD;
    use crate::model::{Link, LinkKind, Node, Op, HOST};

    fn net() -> Network {
        let mut n = Node::default();
        n.links.insert(
            "br0".into(),
            Link::new("br0", LinkKind::Bridge(Default::default())),
        );
        let mut p1 = Link::veth("p1", "c1", "eth0");
        p1.master = Some("br0".into());
        n.links.insert("p1".into(), p1);
        n.links.insert(
            "vx0".into(),
            Link::new("vx0", LinkKind::Vxlan(Default::default())),
        );
        let mac = "02:00:00:00:00:09".parse().unwrap();
        n.fdb = vec![
            FdbEntry::bridge("br0", mac, "p1", None),
            FdbEntry::vxlan("vx0", FLOOD, "10.9.0.2".parse().unwrap()),
        ];
        Network {
            name: "t".into(),
            nodes: [(HOST.to_string(), n)].into(),
        }
    }

    fn gone_with(op: Op) -> Vec<String> {
        crate::effects::of(&op, &net())
            .fdb
            .iter()
            .map(|(_, e)| e.dev.clone())
            .collect()
    }

    #[test]
    fn entries_go_with_their_device_their_port_and_their_bridge() {
        let del = |name: &str| Op::DelLink {
            node: HOST.into(),
            name: name.into(),
        };
        assert_eq!(gone_with(del("vx0")), ["vx0"]);
        assert_eq!(gone_with(del("p1")), ["br0"]);
        assert_eq!(gone_with(del("br0")), ["br0"]);
        let release = Op::set_link(
            &IfRef {
                node: HOST.into(),
                name: "p1".into(),
            },
            crate::model::LinkChange {
                master: Some(None),
                ..Default::default()
            },
            Default::default(),
        );
        assert_eq!(gone_with(release), ["br0"]);
        // What lives inside a deleted namespace goes with it, unnamed.
        assert!(gone_with(Op::DelNetns { node: HOST.into() }).is_empty());
    }
}
