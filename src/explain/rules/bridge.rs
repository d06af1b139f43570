//! The Linux bridge: a frame coming in by a port is passed up to the
//! bridge device when it is addressed to it (or broadcast) and sent out of
//! the other ports (br_handle_frame -> br_handle_frame_finish ->
//! br_forward / br_flood), each port deciding by its STP state, isolation,
//! hairpin and flooding flags and VLAN membership (should_deliver,
//! br_allowed_egress).
//!
//! Unicast is sent out of every port that may carry it rather than only
//! the one the forwarding database learnt: only the owner of the address
//! takes it, so the outcome is the same, and what a port would refuse (an
//! unknown address it may not flood to) is checked on that port.
use super::super::frame::{Dst, Ev, Frame, Sim, Tag};
use super::super::index::If;
use super::{Rule, RuleHit};
use crate::explain::Disposition;
use crate::model::{BridgeVlan, LinkKind, PortOptions};

/// STP: a blocking port neither forwards nor passes up.
pub const STP_BLOCKING: Rule = Rule {
    id: "bridge.stp_blocking",
    disposition: Disposition::PortNotForwarding,
    kernel:
        "br_handle_frame / should_deliver (net/bridge/br_input.c, br_forward.c): BR_STATE_BLOCKING",
    summary: "spanning tree blocks this port to cut a loop: frames in or out of it are dropped",
    field: "stp",
};

/// STP: listening or learning ports do not forward yet.
pub const STP_SETTLING: Rule = Rule {
    id: "bridge.stp_settling",
    disposition: Disposition::NotReady,
    kernel: "br_handle_frame (net/bridge/br_input.c): BR_STATE_LISTENING / BR_STATE_LEARNING",
    summary: "the port is listening or learning: it forwards only after 2 x forward_delay",
    field: "forward_delay",
};

/// A disabled port (down, or no carrier) forwards nothing.
pub const PORT_DISABLED: Rule = Rule {
    id: "bridge.port_disabled",
    disposition: Disposition::PortNotForwarding,
    kernel: "br_port_carrier_check / br_stp_disable_port (net/bridge/br_if.c, br_stp_if.c)",
    summary: "the port is disabled: it is down or has no carrier",
    field: "state",
};

/// Two isolated ports never talk.
pub const ISOLATED: Rule = Rule {
    id: "bridge.isolated",
    disposition: Disposition::PortNotForwarding,
    kernel: "br_skb_isolated via should_deliver (net/bridge/br_forward.c)",
    summary: "a frame from an isolated port is never sent out of another isolated port",
    field: "isolated",
};

/// Without hairpin a frame never goes back out of the port it came in by.
pub const HAIRPIN: Rule = Rule {
    id: "bridge.hairpin",
    disposition: Disposition::PortNotForwarding,
    kernel: "should_deliver (net/bridge/br_forward.c): BR_HAIRPIN_MODE",
    summary: "a frame goes back out of the port it came in by only with hairpin on",
    field: "hairpin",
};

/// Learning and flooding both off: an unknown destination is never reached.
pub const UNKNOWN_UNICAST: Rule = Rule {
    id: "bridge.unknown_unicast",
    disposition: Disposition::PortNotForwarding,
    kernel: "br_flood (net/bridge/br_forward.c): BR_FLOOD; br_fdb_update skipped without BR_LEARNING",
    summary: "with learning off the bridge never learns who is behind the port, and with flood off it never sends unknown unicast there",
    field: "flood",
};

/// A static entry sends frames for its address to one port only.
pub const STATIC_ENTRY: Rule = Rule {
    id: "bridge.static_entry",
    disposition: Disposition::PortNotForwarding,
    kernel: "br_handle_frame_finish -> br_fdb_find_rcu (net/bridge/br_input.c): a known address goes out of its entry's port alone",
    summary: "a static fdb entry sends frames for its address out of one port; the holder of the address behind another port, where learning is off (so the entry never moves), never gets them",
    field: "fdb",
};

