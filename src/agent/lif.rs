//! The LIF watcher: one per node holding logical interfaces. It listens to
//! the kernel's link notifications in the node (RTNLGRP_LINK, see
//! [`crate::kernel::monitor`]): no polling. A port is usable while it is
//! up with carrier (IFF_UP and IFF_LOWER_UP). When a LIF's port stops
//! being usable, its address moves to the first usable of its ports (home
//! first, then the failover ports in order): deleted where it was, added
//! on the new port, the routes that used it (a gateway in its subnet, or
//! it as preferred source) added again through the new port, and the move
//! announced (a gratuitous ARP request, or an unsolicited Neighbor
//! Advertisement for IPv6) so neighbours and bridges learn the new MAC.
//! With `auto_revert`, once the home port has been usable for
//! `revert_delay` the address returns home, unless the LIF is sticky: a
//! `netloom lif migrate` makes it so (as ONTAP does), `lif revert` clears it.
//!
//! The watcher starts by placing every LIF (where it was, if it was
//! sticky; else home if usable; else the first usable failover port), and
//! keeps the sticky flags of a previous run (its `state.json`) across a
//! restart.
use std::collections::HashMap;
use std::net::IpAddr;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteMessage};
use rtnetlink::packet_route::RouteNetlinkMessage as Msg;

use super::net::{kernel_made, route_request, Net};
use super::{AgentError, Ctx, Wake};
use crate::kernel::monitor::{Monitor, GROUP_IPV4_ROUTE, GROUP_IPV6_ROUTE, GROUP_LINK};
use crate::kernel::query::{link_state, LinkState};
use crate::kernel::service;
use crate::model::service::{Lif, LifAnswer, LifRequest, LifSetup, LifState};
use crate::model::{MacAddr, ServiceReport};
use crate::verify::probe::packet::PacketSocket;

/// A LIF and where the watcher keeps it.
struct Watched {
    lif: Lif,
    state: LifState,
    /// The routes that use it (as requests, without device): remembered,
    /// because setting its port down makes the kernel flush them without
    /// a notification (fib_sync_down_dev) before the watcher hears of it.
    routes: Vec<RouteMessage>,
    /// Since when the home port has been usable.
    home_since: Option<Instant>,
    /// When to return home, if it is to.
    revert_at: Option<Instant>,
}

/// The node's links by name.
type Links = HashMap<String, LinkState>;

fn usable(links: &Links, port: &str) -> bool {
    links.get(port).is_some_and(|l| l.up && l.lower_up)
}

fn read_links(net: &mut Net) -> Result<Links, AgentError> {
    Ok(net
        .links()?
        .into_iter()
        .map(|l| (l.name.clone(), l))
        .collect())
}

/// Whether route `m` uses LIF address `addr`: its gateway is in the LIF's
/// subnet, or it prefers the LIF's address as source.
fn uses(m: &RouteMessage, addr: IpNet) -> bool {
    let ip = |a: &RouteAddress| match a {
        RouteAddress::Inet(v) => Some(IpAddr::V4(*v)),
        RouteAddress::Inet6(v) => Some(IpAddr::V6(*v)),
        _ => None,
    };
    m.attributes.iter().any(|a| match a {
        RouteAttribute::Gateway(g) => ip(g).is_some_and(|g| addr.contains(&g)),
        RouteAttribute::PrefSource(s) => ip(s) == Some(addr.addr()),
        _ => false,
    })
}

