//! The walk: a packet from its source node to the node holding its
//! destination, hop by hop, then the answer back.
//!
//! At each node: the route lookup ([`super::route`]; live, the node's
//! kernel is asked the same question and wins where it differs), the
//! checks of a packet coming in (martian source, rp_filter, forwarding on
//! the input interface), nftables at each hook (live), masquerade on the
//! way out and back; between nodes: ARP for the next hop and the frame
//! itself, through the segment's devices ([`super::frame`]).
mod decide;
mod direction;
mod segment;

use std::cell::RefCell;
use std::collections::{BTreeSet, HashSet};

use super::fast::Map as HashMap;
use std::net::IpAddr;

use super::facts::{Facts, RouteAnswer, RouteKey};
use super::frame::{self, Dst, Ev, Frame, Kind, Sim};
use super::index::{If, Index};
use super::nft::Packet;
use super::route::{self, Lookup};
use super::rules::{self, ipvlan, l3, nat, Place, RuleHit};
use super::{Action, Disposition, Explanation, Flow, Hop, Mode, Step, StepType, Trace};
use crate::model::Probe;

/// A walk over one network with one set of facts; results of ARP and of
/// frames are kept, so the pairs of `--all` share them.
pub struct Walker<'s, 'a> {
    idx: &'s Index<'a>,
    facts: &'s Facts,
    place: Place<'s>,
    depth: u8,
    arp_cache: RefCell<HashMap<(If, IpAddr, IpAddr), Resolved>>,
    /// Route lookups the walk wanted the kernel's answer to (live).
    pub wanted: RefCell<BTreeSet<RouteKey>>,
    /// Nodes the walk went through (live: to read them from the kernel).
    pub touched: RefCell<BTreeSet<String>>,
    /// Neighbour entries the walk wanted the kernel's state of (live).
    pub wanted_neigh: RefCell<BTreeSet<(String, String, IpAddr)>>,
    /// Interfaces the walk went through, (node, name).
    pub touched_links: RefCell<BTreeSet<(String, String)>>,
    /// Bridge forwarding database entries the walk's ways rely on (live).
    pub wanted_fdb: RefCell<BTreeSet<frame::FdbKey>>,
    /// Neighbours learnt from ARP requests this flow made: (node, interface,
    /// address) -> the asker's interface (arp_process -> neigh_event_ns).
    learned: RefCell<HashMap<(String, If, IpAddr), If>>,
    /// Masquerade rules the flow's source matched but left by another interface.
    nat_misses: RefCell<Vec<String>>,
    /// Frames carried from an interface to an owner's address (see `carry`).
    carry_cache: RefCell<HashMap<(If, If), Carried>>,
}

/// A frame carried: where it arrived, and the way there.
type Carried = (If, Vec<(String, Step)>);

/// How a direction ended.
#[derive(Debug, Clone)]
enum End {
    Delivered,
    Failed(Disposition, String, Option<RuleHit>),
}

/// One direction walked.
struct Leg {
    steps: Vec<(String, Step)>,
    end: End,
    /// The packet as it arrived (source after masquerade).
    pkt: Pkt,
    /// Where it ended.
    at: String,
    /// The interface it came in by there.
    in_dev: Option<If>,
}

/// The packet's addresses.
#[derive(Debug, Clone, Copy)]
struct Pkt {
    src: Option<IpAddr>,
    dst: IpAddr,
    probe: Probe,
    reply: bool,
}

/// A masquerade done on the way, for conntrack to undo on the answer.
#[derive(Debug, Clone)]
struct Nat {
    node: String,
    public: IpAddr,
    orig: IpAddr,
}

/// Why a flow stopped: how, in words, and the rule.
#[derive(Debug, Clone)]
struct Stop {
    d: Disposition,
    why: String,
    hit: Option<RuleHit>,
}

/// A stop, boxed (results carry it through many calls).
fn stop(d: Disposition, why: String, hit: Option<RuleHit>) -> Box<Stop> {
    Box::new(Stop { d, why, hit })
}

/// A neighbour resolved (or not).
#[derive(Debug, Clone)]
struct Resolved {
    /// The interface that answered.
    by: Result<If, Box<Stop>>,
    steps: Vec<(String, Step)>,
}

/// What the routing decision at a node is.
#[derive(Debug, Clone, PartialEq)]
enum Decision {
    Local(If),
    Out(route::Hop),
    NoRoute,
    NoForwarding,
    Rpf(String),
}

