//! Readiness before judging: carrier on the links probes use, bridge ports
//! settled (forwarding, or blocking under STP), IPv6 addresses past DAD.
//!
//! Probing too early turns a correct network into false failures, so `verify`
//! waits for the kernel to report these states, read by netlink dumps in each
//! node. Waiting is bounded, and it stops at once when what is missing can
//! never come by waiting ("never": a link administratively down, a veth whose
//! peer is down or gone, a duplicate address), as opposed to "not yet" (a
//! bridge port listening or learning, an address still tentative).
mod checks;
mod view;

use std::time::{Duration, Instant};

use serde::Serialize;

use super::Error;
use crate::model::{Expectation, LinkKind, Network};
use view::{View, Wait};

/// How long a "never" must persist before waiting stops (state changes of a
/// network `up` just built, such as teamd re-enslaving a port, settle well within).
const NEVER_CONFIRM: Duration = Duration::from_millis(250);

/// Time between two looks at the kernel.
const POLL: Duration = Duration::from_millis(25);

/// How a readiness wait ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Readiness {
    /// Every link involved forwards: the verdicts that follow are meaningful.
    pub ready: bool,
    /// Waiting stopped early because something can never become ready.
    pub broken: bool,
    /// How long the wait took, in milliseconds.
    pub waited_ms: f64,
    /// The bound the wait had, in milliseconds.
    pub bound_ms: u64,
    /// What was still not ready when waiting stopped (empty when ready).
    pub waiting: Vec<String>,
}

impl std::fmt::Display for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.waited_ms / 1000.0;
        if self.ready {
            write!(f, "ready after {secs:.1} s")
        } else if self.broken {
            write!(
                f,
                "not ready, and never will be (stopped after {secs:.1} s): {}",
                self.waiting.join(", ")
            )
        } else {
            write!(
                f,
                "not ready after {secs:.1} s (bound {:.1} s): {}",
                self.bound_ms as f64 / 1000.0,
                self.waiting.join(", ")
            )
        }
    }
}

/// A sensible bound for a network: 10 s, plus listening and learning
/// (2 x forward_delay) of the slowest STP bridge, plus 10 s when an 802.3ad
/// bond must negotiate LACP (8 s was seen under emulation).
pub fn default_bound(network: &Network) -> Duration {
    let lacp = network
        .nodes
        .values()
        .flat_map(|n| n.links.values())
        .any(|l| matches!(&l.kind, LinkKind::Bond(b) if b.mode.as_deref() == Some("802.3ad")));
    let lacp = if lacp {
        Duration::from_secs(10)
    } else {
        Duration::ZERO
    };
    let stp_cs = network
        .nodes
        .values()
        .flat_map(|n| n.links.values())
        .filter_map(|l| match &l.kind {
            LinkKind::Bridge(b) if b.stp == Some(true) => Some(b.forward_delay.unwrap_or(1500)),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    Duration::from_secs(10) + Duration::from_millis(u64::from(stp_cs) * 20) + lacp
}

/// Wait until the links the expectations use are ready, at most `bound`, and
/// say how it ended. Stops early when something can never become ready.
pub fn readiness(network: &Network, expect: &[Expectation], bound: Duration) -> Readiness {
    let checks = checks::checks(network, expect);
    let nodes = checks::nodes_to_read(network, &checks);
    let start = Instant::now();
    let mut never_since: Option<Instant> = None;
    loop {
        let snaps = view::snapshot(network, &nodes);
        let view = View {
            network,
            snaps: &snaps,
        };
        let waits: Vec<Wait> = checks.iter().flat_map(|c| view.node(c)).collect();
        let finish = |ready: bool, broken: bool| Readiness {
            ready,
            broken,
            waited_ms: (start.elapsed().as_secs_f64() * 10_000.0).round() / 10.0,
            bound_ms: u64::try_from(bound.as_millis()).unwrap_or(u64::MAX),
            waiting: waits.iter().map(|w| w.text().to_string()).collect(),
        };
        if waits.is_empty() {
            return finish(true, false);
        }
        if waits.iter().any(|w| matches!(w, Wait::Never(_))) {
            let since = *never_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= NEVER_CONFIRM {
                return finish(false, true);
            }
        } else {
            never_since = None;
        }
        if start.elapsed() >= bound {
            return finish(false, false);
        }
        std::thread::sleep(POLL);
    }
}

/// Wait until the links the expectations use are ready; return how long it
/// took, or [`Error::NotReady`] saying what is still not ready when `bound`
/// passes (or at once, when it can never become ready).
pub fn wait_ready(
    network: &Network,
    expect: &[Expectation],
    bound: Duration,
) -> Result<Duration, Error> {
    let r = readiness(network, expect, bound);
    if r.ready {
        Ok(Duration::from_secs_f64(r.waited_ms / 1000.0))
    } else {
        Err(Error::NotReady(r))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::{BridgeOptions, Link, Node};

    pub(crate) fn veth(name: &str, peer: (&str, &str), up: Option<bool>) -> Link {
        let mut l = Link::veth(name, peer.0, peer.1);
        l.up = up;
        l
    }

    pub(crate) fn net(nodes: Vec<(&str, Vec<Link>)>) -> Network {
        let mut n = Network {
            name: "t".into(),
            ..Network::default()
        };
        for (name, links) in nodes {
            let mut node = Node::default();
            for l in links {
                node.links.insert(l.name.clone(), l);
            }
            n.nodes.insert(name.into(), node);
        }
        n
    }

    #[test]
    fn bound_allows_for_the_slowest_stp_bridge() {
        let plain = net(vec![("a", vec![veth("eth0", ("b", "eth0"), None)])]);
        assert_eq!(default_bound(&plain), Duration::from_secs(10));
        let mut br = Link::new(
            "br0",
            LinkKind::Bridge(BridgeOptions {
                stp: Some(true),
                forward_delay: Some(200),
                ..BridgeOptions::default()
            }),
        );
        let stp = net(vec![("sw", vec![br.clone()])]);
        assert_eq!(default_bound(&stp), Duration::from_secs(14));
        br.kind = LinkKind::Bridge(BridgeOptions {
            stp: Some(true),
            ..BridgeOptions::default()
        });
        // The kernel's default forward_delay is 15 s.
        assert_eq!(
            default_bound(&net(vec![("sw", vec![br])])),
            Duration::from_secs(40)
        );
    }
}
