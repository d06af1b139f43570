//! ARP for IPv4 over Ethernet (RFC 826), without the Ethernet header (an
//! AF_PACKET datagram socket adds and strips it).
use std::net::Ipv4Addr;

use super::WireError;
use crate::model::MacAddr;

mod field {
    pub const HTYPE: std::ops::Range<usize> = 0..2;
    pub const PTYPE: std::ops::Range<usize> = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: std::ops::Range<usize> = 6..8;
    pub const SHA: std::ops::Range<usize> = 8..14;
    pub const SPA: std::ops::Range<usize> = 14..18;
    pub const THA: std::ops::Range<usize> = 18..24;
    pub const TPA: std::ops::Range<usize> = 24..28;
    pub const LEN: usize = 28;
}

const HTYPE_ETHERNET: u16 = 1;
const PTYPE_IPV4: u16 = 0x0800;

/// The EtherType of ARP (ETH_P_ARP).
pub const ETHERTYPE: u16 = 0x0806;

/// Length of an Ethernet/IPv4 ARP packet.
pub const LEN: usize = field::LEN;

/// ARP operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// who-has (1).
    Request,
    /// is-at (2).
    Reply,
    /// Any other opcode, kept by number.
    Other(u16),
}

impl From<u16> for Operation {
    fn from(v: u16) -> Self {
        match v {
            1 => Operation::Request,
            2 => Operation::Reply,
            o => Operation::Other(o),
        }
    }
}

impl From<Operation> for u16 {
    fn from(o: Operation) -> u16 {
        match o {
            Operation::Request => 1,
            Operation::Reply => 2,
            Operation::Other(v) => v,
        }
    }
}

/// A checked view of an Ethernet/IPv4 ARP packet (without the Ethernet header).
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wrap a buffer after checking it holds a whole Ethernet/IPv4 ARP packet.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        if buffer.as_ref().len() < field::LEN {
            return Err(WireError::Truncated);
        }
        Ok(Packet { buffer })
    }
    fn u16_at(&self, r: std::ops::Range<usize>) -> u16 {
        let b = &self.buffer.as_ref()[r];
        u16::from_be_bytes([b[0], b[1]])
    }
    fn mac_at(&self, r: std::ops::Range<usize>) -> MacAddr {
        let mut m = [0u8; 6];
        m.copy_from_slice(&self.buffer.as_ref()[r]);
        MacAddr(m)
    }
    fn ip_at(&self, r: std::ops::Range<usize>) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[r];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }
    /// Hardware type (1 = Ethernet).
    pub fn htype(&self) -> u16 {
        self.u16_at(field::HTYPE)
    }
    /// Protocol type (0x0800 = IPv4).
    pub fn ptype(&self) -> u16 {
        self.u16_at(field::PTYPE)
    }
    /// Hardware address length.
    pub fn hlen(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }
    /// Protocol address length.
    pub fn plen(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }
    /// Operation.
    pub fn operation(&self) -> Operation {
        self.u16_at(field::OPER).into()
    }
}

/// A parsed Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Operation.
    pub operation: Operation,
    /// Sender hardware address.
    pub sha: MacAddr,
    /// Sender protocol address.
    pub spa: Ipv4Addr,
    /// Target hardware address.
    pub tha: MacAddr,
    /// Target protocol address.
    pub tpa: Ipv4Addr,
}

impl Repr {
    /// Read a checked packet, refusing anything but Ethernet/IPv4.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr, WireError> {
        if p.htype() != HTYPE_ETHERNET || p.ptype() != PTYPE_IPV4 || p.hlen() != 6 || p.plen() != 4
        {
            return Err(WireError::Malformed("not an Ethernet/IPv4 ARP packet"));
        }
        Ok(Repr {
            operation: p.operation(),
            sha: p.mac_at(field::SHA),
            spa: p.ip_at(field::SPA),
            tha: p.mac_at(field::THA),
            tpa: p.ip_at(field::TPA),
        })
    }

    /// Bytes needed by [`Repr::emit`].
    pub const fn buffer_len(&self) -> usize {
        field::LEN
    }

    /// Write this packet into `p`.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>) {
        let b = p.buffer.as_mut();
        b[field::HTYPE].copy_from_slice(&HTYPE_ETHERNET.to_be_bytes());
        b[field::PTYPE].copy_from_slice(&PTYPE_IPV4.to_be_bytes());
        b[field::HLEN] = 6;
        b[field::PLEN] = 4;
        b[field::OPER].copy_from_slice(&u16::from(self.operation).to_be_bytes());
        b[field::SHA].copy_from_slice(&self.sha.0);
        b[field::SPA].copy_from_slice(&self.spa.octets());
        b[field::THA].copy_from_slice(&self.tha.0);
        b[field::TPA].copy_from_slice(&self.tpa.octets());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Repr {
        Repr {
            operation: Operation::Reply,
            sha: MacAddr([2, 0, 0, 0, 0, 1]),
            spa: Ipv4Addr::new(10, 0, 0, 1),
            tha: MacAddr([2, 0, 0, 0, 0, 2]),
            tpa: Ipv4Addr::new(10, 0, 0, 2),
        }
    }

    #[test]
    fn emit_parse_roundtrip_and_layout() {
        let r = sample();
        let mut buf = [0u8; 28];
        r.emit(&mut Packet::new_checked(&mut buf[..]).expect("fits"));
        assert_eq!(&buf[..8], &[0, 1, 8, 0, 6, 4, 0, 2]);
        assert_eq!(&buf[14..18], &[10, 0, 0, 1]);
        assert_eq!(
            Repr::parse(&Packet::new_checked(&buf[..]).expect("fits")),
            Ok(r)
        );
    }

    #[test]
    fn refuses_short_and_foreign_packets() {
        assert_eq!(
            Packet::new_checked(&[0u8; 27][..]).err(),
            Some(WireError::Truncated)
        );
        let mut buf = [0u8; 28];
        sample().emit(&mut Packet::new_checked(&mut buf[..]).expect("fits"));
        buf[3] = 0xdd; // ptype 0x08dd
        assert!(Repr::parse(&Packet::new_checked(&buf[..]).expect("fits")).is_err());
    }

    #[test]
    fn unknown_operation_is_kept() {
        let mut r = sample();
        r.operation = Operation::Other(9);
        let mut buf = [0u8; 28];
        r.emit(&mut Packet::new_checked(&mut buf[..]).expect("fits"));
        let back = Repr::parse(&Packet::new_checked(&buf[..]).expect("fits")).expect("parse");
        assert_eq!(back.operation, Operation::Other(9));
    }
}
