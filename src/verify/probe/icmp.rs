//! ICMP / ICMPv6 echo: the packet view and representation, and a pinger on a raw socket.
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::socket::{
    recvfrom, sendto, setsockopt, socket, sockopt, AddressFamily, MsgFlags, SockFlag, SockProtocol,
    SockType, SockaddrStorage,
};

use super::{ip, wait_readable, Attempt, WireError};

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
            Family::V4 => ip::PROTO_ICMP,
            Family::V6 => ip::PROTO_ICMPV6,
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

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

/// Ones'-complement sum of 16-bit words (RFC 1071), not yet inverted.
fn internet_sum(data: &[u8]) -> u16 {
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
            let (quoted_dst, proto, inner) = ip::quoted(body, family == Family::V6)?;
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

/// Body of every echo request, so replies can be told from others' echoes.
const PAYLOAD: &[u8] = b"netloom-probe-v1";

/// An echo prober: one raw socket, one identifier, increasing sequence numbers.
pub struct Pinger {
    fd: OwnedFd,
    family: Family,
    dst: IpAddr,
    ident: u16,
    seq: u16,
}

impl Pinger {
    /// Open a raw ICMP socket for `dst` in the current namespace, bound to `iface` if given.
    pub fn new(dst: IpAddr, iface: Option<&str>, ident: u16) -> Result<Pinger, String> {
        let (af, proto, family) = match dst {
            IpAddr::V4(_) => (AddressFamily::Inet, SockProtocol::Icmp, Family::V4),
            IpAddr::V6(_) => (AddressFamily::Inet6, SockProtocol::IcmpV6, Family::V6),
        };
        let fd = socket(af, SockType::Raw, SockFlag::SOCK_CLOEXEC, proto)
            .map_err(|e| format!("raw ICMP socket: {e}"))?;
        if let Some(i) = iface {
            setsockopt(&fd, sockopt::BindToDevice, &std::ffi::OsString::from(i))
                .map_err(|e| format!("SO_BINDTODEVICE {i}: {e}"))?;
        }
        Ok(Pinger {
            fd,
            family,
            dst,
            ident,
            seq: 0,
        })
    }

    /// Send one echo request and wait up to `timeout` for its answer.
    pub fn once(&mut self, timeout: Duration) -> Attempt {
        self.seq = self.seq.wrapping_add(1);
        let req = Repr::EchoRequest {
            ident: self.ident,
            seq: self.seq,
            data: PAYLOAD,
        };
        let mut buf = vec![0u8; req.buffer_len()];
        let emitted =
            Packet::new_checked(&mut buf[..]).and_then(|mut p| req.emit(&mut p, self.family));
        if let Err(e) = emitted {
            return Attempt::Failed(format!("cannot build echo request: {e}"));
        }
        let to = SockaddrStorage::from(SocketAddr::new(self.dst, 0));
        let sent = Instant::now();
        match sendto(self.fd.as_raw_fd(), &buf, &to, MsgFlags::empty()) {
            Ok(_) => {}
            Err(Errno::ENETUNREACH) => return Attempt::NoRoute,
            Err(Errno::EHOSTUNREACH) => {
                return Attempt::Failed(format!("host {} unreachable (sendto)", self.dst))
            }
            Err(e) => return Attempt::Failed(format!("sendto {}: {e}", self.dst)),
        }
        let deadline = sent + timeout;
        let mut rbuf = [0u8; 1500];
        loop {
            match wait_readable(&self.fd, deadline) {
                Ok(true) => {}
                Ok(false) => return Attempt::Timeout,
                Err(e) => return Attempt::Failed(format!("poll: {e}")),
            }
            let (n, from) = match recvfrom::<SockaddrStorage>(self.fd.as_raw_fd(), &mut rbuf) {
                Ok(r) => r,
                Err(Errno::EINTR | Errno::EAGAIN) => continue,
                Err(e) => return Attempt::Failed(format!("recv: {e}")),
            };
            let from_ip = from.and_then(|f| sockaddr_ip(&f));
            let want = Awaiting {
                family: self.family,
                dst: self.dst,
                ident: self.ident,
                seq: self.seq,
            };
            if let Some(a) = want.classify(&rbuf[..n], from_ip, sent) {
                return a;
            }
        }
    }
}

/// The echo a pinger waits for.
#[derive(Debug, Clone, Copy)]
pub struct Awaiting {
    /// ICMP flavour.
    pub family: Family,
    /// Address the request went to.
    pub dst: IpAddr,
    /// Identifier of the request.
    pub ident: u16,
    /// Sequence number of the request.
    pub seq: u16,
}

impl Awaiting {
    /// Turn a received packet into an attempt result, or `None` when it is not ours.
    pub fn classify(&self, data: &[u8], from: Option<IpAddr>, sent: Instant) -> Option<Attempt> {
        // A raw IPv4 socket hands over the IP header too; an ICMPv6 one does not.
        let icmp = match self.family {
            Family::V4 => ip::Ipv4Packet::new_checked(data).ok()?.payload(),
            Family::V6 => data,
        };
        let p = Packet::new_checked(icmp).ok()?;
        match Repr::parse(&p, self.family).ok()? {
            Repr::EchoReply { ident, seq, data }
                if ident == self.ident && seq == self.seq && data == PAYLOAD =>
            {
                if from.is_some_and(|f| f != self.dst) {
                    let f = from.map(|f| f.to_string()).unwrap_or_default();
                    return Some(Attempt::Failed(format!(
                        "echo reply came from {f}, not from {}",
                        self.dst
                    )));
                }
                Some(Attempt::Answer {
                    rtt: sent.elapsed(),
                    note: String::new(),
                    mac: None,
                })
            }
            Repr::DstUnreachable {
                code,
                quoted_dst,
                ident,
                seq,
            } if ident == self.ident && seq == self.seq && quoted_dst == self.dst => {
                let by = from.map(|f| f.to_string()).unwrap_or_else(|| "?".into());
                Some(Attempt::Unreachable {
                    reason: format!(
                        "destination unreachable ({}) reported by {by}",
                        unreachable_text(self.family, code)
                    ),
                    by: from,
                })
            }
            _ => None,
        }
    }
}

/// Words for an ICMP destination-unreachable code.
fn unreachable_text(family: Family, code: u8) -> &'static str {
    match (family, code) {
        (Family::V4, 0) => "net unreachable",
        (Family::V4, 1) => "host unreachable",
        (Family::V4, 3) => "port unreachable",
        (Family::V4, 13) => "administratively prohibited",
        (Family::V6, 0) => "no route",
        (Family::V6, 1) => "administratively prohibited",
        (Family::V6, 3) => "address unreachable",
        (Family::V6, 4) => "port unreachable",
        _ => "other code",
    }
}

