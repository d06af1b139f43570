//! Interface addresses (RTM_NEWADDR / RTM_DELADDR).
use std::net::IpAddr;

use rtnetlink::packet_route::address::{AddressHeaderFlags, AddressMessage};
use rtnetlink::AddressMessageBuilder;

use super::{ifindex, object};
use crate::kernel::error::KernelError;
use crate::kernel::{conn, NodeHandle};
use crate::model::Address;

/// The address message: IFA_LOCAL and IFA_ADDRESS, and for IPv4 the
/// broadcast address iproute2's `brd +` would give.
fn message(index: u32, addr: &Address) -> AddressMessage {
    let mut msg = match addr.net.addr() {
        IpAddr::V4(a) => AddressMessageBuilder::<std::net::Ipv4Addr>::new()
            .index(index)
            .address(a, addr.net.prefix_len())
            .build(),
        IpAddr::V6(a) => AddressMessageBuilder::<std::net::Ipv6Addr>::new()
            .index(index)
            .address(a, addr.net.prefix_len())
            .build(),
    };
    if addr.net.addr().is_ipv6() && !addr.dad {
        // Skip duplicate address detection so the address is usable at once.
        msg.header.flags |= AddressHeaderFlags::Nodad;
    }
    msg
}

/// Add `addr` to interface `link` of the node (refused when it is there:
/// an address netloom did not see is not taken over).
pub(super) async fn add(
    h: &NodeHandle,
    node: &str,
    link: &str,
    addr: &Address,
) -> Result<(), KernelError> {
    let index = ifindex(h, node, link).await?;
    let mut req = h
        .handle
        .address()
        .add(index, addr.net.addr(), addr.net.prefix_len());
    *req.message_mut() = message(index, addr);
    req.execute()
        .await
        .map_err(|e| conn::map_err(e, &object(node, link), &format!("add address {}", addr.net)))
}

/// Remove `addr` from interface `link` of the node.
pub(super) async fn del(
    h: &NodeHandle,
    node: &str,
    link: &str,
    addr: &Address,
) -> Result<(), KernelError> {
    let index = ifindex(h, node, link).await?;
    h.handle
        .address()
        .del(message(index, addr))
        .execute()
        .await
        .map_err(|e| {
            conn::map_err(
                e,
                &object(node, link),
                &format!("delete address {}", addr.net),
            )
        })
}
