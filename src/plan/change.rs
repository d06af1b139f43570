//! Changes of an existing link in place: generic settings, kind options
//! and port options, its state, and the addresses a change of state or
//! master takes along.
use super::address;
use super::effect::{iref, Ctx};
use super::graph::{Key, Pending, Phase};
use super::kind::{self, KindDiff};
use super::mtu;
use super::status::FieldDiff;
use super::teamd;
use crate::model::{Address, IfRef, Link, LinkKind};
use crate::model::{LinkChange, Op};

/// How an existing link differs from the desired one.
#[derive(Debug, Default)]
pub(crate) struct LinkDiff {
    /// Kind option differences (`None` when the kinds agree).
    pub kind: Option<KindDiff>,
    /// Settings other than `up` to change in place.
    pub config: LinkChange,
    /// Old values of the settings in `config`.
    pub prior: LinkChange,
    /// New administrative state, when it differs.
    pub up: Option<bool>,
    /// Every differing field, for status.
    pub fields: Vec<FieldDiff>,
}

/// Compare a desired link with an observed one, looking only at what the file sets.
pub(crate) fn compare(want: &Link, have: &Link) -> LinkDiff {
    let mut d = LinkDiff::default();
    if want.kind == LinkKind::External {
        return d;
    }
    match kind::compare(&want.kind, &have.kind) {
        KindDiff::Same => {}
        KindDiff::Change(partial, fields) => {
            d.fields.extend(fields.iter().cloned());
            d.config.kind = Some((*partial).clone());
            d.prior.kind = Some(have.kind.clone());
            d.kind = Some(KindDiff::Change(partial, fields));
        }
        KindDiff::Recreate(fields) => {
            d.fields.extend(fields.iter().cloned());
            d.kind = Some(KindDiff::Recreate(fields));
        }
    }
    if let Some(mtu) = want.mtu.filter(|m| have.mtu != Some(*m)) {
        d.field("mtu", &want.mtu, &have.mtu);
        d.config.mtu = Some(mtu);
        d.prior.mtu = have.mtu;
    }
    if let Some(mac) = want.mac.filter(|m| have.mac != Some(*m)) {
        d.field("mac", &want.mac, &have.mac);
        d.config.mac = Some(mac);
        d.prior.mac = have.mac;
    }
    // A port leaving its master is released, even though the file "sets" nothing.
    if want.master != have.master && want.kind != LinkKind::Loopback {
        d.field("master", &want.master, &have.master);
        d.config.master = Some(want.master.clone());
        d.prior.master = Some(have.master.clone());
        if want.master.is_some() && want.port.is_some() {
            d.config.port = want.port.clone();
            d.prior.port = have.port.clone();
        }
    } else if let Some(p) = &want.port {
        if let Some((partial, fields)) = kind::compare_port(p, have.port.as_ref()) {
            d.fields.extend(fields);
            d.config.port = Some(partial);
            d.prior.port = have.port.clone();
        }
    }
    if let Some(up) = want.up.filter(|u| have.up != Some(*u)) {
        d.field("up", &want.up, &have.up);
        d.up = Some(up);
    }
    d
}

impl LinkDiff {
    fn field<T: serde::Serialize>(&mut self, name: &str, want: &T, have: &T) {
        self.fields.push(FieldDiff {
            field: name.to_string(),
            want: kind::show(want),
            have: kind::show(have),
        });
    }
}

/// True when `master` in `node` takes its ports over rtnetlink and, as
/// the kernel does for a bond, refuses a port that is up and opens each
/// port it takes (see [`crate::effects::link`]); a team's ports are
/// teamd's (see `teamd`).
pub(super) fn is_bond(ctx: &Ctx, node: &str, master: &str) -> bool {
    ctx.want(node).links.get(master).is_some_and(|b| {
        b.kind.facts().refuses_up_port()
            && b.kind.facts().opens_enslaved_port()
            && !teamd::is_team(ctx, node, master)
    })
}

