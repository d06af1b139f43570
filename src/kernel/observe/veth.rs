//! veth: one end of a pair. The kernel names the peer by IFLA_LINK (its
//! ifindex) plus IFLA_LINK_NETNSID when it lives in another namespace; the
//! caller resolves that to a node (see `netnsid`).
use crate::model::{IfRef, VethOptions};

/// veth options for a resolved (or unresolvable: `None`) peer.
pub(super) fn options(peer: Option<IfRef>) -> VethOptions {
    VethOptions { peer }
}
