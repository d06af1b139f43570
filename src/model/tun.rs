//! tun: a tun (layer 3) or tap (layer 2) device made with the TUNSETIFF ioctl.
use serde::{Deserialize, Serialize};

use super::kind::Kind;

/// tun/tap options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunOptions {
    /// `mode`: "tun" or "tap".
    pub mode: String,
    /// Owning user id.
    pub owner: Option<u32>,
    /// Owning group id.
    pub group: Option<u32>,
    /// `multi_queue`.
    pub multi_queue: Option<bool>,
    /// `persist`: the device outlives the file descriptor that made it. netloom
    /// always creates persistent devices; `false` is refused by validation.
    pub persist: Option<bool>,
}

impl Kind for TunOptions {}
