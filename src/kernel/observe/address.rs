//! Addresses from one RTM_GETADDR dump, grouped by ifindex.
use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;
use rtnetlink::packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressProtocol,
};

use crate::model::Address;

/// Turn one address message into (ifindex, address), or `None` for addresses
/// the kernel made by itself: IPv6 link-local (IFA_PROTO kernel_ll), SLAAC
/// (kernel_ra) and loopback (kernel_lo) addresses, which a topology never declares.
/// `dad` is true for IPv6 addresses without IFA_F_NODAD, always false for IPv4.
pub(super) fn parse(msg: &AddressMessage) -> Option<(u32, Address)> {
    let mut local = None;
    let mut address = None;
    let mut flags = None;
    for a in &msg.attributes {
        match a {
            AddressAttribute::Local(ip) => local = Some(*ip),
            AddressAttribute::Address(ip) => address = Some(*ip),
            AddressAttribute::Flags(f) => flags = Some(*f),
            AddressAttribute::Protocol(
                AddressProtocol::LinkLocal
                | AddressProtocol::RouterAnnouncement
                | AddressProtocol::Loopback,
            ) => return None,
            _ => {}
        }
    }
    // IFA_LOCAL is the own address on point-to-point links (IFA_ADDRESS is then the peer).
    let ip: IpAddr = local.or(address)?;
    let net = IpNet::new(ip, msg.header.prefix_len).ok()?;
    let nodad = match flags {
        Some(f) => f.contains(AddressFlags::Nodad),
        None => msg.header.flags.contains(AddressHeaderFlags::Nodad),
    };
    let dad = ip.is_ipv6() && !nodad;
    let secondary = match flags {
        Some(f) => f.contains(AddressFlags::Secondary),
        None => msg.header.flags.contains(AddressHeaderFlags::Secondary),
    };
    Some((
        msg.header.index,
        Address {
            net,
            dad,
            secondary,
        },
    ))
}

/// Whether `a` is one of the addresses the kernel gives the loopback device
/// when it goes up (127.0.0.1/8, ::1/128). Older kernels do not mark them with
/// IFA_PROTO kernel_lo, so they are recognised by value on the loopback device.
pub(super) fn is_loopback_default(a: &Address) -> bool {
    let v4: IpNet = IpNet::new(IpAddr::from([127, 0, 0, 1]), 8).expect("valid prefix");
    let v6: IpNet =
        IpNet::new(IpAddr::V6(std::net::Ipv6Addr::LOCALHOST), 128).expect("valid prefix");
    a.net == v4 || a.net == v6
}

/// Group address messages by ifindex, each list sorted.
pub(super) fn by_ifindex(msgs: &[AddressMessage]) -> HashMap<u32, Vec<Address>> {
    let mut out: HashMap<u32, Vec<Address>> = HashMap::new();
    for m in msgs {
        if let Some((i, a)) = parse(m) {
            out.entry(i).or_default().push(a);
        }
    }
    for v in out.values_mut() {
        v.sort();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtnetlink::packet_route::AddressFamily;

    fn msg(ip: &str, plen: u8, attrs: Vec<AddressAttribute>) -> AddressMessage {
        let mut m = AddressMessage::default();
        let ip: IpAddr = ip.parse().unwrap();
        m.header.family = if ip.is_ipv4() {
            AddressFamily::Inet
        } else {
            AddressFamily::Inet6
        };
        m.header.prefix_len = plen;
        m.header.index = 3;
        m.attributes = attrs;
        m.attributes.push(AddressAttribute::Address(ip));
        m
    }

    #[test]
    fn v4_and_v6_addresses_with_dad() {
        let a = parse(&msg(
            "10.0.0.1",
            24,
            vec![AddressAttribute::Flags(AddressFlags::Permanent)],
        ));
        assert_eq!(
            a,
            Some((
                3,
                Address {
                    net: "10.0.0.1/24".parse().unwrap(),
                    dad: false,
                    secondary: false,
                }
            ))
        );
        let b = parse(&msg(
            "2001:db8::1",
            64,
            vec![AddressAttribute::Flags(AddressFlags::Nodad)],
        ));
        assert!(!b.unwrap().1.dad);
        let c = parse(&msg(
            "2001:db8::1",
            64,
            vec![AddressAttribute::Flags(AddressFlags::Permanent)],
        ));
        assert!(c.unwrap().1.dad);
    }

    #[test]
    fn loopback_defaults_are_recognised() {
        assert!(is_loopback_default(&Address {
            net: "127.0.0.1/8".parse().unwrap(),
            dad: false,
            secondary: false,
        }));
        assert!(is_loopback_default(&Address {
            net: "::1/128".parse().unwrap(),
            dad: true,
            secondary: false,
        }));
        assert!(!is_loopback_default(&Address {
            net: "127.0.0.2/8".parse().unwrap(),
            dad: false,
            secondary: false,
        }));
    }

    #[test]
    fn kernel_made_addresses_are_skipped() {
        let ll = msg(
            "fe80::1",
            64,
            vec![AddressAttribute::Protocol(AddressProtocol::LinkLocal)],
        );
        assert_eq!(parse(&ll), None);
        // A link-local address somebody configured (no IFA_PROTO) is kept.
        let own = msg("fe80::1", 64, vec![]);
        assert!(parse(&own).is_some());
    }
}
