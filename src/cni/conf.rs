//! The network configuration on stdin: the spec's keys, and the container's
//! side in netloom's own words (a veth into a bridge with port options, or
//! a macvlan/ipvlan in a mode on a lower; a VLAN tag, an MTU, routes), each
//! checked before anything is touched. See docs/cni.md.
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::env::{ifname_ok, Verb};
use super::error::{CniError, DECODE, INVALID_CONFIG, UNSUPPORTED_FIELD};
use super::ipam::IpamConf;
use super::result::{CniResult, Dns};
use super::version;
use crate::model::BridgePort;

/// How the container's interface is attached.
#[derive(Debug, Clone, PartialEq)]
pub enum Attach {
    /// A veth whose host end is a port of a bridge.
    Bridge(BridgeConf),
    /// A macvlan on a host device, in a mode.
    Macvlan {
        /// The host device.
        lower: String,
        /// private, vepa, bridge or passthru.
        mode: String,
    },
    /// An ipvlan on a host device, in a mode.
    Ipvlan {
        /// The host device.
        lower: String,
        /// l2, l3 or l3s.
        mode: String,
        /// bridge, private or vepa.
        flag: String,
    },
}

/// The bridge a veth attachment joins.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BridgeConf {
    /// The bridge's name on the host.
    pub name: String,
    /// The bridge holds the gateway address of each IPAM range (as the
    /// reference plugin's `isGateway`).
    #[serde(default)]
    pub gateway: bool,
    /// Spanning tree on the bridge netloom makes.
    #[serde(default)]
    pub stp: bool,
    /// The bridge is someone else's: netloom only adds ports to it.
    #[serde(default)]
    pub external: bool,
    /// Options of the host end as a bridge port (netloom's and iproute2's
    /// names: cost, priority, learning, flood, hairpin, isolated).
    #[serde(default)]
    pub port: PortConf,
}

/// Bridge port options, as in a netloom file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortConf {
    /// Path cost.
    pub cost: Option<u32>,
    /// Port priority.
    pub priority: Option<u16>,
    /// MAC learning.
    pub learning: Option<bool>,
    /// Unknown-unicast flooding.
    pub flood: Option<bool>,
    /// Hairpin mode.
    pub hairpin: Option<bool>,
    /// Isolated port.
    pub isolated: Option<bool>,
}

impl PortConf {
    /// The model's bridge port options.
    pub fn to_model(&self) -> BridgePort {
        BridgePort {
            cost: self.cost,
            priority: self.priority,
            learning: self.learning,
            flood: self.flood,
            hairpin: self.hairpin,
            isolated: self.isolated,
            vlans: Vec::new(),
        }
    }
}

/// A route inside the container, in a netloom file's words.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConf {
    /// Destination: a prefix, or `default`.
    pub to: String,
    /// Next hop.
    pub via: Option<IpAddr>,
    /// Route priority.
    pub metric: Option<u32>,
}

/// A parsed, checked configuration.
#[derive(Debug, Clone)]
pub struct NetConf {
    /// The protocol version of this request.
    pub version: String,
    /// Network name.
    pub name: String,
    /// How to attach (absent only where the verb needs none: STATUS, GC, VERSION).
    pub attach: Option<Attach>,
    /// 802.1Q tag of the attachment.
    pub vlan: Option<u16>,
    /// MTU of the container's interface.
    pub mtu: Option<u32>,
    /// Routes inside the container.
    pub routes: Vec<(IpNet, Option<IpAddr>, Option<u32>)>,
    /// Address management.
    pub ipam: Option<IpamConf>,
    /// DNS settings passed through to the result.
    pub dns: Dns,
    /// The previous plugin's result (chaining; DEL and CHECK).
    pub prev_result: Option<CniResult>,
    /// GC: the attachments still valid, as (container ID, interface).
    pub valid: Vec<(String, String)>,
    /// The whole configuration as given, for delegated plugins.
    pub raw: Map<String, Value>,
}

