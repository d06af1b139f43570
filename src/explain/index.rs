//! An index over a resolved network, built once per explanation (or once for
//! every pair of `--all`): interfaces by number, who holds each address,
//! which devices are stacked on which, which ports a master has.
use super::fast::Map as HashMap;
use std::net::IpAddr;

use crate::model::{IfRef, Link, LinkKind, Network, Node};

/// An interface's number in the index.
pub type If = usize;

/// One interface of the network.
#[derive(Debug, Clone)]
pub struct Iface<'a> {
    /// Its node.
    pub node: &'a str,
    /// Its name.
    pub name: &'a str,
    /// The link.
    pub link: &'a Link,
}

/// The index.
#[derive(Debug)]
pub struct Index<'a> {
    /// The network indexed.
    pub net: &'a Network,
    /// Every interface, by number.
    pub ifs: Vec<Iface<'a>>,
    by_name: HashMap<(&'a str, &'a str), If>,
    /// Interfaces holding each address (node order, then name order).
    holders: HashMap<IpAddr, Vec<If>>,
    /// Devices stacked on each interface (macvlan, ipvlan, vlan, vxlan `dev`).
    uppers: HashMap<If, Vec<If>>,
    /// Ports of each master (bridge, bond, team).
    ports: HashMap<If, Vec<If>>,
    /// Every vxlan device.
    pub vxlans: Vec<If>,
    /// Interfaces of each node, in name order.
    by_node: HashMap<&'a str, Vec<If>>,
    /// Whether any ipvlan or ipvtap device is in the network.
    pub has_ipvlan: bool,
}

impl<'a> Index<'a> {
    /// Index `net`.
    pub fn new(net: &'a Network) -> Index<'a> {
        let mut idx = Index {
            net,
            ifs: Vec::new(),
            by_name: HashMap::default(),
            holders: HashMap::default(),
            uppers: HashMap::default(),
            ports: HashMap::default(),
            vxlans: Vec::new(),
            by_node: HashMap::default(),
            has_ipvlan: false,
        };
        for (node, n) in &net.nodes {
            for (name, link) in &n.links {
                let id = idx.ifs.len();
                idx.ifs.push(Iface {
                    node: node.as_str(),
                    name: name.as_str(),
                    link,
                });
                idx.by_name.insert((node.as_str(), name.as_str()), id);
                idx.by_node.entry(node.as_str()).or_default().push(id);
                for a in &link.addresses {
                    idx.holders.entry(a.net.addr()).or_default().push(id);
                }
                if matches!(link.kind, LinkKind::Vxlan(_)) {
                    idx.vxlans.push(id);
                }
                idx.has_ipvlan |= matches!(link.kind, LinkKind::Ipvlan(_) | LinkKind::Ipvtap(_));
            }
        }
        for id in 0..idx.ifs.len() {
            let i = idx.ifs[id].clone();
            if let Some(lower) = i.link.kind.lower() {
                if let Some(l) = idx.find(&lower.node, &lower.name) {
                    idx.uppers.entry(l).or_default().push(id);
                }
            }
            if let Some(m) = &i.link.master {
                if let Some(m) = idx.find(i.node, m) {
                    idx.ports.entry(m).or_default().push(id);
                }
            }
        }
        idx
    }

    /// The interface `name` of `node`.
    pub fn find(&self, node: &str, name: &str) -> Option<If> {
        self.by_name.get(&(node, name)).copied()
    }

    /// The interface an [`IfRef`] names.
    pub fn find_ref(&self, r: &IfRef) -> Option<If> {
        self.find(&r.node, &r.name)
    }

    /// The interface's link.
    pub fn link(&self, i: If) -> &'a Link {
        self.ifs[i].link
    }

