//! tun / tap: options are TUNSETIFF flags and owner ids, fixed at creation.
use super::Diffs;
use crate::model::TunOptions;

/// Compare tun options; any difference means a new device.
pub(super) fn compare(w: &TunOptions, h: &TunOptions, d: &mut Diffs) -> TunOptions {
    d.value("mode", &w.mode, &h.mode, true);
    d.opt("owner", &w.owner, &h.owner, true);
    d.opt("group", &w.group, &h.group, true);
    d.opt("multi_queue", &w.multi_queue, &h.multi_queue, true);
    d.opt("persist", &w.persist, &h.persist, true);
    TunOptions::default()
}