/// Steps in hops: consecutive steps of one node form a hop.
fn hops(steps: Vec<(String, Step)>) -> Vec<Hop> {
    let mut out: Vec<Hop> = Vec::new();
    for (node, s) in steps {
        match out.last_mut() {
            Some(h) if h.node == node => h.steps.push(s),
            _ => out.push(Hop {
                node,
                steps: vec![s],
            }),
        }
    }
    out
}

/// The underlay of a vxlan: where a UDP packet from `node` to `dst` arrives.
pub struct Underlay {
    /// The node and interface it arrived at.
    pub arrived: Option<(String, If)>,
    /// The steps.
    pub steps: Vec<(String, Step)>,
    /// Why not, when it did not.
    pub reason: String,
}

/// Walk a vxlan's encapsulated packet from `node` to `dst`.
pub fn underlay(
    idx: &Index,
    facts: &Facts,
    place: Place,
    node: &str,
    src: Option<IpAddr>,
    dst: IpAddr,
    depth: u8,
) -> Underlay {
    let w = Walker::new(idx, facts, place);
    let w = Walker { depth, ..w };
    let pkt = Pkt {
        src,
        dst,
        probe: Probe::Udp(0),
        reply: false,
    };
    let mut nats = Vec::new();
    let leg = w.direction(node, None, pkt, &mut nats);
    match leg.end {
        End::Delivered => {
            let at = leg
                .in_dev
                .or_else(|| idx.holder_in(&leg.at, dst))
                .unwrap_or(0);
            Underlay {
                arrived: Some((leg.at, at)),
                steps: leg.steps,
                reason: String::new(),
            }
        }
        End::Failed(_, why, _) => Underlay {
            arrived: None,
            steps: leg.steps,
            reason: why,
        },
    }
}

/// Explain `flow` over `idx` with `facts`.
pub fn explain(idx: &Index, facts: &Facts, place: Place, flow: &Flow) -> Explanation {
    Walker::new(idx, facts, place).explain(flow)
}

impl<'s, 'a> Walker<'s, 'a> {
    /// A walker.
    pub fn new(idx: &'s Index<'a>, facts: &'s Facts, place: Place<'s>) -> Self {
        Walker {
            idx,
            facts,
            place,
            depth: 0,
            arp_cache: RefCell::default(),
            wanted: RefCell::default(),
            touched: RefCell::default(),
            wanted_neigh: RefCell::default(),
            touched_links: RefCell::default(),
            wanted_fdb: RefCell::default(),
            learned: RefCell::default(),
            nat_misses: RefCell::default(),
            carry_cache: RefCell::default(),
        }
    }

    /// The nodes and devices a segment's way crosses: live, they are read
    /// from the kernel too.
    pub(super) fn touch(&self, found: &frame::Found) {
        let mut t = self.touched.borrow_mut();
        for (n, _) in &found.steps {
            if !t.contains(n) {
                t.insert(n.clone());
            }
        }
        let mut l = self.touched_links.borrow_mut();
        for &i in &found.ifs {
            let f = &self.idx.ifs[i];
            l.insert((f.node.to_string(), f.name.to_string()));
        }
        for k in &found.fdb {
            if !self.facts.fdb.contains_key(k) {
                self.wanted_fdb.borrow_mut().insert(k.clone());
            }
        }
    }

    pub(super) fn step(
        &self,
        node: &str,
        kind: StepType,
        detail: String,
        action: Action,
    ) -> (String, Step) {
        frame::step(self.facts, node, kind, detail, action)
    }

