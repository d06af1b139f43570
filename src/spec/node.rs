//! The `nodes:` section: each node's interfaces, routes, sysctls and NAT.
use std::collections::BTreeMap;

use super::decode::{entries, iface_name_problem, mac_of, net_of, str_of, suggest, Ctx, Fields};
use super::error::Location;
use super::kind;
use super::yaml::{Entry, Value, Yaml};
use crate::model::{Address, Link, LinkKind, Masquerade, Node, PortOptions, Service, HOST};

/// Fields every node may have.
pub const NODE_FIELDS: &[&str] = &["interfaces", "routes", "sysctl", "forwarding", "nat"];

/// Fields every interface may have, whatever its kind.
pub const COMMON_FIELDS: &[&str] = &["kind", "addresses", "mtu", "mac", "state", "dhcp"];

/// A `ports:` entry of a master, applied once all interfaces of the node are known.
#[derive(Debug, Clone)]
pub struct PortDecl {
    /// The master's name.
    pub master: String,
    /// The port's name.
    pub name: String,
    /// Per-port options (by the master's kind; `None` for a kind that
    /// keeps none per port).
    pub opts: Option<PortOptions>,
    /// Where the port is named.
    pub at: Location,
}

/// Checks a node name: `[a-z0-9][a-z0-9_-]{0,31}`.
pub fn node_name_ok(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 32
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_' || *c == b'-')
}

/// Decodes every node; ports are applied to their interfaces before returning.
pub fn decode_nodes(cx: &mut Ctx, y: &Yaml) -> BTreeMap<String, Node> {
    let mut nodes = BTreeMap::new();
    for e in entries(cx, y, "node", "a map of nodes by name") {
        if !node_name_ok(&e.key) {
            cx.err(
                e.key_at,
                format!("invalid node name `{}`", e.key),
                Some("node names are 1-32 characters: lowercase letters, digits, `_` and `-`, starting with a letter or digit".into()),
            );
            continue;
        }
        cx.locs.insert(e.key.clone(), e.key_at);
        nodes.insert(e.key.clone(), node(cx, &e.key, &e.value));
    }
    nodes
}

fn node(cx: &mut Ctx, name: &str, y: &Yaml) -> Node {
    let mut n = Node::default();
    if name != HOST {
        let mut lo = Link::new("lo", LinkKind::Loopback);
        lo.up = Some(true);
        n.links.insert("lo".into(), lo);
    }
    let Some(f) = Fields::new(cx, y, &format!("node `{name}`"), NODE_FIELDS) else {
        return n;
    };
    let mut ports = Vec::new();
    if let Some(ifs) = f.get("interfaces") {
        for e in entries(cx, ifs, "interface", "a map of interfaces by name") {
            if let Some(p) = iface_name_problem(&e.key) {
                cx.err(e.key_at, p, None);
                continue;
            }
            if e.key == "lo" {
                cx.err(
                    e.key_at,
                    "`lo` cannot be declared",
                    Some(
                        "every namespace has its loopback device already; netloom sets it up"
                            .into(),
                    ),
                );
                continue;
            }
            cx.locs.insert(format!("{name}/{}", e.key), e.key_at);
            let link = iface(cx, name, e, &mut ports, &mut n.services);
            n.links.insert(e.key.clone(), link);
        }
    }
    apply_ports(cx, name, &mut n, ports);
    super::fdb::decode_node(cx, name, f.get("interfaces"), &mut n);
    if let Some(fw) = f.bool(cx, "forwarding") {
        let v = if fw { "1" } else { "0" };
        n.sysctls.insert("net.ipv4.ip_forward".into(), v.into());
        n.sysctls
            .insert("net.ipv6.conf.all.forwarding".into(), v.into());
    }
    if let Some(s) = f.get("sysctl") {
        sysctls(cx, s, &mut n);
    }
    super::brport::quiet_ports(&mut n);
    for (i, r) in f.list(cx, "routes").iter().enumerate() {
        n.routes.extend(super::route::decode(cx, name, i, r));
    }
    for (i, r) in f.list(cx, "nat").iter().enumerate() {
        n.nat.extend(nat(cx, name, i, r));
    }
    n
}

