//! Setting a link down for a while, then up again as it was (a failover check).
//!
//! A link going down takes along what the kernel hung on it: the routes
//! through it (fib_sync_down_dev flushes IPv4 routes whose nexthops died;
//! rt6_sync_down_dev the IPv6 ones) and its IPv6 addresses, unless
//! keep_addr_on_down (addrconf_ifdown). They are saved before the link goes
//! down and re-added after it is up again, so the namespace is left as found.
use rtnetlink::packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteProtocol, RouteType,
};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage as Msg};
use rtnetlink::LinkUnspec;

use super::error::KernelError;
use super::query::Query;

/// RT_TABLE_LOCAL: the kernel's own table of local and broadcast routes.
const RT_TABLE_LOCAL: u8 = 255;

/// A link set down, and what to put back with it.
#[derive(Debug)]
pub struct Cut {
    index: u32,
    routes: Vec<RouteMessage>,
    addresses: Vec<AddressMessage>,
}

impl Cut {
    /// This cut without what belongs to the LIF addresses `lifs` (their
    /// addresses, routes through their subnets or preferring them): the
    /// LIF watcher moves those itself, so restoring them here would put
    /// them back on a port the LIF has left.
    pub fn without_lifs(mut self, lifs: &[ipnet::IpNet]) -> Cut {
        let ip = |a: &RouteAddress| match a {
            RouteAddress::Inet(v) => Some(std::net::IpAddr::V4(*v)),
            RouteAddress::Inet6(v) => Some(std::net::IpAddr::V6(*v)),
            _ => None,
        };
        self.routes.retain(|m| {
            !m.attributes.iter().any(|a| match a {
                RouteAttribute::Gateway(g) => {
                    ip(g).is_some_and(|g| lifs.iter().any(|l| l.contains(&g)))
                }
                RouteAttribute::PrefSource(s) => {
                    ip(s).is_some_and(|s| lifs.iter().any(|l| l.addr() == s))
                }
                _ => false,
            })
        });
        self.addresses.retain(|m| {
            !m.attributes.iter().any(|a| match a {
                AddressAttribute::Address(x) | AddressAttribute::Local(x) => {
                    lifs.iter().any(|l| l.addr() == *x)
                }
                _ => false,
            })
        });
        self
    }

    /// The link's ifindex.
    pub fn index(&self) -> u32 {
        self.index
    }
}

/// Save what the kernel will drop with link `index`, then set it down.
pub fn cut(q: &mut Query, index: u32) -> Result<Cut, KernelError> {
    let routes = routes_via(q, index)?;
    let addresses = q
        .address_messages()?
        .into_iter()
        .filter(|m| m.header.index == index && m.header.family == AddressFamily::Inet6)
        .collect();
    set_up(q, index, false)?;
    Ok(Cut {
        index,
        routes,
        addresses,
    })
}

