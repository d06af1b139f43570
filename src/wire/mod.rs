//! Packets as bytes, and nothing else: no sockets, no system calls. One file
//! per protocol the probes and agents speak ([`arp`], [`ipv4`], [`ipv6`],
//! [`icmp`] for ICMPv4 and ICMPv6 echo, [`dhcp`] for the DHCP client, [`dns`]
//! for `resolve:` claims).
//!
//! Each protocol has a `Packet<T>` view over a byte buffer and a `Repr` of
//! its fields. `Packet::new_checked` checks the buffer's length (and the
//! fields that decide it) once, so no accessor can panic afterwards; `Repr`
//! `parse`s from a checked packet and `emit`s into one, so reading and
//! writing are one symmetric pair that tests can round-trip without a kernel.
//! Field offsets live in each file's private `mod field`.
pub mod arp;
pub mod dhcp;
pub mod dns;
pub mod icmp;
pub mod ipv4;
pub mod ipv6;
pub mod ndp;

/// IP protocol number of ICMP (the IPv4 header's protocol field).
pub const PROTO_ICMP: u8 = 1;
/// IP protocol number of ICMPv6 (the IPv6 header's next header field).
pub const PROTO_ICMPV6: u8 = 58;

/// Why bytes could not be read as a packet, or a packet not written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The buffer is shorter than the fields it must hold.
    #[error("packet truncated")]
    Truncated,
    /// A field has a value this code does not accept.
    #[error("malformed packet: {0}")]
    Malformed(&'static str),
}

/// Ones'-complement sum of 16-bit big-endian words (RFC 1071), not yet
/// inverted: a buffer holding a valid checksum sums to 0xffff.
pub fn internet_sum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// The big-endian u16 at the start of `b` (callers pass a checked range).
fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_length_sum() {
        assert_eq!(internet_sum(&[0x01]), 0x0100);
        assert_eq!(internet_sum(&[0xff, 0xff, 0x00, 0x01]), 0x0001);
    }
}
