//! Listening to the kernel: an rtnetlink socket subscribed to multicast
//! groups (RTNLGRP_LINK: a link's flags, carrier, state) in the calling
//! thread's namespace, read without blocking by a caller that waits in
//! poll(2). The kernel sends RTM_NEWLINK on every change of IFF_UP and
//! IFF_LOWER_UP (rtnl_link_notify from netdev_state_change and
//! linkwatch_do_dev); a veth's carrier change is linkwatch-urgent (its
//! iflink differs from its ifindex), so it is reported at once.
use std::os::fd::{AsFd, BorrowedFd};

use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use super::error::KernelError;

/// RTMGRP_LINK: the link group's bit in a netlink bind mask.
pub const GROUP_LINK: u32 = 1;
/// RTMGRP_IPV4_ROUTE: IPv4 routes added and deleted.
pub const GROUP_IPV4_ROUTE: u32 = 0x40;
/// RTMGRP_IPV6_ROUTE: IPv6 routes added and deleted.
pub const GROUP_IPV6_ROUTE: u32 = 0x400;

/// What one read brought.
#[derive(Debug, Default)]
pub struct Events {
    /// The messages, in order.
    pub messages: Vec<RouteNetlinkMessage>,
    /// The socket's buffer overflowed (ENOBUFS): events were lost, and the
    /// reader must read the state anew.
    pub lost: bool,
}

/// A socket receiving the kernel's notifications of some groups.
#[derive(Debug)]
pub struct Monitor {
    socket: Socket,
}

impl Monitor {
    /// Subscribe to the groups in `mask` (e.g. [`GROUP_LINK`]).
    pub fn open(mask: u32) -> Result<Monitor, KernelError> {
        let io = |e| KernelError::io("netlink monitor", e);
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(io)?;
        socket.bind(&SocketAddr::new(0, mask)).map_err(io)?;
        socket.set_non_blocking(true).map_err(io)?;
        Ok(Monitor { socket })
    }

    /// Read every notification waiting, without blocking.
    pub fn read(&self) -> Result<Events, KernelError> {
        let mut out = Events::default();
        let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
        loop {
            buf.clear();
            match self.socket.recv(&mut buf, 0) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(out),
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    out.lost = true;
                    continue;
                }
                Err(e) => return Err(KernelError::io("netlink monitor", e)),
            }
            let mut at = 0;
            while at < buf.len() {
                let Ok(msg) = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&buf[at..]) else {
                    break;
                };
                let len = msg.header.length as usize;
                if let NetlinkPayload::InnerMessage(m) = msg.payload {
                    out.messages.push(m);
                }
                if len == 0 {
                    break;
                }
                at += (len + 3) & !3;
            }
        }
    }
}

impl AsFd for Monitor {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}