fn sysctls(cx: &mut Ctx, y: &Yaml, n: &mut Node) {
    for e in entries(cx, y, "sysctl", "a map of sysctl names to values") {
        if !e.key.starts_with("net.") || e.key.contains('/') || e.key.contains("..") {
            cx.err(
                e.key_at,
                format!("sysctl `{}` is not under `net.`", e.key),
                Some(
                    "netloom only sets per-namespace network sysctls, e.g. net.ipv4.ip_forward"
                        .into(),
                ),
            );
            continue;
        }
        let v = match &e.value.value {
            Value::Scalar { text, plain } if !e.value.is_null() => match (text.as_str(), plain) {
                ("true", true) => "1".to_string(),
                ("false", true) => "0".to_string(),
                _ => text.clone(),
            },
            _ => {
                cx.expected(&e.value, "a single value");
                continue;
            }
        };
        n.sysctls.insert(e.key.clone(), v);
    }
}

fn kind_word(cx: &mut Ctx, y: &Yaml) -> Result<Option<String>, ()> {
    let Value::Map(m) = &y.value else {
        return Ok(None);
    };
    let Some(k) = m.iter().find(|e| e.key == "kind") else {
        return Ok(None);
    };
    let Some(t) = str_of(cx, &k.value) else {
        return Err(());
    };
    if kind::words().any(|w| w == t) {
        return Ok(Some(t.to_string()));
    }
    if ["failover", "net_failover"].contains(&t) {
        // No netlink request makes one: net_failover_create() runs only
        // from virtio-net's probe (virtnet_probe) when the device offers
        // VIRTIO_NET_F_STANDBY, and failover_slave_register() enslaves a
        // PCI netdev that appears later with the same MAC.
        cx.err(
            k.value.at,
            format!("netloom cannot create a {t} device"),
            Some("the kernel makes it itself when a virtio-net NIC offers STANDBY (QEMU `failover=on`) and a PCI NIC with the same MAC appears; declare the failover master `kind: external` to use it as a lower, and `netloom status` shows its primary, standby and active path".into()),
        );
        return Err(());
    }
    cx.err(
        k.value.at,
        format!("unknown kind `{t}`"),
        Some(suggest(t, &kind::words().collect::<Vec<_>>(), "kinds")),
    );
    Err(())
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

fn iface(
    cx: &mut Ctx,
    node: &str,
    e: &Entry,
    ports: &mut Vec<PortDecl>,
    services: &mut BTreeMap<String, Service>,
) -> Link {
    let y = &e.value;
    let name = e.key.as_str();
    let kind = match kind_word(cx, y) {
        Ok(k) => k,
        // Unknown kind: keep a placeholder so later checks do not pile up on it.
        Err(()) => return Link::new(name, LinkKind::Other(String::new())),
    };
    let kind = kind.unwrap_or_default();
    if kind == "external" {
        return external(cx, node, y, name);
    }
    let what = match kind.as_str() {
        "" => "an interface without kind (a veth end)".to_string(),
        k => format!("{} {k}", article(k)),
    };
    let mut allowed: Vec<&str> = COMMON_FIELDS.to_vec();
    allowed.extend_from_slice(kind::fields(&kind));
    if kind.is_empty() && forgotten_kind(cx, y, &mut allowed) {
        // Keep a placeholder so "not in any link" does not pile on.
        return Link::new(name, LinkKind::Other(String::new()));
    }
    if kind::is_master(&kind) {
        allowed.push("ports");
    }
    if let Value::Map(m) = &y.value {
        if let Some(k) = m.iter().find(|e| e.key == "kind") {
            cx.locs.insert(format!("{node}/{name}#kind"), k.value.at);
        }
    }
    let Some(f) = Fields::new(cx, y, &what, &allowed) else {
        return Link::new(name, LinkKind::Other(String::new()));
    };
    let mut link = Link::new(name, kind::decode(cx, &kind, &f, node));
    link.up = Some(
        f.word(cx, "state", &["up", "down"])
            .is_none_or(|s| s == "up"),
    );
    let (range, why) = super::mtu::range(&kind);
    link.mtu = f
        .kernel_range(cx, "mtu", range, why)
        .and_then(|v| u32::try_from(v).ok());
    link.mac = f.get("mac").and_then(|m| mac_of(cx, m));
    for a in f.list(cx, "addresses") {
        match &a.value {
            Value::Scalar { text, plain: true } if text == "dhcp" => {
                let s = super::dhcp::client(cx, node, name, a);
                services.insert(s.setup.name(), s);
            }
            Value::Scalar { text, plain: true } if text == "dhcp6" => cx.err(
                a.at,
                "`dhcp6` is not supported",
                Some(
                    "netloom's DHCP client speaks DHCPv4 (`dhcp`); give IPv6 addresses statically"
                        .into(),
                ),
            ),
            _ => link.addresses.extend(address(cx, a)),
        }
    }
    if let Some(d) = f.get("dhcp") {
        if let Some(s) = super::dhcp::server(cx, node, name, d) {
            services.insert(s.setup.name(), s);
        }
    }
    // Where later checks point (validation of lowers, ipvlan mode and flag,
    // MTUs, addresses of bond and team ports, MACs, vlan ids, VNIs).
    for key in "lower dev primary mode flag mtu addresses mac id vni".split(' ') {
        if let Some(v) = f.get(key) {
            cx.locs.insert(format!("{node}/{name}#{key}"), v.at);
        }
    }
    if let Some(p) = f.get("ports") {
        port_list(cx, node, name, &kind, p, ports);
    }
    link
}

/// A kind-less interface using fields of some kind: say which kinds take
/// them, once, rather than "unknown field" for each. Returns whether it did.
fn forgotten_kind<'a>(cx: &mut Ctx, y: &'a Yaml, allowed: &mut Vec<&'a str>) -> bool {
    let Value::Map(m) = &y.value else {
        return false;
    };
    let takes = |k: &str, key: &str| {
        kind::fields(k).contains(&key) || (key == "ports" && kind::is_master(k))
    };
    let keys: Vec<&Entry> = m
        .iter()
        .filter(|e| !allowed.contains(&e.key.as_str()) && kind::words().any(|k| takes(k, &e.key)))
        .collect();
    let Some(first) = keys.first() else {
        return false;
    };
    let mut kinds: Vec<&str> = kind::words()
        .filter(|k| keys.iter().all(|e| takes(k, &e.key)))
        .collect();
    if kinds.is_empty() {
        kinds = kind::words().filter(|k| takes(k, &first.key)).collect();
    }
    let names: Vec<String> = keys.iter().map(|e| format!("`{}`", e.key)).collect();
    cx.err(
        first.key_at,
        format!(
            "{} need{} a `kind`: without one this interface is a veth end",
            names.join(", "),
            if keys.len() == 1 { "s" } else { "" }
        ),
        Some(format!(
            "add `kind: {}` (kinds that take {}: {})",
            kinds[0],
            names.join(", "),
            kinds.join(", ")
        )),
    );
    allowed.extend(keys.iter().map(|e| e.key.as_str()));
    true
}

