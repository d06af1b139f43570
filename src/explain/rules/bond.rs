//! Bonds and teams: which port carries traffic now, and which ports take
//! it in. In active-backup one port is active (the `primary` when it has
//! carrier, else the first that has: bond_select_active_slave; teamd's
//! activebackup runner picks the highest `prio`), and frames arriving on
//! the others are not passed up (bond_handle_frame ->
//! bond_should_deliver_exact_match; team_handle_frame drops on a port not
//! enabled). In the other modes every port with carrier sends and receives.
use super::super::frame::{Ev, Frame, Sim};
use super::super::index::If;
use super::super::route::is_up;
use super::Rule;
use crate::explain::Disposition;
use crate::model::{LinkKind, PortOptions};

/// No port can carry traffic.
pub const NO_PORT: Rule = Rule {
    id: "bond.no_port",
    disposition: Disposition::LinkDown,
    kernel: "bond_xmit_activebackup / bond_3ad_xor_xmit (drivers/net/bonding/bond_main.c), team_xmit (drivers/net/team/team_core.c)",
    summary: "a bond or team with no port that is up and has carrier sends nothing",
    field: "ports",
};

/// An inactive port does not pass frames up.
pub const INACTIVE: Rule = Rule {
    id: "bond.inactive_port",
    disposition: Disposition::DeniedByDeviceMode,
    kernel: "bond_handle_frame -> bond_should_deliver_exact_match (drivers/net/bonding/bond_main.c); team_handle_frame (drivers/net/team/team_core.c)",
    summary: "in active-backup, frames arriving on a port that is not the active one are not passed up",
    field: "primary",
};

/// The bond and team rules.
pub const RULES: &[&Rule] = &[&NO_PORT, &INACTIVE];

/// Whether port `i` can carry traffic: up, and with carrier (a veth whose
/// peer is up; what the kernel said when live).
pub fn usable(sim: &Sim, i: If) -> bool {
    let l = sim.idx.link(i);
    if !is_up(l) || l.carrier == Some(false) {
        return false;
    }
    match sim.idx.peer(i) {
        Some(peer) => is_up(sim.idx.link(peer)),
        None => true,
    }
}

/// Whether master `b` runs active-backup.
fn active_backup(sim: &Sim, b: If) -> bool {
    match &sim.idx.link(b).kind {
        LinkKind::Bond(o) => o.mode.as_deref() == Some("active-backup"),
        LinkKind::Team(o) => o.runner == "activebackup",
        _ => false,
    }
}

/// The port of master `b` carrying traffic now.
pub fn active(sim: &Sim, b: If) -> Option<If> {
    let ports: Vec<If> = sim
        .idx
        .ports(b)
        .iter()
        .copied()
        .filter(|&p| usable(sim, p))
        .collect();
    match &sim.idx.link(b).kind {
        LinkKind::Bond(o) => {
            let primary = o
                .primary
                .as_deref()
                .and_then(|n| sim.idx.find(sim.idx.node_of(b), n));
            primary
                .filter(|p| ports.contains(p))
                .or_else(|| ports.first().copied())
        }
        LinkKind::Team(_) => ports.iter().copied().max_by_key(|&p| {
            let prio = match &sim.idx.link(p).port {
                Some(PortOptions::Team(t)) => t.prio.unwrap_or(0),
                _ => 0,
            };
            (prio, std::cmp::Reverse(p))
        }),
        _ => None,
    }
}

/// bond_start_xmit / team_xmit: out of the active port.
pub fn xmit(sim: &mut Sim, p: usize, b: If, frame: Frame) {
    let Some(port) = active(sim, b) else {
        let hit = NO_PORT.hit(
            format!("{} has no port that is up with carrier", sim.label(b)),
            "bring a port (and the far end of its wire) up",
            sim.at(b, None),
        );
        sim.deny(p, b, hit, None);
        return;
    };
    for &other in sim.idx.ports(b) {
        if other != port && usable(sim, other) && active_backup(sim, b) {
            let hit = INACTIVE.hit(
                format!(
                    "{} sends by its active port {} only; {} is a backup",
                    sim.label(b),
                    sim.idx.ifs[port].name,
                    sim.idx.ifs[other].name
                ),
                format!(
                    "make {} the `primary`, or link {} where it leads",
                    sim.idx.ifs[other].name, sim.idx.ifs[port].name
                ),
                sim.at(b, Some("primary")),
            );
            sim.only_relaxed(p, b, hit, Ev::Tx(other), frame.clone());
        }
    }
    let d = format!(
        "{} {}: out of port {}",
        sim.idx.link(b).kind.word(),
        sim.label(b),
        sim.idx.ifs[port].name
    );
    sim.go(p, Ev::Tx(port), frame, b, d);
}

/// bond_handle_frame / team_handle_frame: a frame arrives on port `i` of `b`.
pub fn port_in(sim: &mut Sim, p: usize, i: If, b: If, frame: Frame) {
    if active_backup(sim, b) && active(sim, b) != Some(i) {
        let hit = INACTIVE.hit(
            format!(
                "{} is a backup port of {} (active-backup): what arrives there is not passed up",
                sim.label(i),
                sim.label(b)
            ),
            "make it the `primary` (or bring the active port's link down)",
            sim.at(b, Some("primary")),
        );
        sim.deny(p, i, hit, Some((Ev::Rx(b), frame)));
        return;
    }
    let d = format!(
        "{} {}: in by port {}",
        sim.idx.link(b).kind.word(),
        sim.label(b),
        sim.idx.ifs[i].name
    );
    sim.go(p, Ev::Rx(b), frame, b, d);
}
