//! tun and tap: `kind: tun` / `kind: tap`, always persistent devices.
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
    TunOptions {
        mode: kind.to_string(),
        owner: f.u32(cx, "owner"),
        group: f.u32(cx, "group"),
        multi_queue: f.bool(cx, "multi_queue"),
        persist,
    }
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
    }
}
