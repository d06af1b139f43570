//! The probes' raw socket, and the second unsafe room of the crate (the
//! first is `kernel::sys`): an AF_PACKET datagram socket bound to one
//! interface and one EtherType, for ARP. nix has no safe way to build a
//! `sockaddr_ll`, so opening, binding and sending are done here with libc.
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use super::super::Error;
use crate::model::MacAddr;

/// An AF_PACKET datagram socket on one interface: the kernel adds and
/// strips the Ethernet header, so what is sent and received is the payload.
#[derive(Debug)]
pub struct PacketSocket {
    fd: OwnedFd,
    ifindex: u32,
    ethertype: u16,
}

/// A link-layer socket address for `ifindex` and `ethertype`, optionally aimed at `dst`.
fn sockaddr_ll(ifindex: u32, ethertype: u16, dst: Option<MacAddr>) -> libc::sockaddr_ll {
    // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
    let mut sa: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sa.sll_family = libc::AF_PACKET as u16;
    sa.sll_protocol = ethertype.to_be();
    sa.sll_ifindex = ifindex as i32;
    if let Some(m) = dst {
        sa.sll_halen = 6;
        sa.sll_addr[..6].copy_from_slice(&m.0);
    }
    sa
}

/// The length of a sockaddr_ll, as the socket calls take it.
const SOCKADDR_LL_LEN: libc::socklen_t = std::mem::size_of::<libc::sockaddr_ll>() as _;

impl PacketSocket {
    /// Open a socket for frames of `ethertype` on interface `ifindex`, in the
    /// calling thread's namespace.
    pub fn open(ifindex: u32, ethertype: u16) -> Result<PacketSocket, Error> {
        let failed = |what: &str| Error::Socket {
            what: what.to_string(),
            source: nix::Error::last(),
        };
        // SAFETY: plain socket(2) with integer arguments.
        let raw = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                i32::from(ethertype.to_be()),
            )
        };
        if raw < 0 {
            return Err(failed("AF_PACKET socket"));
        }
        // SAFETY: `raw` is a fresh, valid descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let sa = sockaddr_ll(ifindex, ethertype, None);
        // SAFETY: `sa` is a valid sockaddr_ll of the length given, alive
        // for the call; `fd` is open.
        let r = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sa as *const libc::sockaddr_ll).cast(),
                SOCKADDR_LL_LEN,
            )
        };
        if r != 0 {
            return Err(failed("bind AF_PACKET"));
        }
        Ok(PacketSocket {
            fd,
            ifindex,
            ethertype,
        })
    }

    /// A socket that only sends frames of `ethertype` out of `ifindex`:
    /// made with protocol 0 and never bound, so it hooks into no receive
    /// path, and opening it costs no RCU grace period (binding a socket
    /// that has a protocol hook unregisters it with synchronize_net(),
    /// packet_do_bind: some 10-20 ms, too long for a moved address's
    /// announcement).
    pub fn sender(ifindex: u32, ethertype: u16) -> Result<PacketSocket, Error> {
        // SAFETY: plain socket(2) with integer arguments.
        let raw =
            unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(Error::Socket {
                what: "AF_PACKET socket".to_string(),
                source: nix::Error::last(),
            });
        }
        // SAFETY: `raw` is a fresh, valid descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(PacketSocket {
            fd,
            ifindex,
            ethertype,
        })
    }

    /// Send `payload` to the station `dst` (ff:ff:ff:ff:ff:ff: everyone).
    pub fn send_to(&self, payload: &[u8], dst: MacAddr) -> io::Result<usize> {
        let to = sockaddr_ll(self.ifindex, self.ethertype, Some(dst));
        // SAFETY: `payload` and `to` are valid for the lengths given and
        // outlive the call; the descriptor is open while `self` lives.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                payload.as_ptr().cast(),
                payload.len(),
                0,
                (&to as *const libc::sockaddr_ll).cast(),
                SOCKADDR_LL_LEN,
            )
        };
        usize::try_from(n).map_err(|_| io::Error::last_os_error())
    }

    /// Receive one frame's payload into `buf` (blocks: poll first).
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        nix::sys::socket::recv(
            self.fd.as_raw_fd(),
            buf,
            nix::sys::socket::MsgFlags::empty(),
        )
        .map_err(io::Error::from)
    }
}

impl AsFd for PacketSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
