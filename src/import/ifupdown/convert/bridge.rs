//! Bridges: bridge-utils-interfaces(5) (`bridge_ports all|none|LIST`,
//! `bridge_stp`, `bridge_fd`, `bridge_hello`, `bridge_maxage`,
//! `bridge_ageing`, `bridge_bridgeprio`, `bridge_portprio PORT N`,
//! `bridge_pathcost PORT N`, `bridge_hw`; times in seconds) and
//! ifupdown2's bridge.py (`bridge-vlan-aware`, `bridge-vids` alias
//! `bridge-trunk`, `bridge-pvid`, `bridge-access`, `bridge-learning`,
//! `PORT=VALUE` lists, `glob` port ranges).
use std::collections::BTreeMap;

use super::{field, options, port, Cx};
use crate::import::draft::{Entry, Iface};
use crate::import::ifupdown::merge::Def;
use crate::import::ifupdown::stanza::Opt;
use crate::import::ifupdown::values;

/// Options a port's own stanza carries for its bridge (ifupdown2).
pub const PORT_KEYS: &[&str] = &[
    "bridge-access",
    "bridge-vids",
    "bridge-trunk",
    "bridge-pvid",
    "bridge-learning",
    "bridge-unicast-flood",
    "bridge-portprios",
    "bridge-pathcosts",
    "bridge-arp-nd-suppress",
    "bridge-allow-untagged",
    "bridge-multicast-flood",
    "bridge-broadcast-flood",
    "bridge-portmcrouter",
    "bridge-portmcfl",
    "bridge-l2protocol-tunnel",
];

/// A port's own VLAN settings (ifupdown2), applied when its bridge is VLAN-aware.
#[derive(Debug, Clone, Default)]
pub struct PortVlans {
    /// `bridge-vids` of the port.
    pub vids: Option<(Vec<u16>, Opt)>,
    /// `bridge-pvid` of the port.
    pub pvid: Option<(u16, Opt)>,
    /// `bridge-access` of the port.
    pub access: Option<(u16, Opt)>,
}

/// The ports `def`'s `bridge-ports` lines name (with the line), globs
/// expanded; `all`, `none` and `regex` name none here.
pub fn port_names(def: &Def) -> Vec<(String, Opt)> {
    let mut out = Vec::new();
    for o in options(def).filter(|o| o.key == "bridge-ports") {
        for (name, _) in port_words(o) {
            if let Some(n) = name {
                if !out.iter().any(|(x, _): &(String, Opt)| *x == n) {
                    out.push((n, o.clone()));
                }
            }
        }
    }
    out
}

/// The words of a port list: each a port name, or `None` with a reason
/// why it names none netloom can know.
pub fn port_words(o: &Opt) -> Vec<(Option<String>, Option<&'static str>)> {
    let mut out = Vec::new();
    let mut mode = "";
    for w in &o.args {
        match w.text.as_str() {
            "none" => {}
            "all" => out.push((None, Some("`all` means every Ethernet port the machine has when ifup runs, which a file cannot know"))),
            "glob" | "regex" => mode = if w.text == "glob" { "glob" } else { "regex" },
            "noglob" | "noregex" => mode = "",
            name if mode == "regex" => {
                let _ = name;
                out.push((None, Some("a `regex` port list matches the interfaces present when ifup runs, which a file cannot know")));
                mode = "";
            }
            name if mode == "glob" => {
                match values::glob(name) {
                    Some(names) => out.extend(names.into_iter().map(|n| (Some(n), None))),
                    None => out.push((Some(name.to_string()), None)),
                }
                mode = "";
            }
            name => out.push((Some(name.to_string()), None)),
        }
    }
    out
}

/// Read the bridge options of a port's own stanza into `cx` for its bridge.
pub fn port_stanza(cx: &mut Cx, def: &Def) {
    if matches!(cx.kinds.get(&def.name), Some(super::Kind::Bridge)) {
        return;
    }
    let mut vl = PortVlans::default();
    for o in options(def).filter(|o| PORT_KEYS.contains(&o.key.as_str())) {
        let k = o.key.as_str();
        match k {
            "bridge-vids" | "bridge-trunk" => match vids(cx, o) {
                Some(v) => vl.vids = Some((v, o.clone())),
                None => continue,
            },
            "bridge-pvid" | "bridge-access" => {
                let Some(v) = vid(cx, o) else { continue };
                if k == "bridge-pvid" {
                    vl.pvid = Some((v, o.clone()));
                } else {
                    vl.access = Some((v, o.clone()));
                }
            }
            "bridge-learning" | "bridge-unicast-flood" => {
                let Some(b) = values::boolean(&o.value) else {
                    cx.bad(o, "on or off", None);
                    continue;
                };
                let key = if k == "bridge-learning" {
                    "learning"
                } else {
                    "flood"
                };
                let e = cx.entry(format!("{key}: {b}"), o);
                cx.port_fields.entry(def.name.clone()).or_default().push(e);
            }
            "bridge-portprios" | "bridge-pathcosts"
                if o.args.len() == 1 && !o.value.contains('=') =>
            {
                let key = if k == "bridge-portprios" {
                    "priority"
                } else {
                    "cost"
                };
                if o.value.parse::<u32>().is_err() {
                    cx.bad(o, "a number", None);
                    continue;
                }
                let e = cx.entry(format!("{key}: {}", o.value), o);
                cx.port_fields.entry(def.name.clone()).or_default().push(e);
            }
            _ => cx.skip(o, "a bridge port setting netloom does not model"),
        }
    }
    if vl.vids.is_some() || vl.pvid.is_some() || vl.access.is_some() {
        cx.port_vlans.insert(def.name.clone(), vl);
    }
}

