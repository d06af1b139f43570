//! ipvlan and ipvtap: IFLA_IPVLAN_MODE and IFLA_IPVLAN_FLAGS; the lower is
//! IFLA_LINK, in this node or another. An ipvtap's character device is
//! /dev/tapN for its ifindex N.
use rtnetlink::packet_route::link::{
    InfoData, InfoIpVlan, InfoIpVtap, InfoKind, IpVlanFlags, IpVlanMode,
};

use super::{invalid, no_names, no_sample, Codec};
use crate::kernel::error::KernelError;
use crate::model::{IpvlanOptions, LinkKind};

/// The ipvlan kind.
pub const IPVLAN: Codec = Codec {
    kind: InfoKind::IpVlan,
    parse: |data, _| {
        LinkKind::Ipvlan(ipvlan(match data {
            Some(InfoData::IpVlan(d)) => d,
            _ => &[],
        }))
    },
    emit: |kind, w| match kind {
        LinkKind::Ipvlan(o) => info(o, false, w.obj).map(Some),
        _ => Err(invalid(w.obj, "not an ipvlan")),
    },
    names: no_names,
    stacked: true,
    sample: no_sample,
    port: None,
};

/// The ipvtap kind.
pub const IPVTAP: Codec = Codec {
    kind: InfoKind::IpVtap,
    parse: |data, seen| {
        let d = match data {
            Some(InfoData::IpVtap(d)) => d.as_slice(),
            _ => &[],
        };
        LinkKind::Ipvtap(ipvtap(d, seen.ifindex))
    },
    emit: |kind, w| match kind {
        LinkKind::Ipvtap(o) => info(o, true, w.obj).map(Some),
        _ => Err(invalid(w.obj, "not an ipvtap")),
    },
    ..IPVLAN
};

/// iproute2's word for an ipvlan mode.
pub fn mode_word(m: &IpVlanMode) -> String {
    match m {
        IpVlanMode::L2 => "l2".into(),
        IpVlanMode::L3 => "l3".into(),
        IpVlanMode::L3S => "l3s".into(),
        IpVlanMode::Other(n) => n.to_string(),
        _ => format!("{m:?}"),
    }
}

/// iproute2's word for the ipvlan flag: private, vepa, or bridge (neither bit).
pub fn flag_word(f: &IpVlanFlags) -> String {
    if f.contains(IpVlanFlags::Private) {
        "private".into()
    } else if f.contains(IpVlanFlags::Vepa) {
        "vepa".into()
    } else {
        "bridge".into()
    }
}

/// IPVLAN options with `lower` left unset.
pub fn ipvlan(data: &[InfoIpVlan]) -> IpvlanOptions {
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
pub fn ipvtap(data: &[InfoIpVtap], ifindex: u32) -> IpvlanOptions {
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

/// IFLA_INFO_DATA for an ipvlan (`tap` false) or ipvtap (`tap` true).
pub fn info(o: &IpvlanOptions, tap: bool, object: &str) -> Result<InfoData, KernelError> {
    let mode = match o.mode.as_deref() {
        None => None,
        Some("l2") => Some(IpVlanMode::L2),
        Some("l3") => Some(IpVlanMode::L3),
        Some("l3s") => Some(IpVlanMode::L3S),
        Some(w) => {
            return Err(invalid(
                object,
                format!("ipvlan mode `{w}` is not one of l2, l3, l3s"),
            ))
        }
    };
    let flags = match o.flag.as_deref() {
        None => None,
        Some("bridge") => Some(IpVlanFlags::empty()),
        Some("private") => Some(IpVlanFlags::Private),
        Some("vepa") => Some(IpVlanFlags::Vepa),
        Some(w) => {
            return Err(invalid(
                object,
                format!("ipvlan flag `{w}` is not one of bridge, private, vepa"),
            ))
        }
    };
    Ok(if tap {
        let mut v = Vec::new();
        v.extend(mode.map(InfoIpVtap::Mode));
        v.extend(flags.map(InfoIpVtap::Flags));
        InfoData::IpVtap(v)
    } else {
        let mut v = Vec::new();
        v.extend(mode.map(InfoIpVlan::Mode));
        v.extend(flags.map(InfoIpVlan::Flags));
        InfoData::IpVlan(v)
    })
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

    #[test]
    fn what_is_emitted_parses_back() {
        for (mode, flag) in [("l2", "bridge"), ("l3", "private"), ("l3s", "vepa")] {
            let o = IpvlanOptions {
                mode: Some(mode.into()),
                flag: Some(flag.into()),
                ..IpvlanOptions::default()
            };
            let kind = LinkKind::Ipvlan(o);
            assert_eq!(super::super::round_trip::kind(&kind), kind);
        }
    }
}