/// VLAN filtering: ingress VID not allowed, or no PVID for untagged frames.
pub const VLAN_INGRESS: Rule = Rule {
    id: "bridge.vlan_ingress",
    disposition: Disposition::VlanFiltered,
    kernel: "br_allowed_ingress (net/bridge/br_vlan.c)",
    summary: "with vlan_filtering a port takes only frames of its VLANs, and untagged ones only with a PVID",
    field: "vlans",
};

/// VLAN filtering: egress VID not a member of the port.
pub const VLAN_EGRESS: Rule = Rule {
    id: "bridge.vlan_egress",
    disposition: Disposition::VlanFiltered,
    kernel: "br_allowed_egress / br_handle_vlan (net/bridge/br_vlan.c)",
    summary: "with vlan_filtering a frame leaves only by ports (or the bridge itself) that are members of its VLAN",
    field: "vlans",
};

/// The bridge rules.
pub const RULES: &[&Rule] = &[
    &STP_BLOCKING,
    &STP_SETTLING,
    &PORT_DISABLED,
    &ISOLATED,
    &HAIRPIN,
    &UNKNOWN_UNICAST,
    &STATIC_ENTRY,
    &VLAN_INGRESS,
    &VLAN_EGRESS,
];

/// Port options of `i` (defaults when none).
fn port(sim: &Sim, i: If) -> crate::model::BridgePort {
    match &sim.idx.link(i).port {
        Some(PortOptions::Bridge(b)) => b.clone(),
        _ => Default::default(),
    }
}

/// VLAN filtering of bridge `b`: (tag protocol, default pvid) when on.
fn filtering(sim: &Sim, b: If) -> Option<(u16, u16)> {
    match &sim.idx.link(b).kind {
        LinkKind::Bridge(o) if o.vlan_filtering == Some(true) => Some((
            o.vlan_protocol.unwrap_or(0x8100),
            o.default_pvid.unwrap_or(1),
        )),
        _ => None,
    }
}

/// The VLAN entries of a port or of the bridge itself, with the kernel's
/// default (the default PVID, untagged) when none are set (br_vlan_init,
/// nbp_vlan_init add vlan_default_pvid).
fn entries(list: &[BridgeVlan], pvid: u16) -> Vec<BridgeVlan> {
    if list.is_empty() && pvid != 0 {
        vec![BridgeVlan {
            vid: pvid,
            pvid: true,
            untagged: true,
        }]
    } else {
        list.to_vec()
    }
}

fn own_vlans(sim: &Sim, b: If) -> Vec<BridgeVlan> {
    match &sim.idx.link(b).kind {
        LinkKind::Bridge(o) => o.vlans.clone(),
        _ => Vec::new(),
    }
}

/// br_allowed_ingress: the frame as tagged inside the bridge, or why not.
fn ingress(list: &[BridgeVlan], proto: u16, mut frame: Frame) -> Result<Frame, String> {
    match frame.tags.last() {
        Some(t) if t.proto == proto => {
            if list.iter().any(|v| v.vid == t.vid) {
                Ok(frame)
            } else {
                Err(format!("VLAN {} is not allowed in", t.vid))
            }
        }
        _ => match list.iter().find(|v| v.pvid) {
            Some(v) => {
                frame.tags.push(Tag { proto, vid: v.vid });
                Ok(frame)
            }
            None => Err("it is untagged and the port has no PVID".into()),
        },
    }
}

/// br_handle_vlan on egress: the frame as it leaves, or why it may not.
fn egress(list: &[BridgeVlan], mut frame: Frame) -> Result<Frame, String> {
    let Some(t) = frame.tags.last().copied() else {
        return Ok(frame);
    };
    match list.iter().find(|v| v.vid == t.vid) {
        Some(v) => {
            if v.untagged {
                frame.tags.pop();
            }
            Ok(frame)
        }
        None => Err(format!("it is not a member of VLAN {}", t.vid)),
    }
}

