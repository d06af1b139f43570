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
