//! The test's own model of a topology file: plain data that renders to YAML
//! (render.rs), that edits change (edit.rs), and from which the kernel state
//! a file asks for is derived (check.rs). It knows nothing of netloom's
//! library: a file is judged against this model, never against netloom's
//! own reading of it.
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

/// The topology's name (namespaces are `netloom-ed.NODE`).
pub const TOPO: &str = "ed";

/// Most nodes, interfaces per node, addresses per interface, routes per node.
pub const MAX_NODES: usize = 7;
pub const MAX_IFACES: usize = 7;
pub const MAX_ADDRS: usize = 4;
pub const MAX_ROUTES: usize = 5;

/// An interface: its node and its name there.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct End {
    pub node: String,
    pub name: String,
}

impl End {
    pub fn new(node: &str, name: &str) -> End {
        End {
            node: node.into(),
            name: name.into(),
        }
    }
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.node, self.name)
    }
}

/// Bridge port options (IFLA_BRPORT_*); `None` means the file does not say.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Port {
    pub cost: Option<u32>,
    pub priority: Option<u32>,
    pub learning: Option<bool>,
    pub flood: Option<bool>,
    pub hairpin: Option<bool>,
    pub isolated: Option<bool>,
}

impl Port {
    /// A port through which any two hosts surely talk: not isolated, and
    /// learning and unicast flooding not turned off.
    pub fn plain(&self) -> bool {
        self.isolated != Some(true) && self.learning != Some(false) && self.flood != Some(false)
    }
}

/// macvlan modes (`source` needs MACs and is left out).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Bridge,
    Private,
    Vepa,
    Passthru,
}

impl Mode {
    pub fn word(self) -> &'static str {
        match self {
            Mode::Bridge => "bridge",
            Mode::Private => "private",
            Mode::Vepa => "vepa",
            Mode::Passthru => "passthru",
        }
    }
}

/// An interface's kind and kind options.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// A veth end (paired in `Topo::links`).
    Veth,
    /// A bridge (always `stp: false`) and its ports with their options.
    Bridge { ports: BTreeMap<String, Port> },
    /// A macvlan (or macvtap) on `lower`.
    Macvlan { lower: End, mode: Mode, tap: bool },
    /// A vxlan endpoint over `dev` of its own node.
    Vxlan {
        vni: u32,
        local: Ipv4Addr,
        remote: Ipv4Addr,
        dev: String,
        dstport: u16,
    },
    /// A tun or tap device.
    Tun { tap: bool, multi_queue: bool },
}

/// An interface.
#[derive(Clone, Debug, PartialEq)]
pub struct Iface {
    pub kind: Kind,
    pub addrs: Vec<IpNet>,
    pub mtu: Option<u32>,
}

impl Iface {
    pub fn new(kind: Kind) -> Iface {
        Iface {
            kind,
            addrs: Vec::new(),
            mtu: None,
        }
    }
}

/// A route as the file writes it.
#[derive(Clone, Debug, PartialEq)]
pub struct Route {
    pub to: IpNet,
    pub via: Option<IpAddr>,
    pub dev: Option<String>,
    pub metric: Option<u32>,
    pub table: Option<u32>,
}

impl Route {
    pub fn table_id(&self) -> u32 {
        self.table.unwrap_or(254)
    }
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.to)?;
        if let Some(v) = self.via {
            write!(f, " via {v}")?;
        }
        if let Some(d) = &self.dev {
            write!(f, " dev {d}")?;
        }
        if let Some(m) = self.metric {
            write!(f, " metric {m}")?;
        }
        if let Some(t) = self.table {
            write!(f, " table {t}")?;
        }
        Ok(())
    }
}

/// A masquerade rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Nat {
    pub source: IpNet,
    pub out: String,
}

/// A node (network namespace).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Node {
    pub ifaces: BTreeMap<String, Iface>,
    pub routes: Vec<Route>,
    pub sysctl: BTreeMap<String, String>,
    pub forwarding: Option<bool>,
    pub nat: Vec<Nat>,
}

/// A whole topology file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Topo {
    pub nodes: BTreeMap<String, Node>,
    /// veth pairs.
    pub links: Vec<(End, End)>,
    /// `reach:` claims written under `expect:` (see claims.rs).
    pub expect: Vec<(End, IpAddr)>,
    /// Counter for fresh names, VNIs and subnets.
    pub fresh: u32,
}

