//! Addresses: compared by prefix only (DAD is a creation flag the kernel does
//! not report back). Deletions are ordered by what the kernel takes along
//! (see [`crate::effects::address`]): a primary's secondaries go first (the
//! ones to keep are deleted and added again, so that the outcome does not
//! depend on `promote_secondaries`), every deletion on a link comes before
//! its additions (so a new address never becomes a secondary of one on its
//! way out), and the routes the kernel flushes with a link's last IPv4
//! address are added again after it.
use std::net::IpAddr;

use ipnet::IpNet;

use super::graph::{Key, Pending, Phase};
use crate::effects::address::secondaries_of;
use crate::model::{Address, IfRef, Link, LinkKind, Op, Route};

/// Addresses the kernel makes by itself, which netloom never removes: IPv6
/// link-local ones (on every link that goes up).
pub(crate) fn kernel_made(net: &IpNet) -> bool {
    match net {
        IpNet::V6(n) => (n.addr().segments()[0] & 0xffc0) == 0xfe80,
        IpNet::V4(_) => false,
    }
}

/// How a link's addresses change.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Change {
    /// Deletions, secondaries before primaries.
    pub del: Vec<Address>,
    /// Additions: desired addresses the link lacks, and secondaries
    /// deleted only because their primary goes.
    pub add: Vec<Address>,
    /// The link loses every IPv4 address it has: the kernel flushes its
    /// IPv4 routes (fib_inetaddr_event -> fib_disable_ip).
    pub empties_v4: bool,
}

impl Change {
    /// The addresses whose deletion takes routes preferring them along.
    pub fn gone_ips(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.del.iter().map(|a| a.net.addr())
    }
}

/// The address changes turning `have` (the link's addresses now) into
/// what `want` lists.
pub(crate) fn change(want: &Link, have: &[Address]) -> Change {
    let wanted = |a: &Address| want.addresses.iter().find(|w| w.net == a.net);
    let mut del: Vec<Address> = if want.kind == LinkKind::Loopback {
        Vec::new()
    } else {
        have.iter()
            .filter(|h| !kernel_made(&h.net) && wanted(h).is_none())
            .copied()
            .collect()
    };
    let mut readd = Vec::new();
    for p in del.clone() {
        for s in secondaries_of(have, &p) {
            if !del.iter().any(|d| d.net == s.net) {
                del.push(*s);
                readd.extend(wanted(s).copied());
            }
        }
    }
    del.sort_by_key(|a| !a.secondary);
    let mut add: Vec<Address> = want
        .addresses
        .iter()
        .filter(|a| !have.iter().any(|h| h.net == a.net))
        .copied()
        .collect();
    add.extend(readd);
    let v4 = |a: &&Address| a.net.addr().is_ipv4();
    let had = have.iter().filter(v4).count();
    let empties_v4 = had > 0 && del.iter().filter(v4).count() == had;
    Change {
        del,
        add,
        empties_v4,
    }
}

/// The routes of a node that the address changes of its link `dev` take
/// along: every IPv4 route through it when it loses its last IPv4 address,
/// and any route preferring a deleted address as its source.
pub(crate) fn flushed<'a>(
    routes: &'a [Route],
    dev: &'a str,
    c: &'a Change,
) -> impl Iterator<Item = &'a Route> + 'a {
    routes.iter().filter(move |r| {
        let through = r.dev.as_deref() == Some(dev) && r.to.addr().is_ipv4();
        (c.empties_v4 && through) || r.src.is_some_and(|s| c.gone_ips().any(|g| g == s))
    })
}

/// The ops of a link's address change `c`; `flushed` are the routes its
/// deletions take along (added again, if wanted, once they are gone).
pub(crate) fn plan_link(
    me: &IfRef,
    have: &[Address],
    c: &Change,
    flushed: &[Route],
    out: &mut Vec<Pending>,
) {
    for a in &c.add {
        let op = Op::AddAddress {
            node: me.node.clone(),
            link: me.name.clone(),
            addr: *a,
        };
        let mut needs = vec![
            Key::Netns(me.node.clone()),
            Key::Link(me.clone()),
            Key::AddrGone(me.node.clone(), a.net),
            // After every deletion on the link: an address in the subnet of
            // a primary on its way out would become its secondary and go
            // with it, and the link's routes flush once the last one goes.
            Key::Cleared(me.clone()),
            // After the link's settings: a master that cycles its ports
            // (see model::kind::Kind::cycles_ports) flushes IPv6 addresses.
            Key::Config(me.clone()),
        ];
        // The kernel refuses an IPv6 address while IPv6 is disabled on the
        // link: a sysctl write enabling it goes first.
        if a.net.addr().is_ipv6() {
            needs.push(Key::Sysctl(me.node.clone()));
            needs.push(Key::LinkSysctl(me.clone()));
        }
        out.push(Pending::new(
            Phase::AddAddress,
            op,
            needs,
            vec![Key::Addr(me.clone(), a.net)],
        ));
    }
    for d in &c.del {
        let mut p = del(me, d);
        // A primary goes after its secondaries (it would take them along).
        p.needs
            .extend(secondaries_of(have, d).map(|s| Key::AddrGone(me.node.clone(), s.net)));
        if d.net.addr().is_ipv4() {
            p.gives.extend(
                flushed
                    .iter()
                    .map(|r| Key::RouteGone(me.node.clone(), r.to, r.table_id())),
            );
        }
        out.push(p);
    }
}

/// The DelAddress of `addr` on the link: the link is then cleared of it,
/// and the prefix free for an address added after.
pub(crate) fn del(me: &IfRef, addr: &Address) -> Pending {
    let op = Op::DelAddress {
        node: me.node.clone(),
        link: me.name.clone(),
        addr: *addr,
    };
    let gives = vec![
        Key::Cleared(me.clone()),
        Key::AddrGone(me.node.clone(), addr.net),
    ];
    Pending::new(Phase::DelAddress, op, vec![], gives)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str, secondary: bool) -> Address {
        Address {
            net: s.parse().unwrap(),
            dad: false,
            secondary,
        }
    }

    fn want(addrs: &[&str]) -> Link {
        let mut l = Link::veth("eth0", "b", "eth0");
        l.addresses = addrs.iter().map(|s| a(s, false)).collect();
        l
    }

    #[test]
    fn replacing_the_only_address_empties_the_link() {
        let c = change(&want(&["10.0.0.3/24"]), &[a("10.0.0.1/24", false)]);
        assert_eq!(c.del, vec![a("10.0.0.1/24", false)]);
        assert_eq!(c.add, vec![a("10.0.0.3/24", false)]);
        assert!(c.empties_v4);
    }

    #[test]
    fn a_secondary_to_keep_is_deleted_first_and_added_again() {
        let have = [a("10.0.0.1/24", false), a("10.0.0.9/24", true)];
        let c = change(&want(&["10.0.0.9/24", "10.0.0.3/24"]), &have);
        assert_eq!(c.del, vec![a("10.0.0.9/24", true), a("10.0.0.1/24", false)]);
        assert_eq!(
            c.add,
            vec![a("10.0.0.3/24", false), a("10.0.0.9/24", false)]
        );
        assert!(c.empties_v4);
        // Deleting a secondary alone takes nothing along.
        let c = change(&want(&["10.0.0.1/24"]), &have);
        assert_eq!(c.del, vec![a("10.0.0.9/24", true)]);
        assert!(c.add.is_empty() && !c.empties_v4);
    }
}
