//! macvlan and macvtap: IFLA_MACVLAN_* (both kinds share the attributes).
//! The lower device comes from IFLA_LINK and is resolved by the caller.
use rtnetlink::packet_route::link::{InfoMacVlan, InfoMacVtap, MacVlanMode};

use crate::model::{MacAddr, MacvlanOptions};

/// iproute2's word for a macvlan mode.
pub(super) fn mode_word(m: &MacVlanMode) -> String {
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
pub(super) fn macvlan(data: &[InfoMacVlan]) -> MacvlanOptions {
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
pub(super) fn macvtap(data: &[InfoMacVtap], ifindex: u32) -> MacvlanOptions {
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
}
