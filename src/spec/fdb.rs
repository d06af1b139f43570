//! Static forwarding database entries: `fdb:` of a bridge (MAC -> port,
//! VLAN) and of a vxlan (MAC -> remote VTEP), and a vxlan's `remotes:`,
//! its flood list (head-end replication: one all-zero-MAC entry per
//! remote). Decoded once every interface and port of the node is known,
//! checked as br_fdb_add and vxlan_fdb_add check them.
use std::net::IpAddr;

use super::decode::{ip_of, list_of, str_of, suggest, uint_of, Ctx, Fields};
use super::yaml::{Value, Yaml};
use crate::model::fdb::FLOOD;
use crate::model::{
    BridgeOptions, FdbEntry, Link, LinkKind, MacAddr, Node, PortOptions, VxlanOptions,
};

/// Fields of a bridge's entry.
pub const BRIDGE_FIELDS: &[&str] = &["mac", "port", "vlan"];

/// Fields of a vxlan's entry (iproute2's words: `port` is the UDP port).
pub const VXLAN_FIELDS: &[&str] = &["mac", "dst", "vni", "port", "via"];

/// The `fdb:` and `remotes:` of every interface of node `node` (its
/// `interfaces:` map `ifs`), into `n.fdb`, sorted.
pub fn decode_node(cx: &mut Ctx, node: &str, ifs: Option<&Yaml>, n: &mut Node) {
    let Some(Yaml {
        value: Value::Map(list),
        ..
    }) = ifs
    else {
        return;
    };
    let mut out: Vec<FdbEntry> = Vec::new();
    for e in list {
        let (Value::Map(fields), Some(link)) = (&e.value.value, n.links.get(&e.key)) else {
            continue;
        };
        for f in fields.iter().filter(|f| !f.value.is_null()) {
            let found = match (f.key.as_str(), &link.kind) {
                ("fdb", LinkKind::Bridge(o)) => bridge(cx, n, link, o, &f.value),
                ("fdb", LinkKind::Vxlan(o)) => vxlan(cx, n, link, o, &f.value),
                ("remotes", LinkKind::Vxlan(o)) => remotes(cx, link, o, &f.value),
                _ => continue,
            };
            for (entry, at) in found {
                let twin = out.iter().find(|x| {
                    x.dev == entry.dev
                        && x.mac == entry.mac
                        && (entry.floods() && x.dst == entry.dst
                            || !entry.floods() && (x.vlan == entry.vlan || covers(x, &entry)))
                });
                match twin {
                    Some(t) => cx.err(at, duplicate(node, t, &entry), None),
                    None => out.push(entry),
                }
            }
        }
    }
    out.sort();
    n.fdb = out;
}

/// A bridge entry without `vlan` stands for every VLAN of its port
/// (br_fdb_add adds it for each): another for the same MAC and port with a
/// VLAN is the same entry.
fn covers(a: &FdbEntry, b: &FdbEntry) -> bool {
    a.on_bridge() && a.port == b.port && (a.vlan.is_none() || b.vlan.is_none())
}

fn duplicate(node: &str, first: &FdbEntry, again: &FdbEntry) -> String {
    if again.floods() {
        return format!(
            "`{node}/{}` lists remote {} twice",
            again.dev,
            again.dst.map(|d| d.to_string()).unwrap_or_default()
        );
    }
    let vlan = again
        .vlan
        .map(|v| format!(" in VLAN {v}"))
        .unwrap_or_default();
    format!(
        "MAC {}{vlan} has two entries in `{node}/{}`: `{first}` and `{again}`; the kernel keeps one per MAC{}",
        again.mac,
        again.dev,
        if again.on_bridge() { " and VLAN (an entry without `vlan` covers every VLAN of its port)" } else { "" }
    )
}

