//! bridge: every IFLA_BR_* option can be changed on a live bridge; a bridge
//! built with many ports gets multicast snooping only once they are up.
use super::Diffs;
use crate::model::{BridgeOptions, BridgePort, IfRef, Link, LinkKind};
use crate::model::{LinkChange, Op};
use crate::plan::effect::{iref, Ctx};
use crate::plan::graph::{Key, Pending, Phase};

/// Compare bridge options; all are changeable in place.
pub(super) fn compare(w: &BridgeOptions, h: &BridgeOptions, d: &mut Diffs) -> BridgeOptions {
    BridgeOptions {
        stp: d.opt("stp", &w.stp, &h.stp, false),
        forward_delay: d.opt("forward_delay", &w.forward_delay, &h.forward_delay, false),
        hello_time: d.opt("hello_time", &w.hello_time, &h.hello_time, false),
        max_age: d.opt("max_age", &w.max_age, &h.max_age, false),
        priority: d.opt("priority", &w.priority, &h.priority, false),
        // Unknown during a spanning tree topology change (see
        // kernel::observe): left alone rather than set on every `up`.
        ageing_time: match h.ageing_time {
            Some(_) => d.opt("ageing_time", &w.ageing_time, &h.ageing_time, false),
            None => None,
        },
        mcast_snooping: d.opt(
            "mcast_snooping",
            &w.mcast_snooping,
            &h.mcast_snooping,
            false,
        ),
        vlan_filtering: d.opt(
            "vlan_filtering",
            &w.vlan_filtering,
            &h.vlan_filtering,
            false,
        ),
        vlan_protocol: d.opt("vlan_protocol", &w.vlan_protocol, &h.vlan_protocol, false),
        default_pvid: d.opt("default_pvid", &w.default_pvid, &h.default_pvid, false),
        vlans: d.list("vlans", &w.vlans, &h.vlans, false),
    }
}

/// Compare bridge port options; all are changeable in place.
pub(super) fn compare_port(w: &BridgePort, h: &BridgePort, d: &mut Diffs) -> BridgePort {
    BridgePort {
        cost: d.opt("cost", &w.cost, &h.cost, false),
        priority: d.opt("priority", &w.priority, &h.priority, false),
        learning: d.opt("learning", &w.learning, &h.learning, false),
        flood: d.opt("flood", &w.flood, &h.flood, false),
        hairpin: d.opt("hairpin", &w.hairpin, &h.hairpin, false),
        isolated: d.opt("isolated", &w.isolated, &h.isolated, false),
        vlans: d.list("vlans", &w.vlans, &h.vlans, false),
    }
}

/// From this many ports on, a bridge created by the plan is built with
/// multicast snooping off (see [`quiet_bridge`]); below it, the quadratic
/// cost is small and the plan stays one op shorter.
pub(crate) const MANY_PORTS: usize = 32;

/// Whether `me`, a bridge this plan creates, is built with multicast
/// snooping off and gets it on at the end (see [`snooping_on`]): it gets
/// many ports, and the file wants snooping on (the kernel's default).
///
/// Each port the kernel enables makes it walk every port of the bridge
/// (`br_port_state_selection`), and on a snooping bridge re-arm each one's
/// multicast timers: quadratic work under RTNL, some 0.2 s of a 1000-port
/// `up`. Turned on once every port is up, snooping arms each port once.
pub(crate) fn quiet_bridge(ctx: &Ctx, me: &IfRef, want: &Link) -> bool {
    matches!(snooping(&want.kind), Some(None | Some(true))) && ports(ctx, me).count() >= MANY_PORTS
}

/// A bridge's multicast snooping setting; `None` for other kinds.
fn snooping(kind: &LinkKind) -> Option<Option<bool>> {
    match kind {
        LinkKind::Bridge(o) => Some(o.mcast_snooping),
        _ => None,
    }
}

/// The desired ports of bridge (or other master) `me`, in its node.
fn ports<'a>(ctx: &'a Ctx, me: &'a IfRef) -> impl Iterator<Item = (&'a String, &'a Link)> {
    ctx.want(&me.node)
        .links
        .iter()
        .filter(|(_, l)| l.master.as_deref() == Some(me.name.as_str()))
}

/// For a bridge built quiet (see [`quiet_bridge`]): turn multicast snooping
/// on once the bridge, its ports and their veth peers are up.
pub(crate) fn snooping_on(ctx: &Ctx, me: &IfRef, want: &Link) -> Option<Pending> {
    quiet_bridge(ctx, me, want).then(|| turn_snooping_on(ctx, me))
}

