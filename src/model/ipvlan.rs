//! ipvlan and ipvtap: IP-addressed sub-devices of a lower device (IFLA_IPVLAN_*).
use serde::{Deserialize, Serialize};

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
