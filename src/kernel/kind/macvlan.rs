//! macvlan and macvtap: IFLA_MACVLAN_* (mode, source MACs); the lower is
//! IFLA_LINK, in this node or another. A macvtap's character device is
//! /dev/tapN for its ifindex N.
use rtnetlink::packet_route::link::{
    InfoData, InfoKind, InfoMacVlan, InfoMacVtap, MacVlanMacAddressMode, MacVlanMode,
};

use super::{invalid, no_names, no_sample, Codec};
use crate::kernel::error::KernelError;
use crate::model::{LinkKind, MacAddr, MacvlanOptions};

/// The macvlan kind.
pub const MACVLAN: Codec = Codec {
    kind: InfoKind::MacVlan,
    parse: |data, _| {
        LinkKind::Macvlan(macvlan(match data {
            Some(InfoData::MacVlan(d)) => d,
            _ => &[],
        }))
    },
    emit: |kind, w| match kind {
        LinkKind::Macvlan(o) => info(o, false, w.obj).map(Some),
        _ => Err(invalid(w.obj, "not a macvlan")),
    },
    names: no_names,
    stacked: true,
    sample: no_sample,
    port: None,
};

/// The macvtap kind.
pub const MACVTAP: Codec = Codec {
    kind: InfoKind::MacVtap,
    parse: |data, seen| {
        let d = match data {
            Some(InfoData::MacVtap(d)) => d.as_slice(),
            _ => &[],
        };
        LinkKind::Macvtap(macvtap(d, seen.ifindex))
    },
    emit: |kind, w| match kind {
        LinkKind::Macvtap(o) => info(o, true, w.obj).map(Some),
        _ => Err(invalid(w.obj, "not a macvtap")),
    },
    ..MACVLAN
};

/// iproute2's word for a macvlan mode.
pub fn mode_word(m: &MacVlanMode) -> String {
    match m {
        MacVlanMode::Private => "private".into(),
        MacVlanMode::Vepa => "vepa".into(),
        MacVlanMode::Bridge => "bridge".into(),
        MacVlanMode::Passthrough => "passthru".into(),
        MacVlanMode::Source => "source".into(),
        MacVlanMode::Other(n) => n.to_string(),
        _ => format!("{m:?}"),
    }
}

/// MACVLAN options with `lower` left unset; source MACs sorted (the kernel
/// keeps them in a hash table, so its order means nothing).
pub fn macvlan(data: &[InfoMacVlan]) -> MacvlanOptions {
    let mut o = MacvlanOptions::default();
    for a in data {
        match a {
            InfoMacVlan::Mode(m) => o.mode = Some(mode_word(m)),
            InfoMacVlan::MacAddrData(list) => {
                o.source_macs = list
                    .iter()
                    .filter_map(|e| match e {
                        InfoMacVlan::MacAddr(m) => Some(MacAddr(*m)),
                        _ => None,
                    })
                    .collect();
                o.source_macs.sort();
            }
            _ => {}
        }
    }
    o
}

/// MACVTAP options; `tap_path` is the character device the kernel makes for
/// the link: /dev/tap<ifindex>.
pub fn macvtap(data: &[InfoMacVtap], ifindex: u32) -> MacvlanOptions {
    let mut o = MacvlanOptions {
        tap_path: Some(format!("/dev/tap{ifindex}")),
        ..MacvlanOptions::default()
    };
    for a in data {
        match a {
            InfoMacVtap::Mode(m) => o.mode = Some(mode_word(m)),
            InfoMacVtap::MacAddrData(list) => {
                o.source_macs = list
                    .iter()
                    .filter_map(|e| match e {
                        InfoMacVtap::MacAddr(m) => Some(MacAddr(*m)),
                        _ => None,
                    })
                    .collect();
                o.source_macs.sort();
            }
            _ => {}
        }
    }
    o
}

