//! Netlink queries made from inside a namespace thread (see [`super::netns`]).
//!
//! Each function is async and takes a [`Handle`] whose socket was opened on the
//! calling namespace thread, so it sees that node's kernel state.
use std::net::IpAddr;

use futures::TryStreamExt;
use rtnetlink::packet_core::{
    NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST,
};
use rtnetlink::packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use rtnetlink::packet_route::link::{
    InfoBondPort, InfoBridgePort, InfoPortData, LacpState, LinkAttribute, LinkFlags, LinkInfo,
    LinkMessage,
};
use rtnetlink::packet_route::neighbour::{NeighbourAddress, NeighbourAttribute, NeighbourState};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteProtocol, RouteType,
};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::{Handle, LinkUnspec};

use super::error::{netlink, Error};
use crate::model::MacAddr;

/// Open a netlink route socket in the current thread's namespace (inside a runtime).
pub fn connect() -> Result<Handle, Error> {
    let (conn, handle, _) = rtnetlink::new_connection().map_err(Error::Socket)?;
    tokio::spawn(conn);
    Ok(handle)
}

/// The errno of a netlink error, if it is one.
fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.code.map(|c| -c.get()),
        _ => None,
    }
}

/// Where the kernel sends packets for a destination (`ip route get`).
#[derive(Debug, Clone)]
pub struct RouteHop {
    /// Output device index.
    pub oif: u32,
    /// Next hop: the gateway, or the destination itself when on-link.
    pub nexthop: IpAddr,
    /// The source address the kernel would choose.
    pub src: Option<IpAddr>,
}

/// Why a route lookup failed.
#[derive(Debug)]
pub enum RouteError {
    /// ENETUNREACH / EHOSTUNREACH: the node has no route (or an unreachable one).
    NoRoute,
    /// Any other failure.
    Other(Error),
}

/// Ask the kernel which route it would use for `dst`, optionally forced out of `oif`.
pub async fn route_get(h: &Handle, dst: IpAddr, oif: Option<u32>) -> Result<RouteHop, RouteError> {
    let mut msg = RouteMessage::default();
    msg.header.address_family = match dst {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    };
    msg.header.destination_prefix_length = if dst.is_ipv4() { 32 } else { 128 };
    msg.attributes.push(RouteAttribute::Destination(dst.into()));
    if let Some(i) = oif {
        msg.attributes.push(RouteAttribute::Oif(i));
    }
    let mut stream = h.route().get(msg).execute();
    let reply = match stream.try_next().await {
        Ok(Some(r)) => r,
        // The kernel answers a route get with one route or an error; nothing means none.
        Ok(None) => return Err(RouteError::NoRoute),
        Err(e) => {
            return Err(match errno(&e) {
                Some(libc::ENETUNREACH) | Some(libc::EHOSTUNREACH) | Some(libc::EACCES) => {
                    RouteError::NoRoute
                }
                _ => RouteError::Other(netlink(format!("route get {dst}"))(e)),
            })
        }
    };
    if matches!(
        reply.header.kind,
        RouteType::Unreachable | RouteType::Prohibit | RouteType::BlackHole
    ) {
        return Err(RouteError::NoRoute);
    }
    let mut hop = RouteHop {
        oif: 0,
        nexthop: dst,
        src: None,
    };
    for a in &reply.attributes {
        match a {
            RouteAttribute::Oif(i) => hop.oif = *i,
            RouteAttribute::Gateway(g) => {
                if let Some(ip) = route_ip(g) {
                    hop.nexthop = ip;
                }
            }
            RouteAttribute::PrefSource(s) => hop.src = route_ip(s),
            _ => {}
        }
    }
    Ok(hop)
}

fn route_ip(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v) => Some(IpAddr::V4(*v)),
        RouteAddress::Inet6(v) => Some(IpAddr::V6(*v)),
        _ => None,
    }
}