    /// The interface's node name.
    pub fn node_of(&self, i: If) -> &'a str {
        self.ifs[i].node
    }

    /// The node `name`.
    pub fn node(&self, name: &str) -> Option<&'a Node> {
        self.net.nodes.get(name)
    }

    /// `node/iface`.
    pub fn label(&self, i: If) -> String {
        format!("{}/{}", self.ifs[i].node, self.ifs[i].name)
    }

    /// The interface as an [`IfRef`].
    pub fn iref(&self, i: If) -> IfRef {
        IfRef {
            node: self.ifs[i].node.to_string(),
            name: self.ifs[i].name.to_string(),
        }
    }

    /// Devices stacked on `i`.
    pub fn uppers(&self, i: If) -> &[If] {
        self.uppers.get(&i).map_or(&[], Vec::as_slice)
    }

    /// Ports of master `i`.
    pub fn ports(&self, i: If) -> &[If] {
        self.ports.get(&i).map_or(&[], Vec::as_slice)
    }

    /// The master of `i`, when it has one in the index.
    pub fn master(&self, i: If) -> Option<If> {
        let m = self.ifs[i].link.master.as_deref()?;
        self.find(self.ifs[i].node, m)
    }

    /// The lower device `i` is stacked on.
    pub fn lower(&self, i: If) -> Option<If> {
        self.ifs[i].link.kind.lower().and_then(|r| self.find_ref(r))
    }

    /// A veth end's peer.
    pub fn peer(&self, i: If) -> Option<If> {
        match &self.ifs[i].link.kind {
            LinkKind::Veth(v) => v.peer.as_ref().and_then(|p| self.find_ref(p)),
            _ => None,
        }
    }

    /// Interfaces holding `addr`.
    pub fn holders(&self, addr: IpAddr) -> &[If] {
        self.holders.get(&addr).map_or(&[], Vec::as_slice)
    }

    /// Whether `node` holds `addr` on any interface.
    pub fn node_holds(&self, node: &str, addr: IpAddr) -> bool {
        self.holders(addr).iter().any(|&i| self.ifs[i].node == node)
    }

    /// The interface of `node` holding `addr`, if any.
    pub fn holder_in(&self, node: &str, addr: IpAddr) -> Option<If> {
        self.holders(addr)
            .iter()
            .copied()
            .find(|&i| self.ifs[i].node == node)
    }

    /// The interface whose Ethernet address frames from `i` carry: a VLAN,
    /// an ipvlan (and ipvtap) uses its lower's; a bond or team port takes
    /// its master's (bond_enslave sets the port's address to the bond's in
    /// the modes netloom builds); everything else its own.
    pub fn mac_owner(&self, i: If) -> If {
        let mut at = i;
        for _ in 0..16 {
            let link = self.ifs[at].link;
            let next = match &link.kind {
                // An ipvlan has no address of its own (ipvlan_init copies
                // its master's); a VLAN device takes its lower's unless set.
                LinkKind::Ipvlan(_) | LinkKind::Ipvtap(_) => self.lower(at),
                LinkKind::Vlan(_)
                    if link.mac.is_none()
                        || self
                            .lower(at)
                            .is_some_and(|l| self.ifs[l].link.mac == link.mac) =>
                {
                    self.lower(at)
                }
                _ => match self.master(at) {
                    Some(m)
                        if matches!(
                            self.ifs[m].link.kind,
                            LinkKind::Bond(_) | LinkKind::Team(_)
                        ) =>
                    {
                        Some(m)
                    }
                    _ => None,
                },
            };
            match next {
                Some(n) => at = n,
                None => return at,
            }
        }
        at
    }

    /// Every address of the file with its holder `node/iface`, in node and
    /// interface order, each address once (loopback addresses left out).
    pub fn file_addresses(&self) -> Vec<(IpAddr, String)> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for (i, f) in self.ifs.iter().enumerate() {
            for a in &f.link.addresses {
                let ip = a.net.addr();
                if !ip.is_loopback() && seen.insert(ip) {
                    out.push((ip, self.label(i)));
                }
            }
        }
        out
    }

    /// Interfaces of `node`, in name order.
    pub fn ifaces_of(&self, node: &str) -> &[If] {
        self.by_node.get(node).map_or(&[], Vec::as_slice)
    }
}
