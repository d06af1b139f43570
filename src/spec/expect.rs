//! The `expect:` section: claims that `verify` proves with real packets.
use std::collections::BTreeMap;
use std::net::IpAddr;

use super::decode::{duration_ms, list_of, str_of, suggest, Ctx, Fields};
use super::yaml::Yaml;
use crate::model::{Claim, Endpoint, Expectation, IfRef, Node, Probe, ServiceSetup, Target};

const FIELDS: &[&str] = &[
    "reach", "isolated", "failover", "revert", "lease", "resolve", "probe", "count", "timeout",
];

/// The claims an expectation may make, one each.
const CLAIMS: [&str; 6] = [
    "reach", "isolated", "failover", "revert", "lease", "resolve",
];

/// Default probes per expectation.
pub const COUNT: u32 = 3;
/// Default wait per probe, in ms.
pub const TIMEOUT_MS: u32 = 1000;
/// Default failover bound, in ms.
pub const WITHIN_MS: u32 = 5000;

/// Decodes every expectation, checking node and interface names against `nodes`.
pub fn decode_expect(
    cx: &mut Ctx,
    y: Option<&Yaml>,
    nodes: &BTreeMap<String, Node>,
) -> Vec<Expectation> {
    let Some(y) = y else { return Vec::new() };
    list_of(cx, y)
        .iter()
        .filter_map(|e| one(cx, e, nodes))
        .collect()
}

fn one(cx: &mut Ctx, y: &Yaml, nodes: &BTreeMap<String, Node>) -> Option<Expectation> {
    let f = Fields::new(cx, y, "an expectation", FIELDS)?;
    let claims: Vec<&str> = CLAIMS.into_iter().filter(|k| f.get(k).is_some()).collect();
    if claims.len() != 1 {
        cx.err(
            y.at,
            "an expectation has exactly one of `reach`, `isolated`, `failover`, `revert`, `lease` or `resolve`",
            Some("e.g. `- reach: c1 -> 10.0.3.1`".into()),
        );
        return None;
    }
    let probe = match f.get("probe") {
        Some(p) => probe(cx, p)?,
        None => Probe::Icmp,
    };
    let count = f.uint(cx, "count", 1, 1000).map_or(COUNT, |c| c as u32);
    let timeout_ms = f
        .get("timeout")
        .map_or(Some(TIMEOUT_MS), |t| duration_ms(cx, t))?;
    if claims[0] == "lease" {
        return super::claims::lease(cx, f.get("lease")?, nodes, count, timeout_ms);
    }
    let (claim, arrow) = match claims[0] {
        which @ ("failover" | "revert") => {
            let fy = f.get(which)?;
            let what = if which == "revert" {
                "a revert"
            } else {
                "a failover"
            };
            let ff = Fields::new(cx, fy, what, &["cut", "reach", "within"])?;
            let cut_y = ff.need(cx, "cut");
            let cut = cut_y.and_then(|c| iface(cx, c, nodes));
            let within_ms = ff
                .get("within")
                .map_or(Some(WITHIN_MS), |w| duration_ms(cx, w));
            let arrow = ff.need(cx, "reach")?;
            let (cut, within_ms) = (cut?, within_ms?);
            let claim = if which == "revert" {
                super::claims::check_revert(cx, fy, &cut, nodes)?;
                Claim::Revert { cut, within_ms }
            } else {
                Claim::Failover { cut, within_ms }
            };
            (claim, arrow)
        }
        "resolve" => {
            return super::claims::resolve(cx, f.get("resolve")?, nodes, count, timeout_ms);
        }
        "reach" => (Claim::Reach, f.get("reach")?),
        _ => (Claim::Isolated, f.get("isolated")?),
    };
    let text = str_of(cx, arrow)?.trim().to_string();
    let Some((from_t, to_t)) = text.split_once("->") else {
        cx.err(
            arrow.at,
            format!("`{text}` is not `FROM -> TO`"),
            Some("write e.g. `c1 -> 10.0.3.1`, `c1 -> c2` or `c1/eth0 -> c2/eth0`".into()),
        );
        return None;
    };
    let (from_t, to_t) = (from_t.trim(), to_t.trim());
    let from = match from_t.split_once('/') {
        Some((n, i)) => node(cx, arrow, n, nodes)
            .and_then(|_| iface_in(cx, arrow, n, i, nodes))
            .map(|r| Endpoint {
                node: r.node,
                iface: Some(r.name),
            }),
        None => node(cx, arrow, from_t, nodes).map(|n| Endpoint {
            node: n,
            iface: None,
        }),
    };
    let to = if let Ok(a) = to_t.parse::<IpAddr>() {
        if probe == Probe::Arp && a.is_ipv6() {
            cx.err(
                arrow.at,
                "an `arp` probe needs an IPv4 target",
                Some("use `probe: icmp` for IPv6".into()),
            );
        }
        Some(Target::Addr(a))
    } else {
        match to_t.split_once('/') {
            Some((n, i)) => node(cx, arrow, n, nodes)
                .and_then(|_| iface_in(cx, arrow, n, i, nodes))
                .map(Target::Iface),
            None => node(cx, arrow, to_t, nodes).map(Target::Node),
        }
    };
    if let Some(t) = &to {
        if !has_address(t, nodes) {
            cx.err(
                arrow.at,
                format!("`{to_t}` has no address to send probes to"),
                Some("give it an address, or name an address after `->`".into()),
            );
        }
    }
    Some(Expectation {
        claim,
        from: from?,
        to: to?,
        probe,
        count,
        timeout_ms,
        text: format!("{from_t} -> {to_t}"),
    })
}

