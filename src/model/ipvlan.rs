//! ipvlan and ipvtap: IP-addressed sub-devices of a lower device (IFLA_IPVLAN_*).
use serde::{Deserialize, Serialize};

use super::kind::Kind;

use super::IfRef;

/// IPVLAN / IPVTAP options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpvlanOptions {
    /// Lower device; may live in another node (created there, then moved).
    pub lower: Option<IfRef>,
    /// `mode`: l2, l3, l3s.
    pub mode: Option<String>,
    /// Flag: bridge (default), private, vepa.
    pub flag: Option<String>,
    /// Observed only (ipvtap): the character device path, e.g. /dev/tap12.
    pub tap_path: Option<String>,
}

impl Kind for IpvlanOptions {
    fn lower(&self) -> Option<&IfRef> {
        self.lower.as_ref()
    }

    fn link_ref_mut(&mut self) -> Option<&mut Option<IfRef>> {
        Some(&mut self.lower)
    }

    /// ipvlan_device_event (NETDEV_CHANGEMTU) gives every ipvlan its
    /// lower's MTU, in both directions.
    fn takes_lower_mtu(&self) -> bool {
        true
    }

    fn tap_path(&self) -> Option<&str> {
        self.tap_path.as_deref()
    }
}