/// The rule of a port's STP state that stops frames, if any.
fn state_hit(sim: &Sim, i: If) -> Option<RuleHit> {
    let f = &sim.idx.ifs[i];
    // From the file: a port that is down or without carrier (its veth
    // peer down) is disabled (br_port_carrier_check); the rest forward
    // once STP, if on, has settled.
    // Live, a port the kernel still calls forwarding although it has no
    // carrier is one the linkwatch worker has yet to disable (within a
    // second): it is told as disabled.
    let modelled = if super::bond::usable(sim, i) { 3 } else { 0 };
    let state = if sim.facts.live && sim.facts.kernel_nodes.contains(f.node) && modelled == 3 {
        sim.facts.port_state(f.node, f.name).unwrap_or(modelled)
    } else {
        modelled
    };
    let l = sim.label(i);
    let b = sim
        .idx
        .master(i)
        .map_or_else(|| "the bridge".into(), |m| sim.label(m));
    match state {
        3 => None,
        1 | 2 => Some(STP_SETTLING.hit(
            format!("bridge port {l} is {} (STP): it does not forward yet", if state == 1 { "listening" } else { "learning" }),
            format!("wait 2 x forward_delay, or lower `forward_delay` of {b}"),
            sim.at(sim.idx.master(i).unwrap_or(i), Some("forward_delay")),
        )),
        4 => Some(STP_BLOCKING.hit(
            format!("bridge port {l} is blocking (STP cut a loop there)"),
            format!("raise the port's `priority`/`cost` elsewhere, or set `stp: false` on {b} if there is no loop"),
            sim.at(sim.idx.master(i).unwrap_or(i), Some("stp")),
        )),
        _ => Some(PORT_DISABLED.hit(
            format!("bridge port {l} is disabled (down, or no carrier)"),
            format!("bring {l} and its peer up"),
            sim.at(i, None),
        )),
    }
}

/// br_dev_xmit: the bridge's own stack sends out of its ports.
pub fn dev_xmit(sim: &mut Sim, p: usize, b: If, frame: Frame) {
    let frame = match filtering(sim, b) {
        Some((proto, pvid)) => {
            match ingress(&entries(&own_vlans(sim, b), pvid), proto, frame.clone()) {
                Ok(f) => f,
                Err(why) => {
                    let hit = VLAN_INGRESS.hit(
                    format!("bridge {} cannot send it itself: {why}", sim.label(b)),
                    "give the bridge itself (`vlans` of the bridge) the VLAN, as PVID for untagged traffic",
                    sim.at(b, Some("vlans")),
                );
                    sim.deny(p, b, hit, Some((Ev::Stack(b), frame)));
                    return;
                }
            }
        }
        None => frame,
    };
    forward(sim, p, b, None, frame);
}

/// The port a static entry of the file's `fdb` sends a unicast frame to
/// (br_fdb_find_rcu finds it before any flooding: br_handle_frame_finish
/// forwards to that port alone); `None` when no entry names its address.
fn static_port(sim: &Sim, b: If, frame: &Frame) -> Option<If> {
    let Dst::Mac(m) = frame.dst else { return None };
    let mac = sim.idx.link(sim.idx.mac_owner(m)).mac?;
    let node = sim.idx.node_of(b);
    let bridge = sim.idx.ifs[b].name;
    let vid = frame.tags.last().map(|t| t.vid);
    let e = sim.idx.node(node)?.fdb.iter().find(|e| {
        e.dev == bridge && e.mac == mac && e.on_bridge() && (e.vlan.is_none() || e.vlan == vid)
    })?;
    sim.idx.find(node, e.port.as_deref()?)
}

