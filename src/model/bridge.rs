//! bridge: the Linux software bridge (IFLA_BR_*) and its ports (IFLA_BRPORT_*).
use serde::{Deserialize, Serialize};

use super::kind::Kind;

/// Bridge device options; times are in hundredths of a second, as iproute2 prints them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgeOptions {
    /// Spanning tree on (`stp_state 1`) or off.
    pub stp: Option<bool>,
    /// `forward_delay` in centiseconds.
    pub forward_delay: Option<u32>,
    /// `hello_time` in centiseconds.
    pub hello_time: Option<u32>,
    /// `max_age` in centiseconds.
    pub max_age: Option<u32>,
    /// Bridge `priority` (0..65535).
    pub priority: Option<u16>,
    /// `ageing_time` in centiseconds.
    pub ageing_time: Option<u32>,
    /// `mcast_snooping`.
    pub mcast_snooping: Option<bool>,
    /// `vlan_filtering`.
    pub vlan_filtering: Option<bool>,
    /// `vlan_protocol`: 0x8100 (802.1Q) or 0x88a8 (802.1ad).
    pub vlan_protocol: Option<u16>,
    /// `vlan_default_pvid`.
    pub default_pvid: Option<u16>,
    /// VLANs on the bridge device itself (`bridge vlan add dev br0 self`).
    pub vlans: Vec<BridgeVlan>,
}

/// Options of a bridge port.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgePort {
    /// Path `cost`.
    pub cost: Option<u32>,
    /// Port `priority`.
    pub priority: Option<u16>,
    /// MAC `learning`.
    pub learning: Option<bool>,
    /// Unknown-unicast `flood`.
    pub flood: Option<bool>,
    /// `hairpin` mode.
    pub hairpin: Option<bool>,
    /// `isolated`.
    pub isolated: Option<bool>,
    /// VLAN membership when the bridge filters VLANs.
    pub vlans: Vec<BridgeVlan>,
}

/// A VLAN entry on a bridge port or the bridge itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BridgeVlan {
    /// VLAN id 1..4094.
    pub vid: u16,
    /// This VLAN is the port's PVID.
    pub pvid: bool,
    /// Egress untagged.
    pub untagged: bool,
}

impl Kind for BridgeOptions {
    fn takes_ports(&self) -> bool {
        true
    }

    /// br_mtu_auto_adjust: the bridge takes its ports' smallest MTU unless
    /// its own was set (BROPT_MTU_SET_BY_USER).
    fn mtu_follows_ports(&self) -> bool {
        true
    }
}
