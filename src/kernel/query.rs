//! Questions a node's kernel answers about one packet, asked from a thread
//! inside its namespace: which route it takes (RTM_GETROUTE, with `iif`
//! and `from` as for a packet that came in, and RTM_F_FIB_MATCH for the
//! route that matched), what the neighbour entry for a next hop is
//! (RTM_GETNEIGH for one entry), the nftables ruleset (`nft -j -a list
//! ruleset`, run only when the namespace has a table at all).
use std::collections::HashMap;
use std::net::IpAddr;

use rtnetlink::packet_route::link::{
    InfoBridgePort, InfoPortData, LinkAttribute, LinkExtentMask, LinkFlags, LinkInfo, LinkMessage,
};
use rtnetlink::packet_route::neighbour::{NeighbourAddress, NeighbourAttribute, NeighbourMessage};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteMessage, RouteType,
};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};

use super::error::KernelError;
use super::netns::{run_in, Netns};
use super::rtnl::Rtnl;

/// A route lookup to ask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteAsk {
    /// Destination.
    pub dst: IpAddr,
    /// Source (with `iif`: the packet's source).
    pub src: Option<IpAddr>,
    /// As if the packet came in by this interface.
    pub iif: Option<String>,
    /// Forced out of this interface (a socket bound to it).
    pub oif: Option<String>,
}

/// The kernel's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteGot {
    /// A local address.
    Local,
    /// Unicast out of `dev`.
    Unicast {
        /// Output interface.
        dev: String,
        /// Gateway.
        via: Option<IpAddr>,
        /// Preferred source.
        src: Option<IpAddr>,
        /// The route that matched (fibmatch), in iproute2's words.
        matched: Option<String>,
    },
    /// Refused (ENETUNREACH, EHOSTUNREACH, EINVAL, ...).
    Refused {
        /// errno.
        errno: i32,
        /// The kernel's words.
        message: String,
    },
}

fn ip_of(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v) => Some(IpAddr::V4(*v)),
        RouteAddress::Inet6(v) => Some(IpAddr::V6(*v)),
        _ => None,
    }
}

fn addr(a: IpAddr) -> RouteAddress {
    match a {
        IpAddr::V4(v) => RouteAddress::Inet(v),
        IpAddr::V6(v) => RouteAddress::Inet6(v),
    }
}

/// The ifindex of `name`, asked for by name (no dump).
fn index_of(
    rtnl: &mut Rtnl,
    cache: &mut HashMap<String, Option<u32>>,
    name: &str,
    object: &str,
) -> Result<Option<u32>, KernelError> {
    if let Some(i) = cache.get(name) {
        return Ok(*i);
    }
    let mut m = LinkMessage::default();
    m.attributes.push(LinkAttribute::IfName(name.to_string()));
    let found = match rtnl.ask(RouteNetlinkMessage::GetLink(m), object, "get link") {
        Ok(msgs) => msgs.iter().find_map(|m| match m {
            RouteNetlinkMessage::NewLink(l) => Some(l.header.index),
            _ => None,
        }),
        Err(e) if e.errno() == Some(libc::ENODEV) => None,
        Err(e) => return Err(e),
    };
    cache.insert(name.to_string(), found);
    Ok(found)
}

/// Names of the interfaces with these indexes.
fn name_of(rtnl: &mut Rtnl, index: u32, object: &str) -> Result<Option<String>, KernelError> {
    let mut m = LinkMessage::default();
    m.header.index = index;
    let msgs = rtnl.ask(RouteNetlinkMessage::GetLink(m), object, "get link")?;
    Ok(msgs.iter().find_map(|m| match m {
        RouteNetlinkMessage::NewLink(l) => l.attributes.iter().find_map(|a| match a {
            LinkAttribute::IfName(n) => Some(n.clone()),
            _ => None,
        }),
        _ => None,
    }))
}