/// A MAC an entry may be for: a unicast one. The kernel refuses the zero
/// MAC (br_fdb_add: EINVAL), and a bridge takes a multicast one as a group
/// membership, not an entry (it is gone from `bridge fdb`).
fn mac(cx: &mut Ctx, y: &Yaml, vxlan: bool) -> Option<MacAddr> {
    let t = str_of(cx, y)?;
    let m: MacAddr = match t.parse() {
        Ok(m) => m,
        Err(e) => {
            cx.err(y.at, e, None);
            return None;
        }
    };
    let what = if m == FLOOD {
        "all zeros"
    } else if m.0[0] & 1 == 1 {
        "a multicast address (the low bit of its first byte is set)"
    } else {
        return Some(m);
    };
    let help = if vxlan {
        "the all-zero MAC is the flood list: list the remote VTEPs under `remotes:`; for multicast use the vxlan's `group`"
    } else {
        "an entry is for one station: use its unicast address, whose first byte is even"
    };
    cx.err(
        y.at,
        format!("an fdb entry's MAC `{t}` is {what}"),
        Some(help.into()),
    );
    None
}

/// A bridge's `fdb:` entries.
fn bridge(
    cx: &mut Ctx,
    n: &Node,
    br: &Link,
    o: &BridgeOptions,
    y: &Yaml,
) -> Vec<(FdbEntry, crate::spec::Location)> {
    let mut out = Vec::new();
    for item in list_of(cx, y) {
        let Some(f) = Fields::new(cx, item, "a bridge fdb entry", BRIDGE_FIELDS) else {
            continue;
        };
        let m = f.need(cx, "mac").and_then(|y| mac(cx, y, false));
        let port = f.need(cx, "port").and_then(|p| port(cx, n, br, p));
        let vlan = f.get("vlan").and_then(|v| vlan(cx, n, br, o, port, v));
        if let (Some(m), Some(p)) = (m, port) {
            out.push((FdbEntry::bridge(&br.name, m, p, vlan), item.at));
        }
    }
    out
}

/// The port of a bridge entry: a port of that bridge (rtnl_fdb_add gives
/// an entry to the master of a bridge port only: EOPNOTSUPP otherwise).
fn port<'a>(cx: &mut Ctx, n: &Node, br: &Link, y: &'a Yaml) -> Option<&'a str> {
    let p = str_of(cx, y)?;
    let is_port = n
        .links
        .get(p)
        .is_some_and(|l| l.master.as_deref() == Some(br.name.as_str()));
    if !is_port {
        let ports: Vec<&str> = n
            .links
            .values()
            .filter(|l| l.master.as_deref() == Some(br.name.as_str()))
            .map(|l| l.name.as_str())
            .collect();
        cx.err(
            y.at,
            format!("`{p}` is not a port of bridge `{}`", br.name),
            Some(if ports.is_empty() {
                format!("`{}` has no ports: list them under its `ports:`", br.name)
            } else {
                suggest(p, &ports, &format!("ports of `{}`", br.name))
            }),
        );
        return None;
    }
    Some(p)
}

/// A bridge entry's VLAN: one its port is a member of, on a bridge
/// filtering VLANs (br_fdb_add: EINVAL "unconfigured vlan").
fn vlan(
    cx: &mut Ctx,
    n: &Node,
    br: &Link,
    o: &BridgeOptions,
    port: Option<&str>,
    y: &Yaml,
) -> Option<u16> {
    let vid = u16::try_from(uint_of(cx, y, "vlan", 1, 4094)?).ok()?;
    if o.vlan_filtering != Some(true) {
        cx.err(
            y.at,
            format!("an entry's `vlan` needs `vlan_filtering: true` on bridge `{}`", br.name),
            Some("without VLAN filtering the bridge keeps one table for all frames: leave `vlan` out".into()),
        );
        return None;
    }
    let port = n.links.get(port?)?;
    let listed: Vec<u16> = match &port.port {
        Some(PortOptions::Bridge(p)) if !p.vlans.is_empty() => {
            p.vlans.iter().map(|v| v.vid).collect()
        }
        // A port the file gives no VLANs keeps the bridge's default PVID.
        _ => [o.default_pvid.unwrap_or(1)]
            .into_iter()
            .filter(|v| *v != 0)
            .collect(),
    };
    if !listed.contains(&vid) {
        let list: Vec<String> = listed.iter().map(u16::to_string).collect();
        cx.err(
            y.at,
            format!("port `{}` is not in VLAN {vid}", port.name),
            Some(format!(
                "the kernel refuses an entry for a VLAN its port is not in (br_fdb_add: EINVAL); `{}` is in VLAN(s) {}",
                port.name,
                if list.is_empty() { "none".into() } else { list.join(", ") }
            )),
        );
        return None;
    }
    Some(vid)
}

