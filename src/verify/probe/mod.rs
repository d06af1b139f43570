//! Native probes run inside a node's namespace: ICMP echo, ARP, TCP connect, UDP.
//!
//! [`probe`] enters the namespace (see [`super::node`]), asks the kernel which
//! route and interface it would use, sends up to `count` probes (stopping at
//! the first answer, failing fast when there is no route), and explains
//! failures with the kernel's neighbour table. The packets' bytes are
//! [`crate::wire`]'s; the sockets are here.
pub mod arp;
pub mod icmp;
#[allow(unsafe_code)]
pub mod packet;
pub mod tcp;
pub mod udp;

use std::net::IpAddr;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use rtnetlink::packet_route::neighbour::NeighbourState;
use serde::Serialize;

use super::node;
use crate::kernel::query::{LinkState, Query, RouteHop};
use crate::model::{MacAddr, Probe};

/// What one probe packet (or connect) produced.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    /// The destination answered.
    Answer {
        /// Round-trip time.
        rtt: Duration,
        /// What the answer was (e.g. "port 80 closed (RST)"); empty for a plain echo reply.
        note: String,
        /// MAC address learnt (ARP).
        mac: Option<MacAddr>,
    },
    /// The kernel has no route to the destination.
    NoRoute,
    /// Something reported the destination unreachable.
    Unreachable {
        /// Explanation.
        reason: String,
        /// Who reported it (an ICMP error's source), if known.
        by: Option<IpAddr>,
    },
    /// Nothing came back in time.
    Timeout,
    /// The probe itself failed, or the answer was wrong (e.g. from another address).
    Failed(String),
}

/// The result of [`probe`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeResult {
    /// At least one probe was answered.
    pub answered: bool,
    /// No route to the destination (so nothing was sent or it failed at once).
    pub no_route: bool,
    /// Whether the probe could run at all; `false` when the verifier could not
    /// enter the node, open a socket or find the interface: then nothing is proven.
    pub ran: bool,
    /// Round-trip time of the answer.
    pub rtt_ms: Option<f64>,
    /// One sentence: what was answered, or why nothing was.
    pub reason: String,
    /// The source-side interface the probes left from.
    pub from_iface: Option<String>,
    /// The MAC address an ARP probe learnt.
    pub mac: Option<MacAddr>,
    /// The source address, when the destination was probed directly on a
    /// link: the destination has then learnt it as a neighbour (see
    /// [`crate::verify`] on why that entry is removed again).
    #[serde(skip)]
    pub on_link_src: Option<IpAddr>,
}

impl ProbeResult {
    /// The probe could not be run.
    fn unrun(reason: impl std::fmt::Display, from_iface: Option<String>) -> ProbeResult {
        ProbeResult {
            ran: false,
            ..ProbeResult::failed(reason, from_iface)
        }
    }

    /// Probes were sent and not answered.
    fn failed(reason: impl std::fmt::Display, from_iface: Option<String>) -> ProbeResult {
        ProbeResult {
            answered: false,
            no_route: false,
            ran: true,
            rtt_ms: None,
            reason: reason.to_string(),
            from_iface,
            mac: None,
            on_link_src: None,
        }
    }
}

/// Wait until `fd` is readable (or has an error queued) or `deadline` passes; `Ok(false)` on timeout.
pub fn wait_readable<F: AsFd>(fd: &F, deadline: Instant) -> Result<bool, Errno> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        let ms = u16::try_from(left.as_millis().max(1)).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(0) => continue,
            Ok(_) => return Ok(true),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// A fresh ICMP identifier, distinct for concurrent probes in one process.
fn next_ident() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = std::process::id() as u16;
    base.wrapping_mul(31)
        .wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed))
}

/// What [`probe`] was asked to do, once inside the namespace.
#[derive(Debug, Clone, Copy)]
struct Ask<'a> {
    /// The interface the probes must leave by, if any.
    iface: Option<&'a str>,
    dst: IpAddr,
    kind: Probe,
    count: u32,
    timeout: Duration,
}

