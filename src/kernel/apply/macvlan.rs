//! macvlan and macvtap: IFLA_MACVLAN_* mode and the source-MAC list of mode
//! `source`. The two kinds share attribute numbers but have distinct types
//! in netlink-packet-route, hence one macro for both.
use rtnetlink::packet_route::link::{
    InfoData, InfoMacVlan, InfoMacVtap, MacVlanMacAddressMode, MacVlanMode,
};

use super::invalid;
use crate::kernel::error::KernelError;
use crate::model::MacvlanOptions;

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
pub(super) fn info(o: &MacvlanOptions, tap: bool, object: &str) -> Result<InfoData, KernelError> {
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
