//! TCP reachability: a non-blocking connect. A SYN-ACK (port open) or a RST
//! (port closed) both prove the host answered; silence or an ICMP error do not.
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{
    connect, getsockopt, setsockopt, socket, sockopt, AddressFamily, SockFlag, SockType,
    SockaddrStorage,
};

use super::Attempt;

/// Map a connect error to an attempt result (shared with UDP).
pub fn classify_errno(e: Errno, dst: IpAddr) -> Attempt {
    match e {
        Errno::ENETUNREACH => Attempt::NoRoute,
        Errno::EHOSTUNREACH => Attempt::Unreachable {
            reason: format!("host {dst} unreachable"),
            by: None,
        },
        other => Attempt::Failed(format!("{dst}: {}", other.desc())),
    }
}

/// A non-blocking socket of `kind` for `dst`'s family, bound to `iface` if given.
pub(super) fn socket_for(
    dst: IpAddr,
    kind: SockType,
    iface: Option<&str>,
) -> Result<std::os::fd::OwnedFd, Attempt> {
    let af = if dst.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    let name = if kind == SockType::Stream {
        "TCP"
    } else {
        "UDP"
    };
    let fd = socket(
        af,
        kind,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| Attempt::Failed(format!("{name} socket: {e}")))?;
    if let Some(i) = iface {
        setsockopt(&fd, sockopt::BindToDevice, &std::ffi::OsString::from(i))
            .map_err(|e| Attempt::Failed(format!("SO_BINDTODEVICE {i}: {e}")))?;
    }
    Ok(fd)
}

/// Try to connect to `dst:port` from the current namespace, leaving by `iface` if given.
pub fn connect_once(dst: IpAddr, port: u16, iface: Option<&str>, timeout: Duration) -> Attempt {
    let fd = match socket_for(dst, SockType::Stream, iface) {
        Ok(fd) => fd,
        Err(a) => return a,
    };
    let to = SockaddrStorage::from(SocketAddr::new(dst, port));
    let start = Instant::now();
    match connect(fd.as_raw_fd(), &to) {
        Ok(()) => {
            return Attempt::Answer {
                rtt: start.elapsed(),
                note: format!("port {port} open (SYN-ACK)"),
                mac: None,
            }
        }
        Err(Errno::EINPROGRESS) => {}
        Err(Errno::ECONNREFUSED) => {
            return Attempt::Answer {
                rtt: start.elapsed(),
                note: format!("port {port} closed (RST)"),
                mac: None,
            }
        }
        Err(e) => return classify_errno(e, dst),
    }
    let deadline = start + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Attempt::Timeout;
        }
        let ms = u16::try_from(left.as_millis().max(1)).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLOUT)];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(0) => continue,
            Ok(_) => break,
            Err(Errno::EINTR) => continue,
            Err(e) => return Attempt::Failed(format!("poll: {e}")),
        }
    }
    let rtt = start.elapsed();
    match getsockopt(&fd, sockopt::SocketError) {
        Ok(0) => Attempt::Answer {
            rtt,
            note: format!("port {port} open (SYN-ACK)"),
            mac: None,
        },
        Ok(code) if code == libc::ECONNREFUSED => Attempt::Answer {
            rtt,
            note: format!("port {port} closed (RST)"),
            mac: None,
        },
        Ok(code) => classify_errno(Errno::from_raw(code), dst),
        Err(e) => Attempt::Failed(format!("SO_ERROR: {e}")),
    }
}
