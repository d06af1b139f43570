//! IPv6 fixed headers (RFC 8200): enough to read the addresses and payload of
//! what an ICMPv6 error quoted, and to write a header. Extension headers are
//! not followed.
use std::net::Ipv6Addr;

use super::{be16, WireError};

mod field {
    use std::ops::Range;
    pub const VER_TC_FLOW: Range<usize> = 0..4;
    pub const PAYLOAD_LEN: Range<usize> = 4..6;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: Range<usize> = 8..24;
    pub const DST: Range<usize> = 24..40;
}

/// Length of the fixed header.
pub const HEADER_LEN: usize = 40;

/// A view of a fixed IPv6 header and what follows it.
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wrap a buffer without checking it: for writing with [`Repr::emit`].
    pub fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Check version and length once, so accessors cannot panic. The payload
    /// length is not held against the buffer: an ICMPv6 error quotes only
    /// the start of a packet.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if b[0] >> 4 != 6 {
            return Err(WireError::Malformed("not IPv6"));
        }
        Ok(Packet { buffer })
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Length of what follows the fixed header, as the header says.
    pub fn payload_len(&self) -> u16 {
        be16(&self.b()[field::PAYLOAD_LEN])
    }

    /// The next header (extension headers are not followed).
    pub fn next_header(&self) -> u8 {
        self.b()[field::NEXT_HEADER]
    }

    /// Hop limit.
    pub fn hop_limit(&self) -> u8 {
        self.b()[field::HOP_LIMIT]
    }

    /// Source address.
    pub fn src(&self) -> Ipv6Addr {
        ip(&self.b()[field::SRC])
    }

    /// Destination address.
    pub fn dst(&self) -> Ipv6Addr {
        ip(&self.b()[field::DST])
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// Bytes after the fixed header (possibly truncated, as in an ICMPv6 quote).
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }
}

fn ip(b: &[u8]) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(b);
    Ipv6Addr::from(a)
}

/// The fields of a fixed IPv6 header (traffic class and flow label zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// Next header.
    pub next_header: u8,
    /// Hop limit.
    pub hop_limit: u8,
    /// Length of the payload in bytes.
    pub payload_len: usize,
}

impl Repr {
    /// Read a checked packet.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr, WireError> {
        Ok(Repr {
            src: p.src(),
            dst: p.dst(),
            next_header: p.next_header(),
            hop_limit: p.hop_limit(),
            payload_len: usize::from(p.payload_len()),
        })
    }

    /// Bytes of the header and payload.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Write this header into `p` (the payload is left as it is).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>) -> Result<(), WireError> {
        let len = u16::try_from(self.payload_len)
            .map_err(|_| WireError::Malformed("IPv6 payload above 65535 bytes"))?;
        let b = p.buffer.as_mut();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        b[field::VER_TC_FLOW].copy_from_slice(&[0x60, 0, 0, 0]);
        b[field::PAYLOAD_LEN].copy_from_slice(&len.to_be_bytes());
        b[field::NEXT_HEADER] = self.next_header;
        b[field::HOP_LIMIT] = self.hop_limit;
        b[field::SRC].copy_from_slice(&self.src.octets());
        b[field::DST].copy_from_slice(&self.dst.octets());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::PROTO_ICMPV6;

    #[test]
    fn ipv6_header_fields_and_bounds() {
        let mut b = [0u8; 48];
        b[0] = 0x60;
        b[6] = PROTO_ICMPV6;
        b[23] = 1;
        b[39] = 2;
        let p = Packet::new_checked(&b[..]).expect("valid");
        assert_eq!(p.src(), "::1".parse::<Ipv6Addr>().expect("addr"));
        assert_eq!(p.dst(), "::2".parse::<Ipv6Addr>().expect("addr"));
        assert_eq!(p.payload().len(), 8);
        assert!(Packet::new_checked(&b[..39]).is_err());
        b[0] = 0x40;
        assert!(Packet::new_checked(&b[..]).is_err());
    }

    #[test]
    fn emit_parse_roundtrip() {
        let r = Repr {
            src: "fd00::1".parse().expect("addr"),
            dst: "fd00::2".parse().expect("addr"),
            next_header: PROTO_ICMPV6,
            hop_limit: 255,
            payload_len: 5,
        };
        let mut buf = vec![0xaau8; r.buffer_len()];
        r.emit(&mut Packet::new_unchecked(&mut buf[..]))
            .expect("emit");
        assert_eq!(&buf[..8], &[0x60, 0, 0, 0, 0, 5, 58, 255]);
        let p = Packet::new_checked(&buf[..]).expect("valid");
        assert_eq!(Repr::parse(&p), Ok(r));
        assert_eq!(p.payload(), &[0xaa; 5]);
        let mut small = [0u8; 39];
        assert_eq!(
            r.emit(&mut Packet::new_unchecked(&mut small[..])),
            Err(WireError::Truncated)
        );
    }
}
