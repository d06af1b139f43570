//! ipvlan / ipvtap: netloom treats every option as fixed at creation (the
//! kernel's live mode change is refused while the device has users).
use super::Diffs;
use crate::model::IpvlanOptions;

/// Compare IPVLAN options; any difference means a new device.
pub(super) fn compare(w: &IpvlanOptions, h: &IpvlanOptions, d: &mut Diffs) -> IpvlanOptions {
    d.device("lower", &w.lower, &h.lower);
    d.opt("mode", &w.mode, &h.mode, true);
    d.opt("flag", &w.flag, &h.flag, true);
    IpvlanOptions::default()
}
