//! macvlan and macvtap: children of a lower device, each with its own
//! Ethernet address, passing frames by mode (drivers/net/macvlan.c).
//!
//! Sending (macvlan_queue_xmit): a `bridge` child hands frames for a
//! `bridge` sibling (and broadcasts) straight to it; everything else leaves
//! by the lower's wire. Receiving on the lower (macvlan_handle_frame):
//! unicast goes to the child owning the destination (not a `source` one);
//! a broadcast from outside goes to every child, but one that a child sent
//! and the wire reflected goes back only to a `private` sender, to `vepa`
//! and `bridge` siblings of a `vepa` sender, and to `vepa` siblings of a
//! `bridge` one (macvlan_process_broadcast). A `source` child also gets
//! what comes from its listed source addresses (macvlan_forward_source).
//! A child and its lower never meet: the child's frames go out of the
//! lower, and the lower's own go out of it too.
use super::super::frame::{Dst, Ev, Frame, Sim};
use super::super::index::If;
use super::super::route::is_up;
use super::Rule;
use crate::explain::Disposition;
use crate::model::LinkKind;

/// private: siblings never talk.
pub const PRIVATE: Rule = Rule {
    id: "macvlan.private",
    disposition: Disposition::DeniedByDeviceMode,
    kernel: "macvlan_queue_xmit / macvlan_handle_frame (drivers/net/macvlan.c): MACVLAN_MODE_PRIVATE",
    summary: "private children never reach their siblings: their frames leave by the lower, and a reflected broadcast goes back only to its sender",
    field: "mode",
};

/// vepa: siblings only through an external hairpin.
pub const VEPA: Rule = Rule {
    id: "macvlan.vepa",
    disposition: Disposition::DeniedByDeviceMode,
    kernel: "macvlan_queue_xmit (drivers/net/macvlan.c): MACVLAN_MODE_VEPA",
    summary: "vepa children reach siblings only when the device at the other end of the lower's wire sends frames back (a bridge port with hairpin on)",
    field: "mode",
};

/// bridge mode switches only between bridge-mode siblings.
pub const MIXED: Rule = Rule {
    id: "macvlan.mixed_modes",
    disposition: Disposition::DeniedByDeviceMode,
    kernel: "macvlan_queue_xmit (drivers/net/macvlan.c): dest->mode == MACVLAN_MODE_BRIDGE",
    summary: "a bridge-mode child switches frames inside the kernel only to siblings that are in bridge mode too",
    field: "mode",
};

/// source: only listed source addresses are received.
pub const SOURCE: Rule = Rule {
    id: "macvlan.source",
    disposition: Disposition::DeniedByDeviceMode,
    kernel:
        "macvlan_forward_source / macvlan_handle_frame (drivers/net/macvlan.c): MACVLAN_MODE_SOURCE",
    summary:
        "a source-mode child receives only frames whose source address is in its `source_macs`",
    field: "source_macs",
};

/// A child never reaches its lower.
pub const LOWER: Rule = Rule {
    id: "macvlan.lower",
    disposition: Disposition::DeniedByDeviceMode,
    kernel: "macvlan_queue_xmit -> dev_queue_xmit(lowerdev) (drivers/net/macvlan.c)",
    summary: "a macvlan child and its lower never talk: the child's frames leave by the lower's wire, and the lower's own go out the same way",
    field: "lower",
};

/// The macvlan rules.
pub const RULES: &[&Rule] = &[&PRIVATE, &VEPA, &MIXED, &SOURCE, &LOWER];

/// The mode of child `i` (the kernel's default is vepa).
pub fn mode<'a>(sim: &'a Sim, i: If) -> &'a str {
    match &sim.idx.link(i).kind {
        LinkKind::Macvlan(o) | LinkKind::Macvtap(o) => o.mode.as_deref().unwrap_or("vepa"),
        _ => "",
    }
}

fn is_child(sim: &Sim, i: If) -> bool {
    matches!(
        sim.idx.link(i).kind,
        LinkKind::Macvlan(_) | LinkKind::Macvtap(_)
    )
}

/// The macvlan children of `lower`.
fn children(sim: &Sim, lower: If) -> Vec<If> {
    sim.idx
        .uppers(lower)
        .iter()
        .copied()
        .filter(|&c| is_child(sim, c))
        .collect()
}

/// Whether `frame` is for child `c` (broadcast, or its address).
fn for_child(sim: &Sim, c: If, frame: &Frame) -> bool {
    match frame.dst {
        Dst::Broadcast => true,
        Dst::Mac(m) => sim.idx.mac_owner(m) == c,
    }
}

