//! vxlan: a VXLAN tunnel endpoint (IFLA_VXLAN_*).
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::IfRef;

/// VXLAN options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VxlanOptions {
    /// VXLAN network identifier (`id` in iproute2, `vni` in the file).
    pub vni: u32,
    /// `local` source address.
    pub local: Option<IpAddr>,
    /// `remote` unicast peer.
    pub remote: Option<IpAddr>,
    /// `group` multicast address.
    pub group: Option<IpAddr>,
    /// Underlay device `dev` (same node).
    pub dev: Option<IfRef>,
    /// UDP `dstport` (iproute2 default 0 means the kernel's 8472; netloom defaults to 4789).
    pub dstport: Option<u16>,
    /// `ttl`.
    pub ttl: Option<u8>,
    /// `learning`.
    pub learning: Option<bool>,
}
