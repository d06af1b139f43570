//! teamd: each desired team runs a teamd with the team's options and ports.
//! A team made by this plan gets a start; an existing one whose teamd runs
//! with another setup (runner or other options, port set, port options), or
//! does not run, gets a (re)start. Ports are not enslaved over rtnetlink:
//! teamd enslaves those in its config, which the link step leaves to it.
use super::effect::{iref, Ctx};
use super::graph::{Key, Pending, Phase};
use crate::model::Op;
use crate::model::{LinkKind, TeamdSetup};

/// StartTeamd for every team whose teamd must (re)start.
pub(crate) fn plan(ctx: &Ctx, out: &mut Vec<Pending>) {
    for node in ctx.kept_nodes() {
        let want = ctx.want(&node);
        for (name, link) in &want.links {
            if !matches!(link.kind, LinkKind::Team(_)) {
                continue;
            }
            let Some(setup) = TeamdSetup::of(want, name) else {
                continue;
            };
            if !restarts(ctx, &node, name) {
                continue;
            }
            let prior = TeamdSetup::of(ctx.have(&node), name);
            let me = iref(&node, name);
            let mut needs = vec![Key::Netns(node.clone()), Key::Link(me.clone())];
            // Ports must exist and carry their other settings first; their
            // `up` (and the team's) waits for teamd, since the driver refuses
            // an up port.
            let mut gives = vec![Key::Config(me)];
            for port in setup.ports.keys() {
                let p = iref(&node, port);
                needs.push(Key::Link(p.clone()));
                needs.push(Key::Config(p.clone()));
                gives.push(Key::Config(p));
            }
            let op = Op::StartTeamd {
                node: node.clone(),
                dev: name.clone(),
                setup,
                prior,
            };
            out.push(Pending::new(Phase::Teamd, op, needs, gives));
        }
    }
}

/// True when this plan (re)starts the teamd of `team` in `node`: the team
/// is new, or its teamd runs with another setup or not at all. teamd then
/// (re)enslaves every port, and the driver opens each one it takes.
pub(crate) fn restarts(ctx: &Ctx, node: &str, team: &str) -> bool {
    let Some(setup) = TeamdSetup::of(ctx.want(node), team) else {
        return false;
    };
    let have = ctx.have(node);
    !have.links.contains_key(team) || TeamdSetup::of(have, team).as_ref() != Some(&setup)
}

/// True when `master` is a team in the desired node: its ports are enslaved
/// by teamd, and the team's options are teamd's, not the link's.
pub(crate) fn is_team(ctx: &Ctx, node: &str, master: &str) -> bool {
    ctx.want(node)
        .links
        .get(master)
        .is_some_and(|l| matches!(l.kind, LinkKind::Team(_)))
}
