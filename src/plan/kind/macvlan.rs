//! macvlan / macvtap: the lower is fixed; mode and source MACs change live.
use super::Diffs;
use crate::model::MacvlanOptions;

/// Compare MACVLAN options (`tap_path` is observed only and never compared).
pub(super) fn compare(w: &MacvlanOptions, h: &MacvlanOptions, d: &mut Diffs) -> MacvlanOptions {
    d.device("lower", &w.lower, &h.lower);
    MacvlanOptions {
        lower: None,
        mode: d.opt("mode", &w.mode, &h.mode, false),
        source_macs: d.list("source_macs", &w.source_macs, &h.source_macs, false),
        tap_path: None,
    }
}