/// The op turning bridge `me`'s multicast snooping on after its ports are up.
fn turn_snooping_on(ctx: &Ctx, me: &IfRef) -> Pending {
    let only = |on: bool| LinkChange {
        kind: Some(LinkKind::Bridge(BridgeOptions {
            mcast_snooping: Some(on),
            ..Default::default()
        })),
        ..LinkChange::default()
    };
    let mut needs = vec![
        Key::Netns(me.node.clone()),
        Key::Link(me.clone()),
        Key::Up(me.clone()),
    ];
    for (name, l) in ports(ctx, me) {
        needs.push(Key::Up(iref(&me.node, name)));
        if let LinkKind::Veth(v) = &l.kind {
            needs.extend(v.peer.iter().map(|p| Key::Up(p.clone())));
        }
    }
    let op = Op::SetLink {
        node: me.node.clone(),
        name: me.name.clone(),
        change: only(true),
        prior: only(false),
    };
    // Nothing waits for it: the bridge forwards either way.
    Pending::new(Phase::Up, op, needs, Vec::new())
}

/// A new bridge's `mtu` again, once its ports are enslaved: the kernel sets
/// a bridge to its ports' smallest MTU whenever a port joins, unless its MTU
/// was changed after creation (br_mtu_auto_adjust skips a bridge with
/// BROPT_MTU_SET_BY_USER, which only ndo_change_mtu sets, not IFLA_MTU at
/// creation). The bridge is still made with it, for devices stacked on it.
pub(crate) fn mtu_after_ports(ctx: &Ctx, me: &IfRef, want: &Link) -> Option<Pending> {
    let LinkKind::Bridge(_) = want.kind else {
        return None;
    };
    let mut needs = vec![Key::Netns(me.node.clone()), Key::Link(me.clone())];
    needs.extend(ports(ctx, me).map(|(name, _)| Key::Config(iref(&me.node, name))));
    let op = super::super::change::mtu_op(me, want.mtu?, None);
    Some(Pending::new(Phase::Config, op, needs, Vec::new()))
}

/// The bridge whose multicast snooping `op` turns on (from off), if it does:
/// what the records keep until it is done (see `state::Records::quiet_bridges`).
pub fn snooping_turned_on(op: &Op) -> Option<IfRef> {
    let Op::SetLink {
        node,
        name,
        change,
        prior,
    } = op
    else {
        return None;
    };
    let of = |c: &LinkChange| c.kind.as_ref().and_then(snooping).flatten();
    (of(change) == Some(true) && of(prior) == Some(false)).then(|| iref(node, name))
}

/// A bridge left quiet by a netloom killed before it turned snooping on
/// (the records say so) that the file leaves at the kernel's default: turn
/// it on now. (A file asking for it explicitly gets it through `compare`.)
pub(crate) fn left_quiet(ctx: &Ctx, me: &IfRef, want: &Link, have: &Link) -> Option<Pending> {
    let left = ctx.owned.quiet_bridges.contains(me)
        && snooping(&want.kind) == Some(None)
        && snooping(&have.kind) == Some(Some(false));
    left.then(|| turn_snooping_on(ctx, me))
}

#[cfg(test)]
mod tests {
    use crate::model::{Link, LinkKind, Network, Node};
    use crate::plan::{up, Owned};

    /// An ageing time unknown (a topology change is under way) is left
    /// alone; a known one that differs is set.
    #[test]
    fn an_unknown_ageing_time_is_left_alone() {
        use crate::model::BridgeOptions;
        use crate::plan::kind::{compare, KindDiff};
        let with = |t| {
            LinkKind::Bridge(BridgeOptions {
                stp: Some(true),
                ageing_time: t,
                ..Default::default()
            })
        };
        assert_eq!(compare(&with(Some(12000)), &with(None)), KindDiff::Same);
        assert!(matches!(
            compare(&with(Some(12000)), &with(Some(800))),
            KindDiff::Change(..)
        ));
    }

