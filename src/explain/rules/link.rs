//! Links themselves: a device that is down, a veth whose peer is down, and
//! devices that carry nothing on (tun/tap without a program, dummy, ifb, a
//! route through a VRF device, a device outside the file).
use super::super::frame::{Ev, Frame, Sim};
use super::super::index::If;
use super::super::route::is_up;
use super::{Rule, RuleHit};
use crate::explain::Disposition;
use crate::model::LinkKind;

/// A device that is administratively down sends and receives nothing.
pub const ADMIN_DOWN: Rule = Rule {
    id: "link.admin_down",
    disposition: Disposition::LinkDown,
    kernel: "__dev_queue_xmit / __netif_receive_skb_core (net/core/dev.c): IFF_UP",
    summary: "a device that is administratively down neither sends nor receives",
    field: "state",
};

/// A veth end passes frames only to a peer that is up.
pub const VETH_PEER_DOWN: Rule = Rule {
    id: "veth.peer_down",
    disposition: Disposition::LinkDown,
    kernel:
        "veth_xmit -> __dev_forward_skb -> is_skb_forwardable (drivers/net/veth.c, net/core/dev.c)",
    summary: "a veth end drops what it sends while its peer is down (no carrier)",
    field: "state",
};

/// tun/tap hand frames to the program holding the device open.
pub const TUN_NO_READER: Rule = Rule {
    id: "tun.no_reader",
    disposition: Disposition::LinkDown,
    kernel: "tun_net_xmit (drivers/net/tun.c)",
    summary: "a tun/tap device hands what it sends to the program holding /dev/net/tun open; netloom's persistent devices have none, so there is no carrier",
    field: "kind",
};

/// dummy drops everything.
pub const DUMMY: Rule = Rule {
    id: "dummy.discard",
    disposition: Disposition::NeighbourUnreachable,
    kernel: "dummy_xmit (drivers/net/dummy.c)",
    summary: "a dummy device frees every frame it is given: nothing is on its other side",
    field: "kind",
};

/// ifb passes on only what tc redirected to it.
pub const IFB: Rule = Rule {
    id: "ifb.discard",
    disposition: Disposition::NeighbourUnreachable,
    kernel: "ifb_xmit (drivers/net/ifb.c): !skb->redirected",
    summary:
        "an ifb device frees every frame a tc redirect did not bring to it: routed to, it discards",
    field: "kind",
};

/// A route through a VRF device itself: the driver routes the packet again
/// in its table, which the walk does not follow.
pub const VRF_DEVICE: Rule = Rule {
    id: "vrf.device_route",
    disposition: Disposition::InsufficientInfo,
    kernel: "vrf_xmit -> vrf_process_v4_outbound (drivers/net/vrf.c): a second lookup in the VRF's table",
    summary: "a packet routed through a VRF device is routed again in the VRF's table; explain does not follow that second lookup",
    field: "kind",
};

/// A device netloom does not model leads outside the file.
pub const OUTSIDE: Rule = Rule {
    id: "external.outside",
    disposition: Disposition::InsufficientInfo,
    kernel: "the device's own driver (not modelled)",
    summary: "frames leave the topology through a device the file only references; what is beyond it is unknown",
    field: "kind",
};

/// The link rules.
pub const RULES: &[&Rule] = &[
    &ADMIN_DOWN,
    &VETH_PEER_DOWN,
    &TUN_NO_READER,
    &DUMMY,
    &IFB,
    &VRF_DEVICE,
    &OUTSIDE,
];

/// The hit for `i` being down.
pub fn down(sim: &Sim, i: If) -> RuleHit {
    let l = sim.label(i);
    ADMIN_DOWN.hit(
        format!("{l} is administratively down"),
        "set `state: up` (or remove `state: down`)",
        sim.at(i, None),
    )
}

/// veth_xmit: to the peer, if it is up.
pub fn veth_xmit(sim: &mut Sim, p: usize, i: If, frame: Frame) {
    let Some(peer) = sim.idx.peer(i) else {
        let hit = OUTSIDE.hit(
            format!("{}'s peer is outside the topology", sim.label(i)),
            "link both ends in the file's `links`",
            sim.at(i, None),
        );
        sim.deny(p, i, hit, None);
        return;
    };
    let detail = format!("veth {} -> {}", sim.label(i), sim.label(peer));
    if !is_up(sim.idx.link(peer)) {
        let hit = VETH_PEER_DOWN.hit(
            format!(
                "{}'s peer {} is down, so {} has no carrier",
                sim.label(i),
                sim.label(peer),
                sim.label(i)
            ),
            format!("bring {} up (`state: up`)", sim.label(peer)),
            sim.at(peer, None),
        );
        sim.deny(p, i, hit, Some((Ev::Rx(peer), frame)));
        return;
    }
    sim.go(p, Ev::Rx(peer), frame, i, detail);
}

/// The hit for a device that carries nothing on.
pub fn sink(sim: &Sim, i: If) -> RuleHit {
    let l = sim.label(i);
    match &sim.idx.link(i).kind {
        LinkKind::Tun(o) => TUN_NO_READER.hit(
            format!(
                "{l} is a {} device: what it sends goes to the program holding it open",
                o.mode
            ),
            "attach a program to it, or use a veth pair",
            sim.at(i, Some("kind")),
        ),
        LinkKind::Dummy(_) => DUMMY.hit(
            format!("{l} is a dummy device: it discards everything sent through it"),
            "use a veth pair to reach another node",
            sim.at(i, Some("kind")),
        ),
        LinkKind::Ifb(_) => IFB.hit(
            format!("{l} is an ifb device: only frames a tc redirect brings it go on"),
            "route through a veth pair; an ifb is for shaping redirected traffic",
            sim.at(i, Some("kind")),
        ),
        LinkKind::Vrf(_) => VRF_DEVICE.hit(
            format!("{l} is a VRF device: the packet would be routed again in its table"),
            "route out of one of the VRF's ports (`dev:` a port, in the VRF's `table:`)",
            sim.at(i, Some("kind")),
        ),
        _ => OUTSIDE.hit(
            format!("{l} leads outside the topology"),
            "model what is beyond it in the file",
            sim.at(i, None),
        ),
    }
}