/// Set the link of `cut` up again and re-add the routes and addresses the
/// kernel dropped; every failure is reported (restoring goes on past one).
pub fn restore(q: &mut Query, cut: Cut) -> Result<(), Vec<KernelError>> {
    set_up(q, cut.index, true).map_err(|e| vec![e])?;
    let mut errors = Vec::new();
    // Addresses first: a route's preferred source must exist again before it.
    for a in cut.addresses {
        errors.extend(restore_address(q, a).err());
    }
    for r in cut.routes {
        errors.extend(restore_route(q, r).err());
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Set link `index` administratively up or down (RTM_SETLINK, IFF_UP in the change mask).
pub fn set_up(q: &mut Query, index: u32, up: bool) -> Result<(), KernelError> {
    let b = LinkUnspec::new_with_index(index);
    let msg = if up { b.up() } else { b.down() }.build();
    let word = if up { "up" } else { "down" };
    q.change(Msg::SetLink(msg), &format!("set link {index} {word}"))
}

/// Routes (any table but `local`) that leave through `index` and were not
/// made by the kernel: setting the link down deletes them.
fn routes_via(q: &mut Query, index: u32) -> Result<Vec<RouteMessage>, KernelError> {
    let mut out = Vec::new();
    for family in [AddressFamily::Inet, AddressFamily::Inet6] {
        for m in q.route_messages(family)? {
            let via = m.attributes.contains(&RouteAttribute::Oif(index));
            let kernel_made = matches!(m.header.protocol, RouteProtocol::Kernel)
                || m.header.kind != RouteType::Unicast
                || m.header.table == RT_TABLE_LOCAL;
            if via && !kernel_made {
                out.push(m);
            }
        }
    }
    Ok(out)
}

/// Make `m` again; one that exists already (EEXIST) is fine.
fn recreate(q: &mut Query, m: Msg, what: &str) -> Result<(), KernelError> {
    match q.create(m, &format!("restore {what}")) {
        Err(e) if e.errno() == Some(libc::EEXIST) => Ok(()),
        r => r,
    }
}

/// A route saved by [`cut`] as a request: the attributes a dump adds
/// (cache info, the table id beyond 255...) are dropped.
fn route_request(mut m: RouteMessage) -> RouteMessage {
    m.attributes.retain(|a| {
        matches!(
            a,
            RouteAttribute::Destination(_)
                | RouteAttribute::Gateway(_)
                | RouteAttribute::Oif(_)
                | RouteAttribute::Priority(_)
                | RouteAttribute::PrefSource(_)
                | RouteAttribute::Table(_)
                | RouteAttribute::Via(_)
                | RouteAttribute::Metrics(_)
        )
    });
    m
}

/// Put back a route saved by [`cut`].
fn restore_route(q: &mut Query, m: RouteMessage) -> Result<(), KernelError> {
    recreate(q, Msg::NewRoute(route_request(m)), "route")
}

/// An address saved by [`cut`] as a request, without DAD (it was valid
/// already); the attributes a dump adds (cache info) are dropped.
fn address_request(mut m: AddressMessage) -> AddressMessage {
    let mut flags = AddressFlags::empty();
    m.attributes.retain(|a| match a {
        AddressAttribute::Flags(f) => {
            flags = *f;
            false
        }
        AddressAttribute::Address(_)
        | AddressAttribute::Local(_)
        | AddressAttribute::Label(_)
        | AddressAttribute::Broadcast(_) => true,
        _ => false,
    });
    flags.remove(AddressFlags::Tentative | AddressFlags::Dadfailed);
    if m.header.family == AddressFamily::Inet6 {
        flags |= AddressFlags::Nodad;
    }
    m.attributes.push(AddressAttribute::Flags(flags));
    m
}

/// Put back an address saved by [`cut`].
fn restore_address(q: &mut Query, m: AddressMessage) -> Result<(), KernelError> {
    recreate(q, Msg::NewAddress(address_request(m)), "address")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtnetlink::packet_route::address::CacheInfo;

    #[test]
    fn a_saved_address_comes_back_without_dad_or_cache_info() {
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet6;
        m.attributes = vec![
            AddressAttribute::Address("fd01::1".parse().unwrap()),
            AddressAttribute::CacheInfo(CacheInfo::default()),
            AddressAttribute::Flags(AddressFlags::Tentative | AddressFlags::Permanent),
        ];
        let r = address_request(m);
        assert_eq!(
            r.attributes,
            vec![
                AddressAttribute::Address("fd01::1".parse().unwrap()),
                AddressAttribute::Flags(AddressFlags::Permanent | AddressFlags::Nodad),
            ]
        );
    }

    #[test]
    fn a_saved_route_keeps_only_what_a_request_may_carry() {
        let mut m = RouteMessage::default();
        m.attributes = vec![
            RouteAttribute::Table(254),
            RouteAttribute::Oif(3),
            RouteAttribute::Expires(7),
        ];
        assert_eq!(
            route_request(m).attributes,
            vec![RouteAttribute::Table(254), RouteAttribute::Oif(3)]
        );
    }
}
