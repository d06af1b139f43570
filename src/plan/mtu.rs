//! MTU changes of existing links, as ops of their own. A vlan, macvlan,
//! macvtap or vxlan may not have a larger MTU than its lower allows (EINVAL
//! or ERANGE), so increases go lowers first and decreases stacked devices
//! first; a rollback, undoing them in reverse, keeps the rule as well.
//! An ipvlan or ipvtap takes its lower's MTU whenever that changes
//! (ipvlan_device_event), so its own MTU is set after its lower's, even
//! when unchanged. A bond or team sets its ports to its own MTU (a team
//! refuses any other change of a port's MTU): ports get no MTU op.
use super::effect::Ctx;
use super::graph::{Key, Pending, Phase};
use crate::model::LinkChange;
use crate::model::{IfRef, Link};

/// Takes the MTU out of a link's in-place changes (`config`, `prior`) into an
/// op of its own, with its rank among MTU ops: lowers first for increases,
/// stacked devices first for decreases.
pub(crate) fn split(
    ctx: &Ctx,
    me: &IfRef,
    (want, have): (&Link, &Link),
    config: &mut LinkChange,
    prior: &mut LinkChange,
) -> Option<(isize, Pending)> {
    let node = ctx.desired.nodes.get(&me.node)?;
    let master = want.master.as_deref().and_then(|m| node.links.get(m));
    if master.is_some_and(|m| m.kind.facts().sets_port_mtu()) {
        config.mtu = None;
        prior.mtu = None;
        return None;
    }
    let follows = follows_lower(want);
    let mtu = match config.mtu.take() {
        Some(m) => m,
        // Set again after the lower's change, which overwrites it.
        None if follows && lower_changes(ctx, want) => want.mtu?,
        None => return None,
    };
    let before = prior.mtu.take().or(have.mtu);
    let rising = before.is_none_or(|b| mtu > b);
    let mut needs = vec![Key::Netns(me.node.clone()), Key::Link(me.clone())];
    let after_lower = rising || follows;
    if after_lower {
        needs.extend(want.kind.lower().cloned().map(Key::Mtu));
    } else {
        // Stacked devices shrink first; those on their way out go first,
        // so that undoing their deletion never meets a smaller lower.
        for u in stacked_on(ctx.desired, me).chain(stacked_on(ctx.observed, me)) {
            needs.push(Key::Mtu(u.clone()));
            needs.push(Key::LinkGone(u));
        }
    }
    let op = super::change::mtu_op(me, mtu, before);
    let depth = super::link::depth(ctx, want, 0);
    let (phase, rank) = match after_lower {
        true => (Phase::MtuUp, depth as isize),
        false => (Phase::MtuDown, -(depth as isize)),
    };
    let gives = vec![Key::Mtu(me.clone()), Key::Config(me.clone())];
    Some((rank, Pending::new(phase, op, needs, gives)))
}

/// An ipvlan or ipvtap, whose MTU the kernel sets to its lower's.
fn follows_lower(l: &Link) -> bool {
    l.kind.facts().takes_lower_mtu()
}

/// Whether this plan changes the MTU of `l`'s lower.
fn lower_changes(ctx: &Ctx, l: &Link) -> bool {
    let Some(lower) = l.kind.lower() else {
        return false;
    };
    let mtu_in = |net: &crate::model::Network| {
        net.nodes
            .get(&lower.node)
            .and_then(|n| n.links.get(&lower.name))
            .and_then(|l| l.mtu)
    };
    mtu_in(ctx.desired).is_some_and(|m| mtu_in(ctx.observed) != Some(m))
}

/// Links of `net` stacked directly on `me` that must shrink before it.
fn stacked_on<'a>(
    net: &'a crate::model::Network,
    me: &'a IfRef,
) -> impl Iterator<Item = IfRef> + 'a {
    net.stacked_on(me)
        .filter(|(_, l)| !follows_lower(l))
        .map(|(r, _)| r)
}
