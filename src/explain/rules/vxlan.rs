//! VXLAN: a frame sent by a vxlan device goes, in UDP to its dstport, to
//! the remote its forwarding database names (the all-zeros entry `remote`
//! or `group` creates: vxlan_xmit -> vxlan_xmit_one), routed over the
//! underlay like any packet of its node; at the node it arrives at, the
//! vxlan device listening on that port with that VNI takes it
//! (vxlan_rcv -> vxlan_vs_find_vni).
use std::net::IpAddr;

use super::super::frame::{Dst, Ev, Frame, Sim};
use super::super::index::If;
use super::super::route::is_up;
use super::Rule;
use crate::explain::Disposition;
use crate::model::{LinkKind, VxlanOptions};

/// Neither an FDB entry nor a remote or group.
pub const NO_REMOTE: Rule = Rule {
    id: "vxlan.no_remote",
    disposition: Disposition::NeighbourUnreachable,
    kernel: "vxlan_xmit (drivers/net/vxlan/vxlan_core.c): no vxlan_fdb entry, no default destination",
    summary: "a vxlan device without a remote, a group or an FDB entry for the destination drops the frame",
    field: "remote",
};

/// No vxlan device at the remote takes this VNI.
pub const VNI_MISMATCH: Rule = Rule {
    id: "vxlan.vni_mismatch",
    disposition: Disposition::NeighbourUnreachable,
    kernel: "vxlan_rcv -> vxlan_vs_find_vni (drivers/net/vxlan/vxlan_core.c)",
    summary: "the remote node has no vxlan device with the sender's VNI on that UDP port",
    field: "vni",
};

/// No vxlan device at the remote listens on this port.
pub const PORT_MISMATCH: Rule = Rule {
    id: "vxlan.dstport_mismatch",
    disposition: Disposition::NeighbourUnreachable,
    kernel: "vxlan_find_sock / vxlan_rcv (drivers/net/vxlan/vxlan_core.c)",
    summary: "the remote's vxlan device listens on another UDP port (dstport): the packet reaches no tunnel",
    field: "dstport",
};

/// The underlay does not carry the tunnel's packets.
pub const NO_UNDERLAY: Rule = Rule {
    id: "vxlan.no_underlay",
    disposition: Disposition::NoRoute,
    kernel: "vxlan_xmit_one -> vxlan_get_route (drivers/net/vxlan/vxlan_core.c)",
    summary: "the encapsulated packet does not reach the remote: no underlay route (or the underlay itself stops it)",
    field: "remote",
};

/// A static entry sends frames for its address to one VTEP only.
pub const STATIC_ENTRY: Rule = Rule {
    id: "vxlan.static_entry",
    disposition: Disposition::NeighbourUnreachable,
    kernel: "vxlan_xmit -> vxlan_find_mac (drivers/net/vxlan/vxlan_core.c): a known address goes to its entry's remote alone",
    summary: "a static fdb entry of a vxlan sends frames for its address to one remote VTEP; the holder of the address behind another VTEP never gets them",
    field: "fdb",
};

/// The vxlan rules.
pub const RULES: &[&Rule] = &[
    &NO_REMOTE,
    &VNI_MISMATCH,
    &PORT_MISMATCH,
    &NO_UNDERLAY,
    &STATIC_ENTRY,
];

/// The kernel's port when none is given (IANA's 4789 only when asked).
pub const DEFAULT_PORT: u16 = 8472;

fn opts<'a>(sim: &Sim<'_, 'a>, i: If) -> Option<&'a VxlanOptions> {
    match &sim.idx.link(i).kind {
        LinkKind::Vxlan(o) => Some(o),
        _ => None,
    }
}

/// The addresses a frame of `x` is sent to (vxlan_xmit), and those a static
/// entry passes over: the remote of the static entry for its destination
/// address when the file has one, else the default destinations, `remote`
/// and the flood list (`remotes`, the all-zero entries), or the members of
/// `group`.
fn destinations(sim: &Sim, x: If, o: &VxlanOptions, frame: &Frame) -> (Vec<IpAddr>, Vec<IpAddr>) {
    let default = default_destinations(sim, x, o);
    let node = sim.idx.node_of(x);
    let dev = sim.idx.ifs[x].name;
    let fdb = sim.idx.node(node).map_or(&[][..], |n| n.fdb.as_slice());
    let mac = match frame.dst {
        Dst::Mac(m) => sim.idx.link(sim.idx.mac_owner(m)).mac,
        Dst::Broadcast => None,
    };
    if let Some(mac) = mac {
        let known: Vec<IpAddr> = fdb
            .iter()
            .filter(|e| e.dev == dev && !e.on_bridge() && e.mac == mac)
            .filter_map(|e| e.dst)
            .collect();
        if !known.is_empty() {
            let over = default.into_iter().filter(|d| !known.contains(d)).collect();
            return (known, over);
        }
    }
    (default, Vec::new())
}

