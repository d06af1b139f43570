//! macvlan and macvtap: MAC-addressed sub-devices of a lower device (IFLA_MACVLAN_*).
use serde::{Deserialize, Serialize};

use super::kind::Kind;

use super::{IfRef, MacAddr};

/// MACVLAN / MACVTAP options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MacvlanOptions {
    /// Lower device; may live in another node (the device is created there, then moved).
    pub lower: Option<IfRef>,
    /// `mode`: private, vepa, bridge, passthru, source.
    pub mode: Option<String>,
    /// Allowed source MACs for mode `source` (`macaddr add`).
    pub source_macs: Vec<MacAddr>,
    /// Observed only (macvtap): the character device path, e.g. /dev/tap12.
    pub tap_path: Option<String>,
}

impl Kind for MacvlanOptions {
    fn lower(&self) -> Option<&IfRef> {
        self.lower.as_ref()
    }

    fn link_ref_mut(&mut self) -> Option<&mut Option<IfRef>> {
        Some(&mut self.lower)
    }

    /// macvlan_device_event (NETDEV_CHANGEMTU) shrinks it; macvlan_change_mtu
    /// refuses more than the lower's.
    fn shrinks_with_lower(&self) -> bool {
        true
    }

    fn tap_path(&self) -> Option<&str> {
        self.tap_path.as_deref()
    }
}