/// The address family a vxlan sends in: its `remote`'s or `group`'s, else
/// its `local`'s, else IPv4 (vxlan_config_validate); vxlan_fdb_add refuses
/// a destination of another (EAFNOSUPPORT).
fn family_v6(o: &VxlanOptions) -> bool {
    o.remote
        .or(o.group)
        .or(o.local)
        .is_some_and(|a| a.is_ipv6())
}

/// A remote VTEP of vxlan `vx`: unicast, not the vxlan's own `local`, of
/// the vxlan's family.
fn vtep(cx: &mut Ctx, vx: &Link, o: &VxlanOptions, y: &Yaml, key: &str) -> Option<IpAddr> {
    let a = ip_of(cx, y)?;
    let problem = if a.is_multicast() || a.is_unspecified() {
        Some((format!("{key} {a} is not a unicast address"), "a VTEP is one host's underlay address; for a multicast flood group use the vxlan's `group`".to_string()))
    } else if Some(a) == o.local {
        Some((
            format!("{key} {a} is vxlan `{}`'s own `local` address", vx.name),
            "name the other VTEPs' underlay addresses: frames sent to itself go nowhere"
                .to_string(),
        ))
    } else if a.is_ipv6() != family_v6(o) {
        let fam = if family_v6(o) { "IPv6" } else { "IPv4" };
        Some((format!("{key} {a} is not of vxlan `{}`'s family ({fam})", vx.name), "the vxlan sends in the family of its `remote`, `group` or `local` (IPv4 when none is given); vxlan_fdb_add refuses another (EAFNOSUPPORT): give `local` an address of the remotes' family".to_string()))
    } else {
        None
    };
    match problem {
        Some((msg, help)) => {
            cx.err(y.at, msg, Some(help));
            None
        }
        None => Some(a),
    }
}

/// A vxlan's `remotes:`, its flood list.
fn remotes(
    cx: &mut Ctx,
    vx: &Link,
    o: &VxlanOptions,
    y: &Yaml,
) -> Vec<(FdbEntry, crate::spec::Location)> {
    list_of(cx, y)
        .iter()
        .filter_map(|item| {
            let dst = vtep(cx, vx, o, item, "remote")?;
            Some((FdbEntry::vxlan(&vx.name, FLOOD, dst), item.at))
        })
        .collect()
}

