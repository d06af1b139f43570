//! Plain data describing a network: what the file wants (desired) and what the
//! kernel has (observed) share these types, so planning is a pure diff.
//!
//! Option structs hold `Option<T>` fields: in a desired network `None` means
//! "the file does not care"; in an observed network `None` means "the kernel
//! did not report it". One file per device kind, named after the kind.

pub mod bond;
pub mod bridge;
pub mod dummy;
pub mod expect;
pub mod fdb;
pub mod ifb;
pub mod ipvlan;
pub mod kind;
pub mod macvlan;
pub mod op;
pub mod service;
pub mod team;
pub mod tun;
pub mod veth;
pub mod vlan;
pub mod vrf;
pub mod vxlan;

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

pub use bond::{BondOptions, BondPort};
pub use bridge::{BridgeOptions, BridgePort, BridgeVlan};
pub use dummy::DummyOptions;
pub use expect::{Claim, Endpoint, Expectation, Probe, Target};
pub use fdb::FdbEntry;
pub use ipvlan::IpvlanOptions;
pub use macvlan::MacvlanOptions;
pub use op::{LinkChange, Need, Op, Plan, Step};
pub use service::{Service, ServiceReport, ServiceSetup};
pub use team::{TeamOptions, TeamPort, TeamdSetup};
pub use tun::TunOptions;
pub use veth::VethOptions;
pub use vlan::VlanOptions;
pub use vxlan::VxlanOptions;

/// The node that is the namespace netloom itself runs in.
pub const HOST: &str = "host";

/// A 6-byte Ethernet address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MacAddr(pub [u8; 6]);

impl std::fmt::Display for MacAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl std::str::FromStr for MacAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split(':').collect();
        if parts.len() != 6 {
            return Err(format!("`{s}` is not a MAC address like 02:00:00:00:00:01"));
        }
        let mut out = [0u8; 6];
        for (i, p) in parts.iter().enumerate() {
            if p.len() != 2 {
                return Err(format!("`{s}` is not a MAC address like 02:00:00:00:00:01"));
            }
            out[i] = u8::from_str_radix(p, 16)
                .map_err(|_| format!("`{s}` is not a MAC address like 02:00:00:00:00:01"))?;
        }
        Ok(MacAddr(out))
    }
}

/// A reference to an interface: the node it lives in and its name there.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct IfRef {
    /// Node (namespace) name as written in the file.
    pub node: String,
    /// Interface name inside that node.
    pub name: String,
}

impl std::fmt::Display for IfRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.node, self.name)
    }
}

/// A whole network: every node with its kernel objects, keyed by node name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Network {
    /// Topology name; namespaces and ownership marks derive from it.
    pub name: String,
    /// Nodes by name. `host` is the namespace netloom runs in.
    pub nodes: BTreeMap<String, Node>,
}

impl Network {
    /// The links stacked directly on `lower` (its `lower` or vxlan `dev`), in any node.
    pub fn stacked_on<'a>(
        &'a self,
        lower: &'a IfRef,
    ) -> impl Iterator<Item = (IfRef, &'a Link)> + 'a {
        self.nodes.iter().flat_map(move |(node, n)| {
            n.links
                .values()
                .filter(move |l| l.kind.lower() == Some(lower))
                .map(move |l| {
                    let r = IfRef {
                        node: node.clone(),
                        name: l.name.clone(),
                    };
                    (r, l)
                })
        })
    }
}

/// One network namespace and what it holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// Interfaces by name.
    pub links: BTreeMap<String, Link>,
    /// Routes, in file order.
    pub routes: Vec<Route>,
    /// Sysctls under /proc/sys (dotted keys such as `net.ipv4.ip_forward`).
    pub sysctls: BTreeMap<String, String>,
    /// NAT masquerade rules, served by an nftables table netloom owns.
    pub nat: Vec<Masquerade>,
    /// Processes netloom runs in the node (dnsmasq, DHCP client, LIF
    /// watcher), by name (see [`service`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub services: BTreeMap<String, Service>,
    /// Static entries of its bridges' and vxlans' forwarding databases,
    /// sorted (observed: those netloom manages, see kernel::observe).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fdb: Vec<FdbEntry>,
}

