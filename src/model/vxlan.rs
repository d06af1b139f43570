//! vxlan: a VXLAN tunnel endpoint (IFLA_VXLAN_*).
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::kind::Kind;

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

impl Kind for VxlanOptions {
    /// The underlay `dev`: vxlan_handle_lowerdev_unregister deletes the
    /// vxlan with it.
    fn lower(&self) -> Option<&IfRef> {
        self.dev.as_ref()
    }

    /// IFLA_VXLAN_LINK, not IFLA_LINK, names the underlay.
    fn lower_by_ifla_link(&self) -> bool {
        false
    }

    /// Outer IP, UDP, VXLAN and Ethernet headers: 50 bytes over IPv4, 70
    /// over IPv6 (vxlan_config_apply clamps the MTU to the lower's less these).
    fn headroom(&self) -> Option<u32> {
        let v6 = [self.local, self.remote, self.group]
            .iter()
            .flatten()
            .any(|a| a.is_ipv6());
        Some(if v6 { 70 } else { 50 })
    }
}
