//! Questions about the live state of one namespace, asked over a blocking
//! rtnetlink socket ([`Rtnl`]) from a thread inside it: a link's carrier and
//! port state, an address's DAD flags, the route the kernel would take to a
//! destination, a neighbour entry. What verify's readiness wait and probes
//! read, and the decoders of the answers.
use std::net::IpAddr;

use rtnetlink::packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use rtnetlink::packet_route::link::{
    InfoBondPort, InfoBridgePort, InfoPortData, LacpState, LinkAttribute, LinkFlags, LinkInfo,
    LinkMessage,
};
use rtnetlink::packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
};
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteMessage, RouteType};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage as Msg};

use super::error::KernelError;
use super::rtnl::Rtnl;
use crate::model::MacAddr;

/// A link as readiness and probes need it.
#[derive(Debug, Clone, PartialEq, Eq)]
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
            LinkAttribute::Address(b) => s.mac = mac(b),
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    if let LinkInfo::PortData(port) = i {
                        port_state(port, &mut s);
                    }
                }
            }
            _ => {}
        }
    }
    s
}

/// Read what a port's IFLA_INFO_SLAVE_DATA says into `s`.
fn port_state(port: &InfoPortData, s: &mut LinkState) {
    match port {
        InfoPortData::BridgePort(opts) => {
            for o in opts {
                if let InfoBridgePort::State(st) = o {
                    s.brport_state = Some(u8::from(*st));
                }
            }
        }
        InfoPortData::BondPort(opts) => {
            for o in opts {
                if let InfoBondPort::AdActorOperPortState(st) = o {
                    s.lacp_distributing = Some(st.contains(LacpState::DISTRIBUTING));
                }
            }
        }
        _ => {}
    }
}

/// A 6-byte hardware address; `None` for any other length.
fn mac(b: &[u8]) -> Option<MacAddr> {
    Some(MacAddr(b.try_into().ok()?))
}

/// An address with the flags readiness cares about.
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// Where the kernel sends packets for a destination (`ip route get`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteHop {
    /// Output device index.
    pub oif: u32,
    /// Next hop: the gateway, or the destination itself when on-link.
    pub nexthop: IpAddr,
    /// The source address the kernel would choose.
    pub src: Option<IpAddr>,
}

/// The hop of a route-get answer for `dst`; `None` when the route says the
/// destination cannot be reached (unreachable, prohibit, blackhole).
pub fn route_hop(m: &RouteMessage, dst: IpAddr) -> Option<RouteHop> {
    if matches!(
        m.header.kind,
        RouteType::Unreachable | RouteType::Prohibit | RouteType::BlackHole
    ) {
        return None;
    }
    let mut hop = RouteHop {
        oif: 0,
        nexthop: dst,
        src: None,
    };
    for a in &m.attributes {
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
    Some(hop)
}

pub(super) fn route_ip(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v) => Some(IpAddr::V4(*v)),
        RouteAddress::Inet6(v) => Some(IpAddr::V6(*v)),
        _ => None,
    }
}

pub(super) fn family(addr: IpAddr) -> AddressFamily {
    match addr {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    }
}

