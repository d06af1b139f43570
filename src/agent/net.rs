//! The few rtnetlink requests agents make, blocking, in the namespace the
//! agent runs in: addresses and routes, added and removed idempotently
//! (an address that is there is not an error to a client applying its
//! lease again).
use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;
use rtnetlink::packet_route::address::{AddressHeaderFlags, AddressMessage};
use rtnetlink::packet_route::route::{
    RouteAttribute, RouteFlags, RouteMessage, RouteProtocol, RouteType,
};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage as Msg};
use rtnetlink::{AddressMessageBuilder, RouteMessageBuilder};

use crate::kernel::query::{LinkState, Query};
use crate::kernel::KernelError;

/// RT_TABLE_LOCAL: the kernel's own table of local and broadcast routes.
const RT_TABLE_LOCAL: u8 = 255;

/// A blocking rtnetlink socket of the agent's namespace.
pub struct Net {
    q: Query,
}

/// `Ok` for a result whose error is one of `errnos` (the goal holds already).
fn tolerate(r: Result<(), KernelError>, errnos: &[i32]) -> Result<(), KernelError> {
    match r {
        Err(e) if e.errno().is_some_and(|n| errnos.contains(&n)) => Ok(()),
        r => r,
    }
}

/// The address message for `net` on link `index` (IPv6 without DAD, so it
/// is usable at once: a moved LIF must answer at once).
fn address(index: u32, net: IpNet) -> AddressMessage {
    let mut m = match net.addr() {
        IpAddr::V4(a) => AddressMessageBuilder::<Ipv4Addr>::new()
            .index(index)
            .address(a, net.prefix_len())
            .build(),
        IpAddr::V6(a) => AddressMessageBuilder::<std::net::Ipv6Addr>::new()
            .index(index)
            .address(a, net.prefix_len())
            .build(),
    };
    if net.addr().is_ipv6() {
        m.header.flags |= AddressHeaderFlags::Nodad;
    }
    m
}

impl Net {
    /// Open a socket in the calling thread's namespace.
    pub fn open() -> Result<Net, KernelError> {
        Ok(Net {
            q: Query::open("agent")?,
        })
    }

    /// The link called `name`.
    pub fn link(&mut self, name: &str) -> Result<Option<LinkState>, KernelError> {
        self.q.link_by_name(name)
    }

    /// Every link.
    pub fn links(&mut self) -> Result<Vec<LinkState>, KernelError> {
        self.q.links()
    }

    /// Add `net` to link `index`; there already is fine.
    pub fn add_address(&mut self, index: u32, net: IpNet) -> Result<(), KernelError> {
        let r = self.q.create(
            Msg::NewAddress(address(index, net)),
            &format!("add address {net}"),
        );
        tolerate(r, &[libc::EEXIST])
    }

    /// Remove `net` from link `index`; already gone is fine.
    pub fn del_address(&mut self, index: u32, net: IpNet) -> Result<(), KernelError> {
        let r = self.q.change(
            Msg::DelAddress(address(index, net)),
            &format!("delete address {net}"),
        );
        tolerate(r, &[libc::EADDRNOTAVAIL, libc::ENOENT, libc::ENODEV])
    }

    /// The links holding `addr` (by ifindex).
    pub fn holders(&mut self, addr: IpAddr) -> Result<Vec<u32>, KernelError> {
        Ok(self
            .q
            .addresses()?
            .into_iter()
            .filter(|a| a.addr == addr)
            .map(|a| a.index)
            .collect())
    }

    /// Whether neighbour `addr` on link `index` is resolved (has a
    /// link-layer address): packets queued for it have left.
    pub fn resolved(&mut self, index: u32, addr: IpAddr) -> Result<bool, KernelError> {
        use rtnetlink::packet_route::neighbour::NeighbourState as S;
        Ok(matches!(
            self.q.neighbour_state(index, addr)?,
            Some(S::Reachable | S::Stale | S::Delay | S::Probe | S::Permanent | S::Noarp)
        ))
    }

