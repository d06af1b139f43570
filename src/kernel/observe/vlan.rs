//! vlan: IFLA_VLAN_* of an 802.1Q / 802.1ad device. The lower device comes
//! from IFLA_LINK and is resolved by the caller (it may be in another node).
use rtnetlink::packet_route::link::{InfoVlan, VlanFlags, VlanQosMapping};

use crate::model::VlanOptions;

/// VLAN options with `lower` left unset.
pub(super) fn options(data: &[InfoVlan]) -> VlanOptions {
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
}
