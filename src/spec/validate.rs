//! Checks across interfaces and nodes, run once everything is decoded: the rules
//! the kernel would otherwise enforce with a bare EBUSY or EINVAL.
use std::collections::BTreeMap;

use super::decode::{suggest, Ctx};
use crate::model::{IfRef, Link, LinkKind, Node};

/// Runs every cross-reference check; errors go to `cx`.
pub fn validate(cx: &mut Ctx, nodes: &BTreeMap<String, Node>) {
    lowers(cx, nodes);
    super::kind::check(cx, nodes);
    master_cycles(cx, nodes);
    lower_cycles(cx, nodes);
    port_addresses(cx, nodes);
    super::mtu::check(cx, nodes);
    for (name, n) in nodes {
        super::route::check(cx, name, n);
        nat(cx, name, n);
    }
}

fn unknown_iface(
    cx: &mut Ctx,
    at_key: &str,
    fallback: &str,
    r: &IfRef,
    nodes: &BTreeMap<String, Node>,
) {
    let at = cx.loc(at_key, fallback);
    match nodes.get(&r.node) {
        None => {
            let names: Vec<&str> = nodes.keys().map(String::as_str).collect();
            cx.err(
                at,
                format!("unknown node `{}`", r.node),
                Some(suggest(&r.node, &names, "nodes")),
            );
        }
        Some(n) => {
            let names: Vec<&str> = n.links.keys().map(String::as_str).collect();
            cx.err(
                at,
                format!("unknown interface `{r}`"),
                Some(suggest(
                    &r.name,
                    &names,
                    &format!("interfaces of `{}`", r.node),
                )),
            );
        }
    }
}

/// Addresses on a port of a bond or team would not work as written: the
/// master takes every frame the port receives (its rx_handler), IPv6 does
/// not run on a bond's port (addrconf skips IFF_SLAVE devices, so their
/// addresses never finish DAD), and a port that is up when a bond takes it
/// must go down first, which flushes its IPv6 addresses.
fn port_addresses(cx: &mut Ctx, nodes: &BTreeMap<String, Node>) {
    for (node, n) in nodes {
        for (name, l) in &n.links {
            let Some(m) = aggregating_master(n, l).filter(|_| !l.addresses.is_empty()) else {
                continue;
            };
            let kind = m.kind.kernel_kind().unwrap_or("master");
            let me = format!("{node}/{name}");
            let at = cx.loc(&format!("{me}#addresses"), &me);
            cx.err(
                at,
                format!("port `{me}` of {kind} `{}` has addresses; traffic to and from a {kind}'s port goes through the {kind}", m.name),
                Some(format!("put the addresses on `{}`", m.name)),
            );
        }
    }
}

/// `l`'s master when it is a bond or team, which takes its ports over
/// (their MTU, their traffic) rather than bridging them.
pub(super) fn aggregating_master<'a>(n: &'a Node, l: &Link) -> Option<&'a Link> {
    let m = n.links.get(l.master.as_deref()?)?;
    m.kind.facts().sets_port_mtu().then_some(m)
}

/// A chain of lower devices that comes back to where it started (vx0 over
/// vx1, vx1 over vx0); a device that is its own lower is reported by `lowers`.
fn lower_cycles(cx: &mut Ctx, nodes: &BTreeMap<String, Node>) {
    let lower_of = |r: &IfRef| {
        nodes
            .get(&r.node)
            .and_then(|n| n.links.get(&r.name))
            .and_then(|l| l.kind.lower())
            .cloned()
    };
    for (node, n) in nodes {
        for (name, l) in &n.links {
            let start = IfRef {
                node: node.clone(),
                name: name.clone(),
            };
            let Some(path) = cycle_at(&start, lower_of).filter(|p| p.len() > 2) else {
                continue;
            };
            let field = if matches!(l.kind, LinkKind::Vxlan(_)) {
                "dev"
            } else {
                "lower"
            };
            let at = cx.loc(&format!("{start}#{field}"), &start.to_string());
            let names: Vec<String> = path.iter().map(IfRef::to_string).collect();
            cx.err(
                at,
                format!("lower devices form a cycle: {}", names.join(" -> ")),
                Some("a device cannot be stacked, directly or not, on itself".into()),
            );
        }
    }
}

