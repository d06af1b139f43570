//! ARP probes: a who-has prober on an AF_PACKET socket bound to one
//! interface (packets from [`crate::wire::arp`]).
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use super::{wait_readable, Attempt};
use crate::model::MacAddr;
use crate::wire::arp::{Operation, Packet, Repr, ETHERTYPE as ETH_P_ARP, LEN};

/// A link-layer socket address for `ifindex`, optionally aimed at `dst`.
fn sockaddr_ll(ifindex: u32, dst: Option<MacAddr>) -> libc::sockaddr_ll {
    // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
    let mut sa: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sa.sll_family = libc::AF_PACKET as u16;
    sa.sll_protocol = ETH_P_ARP.to_be();
    sa.sll_ifindex = ifindex as i32;
    if let Some(m) = dst {
        sa.sll_halen = 6;
        sa.sll_addr[..6].copy_from_slice(&m.0);
    }
    sa
}

/// Open an AF_PACKET datagram socket for ARP on `ifindex` (the kernel adds the Ethernet header).
fn open(ifindex: u32) -> Result<OwnedFd, String> {
    // SAFETY: plain socket(2); the fd is owned right away.
    let raw = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            i32::from(ETH_P_ARP.to_be()),
        )
    };
    if raw < 0 {
        return Err(format!(
            "AF_PACKET socket: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: raw is a fresh, valid fd that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let sa = sockaddr_ll(ifindex, None);
    // SAFETY: sa is a valid sockaddr_ll of the given length.
    let r = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sa as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    if r != 0 {
        return Err(format!(
            "bind AF_PACKET: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(fd)
}

/// Broadcast who-has `target` from (`mac`, `src`) on `ifindex` and wait for its is-at.
pub fn who_has(
    ifindex: u32,
    mac: MacAddr,
    src: Ipv4Addr,
    target: Ipv4Addr,
    timeout: Duration,
) -> Attempt {
    let fd = match open(ifindex) {
        Ok(fd) => fd,
        Err(e) => return Attempt::Failed(e),
    };
    let req = Repr {
        operation: Operation::Request,
        sha: mac,
        spa: src,
        tha: MacAddr([0; 6]),
        tpa: target,
    };
    let mut buf = [0u8; LEN];
    match Packet::new_checked(&mut buf[..]) {
        Ok(mut p) => req.emit(&mut p),
        Err(e) => return Attempt::Failed(format!("cannot build ARP request: {e}")),
    }
    let to = sockaddr_ll(ifindex, Some(MacAddr([0xff; 6])));
    let sent = Instant::now();
    // SAFETY: buf and `to` are valid for the lengths given.
    let r = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            buf.as_ptr().cast(),
            buf.len(),
            0,
            (&to as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    if r < 0 {
        return Attempt::Failed(format!("send ARP: {}", std::io::Error::last_os_error()));
    }
    let deadline = sent + timeout;
    let mut rbuf = [0u8; 128];
    loop {
        match wait_readable(&fd, deadline) {
            Ok(true) => {}
            Ok(false) => return Attempt::Timeout,
            Err(e) => return Attempt::Failed(format!("poll: {e}")),
        }
        // SAFETY: rbuf is valid for its length.
        let n = unsafe { libc::recv(fd.as_raw_fd(), rbuf.as_mut_ptr().cast(), rbuf.len(), 0) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Attempt::Failed(format!("recv ARP: {e}"));
        }
        let Ok(p) = Packet::new_checked(&rbuf[..n as usize]) else {
            continue;
        };
        match Repr::parse(&p) {
            Ok(rep) if rep.operation == Operation::Reply && rep.spa == target => {
                return Attempt::Answer {
                    rtt: sent.elapsed(),
                    note: format!("{target} is-at {}", rep.sha),
                    mac: Some(rep.sha),
                }
            }
            _ => continue,
        }
    }
}