impl Topo {
    pub fn iface(&self, e: &End) -> Option<&Iface> {
        self.nodes.get(&e.node)?.ifaces.get(&e.name)
    }

    pub fn iface_mut(&mut self, e: &End) -> Option<&mut Iface> {
        self.nodes.get_mut(&e.node)?.ifaces.get_mut(&e.name)
    }

    /// Every interface, in order.
    pub fn ends(&self) -> Vec<End> {
        self.nodes
            .iter()
            .flat_map(|(n, node)| node.ifaces.keys().map(move |i| End::new(n, i)))
            .collect()
    }

    /// The bridge `e` is a port of, with its port options.
    pub fn master(&self, e: &End) -> Option<(String, &Port)> {
        let node = self.nodes.get(&e.node)?;
        node.ifaces.iter().find_map(|(name, i)| match &i.kind {
            Kind::Bridge { ports } => ports.get(&e.name).map(|p| (name.clone(), p)),
            _ => None,
        })
    }

    /// The other end of `e`'s veth.
    pub fn peer(&self, e: &End) -> Option<End> {
        self.links.iter().find_map(|(a, b)| {
            if a == e {
                Some(b.clone())
            } else if b == e {
                Some(a.clone())
            } else {
                None
            }
        })
    }

    /// The macvlans on `e` and the vxlans over it.
    pub fn stacked_on(&self, e: &End) -> Vec<End> {
        self.ends()
            .into_iter()
            .filter(|s| match &self.iface(s).unwrap().kind {
                Kind::Macvlan { lower, .. } => lower == e,
                Kind::Vxlan { dev, .. } => s.node == e.node && dev == &e.name,
                _ => false,
            })
            .collect()
    }

    /// The macvlans on `e`, with their modes.
    pub fn macvlans_on(&self, e: &End) -> Vec<(End, Mode)> {
        self.ends()
            .into_iter()
            .filter_map(|s| match &self.iface(&s).unwrap().kind {
                Kind::Macvlan { lower, mode, .. } if lower == e => Some((s, *mode)),
                _ => None,
            })
            .collect()
    }

    /// The MTU validate assumes for `e` (an unset one counts as 1500).
    pub fn eff_mtu(&self, e: &End) -> u32 {
        self.iface(e).and_then(|i| i.mtu).unwrap_or(1500)
    }

    /// Interfaces that can hold addresses: all but bridge ports.
    pub fn addressable(&self) -> Vec<End> {
        self.ends()
            .into_iter()
            .filter(|e| self.master(e).is_none())
            .collect()
    }

    /// Whether `ip` is an address anywhere in the topology.
    pub fn ip_used(&self, ip: IpAddr) -> bool {
        self.nodes.values().any(|n| {
            n.ifaces
                .values()
                .any(|i| i.addrs.iter().any(|a| a.addr() == ip))
                || n.routes.iter().any(|r| r.via == Some(ip))
        })
    }

    /// Whether `via` is on link in `node` as validate judges it: inside a
    /// subnet of an address (of `dev`, when given), not one of the node's own
    /// IPv6 addresses, not the broadcast address of one of its IPv4 subnets.
    pub fn on_link(&self, node: &str, via: IpAddr, dev: Option<&str>) -> bool {
        let Some(n) = self.nodes.get(node) else {
            return false;
        };
        let all = n.ifaces.values().flat_map(|i| &i.addrs);
        for a in all {
            match (a, via) {
                (IpNet::V6(a), IpAddr::V6(v)) if a.addr() == v => return false,
                (IpNet::V4(a), IpAddr::V4(v)) if a.prefix_len() < 31 && a.broadcast() == v => {
                    return false
                }
                _ => {}
            }
            if a.addr() == via {
                return false;
            }
        }
        n.ifaces
            .iter()
            .filter(|(name, _)| dev.is_none_or(|d| d == name.as_str()))
            .any(|(_, i)| i.addrs.iter().any(|a| a.trunc().contains(&via)))
    }

    /// A fresh number (names, VNIs, subnets).
    pub fn next(&mut self) -> u32 {
        self.fresh += 1;
        self.fresh
    }

    /// A fresh interface name with `prefix`.
    pub fn fresh_name(&mut self, prefix: &str) -> String {
        format!("{prefix}{}", self.next())
    }

    /// A fresh subnet number (the `S` of 10.S.0.0/16 and fd00:0:0:S::/64).
    pub fn fresh_subnet(&mut self) -> u8 {
        let n = self.next();
        (20 + n % 230) as u8
    }