/// In-place changes of an existing link.
pub(super) fn changes(
    ctx: &Ctx,
    me: &IfRef,
    want: &Link,
    have: &Link,
    out: &mut Vec<Pending>,
    mtus: &mut Vec<(isize, Pending)>,
) {
    let mut diff = compare(want, have);
    // The master the link had, when it goes.
    let old_master = ctx
        .observed
        .nodes
        .get(&me.node)
        .and_then(|n| n.links.get(&me.name))
        .and_then(|l| l.master.as_ref())
        .map(|m| iref(&me.node, m))
        .filter(|m| ctx.gone.contains(m));
    // Team options and a team port's master and options are teamd's: a
    // difference restarts teamd (see `teamd`) instead of changing the link.
    if matches!(want.kind, LinkKind::Team(_)) {
        diff.config.kind = None;
        diff.prior.kind = None;
    }
    if let Some(team) = want
        .master
        .as_ref()
        .filter(|m| teamd::is_team(ctx, &me.node, m))
    {
        diff.config.master = None;
        diff.config.port = None;
        diff.prior.master = None;
        diff.prior.port = None;
        // A teamd (re)start opens the port again; down waits for it (Key::Config).
        if want.up == Some(false) && diff.up.is_none() && teamd::restarts(ctx, &me.node, team) {
            diff.up = Some(false);
        }
    }
    if want.kind != LinkKind::Loopback {
        mtus.extend(mtu::split(
            ctx,
            me,
            (want, have),
            &mut diff.config,
            &mut diff.prior,
        ));
    }
    if want.kind != LinkKind::Loopback && !diff.config.is_empty() {
        let mut needs = Vec::new();
        if let Some(Some(m)) = &diff.config.master {
            needs.push(Key::Link(iref(&me.node, m)));
            // Moving from a master that goes: after it went, so that
            // rollback gives the port back to it only once this change is
            // undone (see apply::undo).
            needs.extend(old_master.clone().map(Key::LinkGone));
            // A bond refuses a port that is up ("Device can not be
            // enslaved while up") and opens it itself once enslaved.
            if is_bond(ctx, &me.node, m) {
                if have.up == Some(true) {
                    out.push(down_to_enslave(me));
                    needs.push(Key::Down(me.clone()));
                }
                if want.up == Some(false) && diff.up.is_none() {
                    diff.up = Some(false);
                }
            }
        }
        out.push(set_link(me, diff.config, diff.prior, needs));
    }
    if diff.up == Some(false) && have.up == Some(true) {
        // Down flushes the link's IPv6 addresses, unless keep_addr_on_down
        // is on: those the file keeps are deleted before it and added
        // again after, and new ones are added after it, so the result is
        // the same either way.
        let kept: Vec<Address> = have
            .addresses
            .iter()
            .filter(|h| h.net.addr().is_ipv6() && !address::kernel_made(&h.net))
            .filter(|h| want.addresses.iter().any(|w| w.net == h.net))
            .copied()
            .collect();
        let rest: Vec<Address> = have
            .addresses
            .iter()
            .filter(|h| !kept.contains(h))
            .copied()
            .collect();
        let from = out.len();
        let c = address::change(want, &rest);
        address::plan_link(me, &rest, &c, ctx.flushed_by(me), out);
        for p in &mut out[from..] {
            if matches!(&p.op, Op::AddAddress { addr, .. } if addr.net.addr().is_ipv6()) {
                p.phase = Phase::Readd;
                p.needs.push(Key::Up(me.clone()));
            }
        }
        out.extend(kept.iter().map(|h| address::del(me, h)));
    } else {
        let c = address::change(want, &have.addresses);
        address::plan_link(me, &have.addresses, &c, ctx.flushed_by(me), out);
    }
    if let Some(up) = diff.up {
        let mut step = set_up(me, want, up, have.up);
        // After the old master went (a bond or team closes its ports).
        step.needs.extend(old_master.map(Key::LinkGone));
        if !up {
            // Down takes every route and IPv6 address of the link along:
            // deleting one afterwards would fail (ESRCH, EADDRNOTAVAIL).
            step.needs.push(Key::Cleared(me.clone()));
        }
        out.push(step);
    }
}

/// A SetLink of settings other than `up`.
pub(super) fn set_link(
    me: &IfRef,
    change: LinkChange,
    prior: LinkChange,
    mut needs: Vec<Key>,
) -> Pending {
    needs.push(Key::Netns(me.node.clone()));
    needs.push(Key::Link(me.clone()));
    let op = Op::set_link(me, change, prior);
    Pending::new(Phase::Config, op, needs, vec![Key::Config(me.clone())])
}

/// A SetLink taking an up link down, just before it is enslaved to a bond.
fn down_to_enslave(me: &IfRef) -> Pending {
    let needs = vec![
        Key::Netns(me.node.clone()),
        Key::Link(me.clone()),
        Key::Cleared(me.clone()),
    ];
    let op = up_op(me, false, Some(true));
    Pending::new(Phase::Config, op, needs, vec![Key::Down(me.clone())])
}

/// The SetLink of the administrative state alone.
fn up_op(me: &IfRef, up: bool, prior: Option<bool>) -> Op {
    Op::set_link(
        me,
        LinkChange::only_up(Some(up)),
        LinkChange::only_up(prior),
    )
}

/// The SetLink of the MTU alone.
pub(super) fn mtu_op(me: &IfRef, mtu: u32, prior: Option<u32>) -> Op {
    Op::set_link(
        me,
        LinkChange::only_mtu(Some(mtu)),
        LinkChange::only_mtu(prior),
    )
}

/// A SetLink of the administrative state, after the node's sysctls and the link's own settings.
pub(super) fn set_up(me: &IfRef, want: &Link, up: bool, prior: Option<bool>) -> Pending {
    let op = up_op(me, up, prior);
    let mut needs = vec![
        Key::Netns(me.node.clone()),
        Key::Link(me.clone()),
        Key::Config(me.clone()),
        Key::Sysctl(me.node.clone()),
        Key::LinkSysctl(me.clone()),
    ];
    // A device that opens only over an open lower (a vlan) waits for it.
    if up && want.kind.facts().follows_lower_state() {
        needs.extend(want.kind.lower().cloned().map(Key::Up));
    }
    Pending::new(Phase::Up, op, needs, vec![Key::Up(me.clone())])
}
