//! vlan: IFLA_VLAN_* of an 802.1Q / 802.1ad device. The lower device is
//! IFLA_LINK, resolved by the caller (it may be in another node).
use rtnetlink::packet_route::link::{InfoData, InfoKind, InfoVlan, VlanFlags, VlanQosMapping};

use super::bridge::vlan_protocol;
use super::{invalid, no_names, Codec};
use crate::kernel::error::KernelError;
use crate::model::{LinkKind, VlanOptions};

/// The vlan kind.
pub const CODEC: Codec = Codec {
    kind: InfoKind::Vlan,
    parse: |data, _| {
        LinkKind::Vlan(options(match data {
            Some(InfoData::Vlan(d)) => d,
            _ => &[],
        }))
    },
    emit: |kind, w| match kind {
        LinkKind::Vlan(o) => Ok(Some(InfoData::Vlan(info(o, w.create, w.obj)?))),
        _ => Err(invalid(w.obj, "not a vlan")),
    },
    names: no_names,
    stacked: true,
    sample: || Some(InfoData::Vlan(vec![InfoVlan::Id(2)])),
    port: None,
};

/// VLAN options with `lower` left unset.
pub fn options(data: &[InfoVlan]) -> VlanOptions {
    let mut o = VlanOptions::default();
    for a in data {
        match a {
            InfoVlan::Id(id) => o.id = *id,
            InfoVlan::Protocol(p) => o.protocol = Some(u16::from(*p)),
            InfoVlan::Flags((flags, _mask)) => {
                o.reorder_hdr = Some(flags.contains(VlanFlags::ReorderHdr));
                o.gvrp = Some(flags.contains(VlanFlags::Gvrp));
                o.mvrp = Some(flags.contains(VlanFlags::Mvrp));
                o.loose_binding = Some(flags.contains(VlanFlags::LooseBinding));
            }
            InfoVlan::IngressQos(m) => o.ingress_qos_map = mappings(m),
            InfoVlan::EgressQos(m) => o.egress_qos_map = mappings(m),
            _ => {}
        }
    }
    o
}

fn mappings(m: &[VlanQosMapping]) -> Vec<(u32, u32)> {
    m.iter()
        .filter_map(|q| match q {
            VlanQosMapping::Mapping(from, to) => Some((*from, *to)),
            _ => None,
        })
        .collect()
}

/// The IFLA_VLAN_* attributes. `create` adds the id (fixed after creation).
pub fn info(o: &VlanOptions, create: bool, object: &str) -> Result<Vec<InfoVlan>, KernelError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use rtnetlink::packet_route::link::VlanProtocol;

    #[test]
    fn vlan_attributes_map_to_options() {
        let o = options(&[
            InfoVlan::Id(10),
            InfoVlan::Protocol(VlanProtocol::Ieee8021Q),
            InfoVlan::Flags((VlanFlags::ReorderHdr | VlanFlags::Mvrp, VlanFlags::all())),
            InfoVlan::EgressQos(vec![VlanQosMapping::Mapping(1, 3)]),
        ]);
        assert_eq!(o.id, 10);
        assert_eq!(o.protocol, Some(0x8100));
        assert_eq!(o.reorder_hdr, Some(true));
        assert_eq!(o.mvrp, Some(true));
        assert_eq!(o.gvrp, Some(false));
        assert_eq!(o.egress_qos_map, vec![(1, 3)]);
        assert!(o.ingress_qos_map.is_empty());
        assert_eq!(o.lower, None);
    }

    #[test]
    fn what_is_emitted_parses_back() {
        let o = VlanOptions {
            id: 10,
            protocol: Some(0x88a8),
            reorder_hdr: Some(false),
            gvrp: Some(true),
            mvrp: Some(false),
            loose_binding: Some(true),
            ingress_qos_map: vec![(1, 2)],
            egress_qos_map: vec![(3, 4)],
            lower: None,
        };
        let kind = LinkKind::Vlan(o);
        assert_eq!(super::super::round_trip::kind(&kind), kind);
    }
}