/// Send `frame` on from bridge `b` (in by `ingress`, or sent by the bridge
/// itself): out of every port (flooded, or sent where the bridge learnt the
/// address, which only the address's owner takes), but for a static entry.
/// A static entry is not sticky: br_fdb_update moves it to the port the
/// address is seen on, and the owner's answer to ARP crosses the bridge
/// before the first frame for it. So the entry holds only against ports
/// with learning off: those are ways only a relaxed run takes, to name the
/// entry when the owner is behind one.
fn forward(sim: &mut Sim, p: usize, b: If, ingress: Option<If>, frame: Frame) {
    let fixed = static_port(sim, b, &frame);
    for q in sim.idx.ports(b).to_vec() {
        let ev = Ev::Out { port: q, ingress };
        match fixed {
            Some(f) if f != q && port(sim, q).learning == Some(false) => {
                let hit = STATIC_ENTRY.hit(
                    format!(
                        "{}'s static fdb entry sends frames for this address out of {}, not {} (where learning is off, so the entry stays)",
                        sim.label(b),
                        sim.idx.ifs[f].name,
                        sim.idx.ifs[q].name
                    ),
                    format!(
                        "make the entry's `port` {} (or remove it)",
                        sim.idx.ifs[q].name
                    ),
                    sim.at(b, Some("fdb")),
                );
                sim.only_relaxed(p, q, hit, ev, frame.clone());
            }
            _ => {
                sim.pass(p, ev, frame.clone());
            }
        }
    }
}

/// br_handle_frame: a frame arrives at bridge `b` by port `i`.
pub fn port_in(sim: &mut Sim, p: usize, i: If, b: If, frame: Frame) {
    if let Some(hit) = state_hit(sim, i) {
        sim.deny(p, i, hit, Some((Ev::BrIn(i), frame)));
        return;
    }
    forwarding_in(sim, p, i, b, frame);
}

/// br_handle_frame_finish, by a port that forwards.
pub fn forwarding_in(sim: &mut Sim, p: usize, i: If, b: If, frame: Frame) {
    let frame = match filtering(sim, b) {
        Some((proto, pvid)) => match ingress(&entries(&port(sim, i).vlans, pvid), proto, frame) {
            Ok(f) => f,
            Err(why) => {
                let hit = VLAN_INGRESS.hit(
                    format!("bridge port {} drops it: {why}", sim.label(i)),
                    "add the VLAN to the port's `vlans` (as `pvid` for untagged frames)",
                    sim.at(i, Some("master")),
                );
                sim.deny(p, i, hit, None);
                return;
            }
        },
        None => frame,
    };
    let to_bridge = match frame.dst {
        Dst::Broadcast => true,
        Dst::Mac(m) => sim.idx.mac_owner(m) == b,
    };
    if to_bridge {
        up(sim, p, i, b, frame.clone());
        if frame.dst != Dst::Broadcast {
            return;
        }
    }
    forward(sim, p, b, Some(i), frame);
}

/// br_pass_frame_up: to the bridge device's own receive path.
fn up(sim: &mut Sim, p: usize, i: If, b: If, frame: Frame) {
    let frame = match filtering(sim, b) {
        Some((_, pvid)) => match egress(&entries(&own_vlans(sim, b), pvid), frame.clone()) {
            Ok(f) => f,
            Err(why) => {
                let hit = VLAN_EGRESS.hit(
                    format!("bridge {} does not pass it up: {why}", sim.label(b)),
                    "add the VLAN to the bridge's own `vlans`",
                    sim.at(b, Some("vlans")),
                );
                sim.deny(p, b, hit, Some((Ev::Rx(b), frame)));
                return;
            }
        },
        None => frame,
    };
    let detail = format!(
        "bridge {}: in by port {} (forwarding), up to {}",
        sim.label(b),
        sim.idx.ifs[i].name,
        sim.idx.ifs[b].name
    );
    sim.go(p, Ev::Rx(b), frame, b, detail);
}

