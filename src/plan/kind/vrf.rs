//! vrf: its table is fixed once made (the driver has no changelink).
use super::Diffs;
use crate::model::vrf::VrfOptions;

/// Compare vrf options: another table means a new device.
pub(super) fn compare(w: &VrfOptions, h: &VrfOptions, d: &mut Diffs) -> VrfOptions {
    d.value("table", &w.table, &h.table, true);
    w.clone()
}
