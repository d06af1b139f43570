//! ICMP and ICMPv6 messages (RFC 792, RFC 4443) as an echo prober sends
//! and reads them: echo request and reply, and destination unreachable
//! quoting an echo request. The two share one layout; only the type numbers
//! and the checksum differ (ICMPv6 sums a pseudo-header, which the kernel
//! fills in for a raw ICMPv6 socket).
use std::net::IpAddr;

use super::{be16, internet_sum, ipv4, ipv6, WireError, PROTO_ICMP, PROTO_ICMPV6};

mod field {
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: std::ops::Range<usize> = 2..4;
    pub const IDENT: std::ops::Range<usize> = 4..6;
    pub const SEQ: std::ops::Range<usize> = 6..8;
    pub const HEADER_LEN: usize = 8;
}

/// ICMP type numbers, which differ between ICMPv4 and ICMPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// ICMP for IPv4.
    V4,
    /// ICMPv6.
    V6,
}

impl Family {
    fn echo_request(self) -> u8 {
        match self {
            Family::V4 => 8,
            Family::V6 => 128,
        }
    }
    fn echo_reply(self) -> u8 {
        match self {
            Family::V4 => 0,
            Family::V6 => 129,
        }
    }
    fn dst_unreachable(self) -> u8 {
        match self {
            Family::V4 => 3,
            Family::V6 => 1,
        }
    }
    fn proto(self) -> u8 {
        match self {
            Family::V4 => PROTO_ICMP,
            Family::V6 => PROTO_ICMPV6,
        }
    }
}

/// A checked view of an ICMP message (the 8-byte header and its body).
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wrap a buffer, checking once that the header fits so no accessor can panic.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        if buffer.as_ref().len() < field::HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(Packet { buffer })
    }
    /// ICMP type.
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }
    /// ICMP code.
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }
    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::CHECKSUM])
    }
    /// Echo identifier (bytes 4..6).
    pub fn ident(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::IDENT])
    }
    /// Echo sequence number (bytes 6..8).
    pub fn seq(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::SEQ])
    }
    /// Everything after the 8-byte header.
    pub fn body(&self) -> &[u8] {
        &self.buffer.as_ref()[field::HEADER_LEN..]
    }
    /// Whether the ones'-complement sum over the message is valid (ICMPv4 only;
    /// ICMPv6 sums a pseudo-header the kernel handles).
    pub fn checksum_ok(&self) -> bool {
        internet_sum(self.buffer.as_ref()) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn set_u16(&mut self, r: std::ops::Range<usize>, v: u16) {
        self.buffer.as_mut()[r].copy_from_slice(&v.to_be_bytes());
    }
    /// Compute and store the ICMPv4 checksum.
    pub fn fill_checksum(&mut self) {
        self.set_u16(field::CHECKSUM, 0);
        let sum = !internet_sum(self.buffer.as_ref());
        self.set_u16(field::CHECKSUM, sum);
    }
}

/// Destination, protocol and payload of the IP header an ICMP error quotes
/// (IPv4 for ICMP, IPv6 for ICMPv6).
fn quoted(body: &[u8], family: Family) -> Result<(IpAddr, u8, &[u8]), WireError> {
    match family {
        Family::V4 => {
            let p = ipv4::Packet::new_checked(body)?;
            Ok((IpAddr::V4(p.dst()), p.protocol(), p.payload()))
        }
        Family::V6 => {
            let p = ipv6::Packet::new_checked(body)?;
            Ok((IpAddr::V6(p.dst()), p.next_header(), p.payload()))
        }
    }
}

/// The ICMP messages a pinger sends or cares about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repr<'a> {
    /// Echo request.
    EchoRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq: u16,
        /// Payload echoed back.
        data: &'a [u8],
    },
    /// Echo reply.
    EchoReply {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq: u16,
        /// Payload.
        data: &'a [u8],
    },
    /// Destination unreachable quoting one of our echo requests.
    DstUnreachable {
        /// Unreachable code (v4: 0 net, 1 host, 3 port...; v6: 0 no route, 3 address...).
        code: u8,
        /// Destination of the quoted packet.
        quoted_dst: IpAddr,
        /// Identifier of the quoted echo request.
        ident: u16,
        /// Sequence of the quoted echo request.
        seq: u16,
    },
    /// Anything else (kept by number, never misread).
    Other {
        /// ICMP type.
        msg_type: u8,
        /// ICMP code.
        code: u8,
    },
}