/// A network interface and its generic and kind-specific settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Link {
    /// Interface name (at most 15 bytes).
    pub name: String,
    /// Device kind with its options.
    pub kind: LinkKind,
    /// Administrative state: `Some(true)` up, `Some(false)` down.
    pub up: Option<bool>,
    /// MTU in bytes.
    pub mtu: Option<u32>,
    /// Ethernet address.
    pub mac: Option<MacAddr>,
    /// Name of the master device (bridge, bond, team) in the same node.
    pub master: Option<String>,
    /// Options this link has as a port of its master.
    pub port: Option<PortOptions>,
    /// IPv4 and IPv6 addresses with prefix length.
    pub addresses: Vec<Address>,
    /// Observed only: the kernel's ifindex.
    pub ifindex: Option<u32>,
    /// Observed only: IFLA_IFALIAS, where netloom writes its ownership mark.
    pub alias: Option<String>,
    /// Observed only: whether the link has carrier (lower layer up).
    pub carrier: Option<bool>,
}

impl Link {
    /// A veth end whose peer is `peer_name` in node `peer_node`, every
    /// optional setting left unset.
    pub fn veth(name: impl Into<String>, peer_node: &str, peer_name: &str) -> Self {
        Link::new(
            name,
            LinkKind::Veth(VethOptions {
                peer: Some(IfRef {
                    node: peer_node.to_string(),
                    name: peer_name.to_string(),
                }),
            }),
        )
    }

    /// A link of the given kind with every optional setting left unset.
    pub fn new(name: impl Into<String>, kind: LinkKind) -> Self {
        Link {
            name: name.into(),
            kind,
            up: None,
            mtu: None,
            mac: None,
            master: None,
            port: None,
            addresses: Vec::new(),
            ifindex: None,
            alias: None,
            carrier: None,
        }
    }
}

/// An interface address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Address {
    /// Address with prefix length, e.g. 10.0.3.1/24.
    pub net: IpNet,
    /// Run IPv6 duplicate address detection (default false: IFA_F_NODAD,
    /// so the address is usable as soon as `up` returns).
    pub dad: bool,
    /// Observed only: an IPv4 address the kernel keeps as a secondary of
    /// another in its subnet (IFA_F_SECONDARY), which goes with that
    /// primary (see [`crate::effects`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub secondary: bool,
}

/// Port options; which variant applies follows the master's kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PortOptions {
    /// A bridge port (IFLA_BRPORT_*).
    Bridge(BridgePort),
    /// A bond port (IFLA_BOND_SLAVE_*).
    Bond(BondPort),
    /// A team port (teamd per-port config).
    Team(TeamPort),
}

// The kinds of device netloom makes: one row per kind (its options live in
// model/<kind>.rs, with what the kernel does with it: `kind::Kind`).
crate::link_kinds! {
    /// One end of a veth pair.
    Veth(VethOptions) = "veth",
    /// A Linux bridge.
    Bridge(BridgeOptions) = "bridge",
    /// A bonding device.
    Bond(BondOptions) = "bond",
    /// A team device driven by teamd.
    Team(TeamOptions) = "team",
    /// An 802.1Q / 802.1ad VLAN device.
    Vlan(VlanOptions) = "vlan",
    /// A VXLAN tunnel endpoint.
    Vxlan(VxlanOptions) = "vxlan",
    /// A MACVLAN device.
    Macvlan(MacvlanOptions) = "macvlan",
    /// A MACVTAP device (a macvlan with a /dev/tapN character device).
    Macvtap(MacvlanOptions) = "macvtap",
    /// An IPVLAN device.
    Ipvlan(IpvlanOptions) = "ipvlan",
    /// An IPVTAP device (an ipvlan with a /dev/tapN character device).
    Ipvtap(IpvlanOptions) = "ipvtap",
    /// A tun or tap device.
    Tun(TunOptions) = "tun",
    /// A dummy device.
    Dummy(DummyOptions) = "dummy",
    /// A virtual routing and forwarding domain.
    Vrf(vrf::VrfOptions) = "vrf",
    /// An intermediate functional block (fed by tc).
    Ifb(ifb::IfbOptions) = "ifb",
}

