//! MTU changes of existing links, as ops of their own. A vlan, macvlan,
//! macvtap or vxlan may not have a larger MTU than its lower allows (EINVAL
//! or ERANGE), so increases go lowers first and decreases stacked devices
//! first; a rollback, undoing them in reverse, keeps the rule as well. An
//! ipvlan or ipvtap takes its lower's MTU whenever that changes, so its own
//! change comes after its lower's either way.
use super::effect::{iref, Ctx};
use super::graph::{Key, Pending, Phase};
use super::op::{LinkChange, Op};
use crate::model::{IfRef, Link, LinkKind};

/// Takes the MTU out of a link's in-place changes (`config`, `prior`) into an
/// op of its own, with its rank among MTU ops: lowers first for increases,
/// stacked devices first for decreases (`depth` counts lowers beneath `me`).
pub(crate) fn split(
    ctx: &Ctx,
    me: &IfRef,
    depth: usize,
    config: &mut LinkChange,
    prior: &mut LinkChange,
) -> Option<(isize, Pending)> {
    let mtu = config.mtu.take()?;
    let before = prior.mtu.take();
    let rising = before.is_none_or(|b| mtu > b);
    let mut needs = vec![Key::Netns(me.node.clone()), Key::Link(me.clone())];
    let want = ctx
        .desired
        .nodes
        .get(&me.node)
        .and_then(|n| n.links.get(&me.name));
    let lower = want.and_then(|l| l.kind.lower());
    let after_lower = rising || want.is_some_and(follows_lower);
    if after_lower {
        needs.extend(lower.cloned().map(Key::Mtu));
    } else {
        needs.extend(stacked_on(ctx, me).map(Key::Mtu));
    }
    let op = Op::SetLink {
        node: me.node.clone(),
        name: me.name.clone(),
        change: LinkChange {
            mtu: Some(mtu),
            ..LinkChange::default()
        },
        prior: LinkChange {
            mtu: before,
            ..LinkChange::default()
        },
    };
    let phase = if rising { Phase::MtuUp } else { Phase::MtuDown };
    let rank = if after_lower {
        depth as isize
    } else {
        -(depth as isize)
    };
    let gives = vec![Key::Mtu(me.clone()), Key::Config(me.clone())];
    Some((rank, Pending::new(phase, op, needs, gives)))
}

/// An ipvlan or ipvtap: the kernel sets its MTU to its lower's on every
/// change of the lower's (ipvlan_device_event), in both directions.
fn follows_lower(l: &Link) -> bool {
    matches!(l.kind, LinkKind::Ipvlan(_) | LinkKind::Ipvtap(_))
}

/// Links of the file stacked directly on `me` that must shrink before it.
fn stacked_on<'a>(ctx: &'a Ctx, me: &'a IfRef) -> impl Iterator<Item = IfRef> + 'a {
    ctx.desired.nodes.iter().flat_map(move |(node, n)| {
        n.links
            .iter()
            .filter(move |(_, l): &(&String, &Link)| {
                l.kind.lower() == Some(me) && !follows_lower(l)
            })
            .map(move |(name, _)| iref(node, name))
    })
}