/// The cycle that `next` leads `start` around (`start` at both ends), when
/// there is one and `start` is its smallest member: each cycle is found once.
fn cycle_at<T: Ord + Clone>(start: &T, next: impl Fn(&T) -> Option<T>) -> Option<Vec<T>> {
    let mut path = vec![start.clone()];
    while let Some(n) = next(path.last()?) {
        let closed = n == *start;
        if !closed && path.contains(&n) {
            return None;
        }
        path.push(n);
        if closed {
            return path.iter().all(|p| p >= start).then_some(path);
        }
    }
    None
}

/// Lower devices: they exist, are not the device itself, are not taken by a
/// master (macvlan on a bridge port gets EBUSY), one lower does not carry
/// both macvlan and ipvlan devices (each needs the lower's rx handler), and
/// the ipvlan devices of one lower agree on mode and flag.
fn lowers(cx: &mut Ctx, nodes: &BTreeMap<String, Node>) {
    // lower -> (first macvlan user, first ipvlan user)
    let mut users: BTreeMap<IfRef, (Option<IfRef>, Option<IfRef>)> = BTreeMap::new();
    // lower -> its ipvlan port's (mode, flag), as the first device sets them
    let mut ipvlan_ports: BTreeMap<IfRef, (IfRef, String, Option<String>)> = BTreeMap::new();
    for (node, n) in nodes {
        for (name, l) in &n.links {
            let Some(lower) = l.kind.lower() else {
                continue;
            };
            let me = IfRef {
                node: node.clone(),
                name: name.clone(),
            };
            let field = if matches!(l.kind, LinkKind::Vxlan(_)) {
                "dev"
            } else {
                "lower"
            };
            let key = format!("{me}#{field}");
            let fallback = me.to_string();
            if *lower == me {
                let at = cx.loc(&key, &fallback);
                cx.err(at, format!("`{me}` cannot be its own {field}"), None);
                continue;
            }
            let Some(low) = nodes
                .get(&lower.node)
                .and_then(|n| n.links.get(&lower.name))
            else {
                unknown_iface(cx, &key, &fallback, lower, nodes);
                continue;
            };
            let is_mac = matches!(l.kind, LinkKind::Macvlan(_) | LinkKind::Macvtap(_));
            let is_ip = matches!(l.kind, LinkKind::Ipvlan(_) | LinkKind::Ipvtap(_));
            if let (true, LinkKind::Tun(t)) = (
                is_mac || is_ip || matches!(l.kind, LinkKind::Vlan(_)),
                &low.kind,
            ) {
                if t.mode == "tun" {
                    let at = cx.loc(&key, &fallback);
                    let kind = l.kind.kernel_kind().unwrap_or("device");
                    cx.err(
                        at,
                        format!("lower `{lower}` is a tun, which carries IP packets, not Ethernet frames; the kernel refuses a {kind} on it"),
                        Some(format!("a {kind} needs an Ethernet lower (macvlan_port_create, ipvlan_link_new: EINVAL; vlan_check_real_dev: EOPNOTSUPP): use `kind: tap` for `{}`", lower.name)),
                    );
                    continue;
                }
            }
            if let (true, Some(m)) = (is_mac || is_ip, &low.master) {
                let at = cx.loc(&key, &fallback);
                cx.err(
                    at,
                    format!(
                        "lower `{lower}` is a port of `{m}`; the kernel refuses a {} on it (EBUSY)",
                        l.kind.kernel_kind().unwrap_or("device")
                    ),
                    Some(format!(
                        "put the {} on `{m}` itself, or take `{}` out of `{m}`'s ports",
                        l.kind.kernel_kind().unwrap_or("device"),
                        lower.name
                    )),
                );
                continue;
            }
            if let LinkKind::Ipvlan(o) | LinkKind::Ipvtap(o) = &l.kind {
                ipvlan_port(cx, &mut ipvlan_ports, &me, lower, o);
            }
            let slot = users.entry(lower.clone()).or_default();
            let clash = if is_mac {
                slot.0.get_or_insert_with(|| me.clone());
                slot.1.clone()
            } else if is_ip {
                slot.1.get_or_insert_with(|| me.clone());
                slot.0.clone()
            } else {
                None
            };
            if let Some(other) = clash {
                // Report at whichever of the two is written later in the file.
                let mine = cx.loc(&key, &fallback);
                let theirs = cx.loc(&format!("{other}#lower"), &other.to_string());
                let (at, first) = if mine.offset >= theirs.offset {
                    (mine, &other)
                } else {
                    (theirs, &me)
                };
                cx.err(
                    at,
                    format!("lower `{lower}` already carries `{first}`; the kernel refuses macvlan and ipvlan devices on the same lower"),
                    Some("give the macvlan and ipvlan devices different lower devices".into()),
                );
            }
        }
    }
}

