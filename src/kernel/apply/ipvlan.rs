//! ipvlan and ipvtap: IFLA_IPVLAN_MODE (l2, l3, l3s) and IFLA_IPVLAN_FLAGS
//! (bridge is the absence of private and vepa).
use rtnetlink::packet_route::link::{InfoData, InfoIpVlan, InfoIpVtap, IpVlanFlags, IpVlanMode};

use super::invalid;
use crate::kernel::error::KernelError;
use crate::model::IpvlanOptions;

/// IFLA_INFO_DATA for an ipvlan (`tap` false) or ipvtap (`tap` true).
pub(super) fn info(o: &IpvlanOptions, tap: bool, object: &str) -> Result<InfoData, KernelError> {
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
