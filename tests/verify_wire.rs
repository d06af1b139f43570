//! Property tests for the probes' packet code: emit then parse gives back the
//! same message, and parsing arbitrary bytes never panics.
use std::net::{Ipv4Addr, Ipv6Addr};

use netloom::model::MacAddr;
use netloom::wire::{arp, icmp, ipv4, ipv6};
use proptest::prelude::*;

fn family() -> impl Strategy<Value = icmp::Family> {
    prop_oneof![Just(icmp::Family::V4), Just(icmp::Family::V6)]
}

proptest! {
    #[test]
    fn icmp_echo_roundtrips(ident: u16, seq: u16, data in proptest::collection::vec(any::<u8>(), 0..64),
                            reply: bool, fam in family()) {
        let r = if reply {
            icmp::Repr::EchoReply { ident, seq, data: &data }
        } else {
            icmp::Repr::EchoRequest { ident, seq, data: &data }
        };
        let mut buf = vec![0u8; r.buffer_len()];
        let mut p = icmp::Packet::new_checked(&mut buf[..]).expect("fits");
        r.emit(&mut p, fam).expect("emit");
        let p = icmp::Packet::new_checked(&buf[..]).expect("fits");
        if fam == icmp::Family::V4 {
            prop_assert!(p.checksum_ok());
        }
        prop_assert_eq!(icmp::Repr::parse(&p, fam).expect("parse"), r);
    }

    #[test]
    fn icmp_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..128), fam in family()) {
        if let Ok(p) = icmp::Packet::new_checked(&bytes[..]) {
            let _ = icmp::Repr::parse(&p, fam);
        }
        let _ = ipv4::Packet::new_checked(&bytes[..]).map(|p| (p.src(), p.payload().len()));
        let _ = ipv6::Packet::new_checked(&bytes[..]).map(|p| (p.dst(), p.payload().len()));
    }

    #[test]
    fn arp_roundtrips(op in 0u16..5, sha: [u8; 6], spa: [u8; 4], tha: [u8; 6], tpa: [u8; 4]) {
        let r = arp::Repr {
            operation: op.into(),
            sha: MacAddr(sha),
            spa: Ipv4Addr::from(spa),
            tha: MacAddr(tha),
            tpa: Ipv4Addr::from(tpa),
        };
        let mut buf = [0u8; 28];
        r.emit(&mut arp::Packet::new_checked(&mut buf[..]).expect("fits"));
        let back = arp::Repr::parse(&arp::Packet::new_checked(&buf[..]).expect("fits")).expect("parse");
        prop_assert_eq!(back, r);
        prop_assert_eq!(u16::from(back.operation), op);
    }

    #[test]
    fn arp_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(p) = arp::Packet::new_checked(&bytes[..]) {
            let _ = arp::Repr::parse(&p);
        }
    }

    #[test]
    fn ipv4_roundtrips(src: [u8; 4], dst: [u8; 4], protocol: u8, ttl: u8,
                       payload in proptest::collection::vec(any::<u8>(), 0..64)) {
        let r = ipv4::Repr {
            src: Ipv4Addr::from(src),
            dst: Ipv4Addr::from(dst),
            protocol,
            ttl,
            payload_len: payload.len(),
        };
        let mut buf = vec![0u8; r.buffer_len()];
        buf[ipv4::HEADER_LEN..].copy_from_slice(&payload);
        r.emit(&mut ipv4::Packet::new_unchecked(&mut buf[..])).expect("emit");
        let p = ipv4::Packet::new_checked(&buf[..]).expect("valid");
        prop_assert!(p.checksum_ok());
        prop_assert_eq!(ipv4::Repr::parse(&p).expect("parse"), r);
        prop_assert_eq!(p.payload(), &payload[..]);
    }

    #[test]
    fn ipv6_roundtrips(src: [u8; 16], dst: [u8; 16], next_header: u8, hop_limit: u8,
                       payload in proptest::collection::vec(any::<u8>(), 0..64)) {
        let r = ipv6::Repr {
            src: Ipv6Addr::from(src),
            dst: Ipv6Addr::from(dst),
            next_header,
            hop_limit,
            payload_len: payload.len(),
        };
        let mut buf = vec![0u8; r.buffer_len()];
        buf[ipv6::HEADER_LEN..].copy_from_slice(&payload);
        r.emit(&mut ipv6::Packet::new_unchecked(&mut buf[..])).expect("emit");
        let p = ipv6::Packet::new_checked(&buf[..]).expect("valid");
        prop_assert_eq!(ipv6::Repr::parse(&p).expect("parse"), r);
        prop_assert_eq!(p.payload(), &payload[..]);
    }

    #[test]
    fn ip_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        if let Ok(p) = ipv4::Packet::new_checked(&bytes[..]) {
            let _ = (ipv4::Repr::parse(&p), p.checksum_ok(), p.payload().len());
        }
        if let Ok(p) = ipv6::Packet::new_checked(&bytes[..]) {
            let _ = (ipv6::Repr::parse(&p), p.payload().len());
        }
    }
}