/// Where the probes leave: the kernel's route and its output link.
#[derive(Debug)]
struct Path {
    hop: RouteHop,
    out: Option<LinkState>,
}

/// Probe `dst` from `node` of topology `topo` (optionally out of `iface`) with up to
/// `count` probes of `timeout` each; stop at the first answer.
pub fn probe(
    topo: &str,
    node: &str,
    iface: Option<&str>,
    dst: IpAddr,
    probe: Probe,
    count: u32,
    timeout: Duration,
) -> ProbeResult {
    let ask = Ask {
        iface,
        dst,
        kind: probe,
        count: count.max(1),
        timeout,
    };
    node::run_in(topo, node, || Ok(in_namespace(node, &ask)))
        .unwrap_or_else(|e| ProbeResult::unrun(e, None))
}

/// The body of [`probe`], on a thread already inside `node`'s namespace.
fn in_namespace(node: &str, ask: &Ask) -> ProbeResult {
    let mut q = match Query::open(format!("node {node}")) {
        Ok(q) => q,
        Err(e) => return ProbeResult::unrun(e, None),
    };
    let path = match route(&mut q, ask) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let hop = &path.hop;
    // The neighbour entry the probes make for the next hop is removed
    // afterwards unless it was there before: the kernel's neighbour tables
    // hold 1024 entries for the whole machine (gc_thresh3), and only entries
    // older than 5 s may be reclaimed, so a thousand probes in a second would
    // overflow them and later probes could not resolve anybody.
    let had = !matches!(q.neighbour_state(hop.oif, hop.nexthop), Ok(None));
    let mut r = send(&mut q, ask, &path);
    if !had {
        // Best effort: a leftover entry is only a cache entry.
        let _ = q.forget_neighbour(hop.oif, hop.nexthop);
    }
    if hop.nexthop == ask.dst {
        r.on_link_src = hop.src;
    }
    r
}

/// The route the probes take and its output link, or the result that
/// ends the probe at once (no such interface, no route).
fn route(q: &mut Query, ask: &Ask) -> Result<Path, ProbeResult> {
    let forced = match ask.iface {
        Some(name) => match q.link_by_name(name) {
            Ok(Some(l)) => Some(l),
            Ok(None) => {
                let why = format!("no interface {name} on the source node");
                return Err(ProbeResult::unrun(why, None));
            }
            Err(e) => return Err(ProbeResult::unrun(e, None)),
        },
        None => None,
    };
    let hop = match q.route_get(ask.dst, forced.as_ref().map(|l| l.index)) {
        Ok(Some(h)) => h,
        Ok(None) => {
            return Err(ProbeResult {
                no_route: true,
                ..ProbeResult::failed(
                    format!("no route to {}", ask.dst),
                    ask.iface.map(str::to_owned),
                )
            })
        }
        Err(e) => return Err(ProbeResult::unrun(e, None)),
    };
    let out = match forced {
        Some(l) if l.index == hop.oif => Some(l),
        _ if hop.oif == 0 => None,
        _ => q
            .link_by_index(hop.oif)
            .map_err(|e| ProbeResult::unrun(e, None))?,
    };
    Ok(Path { hop, out })
}

