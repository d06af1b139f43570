//! Links: create (RTM_NEWLINK with the kind's IFLA_INFO_DATA), delete, and
//! change (RTM_NEWLINK without NLM_F_CREATE, which unlike RTM_SETLINK also
//! reaches the driver's changelink for kind and port options).
use std::os::fd::AsRawFd;

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
use crate::model::{self, Link, LinkKind, PortOptions};
use crate::plan::LinkChange;

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
            kind_data(&sender.handle, node, &link.kind, true, &obj).await?,
            None,
        ),
    };
    if let Some(lower) = lower_index(&sender.handle, node, &link.kind, &obj).await? {
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
        // follows in its own request (to both veth ends).
        let index = ifindex(&h.handle, node, &link.name).await?;
        set_alias(&h.handle, index, &mark, &obj).await?;
        if let (Some((pnode, ph)), Some(pname)) = (&peer_handle, &peer_name) {
            let pobj = object(pnode, pname);
            let pindex = ifindex(&ph.handle, pnode, pname).await?;
            set_alias(&ph.handle, pindex, &mark, &pobj).await?;
        }
        if let LinkKind::Bridge(o) = &link.kind {
            if !o.vlans.is_empty() {
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

/// Write the ownership mark into IFLA_IFALIAS.
async fn set_alias(handle: &Handle, index: u32, mark: &str, obj: &str) -> Result<(), KernelError> {
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    msg.attributes
        .push(LinkAttribute::IfAlias(mark.to_string()));
    handle
        .link()
        .change(msg)
        .execute()
        .await
        .map_err(|e| conn::map_err(e, obj, "set ownership mark"))
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
    sender: &Handle,
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
    handle: &Handle,
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
pub(super) async fn del(k: &Kernel, node: &str, name: &str) -> Result<(), KernelError> {
    let Some(h) = k.node(node).await? else {
        return Ok(());
    };
    let index = match ifindex(&h.handle, node, name).await {
        Ok(i) => i,
        Err(KernelError::Invalid { message, .. }) if message == "no such interface" => {
            return Ok(())
        }
        Err(e) => return Err(e),
    };
    match h.handle.link().del(index).execute().await {
        Ok(()) => Ok(()),
        Err(e) => {
            let err = conn::map_err(e, &object(node, name), "delete link");
            if err.errno() == Some(libc::ENODEV) {
                Ok(())
            } else {
                Err(err)
            }
        }
    }
}

/// Apply `change` to link `name`: state, MTU, MAC, master and kind options in
/// one request, then port options (the kernel picks the port-option parser
/// from the master the link has when the request arrives), then VLANs.
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
    let index = ifindex(&h.handle, node, name).await?;

    let mut msg = LinkMessage::default();
    msg.header.index = index;
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
            Some(m) => ifindex(&h.handle, node, m).await?,
            None => 0,
        };
        msg.attributes.push(LinkAttribute::Controller(m));
        any = true;
    }
    if let Some(up) = change.up {
        if up {
            msg.header.flags |= LinkFlags::Up;
        }
        msg.header.change_mask |= LinkFlags::Up;
        any = true;
    }
    let mut bridge_vlans = None;
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
                let data = kind_data(&h.handle, node, kind, false, &obj).await?;
                let mut info = vec![LinkInfo::Kind(info_kind)];
                info.extend(data.map(LinkInfo::Data));
                msg.attributes.push(LinkAttribute::LinkInfo(info));
                any = true;
                if let LinkKind::Bridge(o) = kind {
                    let old = match &prior.kind {
                        Some(LinkKind::Bridge(p)) => p.vlans.clone(),
                        _ => Vec::new(),
                    };
                    // An empty list means "leave the VLANs alone" (see `set`).
                    if !o.vlans.is_empty() && old != o.vlans {
                        bridge_vlans = Some((VlanTarget::Bridge, o.vlans.clone()));
                    }
                }
            }
        }
    }
    if any {
        h.handle
            .link()
            .change(msg)
            .execute()
            .await
            .map_err(|e| conn::map_err(e, &obj, "change link"))?;
    }

    if let Some(port) = &change.port {
        let (port_kind, data) = match port {
            PortOptions::Bridge(p) => {
                let old = match &prior.port {
                    Some(PortOptions::Bridge(o)) => o.vlans.clone(),
                    _ => Vec::new(),
                };
                if !p.vlans.is_empty() && old != p.vlans {
                    bridge_vlans = Some((VlanTarget::Port, p.vlans.clone()));
                }
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
                    &obj,
                    "team port options are applied through teamd, not rtnetlink",
                ))
            }
        };
        if let Some(data) = data {
            let mut pmsg = LinkMessage::default();
            pmsg.header.index = index;
            pmsg.attributes.push(LinkAttribute::LinkInfo(vec![
                LinkInfo::PortKind(port_kind),
                LinkInfo::PortData(data),
            ]));
            h.handle
                .link()
                .set_port(pmsg)
                .execute()
                .await
                .map_err(|e| conn::map_err(e, &obj, "set port options"))?;
        }
    }

    if let Some((target, new)) = bridge_vlans {
        bridge::set_vlans(&h.handle, index, target, &new, &obj).await?;
    }
    Ok(())
}
