//! What every interface may carry: the method's addresses and gateway
//! (inet.defn/inet6.defn of ifupdown: `ip addr add`, `ip route add default
//! via GW [metric M] dev IFACE onlink`), `mtu`, `hwaddress`, the per
//! interface sysctls ifupdown writes, and the options netloom has no field
//! for, each listed.
use ipnet::IpNet;

use super::{bond, bridge, Cx, EXTERNAL};
use crate::import::draft::{Entry, From, Iface};
use crate::import::ifupdown::merge::Def;
use crate::import::ifupdown::stanza::{Opt, Stanza};
use crate::import::ifupdown::values::{self, Addr};
use crate::import::Skip;

/// Methods of each family (inet.defn, inet6.defn; ifupdown2 adds dhcp6).
const INET: &[&str] = &[
    "static", "manual", "dhcp", "loopback", "bootp", "tunnel", "ppp", "wvdial", "ipv4ll",
];
const INET6: &[&str] = &[
    "static", "manual", "dhcp", "auto", "loopback", "v4tunnel", "6to4", "dhcp6", "tunnel", "ppp",
];

/// Options of the dynamic methods (dhcp, auto, bootp, ipv4ll).
const DYNAMIC_OPTIONS: &[&str] = &[
    "hostname",
    "leasetime",
    "leasehours",
    "vendor",
    "client",
    "request-prefix",
    "ll-attempts",
    "ll-interval",
    "dhcp",
    "bootfile",
    "server",
    "hwaddr",
];

/// The stanza's method word (`static` for ifupdown2's bare `iface NAME`).
fn method(s: &Stanza) -> &str {
    s.method.as_ref().map_or("static", |m| m.text.as_str())
}

/// `lo`: the machine's own loopback (netloom never declares it).
pub fn loopback(cx: &mut Cx, def: &Def, origin: &[From]) {
    for from in origin {
        cx.note(
            from.clone(),
            "the loopback device: every namespace has one, netloom declares none",
        );
    }
    for (s, _) in &def.stanzas {
        for o in &s.options {
            cx.skip(
                o,
                "a setting of the loopback device, which a netloom file cannot declare",
            );
        }
    }
}

/// The options every kind shares; `external` lists them all as not
/// imported (the machine's own port).
pub fn common(cx: &mut Cx, def: &Def, f: &mut Iface, external: bool) {
    let prefix = match f.kind.as_deref() {
        Some("bridge") => "bridge-",
        Some("bond") => "bond-",
        Some("vlan") => "vlan-",
        Some("vxlan") => "vxlan-",
        Some("vrf") => "vrf-",
        _ => "\u{0}",
    };
    let mut out = Produced::default();
    let mut mtu: Option<(String, Opt)> = None;
    let mut mac: Option<(String, Opt)> = None;
    for (s, label) in &def.stanzas {
        if !known_method(cx, s) {
            continue;
        }
        let m = method(s);
        let addressing = matches!(m, "static" | "manual");
        if !addressing {
            let reason = match m {
                "auto" => "method auto: addresses from router advertisements (SLAAC) are not imported".to_string(),
                "dhcp" | "dhcp6" => "method dhcp: not imported yet as `addresses: [dhcp]` (netloom's DHCP client is newer than this importer), so the interface comes without this address".to_string(),
                other => format!("method {other}: netloom cannot get an address this way"),
            };
            let from = cx.from_at(
                s.method.as_ref().map_or(s.keyword.span, |w| w.span),
                &format!(
                    "iface {} {} {m}",
                    s.name.text,
                    s.family.as_ref().map_or("", |w| w.text.as_str())
                ),
            );
            cx.d.skipped.push(Skip { from, reason });
        }
        if let Some(l) = label {
            let from = cx.from_at(s.name.span, &format!("iface {}", s.name.text));
            cx.note(
                from,
                &format!(
                    "an alias: its addresses are imported on {} without the label `{}:{l}`",
                    def.name, def.name
                ),
            );
        }
        if addressing {
            addresses(cx, def, s, &mut out);
        }
        for o in &s.options {
            let k = o.key.as_str();
            if k.starts_with(prefix) || matches!(k, "address" | "netmask" | "gateway" | "metric") {
                if !addressing && !k.starts_with(prefix) {
                    cx.skip(
                        o,
                        &format!("an option of method {m}, whose addresses are not imported"),
                    );
                }
                continue;
            }
            if !addressing && DYNAMIC_OPTIONS.contains(&k) {
                cx.skip(
                    o,
                    &format!("an option of method {m}, whose addresses are not imported"),
                );
                continue;
            }
            if bridge::PORT_KEYS.contains(&k) || bond::PORT_KEYS.contains(&k) {
                continue; // the master reads them
            }
            option(cx, def, o, &mut out, &mut mtu, &mut mac);
        }
    }
    if external {
        for e in out.all() {
            cx.d.skipped.push(Skip {
                from: e.from,
                reason: EXTERNAL.into(),
            });
        }
        return;
    }
    f.fields.extend(out.fields);
    f.addresses.extend(out.addresses);
    cx.d.routes.extend(out.routes);
    cx.d.sysctls.extend(out.sysctls);
}

