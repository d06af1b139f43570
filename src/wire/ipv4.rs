//! IPv4 headers (RFC 791): enough to read the addresses and payload of what a
//! raw socket received or an ICMP error quoted, and to write an option-less header.
use std::net::Ipv4Addr;

use super::{be16, internet_sum, WireError};

mod field {
    use std::ops::Range;
    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const LENGTH: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..6;
    pub const FLG_OFF: Range<usize> = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Range<usize> = 10..12;
    pub const SRC: Range<usize> = 12..16;
    pub const DST: Range<usize> = 16..20;
}

/// Length of a header without options.
pub const HEADER_LEN: usize = 20;

/// A view of an IPv4 header and what follows it.
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wrap a buffer without checking it: for writing with [`Repr::emit`].
    pub fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Check version, header length and buffer length once, so accessors
    /// cannot panic. The total length is not held against the buffer: an
    /// ICMP error quotes only the start of a packet.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let b = buffer.as_ref();
        let first = *b.get(field::VER_IHL).ok_or(WireError::Truncated)?;
        if first >> 4 != 4 {
            return Err(WireError::Malformed("not IPv4"));
        }
        let header_len = usize::from(first & 0x0f) * 4;
        if header_len < HEADER_LEN {
            return Err(WireError::Malformed("IPv4 header length below 20"));
        }
        if b.len() < header_len {
            return Err(WireError::Truncated);
        }
        Ok(Packet { buffer })
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Header length in bytes, options included.
    pub fn header_len(&self) -> usize {
        usize::from(self.b()[field::VER_IHL] & 0x0f) * 4
    }

    /// Total length of the datagram, header included, as the header says.
    pub fn total_len(&self) -> u16 {
        be16(&self.b()[field::LENGTH])
    }

    /// Time to live.
    pub fn ttl(&self) -> u8 {
        self.b()[field::TTL]
    }

    /// The protocol of the payload.
    pub fn protocol(&self) -> u8 {
        self.b()[field::PROTOCOL]
    }

    /// Header checksum field.
    pub fn checksum(&self) -> u16 {
        be16(&self.b()[field::CHECKSUM])
    }

    /// Whether the header checksum is valid.
    pub fn checksum_ok(&self) -> bool {
        internet_sum(&self.b()[..self.header_len()]) == 0xffff
    }

    /// Source address.
    pub fn src(&self) -> Ipv4Addr {
        ip(&self.b()[field::SRC])
    }

    /// Destination address.
    pub fn dst(&self) -> Ipv4Addr {
        ip(&self.b()[field::DST])
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// Bytes after the header (possibly truncated, as in an ICMP quote).
    pub fn payload(&self) -> &'a [u8] {
        let b = self.buffer.as_ref();
        &b[usize::from(b[field::VER_IHL] & 0x0f) * 4..]
    }
}

fn ip(b: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(b[0], b[1], b[2], b[3])
}

/// The fields of an IPv4 header without options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Protocol of the payload.
    pub protocol: u8,
    /// Time to live.
    pub ttl: u8,
    /// Length of the payload in bytes.
    pub payload_len: usize,
}

impl Repr {
    /// Read a checked packet (options are skipped; the checksum is not
    /// judged here: see [`Packet::checksum_ok`]).
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr, WireError> {
        let total = usize::from(p.total_len());
        if total < p.header_len() {
            return Err(WireError::Malformed(
                "IPv4 total length below header length",
            ));
        }
        Ok(Repr {
            src: p.src(),
            dst: p.dst(),
            protocol: p.protocol(),
            ttl: p.ttl(),
            payload_len: total - p.header_len(),
        })
    }