fn external(cx: &mut Ctx, node: &str, y: &Yaml, name: &str) -> Link {
    if let Value::Map(m) = &y.value {
        for e in m.iter().filter(|e| e.key != "kind") {
            cx.err(
                e.key_at,
                format!("`{}` cannot be set on an external interface", e.key),
                Some("netloom never creates, changes or deletes an external device: write only `kind: external`".into()),
            );
        }
    }
    if node != HOST {
        cx.err(
            y.at,
            "external interfaces exist only in node `host`",
            Some(format!(
                "`{node}` is a namespace netloom creates, so it holds no existing device"
            )),
        );
    }
    Link::new(name, LinkKind::External)
}

fn address(cx: &mut Ctx, y: &Yaml) -> Option<Address> {
    if let Value::Map(_) = y.value {
        let f = Fields::new(cx, y, "an address", &["address", "dad"])?;
        let net = f.need(cx, "address").and_then(|a| net_of(cx, a))?;
        let dad = f.bool(cx, "dad").unwrap_or(false);
        if dad && net.addr().is_ipv4() {
            if let Some(d) = f.get("dad") {
                cx.err(d.at, "`dad` applies to IPv6 addresses only", None);
            }
        }
        return Some(Address {
            net,
            dad,
            secondary: false,
        });
    }
    net_of(cx, y).map(|net| Address {
        net,
        dad: false,
        secondary: false,
    })
}

