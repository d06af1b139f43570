//! One Ethernet frame's way through the devices of a segment, simulated
//! device by device as the kernel passes it: a device's transmit function
//! hands it on (veth to its peer, a bridge to its ports, a macvlan to a
//! sibling or its lower, a VLAN to its lower with a tag pushed, a vxlan into
//! a UDP packet to a remote), and a device receiving it gives it to a VLAN
//! device for its tag, to its master's or its lower's rx handler (bridge,
//! bond, macvlan, ipvlan), or to its node's stack
//! (__netif_receive_skb_core's order). Each kind's part is in its file
//! under [`super::rules`].
//!
//! A search finds the first stack that takes the frame and satisfies the
//! caller (the node holding an ARP target, the owner of a MAC). When none
//! does, the search is repeated with every rule relaxed at the cost of one
//! violation each (a 0-1 breadth-first search): the way with the fewest
//! violations names the rules that stop the frame, in path order.
use std::collections::VecDeque;

use super::fast::Map as HashMap;
use std::net::IpAddr;

use super::facts::Facts;
use super::index::{If, Index};
use super::route::is_up;
use super::rules::{self, Place, RuleHit};
use super::{Action, Evidence, Step, StepType};
use crate::model::LinkKind;

/// An 802.1Q / 802.1ad tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tag {
    /// TPID: 0x8100 or 0x88a8.
    pub proto: u16,
    /// VLAN id.
    pub vid: u16,
}

/// Where a frame is addressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dst {
    /// ff:ff:ff:ff:ff:ff (ARP requests, IPv6 neighbour solicitations).
    Broadcast,
    /// The Ethernet address of this interface (see [`Index::mac_owner`]).
    Mac(If),
}

/// What a frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// ARP who-has (or neighbour solicitation).
    ArpRequest,
    /// ARP reply (or neighbour advertisement).
    ArpReply,
    /// An IP packet.
    Ip,
}

/// A frame.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Frame {
    /// The interface whose Ethernet address is the source.
    pub src: If,
    /// Destination.
    pub dst: Dst,
    /// VLAN tags, the outermost last.
    pub tags: Vec<Tag>,
    /// What it carries.
    pub kind: Kind,
    /// IP destination, or the ARP target.
    pub ip_dst: IpAddr,
    /// IP source, or the ARP sender.
    pub ip_src: IpAddr,
}

/// Where a frame is in the simulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ev {
    /// A device is asked to transmit it (dev_queue_xmit).
    Tx(If),
    /// Past the generic checks, the kind's transmit function runs.
    Xmit(If),
    /// It arrives at a device from below (netif_receive_skb).
    Rx(If),
    /// A bridge sends it out of a port (br_forward / br_flood); `ingress`
    /// is the port it came in by (`None`: sent by the bridge device).
    Out {
        /// The port.
        port: If,
        /// The port it came in by.
        ingress: Option<If>,
    },
    /// It is in a bridge, past the state of the port it came in by.
    BrIn(If),
    /// The node's stack gets it on this device.
    Stack(If),
}

/// A note on the way, to become a step of the explanation.
#[derive(Debug, Clone)]
pub struct Note {
    /// The device it happened at (its node is the hop).
    pub at: If,
    /// The step.
    pub kind: StepType,
    /// What happened.
    pub detail: String,
    /// Forward, drop, ...
    pub action: Action,
    /// The rule broken, for a drop (or a relaxed drop).
    pub hit: Option<RuleHit>,
    /// A forwarding database entry the kernel could confirm this step by.
    pub fdb: Option<FdbKey>,
}

/// A bridge forwarding database entry: (node, bridge, address).
pub type FdbKey = (String, String, crate::model::MacAddr);

#[derive(Debug)]
struct Event {
    ev: Ev,
    frame: Frame,
    parent: Option<usize>,
    cost: u8,
    note: Option<Note>,
    /// Steps of a nested walk (a vxlan underlay) attached here.
    nested: Vec<(String, Step)>,
}

/// A simulation of one frame.
pub struct Sim<'s, 'a> {
    /// The network.
    pub idx: &'s Index<'a>,
    /// Its facts.
    pub facts: &'s Facts,
    /// Where fixes point.
    pub place: Place<'s>,
    /// Nesting depth (a vxlan inside a vxlan's underlay...).
    pub depth: u8,
    relaxed: bool,
    events: Vec<Event>,
    queue: VecDeque<usize>,
    best: HashMap<(Ev, Dst, Vec<Tag>), u8>,
    /// Events where a rule dropped the frame (strict runs).
    pub drops: Vec<usize>,
    /// The packet a data frame carries, for filters met on the way.
    pub pkt: Option<super::nft::Packet>,
}

