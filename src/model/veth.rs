//! veth: one end of a virtual Ethernet pair.
use serde::{Deserialize, Serialize};

use super::kind::Kind;

use super::IfRef;

/// Options of one veth end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VethOptions {
    /// The other end. Desired: always set. Observed: set when the peer's
    /// namespace is one netloom looked at, else `None`.
    pub peer: Option<IfRef>,
}

impl Kind for VethOptions {
    // The peer is not a lower: nothing is stacked on it, but it goes with
    // its end (veth_dellink unregisters both; see crate::effects::link).
    fn link_ref_mut(&mut self) -> Option<&mut Option<IfRef>> {
        Some(&mut self.peer)
    }
}
