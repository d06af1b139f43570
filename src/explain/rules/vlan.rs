//! 802.1Q / 802.1ad VLAN devices: sending pushes the device's tag and hands
//! the frame to the lower (vlan_dev_hard_start_xmit); receiving, the lower
//! gives a tagged frame to its VLAN device of that protocol and id
//! (vlan_do_receive), and a frame tagged with an id no device claims is
//! not for this host (__netif_receive_skb_core marks it PACKET_OTHERHOST).
use super::super::frame::{Ev, Frame, Sim, Tag};
use super::super::index::If;
use super::super::route::is_up;
use super::Rule;
use crate::explain::Disposition;
use crate::model::LinkKind;

/// A tag no VLAN device on the receiving side claims.
pub const ID_MISMATCH: Rule = Rule {
    id: "vlan.id_mismatch",
    disposition: Disposition::VlanFiltered,
    kernel: "vlan_do_receive (net/8021q/vlan_core.c); __netif_receive_skb_core: PACKET_OTHERHOST",
    summary: "a tagged frame is taken only by a VLAN device of the same protocol (802.1Q / 802.1ad) and id on the receiving device",
    field: "id",
};

/// The VLAN rules.
pub const RULES: &[&Rule] = &[&ID_MISMATCH];

fn opts(sim: &Sim, i: If) -> Option<(u16, u16)> {
    match &sim.idx.link(i).kind {
        LinkKind::Vlan(o) => Some((o.protocol.unwrap_or(0x8100), o.id)),
        _ => None,
    }
}

fn proto_word(p: u16) -> &'static str {
    if p == 0x88a8 {
        "802.1ad"
    } else {
        "802.1Q"
    }
}

/// vlan_dev_hard_start_xmit: push the tag, send by the lower.
pub fn xmit(sim: &mut Sim, p: usize, v: If, mut frame: Frame) {
    let (Some((proto, vid)), Some(lower)) = (opts(sim, v), sim.idx.lower(v)) else {
        return;
    };
    frame.tags.push(Tag { proto, vid });
    let d = format!(
        "vlan {}: tag {} {vid}, out of {}",
        sim.label(v),
        proto_word(proto),
        sim.label(lower)
    );
    sim.go(p, Ev::Tx(lower), frame, v, d);
}

/// vlan_do_receive: the VLAN device on `i` for tag `t`; whether one took it.
pub fn to_vlan_device(sim: &mut Sim, p: usize, i: If, t: Tag, frame: &Frame) -> bool {
    let found = sim
        .idx
        .uppers(i)
        .iter()
        .copied()
        .find(|&v| opts(sim, v) == Some((t.proto, t.vid)));
    let Some(v) = found else { return false };
    let mut inner = frame.clone();
    inner.tags.pop();
    if !is_up(sim.idx.link(v)) {
        let hit = super::link::down(sim, v);
        sim.deny(p, v, hit, Some((Ev::Rx(v), inner)));
        return true;
    }
    let d = format!(
        "vlan {}: tag {} {} taken off",
        sim.label(v),
        proto_word(t.proto),
        t.vid
    );
    sim.go(p, Ev::Rx(v), inner, v, d);
    true
}

/// A tagged frame nothing on `i` claims: dropped; relaxed, it goes to the
/// VLAN devices that would take it with another id or protocol.
pub fn unclaimed(sim: &mut Sim, p: usize, i: If, t: Tag, frame: Frame) {
    let others: Vec<If> = sim
        .idx
        .uppers(i)
        .iter()
        .copied()
        .filter(|&v| opts(sim, v).is_some())
        .collect();
    let il = sim.label(i);
    if others.is_empty() {
        let hit = ID_MISMATCH.hit(
            format!(
                "the frame arrives at {il} tagged {} {}, and {il} has no VLAN device for it",
                proto_word(t.proto),
                t.vid
            ),
            format!(
                "add a VLAN device with `id: {}` on {il}, or send untagged",
                t.vid
            ),
            sim.at(i, None),
        );
        let mut inner = frame.clone();
        inner.tags.pop();
        sim.deny(p, i, hit, Some((Ev::Stack(i), inner)));
        return;
    }
    for v in others {
        let Some((proto, vid)) = opts(sim, v) else {
            continue;
        };
        let hit = ID_MISMATCH.hit(
            format!(
                "the frame arrives at {il} tagged {} {}, but {} takes {} {vid}",
                proto_word(t.proto),
                t.vid,
                sim.label(v),
                proto_word(proto)
            ),
            if proto != t.proto {
                format!(
                    "use the same `protocol` on both ends ({})",
                    proto_word(t.proto)
                )
            } else {
                format!("set `id: {}` on {}", t.vid, sim.label(v))
            },
            sim.at(v, Some("id")),
        );
        let mut inner = frame.clone();
        inner.tags.pop();
        sim.deny(p, v, hit, Some((Ev::Rx(v), inner)));
    }
}