fn request(
    q: &RouteAsk,
    iif: Option<u32>,
    oif: Option<u32>,
    fibmatch: bool,
) -> RouteNetlinkMessage {
    let mut m = RouteMessage::default();
    m.header.address_family = if q.dst.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    m.header.destination_prefix_length = if q.dst.is_ipv4() { 32 } else { 128 };
    m.attributes.push(RouteAttribute::Destination(addr(q.dst)));
    if let Some(s) = q.src {
        m.header.source_prefix_length = if s.is_ipv4() { 32 } else { 128 };
        m.attributes.push(RouteAttribute::Source(addr(s)));
    }
    if let Some(i) = iif {
        m.attributes.push(RouteAttribute::Iif(i));
    }
    if let Some(o) = oif {
        m.attributes.push(RouteAttribute::Oif(o));
    }
    if fibmatch {
        m.header.flags = RouteFlags::FibMatch;
    }
    RouteNetlinkMessage::GetRoute(m)
}

/// A fibmatch answer in iproute2's words.
fn words(m: &RouteMessage, names: &HashMap<u32, String>) -> String {
    let mut dst = None;
    let (mut dev, mut via, mut src, mut table) = (None, None, None, u32::from(m.header.table));
    for a in &m.attributes {
        match a {
            RouteAttribute::Destination(d) => dst = ip_of(d),
            RouteAttribute::Oif(i) => dev = names.get(i).cloned(),
            RouteAttribute::Gateway(g) => via = ip_of(g),
            RouteAttribute::PrefSource(s) => src = ip_of(s),
            RouteAttribute::Table(t) => table = *t,
            _ => {}
        }
    }
    let plen = m.header.destination_prefix_length;
    let mut s = match dst {
        Some(d) if plen > 0 => format!("{d}/{plen}"),
        _ => "default".into(),
    };
    if let Some(v) = via {
        s.push_str(&format!(" via {v}"));
    }
    if let Some(d) = dev {
        s.push_str(&format!(" dev {d}"));
    }
    if m.header.protocol == rtnetlink::packet_route::route::RouteProtocol::Kernel {
        s.push_str(" proto kernel");
    }
    if let Some(p) = src {
        s.push_str(&format!(" src {p}"));
    }
    if table != 254 && table != 0 {
        s.push_str(&format!(" table {table}"));
    }
    s
}

