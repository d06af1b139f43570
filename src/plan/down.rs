//! Down: remove everything this topology owns. It is the plan towards a
//! network that wants nothing: owned namespaces go (with all inside them),
//! and in `host` our links (a veth once), our nft table and changed sysctls.
use super::effect::Ctx;
use super::op::Plan;
use super::Owned;
use crate::model::Network;

/// The plan removing everything `owned` and the ownership marks in `observed` name.
pub fn down(observed: &Network, owned: &Owned) -> Plan {
    let nothing = Network {
        name: observed.name.clone(),
        nodes: Default::default(),
    };
    let ctx = Ctx::new(&nothing, observed, owned, &observed.name);
    super::diff(&ctx, true)
}