    /// Explain one flow: the request, then the answer.
    pub fn explain(&self, flow: &Flow) -> Explanation {
        self.learned.borrow_mut().clear();
        self.nat_misses.borrow_mut().clear();
        let bound = flow
            .src_iface
            .as_deref()
            .and_then(|i| self.idx.find(&flow.src, i));
        let pkt = Pkt {
            src: None,
            dst: flow.dst,
            probe: flow.probe,
            reply: false,
        };
        let mut nats = Vec::new();
        if flow.probe == Probe::Arp {
            return self.explain_arp(flow, bound);
        }
        let fwd = self.direction(&flow.src, bound, pkt, &mut nats);
        let (disp, reason, rule) = match &fwd.end {
            End::Failed(d, r, h) => (*d, r.clone(), h.clone()),
            End::Delivered => (Disposition::Delivered, String::new(), None),
        };
        let forward = Trace {
            disposition: disp,
            reason: reason.clone(),
            rule: rule.clone(),
            hops: hops(fwd.steps),
        };
        let mut ex = Explanation {
            flow: flow.clone(),
            mode: if self.facts.live {
                Mode::Live
            } else {
                Mode::Static
            },
            disposition: disp,
            reason,
            rule,
            forward,
            reply: None,
            drift: self.facts.drift.clone(),
            trace: None,
        };
        if !disp.ok() {
            return ex;
        }
        let Some(back_to) = fwd.pkt.src else {
            let hit = l3::NO_SOURCE.hit(
                format!("{} has no address to send from", flow.src),
                "give it an address",
                self.place.at(&flow.src, None, None),
            );
            ex.disposition = Disposition::NoReturnPath;
            ex.reason = hit.sentence();
            ex.rule = Some(hit);
            return ex;
        };
        let rpkt = Pkt {
            src: Some(flow.dst),
            dst: back_to,
            probe: flow.probe,
            reply: true,
        };
        // The answer is routed in the VRF the request came in by
        // (icmp_reply: flowi4_oif = l3mdev_master_ifindex(skb->dev)).
        let domain = fwd.in_dev.and_then(|i| route::vrf_of(self.idx, i));
        let back = self.direction(&fwd.at, domain, rpkt, &mut nats);
        let (rd, rr, rh) = match back.end {
            End::Delivered if back.at == flow.src => (Disposition::Delivered, String::new(), None),
            End::Delivered => (
                Disposition::NoReturnPath,
                format!(
                    "the answer to {back_to} is delivered to {} instead of {}",
                    back.at, flow.src
                ),
                None,
            ),
            End::Failed(Disposition::NoRoute, why, hit) => {
                let miss = self.nat_misses.borrow().first().cloned();
                let hit = hit.map(|h| match miss {
                    Some(m) => nat::OUT_ONLY.hit(
                        format!(
                            "the request arrives, but on the way back {}: {m}",
                            h.message
                        ),
                        "add a masquerade rule with that `out`, or a route back",
                        h.at,
                    ),
                    None => l3::NO_RETURN.hit(
                        format!("the request arrives, but on the way back {}", h.message),
                        h.fix,
                        h.at,
                    ),
                });
                (
                    Disposition::NoReturnPath,
                    format!("no return path: {why}"),
                    hit,
                )
            }
            End::Failed(d, why, hit) => (d, format!("on the way back: {why}"), hit),
        };
        ex.reply = Some(Trace {
            disposition: rd,
            reason: rr.clone(),
            rule: rh.clone(),
            hops: hops(back.steps),
        });
        if !rd.ok() {
            ex.disposition = rd;
            ex.reason = match &rh {
                Some(h) => format!("on the way back: {}", h.sentence()),
                None => rr,
            };
            ex.rule = rh;
        } else {
            ex.reason = format!("{} answers {} from {}", fwd.at, flow.src, flow.dst);
        }
        ex
    }

    /// `--proto arp`: ARP for the destination on the route's interface.
    fn explain_arp(&self, flow: &Flow, bound: Option<If>) -> Explanation {
        let mut steps = Vec::new();
        let end = match self.decide(&flow.src, flow.dst, None, None, bound, &mut steps) {
            Decision::Out(hop) if hop.nexthop(flow.dst) == flow.dst => {
                let sender = hop.src.unwrap_or(flow.dst);
                let r = self.resolve(&flow.src, hop.dev, flow.dst, sender);
                steps.extend(r.steps);
                match r.by {
                    Ok(_) => End::Delivered,
                    Err(s) => End::Failed(s.d, s.why, s.hit),
                }
            }
            Decision::Out(hop) => End::Failed(
                Disposition::NeighbourUnreachable,
                format!(
                    "{} is not on a link of {} (routed via {}): ARP reaches neighbours only",
                    flow.dst,
                    flow.src,
                    hop.nexthop(flow.dst)
                ),
                None,
            ),
            Decision::Local(_) => End::Failed(
                Disposition::InsufficientInfo,
                format!(
                    "{} is {}'s own address: there is nobody to ask",
                    flow.dst, flow.src
                ),
                None,
            ),
            _ => End::Failed(
                Disposition::NoRoute,
                format!("{} has no route to {}", flow.src, flow.dst),
                None,
            ),
        };
        let (d, r, h) = match end {
            End::Delivered => (
                Disposition::Delivered,
                format!("{} answers ARP for it", flow.dst),
                None,
            ),
            End::Failed(d, r, h) => (d, r, h),
        };
        Explanation {
            flow: flow.clone(),
            mode: if self.facts.live {
                Mode::Live
            } else {
                Mode::Static
            },
            disposition: d,
            reason: h.as_ref().map_or(r.clone(), |h| h.sentence()),
            rule: h.clone(),
            forward: Trace {
                disposition: d,
                reason: r,
                rule: h,
                hops: hops(steps),
            },
            reply: None,
            drift: self.facts.drift.clone(),
            trace: None,
        }
    }
}