/// What a run found.
#[derive(Debug, Clone, Default)]
pub struct Found {
    /// The stack device that took the frame, when one satisfied the caller.
    pub at: Option<If>,
    /// The way there, as (node, step), in order.
    pub steps: Vec<(String, Step)>,
    /// Rules broken on the way (relaxed runs; empty when `at` was reached strictly).
    pub hits: Vec<RuleHit>,
    /// The devices on the way.
    pub ifs: Vec<If>,
    /// Forwarding database entries the way relies on (live: asked of the kernel).
    pub fdb: Vec<FdbKey>,
}

/// Most events one simulation may make (a storm in a looped segment ends there).
const MAX_EVENTS: usize = 200_000;

impl<'s, 'a> Sim<'s, 'a> {
    /// A simulation over `idx` with `facts`.
    pub fn new(idx: &'s Index<'a>, facts: &'s Facts, place: Place<'s>, depth: u8) -> Self {
        Sim {
            idx,
            facts,
            place,
            depth,
            relaxed: false,
            events: Vec::new(),
            queue: VecDeque::new(),
            best: HashMap::default(),
            drops: Vec::new(),
            pkt: None,
        }
    }

    /// Whether this run relaxes rules.
    pub fn relaxed(&self) -> bool {
        self.relaxed
    }

    /// Send `frame` by `ev` (usually `Tx` of the interface the stack sends
    /// it out of) and find the first stack that takes it and satisfies
    /// `want`; when none does strictly, search again with rules relaxed.
    pub fn run(&mut self, ev: Ev, frame: Frame, want: &dyn Fn(&Self, If, &Frame) -> bool) -> Found {
        if let Some(found) = self.search(ev, frame.clone(), want, false) {
            return found;
        }
        let strict_drops: Vec<RuleHit> = self
            .drops
            .iter()
            .filter_map(|&e| self.events[e].note.as_ref().and_then(|n| n.hit.clone()))
            .collect();
        match self.search(ev, frame, want, true) {
            Some(mut f) => {
                f.at = None;
                f
            }
            None => Found {
                at: None,
                steps: Vec::new(),
                hits: strict_drops,
                ifs: Vec::new(),
                fdb: Vec::new(),
            },
        }
    }

    fn search(
        &mut self,
        ev: Ev,
        frame: Frame,
        want: &dyn Fn(&Self, If, &Frame) -> bool,
        relaxed: bool,
    ) -> Option<Found> {
        self.relaxed = relaxed;
        self.events.clear();
        self.queue.clear();
        self.best.clear();
        self.drops.clear();
        self.push(None, ev, frame, 0, None);
        while let Some(id) = self.queue.pop_front() {
            if self.events.len() > MAX_EVENTS {
                break;
            }
            let (ev, cost) = (self.events[id].ev, self.events[id].cost);
            let key = (
                ev,
                self.events[id].frame.dst,
                self.events[id].frame.tags.clone(),
            );
            if self.best.get(&key).is_some_and(|&b| b < cost) {
                continue;
            }
            if let Ev::Stack(i) = ev {
                let f = &self.events[id].frame;
                if self.takes(i, f) && want(self, i, f) {
                    return Some(self.found(id, i));
                }
                continue;
            }
            self.step(id);
        }
        None
    }

    /// Whether the stack of `i` takes `f` (PACKET_HOST or broadcast:
    /// eth_type_trans marks other destinations PACKET_OTHERHOST, and
    /// ip_rcv / arp_rcv drop those).
    fn takes(&self, i: If, f: &Frame) -> bool {
        match f.dst {
            Dst::Broadcast => true,
            Dst::Mac(m) => self.idx.mac_owner(i) == self.idx.mac_owner(m),
        }
    }

    fn found(&self, id: usize, at: If) -> Found {
        let mut chain = Vec::new();
        let mut at_ev = Some(id);
        while let Some(e) = at_ev {
            chain.push(e);
            at_ev = self.events[e].parent;
        }
        chain.reverse();
        let mut steps = Vec::new();
        let mut hits = Vec::new();
        let mut ifs = Vec::new();
        let mut fdb = Vec::new();
        for e in chain {
            let ev = &self.events[e];
            ifs.push(match ev.ev {
                Ev::Tx(i) | Ev::Xmit(i) | Ev::Rx(i) | Ev::BrIn(i) | Ev::Stack(i) => i,
                Ev::Out { port, .. } => port,
            });
            steps.extend(ev.nested.iter().cloned());
            if let Some(n) = &ev.note {
                let node = self.idx.node_of(n.at).to_string();
                steps.push((
                    node.clone(),
                    Step {
                        kind: n.kind,
                        detail: n.detail.clone(),
                        action: n.action,
                        evidence: self.facts.evidence(&node),
                    },
                ));
                if let Some(h) = &n.hit {
                    hits.push(h.clone());
                }
                fdb.extend(n.fdb.clone());
            }
        }
        Found {
            at: Some(at),
            steps,
            hits,
            ifs,
            fdb,
        }
    }

