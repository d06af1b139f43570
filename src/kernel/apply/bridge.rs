//! bridge: IFLA_BR_* options, IFLA_BRPORT_* port options and bridge VLANs
//! (AF_BRIDGE IFLA_AF_SPEC, what `bridge vlan add` sends).
use rtnetlink::packet_route::link::VlanProtocol;
use rtnetlink::packet_route::link::{
    AfSpecBridge, BridgeFlag, BridgeStpState, BridgeVlanInfo, BridgeVlanInfoFlags, InfoBridge,
    InfoBridgePort, LinkAttribute, LinkExtentMask, LinkMessage,
};
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::Handle;

use super::invalid;
use crate::kernel::conn;
use crate::kernel::error::KernelError;
use crate::model::{BridgeOptions, BridgePort, BridgeVlan};

/// The IFLA_BR_* attributes for every option that is set.
pub(super) fn info(o: &BridgeOptions, object: &str) -> Result<Vec<InfoBridge>, KernelError> {
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
pub(super) fn vlan_protocol(p: u16, object: &str) -> Result<VlanProtocol, KernelError> {
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
pub(super) fn port_info(p: &BridgePort) -> Vec<InfoBridgePort> {
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

/// Which device a VLAN request is about.
#[derive(Clone, Copy)]
pub(super) enum VlanTarget {
    /// The bridge device itself (`bridge vlan ... self`).
    Bridge,
    /// A port: the request goes to its master bridge.
    Port,
}

/// Make the VLAN set of `ifindex` exactly `new`: delete every VLAN it has
/// that is not wanted, then add (or re-add with new flags) every wanted one.
/// What it has is read from the kernel, not taken from the plan's prior: the
/// kernel itself adds the default PVID to a new bridge and to every new port.
pub(super) async fn set_vlans(
    handle: &Handle,
    ifindex: u32,
    target: VlanTarget,
    new: &[BridgeVlan],
    object: &str,
) -> Result<(), KernelError> {
    let have = current_vlans(handle, ifindex, object).await?;
    let gone = unwanted(&have, new);
    if !gone.is_empty() {
        let msg = vlan_message(ifindex, target, &gone);
        handle
            .link()
            .del_with_message(msg)
            .execute()
            .await
            .map_err(|e| conn::map_err(e, object, "delete bridge vlans"))?;
    }
    if !new.is_empty() {
        let msg = vlan_message(ifindex, target, new);
        handle
            .link()
            .set(msg)
            .execute()
            .await
            .map_err(|e| conn::map_err(e, object, "add bridge vlans"))?;
    }
    Ok(())
}

/// The VLAN entries of one device (a port, or a bridge's own), from an
/// AF_BRIDGE dump.
async fn current_vlans(
    handle: &Handle,
    ifindex: u32,
    object: &str,
) -> Result<Vec<BridgeVlan>, KernelError> {
    use futures::TryStreamExt;
    let msgs: Vec<LinkMessage> = handle
        .link()
        .get()
        .set_filter_mask(AddressFamily::Bridge, vec![LinkExtentMask::Brvlan])
        .execute()
        .try_collect()
        .await
        .map_err(|e| conn::map_err(e, object, "read bridge vlans"))?;
    let mut out = Vec::new();
    for m in msgs.iter().filter(|m| m.header.index == ifindex) {
        for a in &m.attributes {
            if let LinkAttribute::AfSpecBridge(spec) = a {
                for e in spec {
                    if let AfSpecBridge::VlanInfo(v) = e {
                        out.push(BridgeVlan {
                            vid: v.vid,
                            pvid: v.flags.contains(BridgeVlanInfoFlags::Pvid),
                            untagged: v.flags.contains(BridgeVlanInfoFlags::Untagged),
                        });
                    }
                }
            }
        }
    }
    Ok(out)
}

/// The entries of `have` whose VLAN id `new` does not list.
fn unwanted(have: &[BridgeVlan], new: &[BridgeVlan]) -> Vec<BridgeVlan> {
    have.iter()
        .filter(|o| !new.iter().any(|n| n.vid == o.vid))
        .copied()
        .collect()
}

/// An AF_BRIDGE link message carrying IFLA_BRIDGE_VLAN_INFO entries.
fn vlan_message(ifindex: u32, target: VlanTarget, vlans: &[BridgeVlan]) -> LinkMessage {
    let mut msg = LinkMessage::default();
    msg.header.index = ifindex;
    msg.header.interface_family = AddressFamily::Bridge;
    let mut spec = Vec::new();
    if let VlanTarget::Bridge = target {
        // BRIDGE_FLAGS_SELF: the bridge device's own VLAN table; without it
        // the kernel hands the request to the device's master.
        spec.push(AfSpecBridge::Flags(BridgeFlag::LowerDev));
    }
    for v in vlans {
        let mut flags = BridgeVlanInfoFlags::empty();
        if v.pvid {
            flags |= BridgeVlanInfoFlags::Pvid;
        }
        if v.untagged {
            flags |= BridgeVlanInfoFlags::Untagged;
        }
        spec.push(AfSpecBridge::VlanInfo(BridgeVlanInfo { vid: v.vid, flags }));
    }
    msg.attributes.push(LinkAttribute::AfSpecBridge(spec));
    msg
}

#[cfg(test)]
mod vlan_tests {
    use super::unwanted;
    use crate::model::BridgeVlan;

    fn v(vid: u16, pvid: bool) -> BridgeVlan {
        BridgeVlan {
            vid,
            pvid,
            untagged: pvid,
        }
    }

    #[test]
    fn the_kernels_default_pvid_goes_unless_the_file_lists_it() {
        // A new port of a bridge with default_pvid 10 has VLAN 10 already.
        let have = [v(10, true)];
        assert_eq!(unwanted(&have, &[v(30, false), v(40, true)]), [v(10, true)]);
        // Listed (with other flags): kept, and re-added with the file's flags.
        assert!(unwanted(&have, &[v(10, false), v(20, true)]).is_empty());
    }
}
