//! The bridge's own requests beyond its link options: VLAN tables (AF_BRIDGE
//! IFLA_AF_SPEC, what `bridge vlan` sends and dumps) and its ports' STP
//! states.
use std::collections::HashMap;

use rtnetlink::packet_route::link::{
    AfSpecBridge, BridgeFlag, BridgeVlanInfo, BridgeVlanInfoFlags, LinkAttribute, LinkExtentMask,
    LinkMessage,
};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::Handle;

use crate::kernel::conn;
use crate::kernel::error::KernelError;
use crate::model::BridgeVlan;

/// VLAN entries by ifindex from an AF_BRIDGE link dump made with
/// RTEXT_FILTER_BRVLAN (one entry per VLAN, not ranges): the bridge's own
/// entries and its ports'. Lists are sorted by VLAN id.
pub fn vlans(msgs: &[LinkMessage]) -> HashMap<u32, Vec<BridgeVlan>> {
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
pub fn request(mask: Vec<LinkExtentMask>) -> RouteNetlinkMessage {
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

/// Which device a VLAN request is about.
#[derive(Clone, Copy)]
pub enum VlanTarget {
    /// The bridge device itself (`bridge vlan ... self`).
    Bridge,
    /// A port: the request goes to its master bridge.
    Port,
}

/// Make the VLAN set of `ifindex` exactly `new`: delete every VLAN it has
/// that is not wanted, then add (or re-add with new flags) every wanted one.
/// What it has is read from the kernel, not taken from the plan's prior: the
/// kernel itself adds the default PVID to a new bridge and to every new port.
pub async fn set_vlans(
    h: &crate::kernel::NodeHandle,
    ifindex: u32,
    target: VlanTarget,
    new: &[BridgeVlan],
    object: &str,
) -> Result<(), KernelError> {
    let handle = &h.handle;
    let have = {
        let _turn = h.dump_turn().await;
        current_vlans(handle, ifindex, object).await?
    };
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
mod tests {
    use super::*;

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
}