/// A link as readiness and probes need it.
#[derive(Debug, Clone)]
pub struct LinkState {
    /// ifindex.
    pub index: u32,
    /// Name.
    pub name: String,
    /// IFF_UP.
    pub up: bool,
    /// IFF_LOWER_UP (carrier).
    pub lower_up: bool,
    /// IFLA_BRPORT_STATE when the link is a bridge port.
    pub brport_state: Option<u8>,
    /// For a port of an 802.3ad bond: whether LACP lets it distribute frames
    /// (IFLA_BOND_SLAVE_AD_ACTOR_OPER_PORT_STATE has DISTRIBUTING).
    pub lacp_distributing: Option<bool>,
    /// Hardware address.
    pub mac: Option<MacAddr>,
}

/// The state of link message `m`.
pub fn link_state(m: &LinkMessage) -> LinkState {
    let mut s = LinkState {
        index: m.header.index,
        name: String::new(),
        up: m.header.flags.contains(LinkFlags::Up),
        lower_up: m.header.flags.contains(LinkFlags::LowerUp),
        brport_state: None,
        lacp_distributing: None,
        mac: None,
    };
    for a in &m.attributes {
        match a {
            LinkAttribute::IfName(n) => s.name = n.clone(),
            LinkAttribute::Address(b) if b.len() == 6 => {
                let mut mac = [0u8; 6];
                mac.copy_from_slice(b);
                s.mac = Some(MacAddr(mac));
            }
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    match i {
                        LinkInfo::PortData(InfoPortData::BridgePort(opts)) => {
                            for o in opts {
                                if let InfoBridgePort::State(st) = o {
                                    s.brport_state = Some(u8::from(*st));
                                }
                            }
                        }
                        LinkInfo::PortData(InfoPortData::BondPort(opts)) => {
                            for o in opts {
                                if let InfoBondPort::AdActorOperPortState(st) = o {
                                    s.lacp_distributing =
                                        Some(st.contains(LacpState::DISTRIBUTING));
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    s
}

/// Every link of the namespace.
pub async fn links(h: &Handle) -> Result<Vec<LinkState>, Error> {
    let msgs: Vec<LinkMessage> = h
        .link()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(netlink("link dump"))?;
    Ok(msgs.iter().map(link_state).collect())
}

/// The link called `name`, asked for by name rather than found in a dump:
/// dumping a host's links costs the kernel O(N²) with N veth peers in other
/// namespaces (each peer's nsid is found by a linear scan).
pub async fn link_by_name(h: &Handle, name: &str) -> Result<LinkState, Error> {
    let got = h
        .link()
        .get()
        .match_name(name.to_owned())
        .execute()
        .try_next()
        .await;
    match got {
        Ok(Some(m)) => Ok(link_state(&m)),
        Ok(None) => Err(Error::NoLink(name.to_owned())),
        Err(e) if errno(&e) == Some(libc::ENODEV) => Err(Error::NoLink(name.to_owned())),
        Err(e) => Err(netlink("link get")(e)),
    }
}

/// An address with the flags readiness cares about.
#[derive(Debug, Clone)]
pub struct AddrState {
    /// ifindex it is on.
    pub index: u32,
    /// The address.
    pub addr: IpAddr,
    /// IFA_F_TENTATIVE: IPv6 DAD still running.
    pub tentative: bool,
    /// IFA_F_DADFAILED: DAD found a duplicate.
    pub dadfailed: bool,
}

/// Every address of the namespace, as raw messages.
pub async fn address_messages(h: &Handle) -> Result<Vec<AddressMessage>, Error> {
    h.address()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(netlink("address dump"))
}

/// Every address of the namespace.
pub async fn addresses(h: &Handle) -> Result<Vec<AddrState>, Error> {
    Ok(address_messages(h)
        .await?
        .iter()
        .filter_map(addr_state)
        .collect())
}

/// The state of address message `m` (`None` when it carries no address).
pub fn addr_state(m: &AddressMessage) -> Option<AddrState> {
    let mut addr = None;
    let mut flags = AddressFlags::from_bits_retain(u32::from(m.header.flags.bits()));
    for a in &m.attributes {
        match a {
            // IFA_LOCAL is the own address on point-to-point links; IFA_ADDRESS otherwise.
            AddressAttribute::Local(ip) => addr = Some(*ip),
            AddressAttribute::Address(ip) if addr.is_none() => addr = Some(*ip),
            AddressAttribute::Flags(f) => flags = *f,
            _ => {}
        }
    }
    Some(AddrState {
        index: m.header.index,
        addr: addr?,
        tentative: flags.contains(AddressFlags::Tentative),
        dadfailed: flags.contains(AddressFlags::Dadfailed),
    })
}

/// The neighbour entry for `addr` on `ifindex`: its state and link-layer address.
pub async fn neighbour(
    h: &Handle,
    ifindex: u32,
    addr: IpAddr,
) -> Result<Option<(NeighbourState, Option<MacAddr>)>, Error> {
    let mut stream = h.neighbours().get().execute();
    while let Some(m) = stream.try_next().await.map_err(netlink("neighbour dump"))? {
        if m.header.ifindex != ifindex {
            continue;
        }
        let mut dst = None;
        let mut lla = None;
        for a in &m.attributes {
            match a {
                NeighbourAttribute::Destination(NeighbourAddress::Inet(v)) => {
                    dst = Some(IpAddr::V4(*v))
                }
                NeighbourAttribute::Destination(NeighbourAddress::Inet6(v)) => {
                    dst = Some(IpAddr::V6(*v))
                }
                NeighbourAttribute::LinkLayerAddress(b) if b.len() == 6 => {
                    let mut mac = [0u8; 6];
                    mac.copy_from_slice(b);
                    lla = Some(MacAddr(mac));
                }
                _ => {}
            }
        }
        if dst == Some(addr) {
            return Ok(Some((m.header.state, lla)));
        }
    }
    Ok(None)
}

/// Set a link administratively up or down (RTM_SETLINK, IFF_UP in the change mask).
pub async fn set_up(h: &Handle, index: u32, up: bool) -> Result<(), Error> {
    let b = LinkUnspec::new_with_index(index);
    let msg = if up { b.up() } else { b.down() }.build();
    h.link().set(msg).execute().await.map_err(netlink(format!(
        "set link {index} {}",
        if up { "up" } else { "down" }
    )))
}

/// Routes (any table but `local`) that leave through `index` and were not made by the kernel.
///
/// Setting a link down makes the kernel delete these; they are put back after a failover test.
pub async fn routes_via(h: &Handle, index: u32) -> Result<Vec<RouteMessage>, Error> {
    let mut out = Vec::new();
    for family in [AddressFamily::Inet, AddressFamily::Inet6] {
        let mut q = RouteMessage::default();
        q.header.address_family = family;
        let msgs: Vec<RouteMessage> = h
            .route()
            .get(q)
            .execute()
            .try_collect()
            .await
            .map_err(netlink("route dump"))?;
        for m in msgs {
            let via = m.attributes.contains(&RouteAttribute::Oif(index));
            let kernel_made = matches!(m.header.protocol, RouteProtocol::Kernel)
                || m.header.kind != RouteType::Unicast
                || m.header.table == 255;
            if via && !kernel_made {
                out.push(m);
            }
        }
    }
    Ok(out)
}

/// Addresses of `index` the kernel drops when the link goes down (IPv6 without keep_addr_on_down).
pub async fn addresses_of(h: &Handle, index: u32) -> Result<Vec<AddressMessage>, Error> {
    Ok(address_messages(h)
        .await?
        .into_iter()
        .filter(|m| m.header.index == index)
        .collect())
}

/// Send a "new" request built from a dumped message; an existing object (EEXIST) is fine.
async fn recreate(h: &Handle, msg: RouteNetlinkMessage, what: &'static str) -> Result<(), Error> {
    let mut req = NetlinkMessage::from(msg);
    req.header.flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
    let mut resp = h
        .clone()
        .request(req)
        .map_err(netlink(format!("restore {what}")))?;
    use futures::StreamExt;
    while let Some(m) = resp.next().await {
        if let NetlinkPayload::Error(e) = m.payload {
            match e.code.map(|c| -c.get()) {
                None | Some(libc::EEXIST) => {}
                Some(c) => {
                    return Err(Error::Restore {
                        what,
                        source: std::io::Error::from_raw_os_error(c),
                    })
                }
            }
        }
    }
    Ok(())
}

/// Put back a route saved by [`routes_via`] (dump-only attributes removed).
pub async fn restore_route(h: &Handle, mut m: RouteMessage) -> Result<(), Error> {
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
    recreate(h, RouteNetlinkMessage::NewRoute(m), "route").await
}

/// Put back an address saved by [`addresses_of`], without DAD (it was already valid).
pub async fn restore_address(h: &Handle, mut m: AddressMessage) -> Result<(), Error> {
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
    recreate(h, RouteNetlinkMessage::NewAddress(m), "address").await
}

/// The neighbour message naming `addr` on link `ifindex`.
fn neighbour_message(
    ifindex: u32,
    addr: IpAddr,
) -> rtnetlink::packet_route::neighbour::NeighbourMessage {
    let mut m = rtnetlink::packet_route::neighbour::NeighbourMessage::default();
    m.header.family = match addr {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    };
    m.header.ifindex = ifindex;
    m.attributes
        .push(NeighbourAttribute::Destination(match addr {
            IpAddr::V4(a) => NeighbourAddress::Inet(a),
            IpAddr::V6(a) => NeighbourAddress::Inet6(a),
        }));
    m
}

/// The state of the neighbour entry for `addr` on link `ifindex`, asked for
/// that one entry (not a dump: a host in front of a thousand containers holds
/// a thousand entries); `None` when there is none.
pub async fn neighbour_state(
    h: &Handle,
    ifindex: u32,
    addr: IpAddr,
) -> Result<Option<NeighbourState>, Error> {
    let mut req = NetlinkMessage::from(RouteNetlinkMessage::GetNeighbour(neighbour_message(
        ifindex, addr,
    )));
    req.header.flags = NLM_F_REQUEST;
    let mut answers = h.clone().request(req).map_err(netlink("neighbour get"))?;
    let mut state = None;
    while let Some(m) = futures::StreamExt::next(&mut answers).await {
        match m.payload {
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewNeighbour(n)) => {
                state = Some(n.header.state)
            }
            NetlinkPayload::Error(e) if e.code.is_some() => {
                let e = rtnetlink::Error::NetlinkError(e);
                if errno(&e) == Some(libc::ENOENT) {
                    return Ok(None);
                }
                return Err(netlink("neighbour get")(e));
            }
            _ => {}
        }
    }
    Ok(state)
}

/// Whether a neighbour entry is a resolved one the kernel learnt (and would
/// learn again). Configured (permanent) entries are not, and neither are
/// unresolved ones (incomplete, failed): the kernel reclaims those at once
/// when the table is full, and a concurrent probe's failure explanation reads them.
pub fn is_learnt(state: NeighbourState) -> bool {
    matches!(
        state,
        NeighbourState::Reachable
            | NeighbourState::Stale
            | NeighbourState::Delay
            | NeighbourState::Probe
    )
}

/// Delete the learnt neighbour entry for `addr` on link `ifindex`, if there
/// is one (see [`is_learnt`]).
pub async fn forget_neighbour(h: &Handle, ifindex: u32, addr: IpAddr) -> Result<(), Error> {
    match neighbour_state(h, ifindex, addr).await? {
        Some(s) if is_learnt(s) => {}
        _ => return Ok(()),
    }
    match h
        .neighbours()
        .del(neighbour_message(ifindex, addr))
        .execute()
        .await
    {
        Ok(()) => Ok(()),
        // Gone meanwhile (garbage-collected): what was wanted.
        Err(e) if errno(&e) == Some(libc::ENOENT) => Ok(()),
        Err(e) => Err(netlink("neighbour delete")(e)),
    }
}
