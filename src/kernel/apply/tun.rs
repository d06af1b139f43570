//! tun/tap: created by ioctl in the node's namespace ([`crate::kernel::tun`]),
//! then given MTU, MAC and the ownership mark over netlink like any link.
use rtnetlink::packet_route::link::{LinkAttribute, LinkMessage};

use super::link::forget;
use super::{lookup_index, object};
use crate::kernel::error::KernelError;
use crate::kernel::{conn, tun, NodeHandle};
use crate::model::{Link, TunOptions};

/// Create tun/tap `link` in the node and set its MTU, MAC and `mark`.
pub(super) async fn add(
    h: &NodeHandle,
    node: &str,
    link: &Link,
    o: &TunOptions,
    mark: &str,
) -> Result<(), KernelError> {
    let obj = object(node, &link.name);
    // TUNSETIFF on an existing persistent device attaches to it instead of
    // failing: refuse here, as the kernel does for every other kind.
    match lookup_index(&h.handle, node, &link.name).await {
        Ok(_) => {
            return Err(KernelError::Netlink {
                object: obj,
                op: "create link".into(),
                errno: libc::EEXIST,
                message: "a link with this name already exists".into(),
            })
        }
        Err(KernelError::Invalid { .. }) => {}
        Err(e) => return Err(e),
    }
    tun::create(&h.netns, &link.name, o)?;
    // Found by name: IFLA_IFNAME selects the device when the index is 0.
    let mut msg = LinkMessage::default();
    msg.attributes
        .push(LinkAttribute::IfName(link.name.clone()));
    if let Some(mtu) = link.mtu {
        msg.attributes.push(LinkAttribute::Mtu(mtu));
    }
    if let Some(mac) = link.mac {
        msg.attributes.push(LinkAttribute::Address(mac.0.to_vec()));
    }
    msg.attributes
        .push(LinkAttribute::IfAlias(mark.to_string()));
    let done = h
        .handle
        .link()
        .change(msg)
        .execute()
        .await
        .map_err(|e| conn::map_err(e, &obj, "set tun mtu, mac and mark"));
    if done.is_err() {
        // The device is persistent: remove the half-made one.
        forget(&h.handle, &link.name).await;
    }
    done
}

/// Change owner, group or multi-queue of an existing tun/tap: TUNSETIFF on a
/// persistent device attaches to it, after which the setters apply again.
pub(super) fn change(h: &NodeHandle, name: &str, o: &TunOptions) -> Result<(), KernelError> {
    tun::create(&h.netns, name, o)
}