fn port_list(
    cx: &mut Ctx,
    node: &str,
    master: &str,
    kind: &str,
    y: &Yaml,
    out: &mut Vec<PortDecl>,
) {
    let what = format!("{} {kind} port", article(kind));
    let items: Vec<(&str, Location, Option<&Yaml>)> = match &y.value {
        Value::Seq(items) => items
            .iter()
            .filter_map(|i| str_of(cx, i).map(|t| (t, i.at, None)))
            .collect(),
        Value::Map(_) => entries(cx, y, "port", "a map")
            .into_iter()
            .map(|e| (e.key.as_str(), e.key_at, Some(&e.value)))
            .collect(),
        _ => {
            cx.expected(y, "a list of port names or a map of port names to options");
            return;
        }
    };
    for (text, at, opts) in items {
        let name = match text.split_once('/') {
            Some((n, i)) if n == node => i,
            Some((n, _)) => {
                cx.err(at, format!("port `{text}` is in node `{n}`, but its master `{master}` is in `{node}`"), Some("a port must be in the same node as its master; join nodes with a veth link".into()));
                continue;
            }
            None => text,
        };
        if let Some(p) = iface_name_problem(name) {
            cx.err(at, p, None);
            continue;
        }
        let empty = Yaml {
            at,
            value: Value::Map(Vec::new()),
        };
        let Some(f) = Fields::new(cx, opts.unwrap_or(&empty), &what, kind::port_fields(kind))
        else {
            continue;
        };
        let opts = kind::decode_port(cx, kind, &f);
        out.push(PortDecl {
            master: master.into(),
            name: name.into(),
            opts,
            at,
        });
    }
}

fn apply_ports(cx: &mut Ctx, node: &str, n: &mut Node, ports: Vec<PortDecl>) {
    let names: Vec<String> = n.links.keys().cloned().collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    for p in ports {
        if p.name == p.master {
            cx.err(
                p.at,
                format!("`{}` cannot be a port of itself", p.name),
                None,
            );
            continue;
        }
        let Some(link) = n.links.get_mut(&p.name) else {
            cx.err(
                p.at,
                format!("port `{}` is not an interface of node `{node}`", p.name),
                Some(suggest(&p.name, &names, &format!("interfaces of `{node}`"))),
            );
            continue;
        };
        if matches!(link.kind, LinkKind::External | LinkKind::Loopback) {
            cx.err(
                p.at,
                format!(
                    "`{}` cannot be a port: netloom never changes that device",
                    p.name
                ),
                None,
            );
            continue;
        }
        if let Some(first) = &link.master {
            cx.err(
                p.at,
                format!(
                    "port `{}` has two masters: `{first}` and `{}`",
                    p.name, p.master
                ),
                Some("an interface can be a port of one bridge, bond or team only".into()),
            );
            continue;
        }
        cx.locs.insert(format!("{node}/{}#master", p.name), p.at);
        link.master = Some(p.master);
        link.port = p.opts;
    }
    // A bond's primary must be one of its ports.
    for (name, link) in &n.links {
        let LinkKind::Bond(b) = &link.kind else {
            continue;
        };
        let Some(primary) = &b.primary else { continue };
        let ok = n
            .links
            .get(primary)
            .is_some_and(|p| p.master.as_deref() == Some(name));
        if !ok {
            let at = cx.loc(&format!("{node}/{name}#primary"), &format!("{node}/{name}"));
            cx.err(
                at,
                format!("primary `{primary}` is not a port of bond `{name}`"),
                Some("name one of the bond's ports".into()),
            );
        }
    }
}

