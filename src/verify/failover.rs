//! Failover checks: set a link down inside its node, probe until traffic
//! recovers or the bound passes, then always put the link back as it was.
//!
//! Setting a link down makes the kernel delete the routes through it (and the
//! IPv6 addresses on it, unless keep_addr_on_down); [`crate::kernel::updown`]
//! saves them first and re-adds them after the link is up again, so the
//! network is left as found.
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::error::Error;
use super::{node, probe, Outcome};
use crate::kernel::query::Query;
use crate::kernel::updown::{self, Cut};
use crate::model::{Expectation, IfRef, Network};

/// Save what the kernel will drop, then set `cut` down. What belongs to
/// the node's LIFs is not saved: their watcher moves it (see super::lif).
pub(super) fn cut_link(network: &Network, cut: &IfRef) -> Result<Cut, Error> {
    let lifs = super::lif::addresses(network, &cut.node);
    node::run_in(&network.name, &cut.node, || {
        let mut q = Query::open(format!("node {}", cut.node))?;
        let link = q
            .link_by_name(&cut.name)?
            .ok_or_else(|| Error::NoLink(cut.name.clone()))?;
        Ok(updown::cut(&mut q, link.index)?.without_lifs(&lifs))
    })
}

/// Set the link up again and re-add the routes and addresses the kernel dropped.
pub(super) fn restore(topo: &str, node: &str, saved: Cut) -> Result<(), Error> {
    node::run_in(topo, node, move || {
        let mut q = Query::open(format!("node {node}"))?;
        updown::restore(&mut q, saved)
            .map_err(|errors| Error::Several(errors.into_iter().map(Error::from).collect()))
    })
}

/// Check a failover claim: with `cut` down, `dst` answers within `within_ms`.
pub fn check(
    network: &Network,
    e: &Expectation,
    cut: &IfRef,
    within_ms: u32,
    dst: IpAddr,
    mut o: Outcome,
) -> Outcome {
    let topo = &network.name;
    let timeout = Duration::from_millis(u64::from(e.timeout_ms.max(1)));
    let iface = e.from.iface.as_deref();
    // Without a working path before the cut, a failure after it proves nothing.
    let before = probe(topo, &e.from.node, iface, dst, e.probe, e.count, timeout);
    if !before.answered {
        o.from_iface = before.from_iface;
        o.reason = format!("not reachable even before cutting {cut}: {}", before.reason);
        return o;
    }
    let saved = match cut_link(network, cut) {
        Ok(s) => s,
        Err(err) => {
            o.reason = format!("cannot cut {cut}: {err}");
            return o;
        }
    };
    let bound = Duration::from_millis(u64::from(within_ms));
    let start = Instant::now();
    let mut last = None;
    loop {
        let left = bound.saturating_sub(start.elapsed());
        if left.is_zero() {
            break;
        }
        let r = probe(
            topo,
            &e.from.node,
            iface,
            dst,
            e.probe,
            1,
            timeout.min(left),
        );
        if r.answered {
            let took = start.elapsed().as_secs_f64() * 1000.0;
            o.ok = true;
            o.rtt_ms = Some(took);
            o.from_iface = r.from_iface.clone();
            o.reason = format!(
                "with {cut} down, answered after {took:.0}ms via {}/{}",
                e.from.node,
                r.from_iface.as_deref().unwrap_or("?")
            );
            last = Some(r);
            break;
        }
        if r.no_route {
            // Fails at once: pause so routing (e.g. a daemon) can converge.
            std::thread::sleep(Duration::from_millis(20).min(left));
        }
        last = Some(r);
    }
    if !o.ok {
        let why = last
            .map(|r| r.reason)
            .unwrap_or_else(|| "no probe sent".into());
        o.from_iface = None;
        o.reason = format!("with {cut} down, no answer within {within_ms}ms: {why}");
    }
    if let Err(err) = restore(topo, &cut.node, saved) {
        o.ok = false;
        o.reason = format!("{}; restoring {cut} failed: {err}", o.reason);
        return o;
    }
    // Leave the network forwarding as found (an STP bridge re-learns its ports
    // after the link returns), so later checks and commands see it working.
    let again = super::readiness(
        network,
        std::slice::from_ref(e),
        super::default_bound(network),
    );
    if !again.ready {
        o.ok = false;
        o.reason = format!("{}; after restoring {cut}: {again}", o.reason);
    }
    o
}
