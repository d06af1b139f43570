//! UDP reachability. What "reached" means for UDP: the destination host
//! answered, either with a datagram from the port or with an ICMP port
//! unreachable (the host is there, nothing listens). Silence within the
//! timeout counts as "no answer": a silent service and a lost packet look alike.
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::socket::{
    connect, recv, send, setsockopt, sockopt, MsgFlags, SockType, SockaddrStorage,
};

use super::tcp::classify_errno;
use super::{wait_readable, Attempt};

/// Payload of every UDP probe.
const PAYLOAD: &[u8] = b"netloom-probe-v1";

/// Send one datagram to `dst:port` and wait for a reply or an ICMP error.
pub fn exchange(dst: IpAddr, port: u16, iface: Option<&str>, timeout: Duration) -> Attempt {
    let fd = match super::tcp::socket_for(dst, SockType::Datagram, iface) {
        Ok(fd) => fd,
        Err(a) => return a,
    };
    // Host/net unreachable are "soft" ICMP errors: without IP_RECVERR a UDP
    // socket never sees them (only port unreachable), and the probe would just time out.
    let recverr = if dst.is_ipv4() {
        setsockopt(&fd, sockopt::Ipv4RecvErr, &true)
    } else {
        setsockopt(&fd, sockopt::Ipv6RecvErr, &true)
    };
    if let Err(e) = recverr {
        return Attempt::Failed(format!("IP_RECVERR: {e}"));
    }
    // Connected, so the kernel reports ICMP errors for this flow on the socket.
    let to = SockaddrStorage::from(SocketAddr::new(dst, port));
    if let Err(e) = connect(fd.as_raw_fd(), &to) {
        return classify_errno(e, dst);
    }
    let start = Instant::now();
    if let Err(e) = send(fd.as_raw_fd(), PAYLOAD, MsgFlags::empty()) {
        return classify_errno(e, dst);
    }
    let deadline = start + timeout;
    let mut buf = [0u8; 2048];
    loop {
        match wait_readable(&fd, deadline) {
            Ok(true) => {}
            Ok(false) => return Attempt::Timeout,
            Err(e) => return Attempt::Failed(format!("poll: {e}")),
        }
        match recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty()) {
            Ok(_) => {
                return Attempt::Answer {
                    rtt: start.elapsed(),
                    note: format!("reply from port {port}"),
                    mac: None,
                }
            }
            Err(Errno::ECONNREFUSED) => {
                return Attempt::Answer {
                    rtt: start.elapsed(),
                    note: format!("ICMP port {port} unreachable: host up, port closed"),
                    mac: None,
                }
            }
            Err(Errno::EAGAIN | Errno::EINTR) => continue,
            Err(e) => return classify_errno(e, dst),
        }
    }
}