/// The neighbour message naming `addr` on link `ifindex`.
fn neighbour_message(ifindex: u32, addr: IpAddr) -> NeighbourMessage {
    let mut m = NeighbourMessage::default();
    m.header.family = family(addr);
    m.header.ifindex = ifindex;
    m.attributes
        .push(NeighbourAttribute::Destination(match addr {
            IpAddr::V4(a) => NeighbourAddress::Inet(a),
            IpAddr::V6(a) => NeighbourAddress::Inet6(a),
        }));
    m
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

/// `Ok(None)` for an error whose errno is one of `absent`, which means "no such thing".
pub(super) fn absent<T>(
    r: Result<T, KernelError>,
    absent: &[i32],
) -> Result<Option<T>, KernelError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.errno().is_some_and(|n| absent.contains(&n)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A blocking rtnetlink socket of the calling thread's namespace, with the
/// name its errors give the namespace (e.g. `node a`).
#[derive(Debug)]
pub struct Query {
    rtnl: Rtnl,
    object: String,
}

impl Query {
    /// Open a socket in the calling thread's namespace, called `object` in errors.
    pub fn open(object: impl Into<String>) -> Result<Query, KernelError> {
        let object = object.into();
        let rtnl =
            Rtnl::open().map_err(|e| KernelError::io(format!("{object}: netlink socket"), e))?;
        Ok(Query { rtnl, object })
    }

    /// One acknowledged request, with its answers.
    pub(super) fn ask(&mut self, request: Msg, op: &str) -> Result<Vec<Msg>, KernelError> {
        self.rtnl.ask(request, &self.object, op)
    }

    /// Every link of the namespace.
    pub fn links(&mut self) -> Result<Vec<LinkState>, KernelError> {
        let msgs = self
            .rtnl
            .dump(super::observe::link_request, &self.object, "link dump")?;
        Ok(msgs
            .iter()
            .filter_map(|m| match m {
                Msg::NewLink(l) => Some(link_state(l)),
                _ => None,
            })
            .collect())
    }

    /// Every address of the namespace.
    pub fn addresses(&mut self) -> Result<Vec<AddrState>, KernelError> {
        let msgs = self.address_messages()?;
        Ok(msgs.iter().filter_map(addr_state).collect())
    }

    /// Every address of the namespace, as the kernel's messages.
    pub fn address_messages(&mut self) -> Result<Vec<AddressMessage>, KernelError> {
        let request = || Msg::GetAddress(AddressMessage::default());
        let msgs = self.rtnl.dump(request, &self.object, "address dump")?;
        Ok(msgs
            .into_iter()
            .filter_map(|m| match m {
                Msg::NewAddress(a) => Some(a),
                _ => None,
            })
            .collect())
    }

    /// Every route of `family` in every table, as the kernel's messages.
    pub fn route_messages(
        &mut self,
        family: AddressFamily,
    ) -> Result<Vec<RouteMessage>, KernelError> {
        let request = || {
            let mut q = RouteMessage::default();
            q.header.address_family = family;
            Msg::GetRoute(q)
        };
        let msgs = self.rtnl.dump(request, &self.object, "route dump")?;
        Ok(msgs
            .into_iter()
            .filter_map(|m| match m {
                Msg::NewRoute(r) => Some(r),
                _ => None,
            })
            .collect())
    }

    /// The one link a get for `m` answers; `None` when there is none (ENODEV).
    fn link(&mut self, m: LinkMessage, op: &str) -> Result<Option<LinkState>, KernelError> {
        let got = absent(self.ask(Msg::GetLink(m), op), &[libc::ENODEV])?;
        Ok(got.into_iter().flatten().find_map(|m| match m {
            Msg::NewLink(l) => Some(link_state(&l)),
            _ => None,
        }))
    }

    /// The link called `name`, asked for by name rather than found in a dump:
    /// dumping a host's links costs the kernel O(N²) with N veth peers in
    /// other namespaces (each peer's nsid is found by a linear scan).
    pub fn link_by_name(&mut self, name: &str) -> Result<Option<LinkState>, KernelError> {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        self.link(m, &format!("get link {name}"))
    }

    /// The link with ifindex `index`.
    pub fn link_by_index(&mut self, index: u32) -> Result<Option<LinkState>, KernelError> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        self.link(m, &format!("get link {index}"))
    }

    /// Which route the kernel would use for `dst`, optionally forced out of
    /// `oif`; `None` when it has none (or an unreachable one).
    pub fn route_get(
        &mut self,
        dst: IpAddr,
        oif: Option<u32>,
    ) -> Result<Option<RouteHop>, KernelError> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = family(dst);
        msg.header.destination_prefix_length = if dst.is_ipv4() { 32 } else { 128 };
        msg.attributes.push(RouteAttribute::Destination(dst.into()));
        if let Some(i) = oif {
            msg.attributes.push(RouteAttribute::Oif(i));
        }
        // What the kernel answers when no route leads there: no route at all
        // (ENETUNREACH), an unreachable route (EHOSTUNREACH), a prohibit one (EACCES).
        let no_route = [libc::ENETUNREACH, libc::EHOSTUNREACH, libc::EACCES];
        let answers = absent(
            self.ask(Msg::GetRoute(msg), &format!("route get {dst}")),
            &no_route,
        )?;
        // The kernel answers a route get with one route or an error; nothing means none.
        Ok(answers.into_iter().flatten().find_map(|m| match m {
            Msg::NewRoute(r) => route_hop(&r, dst),
            _ => None,
        }))
    }

    /// The state of the neighbour entry for `addr` on link `ifindex`, asked
    /// for that one entry (not a dump: a host in front of a thousand
    /// containers holds a thousand entries); `None` when there is none.
    pub fn neighbour_state(
        &mut self,
        ifindex: u32,
        addr: IpAddr,
    ) -> Result<Option<NeighbourState>, KernelError> {
        let request = Msg::GetNeighbour(neighbour_message(ifindex, addr));
        let answers = absent(self.ask(request, "neighbour get"), &[libc::ENOENT])?;
        Ok(answers.into_iter().flatten().find_map(|m| match m {
            Msg::NewNeighbour(n) => Some(n.header.state),
            _ => None,
        }))
    }

    /// Delete the learnt neighbour entry for `addr` on link `ifindex`, if
    /// there is one (see [`is_learnt`]).
    pub fn forget_neighbour(&mut self, ifindex: u32, addr: IpAddr) -> Result<(), KernelError> {
        match self.neighbour_state(ifindex, addr)? {
            Some(s) if is_learnt(s) => {}
            _ => return Ok(()),
        }
        let request = Msg::DelNeighbour(neighbour_message(ifindex, addr));
        // Gone meanwhile (garbage-collected): what was wanted.
        absent(self.ask(request, "neighbour delete"), &[libc::ENOENT]).map(drop)
    }

    /// Send one acknowledged request that changes something.
    pub fn change(&mut self, request: Msg, op: &str) -> Result<(), KernelError> {
        self.ask(request, op).map(drop)
    }

    /// Send one acknowledged request that makes something new
    /// (NLM_F_CREATE | NLM_F_EXCL); refused with EEXIST when it exists.
    pub fn create(&mut self, request: Msg, op: &str) -> Result<(), KernelError> {
        self.rtnl.create(request, &self.object, op)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtnetlink::packet_route::link::BridgePortState;

    #[test]
    fn link_state_reads_flags_mac_and_port_states() {
        let mut m = LinkMessage::default();
        m.header.index = 7;
        m.header.flags = LinkFlags::Up | LinkFlags::LowerUp;
        m.attributes = vec![
            LinkAttribute::IfName("p0".into()),
            LinkAttribute::Address(vec![2, 0, 0, 0, 0, 9]),
            LinkAttribute::LinkInfo(vec![LinkInfo::PortData(InfoPortData::BridgePort(vec![
                InfoBridgePort::State(BridgePortState::Learning),
            ]))]),
        ];
        let s = link_state(&m);
        assert_eq!(
            s,
            LinkState {
                index: 7,
                name: "p0".into(),
                up: true,
                lower_up: true,
                brport_state: Some(2),
                lacp_distributing: None,
                mac: Some(MacAddr([2, 0, 0, 0, 0, 9])),
            }
        );
        // A bond port that LACP lets distribute; an address of another length is no MAC.
        m.header.flags = LinkFlags::empty();
        m.attributes = vec![
            LinkAttribute::Address(vec![1, 2, 3, 4]),
            LinkAttribute::LinkInfo(vec![LinkInfo::PortData(InfoPortData::BondPort(vec![
                InfoBondPort::AdActorOperPortState(LacpState::DISTRIBUTING),
            ]))]),
        ];
        let s = link_state(&m);
        assert!(!s.up && !s.lower_up && s.mac.is_none());
        assert_eq!(s.lacp_distributing, Some(true));
    }

    #[test]
    fn addr_state_prefers_local_and_reads_dad_flags() {
        let mut m = AddressMessage::default();
        m.header.index = 3;
        m.attributes = vec![
            AddressAttribute::Address("10.0.0.9".parse().unwrap()),
            AddressAttribute::Local("10.0.0.1".parse().unwrap()),
            AddressAttribute::Flags(AddressFlags::Tentative),
        ];
        let s = addr_state(&m).unwrap();
        assert_eq!(s.addr, "10.0.0.1".parse::<IpAddr>().unwrap());
        assert!(s.tentative && !s.dadfailed);
        m.attributes = vec![AddressAttribute::Flags(AddressFlags::Dadfailed)];
        assert_eq!(addr_state(&m), None);
    }

    #[test]
    fn route_hop_takes_the_gateway_or_the_destination() {
        let dst: IpAddr = "10.9.0.1".parse().unwrap();
        let mut m = RouteMessage::default();
        m.header.kind = RouteType::Unicast;
        m.attributes = vec![
            RouteAttribute::Oif(4),
            RouteAttribute::PrefSource(RouteAddress::Inet("10.1.1.1".parse().unwrap())),
        ];
        let on_link = route_hop(&m, dst).unwrap();
        assert_eq!((on_link.oif, on_link.nexthop), (4, dst));
        assert_eq!(on_link.src, Some("10.1.1.1".parse().unwrap()));
        m.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(
                "10.1.1.2".parse().unwrap(),
            )));
        assert_eq!(
            route_hop(&m, dst).unwrap().nexthop,
            "10.1.1.2".parse::<IpAddr>().unwrap()
        );
        m.header.kind = RouteType::Unreachable;
        assert_eq!(route_hop(&m, dst), None);
    }

    /// Against the kernel: a link asked for by name or index, a missing one
    /// is `None`, and a destination without a route has no hop.
    #[test]
    fn asks_the_kernel_one_object_at_a_time() {
        crate::sandboxed!("kernel::query::tests::asks_the_kernel_one_object_at_a_time");
        let mut q = Query::open("sandbox").unwrap();
        let lo = q.link_by_name("lo").unwrap().expect("lo");
        assert_eq!(lo.index, 1);
        assert_eq!(
            q.link_by_index(1).unwrap().map(|l| l.name),
            Some("lo".into())
        );
        assert_eq!(q.link_by_name("nope0").unwrap(), None);
        assert_eq!(q.link_by_index(999_999).unwrap(), None);
        assert!(q.links().unwrap().iter().any(|l| l.name == "lo"));
        // lo is down in a fresh namespace: nothing is routable.
        assert_eq!(
            q.route_get("10.0.0.1".parse().unwrap(), None).unwrap(),
            None
        );
        assert_eq!(
            q.neighbour_state(1, "10.0.0.1".parse().unwrap()).unwrap(),
            None
        );
    }
}
