//! netloom's DHCPv4 client (RFC 2131), one per interface: it obtains a
//! lease (DISCOVER, OFFER, REQUEST, ACK), applies it over rtnetlink (the
//! address with the subnet's prefix, `default via ROUTER proto dhcp`, and
//! the name servers in /etc/netns/NETNS/resolv.conf), then keeps it:
//! it renews at T1 by unicast to its server and rebinds at T2 by broadcast
//! (T1 and T2 as the server gives them in options 58 and 59, else half and
//! seven eighths of the lease), and at expiry takes the lease down and
//! starts over. SIGTERM releases the lease (DHCPRELEASE) and removes what
//! was applied.
//!
//! Its socket is plain UDP: bound to port 68 on the interface
//! (SO_BINDTODEVICE) and asking for broadcast answers (the BROADCAST flag)
//! while it has no address, since the kernel drops a unicast sent to an
//! address the interface does not have yet.
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use ipnet::Ipv4Net;
use nix::sys::socket::{self, sockopt, AddressFamily, SockFlag, SockType, SockaddrIn};

use super::net::Net;
use super::{now_epoch, AgentError, Ctx, Wake};
use crate::kernel::resolv;
use crate::model::service::{DhcpClientSetup, Lease};
use crate::model::{MacAddr, ServiceReport};
use crate::wire::dhcp::{
    DhcpOption, MessageType, Repr, BOOTREPLY, BOOTREQUEST, CLIENT_PORT, FLAG_BROADCAST, SERVER_PORT,
};

/// Options asked for: mask, router, DNS, domain, lease, server, T1, T2.
const PARAMETERS: [u8; 8] = [1, 3, 6, 15, 51, 54, 58, 59];

/// Longest wait between two sends of one request while selecting.
const MAX_BACKOFF: Duration = Duration::from_secs(4);

/// Why a step of the exchange ended without an answer.
enum Stopped {
    /// SIGTERM or SIGINT.
    Asked,
    /// The deadline passed.
    Timeout,
}

/// The client's socket and identity.
struct Client {
    sock: UdpSocket,
    mac: MacAddr,
    index: u32,
    xid: u32,
    hostname: String,
}

/// A lease held and applied, with when to renew, rebind and give up.
struct Held {
    lease: Lease,
    t1: Instant,
    t2: Instant,
    end: Instant,
}

/// A random transaction id.
fn xid() -> u32 {
    let mut b = [0u8; 4];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .is_err()
    {
        // Only collisions between clients of one segment matter: pid and time do.
        let t = now_epoch() as u32;
        return t ^ std::process::id().rotate_left(16);
    }
    u32::from_be_bytes(b)
}

/// The UDP socket of the client on `iface`.
fn open_socket(iface: &str) -> Result<UdpSocket, AgentError> {
    let fd = socket::socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| AgentError::sys("udp socket", e))?;
    let set = |what: &str, r: nix::Result<()>| r.map_err(|e| AgentError::sys(what, e));
    set(
        "SO_REUSEADDR",
        socket::setsockopt(&fd, sockopt::ReuseAddr, &true),
    )?;
    set(
        "SO_BROADCAST",
        socket::setsockopt(&fd, sockopt::Broadcast, &true),
    )?;
    set(
        "SO_BINDTODEVICE",
        socket::setsockopt(&fd, sockopt::BindToDevice, &std::ffi::OsString::from(iface)),
    )?;
    set(
        "bind port 68",
        socket::bind(
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            &SockaddrIn::from(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, CLIENT_PORT)),
        ),
    )?;
    Ok(UdpSocket::from(fd))
}

