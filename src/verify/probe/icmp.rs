//! ICMP / ICMPv6 echo: a pinger on a raw socket, and how it tells its own
//! answer from everything else the socket sees (packets from [`crate::wire::icmp`]).
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::socket::{
    recvfrom, sendto, setsockopt, socket, sockopt, AddressFamily, MsgFlags, SockFlag, SockProtocol,
    SockType, SockaddrStorage,
};

use super::{wait_readable, Attempt};
use crate::verify::Error;
use crate::wire::icmp::{Family, Packet, Repr};
use crate::wire::ipv4;

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
    pub fn new(dst: IpAddr, iface: Option<&str>, ident: u16) -> Result<Pinger, Error> {
        let (af, proto, family) = match dst {
            IpAddr::V4(_) => (AddressFamily::Inet, SockProtocol::Icmp, Family::V4),
            IpAddr::V6(_) => (AddressFamily::Inet6, SockProtocol::IcmpV6, Family::V6),
        };
        let failed = |what: String| move |source| Error::Socket { what, source };
        let fd = socket(af, SockType::Raw, SockFlag::SOCK_CLOEXEC, proto)
            .map_err(failed("raw ICMP socket".into()))?;
        if let Some(i) = iface {
            setsockopt(&fd, sockopt::BindToDevice, &std::ffi::OsString::from(i))
                .map_err(failed(format!("SO_BINDTODEVICE {i}")))?;
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
            Family::V4 => ipv4::Packet::new_checked(data).ok()?.payload(),
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
