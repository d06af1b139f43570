//! Down: remove everything this topology owns. It is the plan towards a
//! network that wants nothing: owned namespaces go (with all inside them),
//! and in `host` our links (a veth once), our nft table and changed sysctls.
use super::effect::Ctx;
use super::Owned;
use crate::model::Network;
use crate::model::Plan;

/// The plan removing everything `owned` and the ownership marks in `observed` name.
pub fn down(observed: &Network, owned: &Owned) -> Plan {
    let nothing = Network {
        name: observed.name.clone(),
        nodes: Default::default(),
    };
    let ctx = Ctx::new(&nothing, observed, owned, &observed.name);
    super::diff(&ctx, true)
}

#[cfg(test)]
mod tests {
    use crate::model::Op;
    use crate::model::{IfRef, Link, Network, Node, HOST};
    use crate::plan::Owned;

    /// host/h1's peer lives in c1, whose links `down` did not read (the
    /// observer names such a peer by its ifindex): deleting c1 takes h1
    /// along, so no step deletes h1 itself.
    #[test]
    fn a_veth_into_a_deleted_namespace_vanishes_with_it_unread() {
        let mut host = Node::default();
        let h1 = Link::veth("h1", "c1", "ifindex 2");
        host.links.insert("h1".into(), h1);
        let observed = Network {
            name: "t".into(),
            nodes: [(HOST.into(), host), ("c1".into(), Node::default())].into(),
        };
        let mut owned = Owned::default();
        owned.namespaces.insert("c1".into());
        owned.links.insert(IfRef {
            node: HOST.into(),
            name: "h1".into(),
        });
        let plan = super::down(&observed, &owned);
        let ops: Vec<&Op> = plan.steps.iter().map(|s| &s.op).collect();
        assert!(
            matches!(ops.as_slice(), [Op::DelNetns { node }] if node == "c1"),
            "{plan}"
        );
    }
}