/// Keys of the spec (and its well-known optional ones) every plugin takes.
const SPEC_KEYS: &[&str] = &[
    "cniVersion",
    "cniVersions",
    "name",
    "type",
    "disableCheck",
    "disableGC",
    "capabilities",
    "runtimeConfig",
    "args",
    "prevResult",
    "ipam",
    "dns",
    "ipMasq",
];
/// netloom's own keys.
const OWN_KEYS: &[&str] = &["bridge", "macvlan", "ipvlan", "vlan", "mtu", "routes"];

fn invalid(msg: impl Into<String>) -> CniError {
    CniError::new(INVALID_CONFIG, "invalid network configuration").with(msg)
}

/// Decode a JSON value into `T`, naming `what` in the error.
fn decode<T: serde::de::DeserializeOwned>(v: &Value, what: &str) -> Result<T, CniError> {
    serde_json::from_value(v.clone()).map_err(|e| invalid(format!("{what}: {e}")))
}

/// The object on stdin, or the spec's decode error.
pub fn object(stdin: &[u8]) -> Result<Map<String, Value>, CniError> {
    match serde_json::from_slice::<Value>(stdin) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(
            CniError::new(DECODE, "failed to decode the network configuration")
                .with(format!("expected a JSON object, got {other}")),
        ),
        Err(e) => Err(
            CniError::new(DECODE, "failed to decode the network configuration").with(e.to_string()),
        ),
    }
}

/// The request's version (see [`version::choose`]).
pub fn request_version(raw: &Map<String, Value>) -> Result<String, CniError> {
    let cni_version = match raw.get("cniVersion") {
        None => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(v) => return Err(invalid(format!("cniVersion must be a string, not {v}"))),
    };
    let list: Vec<String> = match raw.get("cniVersions") {
        None => Vec::new(),
        Some(v) => decode(v, "cniVersions")?,
    };
    version::choose(cni_version, &list)
}

