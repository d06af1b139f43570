//! DHCP: `dhcp:` on an interface makes it serve DHCP and DNS (dnsmasq, see
//! [`crate::model::service::DnsmasqSetup`]); `dhcp` in an interface's
//! `addresses` makes netloom's DHCP client keep a lease there.
//!
//! Decoding reads the fields; [`finish`] resolves what needs the whole
//! topology (the server's address, the names it answers, segments) and
//! refuses what cannot work: a range outside the interface's subnet or
//! holding its own address, two servers on one segment, a server or
//! client on a port of a bridge, bond or team (the master takes the
//! port's frames), a client with no server on its segment.
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::{IpNet, Ipv4Net};

use super::decode::{entries, ip_of, str_of, suggest, Ctx, Fields};
use super::segment::{iref, Segments};
use super::yaml::Yaml;
use crate::model::service::{DhcpClientSetup, DnsmasqSetup};
use crate::model::{netns_name, LinkKind, Node, Service, ServiceSetup, HOST};

/// Fields of `dhcp:`, named after dnsmasq's options and RFC 2132's.
pub const FIELDS: &[&str] = &[
    "range",
    "lease_time",
    "renew_time",
    "rebind_time",
    "hosts",
    "domain",
];

/// dnsmasq raises a shorter lease time to two minutes (dhcp-range, option.c).
pub const MIN_LEASE_S: u32 = 120;

/// The lease time when the file gives none.
pub const LEASE_S: u32 = 3600;

/// Decode `dhcp:` of interface `node/iface` into a server whose address,
/// domain and records [`finish`] fills in.
pub fn server(cx: &mut Ctx, node: &str, iface: &str, y: &Yaml) -> Option<Service> {
    let me = format!("{node}/{iface}");
    cx.locs.insert(format!("{me}#dhcp"), y.at);
    let f = Fields::new(cx, y, "a DHCP server", FIELDS)?;
    let range_y = f.need(cx, "range")?;
    cx.locs.insert(format!("{me}#dhcp.range"), range_y.at);
    let range = range(cx, range_y)?;
    let seconds = |cx: &mut Ctx, key: &str| -> Result<Option<u32>, ()> {
        match f.get(key) {
            None => Ok(None),
            Some(v) => {
                cx.locs.insert(format!("{me}#dhcp.{key}"), v.at);
                seconds(cx, v).map(Some).ok_or(())
            }
        }
    };
    let lease_time = seconds(cx, "lease_time").ok()?.unwrap_or(LEASE_S);
    let renew_time = seconds(cx, "renew_time").ok()?;
    let rebind_time = seconds(cx, "rebind_time").ok()?;
    if lease_time < MIN_LEASE_S {
        let at = cx.loc(&format!("{me}#dhcp.lease_time"), &me);
        cx.err(
            at,
            format!("lease time {lease_time} s is below dnsmasq's minimum of {MIN_LEASE_S} s"),
            Some("dnsmasq would silently raise it to 2 minutes; for quick renewals set `renew_time` (DHCP option 58)".into()),
        );
        return None;
    }
    let t1 = renew_time.unwrap_or(lease_time / 2);
    let t2 = rebind_time.unwrap_or(lease_time / 8 * 7);
    if !(t1 < t2 && t2 < lease_time) {
        let key = if renew_time.is_some() {
            "renew_time"
        } else {
            "rebind_time"
        };
        let at = cx.loc(&format!("{me}#dhcp.{key}"), &me);
        cx.err(
            at,
            format!("renewal ({t1} s) must come before rebinding ({t2} s), and both before the lease ends ({lease_time} s)"),
            Some("RFC 2131 4.4.5: T1 < T2 < lease time".into()),
        );
        return None;
    }
    let mut hosts = BTreeMap::new();
    if let Some(h) = f.get("hosts") {
        for e in entries(cx, h, "host", "a map of host names to addresses") {
            cx.locs
                .insert(format!("{me}#dhcp.hosts.{}", e.key), e.key_at);
            match ip_of(cx, &e.value)? {
                std::net::IpAddr::V4(a) => {
                    hosts.insert(e.key.clone(), a);
                }
                std::net::IpAddr::V6(a) => {
                    cx.err(e.value.at, format!("`{a}` is not an IPv4 address"), None);
                    return None;
                }
            }
        }
    }
    let domain = match f.get("domain") {
        None => String::new(),
        Some(d) => {
            let t = str_of(cx, d)?;
            if !domain_ok(t) {
                cx.err(
                    d.at,
                    format!("`{t}` is not a DNS domain"),
                    Some("labels of lowercase letters, digits and `-`, joined by `.`".into()),
                );
                return None;
            }
            t.to_string()
        }
    };
    Some(Service::new(ServiceSetup::Dnsmasq(DnsmasqSetup {
        iface: iface.to_string(),
        address: Ipv4Net::default(),
        range,
        lease_time,
        renew_time,
        rebind_time,
        hosts,
        domain,
        records: BTreeMap::new(),
    })))
}