impl Client {
    /// A request of type `t` with `options` after the type, the host name,
    /// the client id and the parameter list.
    fn message(&self, t: MessageType, ciaddr: Ipv4Addr, options: Vec<DhcpOption>) -> Repr {
        let mut id = vec![1];
        id.extend_from_slice(&self.mac.0);
        let mut all = vec![DhcpOption::MessageType(t)];
        all.extend(options);
        if t != MessageType::Release {
            all.push(DhcpOption::Hostname(self.hostname.clone()));
            all.push(DhcpOption::ParameterList(PARAMETERS.to_vec()));
        }
        all.push(DhcpOption::ClientId(id));
        Repr {
            op: BOOTREQUEST,
            xid: self.xid,
            secs: 0,
            flags: if ciaddr.is_unspecified() {
                FLAG_BROADCAST
            } else {
                0
            },
            ciaddr,
            yiaddr: Ipv4Addr::UNSPECIFIED,
            siaddr: Ipv4Addr::UNSPECIFIED,
            chaddr: self.mac,
            options: all,
        }
    }

    fn send(&self, m: &Repr, to: Ipv4Addr) -> Result<(), AgentError> {
        self.sock
            .send_to(&m.emit(), SocketAddrV4::new(to, SERVER_PORT))
            .map(drop)
            .map_err(|e| AgentError::sys(format!("send DHCP to {to}"), e))
    }

    /// Send `m` to `to` and wait for an answer `accept` takes, sending
    /// again after 1 s, 2 s, 4 s... (at most `every`) until `until`.
    fn exchange(
        &self,
        cx: &mut Ctx,
        m: &Repr,
        to: Ipv4Addr,
        every: Duration,
        until: Instant,
        accept: impl Fn(&Repr) -> bool,
    ) -> Result<Result<Repr, Stopped>, AgentError> {
        let mut backoff = Duration::from_secs(1).min(every);
        loop {
            self.send(m, to)?;
            let next = (Instant::now() + backoff).min(until);
            loop {
                match cx.wait(Some(self.sock.as_fd()), Some(next))? {
                    Wake::Stop => return Ok(Err(Stopped::Asked)),
                    Wake::Request => continue,
                    Wake::Time => break,
                    Wake::Socket => {
                        let mut buf = [0u8; 1500];
                        let Ok((n, _)) = self.sock.recv_from(&mut buf) else {
                            continue;
                        };
                        let Ok(r) = Repr::parse(&buf[..n]) else {
                            continue;
                        };
                        if r.op == BOOTREPLY
                            && r.xid == self.xid
                            && r.chaddr == self.mac
                            && accept(&r)
                        {
                            return Ok(Ok(r));
                        }
                    }
                }
            }
            if Instant::now() >= until {
                return Ok(Err(Stopped::Timeout));
            }
            backoff = (backoff * 2).min(every);
        }
    }
}

fn is(t: MessageType) -> impl Fn(&Repr) -> bool {
    move |r| r.message_type() == Some(t)
}

fn is_ack_or_nak(r: &Repr) -> bool {
    matches!(r.message_type(), Some(MessageType::Ack | MessageType::Nak))
}

/// The lease an ACK grants, with its times from now.
fn held(ack: &Repr, renewals: u32) -> Option<Held> {
    let server = ack.option(|o| match o {
        DhcpOption::ServerId(a) => Some(*a),
        _ => None,
    })?;
    let lease_time = ack.option(|o| match o {
        DhcpOption::LeaseTime(s) => Some(*s),
        _ => None,
    })?;
    let mask = ack
        .option(|o| match o {
            DhcpOption::SubnetMask(m) => Some(*m),
            _ => None,
        })
        .unwrap_or(Ipv4Addr::new(255, 255, 255, 0));
    let prefix = u32::from(mask).count_ones() as u8;
    let t1 = ack
        .option(|o| match o {
            DhcpOption::RenewalTime(s) => Some(*s),
            _ => None,
        })
        .unwrap_or(lease_time / 2);
    let t2 = ack
        .option(|o| match o {
            DhcpOption::RebindingTime(s) => Some(*s),
            _ => None,
        })
        .unwrap_or(lease_time / 8 * 7);
    let now = Instant::now();
    let epoch = now_epoch();
    let secs = |s: u32| Duration::from_secs(u64::from(s));
    Some(Held {
        lease: Lease {
            address: Ipv4Net::new(ack.yiaddr, prefix).ok()?,
            router: ack.option(|o| match o {
                DhcpOption::Router(l) => l.first().copied(),
                _ => None,
            }),
            dns: ack
                .option(|o| match o {
                    DhcpOption::DnsServers(l) => Some(l.clone()),
                    _ => None,
                })
                .unwrap_or_default(),
            domain: ack.option(|o| match o {
                DhcpOption::DomainName(d) => Some(d.clone()),
                _ => None,
            }),
            server,
            lease_time,
            granted: epoch,
            expires: epoch + u64::from(lease_time),
            renewals,
        },
        t1: now + secs(t1.min(lease_time)),
        t2: now + secs(t2.min(lease_time)),
        end: now + secs(lease_time),
    })
}