    /// Bytes of the header and payload.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Write this header into `p`, checksum included (the payload is left as it is).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>) -> Result<(), WireError> {
        let total = u16::try_from(self.buffer_len())
            .map_err(|_| WireError::Malformed("IPv4 datagram above 65535 bytes"))?;
        let b = p.buffer.as_mut();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        b[field::VER_IHL] = 0x45;
        b[field::TOS] = 0;
        b[field::LENGTH].copy_from_slice(&total.to_be_bytes());
        b[field::IDENT].copy_from_slice(&[0, 0]);
        b[field::FLG_OFF].copy_from_slice(&[0, 0]);
        b[field::TTL] = self.ttl;
        b[field::PROTOCOL] = self.protocol;
        b[field::CHECKSUM].copy_from_slice(&[0, 0]);
        b[field::SRC].copy_from_slice(&self.src.octets());
        b[field::DST].copy_from_slice(&self.dst.octets());
        let sum = !internet_sum(&b[..HEADER_LEN]);
        b[field::CHECKSUM].copy_from_slice(&sum.to_be_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::PROTO_ICMP;

    #[test]
    fn ipv4_header_fields_and_bounds() {
        let mut b = [0u8; 24];
        b[0] = 0x45;
        b[9] = PROTO_ICMP;
        b[12..16].copy_from_slice(&[10, 0, 0, 1]);
        b[16..20].copy_from_slice(&[10, 0, 0, 2]);
        let p = Packet::new_checked(&b[..]).expect("valid");
        assert_eq!(p.src(), Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(p.dst(), Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(p.protocol(), PROTO_ICMP);
        assert_eq!(p.payload().len(), 4);
        assert_eq!(
            Packet::new_checked(&b[..19]).err(),
            Some(WireError::Truncated)
        );
        b[0] = 0x4f; // 60-byte header in a 24-byte buffer
        assert_eq!(
            Packet::new_checked(&b[..]).err(),
            Some(WireError::Truncated)
        );
        b[0] = 0x44;
        assert!(Packet::new_checked(&b[..]).is_err());
        assert!(Packet::new_checked(&[][..]).is_err());
    }

    #[test]
    fn emit_parse_roundtrip_with_checksum() {
        let r = Repr {
            src: Ipv4Addr::new(10, 0, 0, 1),
            dst: Ipv4Addr::new(192, 168, 7, 9),
            protocol: PROTO_ICMP,
            ttl: 64,
            payload_len: 3,
        };
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit(&mut Packet::new_unchecked(&mut buf[..]))
            .expect("emit");
        assert_eq!(&buf[..4], &[0x45, 0, 0, 23]);
        let p = Packet::new_checked(&buf[..]).expect("valid");
        assert!(p.checksum_ok());
        assert_eq!(Repr::parse(&p), Ok(r));
        assert_eq!(p.payload().len(), 3);
        // Any flipped header bit breaks the checksum.
        buf[8] ^= 1;
        assert!(!Packet::new_checked(&buf[..]).expect("valid").checksum_ok());
    }

    #[test]
    fn known_header_checksum() {
        // The usual worked example (a UDP datagram 192.168.0.1 -> 192.168.0.199):
        // 4500 0073 0000 4000 4011 ---- c0a8 0001 c0a8 00c7 has checksum b861.
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(!internet_sum(&h), 0xb861);
        h[10..12].copy_from_slice(&0xb861u16.to_be_bytes());
        assert!(Packet::new_checked(&h[..]).expect("valid").checksum_ok());
    }

    #[test]
    fn short_buffers_and_bad_lengths_are_errors() {
        let r = Repr {
            src: Ipv4Addr::LOCALHOST,
            dst: Ipv4Addr::LOCALHOST,
            protocol: 17,
            ttl: 1,
            payload_len: 0,
        };
        let mut small = [0u8; 19];
        assert_eq!(
            r.emit(&mut Packet::new_unchecked(&mut small[..])),
            Err(WireError::Truncated)
        );
        let mut b = [0u8; 20];
        r.emit(&mut Packet::new_unchecked(&mut b[..]))
            .expect("emit");
        b[3] = 19; // total length shorter than the header
        let p = Packet::new_checked(&b[..]).expect("header fits");
        assert!(Repr::parse(&p).is_err());
        let huge = Repr {
            payload_len: 65_536,
            ..r
        };
        assert!(huge.emit(&mut Packet::new_unchecked(&mut b[..])).is_err());
    }
}