/// A DHCP client on interface `node/iface`, whose `dhcp` item is `y`.
pub fn client(cx: &mut Ctx, node: &str, iface: &str, y: &Yaml) -> Service {
    cx.locs.insert(format!("{node}/{iface}#dhcp-client"), y.at);
    Service::new(ServiceSetup::DhcpClient(DhcpClientSetup {
        iface: iface.to_string(),
        hostname: node.to_string(),
        netns: String::new(),
    }))
}

/// Whether `d` is a DNS domain netloom accepts: dot-joined labels of
/// lowercase letters, digits and inner `-`.
pub fn domain_ok(d: &str) -> bool {
    d.len() <= 200
        && d.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

/// `A-B`: the first and last address handed out.
fn range(cx: &mut Ctx, y: &Yaml) -> Option<(Ipv4Addr, Ipv4Addr)> {
    let t = str_of(cx, y)?;
    let parsed = t.split_once('-').and_then(|(a, b)| {
        Some((
            a.trim().parse::<Ipv4Addr>().ok()?,
            b.trim().parse::<Ipv4Addr>().ok()?,
        ))
    });
    match parsed {
        Some((a, b)) if a <= b => Some((a, b)),
        Some((a, b)) => {
            cx.err(
                y.at,
                format!("range `{t}` ends before it starts"),
                Some(format!("write `{b}-{a}`")),
            );
            None
        }
        None => {
            cx.err(
                y.at,
                format!("`{t}` is not an address range"),
                Some("write FIRST-LAST, e.g. `10.0.3.100-10.0.3.200`".into()),
            );
            None
        }
    }
}

/// A duration in whole seconds: `90s`, `10m`, `1h`, `1d`.
fn seconds(cx: &mut Ctx, y: &Yaml) -> Option<u32> {
    let t = str_of(cx, y)?;
    let unit = |suffix: char, mul: u64| {
        t.strip_suffix(suffix)
            .and_then(|n| n.parse::<u64>().ok())
            .and_then(|n| n.checked_mul(mul))
    };
    let s = unit('s', 1)
        .or_else(|| unit('m', 60))
        .or_else(|| unit('h', 3600))
        .or_else(|| unit('d', 86400));
    match s.and_then(|s| u32::try_from(s).ok()).filter(|s| *s > 0) {
        Some(s) => Some(s),
        None => {
            cx.err(
                y.at,
                format!("`{t}` is not a duration in seconds"),
                Some("write a whole number with `s`, `m`, `h` or `d`, e.g. `90s` or `1h`".into()),
            );
            None
        }
    }
}

/// Resolve and check every DHCP server and client of `topo` (see the module's docs).
pub fn finish(cx: &mut Ctx, topo: &str, nodes: &mut BTreeMap<String, Node>) {
    let mut segments = Segments::of(nodes);
    let names: Vec<String> = nodes.keys().cloned().collect();
    // Static IPv4 addresses of every node, for the names servers answer.
    let statics: Vec<(String, IpNet)> = nodes
        .iter()
        .flat_map(|(n, node)| {
            node.links
                .values()
                .flat_map(move |l| l.addresses.iter().map(move |a| (n.clone(), a.net)))
        })
        .filter(|(_, a)| a.addr().is_ipv4())
        .collect();
    let mut served: Vec<(crate::model::IfRef, String)> = Vec::new();
    let mut clients = Vec::new();
    for (node, n) in nodes.iter_mut() {
        if n.services.is_empty() {
            continue;
        }
        let links = n.links.clone();
        for s in n.services.values_mut() {
            match &mut s.setup {
                ServiceSetup::Dnsmasq(d) => {
                    let me = format!("{node}/{}", d.iface);
                    let at = cx.loc(&format!("{me}#dhcp"), &me);
                    let Some(link) = links.get(&d.iface) else {
                        continue;
                    };
                    if let Some(m) = &link.master {
                        cx.err(at, format!("`{me}` is a port of `{m}`: a DHCP server there would not be reached"), Some(format!("serve DHCP on `{m}`, which takes its ports' frames")));
                        continue;
                    }
                    let Some(address) = server_address(cx, &me, link, d) else {
                        continue;
                    };
                    d.address = address;
                    if d.domain.is_empty() {
                        d.domain = topo.to_string();
                    }
                    for (host, a) in d.hosts.clone() {
                        let hat = cx.loc(&format!("{me}#dhcp.hosts.{host}"), &me);
                        if !names.contains(&host) {
                            let known: Vec<&str> = names.iter().map(String::as_str).collect();
                            cx.err(
                                hat,
                                format!("`{host}` is not a node"),
                                Some(suggest(&host, &known, "nodes")),
                            );
                        } else if !address.contains(&a) || a == address.addr() {
                            cx.err(
                                hat,
                                format!(
                                    "{a} is not an address `{me}` can hand out in {}",
                                    address.trunc()
                                ),
                                None,
                            );
                        }
                    }
                    for (owner, a) in &statics {
                        if let std::net::IpAddr::V4(v4) = a.addr() {
                            if address.contains(&v4) && !d.records.contains_key(owner) {
                                d.records.insert(owner.clone(), v4);
                            }
                        }
                    }
                    let r = iref(node, &d.iface);
                    if let Some((first, _)) = served.iter().find(|(o, _)| segments.same(o, &r)) {
                        cx.err(at, format!("a second DHCP server on the segment of `{first}`, which serves DHCP already"), Some("one dnsmasq per segment: clients would take whichever answers first".into()));
                    }
                    served.push((r, me));
                }
                ServiceSetup::DhcpClient(c) => {
                    c.netns = netns_name(topo, node).unwrap_or_default();
                    clients.push((
                        node.clone(),
                        c.iface.clone(),
                        links.get(&c.iface).and_then(|l| l.master.clone()),
                    ));
                }
                ServiceSetup::LifWatch(_) => {}
            }
        }
    }
    for (node, iface, master) in clients {
        let me = format!("{node}/{iface}");
        let at = cx.loc(&format!("{me}#dhcp-client"), &me);
        if node == HOST {
            cx.err(at, "a DHCP client in node `host` would change the machine's own addresses and name servers", Some("put the interface in a node of its own".into()));
        } else if let Some(m) = master {
            cx.err(
                at,
                format!("`{me}` is a port of `{m}`: its address would not be used"),
                Some(format!("lease the address on `{m}`")),
            );
        } else {
            let r = iref(&node, &iface);
            let outside = nodes
                .values()
                .any(|n| n.links.values().any(|l| l.kind == LinkKind::External));
            if !outside && !served.iter().any(|(s, _)| segments.same(s, &r)) {
                cx.err(at, format!("no DHCP server on the segment of `{me}`"), Some("add `dhcp: {{ range: FIRST-LAST }}` to an interface with an address on that segment".into()));
            }
        }
    }
}

/// The IPv4 address of `link` whose subnet holds the range of `d`, checked
/// (see the module's docs).
fn server_address(
    cx: &mut Ctx,
    me: &str,
    link: &crate::model::Link,
    d: &DnsmasqSetup,
) -> Option<Ipv4Net> {
    let at = cx.loc(&format!("{me}#dhcp.range"), me);
    let v4: Vec<Ipv4Net> = link
        .addresses
        .iter()
        .filter_map(|a| match a.net {
            IpNet::V4(n) => Some(n),
            IpNet::V6(_) => None,
        })
        .collect();
    let Some(first) = v4.first() else {
        let at = cx.loc(&format!("{me}#dhcp"), me);
        cx.err(at, format!("`{me}` has no IPv4 address to serve DHCP from"), Some("give it one, e.g. `addresses: [10.0.3.1/24]`: it becomes the clients' router and name server".into()));
        return None;
    };
    let (a, b) = d.range;
    let Some(net) = v4.iter().find(|n| n.contains(&a)).copied() else {
        cx.err(
            at,
            format!("range {a}-{b} is outside the subnet of `{me}` ({first})"),
            Some(format!("hand out addresses of {}", first.trunc())),
        );
        return None;
    };
    if !net.contains(&b) {
        cx.err(
            at,
            format!("range {a}-{b} is outside the subnet of `{me}` ({net})"),
            Some(format!("end it at most at {}", last_host(net))),
        );
        return None;
    }
    let own = net.addr();
    if (a..=b).contains(&own) {
        cx.err(
            at,
            format!("range {a}-{b} holds `{me}`'s own address {own}"),
            Some("start or end the range past it".into()),
        );
        return None;
    }
    if net.prefix_len() < 31 && (a == net.network() || b == net.broadcast()) {
        cx.err(
            at,
            format!("range {a}-{b} holds the subnet's network or broadcast address"),
            Some(format!("hand out {}-{}", first_host(net), last_host(net))),
        );
        return None;
    }
    Some(net)
}

fn first_host(n: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(n.network()) + 1)
}

fn last_host(n: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(n.broadcast()).saturating_sub(1))
}