/// The kernel keeps one ipvlan mode and one flag per lower device (the
/// lower's ipvlan port): each new device sets them for all its siblings, the
/// mode to `l3` when it names none. Devices that disagree would undo each
/// other and never converge, so they are refused.
fn ipvlan_port(
    cx: &mut Ctx,
    ports: &mut BTreeMap<IfRef, (IfRef, String, Option<String>)>,
    me: &IfRef,
    lower: &IfRef,
    o: &crate::model::IpvlanOptions,
) {
    let mode = o.mode.clone().unwrap_or_else(|| "l3".to_string());
    let Some((first, their_mode, their_flag)) = ports.get(lower).cloned() else {
        ports.insert(lower.clone(), (me.clone(), mode, o.flag.clone()));
        return;
    };
    let fallback = format!("{me}#lower");
    if mode != their_mode {
        let at = cx.loc(&format!("{me}#mode"), &fallback);
        cx.err(
            at,
            format!("mode {mode} differs from mode {their_mode} of `{first}` on the same lower `{lower}`; the kernel keeps one ipvlan mode per lower device"),
            Some(format!("use mode {their_mode} here too, or give `{}` its own lower device", me.name)),
        );
    }
    match (&o.flag, their_flag) {
        (Some(f), Some(theirs)) if *f != theirs => {
            let at = cx.loc(&format!("{me}#flag"), &fallback);
            cx.err(
                at,
                format!("flag {f} differs from flag {theirs} of `{first}` on the same lower `{lower}`; the kernel keeps one ipvlan flag per lower device"),
                Some(format!("use flag {theirs} here too, or give `{}` its own lower device", me.name)),
            );
        }
        (Some(f), None) => {
            if let Some(p) = ports.get_mut(lower) {
                p.2 = Some(f.clone());
            }
        }
        _ => {}
    }
}

/// A master chain that comes back to where it started (br0 in br1, br1 in br0).
fn master_cycles(cx: &mut Ctx, nodes: &BTreeMap<String, Node>) {
    for (node, n) in nodes {
        for name in n.links.keys() {
            let master_of = |l: &&str| n.links.get(*l).and_then(|l| l.master.as_deref());
            if let Some(path) = cycle_at(&name.as_str(), master_of) {
                let at = cx.loc(&format!("{node}/{name}#master"), &format!("{node}/{name}"));
                cx.err(
                    at,
                    format!("masters form a cycle: {}", path.join(" -> ")),
                    Some(
                        "a bridge, bond or team cannot be, directly or not, a port of itself"
                            .into(),
                    ),
                );
            }
        }
    }
}