/// Move `w`'s address to port `to` (see the module's docs). The hot path
/// asks the kernel nothing: where the LIF is and which routes use it, the
/// watcher knows (from its start-up reading and the notifications since).
/// The address is added on the new port, deleted from the old one (whose
/// prefix route would otherwise still take the replies) and announced;
/// then the routes follow.
fn move_to(
    net: &mut Net,
    senders: &mut Senders,
    links: &Links,
    w: &mut Watched,
    to: &str,
) -> Result<(), AgentError> {
    let addr = w.lif.address;
    let Some(target) = links.get(to) else {
        return Err(AgentError::Setup(format!("no port {to}")));
    };
    let from: Vec<u32> = match w.state.port.as_deref().and_then(|p| links.get(p)) {
        Some(l) => vec![l.index],
        // At start-up: wherever the kernel has it.
        None => net.holders(addr.addr())?,
    };
    let from: Vec<u32> = from.into_iter().filter(|i| *i != target.index).collect();
    net.add_address(target.index, addr)?;
    for f in &from {
        net.del_address(*f, addr)?;
    }
    if let Some(mac) = target.mac {
        announce(senders, target.index, to, addr.addr(), mac);
    }
    // Flushed with the port or the address, or left dead on the old port:
    // every route that used the LIF goes through the new port.
    for r in w.routes.clone() {
        for f in &from {
            net.del_route_via(r.clone(), *f)?;
        }
        net.add_route_via(r, target.index)?;
    }
    if w.state.port.as_deref() != Some(to) {
        w.state.moves += 1;
    }
    w.state.port = Some(to.to_string());
    w.revert_at = None;
    Ok(())
}

/// Remember route `m` (a request without device) among `routes`.
fn remember(routes: &mut Vec<RouteMessage>, m: &RouteMessage) {
    let r = route_request(m.clone());
    if !routes.contains(&r) {
        routes.push(r);
    }
}

/// Follow the route notification `m`: a route that uses a LIF added (by
/// netloom's `up`, by hand) is remembered; one deleted while its LIF's
/// port is usable, forgotten (the watcher's own moves delete only routes
/// left on a port the LIF has left, and add them again at once).
fn follow_route(links: &Links, lifs: &mut [Watched], m: &Msg) {
    let (route, added) = match m {
        Msg::NewRoute(r) => (r, true),
        Msg::DelRoute(r) => (r, false),
        _ => return,
    };
    if kernel_made(route) {
        return;
    }
    let oif = route.attributes.iter().find_map(|a| match a {
        RouteAttribute::Oif(i) => Some(*i),
        _ => None,
    });
    for w in lifs.iter_mut() {
        if !uses(route, w.lif.address) {
            continue;
        }
        if added {
            remember(&mut w.routes, route);
            continue;
        }
        let current = w.state.port.as_deref().and_then(|p| links.get(p));
        let on_current = current.is_some_and(|l| Some(l.index) == oif);
        if on_current && current.is_some_and(|l| l.up && l.lower_up) {
            let r = route_request(route.clone());
            w.routes.retain(|x| x != &r);
        }
    }
}

/// Sockets sending gratuitous ARP, one per port, kept open: closing an
/// AF_PACKET socket waits for an RCU grace period (packet_release calls
/// synchronize_net()), some 10 ms that would fall between the move and
/// the next answer.
type Senders = HashMap<u32, PacketSocket>;

/// Tell the segment `addr` is at `mac` now. Best effort: a neighbour that
/// misses it learns the new MAC when its entry goes stale.
fn announce(senders: &mut Senders, index: u32, iface: &str, addr: IpAddr, mac: MacAddr) {
    match addr {
        IpAddr::V4(a) => {
            use crate::wire::arp;
            let repr = arp::Repr {
                operation: arp::Operation::Request,
                sha: mac,
                spa: a,
                tha: MacAddr([0; 6]),
                tpa: a,
            };
            let mut buf = [0u8; arp::LEN];
            let Ok(mut p) = arp::Packet::new_checked(&mut buf[..]) else {
                return;
            };
            repr.emit(&mut p);
            if let std::collections::hash_map::Entry::Vacant(e) = senders.entry(index) {
                if let Ok(s) = PacketSocket::sender(index, arp::ETHERTYPE) {
                    e.insert(s);
                }
            }
            if let Some(s) = senders.get(&index) {
                let _ = s.send_to(&buf, MacAddr([0xff; 6]));
            }
        }
        IpAddr::V6(a) => {
            let _ = advertise(index, iface, a, mac);
        }
    }
}