    /// `default via ROUTER dev INDEX proto dhcp`, added; there already is fine.
    pub fn add_default(&mut self, index: u32, router: Ipv4Addr) -> Result<(), KernelError> {
        let r = self.q.create(
            Msg::NewRoute(default_route(index, router)),
            &format!("add default via {router}"),
        );
        tolerate(r, &[libc::EEXIST])
    }

    /// Remove `default via ROUTER dev INDEX`; already gone is fine.
    pub fn del_default(&mut self, index: u32, router: Ipv4Addr) -> Result<(), KernelError> {
        let r = self.q.change(
            Msg::DelRoute(default_route(index, router)),
            &format!("delete default via {router}"),
        );
        tolerate(r, &[libc::ESRCH, libc::ENOENT, libc::ENODEV])
    }

    /// The routes (any table but `local`, not made by the kernel) leaving
    /// through link `index` (any link: `None`) that `uses` accepts, as the
    /// kernel reports them.
    pub fn routes_via(
        &mut self,
        index: Option<u32>,
        uses: impl Fn(&RouteMessage) -> bool,
    ) -> Result<Vec<RouteMessage>, KernelError> {
        let mut out = Vec::new();
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            for m in self.q.route_messages(family)? {
                let via = index.is_none_or(|i| m.attributes.contains(&RouteAttribute::Oif(i)));
                if via && !kernel_made(&m) && uses(&m) {
                    out.push(m);
                }
            }
        }
        Ok(out)
    }

    /// Add route `m` (as a dump or a notification reported it) through
    /// link `index` instead; there already is fine.
    pub fn add_route_via(&mut self, m: RouteMessage, index: u32) -> Result<(), KernelError> {
        let mut m = route_request(m);
        m.attributes.push(RouteAttribute::Oif(index));
        let r = self.q.create(Msg::NewRoute(m), "move route");
        tolerate(r, &[libc::EEXIST])
    }

    /// Remove route `m` (a request without device) through link `index`;
    /// already gone is fine.
    pub fn del_route_via(&mut self, m: RouteMessage, index: u32) -> Result<(), KernelError> {
        let mut m = route_request(m);
        m.attributes.push(RouteAttribute::Oif(index));
        self.del_route(m)
    }

    /// Remove route `m` (as a dump reported it); already gone is fine.
    pub fn del_route(&mut self, m: RouteMessage) -> Result<(), KernelError> {
        let r = self.q.change(Msg::DelRoute(m), "delete route");
        tolerate(r, &[libc::ESRCH, libc::ENOENT, libc::ENODEV])
    }
}

/// The default route a lease gives.
fn default_route(index: u32, router: Ipv4Addr) -> RouteMessage {
    RouteMessageBuilder::<Ipv4Addr>::new()
        .output_interface(index)
        .gateway(router)
        .protocol(RouteProtocol::Dhcp)
        .build()
}

/// Route `m` as a request, without its device: the attributes a dump or a
/// notification adds (cache info, the device) are dropped.
pub fn route_request(mut m: RouteMessage) -> RouteMessage {
    // RTNH_F_DEAD and RTNH_F_LINKDOWN are the kernel's to report, refused
    // in a request ("Invalid rtm_flags").
    m.header.flags = RouteFlags::empty();
    m.attributes.retain(|a| {
        matches!(
            a,
            RouteAttribute::Destination(_)
                | RouteAttribute::Gateway(_)
                | RouteAttribute::Priority(_)
                | RouteAttribute::PrefSource(_)
                | RouteAttribute::Table(_)
                | RouteAttribute::Via(_)
                | RouteAttribute::Metrics(_)
        )
    });
    m
}

/// Whether route `m` is one the kernel made (or not unicast, or local).
pub fn kernel_made(m: &RouteMessage) -> bool {
    matches!(m.header.protocol, RouteProtocol::Kernel)
        || m.header.kind != RouteType::Unicast
        || m.header.table == RT_TABLE_LOCAL
}