fn nat(cx: &mut Ctx, node: &str, n: &Node) {
    let names: Vec<&str> = n.links.keys().map(String::as_str).collect();
    for (i, m) in n.nat.iter().enumerate() {
        if !n.links.contains_key(&m.out) {
            let at = cx.loc(&format!("{node}#nat{i}.out"), node);
            cx.err(
                at,
                format!("nat out `{}` is not an interface of node `{node}`", m.out),
                Some(suggest(&m.out, &names, &format!("interfaces of `{node}`"))),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{BridgeOptions, IpvlanOptions, Link, MacvlanOptions};

    fn node(links: Vec<Link>) -> Node {
        let mut n = Node::default();
        for l in links {
            n.links.insert(l.name.clone(), l);
        }
        n
    }

    fn run(nodes: &BTreeMap<String, Node>) -> Vec<String> {
        let mut cx = Ctx::default();
        validate(&mut cx, nodes);
        cx.errors.into_iter().map(|e| e.message).collect()
    }

    fn lower(node: &str, name: &str) -> Option<IfRef> {
        Some(IfRef {
            node: node.into(),
            name: name.into(),
        })
    }

    #[test]
    fn macvlan_on_a_bridge_port_is_refused() {
        let mut port = Link::new("d0", LinkKind::Dummy(Default::default()));
        port.master = Some("br0".into());
        let mv = Link::new(
            "mv0",
            LinkKind::Macvlan(MacvlanOptions {
                lower: lower("a", "d0"),
                ..Default::default()
            }),
        );
        let nodes = BTreeMap::from([(
            "a".to_string(),
            node(vec![
                Link::new("br0", LinkKind::Bridge(BridgeOptions::default())),
                port,
                mv,
            ]),
        )]);
        assert!(run(&nodes)[0].contains("is a port of `br0`"));
    }

    #[test]
    fn macvlan_and_ipvlan_may_not_share_a_lower_across_nodes() {
        let mv = Link::new(
            "mv0",
            LinkKind::Macvlan(MacvlanOptions {
                lower: lower("w", "eth0"),
                ..Default::default()
            }),
        );
        let ip = Link::new(
            "ip0",
            LinkKind::Ipvtap(IpvlanOptions {
                lower: lower("w", "eth0"),
                ..Default::default()
            }),
        );
        let nodes = BTreeMap::from([
            (
                "w".to_string(),
                node(vec![Link::new("eth0", LinkKind::Dummy(Default::default()))]),
            ),
            ("a".to_string(), node(vec![mv])),
            ("b".to_string(), node(vec![ip])),
        ]);
        let errs = run(&nodes);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].contains("macvlan and ipvlan"));
    }

    #[test]
    fn two_macvlans_on_one_lower_are_fine_and_missing_lowers_are_not() {
        let mv = |n: &str| {
            Link::new(
                n,
                LinkKind::Macvlan(MacvlanOptions {
                    lower: lower("a", "eth0"),
                    ..Default::default()
                }),
            )
        };
        let nodes = BTreeMap::from([(
            "a".to_string(),
            node(vec![
                Link::new("eth0", LinkKind::Dummy(Default::default())),
                mv("m1"),
                mv("m2"),
            ]),
        )]);
        assert!(run(&nodes).is_empty());
        let nodes = BTreeMap::from([("a".to_string(), node(vec![mv("m1")]))]);
        assert!(run(&nodes)[0].contains("unknown interface `a/eth0`"));
    }

    #[test]
    fn ipvlans_of_one_lower_agree_on_mode_and_flag() {
        let iv = |n: &str, low: &str, mode: Option<&str>, flag: Option<&str>| {
            Link::new(
                n,
                LinkKind::Ipvlan(IpvlanOptions {
                    lower: lower("a", low),
                    mode: mode.map(String::from),
                    flag: flag.map(String::from),
                    ..Default::default()
                }),
            )
        };
        let net = |links: Vec<Link>| {
            let mut all = vec![
                Link::new("d0", LinkKind::Dummy(Default::default())),
                Link::new("d1", LinkKind::Dummy(Default::default())),
            ];
            all.extend(links);
            BTreeMap::from([("a".to_string(), node(all))])
        };
        // Same mode (an unset mode is the kernel's l3), one flag: fine.
        let ok = net(vec![
            iv("i1", "d0", Some("l3"), Some("private")),
            iv("i2", "d0", None, None),
            iv("i3", "d1", Some("l2"), Some("vepa")),
        ]);
        assert!(run(&ok).is_empty(), "{:?}", run(&ok));
        let errs = run(&net(vec![
            iv("i1", "d0", Some("l2"), None),
            iv("i2", "d0", None, Some("bridge")),
            iv("i3", "d0", Some("l2"), Some("vepa")),
        ]));
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(
            errs[0].contains("mode l3 differs from mode l2 of `a/i1`"),
            "{errs:?}"
        );
        assert!(
            errs[1].contains("flag vepa differs from flag bridge of `a/i1`"),
            "{errs:?}"
        );
    }

    #[test]
    fn master_cycles_are_found_once() {
        let mut b0 = Link::new("b0", LinkKind::Bridge(BridgeOptions::default()));
        let mut b1 = Link::new("b1", LinkKind::Bridge(BridgeOptions::default()));
        let mut b2 = Link::new("b2", LinkKind::Bridge(BridgeOptions::default()));
        b0.master = Some("b1".into());
        b1.master = Some("b2".into());
        b2.master = Some("b0".into());
        let nodes = BTreeMap::from([("a".to_string(), node(vec![b0, b1, b2]))]);
        let errs = run(&nodes);
        assert_eq!(errs, ["masters form a cycle: b0 -> b1 -> b2 -> b0"]);
    }
}