/// Parse and check the configuration of a `verb` request of version `version`.
pub fn parse(raw: Map<String, Value>, version: String, verb: Verb) -> Result<NetConf, CniError> {
    for (k, v) in &raw {
        if !(SPEC_KEYS.contains(&k.as_str())
            || OWN_KEYS.contains(&k.as_str())
            || k.starts_with("cni.dev/"))
        {
            return Err(
                CniError::new(UNSUPPORTED_FIELD, format!("unsupported field {k}: {v}")).with(
                    format!(
                        "netloom-cni takes the spec's keys and {}; see docs/cni.md",
                        OWN_KEYS.join(", ")
                    ),
                ),
            );
        }
    }
    let name = match raw.get("name") {
        Some(Value::String(s)) if super::env::container_id_ok(s) => s.clone(),
        Some(v) => {
            return Err(invalid(format!(
                "name {v} must start with a letter or digit, then letters, digits, `_`, `.` or `-`"
            )))
        }
        None => return Err(invalid("the configuration has no `name`")),
    };
    if let Some(v) = raw.get("ipMasq").filter(|v| **v != Value::Bool(false)) {
        return Err(CniError::new(UNSUPPORTED_FIELD, format!("unsupported field ipMasq: {v}"))
            .with("netloom-cni makes no NAT; put a `nat: masquerade` in a netloom topology of the host instead"));
    }
    let kinds: Vec<&str> = ["bridge", "macvlan", "ipvlan"]
        .into_iter()
        .filter(|k| raw.contains_key(*k))
        .collect();
    let needs_attach = matches!(verb, Verb::Add | Verb::Del | Verb::Check);
    let attach = match kinds.as_slice() {
        [] if needs_attach => {
            return Err(invalid(
                "say how to attach: one of `bridge`, `macvlan` or `ipvlan`",
            ))
        }
        [] => None,
        [k] => Some(attach(k, &raw[*k])?),
        many => {
            return Err(invalid(format!(
                "{} are exclusive: an attachment is one of them",
                many.join(" and ")
            )))
        }
    };
    let vlan: Option<u16> = raw.get("vlan").map(|v| decode(v, "vlan")).transpose()?;
    if let Some(id) = vlan {
        if !(1..=4094).contains(&id) {
            return Err(invalid(format!("vlan {id} is not a VLAN id (1-4094)")));
        }
        if let Some(Attach::Bridge(b)) = &attach {
            if b.external {
                return Err(invalid("`vlan` with a `bridge` marked external: netloom turns VLAN filtering on only in a bridge it makes"));
            }
        }
    }
    let mtu: Option<u32> = raw.get("mtu").map(|v| decode(v, "mtu")).transpose()?;
    if let Some(m) = mtu {
        // ETH_MIN_MTU (68) and the largest MTU veth and macvlan allow.
        if !(68..=65535).contains(&m) {
            return Err(invalid(format!("mtu {m} is outside 68-65535")));
        }
    }
    let routes: Vec<RouteConf> = raw
        .get("routes")
        .map(|v| decode(v, "routes"))
        .transpose()?
        .unwrap_or_default();
    let routes = routes
        .into_iter()
        .map(|r| {
            let to = match r.to.as_str() {
                "default" => match r.via {
                    Some(IpAddr::V6(_)) => "::/0".parse().expect("literal"),
                    _ => "0.0.0.0/0".parse().expect("literal"),
                },
                s => s
                    .parse::<IpNet>()
                    .map_err(|_| invalid(format!("route to {s:?}: not a prefix or `default`")))?,
            };
            if let Some(via) = r.via {
                if via.is_ipv4() != to.addr().is_ipv4() {
                    return Err(invalid(format!("route to {to} via {via}: families differ")));
                }
            }
            Ok((to.trunc(), r.via, r.metric))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let ipam = raw
        .get("ipam")
        .map(|v| IpamConf::parse(v, &name))
        .transpose()?;
    let dns: Dns = raw
        .get("dns")
        .map(|v| decode(v, "dns"))
        .transpose()?
        .unwrap_or_default();
    let prev_result: Option<CniResult> = match raw.get("prevResult") {
        None | Some(Value::Null) => None,
        Some(v) => Some(decode(v, "prevResult")?),
    };
    let valid = match raw.get("cni.dev/valid-attachments") {
        None => Vec::new(),
        Some(v) => {
            #[derive(Deserialize)]
            struct Valid {
                #[serde(rename = "containerID")]
                container_id: String,
                ifname: String,
            }
            let l: Vec<Valid> = decode(v, "cni.dev/valid-attachments")?;
            l.into_iter().map(|a| (a.container_id, a.ifname)).collect()
        }
    };
    Ok(NetConf {
        version,
        name,
        attach,
        vlan,
        mtu,
        routes,
        ipam,
        dns,
        prev_result,
        valid,
        raw,
    })
}

/// One of the attachment kinds, checked.
fn attach(kind: &str, v: &Value) -> Result<Attach, CniError> {
    let name_ok = |what: &str, n: &str| {
        if ifname_ok(n) {
            Ok(())
        } else {
            Err(invalid(format!("{what} {n:?} is not an interface name")))
        }
    };
    match kind {
        "bridge" => {
            let b: BridgeConf = decode(v, "bridge")?;
            name_ok("bridge name", &b.name)?;
            Ok(Attach::Bridge(b))
        }
        "macvlan" => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct M {
                lower: String,
                #[serde(default = "bridge_mode")]
                mode: String,
            }
            let m: M = decode(v, "macvlan")?;
            name_ok("macvlan lower", &m.lower)?;
            // `source` needs a list of allowed MACs, which a container
            // attachment has no use for.
            if !["private", "vepa", "bridge", "passthru"].contains(&m.mode.as_str()) {
                return Err(invalid(format!(
                    "macvlan mode {:?}: one of private, vepa, bridge, passthru",
                    m.mode
                )));
            }
            Ok(Attach::Macvlan {
                lower: m.lower,
                mode: m.mode,
            })
        }
        _ => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct I {
                lower: String,
                #[serde(default = "l2_mode")]
                mode: String,
                #[serde(default = "bridge_mode")]
                flag: String,
            }
            let i: I = decode(v, "ipvlan")?;
            name_ok("ipvlan lower", &i.lower)?;
            if !["l2", "l3", "l3s"].contains(&i.mode.as_str()) {
                return Err(invalid(format!(
                    "ipvlan mode {:?}: one of l2, l3, l3s",
                    i.mode
                )));
            }
            if !["bridge", "private", "vepa"].contains(&i.flag.as_str()) {
                return Err(invalid(format!(
                    "ipvlan flag {:?}: one of bridge, private, vepa",
                    i.flag
                )));
            }
            Ok(Attach::Ipvlan {
                lower: i.lower,
                mode: i.mode,
                flag: i.flag,
            })
        }
    }
}