/// should_deliver + br_forward_finish: out of port `q`.
pub fn out(sim: &mut Sim, p: usize, q: If, ingress: Option<If>, frame: Frame) {
    let Some(b) = sim.idx.master(q) else { return };
    let bl = sim.label(b);
    let ql = sim.idx.ifs[q].name;
    let qopts = port(sim, q);
    if ingress == Some(q) && qopts.hairpin != Some(true) {
        let hit = HAIRPIN.hit(
            format!("{bl} would have to send it back out of {ql}, the port it came in by, and hairpin is off there"),
            format!("set `hairpin: true` on port {ql} of {bl}"),
            sim.at(q, Some("master")),
        );
        sim.only_relaxed(p, q, hit, Ev::Tx(q), frame);
        return;
    }
    if let Some(hit) = state_hit(sim, q) {
        sim.only_relaxed(p, q, hit, Ev::Tx(q), frame);
        return;
    }
    if let Some(i) = ingress {
        if port(sim, i).isolated == Some(true) && qopts.isolated == Some(true) {
            let hit = ISOLATED.hit(
                format!(
                    "ports {} and {ql} of {bl} are both isolated",
                    sim.idx.ifs[i].name
                ),
                format!(
                    "set `isolated: false` on {ql} (or on {})",
                    sim.idx.ifs[i].name
                ),
                sim.at(q, Some("master")),
            );
            sim.only_relaxed(p, q, hit, Ev::Tx(q), frame);
            return;
        }
    }
    if matches!(frame.dst, Dst::Mac(_))
        && qopts.flood == Some(false)
        && qopts.learning == Some(false)
    {
        let hit = UNKNOWN_UNICAST.hit(
            format!("port {ql} of {bl} has learning and flood off: the bridge never learns who is behind it and never floods unknown unicast to it"),
            format!("set `learning: true` (or `flood: true`) on port {ql}"),
            sim.at(q, Some("master")),
        );
        sim.only_relaxed(p, q, hit, Ev::Tx(q), frame);
        return;
    }
    let frame = match filtering(sim, b) {
        Some((_, pvid)) => match egress(&entries(&qopts.vlans, pvid), frame.clone()) {
            Ok(f) => f,
            Err(why) => {
                let hit = VLAN_EGRESS.hit(
                    format!("port {ql} of {bl} does not send it: {why}"),
                    format!("add the VLAN to the `vlans` of port {ql}"),
                    sim.at(q, Some("master")),
                );
                sim.only_relaxed(p, q, hit, Ev::Tx(q), frame);
                return;
            }
        },
        None => frame,
    };
    if let Some(i) = ingress {
        if let Some(hit) = super::nft::bridged(sim, b, i, q, &frame) {
            sim.deny(p, q, hit, Some((Ev::Tx(q), frame)));
            return;
        }
    }
    let mut how = match ingress {
        Some(i) if i == q => format!("bridge {bl}: back out of {ql} (hairpin)"),
        Some(i) => format!("bridge {bl}: in by {}, out of {ql}", sim.idx.ifs[i].name),
        None => format!("bridge {bl}: sent by the bridge, out of {ql}"),
    };
    // Live, unicast is confirmed by the bridge's forwarding database.
    let mut key = None;
    if let (true, Dst::Mac(m)) = (sim.facts.live, frame.dst) {
        if let Some(mac) = sim.idx.link(sim.idx.mac_owner(m)).mac {
            let k = (
                sim.idx.node_of(b).to_string(),
                sim.idx.ifs[b].name.to_string(),
                mac,
            );
            match sim.facts.fdb.get(&k) {
                Some(Some(port)) => how.push_str(&format!(" (FDB: {mac} on {port})")),
                Some(None) => how.push_str(&format!(" (FDB: {mac} not learnt: flooded)")),
                None => {}
            }
            key = Some(k);
        }
    }
    sim.go_fdb(p, Ev::Tx(q), frame, q, how, key);
}
