//! Address management: built in (a host-local-style allocator over a
//! crash-safe store, see [`store`]) or delegated to an IPAM plugin found
//! in CNI_PATH, as SPEC.md section 4 describes (see [`delegate`]).
pub mod delegate;
pub mod range;
pub mod store;

use std::net::IpAddr;

use ipnet::IpNet;
use serde::Deserialize;
use serde_json::Value;

use super::error::{CniError, INVALID_CONFIG};
use super::result::{CniResult, IpConfig, RouteEntry};
pub use range::Range;

/// The `ipam` section.
#[derive(Debug, Clone, PartialEq)]
pub enum IpamConf {
    /// netloom's own allocator: one address per range.
    Builtin {
        /// The ranges, one address from each.
        ranges: Vec<Range>,
        /// Routes to add inside the container (via each family's gateway
        /// when they name none).
        routes: Vec<(IpNet, Option<IpAddr>)>,
    },
    /// An IPAM plugin, by its executable's name.
    Delegated {
        /// The `type`, e.g. `host-local`.
        plugin: String,
    },
}

fn invalid(msg: impl Into<String>) -> CniError {
    CniError::new(INVALID_CONFIG, "invalid ipam configuration").with(msg)
}

impl IpamConf {
    /// Parse the `ipam` value of network `net`.
    pub fn parse(v: &Value, net: &str) -> Result<IpamConf, CniError> {
        let _ = net;
        let obj = v
            .as_object()
            .ok_or_else(|| invalid(format!("ipam must be an object, not {v}")))?;
        match obj.get("type") {
            None => {}
            Some(Value::String(t)) if t == "netloom" => {}
            Some(Value::String(t)) => {
                if t.is_empty() || t.contains('/') || t.contains('\\') {
                    return Err(invalid(format!("ipam type {t:?} is not a plugin name")));
                }
                return Ok(IpamConf::Delegated { plugin: t.clone() });
            }
            Some(other) => return Err(invalid(format!("ipam type must be a string, not {other}"))),
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct RangeConf {
            subnet: IpNet,
            gateway: Option<IpAddr>,
            #[serde(rename = "rangeStart")]
            start: Option<IpAddr>,
            #[serde(rename = "rangeEnd")]
            end: Option<IpAddr>,
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct RouteConf {
            dst: IpNet,
            gw: Option<IpAddr>,
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Builtin {
            #[serde(rename = "type")]
            _type: Option<String>,
            subnet: Option<IpNet>,
            gateway: Option<IpAddr>,
            #[serde(rename = "rangeStart")]
            start: Option<IpAddr>,
            #[serde(rename = "rangeEnd")]
            end: Option<IpAddr>,
            #[serde(default)]
            ranges: Vec<RangeConf>,
            #[serde(default)]
            routes: Vec<RouteConf>,
        }
        let b: Builtin =
            serde_json::from_value(v.clone()).map_err(|e| invalid(format!("ipam: {e}")))?;
        let first = b.subnet.map(|subnet| RangeConf {
            subnet,
            gateway: b.gateway,
            start: b.start,
            end: b.end,
        });
        if first.is_none() && (b.gateway.is_some() || b.start.is_some() || b.end.is_some()) {
            return Err(invalid(
                "gateway, rangeStart and rangeEnd need a `subnet` beside them",
            ));
        }
        let confs: Vec<RangeConf> = first.into_iter().chain(b.ranges).collect();
        if confs.is_empty() {
            return Err(invalid(
                "ipam names no `subnet` (or `ranges`) to allocate from",
            ));
        }
        let mut ranges = Vec::new();
        for r in confs {
            let range = Range::new(r.subnet, r.gateway, r.start, r.end).map_err(invalid)?;
            if ranges
                .iter()
                .any(|o: &Range| o.subnet.addr().is_ipv4() == range.subnet.addr().is_ipv4())
            {
                return Err(invalid(format!(
                    "two ranges of one family ({}): an attachment takes one address per family",
                    range.subnet
                )));
            }
            ranges.push(range);
        }
        let routes = b
            .routes
            .into_iter()
            .map(|r| {
                if !ranges
                    .iter()
                    .any(|g| g.subnet.addr().is_ipv4() == r.dst.addr().is_ipv4())
                {
                    return Err(invalid(format!(
                        "route to {}: no range of its family",
                        r.dst
                    )));
                }
                Ok((r.dst.trunc(), r.gw))
            })
            .collect::<Result<_, _>>()?;
        Ok(IpamConf::Builtin { ranges, routes })
    }
}

/// The IPAM part of a result (SPEC.md "Delegated plugins (IPAM)"): the
/// addresses and routes of `ranges` for the addresses `ips` allocated.
pub fn builtin_result(
    ranges: &[Range],
    routes: &[(IpNet, Option<IpAddr>)],
    ips: &[IpAddr],
) -> CniResult {
    let mut out = CniResult::default();
    for (r, ip) in ranges.iter().zip(ips) {
        out.ips.push(IpConfig {
            version: None,
            address: IpNet::new(*ip, r.subnet.prefix_len()).expect("prefix of a valid subnet"),
            gateway: r.gateway,
            interface: None,
            extra: Default::default(),
        });
    }
    for (dst, gw) in routes {
        let gw = gw.or_else(|| {
            ranges
                .iter()
                .find(|r| r.subnet.addr().is_ipv4() == dst.addr().is_ipv4())
                .and_then(|r| r.gateway)
        });
        out.routes.push(RouteEntry {
            dst: *dst,
            gw,
            mtu: None,
            advmss: None,
            priority: None,
            table: None,
            scope: None,
            extra: Default::default(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_and_delegated_are_told_apart() {
        let b = IpamConf::parse(
            &serde_json::json!({"subnet": "10.22.0.0/24", "routes": [{"dst": "0.0.0.0/0"}]}),
            "lab",
        )
        .unwrap();
        let IpamConf::Builtin { ranges, routes } = &b else {
            panic!("{b:?}")
        };
        assert_eq!(ranges[0].gateway, Some("10.22.0.1".parse().unwrap()));
        let r = builtin_result(ranges, routes, &["10.22.0.7".parse().unwrap()]);
        assert_eq!(r.ips[0].address.to_string(), "10.22.0.7/24");
        assert_eq!(r.routes[0].gw, Some("10.22.0.1".parse().unwrap()));
        let d = IpamConf::parse(
            &serde_json::json!({"type": "host-local", "anything": 1}),
            "lab",
        )
        .unwrap();
        assert_eq!(
            d,
            IpamConf::Delegated {
                plugin: "host-local".into()
            }
        );
        for bad in [
            serde_json::json!({}),
            serde_json::json!({"subnet": "10.0.0.0/24", "ranges": [{"subnet": "10.1.0.0/24"}]}),
            serde_json::json!({"subnet": "10.0.0.0/24", "routes": [{"dst": "::/0"}]}),
            serde_json::json!({"subnet": "10.0.0.0/24", "colour": 1}),
            serde_json::json!({"type": "../x"}),
        ] {
            assert_eq!(
                IpamConf::parse(&bad, "lab").unwrap_err().code,
                INVALID_CONFIG,
                "{bad}"
            );
        }
    }
}