/// What one interface's options give.
#[derive(Default)]
struct Produced {
    fields: Vec<Entry>,
    addresses: Vec<Entry>,
    routes: Vec<Entry>,
    sysctls: Vec<Entry>,
}

impl Produced {
    fn all(self) -> Vec<Entry> {
        [self.fields, self.addresses, self.routes, self.sysctls].concat()
    }
}

/// Whether the stanza's family knows its method (an unknown one is refused).
fn known_method(cx: &mut Cx, s: &Stanza) -> bool {
    let (Some(fam), Some(m)) = (&s.family, &s.method) else {
        return true;
    };
    let list = if fam.text == "inet6" { INET6 } else { INET };
    if list.contains(&m.text.as_str()) {
        return true;
    }
    let e = cx.files.error(
        m.span,
        format!("unknown method `{}` of family {}", m.text, fam.text),
        Some(&format!(
            "the methods of {} are: {}",
            fam.text,
            list.join(", ")
        )),
    );
    cx.errors.push(e);
    false
}

/// The addresses and gateways of a static stanza.
fn addresses(cx: &mut Cx, def: &Def, s: &Stanza, out: &mut Produced) {
    let masks: Vec<&Opt> = s.options.iter().filter(|o| o.key == "netmask").collect();
    let dad = !s
        .options
        .iter()
        .any(|o| o.key == "dad-attempts" && o.value.trim() == "0");
    let mut nets: Vec<(IpNet, &Opt)> = Vec::new();
    let mut bare = 0;
    for o in s.options.iter().filter(|o| o.key == "address") {
        for w in &o.args {
            match values::address(&w.text) {
                Some(Addr::Net(n)) => nets.push((n, o)),
                Some(Addr::Bare(ip)) => {
                    let mask = masks.get(bare).or(masks.first()).copied();
                    bare += 1;
                    let p = match mask {
                        Some(m) => match values::prefix(&m.value, ip.is_ipv6()) {
                            Some(p) => p,
                            None => {
                                cx.bad(m, "a netmask", Some("write a dotted quad (255.255.255.0) or a prefix length (24)"));
                                continue;
                            }
                        },
                        None => {
                            let from = cx.from(o);
                            cx.note(from, "no netmask: the address stands alone (/32, /128), as `ip addr add` makes it");
                            if ip.is_ipv6() {
                                128
                            } else {
                                32
                            }
                        }
                    };
                    if let Ok(n) = IpNet::new(ip, p) {
                        nets.push((n, o));
                    }
                }
                None => {
                    let e = cx.files.error(
                        w.span,
                        format!("`{}` is not an IP address", w.text),
                        Some("write ADDRESS/PREFIX (10.0.0.1/24, 2001:db8::1/64) or ADDRESS with a `netmask` line"),
                    );
                    cx.errors.push(e);
                }
            }
        }
    }
    for (n, o) in &nets {
        let yaml = if n.addr().is_ipv6() && dad {
            format!("{{ address: {n}, dad: true }}")
        } else {
            n.to_string()
        };
        out.addresses.push(cx.entry(yaml, o));
    }
    if method(s) == "manual" && !nets.is_empty() {
        let from = cx.from_at(s.keyword.span, &format!("iface {} ... manual", s.name.text));
        cx.note(from, "addresses under method manual: ifupdown2 sets them, classic ifupdown does not; imported");
    }
    let metric = s.options.iter().find(|o| o.key == "metric");
    let metric = match metric.map(|m| (m, m.value.parse::<u32>())) {
        Some((m, Err(_))) => {
            cx.bad(m, "a metric (a number)", None);
            None
        }
        Some((_, Ok(v))) => Some(v),
        None => None,
    };
    let all_nets: Vec<IpNet> = def
        .stanzas
        .iter()
        .flat_map(|(s, _)| s.options.iter().filter(|o| o.key == "address"))
        .flat_map(|o| o.args.iter())
        .filter_map(|w| match values::address(&w.text) {
            Some(Addr::Net(n)) => Some(n),
            _ => None,
        })
        .collect();
    let dev = crate::import::yaml_name(&def.name);
    // A VRF member's gateway routes go in the VRF's table (as ifupdown2's
    // address module adds them).
    let table = def
        .stanzas
        .iter()
        .flat_map(|(s, _)| s.options.iter())
        .find(|o| o.key == "vrf")
        .and_then(|o| match cx.kinds.get(&o.value) {
            Some(super::Kind::Vrf { table }) => Some(*table),
            _ => None,
        })
        .map_or(String::new(), |t| format!(", table: {t}"));
    for o in s.options.iter().filter(|o| o.key == "gateway") {
        for w in &o.args {
            let Ok(gw) = w.text.parse::<std::net::IpAddr>() else {
                let e = cx
                    .files
                    .error(w.span, format!("`{}` is not an IP address", w.text), None);
                cx.errors.push(e);
                continue;
            };
            // ifupdown adds the default route `onlink`: a gateway outside
            // every subnet of the interface is still used through it. A
            // device route to the gateway has the same effect in a file.
            if !all_nets.iter().any(|n| n.contains(&gw)) {
                let host = if gw.is_ipv6() { 128 } else { 32 };
                out.routes
                    .push(cx.entry(format!("{{ to: {gw}/{host}, dev: {dev}{table} }}"), o));
                let from = cx.from(o);
                cx.note(from, "outside the interface's subnets: ifupdown's `onlink` route becomes a device route to the gateway first");
            }
            let mut yaml = format!("{{ to: default, via: {gw}, dev: {dev}{table}");
            if let Some(m) = metric {
                yaml.push_str(&format!(", metric: {m}"));
            }
            yaml.push_str(" }");
            out.routes.push(cx.entry(yaml, o));
        }
    }
}