fn bridge_mode() -> String {
    "bridge".into()
}

fn l2_mode() -> String {
    "l2".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(v: Value) -> Result<NetConf, CniError> {
        let raw = object(v.to_string().as_bytes())?;
        let version = request_version(&raw)?;
        parse(raw, version, Verb::Add)
    }

    #[test]
    fn a_bridge_attachment_in_netloom_words() {
        let c = conf(serde_json::json!({
            "cniVersion": "1.1.0", "name": "lab", "type": "netloom-cni",
            "bridge": {"name": "nl0", "gateway": true, "port": {"hairpin": true, "cost": 5}},
            "mtu": 1400,
            "routes": [{"to": "default", "via": "10.22.0.1"}, {"to": "10.9.0.0/16"}],
            "ipam": {"subnet": "10.22.0.0/24"}
        }))
        .unwrap();
        let Some(Attach::Bridge(b)) = &c.attach else {
            panic!("{:?}", c.attach)
        };
        assert!(b.gateway && b.port.hairpin == Some(true) && b.port.cost == Some(5));
        assert_eq!(c.routes.len(), 2);
        assert_eq!(c.routes[0].0.to_string(), "0.0.0.0/0");
    }

    #[test]
    fn bad_configurations_get_the_spec_codes() {
        let base = serde_json::json!({"cniVersion": "1.1.0", "name": "lab", "type": "netloom-cni",
            "bridge": {"name": "nl0"}});
        let with = |k: &str, v: Value| {
            let mut b = base.clone();
            b[k] = v;
            conf(b).unwrap_err()
        };
        assert_eq!(
            with("frobnicate", Value::Bool(true)).code,
            UNSUPPORTED_FIELD
        );
        assert!(with("frobnicate", Value::Bool(true))
            .msg
            .contains("frobnicate: true"));
        assert_eq!(with("ipMasq", Value::Bool(true)).code, UNSUPPORTED_FIELD);
        assert_eq!(with("cniVersion", "7.0.0".into()).code, 1);
        assert_eq!(with("vlan", 5000.into()).code, INVALID_CONFIG);
        assert_eq!(with("mtu", 10.into()).code, INVALID_CONFIG);
        assert_eq!(
            with("macvlan", serde_json::json!({"lower": "eth0"})).code,
            INVALID_CONFIG
        );
        assert_eq!(
            with("bridge", serde_json::json!({"name": "a/b"})).code,
            INVALID_CONFIG
        );
        assert_eq!(
            with("bridge", serde_json::json!({"name": "b", "colour": 1})).code,
            INVALID_CONFIG
        );
        assert_eq!(object(b"{not json").unwrap_err().code, DECODE);
        assert_eq!(object(b"[1]").unwrap_err().code, DECODE);
        let mut nameless = base.clone();
        nameless.as_object_mut().unwrap().remove("name");
        assert_eq!(conf(nameless).unwrap_err().code, INVALID_CONFIG);
    }
}