/// macvlan_queue_xmit.
pub fn xmit(sim: &mut Sim, p: usize, c: If, frame: Frame) {
    let Some(lower) = sim.idx.lower(c) else {
        let hit = super::link::OUTSIDE.hit(
            format!("{}'s lower is outside the topology", sim.label(c)),
            "declare the lower in the file",
            sim.at(c, Some("lower")),
        );
        sim.deny(p, c, hit, None);
        return;
    };
    let m = mode(sim, c).to_string();
    let cl = sim.label(c);
    let siblings: Vec<If> = children(sim, lower)
        .into_iter()
        .filter(|&s| s != c)
        .collect();
    let mut stays = false;
    if m == "bridge" {
        for &s in &siblings {
            if !for_child(sim, s, &frame) {
                continue;
            }
            let sm = mode(sim, s).to_string();
            if sm == "bridge" {
                if is_up(sim.idx.link(s)) {
                    let d = format!(
                        "macvlan {cl} (bridge): straight to bridge-mode sibling {}",
                        sim.label(s)
                    );
                    sim.go(p, Ev::Rx(s), frame.clone(), c, d);
                } else {
                    let hit = super::link::down(sim, s);
                    sim.deny(p, s, hit, Some((Ev::Rx(s), frame.clone())));
                }
                stays |= frame.dst != Dst::Broadcast;
            } else {
                let hit = MIXED.hit(
                    format!("{cl} is in bridge mode but its sibling {} is in {sm} mode: the frame leaves by {} instead", sim.label(s), sim.label(lower)),
                    format!("set `mode: bridge` on {}", sim.label(s)),
                    sim.at(s, Some("mode")),
                );
                sim.only_relaxed(p, s, hit, Ev::Rx(s), frame.clone());
            }
        }
    } else {
        // A vepa child behind a bridge port: the hairpin there is what
        // brings siblings together, so only that way is relaxed.
        let far_is_port = sim.idx.peer(lower).is_some_and(|q| {
            sim.idx
                .master(q)
                .is_some_and(|b| matches!(sim.idx.link(b).kind, LinkKind::Bridge(_)))
        });
        for &s in &siblings {
            if !for_child(sim, s, &frame) || (m == "vepa" && far_is_port) {
                continue;
            }
            let sl = sim.label(s);
            let lw = sim.label(lower);
            let hit = match m.as_str() {
                "private" => PRIVATE.hit(
                    format!("{cl} and {sl} are macvlan `private` siblings on {lw}: private never forwards between siblings"),
                    "set `mode: bridge` on both",
                    sim.at(c, Some("mode")),
                ),
                "vepa" => VEPA.hit(
                    format!("{cl} and {sl} are macvlan `vepa` siblings on {lw}: vepa reaches siblings only if the far end of {lw}'s wire sends frames back"),
                    format!("set `mode: bridge` on both, or make the far end of {lw} a bridge port with `hairpin: true`"),
                    sim.at(c, Some("mode")),
                ),
                other => MIXED.hit(
                    format!("{cl} is in {other} mode: its frames leave by {lw} and never reach sibling {sl} inside the kernel"),
                    "set `mode: bridge` on both",
                    sim.at(c, Some("mode")),
                ),
            };
            sim.only_relaxed(p, c, hit, Ev::Rx(s), frame.clone());
        }
    }
    let to_lower = match frame.dst {
        Dst::Broadcast => true,
        Dst::Mac(x) => sim.idx.mac_owner(x) == sim.idx.mac_owner(lower),
    };
    if to_lower {
        let hit = LOWER.hit(
            format!("{cl} is a macvlan child of {}: a child and its lower never talk (the child's frames leave by the lower's wire)", sim.label(lower)),
            format!("move {}'s address to a macvlan child of its own in bridge mode", sim.label(lower)),
            sim.at(c, Some("lower")),
        );
        sim.only_relaxed(p, lower, hit, Ev::Stack(lower), frame.clone());
    }
    if !stays {
        let d = format!("macvlan {cl} ({m}): out of lower {}", sim.label(lower));
        sim.go(p, Ev::Tx(lower), frame, c, d);
    }
}

/// Relaxed only: the lower's own frames never reach its children.
pub fn lower_xmit_relaxed(sim: &mut Sim, p: usize, lower: If, frame: &Frame) {
    // Only what the lower's own stack sends: a child's frames pass through
    // the lower's transmit too.
    if !sim.relaxed() || frame.src != sim.idx.mac_owner(lower) {
        return;
    }
    for c in children(sim, lower) {
        if for_child(sim, c, frame) {
            let hit = LOWER.hit(
                format!("{} is the lower of macvlan {}: the lower's frames go out of its wire, never to its children", sim.label(lower), sim.label(c)),
                format!("move {}'s address to a macvlan child of its own in bridge mode", sim.label(lower)),
                sim.at(c, Some("lower")),
            );
            sim.only_relaxed(p, c, hit, Ev::Rx(c), frame.clone());
        }
    }
}

