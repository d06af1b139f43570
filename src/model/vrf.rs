//! vrf: a virtual routing and forwarding domain (drivers/net/vrf.c). Its
//! ports' routes live in its routing table, apart from every other table of
//! the node, so two VRFs of one node may hold the same addresses.
use serde::{Deserialize, Serialize};

use super::kind::Kind;

/// VRF options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VrfOptions {
    /// The routing table of the domain (IFLA_VRF_TABLE), fixed once made:
    /// the driver has no changelink.
    pub table: u32,
}

impl Kind for VrfOptions {
    /// A port joins with `master:` (vrf_add_slave).
    fn takes_ports(&self) -> bool {
        true
    }

    /// vrf_add_slave and vrf_del_slave call cycle_netdev on the port (down,
    /// then up) to move its routes between tables.
    fn cycles_ports(&self) -> bool {
        true
    }
}
