//! ipvlan and ipvtap: slaves of a master (lower) device sharing its
//! Ethernet address, told apart by IP address (drivers/net/ipvlan).
//!
//! l2 (ipvlan_xmit_mode_l2): a frame to the shared address goes to the
//! slave holding its IP, else up the master's stack; broadcasts go to the
//! other slaves and out of the master. l3 and l3s (ipvlan_xmit_mode_l3):
//! slaves have IFF_NOARP; a packet for another slave's IP goes straight to
//! it, anything else is routed out of the master. On the master
//! (ipvlan_handle_frame) frames go to the slave holding the destination
//! IP. Flags: `private` drops what slaves send each other, `vepa` sends
//! everything out of the master. A slave never reaches its master's own
//! stack: its broadcasts leave by the master's wire.
use super::super::frame::{Dst, Ev, Frame, Kind, Sim};
use super::super::index::{If, Index};
use super::super::route::is_up;
use super::Rule;
use crate::explain::Disposition;
use crate::model::LinkKind;

/// private: slaves never reach each other.
pub const PRIVATE: Rule = Rule {
    id: "ipvlan.private",
    disposition: Disposition::DeniedByDeviceMode,
    kernel: "ipvlan_xmit_mode_l2 / ipvlan_xmit_mode_l3 (drivers/net/ipvlan/ipvlan_core.c): ipvlan_is_private",
    summary: "with the `private` flag, what one slave sends another is dropped",
    field: "flag",
};

/// vepa: slaves reach each other only through an external hairpin.
pub const VEPA: Rule = Rule {
    id: "ipvlan.vepa",
    disposition: Disposition::DeniedByDeviceMode,
    kernel: "ipvlan_xmit_mode_l2 / ipvlan_xmit_mode_l3 (drivers/net/ipvlan/ipvlan_core.c): ipvlan_is_vepa",
    summary: "with the `vepa` flag every frame leaves by the master, reaching another slave only if the far end sends it back",
    field: "flag",
};

/// l3/l3s: no ARP.
pub const NOARP: Rule = Rule {
    id: "ipvlan.l3_noarp",
    disposition: Disposition::DeniedByDeviceMode,
    kernel: "ipvlan_set_port_mode (drivers/net/ipvlan/ipvlan_main.c): IFF_NOARP in l3/l3s; arp_rcv drops on it",
    summary: "in l3 and l3s mode slaves neither send nor answer ARP (no broadcast or multicast): others on the master's wire cannot resolve them",
    field: "mode",
};

/// A slave never reaches its master's stack.
pub const MASTER: Rule = Rule {
    id: "ipvlan.master",
    disposition: Disposition::DeniedByDeviceMode,
    kernel: "ipvlan_process_multicast / ipvlan_xmit_mode_l2 (drivers/net/ipvlan/ipvlan_core.c)",
    summary: "an ipvlan slave and its master never talk: the slave's broadcasts leave by the master's wire and the master's own frames go out too",
    field: "lower",
};

/// The ipvlan rules.
pub const RULES: &[&Rule] = &[&PRIVATE, &VEPA, &NOARP, &MASTER];

fn opts<'a>(idx: &Index<'a>, i: If) -> Option<&'a crate::model::IpvlanOptions> {
    match &idx.link(i).kind {
        LinkKind::Ipvlan(o) | LinkKind::Ipvtap(o) => Some(o),
        _ => None,
    }
}

/// The port's mode (the kernel's default is l3).
pub fn mode(idx: &Index, i: If) -> &'static str {
    match opts(idx, i).and_then(|o| o.mode.as_deref()) {
        Some("l2") => "l2",
        Some("l3s") => "l3s",
        _ => "l3",
    }
}

fn flag(idx: &Index, i: If) -> &'static str {
    match opts(idx, i).and_then(|o| o.flag.as_deref()) {
        Some("private") => "private",
        Some("vepa") => "vepa",
        _ => "bridge",
    }
}

/// Whether `i` is an ipvlan slave without ARP (l3, l3s).
pub fn noarp(idx: &Index, i: If) -> bool {
    opts(idx, i).is_some() && mode(idx, i) != "l2"
}

fn slaves(idx: &Index, lower: If) -> Vec<If> {
    idx.uppers(lower)
        .iter()
        .copied()
        .filter(|&s| opts(idx, s).is_some())
        .collect()
}

/// The slave of `lower` holding `ip` (ipvlan_addr_lookup).
pub fn slave_holding(idx: &Index, lower: If, ip: std::net::IpAddr) -> Option<If> {
    slaves(idx, lower)
        .into_iter()
        .find(|&s| idx.link(s).addresses.iter().any(|a| a.net.addr() == ip))
}

