//! Layer-2 segments: which interfaces of a topology share one broadcast
//! domain, as far as the file tells. Joined are the two ends of a veth,
//! a bridge and its ports, a bond or team and its ports (their frames are
//! the master's), a macvlan or macvtap and its lower (their frames leave
//! through it). A VLAN is a segment of its own (other tag), and a VXLAN's
//! far side is unknown; `external` devices join what is outside.
use std::collections::{BTreeMap, HashMap};

use crate::model::{IfRef, LinkKind, Node};

/// The segments of a topology: each interface's segment representative.
#[derive(Debug, Default)]
pub struct Segments {
    parent: HashMap<IfRef, IfRef>,
}

impl Segments {
    /// The segments of `nodes`.
    pub fn of(nodes: &BTreeMap<String, Node>) -> Segments {
        let mut s = Segments::default();
        for (node, n) in nodes {
            for (name, l) in &n.links {
                let me = iref(node, name);
                s.find(&me);
                if let LinkKind::Veth(v) = &l.kind {
                    if let Some(p) = &v.peer {
                        s.union(&me, p);
                    }
                }
                if let Some(m) = &l.master {
                    s.union(&me, &iref(node, m));
                }
                if matches!(l.kind, LinkKind::Macvlan(_) | LinkKind::Macvtap(_)) {
                    if let Some(lower) = l.kind.lower() {
                        s.union(&me, lower);
                    }
                }
            }
        }
        s
    }

    /// The representative of `r`'s segment.
    pub fn find(&mut self, r: &IfRef) -> IfRef {
        let p = self
            .parent
            .entry(r.clone())
            .or_insert_with(|| r.clone())
            .clone();
        if &p == r {
            return p;
        }
        let root = self.find(&p);
        self.parent.insert(r.clone(), root.clone());
        root
    }

    fn union(&mut self, a: &IfRef, b: &IfRef) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            // The smaller one leads, so the result does not depend on order.
            let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
            self.parent.insert(hi, lo);
        }
    }

    /// Whether `a` and `b` are on one segment.
    pub fn same(&mut self, a: &IfRef, b: &IfRef) -> bool {
        self.find(a) == self.find(b)
    }
}

/// Shorthand for an interface reference.
pub fn iref(node: &str, name: &str) -> IfRef {
    IfRef {
        node: node.to_string(),
        name: name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Link;

    #[test]
    fn veths_bridges_and_macvlans_join_vlans_do_not() {
        let mut gw = Node::default();
        gw.links.insert(
            "br0".into(),
            Link::new("br0", LinkKind::Bridge(Default::default())),
        );
        let mut p1 = Link::veth("p1", "c1", "eth0");
        p1.master = Some("br0".into());
        gw.links.insert("p1".into(), p1);
        let mut mv = Link::new(
            "mv0",
            LinkKind::Macvlan(crate::model::MacvlanOptions {
                lower: Some(iref("gw", "br0")),
                ..Default::default()
            }),
        );
        mv.up = Some(true);
        gw.links.insert("mv0".into(), mv);
        let mut c1 = Node::default();
        c1.links
            .insert("eth0".into(), Link::veth("eth0", "gw", "p1"));
        c1.links.insert(
            "eth0.5".into(),
            Link::new(
                "eth0.5",
                LinkKind::Vlan(crate::model::VlanOptions {
                    lower: Some(iref("c1", "eth0")),
                    ..Default::default()
                }),
            ),
        );
        let nodes: BTreeMap<String, Node> = [("gw".into(), gw), ("c1".into(), c1)].into();
        let mut s = Segments::of(&nodes);
        assert!(s.same(&iref("c1", "eth0"), &iref("gw", "br0")));
        assert!(s.same(&iref("gw", "mv0"), &iref("c1", "eth0")));
        assert!(!s.same(&iref("c1", "eth0.5"), &iref("c1", "eth0")));
    }
}
