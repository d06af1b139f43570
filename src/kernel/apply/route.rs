//! Routes (RTM_NEWROUTE / RTM_DELROUTE) with gateway, device, metric and table.
use std::net::IpAddr;

use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use rtnetlink::packet_route::AddressFamily;

use super::{ifindex, invalid};
use crate::kernel::error::KernelError;
use crate::kernel::{conn, NodeHandle};
use crate::model::Route;

/// An IP address as a route attribute value.
fn addr(a: IpAddr) -> RouteAddress {
    match a {
        IpAddr::V4(a) => RouteAddress::Inet(a),
        IpAddr::V6(a) => RouteAddress::Inet6(a),
    }
}

/// The object name of a route in errors: `node/route TO`.
fn object(node: &str, r: &Route) -> String {
    format!("{node}/route {}", r.to)
}

/// The route message. For a delete the header matches any protocol, scope
/// and type (as `ip route del` does), so only the named fields must match.
async fn message(
    h: &NodeHandle,
    node: &str,
    r: &Route,
    delete: bool,
) -> Result<RouteMessage, KernelError> {
    let mut msg = RouteMessage::default();
    let v4 = r.to.addr().is_ipv4();
    if r.via.is_some_and(|g| g.is_ipv4() != v4) {
        return Err(invalid(
            &object(node, r),
            "the gateway's address family differs from the destination's",
        ));
    }
    msg.header.address_family = if v4 {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    msg.header.destination_prefix_length = r.to.prefix_len();
    if delete {
        msg.header.protocol = RouteProtocol::Unspec;
        msg.header.scope = RouteScope::NoWhere;
        msg.header.kind = RouteType::Unspec;
    } else {
        msg.header.protocol = RouteProtocol::Static;
        // A route without a gateway reaches its destination directly on the
        // link, which is scope link for IPv4 (as iproute2 chooses).
        msg.header.scope = if r.via.is_none() && v4 {
            RouteScope::Link
        } else {
            RouteScope::Universe
        };
        msg.header.kind = RouteType::Unicast;
    }
    // Tables above 255 only fit in RTA_TABLE; the header then says unspec.
    let table = r.table.unwrap_or(u32::from(RouteHeader::RT_TABLE_MAIN));
    match u8::try_from(table) {
        Ok(t) => msg.header.table = t,
        Err(_) => msg.header.table = RouteHeader::RT_TABLE_UNSPEC,
    }
    msg.attributes.push(RouteAttribute::Table(table));
    if r.to.prefix_len() > 0 {
        msg.attributes
            .push(RouteAttribute::Destination(addr(r.to.network())));
    }
    if let Some(g) = r.via {
        msg.attributes.push(RouteAttribute::Gateway(addr(g)));
    }
    if let Some(dev) = &r.dev {
        let index = ifindex(h, node, dev).await?;
        msg.attributes.push(RouteAttribute::Oif(index));
    }
    if let Some(m) = r.metric {
        msg.attributes.push(RouteAttribute::Priority(m));
    }
    if let Some(s) = r.src {
        msg.attributes.push(RouteAttribute::PrefSource(addr(s)));
    }
    Ok(msg)
}

/// Add route `r` in the node.
pub(super) async fn add(h: &NodeHandle, node: &str, r: &Route) -> Result<(), KernelError> {
    let msg = message(h, node, r, false).await?;
    h.handle
        .route()
        .add(msg)
        .execute()
        .await
        .map_err(|e| conn::map_err(e, &object(node, r), "add route"))
}

/// Delete route `r` from the node.
pub(super) async fn del(h: &NodeHandle, node: &str, r: &Route) -> Result<(), KernelError> {
    let msg = message(h, node, r, true).await?;
    h.handle
        .route()
        .del(msg)
        .execute()
        .await
        .map_err(|e| conn::map_err(e, &object(node, r), "delete route"))
}
