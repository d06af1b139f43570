//! The walk: a packet from its source node to the node holding its
//! destination, hop by hop, then the answer back.
//!
//! At each node: the route lookup ([`super::route`]; live, the node's
//! kernel is asked the same question and wins where it differs), the
//! checks of a packet coming in (martian source, rp_filter, forwarding on
//! the input interface), nftables at each hook (live), masquerade on the
//! way out and back; between nodes: ARP for the next hop and the frame
//! itself, through the segment's devices ([`super::frame`]).
use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap, HashSet};
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
    /// Neighbours learnt from ARP requests this flow made: (node, interface,
    /// address) -> the asker's interface (arp_process -> neigh_event_ns).
    learned: RefCell<HashMap<(String, If, IpAddr), If>>,
    /// Masquerade rules the flow's source matched but left by another interface.
    nat_misses: RefCell<Vec<String>>,
}

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

/// A neighbour resolved (or not).
#[derive(Debug, Clone)]
struct Resolved {
    /// The interface that answered.
    by: Result<If, (Disposition, String, Option<RuleHit>)>,
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
pub fn underlay(idx: &Index, facts: &Facts, place: Place, node: &str, src: Option<IpAddr>, dst: IpAddr, depth: u8) -> Underlay {
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
            let at = leg.in_dev.or_else(|| idx.holder_in(&leg.at, dst)).unwrap_or(0);
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
            learned: RefCell::default(),
            nat_misses: RefCell::default(),
        }
    }

    /// The nodes a segment's way crosses: live, they are read from the kernel too.
    fn touch(&self, steps: &[(String, Step)]) {
        let mut t = self.touched.borrow_mut();
        for (n, _) in steps {
            if !t.contains(n) {
                t.insert(n.clone());
            }
        }
    }

    fn step(&self, node: &str, kind: StepType, detail: String, action: Action) -> (String, Step) {
        frame::step(self.facts, node, kind, detail, action)
    }

    /// Explain one flow: the request, then the answer.
    pub fn explain(&self, flow: &Flow) -> Explanation {
        self.learned.borrow_mut().clear();
        self.nat_misses.borrow_mut().clear();
        let bound = flow.src_iface.as_deref().and_then(|i| self.idx.find(&flow.src, i));
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
            mode: if self.facts.live { Mode::Live } else { Mode::Static },
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
            let hit = l3::NO_SOURCE.hit(format!("{} has no address to send from", flow.src), "give it an address", self.place.at(&flow.src, None, None));
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
        let back = self.direction(&fwd.at, None, rpkt, &mut nats);
        let (rd, rr, rh) = match back.end {
            End::Delivered if back.at == flow.src => (Disposition::Delivered, String::new(), None),
            End::Delivered => (
                Disposition::NoReturnPath,
                format!("the answer to {back_to} is delivered to {} instead of {}", back.at, flow.src),
                None,
            ),
            End::Failed(Disposition::NoRoute, why, hit) => {
                let miss = self.nat_misses.borrow().first().cloned();
                let hit = hit.map(|h| match miss {
                    Some(m) => nat::OUT_ONLY.hit(
                        format!("the request arrives, but on the way back {}: {m}", h.message),
                        "add a masquerade rule with that `out`, or a route back",
                        h.at,
                    ),
                    None => l3::NO_RETURN.hit(format!("the request arrives, but on the way back {}", h.message), h.fix, h.at),
                });
                (Disposition::NoReturnPath, format!("no return path: {why}"), hit)
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
                    Err((d, why, hit)) => End::Failed(d, why, hit),
                }
            }
            Decision::Out(hop) => End::Failed(
                Disposition::NeighbourUnreachable,
                format!("{} is not on a link of {} (routed via {}): ARP reaches neighbours only", flow.dst, flow.src, hop.nexthop(flow.dst)),
                None,
            ),
            Decision::Local(_) => End::Failed(Disposition::InsufficientInfo, format!("{} is {}'s own address: there is nobody to ask", flow.dst, flow.src), None),
            _ => End::Failed(Disposition::NoRoute, format!("{} has no route to {}", flow.src, flow.dst), None),
        };
        let (d, r, h) = match end {
            End::Delivered => (Disposition::Delivered, format!("{} answers ARP for it", flow.dst), None),
            End::Failed(d, r, h) => (d, r, h),
        };
        Explanation {
            flow: flow.clone(),
            mode: if self.facts.live { Mode::Live } else { Mode::Static },
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

    /// The nft view of the packet.
    fn nft_pkt(&self, p: &Pkt, iif: Option<If>, oif: Option<If>) -> Option<Packet> {
        let src = p.src?;
        let v6 = p.dst.is_ipv6();
        let (l4, icmp, dport) = match p.probe {
            Probe::Icmp | Probe::Arp => (
                if v6 { "icmpv6" } else { "icmp" },
                Some(if p.reply { "echo-reply" } else { "echo-request" }),
                None,
            ),
            Probe::Tcp(port) => ("tcp", None, if p.reply { None } else { Some(port) }),
            Probe::Udp(port) => ("udp", None, if p.reply { None } else { Some(port) }),
        };
        Some(Packet {
            src,
            dst: p.dst,
            l4,
            icmp_type: icmp,
            dport,
            iif: iif.map(|i| self.idx.ifs[i].name.to_string()),
            oif: oif.map(|i| self.idx.ifs[i].name.to_string()),
            ct: if p.reply { "established" } else { "new" },
        })
    }

    /// The nft hooks `hooks` at `node`: the first drop.
    fn filter(&self, node: &str, hooks: &[&str], p: &Pkt, iif: Option<If>, oif: Option<If>) -> Option<RuleHit> {
        let pkt = self.nft_pkt(p, iif, oif)?;
        hooks.iter().find_map(|h| rules::nft::at_hook(self.facts, node, h, &pkt))
    }

    /// The routing decision at `node`, the kernel's when it answered.
    fn decide(&self, node: &str, dst: IpAddr, src: Option<IpAddr>, iif: Option<If>, oif: Option<If>, steps: &mut Vec<(String, Step)>) -> Decision {
        let model = self.model_decision(node, dst, src, iif, oif);
        if !self.facts.live || !self.facts.kernel_nodes.contains(node) {
            return model;
        }
        let key = RouteKey {
            node: node.to_string(),
            dst,
            src: if iif.is_some() { src } else { None },
            iif: iif.map(|i| self.idx.ifs[i].name.to_string()),
            oif: oif.map(|i| self.idx.ifs[i].name.to_string()),
        };
        let Some(answer) = self.facts.routes.get(&key) else {
            self.wanted.borrow_mut().insert(key);
            return model;
        };
        let kernel = match answer {
            RouteAnswer::Local => Decision::Local(match &model {
                Decision::Local(h) => *h,
                _ => self.idx.ifaces_of(node).first().copied().unwrap_or(0),
            }),
            RouteAnswer::Unicast { dev, via, src: ksrc, matched } => match self.idx.find(node, dev) {
                Some(d) => Decision::Out(route::Hop {
                    dev: d,
                    via: *via,
                    matched: matched.clone().unwrap_or_else(|| format!("{dst} dev {dev}")),
                    prefix: match &model {
                        Decision::Out(h) => h.prefix,
                        _ => ipnet::IpNet::from(dst),
                    },
                    src: ksrc.or(match &model {
                        Decision::Out(h) => h.src,
                        _ => None,
                    }),
                }),
                None => model.clone(),
            },
            RouteAnswer::Refused { errno, .. } => match *errno {
                libc::EHOSTUNREACH if iif.is_some() => Decision::NoForwarding,
                libc::EINVAL | libc::EXDEV if iif.is_some() => Decision::Rpf("the kernel refuses the source (rp_filter or martian)".into()),
                _ => Decision::NoRoute,
            },
        };
        let same = match (&model, &kernel) {
            (Decision::Out(a), Decision::Out(b)) => a.dev == b.dev && a.via == b.via,
            (Decision::Local(_), Decision::Local(_)) => true,
            (Decision::Rpf(_), Decision::Rpf(_)) => true,
            (a, b) => a == b,
        };
        if !same {
            let line = format!(
                "{node}: route to {dst}{}: the file says {}, the kernel says {}",
                iif.map(|i| format!(" (in by {})", self.idx.ifs[i].name)).unwrap_or_default(),
                self.words(&model),
                self.words(&kernel)
            );
            steps.push(self.step(node, StepType::Drift, line, Action::Note));
        }
        kernel
    }

    fn words(&self, d: &Decision) -> String {
        match d {
            Decision::Local(_) => "local".into(),
            Decision::Out(h) => format!("{} via {}", self.idx.ifs[h.dev].name, h.via.map_or("-".into(), |v| v.to_string())),
            Decision::NoRoute => "no route".into(),
            Decision::NoForwarding => "not forwarded".into(),
            Decision::Rpf(_) => "refused by the reverse-path check".into(),
        }
    }

    /// The decision from the model: local, input checks, route.
    fn model_decision(&self, node: &str, dst: IpAddr, src: Option<IpAddr>, iif: Option<If>, oif: Option<If>) -> Decision {
        let Some(n) = self.idx.node(node) else {
            return Decision::NoRoute;
        };
        if let (Some(i), Some(s)) = (iif, src) {
            let dev = self.idx.ifs[i].name;
            if s.is_ipv4() && self.idx.node_holds(node, s) && !self.facts.accept_local(n, dev) {
                return Decision::Rpf(format!("{s} is one of {node}'s own addresses (martian source)"));
            }
            let rpf = if s.is_ipv4() { self.facts.rp_filter(n, dev) } else { 0 };
            if rpf > 0 {
                match route::lookup(self.idx, node, s, None) {
                    Lookup::Unicast(back) if rpf == 2 || back.dev == i => {}
                    Lookup::Unicast(back) => {
                        return Decision::Rpf(format!(
                            "rp_filter {rpf} on {dev}: the route back to {s} leaves by {}, not {dev}",
                            self.idx.ifs[back.dev].name
                        ))
                    }
                    _ => return Decision::Rpf(format!("rp_filter {rpf} on {dev}: no route back to {s}")),
                }
            }
        }
        match route::lookup(self.idx, node, dst, oif) {
            Lookup::Local { holder } => Decision::Local(holder),
            Lookup::None => {
                if let Some(i) = iif {
                    if !self.facts.forwards(n, self.idx.ifs[i].name, dst.is_ipv6()) {
                        return Decision::NoForwarding;
                    }
                }
                Decision::NoRoute
            }
            Lookup::Unicast(h) => {
                if let Some(i) = iif {
                    if !self.facts.forwards(n, self.idx.ifs[i].name, dst.is_ipv6()) {
                        return Decision::NoForwarding;
                    }
                }
                Decision::Out(h)
            }
        }
    }

    /// One direction: from `start` (bound to `bound`) until delivered or stopped.
    fn direction(&self, start: &str, bound: Option<If>, mut pkt: Pkt, nats: &mut Vec<Nat>) -> Leg {
        let mut steps: Vec<(String, Step)> = Vec::new();
        let mut at = start.to_string();
        let mut in_dev: Option<If> = None;
        let mut seen: HashSet<(String, Option<If>, IpAddr)> = HashSet::new();
        let fail = |mut steps: Vec<(String, Step)>, at: String, pkt: Pkt, d: Disposition, why: String, hit: Option<RuleHit>| {
            // A stop decided at this node (not inside a segment, which has its own step).
            if let Some(h) = hit.as_ref().filter(|_| why.is_empty()) {
                steps.push(frame::step(self.facts, &at, StepType::Route, h.message.clone(), Action::Drop));
            }
            Leg {
                steps,
                end: End::Failed(d, hit.as_ref().map_or(why, |h| h.sentence()), hit),
                pkt,
                at,
                in_dev: None,
            }
        };
        loop {
            self.touched.borrow_mut().insert(at.clone());
            if self.facts.missing.contains(&at) {
                let hit = l3::NOT_READY.hit(format!("node {at} has no namespace: the network is not (fully) up"), "run `netloom up`", self.place.at(&at, None, None));
                return fail(steps, at, pkt, Disposition::NotReady, String::new(), Some(hit));
            }
            if !seen.insert((at.clone(), in_dev, pkt.dst)) || seen.len() > 64 {
                let hit = l3::LOOP.hit(format!("the packet to {} comes back to {at}: a routing loop", pkt.dst), "fix the routes so they lead towards the destination", self.place.at(&at, None, None));
                return fail(steps, at, pkt, Disposition::Loop, String::new(), Some(hit));
            }
            if in_dev.is_some() {
                if let Some(m) = nats.iter().find(|m| m.node == at && m.public == pkt.dst) {
                    let d = format!("conntrack: {} is the masquerade of {}: destination back to {}", m.public, m.orig, m.orig);
                    steps.push(self.step(&at, StepType::Transform, d, Action::Transform));
                    pkt.dst = m.orig;
                }
            }
            let oif = if in_dev.is_none() { bound } else { None };
            let decision = self.decide(&at, pkt.dst, pkt.src, in_dev, oif, &mut steps);
            let dev_name = |i: Option<If>| i.map(|i| self.idx.ifs[i].name).unwrap_or("-");
            match decision {
                Decision::Rpf(why) => {
                    let hit = if why.contains("martian") {
                        l3::MARTIAN.hit(format!("{at} drops it: {why}"), "give the nodes distinct addresses", self.place.at(&at, None, None))
                    } else {
                        l3::RP_FILTER.hit(format!("{at} drops it: {why}"), format!("set net.ipv4.conf.{}.rp_filter (and .all) to 0 or 2 under `sysctl:` of {at}, or add the route back", dev_name(in_dev)), self.place.at(&at, None, None))
                    };
                    return fail(steps, at, pkt, hit.disposition(), String::new(), Some(hit));
                }
                Decision::NoForwarding => {
                    let hit = l3::FORWARDING_OFF.hit(
                        format!("{at} does not forward: forwarding is off for {} (the packet to {} came in by it)", dev_name(in_dev), pkt.dst),
                        format!("set `forwarding: true` on node {at}"),
                        self.place.at(&at, None, None),
                    );
                    return fail(steps, at, pkt, Disposition::ForwardingDisabled, String::new(), Some(hit));
                }
                Decision::NoRoute => {
                    let hit = l3::NO_ROUTE.hit(format!("{at} has no route to {}", pkt.dst), format!("add a route to {} under `routes:` of {at}", pkt.dst), self.place.at(&at, None, None));
                    return fail(steps, at, pkt, Disposition::NoRoute, String::new(), Some(hit));
                }
                Decision::Local(holder) => {
                    let hooks: &[&str] = if in_dev.is_some() { &["prerouting", "input"] } else { &["output", "input"] };
                    if let Some(hit) = self.filter(&at, hooks, &pkt, in_dev, None) {
                        return fail(steps, at, pkt, Disposition::FilteredByNft, String::new(), Some(hit));
                    }
                    let how = match in_dev {
                        Some(i) => format!("{} is local ({}): delivered, in by {}", pkt.dst, self.idx.label(holder), self.idx.ifs[i].name),
                        None => format!("{} is {}'s own address ({}): delivered over lo", pkt.dst, at, self.idx.label(holder)),
                    };
                    if pkt.src.is_none() {
                        pkt.src = Some(pkt.dst);
                    }
                    steps.push(self.step(&at, StepType::Deliver, how, Action::Deliver));
                    return Leg {
                        steps,
                        end: End::Delivered,
                        pkt,
                        at,
                        in_dev,
                    };
                }
                Decision::Out(hop) => {
                    let out = hop.dev;
                    let nh = hop.nexthop(pkt.dst);
                    if pkt.src.is_none() {
                        pkt.src = hop.src;
                    }
                    let Some(src) = pkt.src else {
                        let hit = l3::NO_SOURCE.hit(format!("{at} has no address to send from"), "give it an address", self.place.at(&at, None, None));
                        return fail(steps, at, pkt, Disposition::NoReturnPath, String::new(), Some(hit));
                    };
                    let (kind, what) = match in_dev {
                        None => (StepType::Originate, format!("{} -> {}: route {}", src, pkt.dst, hop.matched)),
                        Some(i) => (StepType::Route, format!("in by {}, forwarded (forwarding on): route {}", self.idx.ifs[i].name, hop.matched)),
                    };
                    steps.push(self.step(&at, kind, what, Action::Forward));
                    let hooks: &[&str] = if in_dev.is_some() { &["prerouting", "forward", "postrouting"] } else { &["output", "postrouting"] };
                    if let Some(hit) = self.filter(&at, hooks, &pkt, in_dev, Some(out)) {
                        return fail(steps, at, pkt, Disposition::FilteredByNft, String::new(), Some(hit));
                    }
                    self.masquerade(&at, out, nh, &mut pkt, nats, &mut steps);
                    // arp_solicit asks with the packet's source when it is
                    // the node's own, else with the output device's address.
                    let now = pkt.src.unwrap_or(src);
                    let sender = if self.idx.node_holds(&at, now) {
                        now
                    } else {
                        route::select_src(self.idx, &at, out, nh).unwrap_or(now)
                    };
                    match self.cross(&at, out, nh, sender, &pkt, &mut steps) {
                        Ok(arrival) => {
                            at = self.idx.node_of(arrival).to_string();
                            in_dev = Some(arrival);
                        }
                        Err((d, why, hit)) => return fail(steps, at, pkt, d, why, hit),
                    }
                }
            }
        }
    }

    /// Masquerade at `node` for a packet leaving by `out`.
    fn masquerade(&self, node: &str, out: If, nh: IpAddr, pkt: &mut Pkt, nats: &mut Vec<Nat>, steps: &mut Vec<(String, Step)>) {
        let (Some(n), Some(src)) = (self.idx.node(node), pkt.src) else { return };
        if pkt.reply {
            return;
        }
        let oname = self.idx.ifs[out].name;
        let Some(m) = n.nat.iter().find(|m| m.source.contains(&src) && m.out == oname) else {
            for m in n.nat.iter().filter(|m| m.source.contains(&src)) {
                self.nat_misses.borrow_mut().push(format!(
                    "{node} masquerades {} only out of {}, and the request left by {oname} with its source {src} unchanged",
                    m.source, m.out
                ));
            }
            return;
        };
        let Some(public) = route::select_src(self.idx, node, out, nh).filter(|p| p.is_ipv4() == src.is_ipv4()) else {
            return;
        };
        let d = format!("masquerade ({} out of {oname}): source {src} -> {public}", m.source);
        steps.push(self.step(node, StepType::Transform, d, Action::Transform));
        nats.push(Nat {
            node: node.to_string(),
            public,
            orig: src,
        });
        pkt.src = Some(public);
    }

    /// From `node` out of `out` to next hop `nh`: ARP, then the frame.
    /// Returns the interface it arrives at.
    fn cross(&self, node: &str, out: If, nh: IpAddr, sender: IpAddr, pkt: &Pkt, steps: &mut Vec<(String, Step)>) -> Result<If, (Disposition, String, Option<RuleHit>)> {
        let dst = pkt.dst;
        let src = pkt.src.unwrap_or(sender);
        // ipvlan l3/l3s: no ARP; to a sibling slave straight, else routed out of the master.
        if ipvlan::noarp(self.idx, out) {
            let lower = self.idx.lower(out).ok_or((Disposition::InsufficientInfo, format!("{}'s master is outside the topology", self.idx.label(out)), None))?;
            if ipvlan::slave_holding(self.idx, lower, dst).is_none() {
                let d = format!("ipvlan {} ({}): {dst} is no slave's: routed out of master {}", self.idx.label(out), ipvlan::mode(self.idx, out), self.idx.label(lower));
                steps.push(self.step(node, StepType::Segment, d, Action::Forward));
                let lnode = self.idx.node_of(lower);
                let nh2 = match route::lookup(self.idx, lnode, dst, Some(lower)) {
                    Lookup::Unicast(h) => h.nexthop(dst),
                    _ => dst,
                };
                let snd = route::select_src(self.idx, lnode, lower, nh2).unwrap_or(src);
                return self.arp_and_carry(lnode, lower, nh2, snd, src, dst, pkt, steps);
            }
            let f = frame::from_stack(self.idx, out, Dst::Mac(lower), Kind::Ip, src, dst);
            return self.carry(node, out, f, lower, pkt, steps);
        }
        self.arp_and_carry(node, out, nh, sender, src, dst, pkt, steps)
    }

    #[allow(clippy::too_many_arguments)]
    fn arp_and_carry(&self, node: &str, out: If, nh: IpAddr, sender: IpAddr, src: IpAddr, dst: IpAddr, pkt: &Pkt, steps: &mut Vec<(String, Step)>) -> Result<If, (Disposition, String, Option<RuleHit>)> {
        let known = self.learned.borrow().get(&(node.to_string(), out, nh)).copied();
        let by = match known {
            Some(asker) => {
                let d = format!("{nh} is known: learnt from its ARP request ({})", self.idx.label(asker));
                steps.push(self.step(node, StepType::Neighbour, d, Action::Forward));
                asker
            }
            None => {
                let r = self.resolve(node, out, nh, sender);
                steps.extend(r.steps);
                let by = r.by?;
                self.learned.borrow_mut().insert((self.idx.node_of(by).to_string(), by, sender), out);
                by
            }
        };
        let f = frame::from_stack(self.idx, out, Dst::Mac(self.idx.mac_owner(by)), Kind::Ip, src, dst);
        self.carry(node, out, f, by, pkt, steps)
    }

    /// The data frame from `out` to the owner of `to`'s address.
    fn carry(&self, node: &str, out: If, f: Frame, to: If, pkt: &Pkt, steps: &mut Vec<(String, Step)>) -> Result<If, (Disposition, String, Option<RuleHit>)> {
        let mut sim = Sim::new(self.idx, self.facts, self.place, self.depth);
        sim.pkt = self.nft_pkt(pkt, None, None);
        let owner = self.idx.mac_owner(to);
        let dst = f.ip_dst;
        let found = sim.run(Ev::Tx(out), f, &|s, i, _| s.idx.mac_owner(i) == owner);
        self.touch(&found.steps);
        steps.extend(found.steps);
        match found.at {
            Some(i) => Ok(i),
            None => {
                let hit = found.hits.into_iter().next();
                let d = hit.as_ref().map_or(Disposition::NeighbourUnreachable, RuleHit::disposition);
                let why = format!("the packet to {dst} from {node} never reaches {}", self.idx.label(to));
                Err((d, why, hit))
            }
        }
    }

    /// ARP for `nh` out of `out` of `node`, asked with sender address `sender`.
    fn resolve(&self, node: &str, out: If, nh: IpAddr, sender: IpAddr) -> Resolved {
        let key = (out, nh, sender);
        if let Some(r) = self.arp_cache.borrow().get(&key) {
            return r.clone();
        }
        let r = self.resolve_now(node, out, nh, sender);
        self.arp_cache.borrow_mut().insert(key, r.clone());
        r
    }

    fn resolve_now(&self, node: &str, out: If, nh: IpAddr, sender: IpAddr) -> Resolved {
        let word = if nh.is_ipv4() { "ARP" } else { "neighbour solicitation" };
        let mut steps = vec![self.step(node, StepType::Neighbour, format!("{word} for {nh} out of {}", self.idx.ifs[out].name), Action::Forward)];
        let nkey = (node.to_string(), self.idx.ifs[out].name.to_string(), nh);
        match self.facts.neigh.get(&nkey) {
            Some(state) => steps.push(self.step(node, StepType::Neighbour, format!("the kernel's neighbour entry for {nh} on {}: {state}", self.idx.ifs[out].name), Action::Note)),
            None if self.facts.live && self.facts.kernel_nodes.contains(node) => {
                self.wanted_neigh.borrow_mut().insert(nkey);
            }
            None => {}
        }
        let refusals: RefCell<Vec<RuleHit>> = RefCell::default();
        let want = |s: &Sim, i: If, _f: &Frame| self.answers(s, i, nh, sender, &refusals);
        let request = frame::from_stack(self.idx, out, Dst::Broadcast, Kind::ArpRequest, sender, nh);
        let mut sim = Sim::new(self.idx, self.facts, self.place, self.depth);
        let found = sim.run(Ev::Tx(out), request, &want);
        self.touch(&found.steps);
        let Some(by) = found.at else {
            steps.extend(found.steps);
            let refused = refusals.borrow().first().cloned();
            let hit = refused.or_else(|| found.hits.into_iter().next()).unwrap_or_else(|| {
                l3::NEIGH.hit(
                    format!("nothing reachable from {} holds {nh}: {word} goes unanswered", self.idx.label(out)),
                    format!("put {nh} on the segment of {}, or route via a gateway there", self.idx.label(out)),
                    self.place.at(node, Some(self.idx.ifs[out].name), None),
                )
            });
            let d = hit.disposition();
            return Resolved {
                by: Err((d, format!("{word} for {nh} unanswered"), Some(hit))),
                steps,
            };
        };
        steps.extend(found.steps);
        let rnode = self.idx.node_of(by);
        steps.push(self.step(rnode, StepType::Neighbour, format!("{} holds {nh}: answers the {word} by {}", rnode, self.idx.ifs[by].name), Action::Forward));
        // The answer, unicast back to the asker.
        let back = frame::from_stack(self.idx, by, Dst::Mac(self.idx.mac_owner(out)), Kind::ArpReply, nh, sender);
        let owner = self.idx.mac_owner(out);
        let mut sim = Sim::new(self.idx, self.facts, self.place, self.depth);
        let found = sim.run(Ev::Tx(by), back, &|s, i, _| s.idx.node_of(i) == node && s.idx.mac_owner(i) == owner);
        self.touch(&found.steps);
        steps.extend(found.steps);
        match found.at {
            Some(_) => {
                steps.push(self.step(node, StepType::Neighbour, format!("{nh} is at {}'s address", self.idx.label(by)), Action::Forward));
                Resolved { by: Ok(by), steps }
            }
            None => {
                let hit = found.hits.into_iter().next();
                let d = hit.as_ref().map_or(Disposition::NeighbourUnreachable, RuleHit::disposition);
                Resolved {
                    by: Err((d, format!("the {word} answer from {} never reaches {node}", self.idx.label(by)), hit)),
                    steps,
                }
            }
        }
    }

    /// Whether the stack of `i` answers ARP for `nh` from `sender` (arp_process).
    fn answers(&self, s: &Sim, i: If, nh: IpAddr, sender: IpAddr, refusals: &RefCell<Vec<RuleHit>>) -> bool {
        let node = s.idx.node_of(i);
        if !s.idx.node_holds(node, nh) || ipvlan::noarp(s.idx, i) {
            if ipvlan::noarp(s.idx, i) && s.idx.node_holds(node, nh) {
                refusals.borrow_mut().push(ipvlan::NOARP.hit(
                    format!("{} is an ipvlan slave in {} mode: it does not answer ARP", s.idx.label(i), ipvlan::mode(s.idx, i)),
                    "set `mode: l2`, or route to it through its master's node",
                    self.place.at(node, Some(s.idx.ifs[i].name), Some("mode")),
                ));
            }
            return false;
        }
        let Some(n) = s.idx.node(node) else { return false };
        let dev = s.idx.ifs[i].name;
        if nh.is_ipv4() && self.facts.arp_ignore(n, dev) >= 1 && s.idx.holder_in(node, nh).is_some_and(|h| !s.idx.holders(nh).contains(&i) && h != i) {
            refusals.borrow_mut().push(l3::ARP_IGNORE.hit(
                format!("{node} has {nh} on another interface than {dev}, and arp_ignore is on"),
                format!("set net.ipv4.conf.{dev}.arp_ignore to 0 under `sysctl:` of {node}"),
                self.place.at(node, None, None),
            ));
            return false;
        }
        if let Decision::Rpf(why) = self.model_decision(node, nh, Some(sender), Some(i), None) {
            let hit = if why.contains("martian") {
                l3::MARTIAN.hit(format!("{node} ignores the ARP request: {why}"), "give the nodes distinct addresses", self.place.at(node, None, None))
            } else {
                l3::RP_FILTER.hit(
                    format!("{node} ignores the ARP request: {why}"),
                    format!("set net.ipv4.conf.{dev}.rp_filter to 0 or 2 under `sysctl:` of {node}"),
                    self.place.at(node, None, None),
                )
            };
            refusals.borrow_mut().push(hit);
            return false;
        }
        true
    }
}
