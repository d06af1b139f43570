//! Routes from one RTM_GETROUTE dump (all families, all tables).
//!
//! Kept: unicast routes of the main table and of numbered tables, with
//! `table: None` for main (254). Left out, because a topology never declares
//! them and the kernel manages them: the local table (255), proto kernel
//! (connected prefixes), proto ra (router advertisements), IPv6 multicast
//! and fe80::/64 routes, and non-unicast types (local, broadcast,
//! blackhole...). Multipath routes are left out too: [`Route`] holds one
//! gateway. `metric` is the raw RTA_PRIORITY: IPv4 routes default to 0 and
//! IPv6 routes to 1024 in the kernel, and that value is reported as is.
use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteProtocol, RouteType, RouteVia,
};
use rtnetlink::packet_route::AddressFamily;

use crate::model::{Route, RT_TABLE_MAIN};

const RT_TABLE_LOCAL: u32 = 255;

fn ip_of(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v) => Some(IpAddr::V4(*v)),
        RouteAddress::Inet6(v) => Some(IpAddr::V6(*v)),
        _ => None,
    }
}

/// One route message as a [`Route`], or `None` when it is left out (see module docs).
pub(super) fn parse(msg: &RouteMessage, names: &HashMap<u32, String>) -> Option<Route> {
    let h = &msg.header;
    if !matches!(h.address_family, AddressFamily::Inet | AddressFamily::Inet6) {
        return None;
    }
    if h.kind != RouteType::Unicast
        || matches!(h.protocol, RouteProtocol::Kernel | RouteProtocol::Ra)
    {
        return None;
    }
    let mut table = u32::from(h.table);
    let (mut dst, mut via, mut oif, mut metric, mut src) = (None, None, None, None, None);
    for a in &msg.attributes {
        match a {
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Destination(d) => dst = ip_of(d),
            RouteAttribute::Gateway(g) => via = ip_of(g),
            RouteAttribute::Via(RouteVia::Inet(v)) => via = Some(IpAddr::V4(*v)),
            RouteAttribute::Via(RouteVia::Inet6(v)) => via = Some(IpAddr::V6(*v)),
            RouteAttribute::Oif(i) => oif = Some(*i),
            RouteAttribute::Priority(p) => metric = Some(*p),
            RouteAttribute::PrefSource(s) => src = ip_of(s),
            RouteAttribute::MultiPath(_) => return None,
            _ => {}
        }
    }
    if table == RT_TABLE_LOCAL {
        return None;
    }
    let v6 = h.address_family == AddressFamily::Inet6;
    let dst = dst.unwrap_or(if v6 {
        IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
    });
    let to = IpNet::new(dst, h.destination_prefix_length).ok()?;
    if let IpNet::V6(n) = to {
        let first = n.network().segments()[0];
        // ff00::/8 multicast and fe80::/10 link-local.
        if first & 0xff00 == 0xff00 || first & 0xffc0 == 0xfe80 {
            return None;
        }
    }
    Some(Route {
        to,
        via,
        dev: oif.and_then(|i| names.get(&i).cloned()),
        metric,
        table: (table != RT_TABLE_MAIN).then_some(table),
        src,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(
        family: AddressFamily,
        plen: u8,
        proto: RouteProtocol,
        attrs: Vec<RouteAttribute>,
    ) -> RouteMessage {
        let mut m = RouteMessage::default();
        m.header.address_family = family;
        m.header.destination_prefix_length = plen;
        m.header.protocol = proto;
        m.header.kind = RouteType::Unicast;
        m.header.table = 254;
        m.attributes = attrs;
        m
    }

    #[test]
    fn static_routes_are_kept_with_table_and_metric() {
        let names = HashMap::from([(2u32, "eth0".to_string())]);
        let r = parse(
            &msg(
                AddressFamily::Inet,
                0,
                RouteProtocol::Boot,
                vec![
                    RouteAttribute::Gateway(RouteAddress::Inet("10.0.0.1".parse().unwrap())),
                    RouteAttribute::Oif(2),
                    RouteAttribute::Table(100),
                ],
            ),
            &names,
        )
        .unwrap();
        assert_eq!(
            r,
            Route {
                to: "0.0.0.0/0".parse().unwrap(),
                via: Some("10.0.0.1".parse().unwrap()),
                dev: Some("eth0".into()),
                metric: None,
                table: Some(100),
                src: None,
            }
        );
        let r = parse(
            &msg(
                AddressFamily::Inet6,
                48,
                RouteProtocol::Static,
                vec![
                    RouteAttribute::Destination(RouteAddress::Inet6("2001:db8::".parse().unwrap())),
                    RouteAttribute::Priority(1024),
                    RouteAttribute::Table(254),
                ],
            ),
            &names,
        )
        .unwrap();
        assert_eq!(r.table, None);
        assert_eq!(r.metric, Some(1024));
        assert_eq!(r.to, "2001:db8::/48".parse::<IpNet>().unwrap());
    }

    #[test]
    fn kernel_managed_routes_are_left_out() {
        let names = HashMap::new();
        let connected = msg(AddressFamily::Inet, 24, RouteProtocol::Kernel, vec![]);
        assert_eq!(parse(&connected, &names), None);
        let ll = msg(
            AddressFamily::Inet6,
            64,
            RouteProtocol::Boot,
            vec![RouteAttribute::Destination(RouteAddress::Inet6(
                "fe80::".parse().unwrap(),
            ))],
        );
        assert_eq!(parse(&ll, &names), None);
        let mut local = msg(AddressFamily::Inet, 32, RouteProtocol::Boot, vec![]);
        local.header.table = 255;
        assert_eq!(parse(&local, &names), None);
        let mut bh = msg(AddressFamily::Inet, 8, RouteProtocol::Boot, vec![]);
        bh.header.kind = RouteType::BlackHole;
        assert_eq!(parse(&bh, &names), None);
    }
}
