//! macvlan and macvtap: MAC-addressed sub-devices; the lower may be in another node.
use std::collections::BTreeMap;

use super::KindSpec;
use crate::model::{IfRef, Link, LinkKind, MacvlanOptions, Node};
use crate::spec::decode::{ifref_of, mac_of, Ctx, Fields};

/// MACVLAN / MACVTAP fields.
pub const FIELDS: &[&str] = &["lower", "mode", "source_macs"];

/// `mode` words.
pub const MODES: &[&str] = &["private", "vepa", "bridge", "passthru", "source"];

/// Decodes macvlan/macvtap options; mode defaults to `bridge`.
pub fn decode(cx: &mut Ctx, f: &Fields, node: &str) -> MacvlanOptions {
    let lower = f
        .need(cx, "lower")
        .and_then(|y| ifref_of(cx, y, node, true));
    let mode = f.word(cx, "mode", MODES).unwrap_or_else(|| "bridge".into());
    let mut source_macs = Vec::new();
    for y in f.list(cx, "source_macs") {
        source_macs.extend(mac_of(cx, y));
    }
    if let Some(e) = f.entry("source_macs") {
        if mode != "source" {
            cx.err(
                e.key_at,
                "`source_macs` only applies to mode `source`",
                Some(format!(
                    "remove it, or set `mode: source` (mode is `{mode}`)"
                )),
            );
        }
    }
    if mode == "source"
        && f.get("source_macs")
            .is_none_or(|y| matches!(&y.value, crate::spec::yaml::Value::Seq(v) if v.is_empty()))
    {
        cx.err(
            f.at,
            "mode `source` needs a non-empty `source_macs` list",
            Some("list the MAC addresses allowed to send through this device".into()),
        );
    }
    if let (true, Some(e)) = (mode == "passthru", f.entry("mac")) {
        cx.err(
            e.key_at,
            "a passthru macvlan has its lower's MAC address",
            Some("the kernel gives it the lower's address when it creates it (macvlan_common_newlink), and a change of it changes the lower's: drop `mac`, or set it on the lower".into()),
        );
    }
    MacvlanOptions {
        lower,
        mode: Some(mode),
        source_macs,
        tap_path: None,
    }
}

/// The device a macvlan's frames really arrive on: a macvlan made on a
/// macvlan joins its lower's (macvlan_common_newlink), so follow the chain.
fn real_lower<'a>(
    nodes: &'a BTreeMap<String, Node>,
    mut r: &'a IfRef,
) -> Option<(&'a IfRef, &'a Link)> {
    for _ in 0..16 {
        let l = nodes.get(&r.node)?.links.get(&r.name)?;
        match &l.kind {
            LinkKind::Macvlan(o) | LinkKind::Macvtap(o) => r = o.lower.as_ref()?,
            _ => return Some((r, l)),
        }
    }
    None
}

/// What the kernel's macvlan port (one per lower, shared by its macvlan and
/// macvtap devices) refuses across them: a `passthru` device takes the
/// lower alone (macvlan_common_newlink: EINVAL either way round), and two
/// devices that are up may not have one MAC address, nor one the lower's
/// (macvlan_open, macvlan_addr_busy: EADDRINUSE).
pub fn check(cx: &mut Ctx, nodes: &BTreeMap<String, Node>) {
    let mut ports: BTreeMap<&IfRef, Vec<(IfRef, &Link, &MacvlanOptions)>> = BTreeMap::new();
    let mut lowers: BTreeMap<&IfRef, &Link> = BTreeMap::new();
    for (node, n) in nodes {
        for (name, l) in &n.links {
            let (LinkKind::Macvlan(o) | LinkKind::Macvtap(o)) = &l.kind else {
                continue;
            };
            let Some((lower, low)) = o.lower.as_ref().and_then(|r| real_lower(nodes, r)) else {
                continue;
            };
            let me = IfRef {
                node: node.clone(),
                name: name.clone(),
            };
            ports.entry(lower).or_default().push((me, l, o));
            lowers.insert(lower, low);
        }
    }
    for (lower, mut devs) in ports {
        // In file order, so the error points at the later of two.
        devs.sort_by_key(|(me, _, _)| cx.loc(&format!("{me}#lower"), &me.to_string()).offset);
        let passthru = |o: &MacvlanOptions| o.mode.as_deref() == Some("passthru");
        if let Some(pi) = devs.iter().position(|d| passthru(d.2)) {
            let p = &devs[pi].0;
            for (i, (me, _, _)) in devs.iter().enumerate().filter(|(i, _)| *i != pi) {
                let (later, other) = if i > pi { (me, p) } else { (p, me) };
                let at = cx.loc(&format!("{later}#lower"), &later.to_string());
                cx.err(
                    at,
                    format!("lower `{lower}` carries `{other}` too; a passthru macvlan or macvtap must be the only one on its lower (the kernel refuses the second: EINVAL)"),
                    Some("give them different lower devices, or use mode bridge, vepa or private for both".into()),
                );
            }
            continue;
        }
        let own = lowers.get(lower).and_then(|l| l.mac);
        let mut macs: BTreeMap<crate::model::MacAddr, &IfRef> = BTreeMap::new();
        for (me, l, _) in devs.iter().filter(|d| d.1.up != Some(false)) {
            let Some(mac) = l.mac else { continue };
            let clash = if own == Some(mac) {
                Some(format!("the MAC address of its lower `{lower}`"))
            } else {
                macs.insert(mac, me).map(|first| {
                    format!("the MAC address of `{first}` on the same lower `{lower}`")
                })
            };
            if let Some(what) = clash {
                let at = cx.loc(&format!("{me}#mac"), &me.to_string());
                cx.err(
                    at,
                    format!("`{me}` has MAC address {mac}, {what}; the kernel refuses to bring it up (EADDRINUSE)"),
                    Some("give each macvlan on a lower its own MAC address (or none, for a random one)".into()),
                );
            }
        }
    }
}

