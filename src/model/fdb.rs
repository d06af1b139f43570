//! fdb: static entries of a forwarding database, a bridge's (MAC -> port,
//! `bridge fdb add MAC dev PORT master static [vlan V]`) or a vxlan's (MAC
//! -> remote VTEP, `bridge fdb add MAC dev VXLAN dst IP [vni N] [port P]
//! [via DEV]`). A vxlan's all-zero MAC is its flood list: one entry per
//! remote VTEP that unknown, broadcast and multicast frames are copied to
//! (head-end replication, `bridge fdb append 00:00:00:00:00:00 ...`).
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::MacAddr;

/// The all-zero MAC, a vxlan's flood list.
pub const FLOOD: MacAddr = MacAddr([0; 6]);

/// One static entry of a bridge's or a vxlan's forwarding database.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FdbEntry {
    /// The device whose database holds the entry: a bridge or a vxlan.
    pub dev: String,
    /// The Ethernet address.
    pub mac: MacAddr,
    /// Bridge: the port frames to `mac` leave by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    /// Bridge: the VLAN the entry is for (a VLAN-filtering bridge).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan: Option<u16>,
    /// Vxlan: the remote VTEP frames to `mac` are sent to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst: Option<IpAddr>,
    /// Vxlan: the VNI to send with, when not the device's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vni: Option<u32>,
    /// Vxlan: the remote UDP port, when not the device's own `dstport`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dstport: Option<u16>,
    /// Vxlan: the device to reach `dst` by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
}

impl FdbEntry {
    /// A bridge's entry: `mac` is behind `port`.
    pub fn bridge(dev: &str, mac: MacAddr, port: &str, vlan: Option<u16>) -> FdbEntry {
        FdbEntry {
            dev: dev.to_string(),
            mac,
            port: Some(port.to_string()),
            vlan,
            dst: None,
            vni: None,
            dstport: None,
            via: None,
        }
    }

    /// A vxlan's entry: `mac` is behind the VTEP `dst`.
    pub fn vxlan(dev: &str, mac: MacAddr, dst: IpAddr) -> FdbEntry {
        FdbEntry {
            dev: dev.to_string(),
            mac,
            port: None,
            vlan: None,
            dst: Some(dst),
            vni: None,
            dstport: None,
            via: None,
        }
    }

    /// A bridge's entry (held by its port), as opposed to a vxlan's own.
    pub fn on_bridge(&self) -> bool {
        self.port.is_some()
    }

    /// An entry of a vxlan's flood list (the all-zero MAC): several such
    /// entries live side by side, each with its own VTEP.
    pub fn floods(&self) -> bool {
        !self.on_bridge() && self.mac == FLOOD
    }

    /// The interfaces the entry refers to besides its device: a bridge
    /// entry's port, a vxlan entry's `via`.
    pub fn refers_to(&self) -> impl Iterator<Item = &str> {
        self.port.iter().chain(&self.via).map(String::as_str)
    }
}

impl std::fmt::Display for FdbEntry {
    /// The entry in bridge(8)'s words: `02:00:00:00:00:09 dev p1 master
    /// br0 vlan 10`, `00:00:00:00:00:00 dev vx0 dst 10.9.0.2 vni 200`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.port {
            Some(p) => write!(f, "{} dev {p} master {}", self.mac, self.dev)?,
            None => write!(f, "{} dev {}", self.mac, self.dev)?,
        }
        if let Some(v) = self.vlan {
            write!(f, " vlan {v}")?;
        }
        if let Some(d) = self.dst {
            write!(f, " dst {d}")?;
        }
        if let Some(v) = self.vni {
            write!(f, " vni {v}")?;
        }
        if let Some(p) = self.dstport {
            write!(f, " port {p}")?;
        }
        if let Some(v) = &self.via {
            write!(f, " via {v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_read_like_bridge_fdb() {
        let mac: MacAddr = "02:00:00:00:00:09".parse().unwrap();
        let b = FdbEntry::bridge("br0", mac, "p1", Some(10));
        assert_eq!(b.to_string(), "02:00:00:00:00:09 dev p1 master br0 vlan 10");
        assert!(b.on_bridge() && !b.floods());
        let mut v = FdbEntry::vxlan("vx0", FLOOD, "10.9.0.2".parse().unwrap());
        assert!(v.floods());
        v.vni = Some(200);
        v.via = Some("eth0".into());
        assert_eq!(
            v.to_string(),
            "00:00:00:00:00:00 dev vx0 dst 10.9.0.2 vni 200 via eth0"
        );
        assert_eq!(v.refers_to().collect::<Vec<_>>(), ["eth0"]);
    }
}