/// Send an unsolicited Neighbor Advertisement for `target` out of `iface`.
fn advertise(index: u32, iface: &str, target: std::net::Ipv6Addr, mac: MacAddr) -> nix::Result<()> {
    use nix::sys::socket::{
        self, sockopt, AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType, SockaddrIn6,
    };
    let fd = socket::socket(
        AddressFamily::Inet6,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::IcmpV6,
    )?;
    // Neighbour discovery is only accepted with hop limit 255 (RFC 4861 7.1.2).
    socket::setsockopt(&fd, sockopt::Ipv6MulticastHops, &255)?;
    socket::setsockopt(&fd, sockopt::BindToDevice, &std::ffi::OsString::from(iface))?;
    let all_nodes =
        std::net::SocketAddrV6::new("ff02::1".parse().expect("an address"), 0, 0, index);
    let msg = crate::wire::ndp::unsolicited_advert(target, mac);
    socket::sendto(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &msg,
        &SockaddrIn6::from(all_nodes),
        MsgFlags::empty(),
    )
    .map(drop)
}

/// Where `w` should be now, if it must move: its port is not usable and
/// another is.
fn failover_target(links: &Links, w: &Watched) -> Option<String> {
    if w.state.port.as_deref().is_some_and(|p| usable(links, p)) {
        return None;
    }
    w.lif
        .ports()
        .find(|p| Some(*p) != w.state.port.as_deref() && usable(links, p))
        .map(str::to_string)
}

/// Follow the home port's state and schedule a return home when due.
fn track_home(links: &Links, w: &mut Watched, now: Instant) {
    if usable(links, &w.lif.home) {
        let since = *w.home_since.get_or_insert(now);
        let away = w.state.port.as_deref() != Some(w.lif.home.as_str());
        if away && w.lif.auto_revert && !w.state.sticky && w.revert_at.is_none() {
            w.revert_at = Some(since + Duration::from_millis(u64::from(w.lif.revert_delay_ms)));
        }
    } else {
        w.home_since = None;
        w.revert_at = None;
    }
}

/// Log a move that failed: the watcher goes on (the next event may let
/// it succeed; `netloom status` shows where the LIF is).
fn moved(r: Result<(), AgentError>, w: &Watched, to: &str) {
    if let Err(e) = r {
        eprintln!("moving LIF {} to {to}: {e}", w.lif.name);
    }
}

/// The LIF states as a report.
fn report(lifs: &[Watched]) -> ServiceReport {
    ServiceReport::Lifs(
        lifs.iter()
            .map(|w| (w.lif.name.clone(), w.state.clone()))
            .collect(),
    )
}

