//! ipvlan and ipvtap: IP-addressed sub-devices; the lower may be in another node.
use crate::model::IpvlanOptions;
use crate::spec::decode::{ifref_of, Ctx, Fields};

/// IPVLAN / IPVTAP fields.
pub const FIELDS: &[&str] = &["lower", "mode", "flag"];

/// Decodes ipvlan/ipvtap options; mode defaults to `l3`.
pub fn decode(cx: &mut Ctx, f: &Fields, node: &str) -> IpvlanOptions {
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
