//! `fdb`: a bridge's MAC learning database and spanning tree, as the
//! kernel has them now.
use serde::Serialize;

use super::{Engine, EngineError};
use crate::kernel::fdb::Origin;
use crate::kernel::stp::BridgeStp;
use crate::kernel::{self, KernelError};

/// One entry of a bridge's MAC table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MacEntry {
    /// The Ethernet address.
    pub mac: String,
    /// The port frames to it leave by (the bridge's own name for its own
    /// addresses).
    pub port: String,
    /// The VLAN, on a bridge that tells VLANs apart.
    pub vlan: Option<u16>,
    /// Learned from traffic, static (added), or permanent (a local address).
    pub origin: Origin,
    /// Seconds since the entry was last refreshed (not for permanent ones).
    pub age: Option<u32>,
    /// `bridge fdb`'s flag words (`extern_learn`, `sticky`, `stale`, ...).
    pub flags: Vec<&'static str>,
}

/// The answer of `fdb`.
#[derive(Debug, Clone, Serialize)]
pub struct FdbReport {
    /// The node.
    pub node: String,
    /// The bridge.
    pub bridge: String,
    /// Its MAC table, by port, VLAN and MAC.
    pub entries: Vec<MacEntry>,
    /// Its spanning tree, per port.
    pub stp: BridgeStp,
}

impl Engine {
    /// The MAC table and spanning tree of bridge `bridge` in `node`.
    pub async fn fdb(&self, node: &str, bridge: &str) -> Result<FdbReport, EngineError> {
        let missing = || KernelError::Invalid {
            object: format!("{node}/{bridge}"),
            message: "no such bridge in the kernel (is the topology up?)".into(),
        };
        let stp = kernel::stp::read(&self.kernel, node, bridge)
            .await?
            .ok_or_else(missing)?;
        let rows = kernel::fdb::dump(&self.kernel, node).await?;
        let mut entries: Vec<MacEntry> = rows
            .into_iter()
            .filter(|r| r.master && r.entry.dev == bridge)
            .map(|r| MacEntry {
                mac: r.entry.mac.to_string(),
                port: r.entry.port.unwrap_or_default(),
                vlan: r.entry.vlan,
                origin: r.origin,
                age: r.age,
                flags: r.flags,
            })
            .collect();
        entries.sort_by(|a, b| (&a.port, a.vlan, &a.mac).cmp(&(&b.port, b.vlan, &b.mac)));
        Ok(FdbReport {
            node: node.to_string(),
            bridge: bridge.to_string(),
            entries,
            stp,
        })
    }
}