/// Ask each route lookup of `asks`, and the state of each neighbour entry
/// `(interface, address)` of `neighs`, inside `ns`.
pub fn ask(
    ns: &Netns,
    asks: &[RouteAsk],
    neighs: &[(String, IpAddr)],
) -> Result<(Vec<RouteGot>, Vec<Option<String>>), KernelError> {
    let object = ns.label();
    run_in(ns, || -> Result<_, KernelError> {
        let mut rtnl = Rtnl::open().map_err(|e| KernelError::io(object.clone(), e))?;
        let mut idx: HashMap<String, Option<u32>> = HashMap::new();
        let mut names: HashMap<u32, String> = HashMap::new();
        let mut routes = Vec::with_capacity(asks.len());
        for q in asks {
            let iif = match &q.iif {
                Some(n) => index_of(&mut rtnl, &mut idx, n, &object)?,
                None => None,
            };
            let oif = match &q.oif {
                Some(n) => index_of(&mut rtnl, &mut idx, n, &object)?,
                None => None,
            };
            if q.iif.is_some() && iif.is_none() || q.oif.is_some() && oif.is_none() {
                routes.push(RouteGot::Refused {
                    errno: libc::ENODEV,
                    message: "no such interface".into(),
                });
                continue;
            }
            let got = match rtnl.ask(request(q, iif, oif, false), &object, "route get") {
                Ok(msgs) => msgs.into_iter().find_map(|m| match m {
                    RouteNetlinkMessage::NewRoute(r) => Some(r),
                    _ => None,
                }),
                Err(KernelError::Netlink { errno, message, .. }) if errno != 0 => {
                    routes.push(RouteGot::Refused { errno, message });
                    continue;
                }
                Err(e) => return Err(e),
            };
            let Some(r) = got else {
                routes.push(RouteGot::Refused {
                    errno: libc::ENETUNREACH,
                    message: "no answer".into(),
                });
                continue;
            };
            match r.header.kind {
                RouteType::Local => {
                    routes.push(RouteGot::Local);
                    continue;
                }
                RouteType::Unicast => {}
                k => {
                    routes.push(RouteGot::Refused {
                        errno: libc::EHOSTUNREACH,
                        message: format!("route type {k:?}"),
                    });
                    continue;
                }
            }
            let (mut dev, mut via, mut src) = (None, None, None);
            for a in &r.attributes {
                match a {
                    RouteAttribute::Oif(i) => dev = Some(*i),
                    RouteAttribute::Gateway(g) => via = ip_of(g),
                    RouteAttribute::PrefSource(s) => src = ip_of(s),
                    _ => {}
                }
            }
            let dev_name = match dev {
                Some(i) => match names.get(&i) {
                    Some(n) => Some(n.clone()),
                    None => {
                        let n = name_of(&mut rtnl, i, &object)?;
                        if let Some(n) = &n {
                            names.insert(i, n.clone());
                        }
                        n
                    }
                },
                None => None,
            };
            let matched = match rtnl.ask(request(q, iif, oif, true), &object, "route get fibmatch")
            {
                Ok(msgs) => msgs.into_iter().find_map(|m| match m {
                    RouteNetlinkMessage::NewRoute(r) => Some(words(&r, &names)),
                    _ => None,
                }),
                Err(_) => None,
            };
            routes.push(RouteGot::Unicast {
                dev: dev_name.unwrap_or_else(|| format!("ifindex {}", dev.unwrap_or(0))),
                via,
                src,
                matched,
            });
        }
        let mut states = Vec::with_capacity(neighs.len());
        for (dev, a) in neighs {
            let Some(i) = index_of(&mut rtnl, &mut idx, dev, &object)? else {
                states.push(None);
                continue;
            };
            let mut m = NeighbourMessage::default();
            m.header.family = if a.is_ipv4() {
                AddressFamily::Inet
            } else {
                AddressFamily::Inet6
            };
            m.header.ifindex = i;
            m.attributes.push(NeighbourAttribute::Destination(match a {
                IpAddr::V4(v) => NeighbourAddress::Inet(*v),
                IpAddr::V6(v) => NeighbourAddress::Inet6(*v),
            }));
            let st = match rtnl.ask(
                RouteNetlinkMessage::GetNeighbour(m),
                &object,
                "neighbour get",
            ) {
                Ok(msgs) => msgs.into_iter().find_map(|m| match m {
                    RouteNetlinkMessage::NewNeighbour(n) => {
                        Some(format!("{:?}", n.header.state).to_uppercase())
                    }
                    _ => None,
                }),
                Err(e) if e.errno() == Some(libc::ENOENT) => Some("none".into()),
                Err(_) => None,
            };
            states.push(st);
        }
        Ok((routes, states))
    })?
}