/// macvlan_handle_frame on `lower`; whether it consumed the frame.
pub fn lower_rx(sim: &mut Sim, p: usize, lower: If, frame: &Frame) -> bool {
    let kids = children(sim, lower);
    if kids.is_empty() {
        return false;
    }
    let ll = sim.label(lower);
    // macvlan_forward_source: source-mode children listing the sender.
    let src_mac = sim.idx.link(frame.src).mac;
    for &c in &kids {
        if mode(sim, c) != "source" {
            continue;
        }
        let (LinkKind::Macvlan(o) | LinkKind::Macvtap(o)) = &sim.idx.link(c).kind else {
            continue;
        };
        let listed = src_mac.is_some_and(|m| o.source_macs.contains(&m));
        if listed && for_child(sim, c, frame) {
            let d = format!(
                "macvlan {ll}: source {} is listed by source-mode {}",
                sim.label(frame.src),
                sim.label(c)
            );
            sim.go(p, Ev::Rx(c), frame.clone(), lower, d);
        } else if for_child(sim, c, frame) {
            let why = if src_mac.is_none() {
                "has no fixed `mac` in the file, so it cannot be listed"
            } else {
                "is not listed"
            };
            let hit = SOURCE.hit(
                format!(
                    "{} is a source-mode macvlan: the sender {} {why}",
                    sim.label(c),
                    sim.label(frame.src)
                ),
                format!("add the sender's MAC to `source_macs` of {}", sim.label(c)),
                sim.at(c, Some("mode")),
            );
            sim.only_relaxed(p, c, hit, Ev::Rx(c), frame.clone());
        }
    }
    match frame.dst {
        Dst::Broadcast => {
            let src = kids.iter().copied().find(|&c| c == frame.src);
            if let Some(s) = src {
                let sm = mode(sim, s).to_string();
                if sm != "vepa" && sm != "bridge" {
                    for &c in kids.iter().filter(|&&c| c != s) {
                        let hit = PRIVATE.hit(
                            format!("{} ({sm}) sent this broadcast; reflected back into {ll} it goes only to its sender, never to {}", sim.label(s), sim.label(c)),
                            "set `mode: bridge` (or vepa with a hairpin) on both",
                            sim.at(s, Some("mode")),
                        );
                        sim.only_relaxed(p, c, hit, Ev::Rx(c), frame.clone());
                    }
                    return true;
                }
                for &c in kids.iter().filter(|&&c| c != s) {
                    let cm = mode(sim, c);
                    let gets = cm == "vepa" || (sm == "vepa" && cm == "bridge");
                    if gets && is_up(sim.idx.link(c)) {
                        let d = format!(
                            "macvlan {ll}: reflected broadcast from {} ({sm}) to {} ({cm})",
                            sim.label(s),
                            sim.label(c)
                        );
                        sim.go(p, Ev::Rx(c), frame.clone(), lower, d);
                    }
                }
            } else {
                for &c in &kids {
                    if mode(sim, c) == "source" {
                        continue;
                    }
                    if is_up(sim.idx.link(c)) {
                        let d = format!("macvlan {ll}: broadcast to child {}", sim.label(c));
                        sim.go(p, Ev::Rx(c), frame.clone(), lower, d);
                    } else {
                        let hit = super::link::down(sim, c);
                        sim.deny(p, c, hit, Some((Ev::Rx(c), frame.clone())));
                    }
                }
            }
            false
        }
        Dst::Mac(m) => {
            let passthru = kids.iter().copied().find(|&c| mode(sim, c) == "passthru");
            let target =
                passthru.or_else(|| kids.iter().copied().find(|&c| c == sim.idx.mac_owner(m)));
            match target {
                Some(c) if mode(sim, c) != "source" => {
                    if !is_up(sim.idx.link(c)) {
                        let hit = super::link::down(sim, c);
                        sim.deny(p, c, hit, Some((Ev::Rx(c), frame.clone())));
                    } else {
                        let d =
                            format!("macvlan {ll}: to child {} ({})", sim.label(c), mode(sim, c));
                        sim.go(p, Ev::Rx(c), frame.clone(), lower, d);
                    }
                    true
                }
                _ => false,
            }
        }
    }
}
