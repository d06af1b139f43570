//! tun and tap: `kind: tun` / `kind: tap`, always persistent devices.
use super::KindSpec;
use crate::model::LinkKind;
use crate::model::TunOptions;
use crate::spec::decode::{Ctx, Fields};

/// tun/tap fields.
pub const FIELDS: &[&str] = &["owner", "group", "multi_queue", "persist"];

/// Decodes tun/tap options; `kind` is `tun` or `tap`.
pub fn decode(cx: &mut Ctx, f: &Fields, kind: &str) -> TunOptions {
    let persist = f.bool(cx, "persist");
    if let (Some(false), Some(y)) = (persist, f.get("persist")) {
        cx.err(
            y.at,
            "`persist: false` is not possible",
            Some("netloom creates the device and exits, so it must outlive netloom's file descriptor; remove `persist` or set it true".into()),
        );
    }
    if let (true, Some(e)) = (kind == "tun", f.entry("mac")) {
        cx.err(
            e.key_at,
            "a tun device has no MAC address",
            Some("a tun carries IP packets, not Ethernet frames (the kernel answers EOPNOTSUPP): drop `mac`, or use `kind: tap`".into()),
        );
    }
    // make_kuid/make_kgid of (uid_t)-1 is INVALID_UID: TUNSETOWNER and
    // TUNSETGROUP answer EINVAL (tun_chr_ioctl).
    let id = |cx: &mut Ctx, key: &str| {
        f.kernel_range(cx, key, (0, u64::from(u32::MAX - 1)), "the kernel takes any id but 4294967295, which is (uid_t)-1, no one (tun_chr_ioctl: TUNSETOWNER, TUNSETGROUP)")
            .and_then(|v| u32::try_from(v).ok())
    };
    TunOptions {
        mode: kind.to_string(),
        owner: id(cx, "owner"),
        group: id(cx, "group"),
        multi_queue: f.bool(cx, "multi_queue"),
        persist,
    }
}

/// The tun kind in the file.
pub const TUN: KindSpec = KindSpec {
    word: "tun",
    fields: FIELDS,
    decode: |cx, f, _, word| LinkKind::Tun(decode(cx, f, word)),
    mtu: (
        (68, 65535),
        "a tun's MTU is 68..=65535 (tun_net_initialize)",
    ),
    ports: None,
    check: None,
    encode,
};

/// The tap kind in the file (a tun device carrying Ethernet frames).
pub const TAP: KindSpec = KindSpec {
    word: "tap",
    mtu: ((68, 65521), "a tap's MTU is 68 up to 65535 less its 14-byte Ethernet header (tun_net_initialize: MAX_MTU - hard_header_len)"),
    ..TUN
};

/// A tun's or tap's fields (its mode is its `kind` word; netloom makes
/// every one persistent).
pub fn encode(kind: &LinkKind, _: &str) -> crate::spec::emit::Fields {
    use crate::spec::emit::put;
    let LinkKind::Tun(o) = kind else {
        return Vec::new();
    };
    let mut out = Vec::new();
    put(&mut out, "owner", &o.owner, None);
    put(&mut out, "group", &o.group, None);
    put(&mut out, "multi_queue", &o.multi_queue, Some(false));
    out
}

#[cfg(test)]
mod tests {
    use crate::model::LinkKind;
    use crate::spec::kind::test_util::decode;

    #[test]
    fn tap_mode_and_persist() {
        let (k, e) = decode("tap", "{ owner: 1000, multi_queue: true, persist: true }");
        assert!(e.is_empty(), "{e:?}");
        assert!(matches!(k, LinkKind::Tun(t) if t.mode == "tap" && t.owner == Some(1000)));
        let (_, e) = decode("tun", "{ persist: false }");
        assert!(e[0].contains("persist"), "{e:?}");
        let (_, e) = decode("tap", "{ owner: 4294967295, group: 4294967294 }");
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].contains("the kernel takes 0..=4294967294"), "{e:?}");
    }
}
