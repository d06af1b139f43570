//! Minimal IPv4 and IPv6 header views: enough to find addresses and the payload
//! of a packet a raw socket received or an ICMP error quoted.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::WireError;

mod field {
    pub const V4_VER_IHL: usize = 0;
    pub const V4_PROTOCOL: usize = 9;
    pub const V4_SRC: std::ops::Range<usize> = 12..16;
    pub const V4_DST: std::ops::Range<usize> = 16..20;
    pub const V4_MIN_LEN: usize = 20;
    pub const V6_NEXT_HEADER: usize = 6;
    pub const V6_SRC: std::ops::Range<usize> = 8..24;
    pub const V6_DST: std::ops::Range<usize> = 24..40;
    pub const V6_LEN: usize = 40;
}

/// IP protocol number of ICMP.
pub const PROTO_ICMP: u8 = 1;
/// IP protocol number of ICMPv6.
pub const PROTO_ICMPV6: u8 = 58;

/// A checked view of an IPv4 header and what follows it.
#[derive(Debug, Clone, Copy)]
pub struct Ipv4Packet<'a> {
    buffer: &'a [u8],
    header_len: usize,
}

impl<'a> Ipv4Packet<'a> {
    /// Check version, header length and buffer length once, so accessors cannot panic.
    pub fn new_checked(buffer: &'a [u8]) -> Result<Self, WireError> {
        let first = *buffer.get(field::V4_VER_IHL).ok_or(WireError::Truncated)?;
        if first >> 4 != 4 {
            return Err(WireError::Malformed("not IPv4"));
        }
        let header_len = usize::from(first & 0x0f) * 4;
        if header_len < field::V4_MIN_LEN {
            return Err(WireError::Malformed("IPv4 header length below 20"));
        }
        if buffer.len() < header_len {
            return Err(WireError::Truncated);
        }
        Ok(Ipv4Packet { buffer, header_len })
    }

    /// The protocol of the payload.
    pub fn protocol(&self) -> u8 {
        self.buffer[field::V4_PROTOCOL]
    }

    /// Source address.
    pub fn src(&self) -> Ipv4Addr {
        let b = &self.buffer[field::V4_SRC];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    /// Destination address.
    pub fn dst(&self) -> Ipv4Addr {
        let b = &self.buffer[field::V4_DST];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    /// Bytes after the header (possibly truncated, as in an ICMP quote).
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer[self.header_len..]
    }
}

/// A checked view of a fixed IPv6 header and what follows it.
#[derive(Debug, Clone, Copy)]
pub struct Ipv6Packet<'a> {
    buffer: &'a [u8],
}

impl<'a> Ipv6Packet<'a> {
    /// Check version and length once, so accessors cannot panic.
    pub fn new_checked(buffer: &'a [u8]) -> Result<Self, WireError> {
        if buffer.len() < field::V6_LEN {
            return Err(WireError::Truncated);
        }
        if buffer[0] >> 4 != 6 {
            return Err(WireError::Malformed("not IPv6"));
        }
        Ok(Ipv6Packet { buffer })
    }

    /// The next header (extension headers are not followed).
    pub fn next_header(&self) -> u8 {
        self.buffer[field::V6_NEXT_HEADER]
    }

    /// Source address.
    pub fn src(&self) -> Ipv6Addr {
        let mut b = [0u8; 16];
        b.copy_from_slice(&self.buffer[field::V6_SRC]);
        Ipv6Addr::from(b)
    }

    /// Destination address.
    pub fn dst(&self) -> Ipv6Addr {
        let mut b = [0u8; 16];
        b.copy_from_slice(&self.buffer[field::V6_DST]);
        Ipv6Addr::from(b)
    }

    /// Bytes after the fixed header.
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer[field::V6_LEN..]
    }
}

/// Destination of a quoted (IPv4 or IPv6) header, with its payload, when it carries `proto`.
pub fn quoted(buffer: &[u8], v6: bool) -> Result<(IpAddr, u8, &[u8]), WireError> {
    if v6 {
        let p = Ipv6Packet::new_checked(buffer)?;
        Ok((IpAddr::V6(p.dst()), p.next_header(), p.payload()))
    } else {
        let p = Ipv4Packet::new_checked(buffer)?;
        Ok((IpAddr::V4(p.dst()), p.protocol(), p.payload()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_header_fields_and_bounds() {
        let mut b = [0u8; 24];
        b[0] = 0x45;
        b[9] = PROTO_ICMP;
        b[12..16].copy_from_slice(&[10, 0, 0, 1]);
        b[16..20].copy_from_slice(&[10, 0, 0, 2]);
        let p = Ipv4Packet::new_checked(&b).expect("valid");
        assert_eq!(p.src(), Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(p.dst(), Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(p.protocol(), PROTO_ICMP);
        assert_eq!(p.payload().len(), 4);
        assert_eq!(
            Ipv4Packet::new_checked(&b[..19]).err(),
            Some(WireError::Truncated)
        );
        b[0] = 0x4f; // 60-byte header in a 24-byte buffer
        assert_eq!(
            Ipv4Packet::new_checked(&b).err(),
            Some(WireError::Truncated)
        );
        b[0] = 0x44;
        assert!(Ipv4Packet::new_checked(&b).is_err());
        assert!(Ipv4Packet::new_checked(&[]).is_err());
    }

    #[test]
    fn ipv6_header_fields_and_bounds() {
        let mut b = [0u8; 48];
        b[0] = 0x60;
        b[6] = PROTO_ICMPV6;
        b[23] = 1;
        b[39] = 2;
        let p = Ipv6Packet::new_checked(&b).expect("valid");
        assert_eq!(p.src(), "::1".parse::<Ipv6Addr>().expect("addr"));
        assert_eq!(p.dst(), "::2".parse::<Ipv6Addr>().expect("addr"));
        assert_eq!(p.payload().len(), 8);
        assert!(Ipv6Packet::new_checked(&b[..39]).is_err());
        b[0] = 0x40;
        assert!(Ipv6Packet::new_checked(&b).is_err());
    }
}
