//! Questions a node's kernel answers about one packet, for explain: which
//! route it takes (RTM_GETROUTE with `iif` and `from` as for a packet that
//! came in, and RTM_F_FIB_MATCH for the route that matched), the state of
//! the neighbour entry for a next hop, where a bridge's forwarding database
//! has an address, and the nftables ruleset. Each asked one object at a time
//! over a [`Query`] opened inside the node's namespace.
use std::collections::HashMap;
use std::net::IpAddr;

use rtnetlink::packet_route::neighbour::{NeighbourAttribute, NeighbourMessage};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteMessage, RouteProtocol, RouteType,
};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage as Msg};

use super::error::KernelError;
use super::netns::{run_in, Netns};
use super::query::{absent, family, route_ip, LinkState, Query};
use crate::model::MacAddr;

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

/// A [`Query`] with the link names and indexes it has met, so a flow that
/// crosses one interface many times asks for it once.
struct Names {
    q: Query,
    index: HashMap<String, Option<u32>>,
    name: HashMap<u32, String>,
}

impl Names {
    fn open(ns: &Netns) -> Result<Names, KernelError> {
        Ok(Names {
            q: Query::open(ns.label())?,
            index: HashMap::new(),
            name: HashMap::new(),
        })
    }

    fn index_of(&mut self, name: &str) -> Result<Option<u32>, KernelError> {
        if let Some(i) = self.index.get(name) {
            return Ok(*i);
        }
        let found = self.q.link_by_name(name)?.map(|l| l.index);
        self.index.insert(name.to_string(), found);
        if let Some(i) = found {
            self.name.insert(i, name.to_string());
        }
        Ok(found)
    }

    fn name_of(&mut self, index: u32) -> Result<Option<String>, KernelError> {
        if let Some(n) = self.name.get(&index) {
            return Ok(Some(n.clone()));
        }
        let found = self.q.link_by_index(index)?.map(|l| l.name);
        if let Some(n) = &found {
            self.name.insert(index, n.clone());
        }
        Ok(found)
    }
}

