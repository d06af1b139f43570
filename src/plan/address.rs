//! Addresses: compared by prefix only (DAD is a creation flag the kernel does
//! not report back).
use ipnet::IpNet;

use super::graph::{Key, Pending, Phase};
use crate::model::Op;
use crate::model::{Address, IfRef, Link, LinkKind};

/// Addresses the kernel makes by itself, which netloom never removes: IPv6
/// link-local ones (on every link that goes up).
pub(crate) fn kernel_made(net: &IpNet) -> bool {
    match net {
        IpNet::V6(n) => (n.addr().segments()[0] & 0xffc0) == 0xfe80,
        IpNet::V4(_) => false,
    }
}

/// AddAddress for desired addresses the link lacks; DelAddress for ones it
/// has but the file does not list (never on loopback, never link-local).
pub(crate) fn plan_link(me: &IfRef, want: &Link, have: &[Address], out: &mut Vec<Pending>) {
    for a in &want.addresses {
        if have.iter().any(|h| h.net == a.net) {
            continue;
        }
        let op = Op::AddAddress {
            node: me.node.clone(),
            link: me.name.clone(),
            addr: *a,
        };
        let mut needs = vec![
            Key::Netns(me.node.clone()),
            Key::Link(me.clone()),
            Key::AddrGone(me.node.clone(), a.net),
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
    if want.kind == LinkKind::Loopback {
        return;
    }
    for h in have {
        if kernel_made(&h.net) || want.addresses.iter().any(|a| a.net == h.net) {
            continue;
        }
        out.push(del(me, h));
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