    /// Bridge br0 in `host` with `n` veth ports p1..pn, each into node c<i>.
    fn bridged(n: usize, snooping: Option<bool>) -> Network {
        use crate::model::BridgeOptions;
        let mut host = Node::default();
        let mut br = Link::new(
            "br0",
            LinkKind::Bridge(BridgeOptions {
                mcast_snooping: snooping,
                ..Default::default()
            }),
        );
        br.up = Some(true);
        host.links.insert("br0".into(), br);
        let mut nodes: Vec<(String, Node)> = Vec::new();
        for i in 1..=n {
            let (port, node) = (format!("p{i}"), format!("c{i}"));
            let mut l = Link::veth(&port, &node, "eth0");
            l.master = Some("br0".into());
            l.up = Some(true);
            host.links.insert(port.clone(), l);
            let mut c = Node::default();
            let mut peer = Link::veth("eth0", "host", &port);
            peer.up = Some(true);
            c.links.insert("eth0".into(), peer);
            nodes.push((node, c));
        }
        nodes.push(("host".into(), host));
        Network {
            name: "t".into(),
            nodes: nodes.into_iter().collect(),
        }
    }

    fn lines_of(desired: &Network) -> (crate::plan::Plan, Vec<String>) {
        let observed = Network {
            name: "t".into(),
            nodes: [("host".into(), Node::default())].into(),
        };
        let plan = up(desired, &observed, &Owned::default()).expect("no conflicts");
        let lines = plan.steps.iter().map(|s| s.op.to_string()).collect();
        (plan, lines)
    }

    #[test]
    fn a_new_bridge_with_many_ports_turns_snooping_on_after_they_are_up() {
        let n = super::MANY_PORTS;
        let (plan, lines) = lines_of(&bridged(n, None));
        let at = |line: &str| crate::plan::step_at(&lines, line);
        let add = at("host: link add br0 type bridge mcast_snooping false");
        let on = at("host: link set br0 type bridge mcast_snooping true");
        assert!(add < on);
        let after = &plan.steps[on].after;
        assert!(after.contains(&at("host: link set br0 up")), "{plan}");
        for i in 1..=n {
            assert!(
                after.contains(&at(&format!("host: link set p{i} up"))),
                "{plan}"
            );
            assert!(
                after.contains(&at(&format!("c{i}: link set eth0 up"))),
                "{plan}"
            );
        }
        assert!(
            plan.steps.iter().all(|s| !s.after.contains(&on)),
            "nothing waits for it: {plan}"
        );
        // Asked for explicitly, it is the same.
        let (_, explicit) = lines_of(&bridged(n, Some(true)));
        assert!(explicit.contains(&lines[on]), "{explicit:#?}");
    }

    #[test]
    fn a_bridge_with_few_ports_or_snooping_off_is_built_as_asked() {
        let n = super::MANY_PORTS;
        for (net, snooping) in [
            (bridged(n - 1, None), ""),
            (bridged(n, Some(false)), " mcast_snooping false"),
        ] {
            let (_, lines) = lines_of(&net);
            let add = format!("host: link add br0 type bridge{snooping}");
            assert!(lines.contains(&add), "no `{add}` in {lines:#?}");
            assert!(
                !lines.iter().any(|l| l.contains("link set br0 type bridge")),
                "{lines:#?}"
            );
        }
    }

    /// A bridge left with snooping off by a netloom killed before turning
    /// it on (the records name it) gets it on at the next `up`; one the
    /// records do not name is the file's business (snooping unset).
    #[test]
    fn a_bridge_left_quiet_gets_snooping_on_at_the_next_up() {
        let desired = bridged(2, None);
        let mut observed = desired.clone();
        for n in observed.nodes.values_mut() {
            for l in n.links.values_mut() {
                l.alias = Some("netloom:t".into());
                if let LinkKind::Bridge(o) = &mut l.kind {
                    o.mcast_snooping = Some(false);
                }
            }
        }
        let on = "host: link set br0 type bridge mcast_snooping true";
        let mut owned = Owned::default();
        owned
            .namespaces
            .extend(["c1".to_string(), "c2".to_string()]);
        let plan = up(&desired, &observed, &owned).expect("no conflicts");
        assert!(plan.steps.is_empty(), "{plan}");
        owned.quiet_bridges.insert(crate::model::IfRef {
            node: "host".into(),
            name: "br0".into(),
        });
        let plan = up(&desired, &observed, &owned).expect("no conflicts");
        let lines: Vec<String> = plan.steps.iter().map(|s| s.op.to_string()).collect();
        assert_eq!(lines, vec![on.to_string()], "{plan}");
        assert_eq!(
            crate::plan::snooping_turned_on(&plan.steps[0].op),
            owned.quiet_bridges.first().cloned()
        );
    }
}