/// Apply `new` (replacing `old`'s address and route when they differ).
fn apply(
    net: &mut Net,
    c: &Client,
    setup: &DhcpClientSetup,
    old: Option<&Lease>,
    new: &Lease,
) -> Result<(), AgentError> {
    if let Some(o) = old {
        if o.address != new.address {
            net.del_address(c.index, o.address.into())?;
        }
        if let Some(r) = o.router.filter(|r| Some(*r) != new.router) {
            net.del_default(c.index, r)?;
        }
    }
    net.add_address(c.index, new.address.into())?;
    if let Some(r) = new.router {
        net.add_default(c.index, r)?;
    }
    if !new.dns.is_empty() {
        resolv::write(&setup.netns, &new.dns, new.domain.as_deref())?;
    }
    Ok(())
}

/// Take `lease` down: its route, its address, its resolv.conf.
fn unapply(
    net: &mut Net,
    c: &Client,
    setup: &DhcpClientSetup,
    lease: &Lease,
) -> Result<(), AgentError> {
    if let Some(r) = lease.router {
        net.del_default(c.index, r)?;
    }
    net.del_address(c.index, lease.address.into())?;
    resolv::forget(&setup.netns)?;
    Ok(())
}

/// Run the client until asked to stop.
pub fn run(cx: &mut Ctx, setup: &DhcpClientSetup) -> Result<(), AgentError> {
    let mut net = Net::open()?;
    let link = net
        .link(&setup.iface)?
        .ok_or_else(|| AgentError::Setup(format!("no interface {}", setup.iface)))?;
    let mac = link
        .mac
        .ok_or_else(|| AgentError::Setup(format!("{} has no Ethernet address", setup.iface)))?;
    let mut c = Client {
        sock: open_socket(&setup.iface)?,
        mac,
        index: link.index,
        xid: xid(),
        hostname: setup.hostname.clone(),
    };
    let mut ready = false;
    let mut current: Option<Held> = None;
    cx.report(&ServiceReport::Lease(None))?;
    loop {
        let Some(h) = current.take() else {
            // INIT and SELECTING: a new transaction, asked of everyone.
            c.xid = xid();
            let far = Instant::now() + Duration::from_secs(3600 * 24 * 365);
            let discover = c.message(MessageType::Discover, Ipv4Addr::UNSPECIFIED, vec![]);
            let offer = match c.exchange(
                cx,
                &discover,
                Ipv4Addr::BROADCAST,
                MAX_BACKOFF,
                far,
                is(MessageType::Offer),
            )? {
                Ok(o) => o,
                Err(_) => return Ok(()),
            };
            let Some(server) = offer.option(|o| match o {
                DhcpOption::ServerId(a) => Some(*a),
                _ => None,
            }) else {
                continue;
            };
            let request = c.message(
                MessageType::Request,
                Ipv4Addr::UNSPECIFIED,
                vec![
                    DhcpOption::RequestedIp(offer.yiaddr),
                    DhcpOption::ServerId(server),
                ],
            );
            let until = Instant::now() + Duration::from_secs(8);
            let ack = match c.exchange(
                cx,
                &request,
                Ipv4Addr::BROADCAST,
                MAX_BACKOFF,
                until,
                is_ack_or_nak,
            )? {
                Ok(a) if a.message_type() == Some(MessageType::Ack) => a,
                Ok(_) | Err(Stopped::Timeout) => continue,
                Err(Stopped::Asked) => return Ok(()),
            };
            let Some(h) = held(&ack, 0) else { continue };
            apply(&mut net, &c, setup, None, &h.lease)?;
            cx.report(&ServiceReport::Lease(Some(h.lease.clone())))?;
            if !ready {
                cx.ready()?;
                ready = true;
            }
            current = Some(h);
            continue;
        };
        // BOUND: until T1.
        if let Err(()) = sleep_until(cx, h.t1)? {
            return release(&mut net, &c, setup, &h.lease);
        }
        // RENEWING (unicast to the server) until T2, then REBINDING
        // (broadcast) until the lease ends.
        let ciaddr = h.lease.address.addr();
        let request = c.message(MessageType::Request, ciaddr, vec![]);
        let mut answer = None;
        for (to, until) in [(h.lease.server, h.t2), (Ipv4Addr::BROADCAST, h.end)] {
            let every = until.saturating_duration_since(Instant::now()) / 2;
            let every = every
                .max(Duration::from_secs(1))
                .min(Duration::from_secs(60));
            match c.exchange(cx, &request, to, every, until, is_ack_or_nak)? {
                Ok(r) => {
                    answer = Some(r);
                    break;
                }
                Err(Stopped::Asked) => return release(&mut net, &c, setup, &h.lease),
                Err(Stopped::Timeout) => {}
            }
        }
        match answer.filter(|r| r.message_type() == Some(MessageType::Ack)) {
            Some(ack) => match held(&ack, h.lease.renewals + 1) {
                Some(next) => {
                    apply(&mut net, &c, setup, Some(&h.lease), &next.lease)?;
                    cx.report(&ServiceReport::Lease(Some(next.lease.clone())))?;
                    current = Some(next);
                }
                None => current = Some(h),
            },
            // Refused (NAK) or expired: the lease is gone; start over.
            None => {
                unapply(&mut net, &c, setup, &h.lease)?;
                cx.report(&ServiceReport::Lease(None))?;
            }
        }
    }
}