fn vids(cx: &mut Cx, o: &Opt) -> Option<Vec<u16>> {
    let words: Vec<&str> = o.args.iter().map(|w| w.text.as_str()).collect();
    let v = values::vids(&words);
    if v.is_none() {
        cx.bad(
            o,
            "a list of VLAN ids and ranges",
            Some("write ids 1..4094 and ranges: `10 20-30`"),
        );
    }
    v
}

fn vid(cx: &mut Cx, o: &Opt) -> Option<u16> {
    match o.value.parse::<u16>() {
        Ok(v) if (1..=4094).contains(&v) => Some(v),
        _ => {
            cx.bad(o, "a VLAN id (1..4094)", None);
            None
        }
    }
}

/// The bridge `def` into `f`.
pub fn bridge(cx: &mut Cx, def: &Def, f: &mut Iface) {
    let mut aware = false;
    let mut defaults = PortVlans::default();
    let mut pairs: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
    for o in options(def).filter(|o| o.key.starts_with("bridge-")) {
        let k = o.key.as_str();
        let seconds = |name: &str| {
            (
                name.to_string(),
                "seconds (bridge-utils' unit; netloom writes centiseconds)",
            )
        };
        match k {
            "bridge-ports" => {
                for (name, why) in port_words(o) {
                    match (name, why) {
                        (Some(n), _) => {
                            if !f.ports.iter().any(|p| p.name == n) {
                                let from = cx.from(o);
                                f.ports.push(port(&n, from));
                            }
                        }
                        (None, Some(why)) => cx.skip(o, why),
                        (None, None) => {}
                    }
                }
            }
            "bridge-stp" => match values::boolean(&o.value) {
                Some(b) => field(cx, f, "stp", &b.to_string(), o),
                None => cx.bad(o, "on or off", None),
            },
            "bridge-fd" | "bridge-hello" | "bridge-maxage" | "bridge-ageing" => {
                let (key, what) = match k {
                    "bridge-fd" => seconds("forward_delay"),
                    "bridge-hello" => seconds("hello_time"),
                    "bridge-maxage" => seconds("max_age"),
                    _ => seconds("ageing_time"),
                };
                match values::centiseconds(&o.value) {
                    Some(cs) => field(cx, f, &key, &cs.to_string(), o),
                    None => cx.bad(o, what, None),
                }
            }
            "bridge-bridgeprio" => match o.value.parse::<u32>() {
                Ok(p) => field(cx, f, "priority", &p.to_string(), o),
                Err(_) => cx.bad(o, "a bridge priority (a number)", None),
            },
            "bridge-hw" => match values::mac(&o.value) {
                Some(m) => field(cx, f, "mac", &m, o),
                None => cx.bad(o, "a MAC address", None),
            },
            "bridge-mcsnoop" => match values::boolean(&o.value) {
                Some(b) => field(cx, f, "mcast_snooping", &b.to_string(), o),
                None => cx.bad(o, "0 or 1", None),
            },
            "bridge-vlan-aware" => match values::boolean(&o.value) {
                Some(b) => {
                    aware = b;
                    field(cx, f, "vlan_filtering", &b.to_string(), o);
                }
                None => cx.bad(o, "yes or no", None),
            },
            "bridge-vlan-protocol" => match o.value.to_ascii_lowercase().as_str() {
                "802.1q" => field(cx, f, "vlan_protocol", "802.1Q", o),
                "802.1ad" => field(cx, f, "vlan_protocol", "802.1ad", o),
                _ => cx.bad(o, "802.1q or 802.1ad", None),
            },
            "bridge-vids" | "bridge-trunk" => {
                if let Some(v) = vids(cx, o) {
                    defaults.vids = Some((v, o.clone()));
                }
            }
            "bridge-pvid" => {
                if let Some(v) = vid(cx, o) {
                    defaults.pvid = Some((v, o.clone()));
                }
            }
            "bridge-portprio"
            | "bridge-portprios"
            | "bridge-pathcost"
            | "bridge-pathcosts"
            | "bridge-learning"
            | "bridge-unicast-flood" => {
                let key = match k {
                    "bridge-portprio" | "bridge-portprios" => "priority",
                    "bridge-pathcost" | "bridge-pathcosts" => "cost",
                    "bridge-learning" => "learning",
                    _ => "flood",
                };
                port_pairs(cx, o, key, &mut pairs);
            }
            "bridge-maxwait" | "bridge-waitport" => {
                let from = cx.from(o);
                cx.note(
                    from,
                    "how long ifup waits for ports; no setting of the network",
                );
            }
            "bridge-gcint" => cx.skip(
                o,
                "the garbage collection interval, gone from the kernel since Linux 2.6",
            ),
            _ => cx.skip(o, "a bridge setting netloom does not model"),
        }
    }
    for p in &mut f.ports {
        if let Some(extra) = pairs.remove(&p.name) {
            p.fields.extend(extra);
        }
    }
    for (name, entries) in pairs {
        for e in entries {
            cx.d.skipped.push(crate::import::Skip {
                from: e.from,
                reason: format!("{name} is not a port of {}", def.name),
            });
        }
    }
    port_vlans(cx, f, aware, &defaults);
}