/// ipvlan_queue_xmit.
pub fn xmit(sim: &mut Sim, p: usize, s: If, frame: Frame) {
    let Some(lower) = sim.idx.lower(s) else {
        return;
    };
    let (m, f) = (mode(sim.idx, s), flag(sim.idx, s));
    let sl = sim.label(s);
    let to_shared = match frame.dst {
        Dst::Mac(x) => sim.idx.mac_owner(x) == sim.idx.mac_owner(lower),
        Dst::Broadcast => false,
    };
    if to_shared || (m != "l2" && frame.kind == Kind::Ip) {
        if let Some(t) = slave_holding(sim.idx, lower, frame.ip_dst).filter(|&t| t != s) {
            let tl = sim.label(t);
            match f {
                "private" => {
                    let hit = PRIVATE.hit(
                        format!(
                            "{sl} and {tl} are ipvlan slaves of {} with the `private` flag",
                            sim.label(lower)
                        ),
                        "remove `flag: private` (bridge)",
                        sim.at(s, Some("flag")),
                    );
                    sim.deny(p, s, hit, Some((Ev::Rx(t), frame)));
                }
                "vepa" => {
                    let hit = VEPA.hit(format!("{sl} and {tl} are ipvlan slaves with the `vepa` flag: the frame leaves by {}", sim.label(lower)), "remove `flag: vepa` (bridge), or hairpin at the far end", sim.at(s, Some("flag")));
                    sim.only_relaxed(p, t, hit, Ev::Rx(t), frame.clone());
                    let d = format!(
                        "ipvlan {sl} ({m}, vepa): out of master {}",
                        sim.label(lower)
                    );
                    sim.go(p, Ev::Tx(lower), frame, s, d);
                }
                _ => {
                    let d = format!(
                        "ipvlan {sl} ({m}): {} holds {}, straight to it",
                        tl, frame.ip_dst
                    );
                    sim.go(p, Ev::Rx(t), frame, s, d);
                }
            }
            return;
        }
        if to_shared && m == "l2" {
            let d = format!("ipvlan {sl} (l2): to master {}'s stack", sim.label(lower));
            sim.go(p, Ev::Rx(lower), frame, s, d);
            return;
        }
    }
    if frame.dst == Dst::Broadcast {
        for t in slaves(sim.idx, lower).into_iter().filter(|&t| t != s) {
            if is_up(sim.idx.link(t)) && m == "l2" {
                let d = format!("ipvlan {sl} (l2): broadcast to slave {}", sim.label(t));
                sim.go(p, Ev::Rx(t), frame.clone(), s, d);
            }
        }
        let hit = MASTER.hit(format!("{sl} is an ipvlan slave of {}: its broadcasts leave by the master's wire, never up the master's stack", sim.label(lower)), format!("move {}'s address to an ipvlan slave of its own", sim.label(lower)), sim.at(s, Some("lower")));
        sim.only_relaxed(p, lower, hit, Ev::Stack(lower), frame.clone());
    }
    let d = format!("ipvlan {sl} ({m}): out of master {}", sim.label(lower));
    sim.go(p, Ev::Tx(lower), frame, s, d);
}

/// Relaxed only: the master's own frames never reach its slaves.
pub fn master_xmit_relaxed(sim: &mut Sim, p: usize, lower: If, frame: &Frame) {
    // Only what the master's own stack sends (slaves share its address,
    // but send from their own IPs).
    if !sim.relaxed()
        || frame.src != sim.idx.mac_owner(lower)
        || slave_holding(sim.idx, lower, frame.ip_src).is_some()
    {
        return;
    }
    for t in slaves(sim.idx, lower) {
        let hit = MASTER.hit(
            format!(
                "{} is the master of ipvlan {}: its own frames leave by its wire",
                sim.label(lower),
                sim.label(t)
            ),
            format!(
                "move {}'s address to an ipvlan slave of its own",
                sim.label(lower)
            ),
            sim.at(t, Some("lower")),
        );
        sim.only_relaxed(p, t, hit, Ev::Rx(t), frame.clone());
    }
}

/// ipvlan_handle_frame on master `lower`; whether it consumed the frame.
pub fn lower_rx(sim: &mut Sim, p: usize, lower: If, frame: &Frame) -> bool {
    let all = slaves(sim.idx, lower);
    let Some(&first) = all.first() else {
        return false;
    };
    let m = mode(sim.idx, first);
    let ll = sim.label(lower);
    if m == "l2" && frame.dst == Dst::Broadcast {
        // ipvlan_external_frame: not one a slave sent itself.
        let own = frame.src == sim.idx.mac_owner(lower)
            && slave_holding(sim.idx, lower, frame.ip_src).is_some();
        if !own {
            for t in all {
                if is_up(sim.idx.link(t)) {
                    let d = format!("ipvlan {ll} (l2): broadcast to slave {}", sim.label(t));
                    sim.go(p, Ev::Rx(t), frame.clone(), lower, d);
                }
            }
        }
        return false;
    }
    match slave_holding(sim.idx, lower, frame.ip_dst) {
        Some(t) => {
            let d = format!("ipvlan {ll} ({m}): {} holds {}", sim.label(t), frame.ip_dst);
            sim.go(p, Ev::Rx(t), frame.clone(), lower, d);
            true
        }
        None => false,
    }
}