/// Wait until `t`; `Err(())` when asked to stop meanwhile.
fn sleep_until(cx: &mut Ctx, t: Instant) -> Result<Result<(), ()>, AgentError> {
    loop {
        match cx.wait(None, Some(t))? {
            Wake::Time => return Ok(Ok(())),
            Wake::Stop => return Ok(Err(())),
            _ => {}
        }
    }
}

/// Give `lease` back to its server and take it down; the client then exits.
fn release(
    net: &mut Net,
    c: &Client,
    setup: &DhcpClientSetup,
    lease: &Lease,
) -> Result<(), AgentError> {
    let m = c.message(
        MessageType::Release,
        lease.address.addr(),
        vec![DhcpOption::ServerId(lease.server)],
    );
    // Best effort: the server may be gone already (its node torn down).
    let _ = c.send(&m, lease.server);
    // A release waiting for the server's MAC would be dropped with the
    // interface's last address (fib_disable_ip -> arp_ifdown flushes the
    // neighbours and what is queued for them): let it leave first.
    let server = std::net::IpAddr::V4(lease.server);
    let t = Instant::now();
    while t.elapsed() < Duration::from_millis(500) {
        match net.resolved(c.index, server) {
            Ok(false) => std::thread::sleep(Duration::from_millis(2)),
            _ => break,
        }
    }
    unapply(net, c, setup, lease)
}
