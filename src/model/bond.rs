//! bond: the bonding driver (IFLA_BOND_*) and its ports (IFLA_BOND_SLAVE_*).
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::kind::Kind;

/// Bond options with iproute2's names; enumerated values are kept as the
/// iproute2 words (`active-backup`, `layer3+4`, `fast`) for readability.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BondOptions {
    /// `mode`: balance-rr, active-backup, balance-xor, broadcast, 802.3ad, balance-tlb, balance-alb.
    pub mode: Option<String>,
    /// `miimon` in ms.
    pub miimon: Option<u32>,
    /// `updelay` in ms.
    pub updelay: Option<u32>,
    /// `downdelay` in ms.
    pub downdelay: Option<u32>,
    /// `use_carrier`.
    pub use_carrier: Option<bool>,
    /// `arp_interval` in ms.
    pub arp_interval: Option<u32>,
    /// `arp_ip_target` list.
    pub arp_ip_target: Vec<Ipv4Addr>,
    /// `arp_validate`: none, active, backup, all, filter, filter_active, filter_backup.
    pub arp_validate: Option<String>,
    /// `arp_all_targets`: any, all.
    pub arp_all_targets: Option<String>,
    /// `primary` port name.
    pub primary: Option<String>,
    /// `primary_reselect`: always, better, failure.
    pub primary_reselect: Option<String>,
    /// `fail_over_mac`: none, active, follow.
    pub fail_over_mac: Option<String>,
    /// `xmit_hash_policy`: layer2, layer3+4, layer2+3, encap2+3, encap3+4, vlan+srcmac.
    pub xmit_hash_policy: Option<String>,
    /// `lacp_rate`: slow, fast.
    pub lacp_rate: Option<String>,
    /// `ad_select`: stable, bandwidth, count.
    pub ad_select: Option<String>,
    /// `min_links`.
    pub min_links: Option<u32>,
    /// `all_slaves_active`.
    pub all_slaves_active: Option<bool>,
}

/// Options of a bond port.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BondPort {
    /// Per-port `prio` (IFLA_BOND_SLAVE_PRIO, kernel 6.0+).
    pub prio: Option<i32>,
    /// `queue_id`.
    pub queue_id: Option<u16>,
}

impl Kind for BondOptions {
    fn takes_ports(&self) -> bool {
        true
    }

    /// __bond_release_one calls dev_close on the port it releases.
    fn closes_released_port(&self) -> bool {
        true
    }

    /// bond_enslave calls dev_open on the port it takes.
    fn opens_enslaved_port(&self) -> bool {
        true
    }

    /// bond_enslave: "Device can not be enslaved while up" (EPERM).
    fn refuses_up_port(&self) -> bool {
        true
    }

    /// bond_enslave and bond_change_mtu call dev_set_mtu on each port.
    fn sets_port_mtu(&self) -> bool {
        true
    }
}
