//! vxlan: `kind: vxlan`, a tunnel endpoint with exactly one of remote or group.
use crate::model::VxlanOptions;
use crate::spec::decode::{ifref_of, Ctx, Fields};

/// VXLAN fields.
pub const FIELDS: &[&str] = &[
    "vni", "local", "remote", "group", "dev", "dstport", "ttl", "learning",
];

/// The IANA VXLAN port, netloom's default (the kernel's own default is 8472).
pub const DSTPORT: u16 = 4789;

/// Decodes a VXLAN's options.
pub fn decode(cx: &mut Ctx, f: &Fields, node: &str) -> VxlanOptions {
    let vni = f
        .need(cx, "vni")
        .and_then(|_| f.uint(cx, "vni", 1, 16_777_215))
        .and_then(|v| u32::try_from(v).ok())
        .unwrap_or(0);
    let remote = f.ip(cx, "remote");
    let group = f.ip(cx, "group");
    match (f.get("remote"), f.get("group")) {
        (None, None) => cx.err(
            f.at,
            "a vxlan needs `remote` or `group`",
            Some("give the peer's underlay address as `remote`, or a multicast `group`".into()),
        ),
        (Some(_), Some(g)) => cx.err(g.at, "a vxlan takes `remote` or `group`, not both", None),
        _ => {}
    }
    if let (Some(g), Some(y)) = (group, f.get("group")) {
        if !g.is_multicast() {
            cx.err(
                y.at,
                format!("group `{g}` is not a multicast address"),
                Some("use `remote` for a unicast peer".into()),
            );
        }
    }
    VxlanOptions {
        vni,
        local: f.ip(cx, "local"),
        remote,
        group,
        dev: f.get("dev").and_then(|y| ifref_of(cx, y, node, false)),
        dstport: Some(f.u16(cx, "dstport", 1, u16::MAX).unwrap_or(DSTPORT)),
        ttl: f.uint(cx, "ttl", 0, 255).and_then(|v| u8::try_from(v).ok()),
        learning: f.bool(cx, "learning"),
    }
}

#[cfg(test)]
mod tests {
    use crate::model::LinkKind;
    use crate::spec::kind::test_util::decode;

    #[test]
    fn vxlan_defaults_and_exclusive_peer() {
        let (k, e) = decode("vxlan", "{ vni: 100, remote: 10.9.0.2 }");
        assert!(e.is_empty(), "{e:?}");
        assert!(matches!(k, LinkKind::Vxlan(v) if v.dstport == Some(4789) && v.vni == 100));
        let (_, e) = decode("vxlan", "{ vni: 1, remote: 10.9.0.2, group: 239.1.1.1 }");
        assert!(e[0].contains("not both"), "{e:?}");
        let (_, e) = decode("vxlan", "{ vni: 1, group: 239.1.1.1 }");
        assert!(e.is_empty(), "{e:?}");
        let (_, e) = decode("vxlan", "{ remote: 10.0.0.1/24 }");
        assert_eq!(e.len(), 2, "{e:?}");
    }
}