/// A vxlan's `fdb:` entries; a `vni` or `port` equal to the vxlan's own is
/// left out, as the kernel reports it (vxlan_fdb_info).
fn vxlan(
    cx: &mut Ctx,
    n: &Node,
    vx: &Link,
    o: &VxlanOptions,
    y: &Yaml,
) -> Vec<(FdbEntry, crate::spec::Location)> {
    let mut out = Vec::new();
    for item in list_of(cx, y) {
        let Some(f) = Fields::new(cx, item, "a vxlan fdb entry", VXLAN_FIELDS) else {
            continue;
        };
        let m = f.need(cx, "mac").and_then(|y| mac(cx, y, true));
        let dst = f.need(cx, "dst").and_then(|y| vtep(cx, vx, o, y, "dst"));
        let vni = f
            .kernel_range(
                cx,
                "vni",
                (0, 16_777_215),
                "a VNI has 24 bits (vxlan_fdb_parse)",
            )
            .and_then(|v| u32::try_from(v).ok());
        let dstport = f.u16(cx, "port", 1, u16::MAX);
        let via = f.get("via").and_then(|v| {
            let name = str_of(cx, v)?;
            if n.links.contains_key(name) {
                return Some(name.to_string());
            }
            let names: Vec<&str> = n.links.keys().map(String::as_str).collect();
            cx.err(
                v.at,
                format!("`via` `{name}` is not an interface of this node"),
                Some(suggest(name, &names, "its interfaces")),
            );
            None
        });
        if let (Some(m), Some(dst)) = (m, dst) {
            let mut e = FdbEntry::vxlan(&vx.name, m, dst);
            e.vni = vni.filter(|v| *v != o.vni);
            e.dstport = dstport.filter(|p| Some(*p) != o.dstport);
            e.via = via;
            out.push((e, item.at));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::spec::kind::test_util::file_errors;

    fn fdb_of(text: &str) -> Vec<String> {
        let t = crate::spec::parse_str("t.yaml", text).unwrap_or_else(|e| panic!("{:?}", e.errors));
        t.network.nodes["a"]
            .fdb
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    const BR: &str = "name: t\nnodes:\n  a:\n    interfaces:\n      d0: { kind: dummy }\n      d1: { kind: dummy }\n";

    #[test]
    fn bridge_and_vxlan_entries_decode() {
        let text = format!("{BR}      br0: {{ kind: bridge, ports: [d0], fdb: [{{ mac: 02:00:00:00:00:09, port: d0 }}] }}\n      vx0: {{ kind: vxlan, vni: 5, local: 10.0.0.1, remotes: [10.0.0.3, 10.0.0.2], dev: d1, fdb: [{{ mac: 02:00:00:00:00:0a, dst: 10.0.0.2, vni: 5, port: 4790, via: d1 }}] }}\n");
        assert_eq!(
            fdb_of(&text),
            [
                "02:00:00:00:00:09 dev d0 master br0",
                "00:00:00:00:00:00 dev vx0 dst 10.0.0.2",
                "00:00:00:00:00:00 dev vx0 dst 10.0.0.3",
                "02:00:00:00:00:0a dev vx0 dst 10.0.0.2 port 4790 via d1",
            ]
        );
    }

    #[test]
    fn bad_entries_are_located_and_explained() {
        for (iface, part) in [
            ("br0: { kind: bridge, ports: [d0], fdb: [{ mac: 02:00:00:00:00:09, port: d1 }] }", "`d1` is not a port of bridge `br0`"),
            ("br0: { kind: bridge, ports: [d0], fdb: [{ mac: 01:00:5e:00:00:01, port: d0 }] }", "is a multicast address"),
            ("br0: { kind: bridge, ports: [d0], fdb: [{ mac: 00:00:00:00:00:00, port: d0 }] }", "is all zeros"),
            ("br0: { kind: bridge, ports: [d0], fdb: [{ mac: 02:00:00:00:00:09, port: d0, vlan: 10 }] }", "needs `vlan_filtering: true`"),
            ("br0: { kind: bridge, vlan_filtering: true, ports: { d0: { vlans: [20] } }, fdb: [{ mac: 02:00:00:00:00:09, port: d0, vlan: 10 }] }", "not in VLAN 10"),
            ("br0: { kind: bridge, ports: [d0], fdb: [{ mac: 02:00:00:00:00:09, port: d0 }, { mac: 02:00:00:00:00:09, port: d0 }] }", "has two entries"),
            ("vx0: { kind: vxlan, vni: 5, local: 10.0.0.1, remotes: [10.0.0.1] }", "is vxlan `vx0`'s own `local`"),
            ("vx0: { kind: vxlan, vni: 5, remotes: [10.0.0.2, 10.0.0.2] }", "lists remote 10.0.0.2 twice"),
            ("vx0: { kind: vxlan, vni: 5, remotes: ['fd00::2'] }", "not of vxlan `vx0`'s family (IPv4)"),
            ("vx0: { kind: vxlan, vni: 5, remotes: [239.1.1.1] }", "not a unicast address"),
            ("vx0: { kind: vxlan, vni: 5, remotes: [10.0.0.2], fdb: [{ mac: 00:00:00:00:00:00, dst: 10.0.0.3 }] }", "MAC `00:00:00:00:00:00` is all zeros"),
            ("vx0: { kind: vxlan, vni: 5, remote: 10.0.0.2, fdb: [{ mac: 02:00:00:00:00:09, dst: 10.0.0.3, via: nope }] }", "`via` `nope` is not an interface"),
        ] {
            let errs = file_errors(&["d0: { kind: dummy }", "d1: { kind: dummy }", iface]);
            assert_eq!(errs.len(), 1, "{iface}: {errs:?}");
            assert!(errs[0].contains(part), "{iface}: {errs:?}");
        }
    }

    /// Every error points at the offending value.
    #[test]
    fn errors_point_at_the_value() {
        let text = format!("{BR}      br0: {{ kind: bridge, ports: [d0], fdb: [{{ mac: 02:00:00:00:00:09, port: d1 }}] }}\n");
        let e = crate::spec::parse_str("t.yaml", &text).unwrap_err();
        let at = e.errors[0].at;
        assert_eq!((at.line, &text[at.offset..at.offset + 2]), (7, "d1"));
    }
}
