//! What is settled once every interface is converted: VLAN devices on
//! VLAN-aware bridges give the bridge their VLAN, and port settings no
//! master took are listed.
use std::collections::BTreeMap;

use super::Cx;
use crate::import::draft::{Entry, From};
use crate::import::Skip;

/// A VLAN device on a VLAN-aware bridge gets its VLAN on the bridge
/// itself (ifupdown2's vlan.py `_bridge_vid_add_del`: `bridge vlan add vid
/// N dev BRIDGE self`), beside the PVID 1 the kernel gives the bridge
/// (netloom sets the list exactly).
pub fn self_vlans(cx: &mut Cx) {
    let ifaces = &mut cx.d.ifaces;
    let mut wanted: Vec<(usize, u16, From)> = Vec::new();
    for v in ifaces.iter().filter(|f| f.kind.as_deref() == Some("vlan")) {
        let get = |k: &str| {
            v.fields.iter().find_map(|e| {
                e.yaml
                    .strip_prefix(k)
                    .map(|x| (x.to_string(), e.from.clone()))
            })
        };
        let (Some((lower, from)), Some((id, _))) = (get("lower: "), get("id: ")) else {
            continue;
        };
        let Ok(id) = id.parse::<u16>() else { continue };
        let bridge = ifaces.iter().position(|b| {
            crate::import::yaml_name(&b.name) == lower
                && b.kind.as_deref() == Some("bridge")
                && b.fields.iter().any(|e| e.yaml == "vlan_filtering: true")
        });
        if let (Some(b), true) = (bridge, id > 0) {
            wanted.push((b, id, from));
        }
    }
    let mut by_bridge: BTreeMap<usize, (Vec<u16>, From)> = BTreeMap::new();
    for (b, id, from) in wanted {
        let e = by_bridge.entry(b).or_insert_with(|| (vec![1], from));
        if !e.0.contains(&id) {
            e.0.push(id);
        }
    }
    for (b, (mut ids, from)) in by_bridge {
        ids.sort();
        let items: Vec<String> = ids
            .iter()
            .map(|v| {
                if *v == 1 {
                    "{ vid: 1, pvid: true, untagged: true }".to_string()
                } else {
                    v.to_string()
                }
            })
            .collect();
        ifaces[b].fields.push(Entry {
            yaml: format!("vlans: [{}]", items.join(", ")),
            from: From {
                at: from.at,
                text: format!("{} (its VLAN on the bridge itself)", from.text),
            },
        });
    }
}

/// Port settings whose port no bridge or bond took.
pub fn leftovers(cx: &mut Cx) {
    for (name, entries) in std::mem::take(&mut cx.port_fields) {
        for e in entries {
            cx.d.skipped.push(Skip {
                from: e.from,
                reason: format!("a bridge port setting, but {name} is no bridge's port"),
            });
        }
    }
    for (name, v) in std::mem::take(&mut cx.port_vlans) {
        for o in [
            v.vids.map(|x| x.1),
            v.pvid.map(|x| x.1),
            v.access.map(|x| x.1),
        ]
        .into_iter()
        .flatten()
        {
            cx.skip(
                &o,
                &format!("a bridge port VLAN setting, but {name} is no bridge's port"),
            );
        }
    }
    for (bond, ports) in std::mem::take(&mut cx.bond_ports) {
        for p in ports {
            cx.d.skipped.push(Skip {
                from: p.from,
                reason: format!("{bond} is not imported as a bond"),
            });
        }
    }
}
