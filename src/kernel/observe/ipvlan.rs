//! ipvlan and ipvtap: IFLA_IPVLAN_* (both kinds share the attributes).
//! The lower device comes from IFLA_LINK and is resolved by the caller.
use rtnetlink::packet_route::link::{InfoIpVlan, InfoIpVtap, IpVlanFlags, IpVlanMode};

use crate::model::IpvlanOptions;

/// iproute2's word for an ipvlan mode.
pub(super) fn mode_word(m: &IpVlanMode) -> String {
    match m {
        IpVlanMode::L2 => "l2".into(),
        IpVlanMode::L3 => "l3".into(),
        IpVlanMode::L3S => "l3s".into(),
        IpVlanMode::Other(n) => n.to_string(),
        _ => format!("{m:?}"),
    }
}

/// iproute2's word for the ipvlan flag: private, vepa, or bridge (neither bit).
pub(super) fn flag_word(f: &IpVlanFlags) -> String {
    if f.contains(IpVlanFlags::Private) {
        "private".into()
    } else if f.contains(IpVlanFlags::Vepa) {
        "vepa".into()
    } else {
        "bridge".into()
    }
}

/// IPVLAN options with `lower` left unset.
pub(super) fn ipvlan(data: &[InfoIpVlan]) -> IpvlanOptions {
    let mut o = IpvlanOptions::default();
    for a in data {
        match a {
            InfoIpVlan::Mode(m) => o.mode = Some(mode_word(m)),
            InfoIpVlan::Flags(f) => o.flag = Some(flag_word(f)),
            _ => {}
        }
    }
    o
}

/// IPVTAP options; `tap_path` is /dev/tap<ifindex>.
pub(super) fn ipvtap(data: &[InfoIpVtap], ifindex: u32) -> IpvlanOptions {
    let mut o = IpvlanOptions {
        tap_path: Some(format!("/dev/tap{ifindex}")),
        ..IpvlanOptions::default()
    };
    for a in data {
        match a {
            InfoIpVtap::Mode(m) => o.mode = Some(mode_word(m)),
            InfoIpVtap::Flags(f) => o.flag = Some(flag_word(f)),
            _ => {}
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_flags() {
        let o = ipvlan(&[
            InfoIpVlan::Mode(IpVlanMode::L3S),
            InfoIpVlan::Flags(IpVlanFlags::empty()),
        ]);
        assert_eq!(o.mode.as_deref(), Some("l3s"));
        assert_eq!(o.flag.as_deref(), Some("bridge"));
        let t = ipvtap(&[InfoIpVtap::Flags(IpVlanFlags::Private)], 9);
        assert_eq!(t.flag.as_deref(), Some("private"));
        assert_eq!(t.tap_path.as_deref(), Some("/dev/tap9"));
    }
}