/// One option that is not the kind's own nor addressing.
fn option(
    cx: &mut Cx,
    def: &Def,
    o: &Opt,
    out: &mut Produced,
    mtu: &mut Option<(String, Opt)>,
    mac: &mut Option<(String, Opt)>,
) {
    let k = o.key.as_str();
    let sysctl_name = def.name.replace('.', "/");
    match k {
        "mtu" => {
            if o.value.parse::<u32>().is_err() {
                cx.bad(o, "an MTU (a number of bytes)", None);
                return;
            }
            if once(cx, o, mtu) {
                out.fields.push(cx.entry(format!("mtu: {}", o.value), o));
            }
        }
        "hwaddress" => {
            let word = o
                .args
                .iter()
                .map(|w| w.text.as_str())
                .find(|w| *w != "ether")
                .unwrap_or("");
            if word == "random" {
                cx.skip(
                    o,
                    "a random MAC address at every `ifup` has no fixed value to write",
                );
                return;
            }
            let Some(m) = values::mac(word) else {
                cx.bad(
                    o,
                    "a MAC address",
                    Some("write six hex bytes: 02:00:00:00:00:01"),
                );
                return;
            };
            if once(cx, o, mac) {
                out.fields.push(cx.entry(format!("mac: {m}"), o));
            }
        }
        "link-down" => match values::boolean(&o.value) {
            Some(true) => out.fields.push(cx.entry("state: down".into(), o)),
            Some(false) => {}
            None => cx.bad(o, "yes or no", None),
        },
        "broadcast" if o.value == "+" => {
            let from = cx.from(o);
            cx.note(
                from,
                "the default broadcast address of the subnet; netloom leaves it to the kernel",
            );
        }
        "scope" if matches!(o.value.as_str(), "global" | "universe") => {}
        "dad-attempts" | "dad-interval" => {} // read with the addresses
        "accept-ra" | "autoconf" | "privext" => {
            let key = match k {
                "accept-ra" => "accept_ra",
                "privext" => "use_tempaddr",
                _ => "autoconf",
            };
            if !matches!(o.value.as_str(), "0" | "1" | "2") {
                cx.bad(o, "0, 1 or 2", None);
                return;
            }
            out.sysctls
                .push(cx.entry(format!("net.ipv6.conf.{sysctl_name}.{key}: {}", o.value), o));
        }
        "ip-forward" | "ip6-forward" | "arp-accept" | "disable-ipv6" => {
            let Some(b) = values::boolean(&o.value) else {
                cx.bad(o, "on or off", None);
                return;
            };
            let key = match k {
                "ip-forward" => format!("net.ipv4.conf.{sysctl_name}.forwarding"),
                "ip6-forward" => format!("net.ipv6.conf.{sysctl_name}.forwarding"),
                "arp-accept" => format!("net.ipv4.conf.{sysctl_name}.arp_accept"),
                _ => format!("net.ipv6.conf.{sysctl_name}.disable_ipv6"),
            };
            out.sysctls
                .push(cx.entry(format!("{key}: {}", u8::from(b)), o));
        }
        // Membership of a VRF the files define: its `ports` say so.
        "vrf" if matches!(cx.kinds.get(&o.value), Some(super::Kind::Vrf { .. })) => {}
        _ => cx.skip(o, &reason(k, def)),
    }
}

