//! macvlan / macvtap: the lower is fixed; mode and source MACs change live,
//! except into or out of passthru, which macvlan_changelink refuses
//! (EINVAL: a passthru device owns its lower alone): the device is made anew.
use super::Diffs;
use crate::model::MacvlanOptions;

/// Compare MACVLAN options (`tap_path` is observed only and never compared).
pub(super) fn compare(w: &MacvlanOptions, h: &MacvlanOptions, d: &mut Diffs) -> MacvlanOptions {
    d.device("lower", &w.lower, &h.lower);
    let passthru = |o: &MacvlanOptions| o.mode.as_deref() == Some("passthru");
    let crosses = w.mode.is_some() && passthru(w) != passthru(h);
    MacvlanOptions {
        lower: None,
        mode: d.opt("mode", &w.mode, &h.mode, crosses),
        source_macs: d.list("source_macs", &w.source_macs, &h.source_macs, false),
        tap_path: None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{compare as kind_compare, KindDiff};
    use crate::model::{LinkKind, MacvlanOptions};

    fn mv(mode: &str) -> LinkKind {
        LinkKind::Macvlan(MacvlanOptions {
            mode: Some(mode.into()),
            ..MacvlanOptions::default()
        })
    }

    #[test]
    fn into_or_out_of_passthru_makes_the_device_anew() {
        assert!(matches!(
            kind_compare(&mv("passthru"), &mv("bridge")),
            KindDiff::Recreate(_)
        ));
        assert!(matches!(
            kind_compare(&mv("vepa"), &mv("passthru")),
            KindDiff::Recreate(_)
        ));
        assert!(matches!(
            kind_compare(&mv("vepa"), &mv("bridge")),
            KindDiff::Change(..)
        ));
    }
}