fn request(q: &RouteAsk, iif: Option<u32>, oif: Option<u32>, fibmatch: bool) -> Msg {
    let mut m = RouteMessage::default();
    m.header.address_family = family(q.dst);
    m.header.destination_prefix_length = if q.dst.is_ipv4() { 32 } else { 128 };
    m.attributes
        .push(RouteAttribute::Destination(RouteAddress::from(q.dst)));
    if let Some(s) = q.src {
        m.header.source_prefix_length = if s.is_ipv4() { 32 } else { 128 };
        m.attributes
            .push(RouteAttribute::Source(RouteAddress::from(s)));
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
    Msg::GetRoute(m)
}

/// A fibmatch answer in iproute2's words.
fn words(m: &RouteMessage, names: &HashMap<u32, String>) -> String {
    let mut dst = None;
    let (mut dev, mut via, mut src, mut table) = (None, None, None, u32::from(m.header.table));
    for a in &m.attributes {
        match a {
            RouteAttribute::Destination(d) => dst = route_ip(d),
            RouteAttribute::Oif(i) => dev = names.get(i).cloned(),
            RouteAttribute::Gateway(g) => via = route_ip(g),
            RouteAttribute::PrefSource(s) => src = route_ip(s),
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
    if m.header.protocol == RouteProtocol::Kernel {
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

/// One route lookup.
fn route(n: &mut Names, q: &RouteAsk) -> Result<RouteGot, KernelError> {
    let iif = match &q.iif {
        Some(name) => n.index_of(name)?,
        None => None,
    };
    let oif = match &q.oif {
        Some(name) => n.index_of(name)?,
        None => None,
    };
    if q.iif.is_some() && iif.is_none() || q.oif.is_some() && oif.is_none() {
        return Ok(RouteGot::Refused {
            errno: libc::ENODEV,
            message: "no such interface".into(),
        });
    }
    let got = match n.q.ask(request(q, iif, oif, false), "route get") {
        Ok(msgs) => msgs.into_iter().find_map(|m| match m {
            Msg::NewRoute(r) => Some(r),
            _ => None,
        }),
        Err(KernelError::Netlink { errno, message, .. }) if errno != 0 => {
            return Ok(RouteGot::Refused { errno, message })
        }
        Err(e) => return Err(e),
    };
    let Some(r) = got else {
        return Ok(RouteGot::Refused {
            errno: libc::ENETUNREACH,
            message: "no answer".into(),
        });
    };
    match r.header.kind {
        RouteType::Local => return Ok(RouteGot::Local),
        RouteType::Unicast => {}
        k => {
            return Ok(RouteGot::Refused {
                errno: libc::EHOSTUNREACH,
                message: format!("route type {k:?}"),
            })
        }
    }
    let (mut dev, mut via, mut src) = (None, None, None);
    for a in &r.attributes {
        match a {
            RouteAttribute::Oif(i) => dev = Some(*i),
            RouteAttribute::Gateway(g) => via = route_ip(g),
            RouteAttribute::PrefSource(s) => src = route_ip(s),
            _ => {}
        }
    }
    let dev_name = match dev {
        Some(i) => n.name_of(i)?,
        None => None,
    };
    // Only words for the reader: a kernel without fibmatch still answers the lookup.
    let matched = match n.q.ask(request(q, iif, oif, true), "route get fibmatch") {
        Ok(msgs) => msgs.into_iter().find_map(|m| match m {
            Msg::NewRoute(r) => Some(words(&r, &n.name)),
            _ => None,
        }),
        Err(_) => None,
    };
    Ok(RouteGot::Unicast {
        dev: dev_name.unwrap_or_else(|| format!("ifindex {}", dev.unwrap_or(0))),
        via,
        src,
        matched,
    })
}

/// Ask each route lookup of `asks`, and the state of each neighbour entry
/// `(interface, address)` of `neighs` (iproute2's word, `none` when there is
/// no entry), inside `ns`.
pub fn ask(
    ns: &Netns,
    asks: &[RouteAsk],
    neighs: &[(String, IpAddr)],
) -> Result<(Vec<RouteGot>, Vec<Option<String>>), KernelError> {
    run_in(ns, || -> Result<_, KernelError> {
        let mut n = Names::open(ns)?;
        let routes = asks
            .iter()
            .map(|q| route(&mut n, q))
            .collect::<Result<Vec<_>, _>>()?;
        let mut states = Vec::with_capacity(neighs.len());
        for (dev, a) in neighs {
            let Some(i) = n.index_of(dev)? else {
                states.push(None);
                continue;
            };
            // A neighbour state is context for the reader, not a verdict:
            // an error reading it leaves it unknown.
            let st = match n.q.neighbour_state(i, *a) {
                Ok(Some(s)) => Some(format!("{s:?}").to_uppercase()),
                Ok(None) => Some("none".into()),
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

/// The state of each of the links `names` inside `ns` (`None`: no such
/// link), each asked for by name: a node with a thousand links is not
/// dumped whole for the few a flow crosses.
pub fn links(ns: &Netns, names: &[String]) -> Result<Vec<Option<LinkState>>, KernelError> {
    run_in(ns, || -> Result<_, KernelError> {
        let mut q = Query::open(ns.label())?;
        names.iter().map(|n| q.link_by_name(n)).collect()
    })?
}

/// Where each bridge's forwarding database has each address: for every
/// `(bridge, mac)` of `asks` (RTM_GETNEIGH, AF_BRIDGE, NDA_MASTER: `bridge
/// fdb get MAC br BRIDGE`), `Some(port)` when learnt (or static) on a port,
/// `None` when it has no entry.
pub fn fdb(ns: &Netns, asks: &[(String, MacAddr)]) -> Result<Vec<Option<String>>, KernelError> {
    run_in(ns, || -> Result<_, KernelError> {
        let mut n = Names::open(ns)?;
        let mut out = Vec::with_capacity(asks.len());
        for (br, mac) in asks {
            let Some(b) = n.index_of(br)? else {
                out.push(None);
                continue;
            };
            let mut m = NeighbourMessage::default();
            m.header.family = AddressFamily::Bridge;
            m.attributes
                .push(NeighbourAttribute::LinkLayerAddress(mac.0.to_vec()));
            m.attributes.push(NeighbourAttribute::Controller(b));
            let got = absent(n.q.ask(Msg::GetNeighbour(m), "fdb get"), &[libc::ENOENT])?;
            let port = got.into_iter().flatten().find_map(|m| match m {
                Msg::NewNeighbour(e) => Some(e.header.ifindex),
                _ => None,
            });
            out.push(match port {
                Some(i) => n.name_of(i)?,
                None => None,
            });
        }
        Ok(out)
    })?
}
