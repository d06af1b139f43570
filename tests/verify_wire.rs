//! Property tests for the probes' packet code: emit then parse gives back the
//! same message, and parsing arbitrary bytes never panics.
use std::net::Ipv4Addr;

use netloom::model::MacAddr;
use netloom::verify::probe::{arp, icmp, ip};
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
        let _ = ip::Ipv4Packet::new_checked(&bytes[..]).map(|p| (p.src(), p.payload().len()));
        let _ = ip::Ipv6Packet::new_checked(&bytes[..]).map(|p| (p.dst(), p.payload().len()));
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
}