/// `PORT VALUE` pairs (bridge-utils) or `PORT=VALUE` words (ifupdown2) for
/// port option `key`.
fn port_pairs(cx: &mut Cx, o: &Opt, key: &str, out: &mut BTreeMap<String, Vec<Entry>>) {
    let words: Vec<&str> = o.args.iter().map(|w| w.text.as_str()).collect();
    let mut list: Vec<(String, String)> = Vec::new();
    if words.iter().all(|w| w.contains('=')) {
        for w in &words {
            let (p, v) = w.split_once('=').unwrap_or((w, ""));
            list.push((p.to_string(), v.to_string()));
        }
    } else if words.len() % 2 == 0 {
        for pair in words.chunks(2) {
            list.push((pair[0].to_string(), pair[1].to_string()));
        }
    } else {
        cx.bad(o, "a list of PORT VALUE pairs", Some("bridge-utils reads `bridge_portprio eth0 10`; ifupdown2 reads `bridge-portprios eth0=10`"));
        return;
    }
    for (p, v) in list {
        let value = if matches!(key, "learning" | "flood") {
            match values::boolean(&v) {
                Some(b) => b.to_string(),
                None => {
                    cx.bad(o, "a list of PORT=on|off", None);
                    return;
                }
            }
        } else if v.parse::<u32>().is_ok() {
            v
        } else {
            cx.bad(o, "a list of ports with numbers", None);
            return;
        };
        let e = cx.entry(format!("{key}: {value}"), o);
        out.entry(p).or_default().push(e);
    }
}

/// The VLANs of each port of a VLAN-aware bridge, as ifupdown2 sets them:
/// the port's `bridge-access` VLAN alone (untagged, PVID), else its own or
/// the bridge's `bridge-vids` tagged and its own or the bridge's
/// `bridge-pvid` (default 1) untagged as PVID. netloom sets a port's VLANs
/// to exactly the list, so the PVID is written too.
fn port_vlans(cx: &mut Cx, f: &mut Iface, aware: bool, defaults: &PortVlans) {
    for p in &mut f.ports {
        let own = cx.port_vlans.remove(&p.name).unwrap_or_default();
        let any = own.vids.is_some() || own.pvid.is_some() || own.access.is_some();
        if !aware {
            for (_, o) in [
                own.vids.map(|(_, o)| ((), o)),
                own.pvid.map(|(_, o)| ((), o)),
                own.access.map(|(_, o)| ((), o)),
            ]
            .into_iter()
            .flatten()
            {
                cx.skip(&o, "a port VLAN setting, but its bridge is not VLAN-aware (`bridge-vlan-aware yes`)");
            }
            continue;
        }
        if !any && defaults.vids.is_none() && defaults.pvid.is_none() {
            continue;
        }
        let (list, from): (Vec<(u16, bool)>, &Opt) = if let Some((a, o)) = &own.access {
            (vec![(*a, true)], o)
        } else {
            let vids = own.vids.as_ref().or(defaults.vids.as_ref());
            let pvid = own.pvid.as_ref().or(defaults.pvid.as_ref());
            let from = vids.map(|(_, o)| o).or(pvid.map(|(_, o)| o));
            let Some(from) = from else { continue };
            let pv = pvid.map_or(1, |(v, _)| *v);
            let mut list = vec![(pv, true)];
            list.extend(
                vids.map(|(v, _)| v.as_slice())
                    .unwrap_or(&[])
                    .iter()
                    .filter(|v| **v != pv)
                    .map(|v| (*v, false)),
            );
            (list, from)
        };
        // In VLAN order, as the kernel lists them (and netloom compares them).
        let mut list = list;
        list.sort();
        let items: Vec<String> = list
            .iter()
            .map(|(v, pvid)| {
                if *pvid {
                    format!("{{ vid: {v}, pvid: true, untagged: true }}")
                } else {
                    v.to_string()
                }
            })
            .collect();
        let e = cx.entry(format!("vlans: [{}]", items.join(", ")), from);
        p.fields.push(e);
    }
    if !aware {
        for (_, o) in [
            defaults.vids.clone().map(|(_, o)| ((), o)),
            defaults.pvid.clone().map(|(_, o)| ((), o)),
        ]
        .into_iter()
        .flatten()
        {
            cx.skip(
                &o,
                "VLANs of ports, but the bridge is not VLAN-aware (`bridge-vlan-aware yes`)",
            );
        }
    }
}
