//! veth: one end of a virtual Ethernet pair.
use serde::{Deserialize, Serialize};

use super::IfRef;

/// Options of one veth end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VethOptions {
    /// The other end. Desired: always set. Observed: set when the peer's
    /// namespace is one netloom looked at, else `None`.
    pub peer: Option<IfRef>,
}
