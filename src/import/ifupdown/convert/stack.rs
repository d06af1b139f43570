//! Devices stacked on a lower one: VLANs (interfaces(5): a name with `.` is
//! an 802.1Q VLAN, `eth0.1` on `eth0` with id 1; the vlan package's
//! `vlan-raw-device` for names like `vlan5`; ifupdown2's `vlan-id` and
//! `vlan-protocol`) and ifupdown2's VXLANs (vxlan.py).
use super::{field, find, options, Cx, Kind};
use crate::import::draft::Iface;
use crate::import::ifupdown::merge::Def;
use crate::import::ifupdown::values;

/// The VLAN kind of `def`: lower and id from its options or its name.
pub fn vlan_kind(cx: &mut Cx, def: &Def) -> Kind {
    let raw = find(def, &["vlan-raw-device"]).map(|o| o.value.clone());
    let id_opt = find(def, &["vlan-id"]).cloned();
    let dotted = def
        .name
        .rsplit_once('.')
        .filter(|(l, _)| !l.is_empty())
        .map(|(l, i)| (l.to_string(), i.to_string()));
    let name_span = def.stanzas[0].0.name.span;
    let lower = raw.or_else(|| dotted.as_ref().map(|(l, _)| l.clone()));
    let id = match &id_opt {
        Some(o) => o.value.parse::<u32>().ok(),
        None => match &dotted {
            Some((_, i)) => i.parse::<u32>().ok(),
            // The vlan package reads `vlan5`, `vlan0005` with a raw device.
            None => def
                .name
                .strip_prefix("vlan")
                .and_then(|d| d.parse::<u32>().ok()),
        },
    };
    let (Some(lower), Some(id)) = (lower, id) else {
        let e = cx.files.error(
            name_span,
            format!("cannot tell the lower device and VLAN id of {}", def.name),
            Some("name a VLAN LOWER.ID (eth0.5), or give `vlan-raw-device LOWER` with a name vlanID or `vlan-id ID`"),
        );
        cx.errors.push(e);
        return Kind::Physical;
    };
    if id > 4094 {
        let span = id_opt.as_ref().map_or(name_span, |o| o.value_span);
        let e = cx.files.error(
            span,
            format!("VLAN id {id} is out of range"),
            Some("VLAN ids are 0..4094"),
        );
        cx.errors.push(e);
        return Kind::Physical;
    }
    Kind::Vlan {
        lower,
        id: id as u16,
    }
}

/// The VLAN `def` into `f`.
pub fn vlan(cx: &mut Cx, def: &Def, f: &mut Iface, lower: &str, id: u16) {
    let origin = cx.from_at(def.stanzas[0].0.name.span, &format!("iface {}", def.name));
    f.fields.push(crate::import::draft::Entry {
        yaml: format!("lower: {}", crate::import::yaml_name(lower)),
        from: origin.clone(),
    });
    f.fields.push(crate::import::draft::Entry {
        yaml: format!("id: {id}"),
        from: origin,
    });
    for o in options(def).filter(|o| o.key.starts_with("vlan-")) {
        match o.key.as_str() {
            "vlan-raw-device" | "vlan-id" => {}
            "vlan-protocol" => match o.value.to_ascii_lowercase().as_str() {
                "802.1q" => field(cx, f, "protocol", "802.1Q", o),
                "802.1ad" => field(cx, f, "protocol", "802.1ad", o),
                _ => cx.bad(o, "802.1q or 802.1ad", None),
            },
            _ => cx.skip(o, "a VLAN setting netloom does not model"),
        }
    }
}

/// The VXLAN `def` into `f`.
///
/// ifupdown2 gives `vxlan-svcnodeip` (or `vxlan-mcastgrp`) to the kernel as
/// the device's default destination (IFLA_VXLAN_GROUP: iproute2's `remote`
/// or `group`), and each `vxlan-remoteip` as a zero-MAC FDB entry (head-end
/// replication). One such entry and no default destination is the same as
/// netloom's `remote`; further ones need static FDB entries, which netloom
/// does not have yet.
pub fn vxlan(cx: &mut Cx, def: &Def, f: &mut Iface) {
    let mut remote = false;
    let mut opts: Vec<&crate::import::ifupdown::stanza::Opt> = options(def)
        .filter(|o| o.key.starts_with("vxlan-"))
        .collect();
    // The default destination first, whatever the order of the lines.
    opts.sort_by_key(|o| o.key == "vxlan-remoteip");
    for o in opts {
        let k = o.key.as_str();
        match k {
            "vxlan-id" => match o.value.parse::<u32>() {
                Ok(v) => field(cx, f, "vni", &v.to_string(), o),
                Err(_) => cx.bad(o, "a VNI (a number)", None),
            },
            "vxlan-local-tunnelip" => ip(cx, f, "local", o),
            "vxlan-remoteip" | "vxlan-svcnodeip" | "vxlan-mcastgrp" => {
                for w in &o.args {
                    let Ok(addr) = w.text.parse::<std::net::IpAddr>() else {
                        cx.bad(o, "an IP address", None);
                        break;
                    };
                    let key = if addr.is_multicast() {
                        "group"
                    } else {
                        "remote"
                    };
                    if key == "remote" && remote {
                        cx.skip(o, "a further remote (ifupdown2 adds a zero-MAC FDB entry for it): a netloom vxlan has one `remote`, and no static FDB entries yet");
                        continue;
                    }
                    remote |= key == "remote";
                    field(cx, f, key, &addr.to_string(), o);
                }
            }
            "vxlan-port" => match o.value.parse::<u16>() {
                Ok(v) => field(cx, f, "dstport", &v.to_string(), o),
                Err(_) => cx.bad(o, "a UDP port", None),
            },
            "vxlan-physdev" => field(cx, f, "dev", &crate::import::yaml_name(&o.value), o),
            "vxlan-ttl" => match o.value.parse::<u8>() {
                Ok(v) => field(cx, f, "ttl", &v.to_string(), o),
                Err(_) if o.value == "auto" => {
                    let from = cx.from(o);
                    cx.note(from, "the kernel's default TTL");
                }
                Err(_) => cx.bad(o, "a TTL (0..255 or auto)", None),
            },
            "vxlan-learning" => match values::boolean(&o.value) {
                Some(b) => field(cx, f, "learning", &b.to_string(), o),
                None => cx.bad(o, "yes or no", None),
            },
            _ => cx.skip(o, "a VXLAN setting netloom does not model"),
        }
    }
}

fn ip(cx: &mut Cx, f: &mut Iface, key: &str, o: &crate::import::ifupdown::stanza::Opt) {
    match o.value.parse::<std::net::IpAddr>() {
        Ok(a) => field(cx, f, key, &a.to_string(), o),
        Err(_) => cx.bad(o, "an IP address", None),
    }
}
