//! bridge: IFLA_BR_* of a bridge and IFLA_BRPORT_* of its ports.
use std::collections::HashMap;

use rtnetlink::packet_route::link::{
    AfSpecBridge, BridgeStpState, BridgeVlanInfoFlags, InfoBridge, InfoBridgePort, LinkAttribute,
    LinkExtentMask, LinkMessage,
};

use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};

use crate::model::{BridgeOptions, BridgePort, BridgeVlan};

/// Bridge options as the kernel reports them. Times stay in the kernel's
/// clock_t units (centiseconds), as iproute2 prints them. VLAN entries come
/// from a separate AF_BRIDGE dump (see [`vlans`]).
///
/// While a spanning tree topology change is under way the kernel ages
/// entries after twice forward_delay and reports that as the ageing time;
/// the one set comes back when the change ends and is unknown until then
/// (`ageing_time` None). One set during the change is reported as set.
pub(super) fn options(data: &[InfoBridge]) -> BridgeOptions {
    let mut o = BridgeOptions::default();
    let changing = data
        .iter()
        .any(|a| matches!(a, InfoBridge::TopologyChange(v) if *v != 0));
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
    let temporary = o.forward_delay.map(|d| 2 * d);
    if changing && o.ageing_time.is_some() && o.ageing_time == temporary {
        o.ageing_time = None;
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

/// The IFLA_BRPORT_STATE (0 disabled .. 4 blocking) of every bridge port
/// in `node`, by name; empty when the node is gone.
///
/// One AF_BRIDGE dump: the bridge driver answers it for its ports alone,
/// with their port attributes and without the peer namespace id a plain
/// link answer carries (which the kernel finds by a walk over every id,
/// so asking 1000 veth ends of host one by one took 57 ms, this 1 dump a
/// few).
pub async fn port_states(
    k: &crate::kernel::Kernel,
    node: &str,
) -> Result<HashMap<String, u8>, crate::kernel::KernelError> {
    let Some(ns) = k.netns_of(node)? else {
        return Ok(HashMap::new());
    };
    let object = format!("node {node}");
    tokio::task::spawn_blocking(move || {
        crate::kernel::netns::run_in(&ns, || {
            let mut rtnl = crate::kernel::rtnl::Rtnl::open()
                .map_err(|e| crate::kernel::KernelError::io(object.clone(), e))?;
            // Each answer is read as it comes, keeping only name and state:
            // a thousand parsed port answers held at once are megabytes.
            let mut out = HashMap::new();
            rtnl.dump_each(
                || request(vec![]),
                &object,
                "dump bridge ports",
                |m| {
                    if let RouteNetlinkMessage::NewLink(m) = m {
                        if let Some((name, state)) = name_and_state(m) {
                            out.insert(name, state);
                        }
                    }
                },
            )?;
            Ok(out)
        })?
    })
    .await
    .map_err(|_| crate::kernel::KernelError::Thread {
        object: format!("bridge ports of {node}"),
    })?
}

/// An AF_BRIDGE link dump request (the bridge driver answers for its
/// ports), with `mask` as IFLA_EXT_MASK when not empty.
pub(super) fn request(mask: Vec<LinkExtentMask>) -> RouteNetlinkMessage {
    let mut m = LinkMessage::default();
    m.header.interface_family = AddressFamily::Bridge;
    if !mask.is_empty() {
        m.attributes = vec![LinkAttribute::ExtMask(mask)];
    }
    RouteNetlinkMessage::GetLink(m)
}

/// A port's name and IFLA_BRPORT_STATE from an AF_BRIDGE answer.
fn name_and_state(m: LinkMessage) -> Option<(String, u8)> {
    use rtnetlink::packet_core::Nla;
    use rtnetlink::packet_route::link::LinkProtoInfoBridge;
    /// IFLA_BRPORT_STATE inside IFLA_PROTINFO (the crate leaves it raw).
    const IFLA_BRPORT_STATE: u16 = 1;
    let (mut name, mut state) = (None, None);
    for a in m.attributes {
        match a {
            LinkAttribute::IfName(n) => name = Some(n),
            LinkAttribute::ProtoInfoBridge(infos) => {
                state = infos.iter().find_map(|i| match i {
                    LinkProtoInfoBridge::Other(nla)
                        if nla.kind() == IFLA_BRPORT_STATE && nla.value_len() == 1 =>
                    {
                        let mut v = [0u8; 1];
                        nla.emit_value(&mut v);
                        Some(v[0])
                    }
                    _ => None,
                })
            }
            _ => {}
        }
    }
    Some((name?, state?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtnetlink::packet_route::link::{BridgeVlanInfo, VlanProtocol};

    #[test]
    fn ageing_time_is_unknown_during_a_topology_change() {
        let data = |tc, ageing| {
            vec![
                InfoBridge::ForwardDelay(400),
                InfoBridge::AgeingTime(ageing),
                InfoBridge::TopologyChange(tc),
            ]
        };
        assert_eq!(options(&data(0, 800)).ageing_time, Some(800));
        assert_eq!(options(&data(1, 800)).ageing_time, None);
        // Set during the change: the kernel reports the value set.
        assert_eq!(options(&data(1, 12000)).ageing_time, Some(12000));
    }

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