impl LinkKind {
    /// The word iproute2 uses for this kind (`loopback`/`external` for those without one).
    pub fn word(&self) -> &str {
        match self {
            LinkKind::Loopback => "loopback",
            LinkKind::External => "external",
            other => other.kernel_kind().unwrap_or("unknown"),
        }
    }

    /// The lower device this kind is stacked on, if any (see [`kind::Kind::lower`]).
    pub fn lower(&self) -> Option<&IfRef> {
        self.facts().lower()
    }
}

/// A route in a node.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Route {
    /// Destination prefix; `default` is 0.0.0.0/0 or ::/0.
    pub to: IpNet,
    /// Gateway address.
    pub via: Option<IpAddr>,
    /// Output device name.
    pub dev: Option<String>,
    /// Route priority (RTA_PRIORITY).
    pub metric: Option<u32>,
    /// Routing table id (main = 254 when unset).
    pub table: Option<u32>,
    /// Preferred source address (RTA_PREFSRC, iproute2's `src`): must be
    /// an address of the node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src: Option<IpAddr>,
}

/// The kernel's main routing table (RT_TABLE_MAIN): routes without `table`,
/// and the prefix routes of addresses.
pub const RT_TABLE_MAIN: u32 = 254;

/// The kernel's `default` routing table (RT_TABLE_DEFAULT), which IPv4's
/// standard rules look in after main (IPv6 has no such rule).
pub const RT_TABLE_DEFAULT: u32 = 253;

impl Route {
    /// The table id, main when unset.
    pub fn table_id(&self) -> u32 {
        self.table.unwrap_or(RT_TABLE_MAIN)
    }

    /// Whether this is a device route (no gateway) that puts `via` on link for
    /// a route in `table`: the kernel looks a gateway up in the new route's
    /// table, then through the rules (main, and for IPv4 also `default`).
    pub fn puts_on_link(&self, via: IpAddr, table: u32) -> bool {
        let own = self.table_id();
        let ruled = own == RT_TABLE_MAIN || (own == RT_TABLE_DEFAULT && via.is_ipv4());
        self.via.is_none() && (ruled || own == table) && self.to.contains(&via)
    }
}

impl std::fmt::Display for Route {
    /// The route in iproute2 words (`default via 10.0.0.1 dev eth0 metric 5 table 10`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.to.prefix_len() == 0 {
            write!(f, "default")?;
        } else {
            write!(f, "{}", self.to)?;
        }
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
        if let Some(s) = self.src {
            write!(f, " src {s}")?;
        }
        Ok(())
    }
}

/// A source-NAT masquerade rule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Masquerade {
    /// Source prefix whose traffic is masqueraded.
    pub source: IpNet,
    /// Output interface name.
    pub out: String,
}

/// Name of the network namespace (under /run/netns) of `node` in topology
/// `topo`; `None` for `host`, which is the namespace netloom runs in.
///
/// The `.` separator cannot occur in topology or node names, so two
/// topologies can never produce the same namespace name (with `-` as the
/// separator, topology `a` node `b-c` would collide with topology `a-b` node `c`).
pub fn netns_name(topo: &str, node: &str) -> Option<String> {
    (node != HOST).then(|| format!("{}{node}", netns_prefix(topo)))
}

/// The prefix every namespace name of topology `topo` starts with.
pub fn netns_prefix(topo: &str) -> String {
    format!("netloom-{topo}.")
}

/// The IFLA_IFALIAS value marking a link as created by topology `topo`.
pub fn owner_mark(topo: &str) -> String {
    format!("netloom:{topo}")
}

/// Name of the nftables table (family `inet`) netloom owns in each node of `topo`.
pub fn nft_table(topo: &str) -> String {
    format!("netloom-{topo}")
}
