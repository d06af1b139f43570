//! vlan: IFLA_VLAN_* options of an 802.1Q / 802.1ad device.
use rtnetlink::packet_route::link::{InfoVlan, VlanFlags, VlanQosMapping};

use super::bridge::vlan_protocol;
use crate::kernel::error::KernelError;
use crate::model::VlanOptions;

/// The IFLA_VLAN_* attributes. `create` adds the id (fixed after creation).
pub(super) fn info(
    o: &VlanOptions,
    create: bool,
    object: &str,
) -> Result<Vec<InfoVlan>, KernelError> {
    let mut v = Vec::new();
    if create {
        v.push(InfoVlan::Id(o.id));
    }
    if let Some(p) = o.protocol {
        v.push(InfoVlan::Protocol(vlan_protocol(p, object)?));
    }
    // IFLA_VLAN_FLAGS carries (flags, mask): only the flags named in the
    // options are in the mask, so the others keep the kernel's defaults.
    let mut flags = VlanFlags::empty();
    let mut mask = VlanFlags::empty();
    for (set, flag) in [
        (o.reorder_hdr, VlanFlags::ReorderHdr),
        (o.gvrp, VlanFlags::Gvrp),
        (o.mvrp, VlanFlags::Mvrp),
        (o.loose_binding, VlanFlags::LooseBinding),
    ] {
        if let Some(on) = set {
            mask |= flag;
            if on {
                flags |= flag;
            }
        }
    }
    if !mask.is_empty() {
        v.push(InfoVlan::Flags((flags, mask)));
    }
    if !o.ingress_qos_map.is_empty() {
        v.push(InfoVlan::IngressQos(qos(&o.ingress_qos_map)));
    }
    if !o.egress_qos_map.is_empty() {
        v.push(InfoVlan::EgressQos(qos(&o.egress_qos_map)));
    }
    Ok(v)
}

/// FROM:TO pairs as IFLA_VLAN_QOS_MAPPING entries.
fn qos(map: &[(u32, u32)]) -> Vec<VlanQosMapping> {
    map.iter()
        .map(|&(from, to)| VlanQosMapping::Mapping(from, to))
        .collect()
}
