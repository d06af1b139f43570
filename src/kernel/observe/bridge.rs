//! bridge: IFLA_BR_* of a bridge and IFLA_BRPORT_* of its ports.
use std::collections::HashMap;

use rtnetlink::packet_route::link::{
    AfSpecBridge, BridgeStpState, BridgeVlanInfoFlags, InfoBridge, InfoBridgePort, LinkAttribute,
    LinkMessage,
};

use crate::model::{BridgeOptions, BridgePort, BridgeVlan};

/// Bridge options as the kernel reports them. Times stay in the kernel's
/// clock_t units (centiseconds), as iproute2 prints them. VLAN entries come
/// from a separate AF_BRIDGE dump (see [`vlans`]).
pub(super) fn options(data: &[InfoBridge]) -> BridgeOptions {
    let mut o = BridgeOptions::default();
    for a in data {
        match a {
            InfoBridge::StpState(s) => o.stp = Some(*s != BridgeStpState::Disabled),
            InfoBridge::ForwardDelay(v) => o.forward_delay = Some(*v),
            InfoBridge::HelloTime(v) => o.hello_time = Some(*v),
            InfoBridge::MaxAge(v) => o.max_age = Some(*v),
            InfoBridge::Priority(v) => o.priority = Some(*v),
            InfoBridge::AgeingTime(v) => o.ageing_time = Some(*v),
            InfoBridge::MulticastSnooping(v) => o.mcast_snooping = Some(*v),
            InfoBridge::VlanFiltering(v) => o.vlan_filtering = Some(*v),
            InfoBridge::VlanProtocol(p) => o.vlan_protocol = Some(u16::from(*p)),
            InfoBridge::VlanDefaultPvid(v) => o.default_pvid = Some(*v),
            _ => {}
        }
    }
    o
}

/// Options of a bridge port from IFLA_INFO_SLAVE_DATA.
pub(super) fn port(data: &[InfoBridgePort]) -> BridgePort {
    let mut p = BridgePort::default();
    for a in data {
        match a {
            InfoBridgePort::Cost(v) => p.cost = Some(*v),
            InfoBridgePort::Priority(v) => p.priority = Some(*v),
            InfoBridgePort::Learning(v) => p.learning = Some(*v),
            InfoBridgePort::UnicastFlood(v) => p.flood = Some(*v),
            InfoBridgePort::HairpinMode(v) => p.hairpin = Some(*v),
            InfoBridgePort::Isolated(v) => p.isolated = Some(*v),
            _ => {}
        }
    }
    p
}

/// VLAN entries by ifindex from an AF_BRIDGE link dump made with
/// RTEXT_FILTER_BRVLAN (one entry per VLAN, not ranges): the bridge's own
/// entries and its ports'. Lists are sorted by VLAN id.
pub(super) fn vlans(msgs: &[LinkMessage]) -> HashMap<u32, Vec<BridgeVlan>> {
    let mut out: HashMap<u32, Vec<BridgeVlan>> = HashMap::new();
    for m in msgs {
        for a in &m.attributes {
            let LinkAttribute::AfSpecBridge(spec) = a else {
                continue;
            };
            for e in spec {
                if let AfSpecBridge::VlanInfo(v) = e {
                    out.entry(m.header.index).or_default().push(BridgeVlan {
                        vid: v.vid,
                        pvid: v.flags.contains(BridgeVlanInfoFlags::Pvid),
                        untagged: v.flags.contains(BridgeVlanInfoFlags::Untagged),
                    });
                }
            }
        }
    }
    for v in out.values_mut() {
        v.sort();
    }
    out
}

/// The IFLA_BRPORT_STATE of bridge port `name` in `node` (0 disabled ..
/// 4 blocking); `None` when the link is gone or is not a bridge port.
pub async fn port_state(
    k: &crate::kernel::Kernel,
    node: &str,
    name: &str,
) -> Result<Option<u8>, crate::kernel::KernelError> {
    use rtnetlink::packet_route::link::{InfoPortData, LinkInfo};
    let Some(m) = super::link_by_name(k, node, name).await? else {
        return Ok(None);
    };
    Ok(m.attributes.iter().find_map(|a| match a {
        LinkAttribute::LinkInfo(infos) => infos.iter().find_map(|i| match i {
            LinkInfo::PortData(InfoPortData::BridgePort(opts)) => {
                opts.iter().find_map(|o| match o {
                    InfoBridgePort::State(s) => Some(u8::from(*s)),
                    _ => None,
                })
            }
            _ => None,
        }),
        _ => None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtnetlink::packet_route::link::{BridgeVlanInfo, VlanProtocol};

    #[test]
    fn vlan_entries_by_ifindex() {
        let mut m = LinkMessage::default();
        m.header.index = 4;
        let info = |vid, flags| AfSpecBridge::VlanInfo(BridgeVlanInfo { flags, vid });
        m.attributes = vec![LinkAttribute::AfSpecBridge(vec![
            info(20, BridgeVlanInfoFlags::empty()),
            info(1, BridgeVlanInfoFlags::Pvid | BridgeVlanInfoFlags::Untagged),
        ])];
        let v = vlans(&[m]);
        assert_eq!(
            v.get(&4).cloned(),
            Some(vec![
                BridgeVlan {
                    vid: 1,
                    pvid: true,
                    untagged: true
                },
                BridgeVlan {
                    vid: 20,
                    pvid: false,
                    untagged: false
                },
            ])
        );
    }

    #[test]
    fn bridge_attributes_map_to_options() {
        let o = options(&[
            InfoBridge::StpState(BridgeStpState::KernelStp),
            InfoBridge::ForwardDelay(400),
            InfoBridge::VlanProtocol(VlanProtocol::Ieee8021Ad),
            InfoBridge::VlanDefaultPvid(1),
            InfoBridge::VlanFiltering(false),
        ]);
        assert_eq!(o.stp, Some(true));
        assert_eq!(o.forward_delay, Some(400));
        assert_eq!(o.vlan_protocol, Some(0x88a8));
        assert_eq!(o.default_pvid, Some(1));
        assert_eq!(o.vlan_filtering, Some(false));
        assert_eq!(o.hello_time, None);
        assert_eq!(
            options(&[InfoBridge::StpState(BridgeStpState::Disabled)]).stp,
            Some(false)
        );
    }

    #[test]
    fn port_attributes_map_to_port_options() {
        let p = port(&[
            InfoBridgePort::Cost(7),
            InfoBridgePort::UnicastFlood(false),
            InfoBridgePort::HairpinMode(true),
        ]);
        assert_eq!(
            p,
            BridgePort {
                cost: Some(7),
                flood: Some(false),
                hairpin: Some(true),
                ..BridgePort::default()
            }
        );
    }
}