/// A link-level option must agree across an interface's stanzas; whether
/// this is its first appearance.
fn once(cx: &mut Cx, o: &Opt, seen: &mut Option<(String, Opt)>) -> bool {
    match seen {
        None => {
            *seen = Some((o.value.clone(), o.clone()));
            true
        }
        Some((v, _)) if *v == o.value => false,
        Some((v, first)) => {
            let e = cx.files.error(
                o.value_span,
                format!(
                    "`{}` is {} here but {v} at {}",
                    o.name.text,
                    o.value,
                    cx.files.short(first.name.span)
                ),
                Some("one interface has one value: the stanzas of one name are merged"),
            );
            cx.errors.push(e);
            false
        }
    }
}

/// Why an option netloom has no field for is not imported.
pub fn reason(k: &str, def: &Def) -> String {
    match k {
        "pre-up" | "up" | "post-up" | "down" | "pre-down" | "post-down" => {
            "a command: netloom runs no commands from the file (what it does is not known)".into()
        }
        "description" | "alias" => {
            "the interface's description (IFLA_IFALIAS holds netloom's ownership mark)".into()
        }
        "broadcast" => "a broadcast address other than the subnet's: netloom sets none".into(),
        "scope" => "an address scope other than global".into(),
        "pointopoint" => "a point-to-point peer address: netloom's addresses have no peer".into(),
        "preferred-lifetime" => "an address lifetime: netloom's addresses are permanent".into(),
        "metric" => "a metric without a gateway".into(),
        "vrf" => "membership of a VRF that no stanza makes (`vrf-table`)".into(),
        "address-virtual" | "address-virtual-ipv6-addrgen" => {
            "ifupdown2's virtual router address: a macvlan it names and makes itself; not imported yet".into()
        }
        "vrrp" => "ifupdown2's VRRP macvlans: not imported yet".into(),
        "link-speed" | "link-duplex" | "link-autoneg" | "link-fec" => {
            "an ethtool setting of a port: netloom sets no link speed".into()
        }
        _ if k.starts_with("dns-") => {
            "a resolver setting (resolvconf): not part of a netloom topology".into()
        }
        _ if k.starts_with("wireless-") || k.starts_with("wpa-") => {
            "wireless settings: netloom does not manage wireless links".into()
        }
        _ if k.starts_with("mstpctl-") => {
            "an mstpd setting: netloom runs the kernel's STP only".into()
        }
        _ if k.starts_with("bridge-") => {
            format!("a bridge option, but {} is not a bridge", def.name)
        }
        _ if k.starts_with("bond-") => format!("a bond option, but {} is not a bond", def.name),
        _ if k.starts_with("vlan-") => format!("a VLAN option, but {} is not a VLAN", def.name),
        _ if k.starts_with("vxlan-") => format!("a VXLAN option, but {} is not a VXLAN", def.name),
        _ => "an option netloom does not know (a package's hook script reads it)".into(),
    }
}