/// The IP address of a socket address, if it is an internet one.
pub fn sockaddr_ip(s: &SockaddrStorage) -> Option<IpAddr> {
    if let Some(v4) = s.as_sockaddr_in() {
        return Some(IpAddr::V4(v4.ip()));
    }
    s.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
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
        iph[9] = ip::PROTO_ICMP;
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
    fn odd_length_sum() {
        assert_eq!(internet_sum(&[0x01]), 0x0100);
        assert_eq!(internet_sum(&[0xff, 0xff, 0x00, 0x01]), 0x0001);
    }
}

#[cfg(test)]
mod classify_tests {
    use super::*;

    fn reply(ident: u16, seq: u16) -> Vec<u8> {
        let r = Repr::EchoReply {
            ident,
            seq,
            data: PAYLOAD,
        };
        let mut b = vec![0u8; r.buffer_len()];
        r.emit(
            &mut Packet::new_checked(&mut b[..]).expect("fits"),
            Family::V6,
        )
        .expect("emit");
        b
    }

    #[test]
    fn only_our_echo_from_the_target_is_an_answer() {
        let dst: IpAddr = "fd00::2".parse().expect("ip");
        let want = Awaiting {
            family: Family::V6,
            dst,
            ident: 7,
            seq: 3,
        };
        let now = Instant::now();
        assert!(matches!(
            want.classify(&reply(7, 3), Some(dst), now),
            Some(Attempt::Answer { .. })
        ));
        // Someone else's echo (another prober in the namespace) is ignored.
        assert_eq!(want.classify(&reply(8, 3), Some(dst), now), None);
        assert_eq!(want.classify(&reply(7, 2), Some(dst), now), None);
        // Our echo answered by another address is said so.
        let other: IpAddr = "fd00::3".parse().expect("ip");
        match want.classify(&reply(7, 3), Some(other), now) {
            Some(Attempt::Failed(r)) => {
                assert!(r.contains("came from fd00::3, not from fd00::2"), "{r}")
            }
            x => panic!("unexpected {x:?}"),
        }
        // Garbage is not ours.
        assert_eq!(want.classify(&[1, 2, 3], Some(dst), now), None);
    }
}