/// The namespace's nftables ruleset as `nft -j -a list ruleset` prints it,
/// or `None` when it has no table (checked over netlink first: starting
/// `nft` costs milliseconds, and most nodes have no table).
pub fn ruleset(ns: &Netns) -> Result<Option<serde_json::Value>, KernelError> {
    let object = format!("{} nft", ns.label());
    run_in(ns, || -> Result<_, KernelError> {
        if super::nfnl::tables().map_err(|e| KernelError::io(object.clone(), e))? == 0 {
            return Ok(None);
        }
        // A child started from this thread is born in the thread's namespace.
        let out = std::process::Command::new("nft")
            .args(["-j", "-a", "list", "ruleset"])
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| {
                KernelError::io(format!("{object} (is the nftables package installed?)"), e)
            })?;
        if !out.status.success() {
            return Err(KernelError::Netlink {
                object: object.clone(),
                op: "list ruleset".into(),
                errno: 0,
                message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        serde_json::from_slice(&out.stdout)
            .map(Some)
            .map_err(|e| KernelError::Decode {
                object: object.clone(),
                message: format!("nft -j: {e}"),
            })
    })?
}

/// What the walk needs of one link of a node read link by link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkState {
    /// IFF_UP.
    pub up: bool,
    /// IFF_LOWER_UP (carrier).
    pub carrier: bool,
    /// IFLA_BRPORT_STATE, for a bridge port.
    pub port_state: Option<u8>,
}

/// The state of each of the links `names` inside `ns` (`None`: no such
/// link), each asked for by name: a node with a thousand links is not
/// dumped whole for the few a flow crosses.
pub fn links(ns: &Netns, names: &[String]) -> Result<Vec<Option<LinkState>>, KernelError> {
    let object = ns.label();
    run_in(ns, || -> Result<_, KernelError> {
        let mut rtnl = Rtnl::open().map_err(|e| KernelError::io(object.clone(), e))?;
        let mut out = Vec::with_capacity(names.len());
        for n in names {
            let mut m = LinkMessage::default();
            m.attributes.push(LinkAttribute::IfName(n.clone()));
            m.attributes
                .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
            let got = match rtnl.ask(RouteNetlinkMessage::GetLink(m), &object, "get link") {
                Ok(msgs) => msgs.into_iter().find_map(|m| match m {
                    RouteNetlinkMessage::NewLink(l) => Some(l),
                    _ => None,
                }),
                Err(e) if e.errno() == Some(libc::ENODEV) => None,
                Err(e) => return Err(e),
            };
            out.push(got.map(|l| {
                let port_state = l.attributes.iter().find_map(|a| match a {
                    LinkAttribute::LinkInfo(infos) => infos.iter().find_map(|i| match i {
                        LinkInfo::PortData(InfoPortData::BridgePort(p)) => {
                            p.iter().find_map(|o| match o {
                                InfoBridgePort::State(s) => Some(u8::from(*s)),
                                _ => None,
                            })
                        }
                        _ => None,
                    }),
                    _ => None,
                });
                LinkState {
                    up: l.header.flags.contains(LinkFlags::Up),
                    carrier: l.header.flags.contains(LinkFlags::LowerUp),
                    port_state,
                }
            }));
        }
        Ok(out)
    })?
}

/// Where each bridge's forwarding database has each address: for every
/// `(bridge, mac)` of `asks` (RTM_GETNEIGH, AF_BRIDGE, NDA_MASTER: `bridge
/// fdb get MAC br BRIDGE`), `Some(port)` when learnt (or static) on a port,
/// `None` when it has no entry.
pub fn fdb(
    ns: &Netns,
    asks: &[(String, crate::model::MacAddr)],
) -> Result<Vec<Option<String>>, KernelError> {
    let object = ns.label();
    run_in(ns, || -> Result<_, KernelError> {
        let mut rtnl = Rtnl::open().map_err(|e| KernelError::io(object.clone(), e))?;
        let mut idx: HashMap<String, Option<u32>> = HashMap::new();
        let mut out = Vec::with_capacity(asks.len());
        for (br, mac) in asks {
            let Some(b) = index_of(&mut rtnl, &mut idx, br, &object)? else {
                out.push(None);
                continue;
            };
            let mut m = NeighbourMessage::default();
            m.header.family = AddressFamily::Bridge;
            m.attributes
                .push(NeighbourAttribute::LinkLayerAddress(mac.0.to_vec()));
            m.attributes.push(NeighbourAttribute::Controller(b));
            let port = match rtnl.ask(RouteNetlinkMessage::GetNeighbour(m), &object, "fdb get") {
                Ok(msgs) => msgs.into_iter().find_map(|m| match m {
                    RouteNetlinkMessage::NewNeighbour(n) => Some(n.header.ifindex),
                    _ => None,
                }),
                Err(e) if e.errno() == Some(libc::ENOENT) => None,
                Err(e) => return Err(e),
            };
            out.push(match port {
                Some(i) => name_of(&mut rtnl, i, &object)?,
                None => None,
            });
        }
        Ok(out)
    })?
}
