//! bridge: IFLA_BR_* of a bridge and IFLA_BRPORT_* of its ports. Times
//! stay in the kernel's clock_t units (centiseconds), as iproute2 prints
//! them. VLAN tables and port states are the bridge's own requests
//! (kernel::bridge).
use rtnetlink::packet_route::link::{
    BridgeStpState, InfoBridge, InfoBridgePort, InfoData, InfoKind, InfoPortData, InfoPortKind,
    VlanProtocol,
};

use super::{invalid, no_names, no_sample, Codec, PortCodec};
use crate::kernel::error::KernelError;
use crate::model::{BridgeOptions, BridgePort, LinkKind, PortOptions};

/// The bridge kind.
pub const CODEC: Codec = Codec {
    kind: InfoKind::Bridge,
    parse: |data, _| {
        LinkKind::Bridge(options(match data {
            Some(InfoData::Bridge(d)) => d,
            _ => &[],
        }))
    },
    emit: |kind, w| match kind {
        LinkKind::Bridge(o) => Ok(Some(InfoData::Bridge(info(o, w.obj)?))),
        _ => Err(invalid(w.obj, "not a bridge")),
    },
    names: no_names,
    stacked: false,
    sample: no_sample,
    port: Some(PortCodec {
        kind: InfoPortKind::Bridge,
        owns: |p| matches!(p, PortOptions::Bridge(_)),
        parse: |data| match data {
            InfoPortData::BridgePort(d) => Some(PortOptions::Bridge(port(d))),
            _ => None,
        },
        emit: |p| match p {
            PortOptions::Bridge(b) => {
                let v = port_info(b);
                Ok((!v.is_empty()).then_some(InfoPortData::BridgePort(v)))
            }
            _ => Ok(None),
        },
    }),
};

/// Bridge options as the kernel reports them. Times stay in the kernel's
/// clock_t units (centiseconds), as iproute2 prints them. VLAN entries come
/// from a separate AF_BRIDGE dump (see [`vlans`]).
///
/// While a spanning tree topology change is under way the kernel ages
/// entries after twice forward_delay and reports that as the ageing time;
/// the one set comes back when the change ends and is unknown until then
/// (`ageing_time` None). One set during the change is reported as set.
pub fn options(data: &[InfoBridge]) -> BridgeOptions {
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
pub fn port(data: &[InfoBridgePort]) -> BridgePort {
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

/// The IFLA_BR_* attributes for every option that is set.
pub fn info(o: &BridgeOptions, object: &str) -> Result<Vec<InfoBridge>, KernelError> {
    let mut v = Vec::new();
    if let Some(x) = o.forward_delay {
        v.push(InfoBridge::ForwardDelay(x));
    }
    if let Some(x) = o.hello_time {
        v.push(InfoBridge::HelloTime(x));
    }
    if let Some(x) = o.max_age {
        v.push(InfoBridge::MaxAge(x));
    }
    if let Some(x) = o.ageing_time {
        v.push(InfoBridge::AgeingTime(x));
    }
    if let Some(x) = o.stp {
        v.push(InfoBridge::StpState(if x {
            BridgeStpState::KernelStp
        } else {
            BridgeStpState::Disabled
        }));
    }
    if let Some(x) = o.priority {
        v.push(InfoBridge::Priority(x));
    }
    if let Some(x) = o.mcast_snooping {
        v.push(InfoBridge::MulticastSnooping(x));
    }
    if let Some(x) = o.vlan_filtering {
        v.push(InfoBridge::VlanFiltering(x));
    }
    if let Some(x) = o.vlan_protocol {
        v.push(InfoBridge::VlanProtocol(vlan_protocol(x, object)?));
    }
    if let Some(x) = o.default_pvid {
        v.push(InfoBridge::VlanDefaultPvid(x));
    }
    Ok(v)
}

/// The typed VLAN protocol for an ethertype (the crate has no escape value).
pub fn vlan_protocol(p: u16, object: &str) -> Result<VlanProtocol, KernelError> {
    match p {
        0x8100 => Ok(VlanProtocol::Ieee8021Q),
        0x88a8 => Ok(VlanProtocol::Ieee8021Ad),
        _ => Err(invalid(
            object,
            format!("vlan protocol {p:#06x} is neither 0x8100 (802.1Q) nor 0x88a8 (802.1ad)"),
        )),
    }
}

/// The IFLA_BRPORT_* attributes for every port option that is set.
pub fn port_info(p: &BridgePort) -> Vec<InfoBridgePort> {
    let mut v = Vec::new();
    if let Some(x) = p.cost {
        v.push(InfoBridgePort::Cost(x));
    }
    if let Some(x) = p.priority {
        v.push(InfoBridgePort::Priority(x));
    }
    if let Some(x) = p.learning {
        v.push(InfoBridgePort::Learning(x));
    }
    if let Some(x) = p.flood {
        v.push(InfoBridgePort::UnicastFlood(x));
    }
    if let Some(x) = p.hairpin {
        v.push(InfoBridgePort::HairpinMode(x));
    }
    if let Some(x) = p.isolated {
        v.push(InfoBridgePort::Isolated(x));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn what_is_emitted_parses_back() {
        let o = BridgeOptions {
            stp: Some(true),
            forward_delay: Some(400),
            hello_time: Some(200),
            max_age: Some(2000),
            ageing_time: Some(30000),
            priority: Some(4096),
            mcast_snooping: Some(false),
            vlan_filtering: Some(true),
            vlan_protocol: Some(0x88a8),
            default_pvid: Some(1),
            ..BridgeOptions::default()
        };
        let kind = LinkKind::Bridge(o);
        assert_eq!(super::super::round_trip::kind(&kind), kind);
        let p = PortOptions::Bridge(BridgePort {
            cost: Some(7),
            priority: Some(3),
            learning: Some(false),
            flood: Some(false),
            hairpin: Some(true),
            isolated: Some(true),
            ..BridgePort::default()
        });
        assert_eq!(
            super::super::round_trip::port(&p, InfoPortKind::Bridge),
            Some(p)
        );
    }
}