    fn push(
        &mut self,
        parent: Option<usize>,
        ev: Ev,
        frame: Frame,
        cost: u8,
        note: Option<Note>,
    ) -> usize {
        let key = (ev, frame.dst, frame.tags.clone());
        if self.best.get(&key).is_some_and(|&b| b <= cost) {
            return usize::MAX;
        }
        self.best.insert(key, cost);
        let id = self.events.len();
        self.events.push(Event {
            ev,
            frame,
            parent,
            cost,
            note,
            nested: Vec::new(),
        });
        let base = parent.map_or(0, |p| self.events[p].cost);
        if cost > base {
            self.queue.push_back(id);
        } else {
            self.queue.push_front(id);
        }
        id
    }

    /// Pass the frame on from event `p` to `ev`, with a step saying what happened at `at`.
    pub fn go(
        &mut self,
        p: usize,
        ev: Ev,
        frame: Frame,
        at: If,
        detail: impl Into<String>,
    ) -> usize {
        let cost = self.events[p].cost;
        let note = Note {
            at,
            kind: StepType::Segment,
            detail: detail.into(),
            action: Action::Forward,
            hit: None,
            fdb: None,
        };
        self.push(Some(p), ev, frame, cost, Some(note))
    }

    /// [`Sim::go`], with the forwarding database entry the step relies on.
    pub fn go_fdb(
        &mut self,
        p: usize,
        ev: Ev,
        frame: Frame,
        at: If,
        detail: String,
        fdb: Option<FdbKey>,
    ) -> usize {
        let cost = self.events[p].cost;
        let note = Note {
            at,
            kind: StepType::Segment,
            detail,
            action: Action::Forward,
            hit: None,
            fdb,
        };
        self.push(Some(p), ev, frame, cost, Some(note))
    }

    /// Pass the frame on without a step.
    pub fn pass(&mut self, p: usize, ev: Ev, frame: Frame) -> usize {
        let cost = self.events[p].cost;
        self.push(Some(p), ev, frame, cost, None)
    }

    /// A rule drops the frame at `at`. Strictly that ends this branch;
    /// relaxed, the frame goes on to `cont` at the cost of one violation.
    pub fn deny(&mut self, p: usize, at: If, hit: RuleHit, cont: Option<(Ev, Frame)>) {
        let note = Note {
            at,
            kind: StepType::Segment,
            detail: hit.message.clone(),
            action: Action::Drop,
            hit: Some(hit),
            fdb: None,
        };
        if self.relaxed {
            if let Some((ev, frame)) = cont {
                let cost = self.events[p].cost.saturating_add(1);
                self.push(Some(p), ev, frame, cost, Some(note));
            }
        } else {
            let cost = self.events[p].cost;
            let id = self.events.len();
            self.events.push(Event {
                ev: Ev::Stack(at),
                frame: self.events[p].frame.clone(),
                parent: Some(p),
                cost,
                note: Some(note),
                nested: Vec::new(),
            });
            self.drops.push(id);
        }
    }

    /// Only in relaxed runs: go on to `ev` at the cost of breaking `hit`
    /// (a way the kernel never takes, to name what would have to change).
    pub fn only_relaxed(&mut self, p: usize, at: If, hit: RuleHit, ev: Ev, frame: Frame) {
        if self.relaxed {
            self.deny(p, at, hit, Some((ev, frame)));
        }
    }

    /// Attach the steps of a nested walk to the event made by `go`.
    pub fn nest(&mut self, id: usize, steps: Vec<(String, Step)>) {
        if let Some(e) = self.events.get_mut(id) {
            e.nested = steps;
        }
    }

    /// `node/iface` of `i`.
    pub fn label(&self, i: If) -> String {
        self.idx.label(i)
    }

    /// Where the file declares `i` (or its `field`).
    pub fn at(&self, i: If, field: Option<&str>) -> Option<String> {
        let f = &self.idx.ifs[i];
        self.place.at(f.node, Some(f.name), field)
    }

