//! MTUs the kernel changes along with a link's.
use super::link::{find, ports_of, Stacks};
use super::{Effects, Follow};
use crate::model::{IfRef, LinkKind, Network};

/// Whether the kernel may change a link's MTU when its lower's changes.
pub fn follows_lower(kind: &LinkKind) -> bool {
    kind.facts().takes_lower_mtu() || kind.facts().shrinks_with_lower()
}

/// The MTU a link stacked on a lower gets when the lower's becomes `lower`,
/// or `None` when it keeps its own (`own`, unknown as the default 1500).
pub fn follower_mtu(kind: &LinkKind, own: Option<u32>, lower: u32) -> Option<u32> {
    let own_or_default = own.unwrap_or(1500);
    if kind.facts().takes_lower_mtu() {
        (own != Some(lower)).then_some(lower)
    } else if kind.facts().shrinks_with_lower() && own_or_default > lower {
        Some(lower)
    } else {
        None
    }
}

/// Setting `me`'s MTU to `mtu`: what is stacked on it follows (and what is
/// stacked on those, breadth first, so a lower comes before its uppers);
/// a bond or team gives its ports the new MTU.
pub(super) fn changed(before: &Network, me: &IfRef, mtu: u32, e: &mut Effects) {
    let stacks = Stacks::of(before);
    if let Some(l) = find(before, me) {
        if l.kind.facts().sets_port_mtu() {
            for (p, port) in ports_of(before, me) {
                if port.mtu != Some(mtu) {
                    e.follows.push(Follow::Mtu {
                        link: p,
                        from: port.mtu,
                        to: mtu,
                    });
                }
            }
        }
    }
    let mut level = vec![(me.clone(), mtu)];
    while !level.is_empty() {
        let mut next = Vec::new();
        for (lower, lower_mtu) in &level {
            for up in stacks.on(lower) {
                let Some(l) = find(before, up) else { continue };
                if let Some(to) = follower_mtu(&l.kind, l.mtu, *lower_mtu) {
                    e.follows.push(Follow::Mtu {
                        link: up.clone(),
                        from: l.mtu,
                        to,
                    });
                    next.push((up.clone(), to));
                }
            }
        }
        level = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effects::iref;
    use crate::model::{IpvlanOptions, Link, MacvlanOptions, Node, HOST};

    fn stacked(name: &str, lower: &str, mtu: u32, ipvlan: bool) -> Link {
        let lower = Some(iref(HOST, lower));
        let kind = if ipvlan {
            LinkKind::Ipvlan(IpvlanOptions {
                lower,
                ..Default::default()
            })
        } else {
            LinkKind::Macvlan(MacvlanOptions {
                lower,
                ..Default::default()
            })
        };
        let mut l = Link::new(name, kind);
        l.mtu = Some(mtu);
        l
    }

    /// macvlan_device_event shrinks a larger macvlan and leaves a smaller
    /// one; ipvlan_device_event gives an ipvlan the lower's MTU either way;
    /// the change goes on up the stack.
    #[test]
    fn stacked_links_shrink_or_take_the_lower_mtu_up_the_stack() {
        let mut n = Node::default();
        let mut up0 = Link::veth("up0", "c1", "eth0");
        up0.mtu = Some(9000);
        for l in [
            up0,
            stacked("big", "up0", 9000, false),
            stacked("small", "up0", 1400, false),
            stacked("ipv", "up0", 9000, true),
            stacked("onbig", "big", 8000, false),
        ] {
            n.links.insert(l.name.clone(), l);
        }
        let net = Network {
            name: "t".into(),
            nodes: [(HOST.into(), n)].into(),
        };
        let mut e = Effects::default();
        changed(&net, &iref(HOST, "up0"), 1500, &mut e);
        let got: Vec<(String, u32)> = e
            .follows
            .iter()
            .map(|f| match f {
                Follow::Mtu { link, to, .. } => (link.name.clone(), *to),
                other => panic!("{other:?}"),
            })
            .collect();
        assert!(got.contains(&("big".into(), 1500)), "{got:?}");
        assert!(got.contains(&("ipv".into(), 1500)), "{got:?}");
        assert!(got.contains(&("onbig".into(), 1500)), "{got:?}");
        assert!(!got.iter().any(|(n, _)| n == "small"), "{got:?}");
        let onbig = got.iter().position(|(n, _)| n == "onbig").unwrap();
        let big = got.iter().position(|(n, _)| n == "big").unwrap();
        assert!(big < onbig, "a lower before what is stacked on it");
        assert_eq!(follower_mtu(&n_kind(true), Some(1400), 9000), Some(9000));
        assert_eq!(follower_mtu(&n_kind(false), Some(1400), 9000), None);
    }

    fn n_kind(ipvlan: bool) -> LinkKind {
        stacked("x", "y", 1, ipvlan).kind
    }
}
