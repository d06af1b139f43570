//! Links: create (RTM_NEWLINK with the kind's IFLA_INFO_DATA), delete, and
//! change (RTM_NEWLINK without NLM_F_CREATE, which unlike RTM_SETLINK also
//! reaches the driver's changelink for kind and port options).
use std::os::fd::AsRawFd;

use futures::TryStreamExt;
use rtnetlink::packet_route::link::{
    InfoData, InfoKind, InfoPortData, InfoPortKind, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use rtnetlink::Handle;

use super::bridge::VlanTarget;
use super::{
    bond, bridge, ifindex, invalid, ipvlan, macvlan, node_handle, object, tun, veth, vlan, vxlan,
};
use crate::kernel::error::KernelError;
use crate::kernel::{conn, Kernel, NodeHandle};
use crate::model::LinkChange;
use crate::model::{self, BridgeVlan, Link, LinkKind, PortOptions};

/// Create `link` in `node` with its kind options, MTU, MAC and ownership mark
/// (for a veth also its `peer` end, in the peer's node).
pub(super) async fn add(
    k: &Kernel,
    node: &str,
    link: &Link,
    peer: Option<&Link>,
) -> Result<(), KernelError> {
    let obj = object(node, &link.name);
    let h = node_handle(k, node).await?;
    let mark = model::owner_mark(k.topo());
    if let LinkKind::Tun(o) = &link.kind {
        return tun::add(&h, node, link, o, &mark).await;
    }
    let kind = creatable(&link.kind, &obj)?;

    // The request goes to the node holding the lower device when that is
    // another node: the kernel looks IFLA_LINK up in the sender's namespace
    // and creates the device directly in IFLA_NET_NS_FD's.
    let lower_node = match &link.kind {
        LinkKind::Macvlan(_) | LinkKind::Macvtap(_) | LinkKind::Ipvlan(_) | LinkKind::Ipvtap(_) => {
            link.kind
                .lower()
                .map(|l| l.node.as_str())
                .filter(|n| *n != node)
        }
        _ => None,
    };
    let sender = match lower_node {
        Some(n) => node_handle(k, n).await?,
        None => h.clone(),
    };

    let mut msg = LinkMessage::default();
    msg.attributes
        .push(LinkAttribute::IfName(link.name.clone()));
    if lower_node.is_some() {
        msg.attributes
            .push(LinkAttribute::NetNsFd(h.netns.fd().as_raw_fd()));
    }
    if let Some(mtu) = link.mtu {
        msg.attributes.push(LinkAttribute::Mtu(mtu));
    }
    if let Some(mac) = link.mac {
        msg.attributes.push(LinkAttribute::Address(mac.0.to_vec()));
    }

    // Kept alive until the request is sent: the peer's fd is borrowed from it.
    let mut peer_handle: Option<(String, NodeHandle)> = None;
    let data = match &link.kind {
        LinkKind::Veth(o) => {
            let peer_ref = o
                .peer
                .as_ref()
                .ok_or_else(|| invalid(&obj, "a veth needs a peer"))?;
            let ph = if peer_ref.node == node {
                None
            } else {
                Some(node_handle(k, &peer_ref.node).await?)
            };
            let fd = ph.as_ref().map(|p| p.netns.fd().as_raw_fd());
            let described = match peer {
                Some(p) => p.clone(),
                None => Link::new(peer_ref.name.clone(), link.kind.clone()),
            };
            let mut described = described;
            described.name = peer_ref.name.clone();
            let data = veth::info(&described, fd);
            peer_handle = Some((peer_ref.node.clone(), ph.unwrap_or_else(|| h.clone())));
            Some((data, peer_ref.name.clone()))
        }
        _ => None,
    };
    let (info_data, peer_name) = match data {
        Some((d, n)) => (Some(d), Some(n)),
        None => (
            kind_data(&sender, node, &link.kind, true, &obj).await?,
            None,
        ),
    };
    if let Some(lower) = lower_index(&sender, node, &link.kind, &obj).await? {
        msg.attributes.push(LinkAttribute::Link(lower));
    }
    let mut info = vec![LinkInfo::Kind(kind)];
    info.extend(info_data.map(LinkInfo::Data));
    msg.attributes.push(LinkAttribute::LinkInfo(info));
    sender
        .handle
        .link()
        .add(msg)
        .execute()
        .await
        .map_err(|e| conn::map_err(e, &obj, "create link"))?;

    // From here on the link exists: undo it if the rest fails, so a failed
    // AddLink leaves nothing behind for the journal to miss.
    let rest = async {
        // The kernel ignores IFLA_IFALIAS in a create request, so the mark
        // follows in its own request (to both veth ends), addressed by name.
        set_alias(&h.handle, &link.name, &mark, &obj).await?;
        if let (Some((pnode, ph)), Some(pname)) = (&peer_handle, &peer_name) {
            set_alias(&ph.handle, pname, &mark, &object(pnode, pname)).await?;
        }
        if let LinkKind::Bridge(o) = &link.kind {
            if !o.vlans.is_empty() {
                let index = ifindex(&h, node, &link.name).await?;
                bridge::set_vlans(&h.handle, index, VlanTarget::Bridge, &o.vlans, &obj).await?;
            }
        }
        Ok(())
    };
    let done: Result<(), KernelError> = rest.await;
    if done.is_err() {
        forget(&h.handle, &link.name).await;
    }
    done
}

/// Best-effort delete of a half-made link; the original error is what matters.
pub(super) async fn forget(handle: &Handle, name: &str) {
    let mut msg = LinkMessage::default();
    msg.attributes.push(LinkAttribute::IfName(name.to_string()));
    // Ignored on purpose: the caller reports the error that caused the undo.
    let _ = handle.link().del_with_message(msg).execute().await;
}

/// A change request for link `name`, found by name: with index 0 the kernel
/// selects the device by IFLA_IFNAME (and does not take it as a rename), so
/// no lookup round trip is needed first.
fn by_name(name: &str) -> LinkMessage {
    let mut msg = LinkMessage::default();
    msg.attributes.push(LinkAttribute::IfName(name.to_string()));
    msg
}

/// Write the ownership mark into IFLA_IFALIAS of link `name`.
async fn set_alias(handle: &Handle, name: &str, mark: &str, obj: &str) -> Result<(), KernelError> {
    let mut msg = by_name(name);
    msg.attributes
        .push(LinkAttribute::IfAlias(mark.to_string()));
    send_change(handle, msg, obj, "set ownership mark").await
}

/// The IFLA_INFO_KIND of a kind netloom creates over rtnetlink.
fn creatable(kind: &LinkKind, obj: &str) -> Result<InfoKind, KernelError> {
    match kind {
        LinkKind::Loopback | LinkKind::External | LinkKind::Other(_) | LinkKind::Tun(_) => {
            Err(invalid(
                obj,
                "netloom does not create links of this kind over rtnetlink",
            ))
        }
        k => k
            .kernel_kind()
            .map(InfoKind::from)
            .ok_or_else(|| invalid(obj, "kind without a kernel name")),
    }
}

/// IFLA_LINK for kinds stacked on a lower device (not vxlan: its underlay is
/// IFLA_VXLAN_LINK). The lower is looked up where the request is sent.
async fn lower_index(
    sender: &NodeHandle,
    node: &str,
    kind: &LinkKind,
    obj: &str,
) -> Result<Option<u32>, KernelError> {
    let lower = match kind {
        LinkKind::Macvlan(o) | LinkKind::Macvtap(o) => o.lower.as_ref(),
        LinkKind::Ipvlan(o) | LinkKind::Ipvtap(o) => o.lower.as_ref(),
        LinkKind::Vlan(o) => {
            if let Some(l) = o.lower.as_ref().filter(|l| l.node != node) {
                return Err(invalid(
                    obj,
                    format!("vlan lower {l} must be in the same node"),
                ));
            }
            o.lower.as_ref()
        }
        _ => None,
    };
    match lower {
        Some(l) => Ok(Some(ifindex(sender, &l.node, &l.name).await?)),
        None => Ok(None),
    }
}

/// IFLA_INFO_DATA for a kind: all set options on create, the `Some` ones on
/// a change.
async fn kind_data(
    handle: &NodeHandle,
    node: &str,
    kind: &LinkKind,
    create: bool,
    obj: &str,
) -> Result<Option<InfoData>, KernelError> {
    Ok(match kind {
        LinkKind::Bridge(o) => Some(InfoData::Bridge(bridge::info(o, obj)?)),
        LinkKind::Bond(o) => {
            // A primary that does not exist yet is left for a later SetLink.
            let primary = match &o.primary {
                Some(p) => match ifindex(handle, node, p).await {
                    Ok(i) => Some(i),
                    Err(KernelError::Invalid { .. }) if create => None,
                    Err(e) => return Err(e),
                },
                None => None,
            };
            Some(InfoData::Bond(bond::info(o, primary, obj)?))
        }
        LinkKind::Vlan(o) => Some(InfoData::Vlan(vlan::info(o, create, obj)?)),
        LinkKind::Vxlan(o) => {
            let dev = match &o.dev {
                Some(d) if d.node != node => {
                    return Err(invalid(
                        obj,
                        format!("vxlan dev {d} must be in the same node"),
                    ))
                }
                Some(d) => Some(ifindex(handle, node, &d.name).await?),
                None => None,
            };
            Some(InfoData::Vxlan(vxlan::info(o, dev, create)))
        }
        LinkKind::Macvlan(o) | LinkKind::Macvtap(o) => {
            let tap = matches!(kind, LinkKind::Macvtap(_));
            Some(macvlan::info(o, tap, obj)?)
        }
        LinkKind::Ipvlan(o) => Some(ipvlan::info(o, false, obj)?),
        LinkKind::Ipvtap(o) => Some(ipvlan::info(o, true, obj)?),
        // Team is configured by teamd, dummy has no options, veth only its peer.
        _ => None,
    })
}

/// Delete link `name` (for a veth the kernel removes both ends).
///
/// Deleting is idempotent: a link that is already gone (its namespace, or its
/// veth peer's namespace, was torn down meanwhile: the kernel does that
/// asynchronously) counts as deleted, since the goal holds.
///
/// A bridge that is up is taken down first: deleting it up makes the kernel
/// re-run port state selection, multicast timers included, over the ports
/// left for every port it removes (quadratic; 0.46 s for 1000 ports here),
/// while a bridge that is down skips that work (0.07 s down + 0.25 s delete).
pub(super) async fn del(k: &Kernel, node: &str, name: &str) -> Result<(), KernelError> {
    let Some(h) = k.node(node).await? else {
        return Ok(());
    };
    let obj = object(node, name);
    let gone = |err: KernelError| {
        if err.errno() == Some(libc::ENODEV) {
            Ok(())
        } else {
            Err(err)
        }
    };
    let mut links = h.handle.link().get().match_name(name.to_string()).execute();
    let found = match links.try_next().await {
        Ok(Some(msg)) => msg,
        Ok(None) => return Ok(()),
        Err(e) => return gone(conn::map_err(e, &obj, "look up link")),
    };
    drop(links);
    let index = found.header.index;
    if found.header.flags.contains(LinkFlags::Up) && is_bridge(&found) {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.header.change_mask |= LinkFlags::Up;
        if let Err(e) = send_change(&h.handle, msg, &obj, "set link down before deleting it").await
        {
            return gone(e);
        }
    }
    match h.handle.link().del(index).execute().await {
        Ok(()) => Ok(()),
        Err(e) => gone(conn::map_err(e, &obj, "delete link")),
    }
}

/// True when a dumped link message describes a bridge.
fn is_bridge(msg: &LinkMessage) -> bool {
    msg.attributes.iter().any(|a| match a {
        LinkAttribute::LinkInfo(info) => info
            .iter()
            .any(|i| matches!(i, LinkInfo::Kind(InfoKind::Bridge))),
        _ => false,
    })
}

/// Apply `change` to link `name`: MTU, MAC, master and kind options in one
/// request, then port options (the kernel picks the port-option parser from
/// the master the link has when the request arrives), then VLANs, and the
/// state `up` last (with the first request when nothing follows it), so a
/// port is configured before it comes up. Every request finds the link by
/// name; an index is looked up only where the kernel wants one.
///
/// List fields follow the planner's convention: an empty list (bridge or
/// port VLANs, macvlan source MACs) leaves the kernel's list alone; a
/// non-empty one replaces it, VLANs in `prior` but not in `change` deleted.
pub(super) async fn set(
    k: &Kernel,
    node: &str,
    name: &str,
    change: &LinkChange,
    prior: &LinkChange,
) -> Result<(), KernelError> {
    let obj = object(node, name);
    let h = node_handle(k, node).await?;

    let mut msg = by_name(name);
    let mut any = false;
    if let Some(mtu) = change.mtu {
        msg.attributes.push(LinkAttribute::Mtu(mtu));
        any = true;
    }
    if let Some(mac) = change.mac {
        msg.attributes.push(LinkAttribute::Address(mac.0.to_vec()));
        any = true;
    }
    if let Some(master) = &change.master {
        // IFLA_MASTER 0 releases the link from its master (`nomaster`).
        let m = match master {
            Some(m) => ifindex(&h, node, m).await?,
            None => 0,
        };
        msg.attributes.push(LinkAttribute::Controller(m));
        any = true;
    }
    let mut vlans = None;
    if let Some(kind) = &change.kind {
        match kind {
            LinkKind::Tun(o) => tun::change(&h, name, o)?,
            LinkKind::Veth(_) => {
                return Err(invalid(
                    &obj,
                    "a veth's peer cannot change; delete and re-create",
                ))
            }
            // The kernel's team driver takes its options over generic netlink
            // from teamd, which a separate driver runs; rtnetlink has none.
            LinkKind::Team(_) => {
                return Err(invalid(
                    &obj,
                    "team options are applied through teamd, not rtnetlink",
                ))
            }
            _ => {
                let info_kind = creatable(kind, &obj)?;
                let data = kind_data(&h, node, kind, false, &obj).await?;
                let mut info = vec![LinkInfo::Kind(info_kind)];
                info.extend(data.map(LinkInfo::Data));
                msg.attributes.push(LinkAttribute::LinkInfo(info));
                any = true;
                if let LinkKind::Bridge(o) = kind {
                    let old = match &prior.kind {
                        Some(LinkKind::Bridge(p)) => p.vlans.as_slice(),
                        _ => &[],
                    };
                    vlans = changed_vlans(&o.vlans, old).map(|v| (VlanTarget::Bridge, v));
                }
            }
        }
    }
    let port = match &change.port {
        Some(p) => port_request(p, &obj)?,
        None => None,
    };
    if let Some(PortOptions::Bridge(p)) = &change.port {
        let old = match &prior.port {
            Some(PortOptions::Bridge(o)) => o.vlans.as_slice(),
            _ => &[],
        };
        if let Some(v) = changed_vlans(&p.vlans, old) {
            vlans = Some((VlanTarget::Port, v));
        }
    }
    let mut up_last = change.up;
    if port.is_none() && vlans.is_none() {
        if let Some(up) = up_last.take() {
            set_up_flag(&mut msg, up);
            any = true;
        }
    }

    if any {
        send_change(&h.handle, msg, &obj, "change link").await?;
    }
    if let Some(mut pmsg) = port {
        pmsg.attributes
            .insert(0, LinkAttribute::IfName(name.to_string()));
        send_change(&h.handle, pmsg, &obj, "set port options").await?;
    }
    if let Some((target, new)) = vlans {
        let index = ifindex(&h, node, name).await?;
        bridge::set_vlans(&h.handle, index, target, &new, &obj).await?;
    }
    if let Some(up) = up_last {
        let mut msg = by_name(name);
        set_up_flag(&mut msg, up);
        send_change(&h.handle, msg, &obj, "change link state").await?;
    }
    Ok(())
}

/// Send a change request (RTM_NEWLINK without NLM_F_CREATE, as `ip link
/// set` does); errors name `obj` and `what` was asked.
async fn send_change(
    handle: &Handle,
    msg: LinkMessage,
    obj: &str,
    what: &str,
) -> Result<(), KernelError> {
    handle
        .link()
        .change(msg)
        .execute()
        .await
        .map_err(|e| conn::map_err(e, obj, what))
}

/// Set or clear IFF_UP in a change request.
fn set_up_flag(msg: &mut LinkMessage, up: bool) {
    if up {
        msg.header.flags |= LinkFlags::Up;
    }
    msg.header.change_mask |= LinkFlags::Up;
}

/// The VLAN list to write: `new` when it is not empty (empty means "leave
/// the kernel's list alone") and differs from `old`.
fn changed_vlans(new: &[BridgeVlan], old: &[BridgeVlan]) -> Option<Vec<BridgeVlan>> {
    (!new.is_empty() && new != old).then(|| new.to_vec())
}

/// The port-options request (without the link's name) for `port`, or
/// `None` when it sets nothing.
fn port_request(port: &PortOptions, obj: &str) -> Result<Option<LinkMessage>, KernelError> {
    let (kind, data) = match port {
        PortOptions::Bridge(p) => {
            let v = bridge::port_info(p);
            (
                InfoPortKind::Bridge,
                (!v.is_empty()).then_some(InfoPortData::BridgePort(v)),
            )
        }
        PortOptions::Bond(p) => {
            let v = bond::port_info(p);
            (
                InfoPortKind::Bond,
                (!v.is_empty()).then_some(InfoPortData::BondPort(v)),
            )
        }
        PortOptions::Team(_) => {
            return Err(invalid(
                obj,
                "team port options are applied through teamd, not rtnetlink",
            ))
        }
    };
    Ok(data.map(|data| {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::PortKind(kind),
            LinkInfo::PortData(data),
        ]));
        msg
    }))
}