/// Run the watcher until asked to stop.
pub fn run(cx: &mut Ctx, setup: &LifSetup) -> Result<(), AgentError> {
    // Subscribed before the first read: no change falls in between.
    let monitor = Monitor::open(GROUP_LINK | GROUP_IPV4_ROUTE | GROUP_IPV6_ROUTE)?;
    let mut net = Net::open()?;
    let mut links = read_links(&mut net)?;
    // Opened before any move (see Senders).
    let mut senders = Senders::new();
    for lif in setup.lifs.iter().filter(|l| l.address.addr().is_ipv4()) {
        for p in lif.ports() {
            if let Some(l) = links.get(p) {
                if let Ok(s) = PacketSocket::sender(l.index, crate::wire::arp::ETHERTYPE) {
                    senders.insert(l.index, s);
                }
            }
        }
    }
    let previous = std::fs::read_to_string(service::state_path(&cx.dir))
        .ok()
        .and_then(|t| serde_json::from_str::<ServiceReport>(&t).ok());
    let now = Instant::now();
    let mut lifs: Vec<Watched> = Vec::new();
    for lif in &setup.lifs {
        // The routes using it now, wherever they go (later ones are heard of).
        let mut routes = Vec::new();
        for r in net.routes_via(None, |m| uses(m, lif.address))? {
            remember(&mut routes, &r);
        }
        let before = match &previous {
            Some(ServiceReport::Lifs(m)) => m.get(&lif.name).cloned(),
            _ => None,
        };
        let sticky_port = before
            .as_ref()
            .filter(|s| s.sticky)
            .and_then(|s| s.port.clone())
            .filter(|p| lif.ports().any(|x| x == p) && usable(&links, p));
        let mut w = Watched {
            lif: lif.clone(),
            state: LifState {
                port: None,
                sticky: sticky_port.is_some(),
                moves: 0,
            },
            routes,
            home_since: None,
            revert_at: None,
        };
        let target =
            sticky_port.or_else(|| lif.ports().find(|p| usable(&links, p)).map(str::to_string));
        match target {
            Some(t) => move_to(&mut net, &mut senders, &links, &mut w, &t)?,
            // No port usable: the address stays where it is (or goes home).
            None => {
                let here = net.holders(lif.address.addr())?;
                let at = links
                    .values()
                    .find(|l| here.contains(&l.index))
                    .map(|l| l.name.clone());
                let to = at.unwrap_or_else(|| lif.home.clone());
                move_to(&mut net, &mut senders, &links, &mut w, &to)?;
            }
        }
        w.state.moves = 0;
        track_home(&links, &mut w, now);
        lifs.push(w);
    }
    cx.report(&report(&lifs))?;
    cx.ready()?;
    loop {
        let next = lifs.iter().filter_map(|w| w.revert_at).min();
        let wake = cx.wait(Some(monitor.as_fd()), next)?;
        let now = Instant::now();
        match wake {
            Wake::Stop => return Ok(()),
            Wake::Socket => {
                let events = monitor.read()?;
                if events.lost {
                    links = read_links(&mut net)?;
                }
                for m in &events.messages {
                    match m {
                        Msg::NewLink(l) => {
                            let s = link_state(l);
                            links.insert(s.name.clone(), s);
                        }
                        Msg::DelLink(l) => {
                            let s = link_state(l);
                            links.remove(&s.name);
                        }
                        m => follow_route(&links, &mut lifs, m),
                    }
                }
                for w in lifs.iter_mut() {
                    if let Some(t) = failover_target(&links, w) {
                        moved(move_to(&mut net, &mut senders, &links, w, &t), w, &t);
                    }
                    track_home(&links, w, now);
                }
            }
            Wake::Time => {
                for w in lifs.iter_mut() {
                    if w.revert_at.is_some_and(|t| t <= now) {
                        w.revert_at = None;
                        if usable(&links, &w.lif.home) && !w.state.sticky {
                            let home = w.lif.home.clone();
                            moved(move_to(&mut net, &mut senders, &links, w, &home), w, &home);
                        }
                    }
                }
            }
            Wake::Request => {
                let answer = request(cx, &mut net, &mut senders, &links, &mut lifs);
                let text = serde_json::to_string(&answer).unwrap_or_default();
                service::write_atomic(&service::answer_path(&cx.dir), &text)?;
            }
        }
        cx.report(&report(&lifs))?;
    }
}

/// Carry out the request waiting in `command.json`.
fn request(
    cx: &Ctx,
    net: &mut Net,
    senders: &mut Senders,
    links: &Links,
    lifs: &mut [Watched],
) -> LifAnswer {
    let fail = |message: String| LifAnswer {
        ok: false,
        message,
        state: None,
    };
    let req: LifRequest = match std::fs::read_to_string(service::command_path(&cx.dir))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
    {
        Some(r) => r,
        None => return fail("no readable request".into()),
    };
    let Some(w) = lifs.iter_mut().find(|w| w.lif.name == req.lif) else {
        return fail(format!("no LIF {}", req.lif));
    };
    let (to, sticky, what) = match &req.to {
        Some(p) if !w.lif.ports().any(|x| x == p) => {
            let ports: Vec<&str> = w.lif.ports().collect();
            return fail(format!(
                "{p} is not a port of LIF {} ({})",
                req.lif,
                ports.join(", ")
            ));
        }
        Some(p) => (p.clone(), true, "migrated to"),
        None => (w.lif.home.clone(), false, "reverted to"),
    };
    if !usable(links, &to) {
        return fail(format!(
            "{to} is not up with carrier; LIF {} stays on {}",
            req.lif,
            w.state.port.as_deref().unwrap_or("no port")
        ));
    }
    if let Err(e) = move_to(net, senders, links, w, &to) {
        return fail(format!("moving LIF {} to {to}: {e}", req.lif));
    }
    w.state.sticky = sticky;
    LifAnswer {
        ok: true,
        message: format!(
            "LIF {} {what} {to}{}",
            req.lif,
            if sticky { " (sticky)" } else { "" }
        ),
        state: Some(w.state.clone()),
    }
}
