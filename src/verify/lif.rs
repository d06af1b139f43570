//! The LIF claims. `failover:` needs nothing of its own (its cut leaves a
//! LIF's address and routes to the watcher, see [`addresses`]); `revert:`
//! cuts a LIF's home port, waits until the address answers through a
//! failover port, puts the home port back up, and times how long until
//! the address is on the home port again (asked of the kernel) and
//! answers there.
use std::net::IpAddr;
use std::time::{Duration, Instant};

use ipnet::IpNet;

use super::failover::{cut_link, restore};
use super::{node, probe, Outcome};
use crate::kernel::query::Query;
use crate::model::{Expectation, IfRef, Network, ServiceSetup};

/// How long a failover may take before a revert is timed.
const FAILOVER_BOUND: Duration = Duration::from_secs(10);

/// The LIF addresses of `node`.
pub fn addresses(network: &Network, node: &str) -> Vec<IpNet> {
    network
        .nodes
        .get(node)
        .into_iter()
        .flat_map(|n| n.services.values())
        .flat_map(|s| match &s.setup {
            ServiceSetup::LifWatch(l) => l.lifs.iter().map(|f| f.address).collect(),
            _ => Vec::new(),
        })
        .collect()
}

/// Whether `addr` is on interface `iface` of `node` now.
fn on(network: &Network, node: &str, iface: &str, addr: IpAddr) -> bool {
    node::run_in(&network.name, node, || {
        let mut q = Query::open(format!("node {node}"))?;
        let Some(link) = q.link_by_name(iface)? else {
            return Ok(false);
        };
        Ok(q.addresses()?
            .iter()
            .any(|a| a.index == link.index && a.addr == addr))
    })
    .unwrap_or(false)
}

/// Probe `dst` once per round until it answers or `until` passes (with
/// `also` holding); the time it took.
fn until_answered(
    network: &Network,
    e: &Expectation,
    dst: IpAddr,
    until: Instant,
    also: impl Fn() -> bool,
) -> Option<Instant> {
    let timeout = Duration::from_millis(u64::from(e.timeout_ms.max(1)));
    let iface = e.from.iface.as_deref();
    while Instant::now() < until {
        let left = until.saturating_duration_since(Instant::now());
        let r = probe(
            &network.name,
            &e.from.node,
            iface,
            dst,
            e.probe,
            1,
            timeout.min(left),
        );
        if r.answered && also() {
            return Some(Instant::now());
        }
        // An answer from the wrong port, or no route yet: a short pause
        // (a timed-out probe has waited already).
        if r.answered || r.no_route {
            std::thread::sleep(Duration::from_millis(10).min(left));
        }
    }
    None
}

/// Check `revert:` with home port `cut`, bound `within_ms`, the LIF's address `dst`.
pub fn revert(
    network: &Network,
    e: &Expectation,
    cut: &IfRef,
    within_ms: u32,
    dst: IpAddr,
    mut o: Outcome,
) -> Outcome {
    let timeout = Duration::from_millis(u64::from(e.timeout_ms.max(1)));
    let iface = e.from.iface.as_deref();
    let before = probe(
        &network.name,
        &e.from.node,
        iface,
        dst,
        e.probe,
        e.count,
        timeout,
    );
    if !before.answered {
        o.reason = format!(
            "{dst} does not answer even before cutting {cut}: {}",
            before.reason
        );
        return o;
    }
    let saved = match cut_link(network, cut) {
        Ok(s) => s,
        Err(err) => {
            o.reason = format!("cannot cut {cut}: {err}");
            return o;
        }
    };
    let away = || !on(network, &cut.node, &cut.name, dst);
    let failed_over = until_answered(network, e, dst, Instant::now() + FAILOVER_BOUND, away);
    let back_up = Instant::now();
    if let Err(err) = restore(&network.name, &cut.node, saved) {
        o.reason = format!("restoring {cut} failed: {err}");
        return o;
    }
    if failed_over.is_none() {
        o.reason = format!(
            "with {cut} down, {dst} did not answer from another port within {} s",
            FAILOVER_BOUND.as_secs()
        );
        return o;
    }
    let bound = Duration::from_millis(u64::from(within_ms));
    let home = || on(network, &cut.node, &cut.name, dst);
    match until_answered(network, e, dst, back_up + bound, home) {
        Some(t) => {
            let took = (t - back_up).as_secs_f64() * 1000.0;
            o.ok = true;
            o.rtt_ms = Some(took);
            o.reason = format!("{dst} failed over, then was back on {cut} and answering {took:.0}ms after {cut} came up");
        }
        None => {
            o.reason = format!(
                "{dst} did not return to {cut} within {within_ms}ms after it came up (on it now: {})",
                home()
            );
        }
    }
    let again = super::readiness(
        network,
        std::slice::from_ref(e),
        super::default_bound(network),
    );
    if o.ok && !again.ready {
        o.ok = false;
        o.reason = format!("{}; afterwards: {again}", o.reason);
    }
    o
}