const MODES: &[(&str, MacVlanMode)] = &[
    ("private", MacVlanMode::Private),
    ("vepa", MacVlanMode::Vepa),
    ("bridge", MacVlanMode::Bridge),
    ("passthru", MacVlanMode::Passthrough),
    ("source", MacVlanMode::Source),
];

/// The kernel mode for an iproute2 mode word.
fn mode(word: &str, object: &str) -> Result<MacVlanMode, KernelError> {
    MODES
        .iter()
        .find(|(w, _)| *w == word)
        .map(|(_, m)| *m)
        .ok_or_else(|| {
            invalid(
                object,
                format!(
                    "macvlan mode `{word}` is not one of private, vepa, bridge, passthru, source"
                ),
            )
        })
}

/// What to do with the source-MAC list.
enum Sources<'a> {
    /// Leave it alone.
    Keep,
    /// Replace it with these (MACVLAN_MACADDR_SET).
    Set(&'a [crate::model::MacAddr]),
}

macro_rules! build {
    ($info:ident, $variant:ident, $mode:expr, $sources:expr) => {{
        let mut v = Vec::new();
        if let Some(m) = $mode {
            v.push($info::Mode(m));
        }
        match $sources {
            Sources::Keep => {}
            Sources::Set(macs) => {
                v.push($info::MacAddrMode(MacVlanMacAddressMode::Set));
                v.push($info::MacAddrData(
                    macs.iter().map(|m| $info::MacAddr(m.0)).collect(),
                ));
            }
        }
        InfoData::$variant(v)
    }};
}

/// IFLA_INFO_DATA for a macvlan (`tap` false) or macvtap (`tap` true). A
/// non-empty source list replaces the kernel's (MACVLAN_MACADDR_SET, so on a
/// change the old entries go too); an empty one means "leave it alone", the
/// planner's convention for list fields.
pub fn info(o: &MacvlanOptions, tap: bool, object: &str) -> Result<InfoData, KernelError> {
    let m = o.mode.as_deref().map(|w| mode(w, object)).transpose()?;
    let sources = if o.source_macs.is_empty() {
        Sources::Keep
    } else {
        Sources::Set(&o.source_macs)
    };
    Ok(if tap {
        build!(InfoMacVtap, MacVtap, m, sources)
    } else {
        build!(InfoMacVlan, MacVlan, m, sources)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_source_macs() {
        let o = macvlan(&[
            InfoMacVlan::Mode(MacVlanMode::Source),
            InfoMacVlan::MacAddrCount(2),
            InfoMacVlan::MacAddrData(vec![
                InfoMacVlan::MacAddr([2, 0, 0, 0, 0, 2]),
                InfoMacVlan::MacAddr([2, 0, 0, 0, 0, 1]),
            ]),
        ]);
        assert_eq!(o.mode.as_deref(), Some("source"));
        assert_eq!(
            o.source_macs,
            vec![MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([2, 0, 0, 0, 0, 2])]
        );
        assert_eq!(o.tap_path, None);
        assert_eq!(mode_word(&MacVlanMode::Passthrough), "passthru");
        let t = macvtap(&[InfoMacVtap::Mode(MacVlanMode::Vepa)], 12);
        assert_eq!(t.mode.as_deref(), Some("vepa"));
        assert_eq!(t.tap_path.as_deref(), Some("/dev/tap12"));
    }

    #[test]
    fn what_is_emitted_parses_back() {
        for (mode, macs) in [
            ("private", vec![]),
            ("source", vec![MacAddr([2, 0, 0, 0, 0, 1])]),
        ] {
            let o = MacvlanOptions {
                mode: Some(mode.into()),
                source_macs: macs,
                ..MacvlanOptions::default()
            };
            let kind = LinkKind::Macvlan(o.clone());
            assert_eq!(super::super::round_trip::kind(&kind), kind);
            let tap = super::super::round_trip::kind(&LinkKind::Macvtap(o.clone()));
            let o = MacvlanOptions {
                tap_path: Some("/dev/tap7".into()),
                ..o
            };
            assert_eq!(tap, LinkKind::Macvtap(o));
        }
    }
}
