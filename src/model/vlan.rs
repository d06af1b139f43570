//! vlan: an 802.1Q or 802.1ad VLAN device on a lower device (IFLA_VLAN_*).
use serde::{Deserialize, Serialize};

use super::kind::Kind;

use super::IfRef;

/// VLAN options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VlanOptions {
    /// Lower device (same node).
    pub lower: Option<IfRef>,
    /// VLAN `id` 0..4094.
    pub id: u16,
    /// `protocol`: 0x8100 (802.1Q, default) or 0x88a8 (802.1ad).
    pub protocol: Option<u16>,
    /// `reorder_hdr` flag.
    pub reorder_hdr: Option<bool>,
    /// `gvrp` flag.
    pub gvrp: Option<bool>,
    /// `mvrp` flag.
    pub mvrp: Option<bool>,
    /// `loose_binding` flag.
    pub loose_binding: Option<bool>,
    /// `ingress-qos-map` FROM:TO pairs.
    pub ingress_qos_map: Vec<(u32, u32)>,
    /// `egress-qos-map` FROM:TO pairs.
    pub egress_qos_map: Vec<(u32, u32)>,
}

impl Kind for VlanOptions {
    fn lower(&self) -> Option<&IfRef> {
        self.lower.as_ref()
    }

    fn link_ref_mut(&mut self) -> Option<&mut Option<IfRef>> {
        Some(&mut self.lower)
    }

    /// vlan_dev_open refuses to open it while its lower is down (ENETDOWN),
    /// and vlan_device_event closes it on the lower's NETDEV_DOWN and opens
    /// it on NETDEV_UP, unless it is `loose_binding`.
    fn follows_lower_state(&self) -> bool {
        self.loose_binding != Some(true)
    }

    /// vlan_device_event (NETDEV_CHANGEMTU) shrinks it; vlan_dev_change_mtu
    /// refuses more than the lower's.
    fn shrinks_with_lower(&self) -> bool {
        true
    }
}
