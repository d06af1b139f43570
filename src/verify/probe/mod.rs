//! Native probes run inside a node's namespace: ICMP echo, ARP, TCP connect, UDP.
//!
//! [`probe`] enters the namespace on its own thread, asks the kernel which route
//! and interface it would use, sends up to `count` probes (stopping at the
//! first answer, failing fast when there is no route), and explains failures
//! with the kernel's neighbour table.
pub mod arp;
pub mod icmp;
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

use super::{netns, nl};
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
    let iface = iface.map(str::to_owned);
    netns::run_in(topo, node, move || {
        Ok(in_namespace(
            iface.as_deref(),
            dst,
            probe,
            count.max(1),
            timeout,
        ))
    })
    .unwrap_or_else(|e| ProbeResult::unrun(e, None))
}

/// The body of [`probe`], on a thread already inside the node's namespace.
fn in_namespace(
    iface: Option<&str>,
    dst: IpAddr,
    kind: Probe,
    count: u32,
    timeout: Duration,
) -> ProbeResult {
    let rt = match netns::runtime() {
        Ok(rt) => rt,
        Err(e) => return ProbeResult::unrun(e, None),
    };
    let handle = match rt.block_on(async { nl::connect() }) {
        Ok(h) => h,
        Err(e) => return ProbeResult::unrun(e, None),
    };
    let links = match rt.block_on(nl::links(&handle)) {
        Ok(l) => l,
        Err(e) => return ProbeResult::unrun(e, None),
    };
    let forced = match iface {
        Some(name) => match links.iter().find(|l| l.name == name) {
            Some(l) => Some(l.clone()),
            None => {
                return ProbeResult::unrun(format!("no interface {name} on the source node"), None)
            }
        },
        None => None,
    };
    let hop = match rt.block_on(nl::route_get(
        &handle,
        dst,
        forced.as_ref().map(|l| l.index),
    )) {
        Ok(h) => h,
        Err(nl::RouteError::NoRoute) => {
            return ProbeResult {
                no_route: true,
                ..ProbeResult::failed(format!("no route to {dst}"), iface.map(str::to_owned))
            }
        }
        Err(nl::RouteError::Other(e)) => return ProbeResult::unrun(e, None),
    };
    // The neighbour entry the probes make for the next hop is removed
    // afterwards unless it was there before: the kernel's neighbour tables
    // hold 1024 entries for the whole machine (gc_thresh3), and only entries
    // older than 5 s may be reclaimed, so a thousand probes in a second would
    // overflow them and later probes could not resolve anybody.
    let had = !matches!(
        rt.block_on(nl::neighbour_state(&handle, hop.oif, hop.nexthop)),
        Ok(None)
    );
    let mut r = send(&rt, &handle, &links, iface, &hop, dst, kind, count, timeout);
    if !had {
        // Best effort: a leftover entry is only a cache entry.
        let _ = rt.block_on(nl::forget_neighbour(&handle, hop.oif, hop.nexthop));
    }
    if hop.nexthop == dst {
        r.on_link_src = hop.src;
    }
    r
}

/// Send the probes along `hop` and explain the outcome.
#[allow(clippy::too_many_arguments)]
fn send(
    rt: &tokio::runtime::Runtime,
    handle: &rtnetlink::Handle,
    links: &[nl::LinkState],
    iface: Option<&str>,
    hop: &nl::RouteHop,
    dst: IpAddr,
    kind: Probe,
    count: u32,
    timeout: Duration,
) -> ProbeResult {
    let out = links.iter().find(|l| l.index == hop.oif);
    let out_name = out.map(|l| l.name.clone());
    let mut last = Attempt::Timeout;
    let mut pinger = None;
    for _ in 0..count {
        let attempt = match kind {
            Probe::Icmp => {
                if pinger.is_none() {
                    match icmp::Pinger::new(dst, iface, next_ident()) {
                        Ok(p) => pinger = Some(p),
                        Err(e) => return ProbeResult::unrun(e, out_name),
                    }
                }
                match pinger.as_mut() {
                    Some(p) => p.once(timeout),
                    None => Attempt::Failed("no ICMP socket".into()),
                }
            }
            Probe::Arp => arp_once(rt, handle, out, hop, dst, timeout),
            Probe::Tcp(port) => tcp::connect_once(dst, port, iface, timeout),
            Probe::Udp(port) => udp::exchange(dst, port, iface, timeout),
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
    let ms = timeout.as_millis();
    let mut reason = match &last {
        Attempt::Timeout => match kind {
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
    if matches!(last, Attempt::Timeout | Attempt::Unreachable { .. }) {
        if let (Some(name), Ok(Some((state, _)))) = (
            out_name.as_deref(),
            rt.block_on(nl::neighbour(handle, hop.oif, hop.nexthop)),
        ) {
            if matches!(state, NeighbourState::Incomplete | NeighbourState::Failed) {
                let what = if hop.nexthop.is_ipv4() {
                    "ARP"
                } else {
                    "neighbour solicitation"
                };
                reason = format!("{what} for {} on {name} unanswered ({reason})", hop.nexthop);
            }
        }
    }
    ProbeResult::failed(reason, out_name)
}

/// One ARP who-has for `dst` out of the route's (or forced) interface.
fn arp_once(
    rt: &tokio::runtime::Runtime,
    handle: &rtnetlink::Handle,
    out: Option<&nl::LinkState>,
    hop: &nl::RouteHop,
    dst: IpAddr,
    timeout: Duration,
) -> Attempt {
    let IpAddr::V4(target) = dst else {
        return Attempt::Failed("ARP probes IPv4 addresses only".into());
    };
    let Some(link) = out else {
        return Attempt::Failed("no output interface for ARP".into());
    };
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
            let addrs = rt.block_on(nl::addresses(handle)).unwrap_or_default();
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
