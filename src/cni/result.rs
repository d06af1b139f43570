//! The ADD result (SPEC.md section 5, "ADD Success") and its shapes across
//! versions: `ips[].version` until 0.4.0, interface `mtu`/`socketPath`/
//! `pciID` and route `mtu`/`advmss`/`priority`/`table`/`scope` from 1.1.0.
//! Fields netloom does not know (another plugin's, in a prevResult) are
//! kept as they came.
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::version;

/// A CNI result: what an attachment made, passed along a chain as `prevResult`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CniResult {
    /// The version the result is written in.
    #[serde(rename = "cniVersion", default)]
    pub cni_version: String,
    /// Every interface the attachment made, host-side ones included.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<Interface>,
    /// Addresses given, each naming its interface by index.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<IpConfig>,
    /// Routes made.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<RouteEntry>,
    /// DNS settings.
    #[serde(default, skip_serializing_if = "Dns::is_empty")]
    pub dns: Dns,
    /// Fields of other plugins, kept.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One interface of a result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Interface {
    /// Its name.
    pub name: String,
    /// Its hardware address.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac: String,
    /// Its MTU (1.1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// The container's namespace path; empty for a host interface.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sandbox: String,
    /// A socket of the interface (1.1.0).
    #[serde(
        rename = "socketPath",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub socket_path: Option<String>,
    /// Its PCI device (1.1.0).
    #[serde(rename = "pciID", default, skip_serializing_if = "Option::is_none")]
    pub pci_id: Option<String>,
    /// Fields of other plugins, kept.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One address of a result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IpConfig {
    /// "4" or "6", in results before 1.0.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Address and prefix length.
    pub address: IpNet,
    /// The subnet's gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
    /// Index into `interfaces` (absent in an IPAM plugin's result).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<usize>,
    /// Fields of other plugins, kept.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One route of a result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteEntry {
    /// Destination.
    pub dst: IpNet,
    /// Next hop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gw: Option<IpAddr>,
    /// Path MTU (1.1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// Advertised MSS (1.1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advmss: Option<u32>,
    /// Priority, lower first (1.1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
    /// Routing table (1.1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<u32>,
    /// Scope (1.1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<u32>,
    /// Fields of other plugins, kept.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// DNS settings of a result or a configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Dns {
    /// Name servers, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<String>,
    /// Local domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Search domains.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub search: Vec<String>,
    /// Resolver options.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

impl Dns {
    /// True when nothing is set.
    pub fn is_empty(&self) -> bool {
        self == &Dns::default()
    }
}

impl CniResult {
    /// The result written for protocol version `v`: fields `v` does not
    /// know are dropped, `ips[].version` is there exactly before 1.0.0.
    pub fn for_version(mut self, v: &str) -> CniResult {
        self.cni_version = v.to_string();
        let new = version::parse(v) >= Some((1, 1, 0));
        for ip in &mut self.ips {
            ip.version = version::ips_have_version(v).then(|| {
                if ip.address.addr().is_ipv4() {
                    "4".into()
                } else {
                    "6".into()
                }
            });
        }
        if !new {
            for i in &mut self.interfaces {
                i.mtu = None;
                i.socket_path = None;
                i.pci_id = None;
            }
            for r in &mut self.routes {
                (r.mtu, r.advmss, r.priority, r.table, r.scope) = (None, None, None, None, None);
            }
        }
        self
    }

    /// Append `more` (an attachment's own result) to this one, as a plugin
    /// handed a prevResult must: interfaces after the ones there, and the
    /// indexes of `more`'s addresses moved along.
    pub fn chain(mut self, more: CniResult) -> CniResult {
        let base = self.interfaces.len();
        self.interfaces.extend(more.interfaces);
        self.ips.extend(more.ips.into_iter().map(|mut ip| {
            ip.interface = ip.interface.map(|i| i + base);
            ip
        }));
        self.routes.extend(more.routes);
        if !more.dns.is_empty() {
            self.dns = more.dns;
        }
        self
    }

    /// The result as JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> CniResult {
        serde_json::from_value(serde_json::json!({
            "cniVersion": "1.1.0",
            "interfaces": [{"name": "eth0", "mac": "02:00:00:00:00:01", "mtu": 1500, "sandbox": "/run/netns/c1"}],
            "ips": [{"address": "10.1.0.2/24", "gateway": "10.1.0.1", "interface": 0}],
            "routes": [{"dst": "0.0.0.0/0", "gw": "10.1.0.1", "priority": 10}],
            "dns": {"nameservers": ["10.1.0.1"]},
            "other": {"kept": true}
        }))
        .unwrap()
    }

    #[test]
    fn older_versions_get_their_own_shape() {
        let old = serde_json::to_value(sample().for_version("0.4.0")).unwrap();
        assert_eq!(old["cniVersion"], "0.4.0");
        assert_eq!(old["ips"][0]["version"], "4");
        assert!(old["interfaces"][0].get("mtu").is_none());
        assert!(old["routes"][0].get("priority").is_none());
        let new = serde_json::to_value(sample().for_version("1.1.0")).unwrap();
        assert!(new["ips"][0].get("version").is_none());
        assert_eq!(new["interfaces"][0]["mtu"], 1500);
        assert_eq!(new["other"]["kept"], true, "{new}");
    }

    #[test]
    fn chaining_appends_and_moves_interface_indexes() {
        let lo: CniResult = serde_json::from_value(serde_json::json!({
            "cniVersion": "1.0.0",
            "interfaces": [{"name": "lo", "mac": "00:00:00:00:00:00", "sandbox": "/x"}],
            "ips": [{"address": "127.0.0.1/8", "interface": 0}]
        }))
        .unwrap();
        let all = lo.chain(sample());
        assert_eq!(all.interfaces.len(), 2);
        assert_eq!(all.ips[1].interface, Some(1));
        assert_eq!(all.ips[0].interface, Some(0));
    }
}