    fn step(&mut self, id: usize) {
        let ev = self.events[id].ev;
        let frame = self.events[id].frame.clone();
        match ev {
            Ev::Tx(i) => self.tx(id, i, frame),
            Ev::Xmit(i) => self.xmit(id, i, frame),
            Ev::Rx(i) => self.rx(id, i, frame),
            Ev::Out { port, ingress } => rules::bridge::out(self, id, port, ingress, frame),
            Ev::BrIn(i) => {
                if let Some(b) = self.idx.master(i) {
                    rules::bridge::forwarding_in(self, id, i, b, frame)
                }
            }
            Ev::Stack(_) => {}
        }
    }

    /// dev_queue_xmit: a device that is down sends nothing.
    fn tx(&mut self, p: usize, i: If, frame: Frame) {
        if !is_up(self.idx.link(i)) {
            let hit = rules::link::down(self, i);
            self.deny(p, i, hit, Some((Ev::Xmit(i), frame)));
            return;
        }
        self.pass(p, Ev::Xmit(i), frame);
    }

    /// The kind's transmit function.
    fn xmit(&mut self, p: usize, i: If, frame: Frame) {
        rules::macvlan::lower_xmit_relaxed(self, p, i, &frame);
        rules::ipvlan::master_xmit_relaxed(self, p, i, &frame);
        match &self.idx.link(i).kind {
            LinkKind::Veth(_) => rules::link::veth_xmit(self, p, i, frame),
            LinkKind::Bridge(_) => rules::bridge::dev_xmit(self, p, i, frame),
            LinkKind::Macvlan(_) | LinkKind::Macvtap(_) => rules::macvlan::xmit(self, p, i, frame),
            LinkKind::Ipvlan(_) | LinkKind::Ipvtap(_) => rules::ipvlan::xmit(self, p, i, frame),
            LinkKind::Vlan(_) => rules::vlan::xmit(self, p, i, frame),
            LinkKind::Vxlan(_) => rules::vxlan::xmit(self, p, i, frame),
            LinkKind::Bond(_) | LinkKind::Team(_) => rules::bond::xmit(self, p, i, frame),
            LinkKind::Tun(_)
            | LinkKind::Dummy(_)
            | LinkKind::Ifb(_)
            | LinkKind::Vrf(_)
            | LinkKind::External
            | LinkKind::Other(_) => {
                let hit = rules::link::sink(self, i);
                self.deny(p, i, hit, None);
            }
            LinkKind::Loopback => {}
        }
    }

    /// __netif_receive_skb_core: a VLAN device for the outer tag first,
    /// then the rx handler of the device's master or uppers, then its stack.
    fn rx(&mut self, p: usize, i: If, frame: Frame) {
        if let Some(t) = frame.tags.last().copied() {
            if rules::vlan::to_vlan_device(self, p, i, t, &frame) {
                return;
            }
        }
        if let Some(m) = self.idx.master(i) {
            match &self.idx.link(m).kind {
                LinkKind::Bridge(_) => return rules::bridge::port_in(self, p, i, m, frame),
                LinkKind::Bond(_) | LinkKind::Team(_) => {
                    return rules::bond::port_in(self, p, i, m, frame)
                }
                _ => {}
            }
        }
        if rules::macvlan::lower_rx(self, p, i, &frame)
            || rules::ipvlan::lower_rx(self, p, i, &frame)
        {
            return;
        }
        if let Some(t) = frame.tags.last().copied() {
            return rules::vlan::unclaimed(self, p, i, t, frame);
        }
        self.pass(p, Ev::Stack(i), frame);
    }
}

/// The frame as the stack of `i` sends it: from its Ethernet address, untagged.
pub fn from_stack(
    idx: &Index,
    i: If,
    dst: Dst,
    kind: Kind,
    ip_src: IpAddr,
    ip_dst: IpAddr,
) -> Frame {
    Frame {
        src: idx.mac_owner(i),
        dst,
        tags: Vec::new(),
        kind,
        ip_dst,
        ip_src,
    }
}

/// A step from a note-free detail, for callers outside a simulation.
pub fn step(
    facts: &Facts,
    node: &str,
    kind: StepType,
    detail: String,
    action: Action,
) -> (String, Step) {
    let evidence = if facts.live && facts.kernel_nodes.contains(node) {
        Evidence::Kernel
    } else {
        Evidence::Model
    };
    (
        node.to_string(),
        Step {
            kind,
            detail,
            action,
            evidence,
        },
    )
}