    /// Removes what can no longer be, after an edit removed or changed
    /// something else (as a person editing the file would have to), and
    /// says what went. Runs to a fixpoint.
    pub fn repair(&mut self) -> Vec<String> {
        let mut gone = Vec::new();
        loop {
            let before = gone.len();
            // Links whose ends are gone, and veth ends without a link.
            let links = std::mem::take(&mut self.links);
            for (a, b) in links {
                if self.iface(&a).is_some() && self.iface(&b).is_some() {
                    self.links.push((a, b));
                } else {
                    gone.push(format!("link {a} - {b}"));
                }
            }
            for e in self.ends() {
                let i = self.iface(&e).unwrap().clone();
                let drop = match &i.kind {
                    Kind::Veth => self.peer(&e).is_none(),
                    Kind::Macvlan { lower, .. } => {
                        self.iface(lower).is_none() || self.master(lower).is_some()
                    }
                    Kind::Vxlan { dev, .. } => self.iface(&End::new(&e.node, dev)).is_none(),
                    _ => false,
                };
                if drop {
                    self.nodes.get_mut(&e.node).unwrap().ifaces.remove(&e.name);
                    gone.push(format!("interface {e}"));
                }
            }
            for (name, node) in self.nodes.iter_mut() {
                let names: Vec<String> = node.ifaces.keys().cloned().collect();
                let veths: Vec<String> = node
                    .ifaces
                    .iter()
                    .filter(|(_, i)| i.kind == Kind::Veth)
                    .map(|(n, _)| n.clone())
                    .collect();
                for i in node.ifaces.values_mut() {
                    if let Kind::Bridge { ports } = &mut i.kind {
                        ports.retain(|p, _| {
                            let keep = veths.contains(p);
                            if !keep {
                                gone.push(format!("port {name}/{p}"));
                            }
                            keep
                        });
                    }
                }
                node.nat.retain(|m| {
                    let keep = names.contains(&m.out);
                    if !keep {
                        gone.push(format!("{name}: nat {} out {}", m.source, m.out));
                    }
                    keep
                });
                node.sysctl.retain(|k, _| {
                    let keep = iface_of_key(k).is_none_or(|i| names.contains(&i));
                    if !keep {
                        gone.push(format!("{name}: sysctl {k}"));
                    }
                    keep
                });
            }
            // Routes whose device or gateway is no longer there.
            let nodes: Vec<String> = self.nodes.keys().cloned().collect();
            for n in nodes {
                let routes = std::mem::take(&mut self.nodes.get_mut(&n).unwrap().routes);
                let mut keep = Vec::new();
                for r in routes {
                    let dev_ok = r.dev.as_ref().is_none_or(|d| {
                        self.nodes[&n].ifaces.contains_key(d)
                            && self.master(&End::new(&n, d)).is_none()
                    });
                    let via_ok = r.via.is_none_or(|v| self.on_link(&n, v, r.dev.as_deref()));
                    if dev_ok && via_ok {
                        keep.push(r);
                    } else {
                        gone.push(format!("{n}: route {r}"));
                    }
                }
                self.nodes.get_mut(&n).unwrap().routes = keep;
            }
            if gone.len() == before {
                return gone;
            }
        }
    }
}

/// The interface a per-interface sysctl key names (`net.ipv4.conf.IF.KEY`).
pub fn iface_of_key(key: &str) -> Option<String> {
    let rest = key
        .strip_prefix("net.ipv4.conf.")
        .or_else(|| key.strip_prefix("net.ipv6.conf."))?;
    let (name, _) = rest.split_once('.')?;
    (name != "all" && name != "default").then(|| name.to_string())
}

/// The IPv4 address 10.S.0.H/len.
pub fn v4(s: u8, h: u8, len: u8) -> IpNet {
    format!("10.{s}.0.{h}/{len}").parse().unwrap()
}

/// The IPv6 address fd00:0:0:S::H/len.
pub fn v6(s: u8, h: u8, len: u8) -> IpNet {
    format!("fd00:0:0:{s:x}::{h:x}/{len}").parse().unwrap()
}

/// The `S` and `H` of an address made by [`v4`] or [`v6`].
pub fn parts(a: IpNet) -> (u8, u8) {
    match a.addr() {
        IpAddr::V4(x) => (x.octets()[1], x.octets()[3]),
        IpAddr::V6(x) => (x.segments()[3] as u8, x.segments()[7] as u8),
    }
}
