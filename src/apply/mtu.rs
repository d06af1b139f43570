//! MTUs the kernel changes along with a lower's, which undoing the lower's
//! change does not change back: a vlan, macvlan or macvtap larger than its
//! lower's new MTU is shrunk to it (vlan_device_event, macvlan_device_event),
//! and an ipvlan or ipvtap takes its lower's MTU on every change
//! (ipvlan_device_event). Rollback puts them back as they were.
use std::collections::BTreeSet;

use crate::model::{IfRef, Link, Network};
use crate::model::{LinkChange, Op};

/// Whether the kernel may change `l`'s MTU when its lower's changes.
fn follows(l: &Link) -> bool {
    l.kind.takes_lower_mtu() || l.kind.shrinks_with_lower()
}

/// For `op` changing a link's MTU: the ops setting the MTU of every link
/// stacked on it (at any depth) that follows it, as it was `before`, lowers
/// before the devices on them. Links `gone` (removed by a step not undone
/// yet, whose undo makes them anew with their old MTU) are left out, and
/// so is what was stacked on them (the kernel removed it with them).
/// Setting an MTU the link already has changes nothing.
pub fn followers(op: &Op, before: &Network, gone: &dyn Fn(&IfRef) -> bool) -> Vec<Op> {
    let Op::SetLink {
        node, name, change, ..
    } = op
    else {
        return Vec::new();
    };
    if change.mtu.is_none() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut seen: BTreeSet<IfRef> = BTreeSet::new();
    let mut lowers = vec![IfRef {
        node: node.clone(),
        name: name.clone(),
    }];
    // Breadth first, so that each lower is set before what is stacked on it.
    while !lowers.is_empty() {
        let mut next = Vec::new();
        for lower in &lowers {
            for (me, l) in before.stacked_on(lower) {
                if !follows(l) || !seen.insert(me.clone()) || gone(&me) {
                    continue;
                }
                if let Some(mtu) = l.mtu {
                    let change = LinkChange::only_mtu(Some(mtu));
                    out.push(Op::set_link(&me, change, LinkChange::default()));
                }
                next.push(me);
            }
        }
        lowers = next;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{LinkKind, MacvlanOptions, Node, HOST};

    fn stacked(name: &str, lower: &str, mtu: u32) -> Link {
        let mut l = Link::new(
            name,
            LinkKind::Macvlan(MacvlanOptions {
                lower: Some(IfRef {
                    node: HOST.into(),
                    name: lower.into(),
                }),
                ..MacvlanOptions::default()
            }),
        );
        l.mtu = Some(mtu);
        l
    }

    fn set_mtu(name: &str, mtu: u32) -> Op {
        Op::SetLink {
            node: HOST.into(),
            name: name.into(),
            change: LinkChange {
                mtu: Some(mtu),
                ..LinkChange::default()
            },
            prior: LinkChange::default(),
        }
    }

    #[test]
    fn stacked_links_get_their_mtu_back_lowers_first_gone_ones_and_theirs_not() {
        let mut n = Node::default();
        let mut up0 = Link::veth("up0", "c1", "eth0");
        up0.mtu = Some(9000);
        for l in [
            up0,
            stacked("mv1", "up0", 9000),
            stacked("mv0", "mv1", 8000),
            stacked("gone", "up0", 4000),
            stacked("ongone", "gone", 4000),
            stacked("other", "up1", 1500),
        ] {
            n.links.insert(l.name.clone(), l);
        }
        let before = Network {
            name: "t".into(),
            nodes: [(HOST.into(), n)].into(),
        };
        let removed: BTreeSet<IfRef> = [IfRef {
            node: HOST.into(),
            name: "gone".into(),
        }]
        .into();
        let gone = |r: &IfRef| removed.contains(r);
        let ops = followers(&set_mtu("up0", 1400), &before, &gone);
        assert_eq!(ops, vec![set_mtu("mv1", 9000), set_mtu("mv0", 8000)]);
        assert!(followers(&set_mtu("other", 1400), &before, &gone).is_empty());
    }
}