/// Where `x` sends a frame it has no static entry for.
fn default_destinations(sim: &Sim, x: If, o: &VxlanOptions) -> Vec<IpAddr> {
    let node = sim.idx.node_of(x);
    let dev = sim.idx.ifs[x].name;
    let fdb = sim.idx.node(node).map_or(&[][..], |n| n.fdb.as_slice());
    let mut out: Vec<IpAddr> = o.remote.into_iter().collect();
    out.extend(
        fdb.iter()
            .filter(|e| e.dev == dev && e.floods())
            .filter_map(|e| e.dst),
    );
    if !out.is_empty() {
        return out;
    }
    let Some(g) = o.group else { return Vec::new() };
    // A group: every member of it with this VNI, reached at its local
    // address (or its underlay's first), as the underlay's multicast would.
    sim.idx
        .vxlans
        .iter()
        .copied()
        .filter(|&y| y != x)
        .filter_map(|y| {
            let yo = opts(sim, y)?;
            if yo.group != Some(g) || yo.vni != o.vni {
                return None;
            }
            yo.local.or_else(|| {
                let dev = sim.idx.lower(y)?;
                sim.idx.link(dev).addresses.first().map(|a| a.net.addr())
            })
        })
        .collect()
}

/// vxlan_xmit: encapsulate and route to each destination.
pub fn xmit(sim: &mut Sim, p: usize, x: If, frame: Frame) {
    let Some(o) = opts(sim, x).cloned() else {
        return;
    };
    let xl = sim.label(x);
    let port = o.dstport.unwrap_or(DEFAULT_PORT);
    let (dsts, over) = destinations(sim, x, &o, &frame);
    if dsts.is_empty() {
        let hit = NO_REMOTE.hit(
            format!("{xl} has no remote, no group and no FDB entry: the frame is dropped"),
            "set `remote:` (or `group:`, or `remotes:`)",
            sim.at(x, None),
        );
        sim.deny(p, x, hit, None);
        return;
    }
    if sim.depth >= 3 {
        return;
    }
    let node = sim.idx.node_of(x).to_string();
    let fixed = dsts.first().copied();
    for (r, passed_over) in dsts
        .into_iter()
        .map(|r| (r, false))
        .chain(over.into_iter().map(|r| (r, true)))
    {
        if passed_over && !sim.relaxed() {
            continue;
        }
        let under = crate::explain::walk::underlay(
            sim.idx,
            sim.facts,
            sim.place,
            &node,
            o.local,
            r,
            sim.depth + 1,
        );
        let Some((rnode, _)) = under.arrived.clone() else {
            let why = under.reason.clone();
            let hit = NO_UNDERLAY.hit(
                format!(
                    "{xl} sends VNI {} to {r}:{port}, but the underlay does not carry it: {why}",
                    o.vni
                ),
                format!("give {node} a route to {r} over the underlay"),
                sim.at(x, Some("dev")),
            );
            sim.deny(p, x, hit, None);
            continue;
        };
        let here: Vec<If> = sim
            .idx
            .ifaces_of(&rnode)
            .iter()
            .copied()
            .filter(|&y| opts(sim, y).is_some() && is_up(sim.idx.link(y)))
            .collect();
        let takes = |y: If| {
            opts(sim, y)
                .is_some_and(|yo| yo.vni == o.vni && yo.dstport.unwrap_or(DEFAULT_PORT) == port)
        };
        match here.iter().copied().find(|&y| takes(y)) {
            Some(y) if passed_over => {
                let hit = STATIC_ENTRY.hit(
                    format!(
                        "{xl}'s static fdb entry sends frames for this address to {}, not {r}",
                        fixed.map_or_else(String::new, |f| f.to_string())
                    ),
                    format!("make the entry's `dst` {r} (or remove it)"),
                    sim.at(x, Some("fdb")),
                );
                sim.only_relaxed(p, x, hit, Ev::Rx(y), frame.clone());
            }
            Some(y) => {
                let d = format!(
                    "vxlan {xl}: VNI {} in UDP to {r}:{port}, taken by {}",
                    o.vni,
                    sim.label(y)
                );
                let id = sim.go(p, Ev::Rx(y), frame.clone(), x, d);
                sim.nest(id, under.steps.clone());
            }
            None => {
                let same_vni = here
                    .iter()
                    .copied()
                    .find(|&y| opts(sim, y).is_some_and(|yo| yo.vni == o.vni));
                let same_port = here.iter().copied().find(|&y| {
                    opts(sim, y).is_some_and(|yo| yo.dstport.unwrap_or(DEFAULT_PORT) == port)
                });
                let (hit, cont) = match (same_vni, same_port, here.first().copied()) {
                    (Some(y), _, _) => (
                        PORT_MISMATCH.hit(
                            format!(
                                "{xl} sends to UDP port {port}, but {} (VNI {}) listens on {}",
                                sim.label(y),
                                o.vni,
                                opts(sim, y).and_then(|v| v.dstport).unwrap_or(DEFAULT_PORT)
                            ),
                            format!("set the same `dstport` on {xl} and {}", sim.label(y)),
                            sim.at(y, None),
                        ),
                        Some(y),
                    ),
                    (None, Some(y), _) | (None, None, Some(y)) => (
                        VNI_MISMATCH.hit(
                            format!(
                                "{xl} sends VNI {}, but {} has VNI {}",
                                o.vni,
                                sim.label(y),
                                opts(sim, y).map_or(0, |v| v.vni)
                            ),
                            format!("set the same `vni` on {xl} and {}", sim.label(y)),
                            sim.at(y, Some("vni")),
                        ),
                        Some(y),
                    ),
                    _ => (
                        VNI_MISMATCH.hit(
                            format!(
                                "{xl} sends VNI {} to {r}, but {rnode} has no vxlan device up",
                                o.vni
                            ),
                            format!("add a vxlan with `vni: {}` in {rnode}", o.vni),
                            sim.at(x, Some("vni")),
                        ),
                        None,
                    ),
                };
                sim.deny(p, x, hit, cont.map(|y| (Ev::Rx(y), frame.clone())));
            }
        }
    }
}