fn nat(cx: &mut Ctx, node: &str, i: usize, y: &Yaml) -> Option<Masquerade> {
    let f = Fields::new(cx, y, "a nat rule", &["masquerade"])?;
    let m = f.need(cx, "masquerade")?;
    let mf = Fields::new(cx, m, "a masquerade rule", &["source", "out"])?;
    let source = mf.need(cx, "source").and_then(|s| net_of(cx, s));
    let out_y = mf.need(cx, "out");
    let out = out_y.and_then(|o| str_of(cx, o)).map(str::to_string);
    if let Some(o) = out_y {
        cx.locs.insert(format!("{node}#nat{i}.out"), o.at);
    }
    Some(Masquerade {
        source: source?.trunc(),
        out: out?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::yaml::parse;

    fn decode(text: &str) -> (BTreeMap<String, Node>, Vec<String>) {
        let y = parse(text).unwrap();
        let mut cx = Ctx::default();
        let n = decode_nodes(&mut cx, &y);
        (n, cx.errors.into_iter().map(|e| e.message).collect())
    }

    #[test]
    fn node_names_follow_the_rule() {
        assert!(node_name_ok("c1"));
        assert!(node_name_ok("0-a_b"));
        assert!(!node_name_ok("C1"));
        assert!(!node_name_ok("-a"));
        assert!(!node_name_ok(&"a".repeat(33)));
    }

    #[test]
    fn bridge_with_ports_sets_master_and_port_options() {
        let (n, errs) = decode("a: { interfaces: { br0: { kind: bridge, stp: true, ports: { v0: { cost: 5 } } }, v0: {} } }");
        assert!(errs.is_empty(), "{errs:?}");
        let v0 = &n["a"].links["v0"];
        assert_eq!(v0.master.as_deref(), Some("br0"));
        assert!(matches!(&v0.port, Some(PortOptions::Bridge(p)) if p.cost == Some(5)));
        assert!(n["a"].links.contains_key("lo"));
        assert!(matches!(&n["a"].links["br0"].kind, LinkKind::Bridge(b) if b.stp == Some(true)));
    }

    #[test]
    fn forwarding_and_sysctl_become_sysctls() {
        let (n, errs) = decode("a: { forwarding: true, sysctl: { net.ipv6.conf.default.accept_dad: 0, net.x: false } }");
        assert!(errs.is_empty(), "{errs:?}");
        let s = &n["a"].sysctls;
        assert_eq!(s["net.ipv4.ip_forward"], "1");
        assert_eq!(s["net.ipv6.conf.all.forwarding"], "1");
        assert_eq!(s["net.ipv6.conf.default.accept_dad"], "0");
        assert_eq!(s["net.x"], "0");
    }

    #[test]
    fn routes_and_nat_decode() {
        let (n, errs) = decode("a: { routes: [{ to: default, via: 10.0.0.1 }, { to: 10.1.0.0/16, dev: x, table: main, metric: 5 }], nat: [{ masquerade: { source: 10.0.3.0/24, out: up } }] }");
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(n["a"].routes[0].to.to_string(), "0.0.0.0/0");
        assert_eq!(n["a"].routes[1].table, Some(254));
        assert_eq!(n["a"].nat[0].out, "up");
    }

    #[test]
    fn errors_for_common_mistakes() {
        let (_, errs) = decode("a: { interfaces: { x: { kind: bridgee } } }");
        assert!(errs[0].contains("unknown kind `bridgee`"));
        let (_, errs) = decode("a: { interfaces: { x: { kind: bridge, ports: [y] }, z: { kind: bridge, ports: [y] }, y: {} } }");
        assert!(errs[0].contains("two masters"), "{errs:?}");
        let (_, errs) = decode("a: { interfaces: { lo: {} } }");
        assert!(errs[0].contains("`lo`"));
        let (_, errs) = decode("a: { interfaces: { e: { kind: external } } }");
        assert!(errs[0].contains("only in node `host`"));
        let (_, errs) = decode("host: { interfaces: { e: { kind: external, mtu: 1500 } } }");
        assert!(errs[0].contains("cannot be set on an external"));
        let (_, errs) = decode("a: { interfaces: { x: { kind: tun, persist: false } } }");
        assert!(errs[0].contains("persist"));
    }
}

#[cfg(test)]
mod more_tests {
    use super::*;
    use crate::spec::yaml::parse;

    #[test]
    fn ipv6_addresses_dad_and_mac_in_flow_maps() {
        let y = parse("a: { interfaces: { d0: { kind: dummy, mac: 02:00:00:00:00:01, addresses: [2001:db8::1/64, { address: 2001:db8:1::1/64, dad: true }] } } }").unwrap();
        let mut cx = Ctx::default();
        let n = decode_nodes(&mut cx, &y);
        assert!(cx.errors.is_empty(), "{:?}", cx.errors);
        let d0 = &n["a"].links["d0"];
        assert_eq!(d0.addresses.len(), 2);
        assert!(!d0.addresses[0].dad && d0.addresses[1].dad);
        assert_eq!(
            d0.mac.map(|m| m.to_string()).as_deref(),
            Some("02:00:00:00:00:01")
        );
        assert_eq!(d0.up, Some(true));
    }
}
