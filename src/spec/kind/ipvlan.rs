//! ipvlan and ipvtap: IP-addressed sub-devices; the lower may be in another node.
use super::KindSpec;
use crate::model::IpvlanOptions;
use crate::model::LinkKind;
use crate::spec::decode::{ifref_of, Ctx, Fields};

/// IPVLAN / IPVTAP fields.
pub const FIELDS: &[&str] = &["lower", "mode", "flag"];

/// Decodes ipvlan/ipvtap options; mode defaults to `l3`.
pub fn decode(cx: &mut Ctx, f: &Fields, node: &str) -> IpvlanOptions {
    if let Some(e) = f.entry("mac") {
        cx.err(
            e.key_at,
            "an ipvlan or ipvtap has its lower's MAC address, not one of its own",
            Some("the kernel sets it to the lower's when it creates the device (ipvlan_link_new) and refuses to change it (EOPNOTSUPP): drop `mac`, or use a macvlan".into()),
        );
    }
    IpvlanOptions {
        lower: f
            .need(cx, "lower")
            .and_then(|y| ifref_of(cx, y, node, true)),
        mode: Some(
            f.word(cx, "mode", &["l2", "l3", "l3s"])
                .unwrap_or_else(|| "l3".into()),
        ),
        flag: f.word(cx, "flag", &["bridge", "private", "vepa"]),
        tap_path: None,
    }
}

/// The ipvlan kind in the file.
pub const IPVLAN: KindSpec = KindSpec {
    word: "ipvlan",
    fields: FIELDS,
    decode: |cx, f, node, _| LinkKind::Ipvlan(decode(cx, f, node)),
    mtu: (
        (68, 65535),
        "an ipvlan's MTU is 68..=65535 (ipvlan_link_setup)",
    ),
    ports: None,
    check: None,
    encode,
};

/// The ipvtap kind in the file (an ipvlan with a character device).
pub const IPVTAP: KindSpec = KindSpec {
    word: "ipvtap",
    decode: |cx, f, node, _| LinkKind::Ipvtap(decode(cx, f, node)),
    ..IPVLAN
};

/// An ipvlan's or ipvtap's fields (`mode` l3 and `flag` bridge are the defaults).
pub fn encode(kind: &LinkKind, node: &str) -> crate::spec::emit::Fields {
    use crate::spec::emit::{ifref, put};
    let (LinkKind::Ipvlan(o) | LinkKind::Ipvtap(o)) = kind else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(l) = &o.lower {
        out.push(("lower".into(), ifref(l, node)));
    }
    put(&mut out, "mode", &o.mode, Some("l3".into()));
    put(&mut out, "flag", &o.flag, Some("bridge".into()));
    out
}

#[cfg(test)]
mod tests {
    use crate::model::LinkKind;
    use crate::spec::kind::test_util::decode;

    #[test]
    fn ipvlan_mode_defaults_to_l3() {
        let (k, e) = decode("ipvlan", "{ lower: eth0, flag: private }");
        assert!(e.is_empty(), "{e:?}");
        assert!(
            matches!(k, LinkKind::Ipvlan(o) if o.mode.as_deref() == Some("l3") && o.flag.as_deref() == Some("private"))
        );
        let (_, e) = decode("ipvtap", "{ lower: eth0, mode: l4 }");
        assert!(e[0].contains("is not a valid `mode`"), "{e:?}");
    }
}