/// Whether a node or interface target has an address a probe can be sent to.
fn has_address(t: &Target, nodes: &BTreeMap<String, Node>) -> bool {
    match t {
        Target::Addr(_) => true,
        // A DHCP client's address is known once it holds a lease.
        Target::Node(n) => nodes.get(n).is_some_and(|n| {
            n.links.values().any(|l| !l.addresses.is_empty())
                || n.services
                    .values()
                    .any(|s| matches!(s.setup, ServiceSetup::DhcpClient(_)))
        }),
        Target::Iface(r) => nodes.get(&r.node).is_some_and(|n| {
            n.links
                .get(&r.name)
                .is_some_and(|l| !l.addresses.is_empty())
                || n.services.contains_key(&format!("dhcp-{}", r.name))
        }),
    }
}

pub(super) fn node(
    cx: &mut Ctx,
    y: &Yaml,
    n: &str,
    nodes: &BTreeMap<String, Node>,
) -> Option<String> {
    if nodes.contains_key(n) {
        return Some(n.to_string());
    }
    let names: Vec<&str> = nodes.keys().map(String::as_str).collect();
    let what = if n.parse::<IpAddr>().is_err() && n.contains(['.', ':']) {
        "neither an address nor a node"
    } else {
        "an unknown node"
    };
    cx.err(
        y.at,
        format!("`{n}` is {what}"),
        Some(suggest(n, &names, "nodes")),
    );
    None
}

pub(super) fn iface_in(
    cx: &mut Ctx,
    y: &Yaml,
    n: &str,
    i: &str,
    nodes: &BTreeMap<String, Node>,
) -> Option<IfRef> {
    if nodes.get(n).is_some_and(|node| node.links.contains_key(i)) {
        return Some(IfRef {
            node: n.into(),
            name: i.into(),
        });
    }
    cx.err(y.at, format!("unknown interface `{n}/{i}`"), None);
    None
}

fn iface(cx: &mut Ctx, y: &Yaml, nodes: &BTreeMap<String, Node>) -> Option<IfRef> {
    let t = str_of(cx, y)?;
    let Some((n, i)) = t.split_once('/') else {
        cx.err(y.at, format!("`{t}` must be written NODE/IFACE"), None);
        return None;
    };
    node(cx, y, n, nodes)?;
    iface_in(cx, y, n, i, nodes)
}

fn probe(cx: &mut Ctx, y: &Yaml) -> Option<Probe> {
    let t = str_of(cx, y)?;
    let port = |p: &str| p.parse::<u16>().ok().filter(|p| *p > 0);
    let p = match t.split_once('/') {
        None if t == "icmp" => Some(Probe::Icmp),
        None if t == "arp" => Some(Probe::Arp),
        Some(("udp", p)) => port(p).map(Probe::Udp),
        Some(("tcp", p)) => port(p).map(Probe::Tcp),
        _ => None,
    };
    if p.is_none() {
        cx.err(
            y.at,
            format!("`{t}` is not a probe"),
            Some("probes are: icmp, arp, udp/PORT, tcp/PORT (PORT 1..65535)".into()),
        );
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Link, LinkKind};
    use crate::spec::yaml::parse;

    fn nodes() -> BTreeMap<String, Node> {
        let mut m = BTreeMap::new();
        for n in ["a", "b"] {
            let mut node = Node::default();
            let mut l = Link::new("eth0", LinkKind::Dummy(Default::default()));
            l.addresses.push(crate::model::Address {
                net: "10.0.0.1/24".parse().unwrap(),
                dad: false,
                secondary: false,
            });
            node.links.insert("eth0".into(), l);
            m.insert(n.to_string(), node);
        }
        m
    }

    fn run(text: &str) -> (Vec<Expectation>, Vec<String>) {
        let y = parse(text).unwrap();
        let mut cx = Ctx::default();
        let e = decode_expect(&mut cx, Some(&y), &nodes());
        (e, cx.errors.into_iter().map(|e| e.message).collect())
    }

    #[test]
    fn claims_targets_and_defaults() {
        let (e, errs) = run("[{ reach: a -> 10.0.0.1 }, { isolated: a/eth0 -> b }, { reach: a -> b/eth0, probe: tcp/80, count: 1, timeout: 200ms }, { failover: { cut: a/eth0, reach: a -> b, within: 2s } }]");
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(e[0].to, Target::Addr("10.0.0.1".parse().unwrap()));
        assert_eq!(
            (e[0].count, e[0].timeout_ms, e[0].probe),
            (COUNT, TIMEOUT_MS, Probe::Icmp)
        );
        assert_eq!(e[1].claim, Claim::Isolated);
        assert_eq!(e[1].from.iface.as_deref(), Some("eth0"));
        assert_eq!(e[2].probe, Probe::Tcp(80));
        assert_eq!(e[2].timeout_ms, 200);
        assert!(matches!(
            &e[3].claim,
            Claim::Failover {
                within_ms: 2000,
                ..
            }
        ));
        assert_eq!(e[3].text, "a -> b");
    }

    #[test]
    fn bad_expectations_are_reported() {
        assert!(run("[{ reach: a -> zz }]").1[0].contains("unknown node"));
        assert!(run("[{ reach: a b }]").1[0].contains("FROM -> TO"));
        assert!(run("[{ reach: a -> b, probe: sctp }]").1[0].contains("not a probe"));
        assert!(run("[{ reach: a -> b/eth9 }]").1[0].contains("unknown interface"));
        assert!(run("[{ reach: a -> b, isolated: a -> b }]").1[0].contains("exactly one"));
    }
}