/// Send the probes along `path` and explain the outcome.
fn send(q: &mut Query, ask: &Ask, path: &Path) -> ProbeResult {
    let out_name = path.out.as_ref().map(|l| l.name.clone());
    let mut pinger = match ask.kind {
        Probe::Icmp => match icmp::Pinger::new(ask.dst, ask.iface, next_ident()) {
            Ok(p) => Some(p),
            Err(e) => return ProbeResult::unrun(e, out_name),
        },
        _ => None,
    };
    let (dst, timeout) = (ask.dst, ask.timeout);
    let mut last = Attempt::Timeout;
    for _ in 0..ask.count {
        let attempt = match ask.kind {
            Probe::Icmp => match pinger.as_mut() {
                Some(p) => p.once(timeout),
                None => Attempt::Failed("no ICMP socket".into()),
            },
            Probe::Arp => arp_once(q, path, dst, timeout),
            Probe::Tcp(port) => tcp::connect_once(dst, port, ask.iface, timeout),
            Probe::Udp(port) => udp::exchange(dst, port, ask.iface, timeout),
        };
        match attempt {
            Attempt::Answer { rtt, note, mac } => {
                let rtt_ms = rtt.as_secs_f64() * 1000.0;
                let what = if note.is_empty() {
                    format!("answered in {rtt_ms:.2}ms")
                } else {
                    format!("{note}, {rtt_ms:.2}ms")
                };
                return ProbeResult {
                    answered: true,
                    no_route: false,
                    ran: true,
                    rtt_ms: Some(rtt_ms),
                    reason: what,
                    from_iface: out_name,
                    mac,
                    on_link_src: None,
                };
            }
            Attempt::NoRoute => {
                return ProbeResult {
                    no_route: true,
                    ..ProbeResult::failed(format!("no route to {dst}"), out_name)
                }
            }
            other => last = other,
        }
    }
    ProbeResult::failed(explain(q, ask, path, &last), out_name)
}

/// Why the probes failed, from the last attempt and the kernel's neighbour table.
fn explain(q: &mut Query, ask: &Ask, path: &Path, last: &Attempt) -> String {
    let (dst, ms) = (ask.dst, ask.timeout.as_millis());
    let reason = match last {
        Attempt::Timeout => match ask.kind {
            Probe::Icmp => format!("no echo reply within {ms}ms"),
            Probe::Arp => format!("no ARP reply from {dst} within {ms}ms"),
            Probe::Tcp(p) => format!("no SYN-ACK or RST from {dst}:{p} within {ms}ms"),
            Probe::Udp(p) => {
                format!("no UDP reply nor ICMP port unreachable from {dst}:{p} within {ms}ms")
            }
        },
        Attempt::Unreachable { reason, .. } | Attempt::Failed(reason) => reason.clone(),
        Attempt::Answer { .. } | Attempt::NoRoute => String::new(),
    };
    // A silent or "host unreachable" failure is usually an unanswered neighbour lookup.
    if !matches!(last, Attempt::Timeout | Attempt::Unreachable { .. }) {
        return reason;
    }
    let (Some(out), hop) = (&path.out, &path.hop) else {
        return reason;
    };
    match q.neighbour_state(hop.oif, hop.nexthop) {
        Ok(Some(NeighbourState::Incomplete | NeighbourState::Failed)) => {
            let what = if hop.nexthop.is_ipv4() {
                "ARP"
            } else {
                "neighbour solicitation"
            };
            format!(
                "{what} for {} on {} unanswered ({reason})",
                hop.nexthop, out.name
            )
        }
        _ => reason,
    }
}

/// One ARP who-has for `dst` out of the route's (or forced) interface.
fn arp_once(q: &mut Query, path: &Path, dst: IpAddr, timeout: Duration) -> Attempt {
    let IpAddr::V4(target) = dst else {
        return Attempt::Failed("ARP probes IPv4 addresses only".into());
    };
    let Some(link) = &path.out else {
        return Attempt::Failed("no output interface for ARP".into());
    };
    let hop = &path.hop;
    if hop.nexthop != dst {
        return Attempt::Failed(format!(
            "{dst} is not on a link of this node (routed via {}): ARP reaches neighbours only",
            hop.nexthop
        ));
    }
    let Some(mac) = link.mac else {
        return Attempt::Failed(format!("{} has no Ethernet address", link.name));
    };
    let src = match hop.src {
        Some(IpAddr::V4(s)) => s,
        _ => {
            let addrs = q.addresses().unwrap_or_default();
            match addrs.iter().find_map(|a| match a.addr {
                IpAddr::V4(v) if a.index == link.index => Some(v),
                _ => None,
            }) {
                Some(s) => s,
                None => return Attempt::Failed(format!("{} has no IPv4 address", link.name)),
            }
        }
    };
    arp::who_has(link.index, mac, src, target, timeout)
}