impl<'a> Repr<'a> {
    /// Read a message of `family` from a checked packet.
    pub fn parse(p: &Packet<&'a [u8]>, family: Family) -> Result<Repr<'a>, WireError> {
        let t = p.msg_type();
        let buf: &'a [u8] = p.buffer;
        let body = &buf[field::HEADER_LEN..];
        if t == family.echo_request() {
            return Ok(Repr::EchoRequest {
                ident: p.ident(),
                seq: p.seq(),
                data: body,
            });
        }
        if t == family.echo_reply() {
            return Ok(Repr::EchoReply {
                ident: p.ident(),
                seq: p.seq(),
                data: body,
            });
        }
        if t == family.dst_unreachable() {
            let (quoted_dst, proto, inner) = quoted(body, family)?;
            if proto != family.proto() {
                return Err(WireError::Malformed("quoted packet is not ICMP"));
            }
            let q = Packet::new_checked(inner)?;
            if q.msg_type() != family.echo_request() {
                return Err(WireError::Malformed("quoted ICMP is not an echo request"));
            }
            return Ok(Repr::DstUnreachable {
                code: p.code(),
                quoted_dst,
                ident: q.ident(),
                seq: q.seq(),
            });
        }
        Ok(Repr::Other {
            msg_type: t,
            code: p.code(),
        })
    }

    /// Bytes needed to emit this message (echo messages only).
    pub fn buffer_len(&self) -> usize {
        match self {
            Repr::EchoRequest { data, .. } | Repr::EchoReply { data, .. } => {
                field::HEADER_LEN + data.len()
            }
            _ => field::HEADER_LEN,
        }
    }

    /// Write an echo message into `p` (checksum filled for ICMPv4).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        p: &mut Packet<T>,
        family: Family,
    ) -> Result<(), WireError> {
        let (t, ident, seq, data) = match self {
            Repr::EchoRequest { ident, seq, data } => (family.echo_request(), ident, seq, data),
            Repr::EchoReply { ident, seq, data } => (family.echo_reply(), ident, seq, data),
            _ => return Err(WireError::Malformed("only echo messages are emitted")),
        };
        if p.buffer.as_ref().len() < self.buffer_len() {
            return Err(WireError::Truncated);
        }
        let b = p.buffer.as_mut();
        b[field::TYPE] = t;
        b[field::CODE] = 0;
        b[field::HEADER_LEN..field::HEADER_LEN + data.len()].copy_from_slice(data);
        p.set_u16(field::IDENT, *ident);
        p.set_u16(field::SEQ, *seq);
        if family == Family::V4 {
            p.fill_checksum();
        } else {
            p.set_u16(field::CHECKSUM, 0);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_request_emit_parse_roundtrip_v4_with_checksum() {
        let req = Repr::EchoRequest {
            ident: 0x1234,
            seq: 7,
            data: b"abc",
        };
        let mut buf = vec![0u8; req.buffer_len()];
        let mut p = Packet::new_checked(&mut buf[..]).expect("fits");
        req.emit(&mut p, Family::V4).expect("emit");
        assert_eq!(&buf[..8], &[8, 0, buf[2], buf[3], 0x12, 0x34, 0, 7]);
        let p = Packet::new_checked(&buf[..]).expect("fits");
        assert!(p.checksum_ok());
        assert_eq!(Repr::parse(&p, Family::V4).expect("parse"), req);
        // Any flipped bit breaks the checksum.
        let mut bad = buf.clone();
        bad[9] ^= 1;
        assert!(!Packet::new_checked(&bad[..]).expect("fits").checksum_ok());
    }

    #[test]
    fn known_checksum_value() {
        // Echo request id=1 seq=1 no data: sum of 0x0800 + 0x0001 + 0x0001 = 0x0802 -> !0x0802.
        let req = Repr::EchoRequest {
            ident: 1,
            seq: 1,
            data: &[],
        };
        let mut buf = [0u8; 8];
        req.emit(
            &mut Packet::new_checked(&mut buf[..]).expect("fits"),
            Family::V4,
        )
        .expect("emit");
        assert_eq!(
            Packet::new_checked(&buf[..]).expect("fits").checksum(),
            !0x0802u16
        );
    }

    #[test]
    fn v6_echo_types_and_zero_checksum() {
        let rep = Repr::EchoReply {
            ident: 9,
            seq: 2,
            data: b"x",
        };
        let mut buf = [0u8; 9];
        rep.emit(
            &mut Packet::new_checked(&mut buf[..]).expect("fits"),
            Family::V6,
        )
        .expect("emit");
        assert_eq!(buf[0], 129);
        assert_eq!(&buf[2..4], &[0, 0]);
        let p = Packet::new_checked(&buf[..]).expect("fits");
        assert_eq!(Repr::parse(&p, Family::V6).expect("parse"), rep);
        // The same bytes read as ICMPv4 are not an echo.
        assert!(matches!(
            Repr::parse(&p, Family::V4),
            Ok(Repr::Other { msg_type: 129, .. })
        ));
    }

    #[test]
    fn truncated_and_short_buffers_are_errors() {
        assert_eq!(
            Packet::new_checked(&[0u8; 7][..]).err(),
            Some(WireError::Truncated)
        );
        let req = Repr::EchoRequest {
            ident: 1,
            seq: 1,
            data: b"abcd",
        };
        let mut small = [0u8; 10];
        let mut p = Packet::new_checked(&mut small[..]).expect("header fits");
        assert_eq!(req.emit(&mut p, Family::V4), Err(WireError::Truncated));
    }

    #[test]
    fn unreachable_quoting_our_request_is_parsed() {
        // ICMP host unreachable quoting IPv4 header (10.0.0.1 -> 10.0.0.9) + echo id 5 seq 3.
        let mut msg = vec![3u8, 1, 0, 0, 0, 0, 0, 0];
        let mut iph = [0u8; 20];
        iph[0] = 0x45;
        iph[9] = PROTO_ICMP;
        iph[12..16].copy_from_slice(&[10, 0, 0, 1]);
        iph[16..20].copy_from_slice(&[10, 0, 0, 9]);
        msg.extend_from_slice(&iph);
        msg.extend_from_slice(&[8, 0, 0, 0, 0, 5, 0, 3]);
        let p = Packet::new_checked(&msg[..]).expect("fits");
        assert_eq!(
            Repr::parse(&p, Family::V4).expect("parse"),
            Repr::DstUnreachable {
                code: 1,
                quoted_dst: "10.0.0.9".parse().expect("ip"),
                ident: 5,
                seq: 3
            }
        );
        // Cut inside the quoted echo header: an error, not a panic.
        let p = Packet::new_checked(&msg[..msg.len() - 2]).expect("fits");
        assert!(Repr::parse(&p, Family::V4).is_err());
    }

    #[test]
    fn v6_unreachable_quoting_our_request_is_parsed() {
        let ours = Repr::EchoRequest {
            ident: 7,
            seq: 2,
            data: b"x",
        };
        let mut echo = vec![0u8; ours.buffer_len()];
        ours.emit(
            &mut Packet::new_checked(&mut echo[..]).expect("fits"),
            Family::V6,
        )
        .expect("emit");
        let header = ipv6::Repr {
            src: "fd00::1".parse().expect("ip"),
            dst: "fd00::9".parse().expect("ip"),
            next_header: PROTO_ICMPV6,
            hop_limit: 64,
            payload_len: echo.len(),
        };
        let mut quote = vec![0u8; header.buffer_len()];
        header
            .emit(&mut ipv6::Packet::new_unchecked(&mut quote[..]))
            .expect("emit");
        quote[ipv6::HEADER_LEN..].copy_from_slice(&echo);
        // Type 1 (destination unreachable), code 3 (address unreachable).
        let mut msg = vec![1u8, 3, 0, 0, 0, 0, 0, 0];
        msg.extend_from_slice(&quote);
        let p = Packet::new_checked(&msg[..]).expect("fits");
        assert_eq!(
            Repr::parse(&p, Family::V6).expect("parse"),
            Repr::DstUnreachable {
                code: 3,
                quoted_dst: "fd00::9".parse().expect("ip"),
                ident: 7,
                seq: 2
            }
        );
        // A quote of something else than ICMPv6 is refused.
        msg[8 + 6] = 17;
        let p = Packet::new_checked(&msg[..]).expect("fits");
        assert!(Repr::parse(&p, Family::V6).is_err());
    }
}
