//! macvlan and macvtap: MAC-addressed sub-devices; the lower may be in another node.
use crate::model::MacvlanOptions;
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
    MacvlanOptions {
        lower,
        mode: Some(mode),
        source_macs,
        tap_path: None,
    }
}

#[cfg(test)]
mod tests {
    use crate::model::LinkKind;
    use crate::spec::kind::test_util::decode;

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
