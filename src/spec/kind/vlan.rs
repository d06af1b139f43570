//! vlan: `kind: vlan` on a lower device in the same node.
use std::collections::BTreeMap;

use crate::model::{IfRef, LinkKind, Node, VlanOptions};
use crate::spec::decode::{ifref_of, str_of, Ctx, Fields};

use super::bridge::vlan_protocol;
use super::KindSpec;

/// VLAN fields.
pub const FIELDS: &[&str] = &[
    "lower",
    "id",
    "protocol",
    "reorder_hdr",
    "gvrp",
    "mvrp",
    "loose_binding",
    "ingress_qos_map",
    "egress_qos_map",
];

/// Decodes a VLAN's options.
pub fn decode(cx: &mut Ctx, f: &Fields, node: &str) -> VlanOptions {
    let lower = f
        .need(cx, "lower")
        .and_then(|y| ifref_of(cx, y, node, false));
    let id = f
        .need(cx, "id")
        .and_then(|_| f.u16(cx, "id", 0, 4094))
        .unwrap_or(0);
    VlanOptions {
        lower,
        id,
        protocol: f
            .word(cx, "protocol", &["802.1Q", "802.1ad"])
            .map(|w| vlan_protocol(&w)),
        reorder_hdr: f.bool(cx, "reorder_hdr"),
        gvrp: f.bool(cx, "gvrp"),
        mvrp: f.bool(cx, "mvrp"),
        loose_binding: f.bool(cx, "loose_binding"),
        ingress_qos_map: qos_map(cx, f, "ingress_qos_map"),
        egress_qos_map: qos_map(cx, f, "egress_qos_map"),
    }
}

/// The kernel lets a lower carry one vlan per protocol and id
/// (vlan_check_real_dev: EEXIST).
pub fn check(cx: &mut Ctx, nodes: &BTreeMap<String, Node>) {
    let mut seen: BTreeMap<(IfRef, u16, u16), String> = BTreeMap::new();
    for (node, n) in nodes {
        for (name, l) in &n.links {
            let LinkKind::Vlan(o) = &l.kind else { continue };
            let Some(lower) = &o.lower else { continue };
            let proto = o.protocol.unwrap_or(0x8100);
            let me = format!("{node}/{name}");
            // vlan_dev_open: ENETDOWN while the lower is down, unless
            // loose_binding.
            let lower_down = nodes
                .get(&lower.node)
                .and_then(|n| n.links.get(&lower.name))
                .is_some_and(|x| x.up == Some(false));
            if l.up == Some(true) && lower_down && o.loose_binding != Some(true) {
                let at = cx.loc(&format!("{me}#state"), &me);
                cx.err(
                    at,
                    format!("vlan `{me}` is up but its lower `{lower}` is down; the kernel opens a vlan only over an open lower (vlan_dev_open: ENETDOWN)"),
                    Some("set the vlan `state: down`, bring its lower up, or set `loose_binding: true`".into()),
                );
            }
            match seen.get(&(lower.clone(), proto, o.id)) {
                None => {
                    seen.insert((lower.clone(), proto, o.id), me);
                }
                Some(first) => {
                    let at = cx.loc(&format!("{me}#id"), &me);
                    let word = if proto == 0x88a8 { "802.1ad" } else { "802.1Q" };
                    cx.err(
                        at,
                        format!("vlan {} ({word}) on `{lower}` is already `{first}`; the kernel allows one vlan per id and protocol on a lower (EEXIST)", o.id),
                        Some("give one of them another `id`, `protocol` or `lower`".into()),
                    );
                }
            }
        }
    }
}

/// `["0:1", "2:3"]` -> [(0, 1), (2, 3)].
fn qos_map(cx: &mut Ctx, f: &Fields, key: &str) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    for y in f.list(cx, key) {
        let Some(t) = str_of(cx, y) else { continue };
        let pair = t
            .split_once(':')
            .and_then(|(a, b)| Some((a.trim().parse().ok()?, b.trim().parse().ok()?)));
        match pair {
            Some(p) => out.push(p),
            None => cx.err(
                y.at,
                format!("`{t}` is not a FROM:TO pair"),
                Some("write two numbers like \"2:5\"".into()),
            ),
        }
    }
    out
}

/// The vlan kind in the file.
pub const SPEC: KindSpec = KindSpec {
    word: "vlan",
    fields: FIELDS,
    decode: |cx, f, node, _| LinkKind::Vlan(decode(cx, f, node)),
    mtu: (
        (0, 65535),
        "a vlan's MTU is 0..=65535 (vlan_setup), and at most its lower's (vlan_dev_change_mtu)",
    ),
    ports: None,
    check: Some(check),
    encode,
};

/// A vlan's fields (802.1Q, reorder_hdr on, the rest off by default).
pub fn encode(kind: &LinkKind, node: &str) -> crate::spec::emit::Fields {
    use crate::spec::emit::{ifref, put, Out};
    let LinkKind::Vlan(o) = kind else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(l) = &o.lower {
        out.push(("lower".into(), ifref(l, node)));
    }
    out.push(("id".into(), Out::of(o.id)));
    if o.protocol == Some(0x88a8) {
        out.push(("protocol".into(), Out::of("802.1ad")));
    }
    put(&mut out, "reorder_hdr", &o.reorder_hdr, Some(true));
    put(&mut out, "gvrp", &o.gvrp, Some(false));
    put(&mut out, "mvrp", &o.mvrp, Some(false));
    put(&mut out, "loose_binding", &o.loose_binding, Some(false));
    for (key, map) in [
        ("ingress_qos_map", &o.ingress_qos_map),
        ("egress_qos_map", &o.egress_qos_map),
    ] {
        if !map.is_empty() {
            let pairs: Vec<String> = map.iter().map(|(a, b)| format!("{a}:{b}")).collect();
            out.push((key.into(), Out::list(pairs)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::model::LinkKind;
    use crate::spec::kind::test_util::decode;

    #[test]
    fn vlan_id_lower_and_qos_maps() {
        let (k, e) = decode(
            "vlan",
            "{ lower: eth0, id: 2, protocol: 802.1Q, egress_qos_map: ['1:2'] }",
        );
        assert!(e.is_empty(), "{e:?}");
        let LinkKind::Vlan(v) = k else { panic!() };
        assert_eq!(
            (v.id, v.protocol, v.egress_qos_map[0]),
            (2, Some(0x8100), (1, 2))
        );
        assert_eq!(v.lower.map(|l| l.to_string()).as_deref(), Some("n/eth0"));
        let (_, e) = decode("vlan", "{ lower: x/eth0, ingress_qos_map: [nope] }");
        assert_eq!(e.len(), 3, "{e:?}");
    }
}