/// The macvlan kind in the file.
pub const MACVLAN: KindSpec = KindSpec {
    word: "macvlan",
    fields: FIELDS,
    decode: |cx, f, node, _| LinkKind::Macvlan(decode(cx, f, node)),
    mtu: (
        (68, 65535),
        "a macvlan's MTU is 68..=65535 at creation (macvlan_common_setup), and at most its lower's",
    ),
    ports: None,
    check: Some(check),
    encode,
};

/// The macvtap kind in the file (a macvlan with a character device).
pub const MACVTAP: KindSpec = KindSpec {
    word: "macvtap",
    decode: |cx, f, node, _| LinkKind::Macvtap(decode(cx, f, node)),
    check: None,
    ..MACVLAN
};

/// A macvlan's or macvtap's fields (`mode` bridge is the default).
pub fn encode(kind: &LinkKind, node: &str) -> crate::spec::emit::Fields {
    use crate::spec::emit::{ifref, put, Out};
    let (LinkKind::Macvlan(o) | LinkKind::Macvtap(o)) = kind else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(l) = &o.lower {
        out.push(("lower".into(), ifref(l, node)));
    }
    put(&mut out, "mode", &o.mode, Some("bridge".into()));
    if !o.source_macs.is_empty() {
        out.push(("source_macs".into(), Out::list(&o.source_macs)));
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::model::LinkKind;
    use crate::spec::kind::test_util::{decode, file_errors};

    #[test]
    fn the_macvlan_port_rules_hold_through_stacked_macvlans() {
        // mv1 on mv0 joins up0's port, where mv0 is passthru.
        let e = file_errors(&[
            "up0: { kind: tap }",
            "mv0: { kind: macvlan, lower: up0, mode: passthru }",
            "mv1: { kind: macvtap, lower: mv0 }",
        ]);
        assert!(
            e.len() == 1 && e[0].contains("must be the only one"),
            "{e:?}"
        );
        // The lower's own MAC, and a clash that only counts while both are up.
        let e = file_errors(&[
            "up0: { kind: tap, mac: '02:00:00:00:00:01' }",
            "mv0: { kind: macvlan, lower: up0, mac: '02:00:00:00:00:01' }",
        ]);
        assert!(
            e.len() == 1 && e[0].contains("the MAC address of its lower"),
            "{e:?}"
        );
        let e = file_errors(&[
            "up0: { kind: tap }",
            "mv0: { kind: macvlan, lower: up0, mac: '02:00:00:00:00:02' }",
            "mv1: { kind: macvlan, lower: up0, mac: '02:00:00:00:00:02', state: down }",
            "mv2: { kind: macvlan, lower: up0, mac: '02:00:00:00:00:03' }",
        ]);
        assert!(e.is_empty(), "{e:?}");
        let (_, e) = decode(
            "macvlan",
            "{ lower: eth0, mode: passthru, source_macs: ['01:00:00:00:00:01'] }",
        );
        assert_eq!(e.len(), 2, "{e:?}");
    }

    #[test]
    fn macvlan_lower_mode_and_source_macs() {
        let (k, e) = decode("macvlan", "{ lower: wire/eth0 }");
        assert!(e.is_empty(), "{e:?}");
        let LinkKind::Macvlan(m) = k else { panic!() };
        assert_eq!(m.mode.as_deref(), Some("bridge"));
        assert_eq!(m.lower.map(|l| l.node).as_deref(), Some("wire"));
        let (_, e) = decode(
            "macvlan",
            "{ lower: eth0, mode: source, source_macs: [02:00:00:00:00:01] }",
        );
        assert!(e.is_empty(), "{e:?}");
        let (_, e) = decode("macvtap", "{ lower: eth0, mode: source }");
        assert!(e[0].contains("non-empty"), "{e:?}");
        let (_, e) = decode("macvlan", "{ mode: bridge }");
        assert!(e[0].contains("needs `lower`"), "{e:?}");
    }
}
