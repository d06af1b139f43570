//! What the walk knows besides the network's structure: the sysctls that
//! decide forwarding and filtering, and, when explaining live, what the
//! kernel of each node answered (routes, bridge port states, neighbours,
//! nftables rulesets) and where it differs from the file.
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use super::nft::Ruleset;
use crate::model::Node;

/// The conf/all and conf/default values a new namespace starts with.
///
/// IPv4's are copied from the first namespace when another is made
/// (devinet_init_net, with net.core.devconf_inherit_init_net at 0), so a
/// machine whose own namespace forwards or filters makes every node start
/// so; IPv6 starts from the kernel's built-in values (addrconf_init_net).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Defaults {
    /// `net.ipv4.conf.{all,default}.{forwarding,rp_filter,arp_ignore,accept_local}` by key.
    pub values: BTreeMap<String, String>,
}

/// The keys read into [`Defaults`].
pub const DEFAULT_KEYS: &[&str] = &[
    "net.ipv4.conf.all.forwarding",
    "net.ipv4.conf.default.forwarding",
    "net.ipv4.conf.all.rp_filter",
    "net.ipv4.conf.default.rp_filter",
    "net.ipv4.conf.all.arp_ignore",
    "net.ipv4.conf.default.arp_ignore",
    "net.ipv4.conf.all.accept_local",
    "net.ipv4.conf.default.accept_local",
];

impl Defaults {
    /// The values of the namespace this process runs in (readable without
    /// root), which new namespaces start from; the kernel's built-in values
    /// (all 0) where a file cannot be read.
    pub fn here() -> Defaults {
        let mut values = BTreeMap::new();
        for k in DEFAULT_KEYS {
            let path = format!("/proc/sys/{}", k.replace('.', "/"));
            if let Ok(v) = std::fs::read_to_string(path) {
                values.insert(k.to_string(), v.trim().to_string());
            }
        }
        Defaults { values }
    }
}

/// A route lookup asked of a node's kernel.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteKey {
    /// The node.
    pub node: String,
    /// Destination.
    pub dst: IpAddr,
    /// Source address (transit hops: the packet's source).
    pub src: Option<IpAddr>,
    /// Input interface (transit and delivery: where the packet came in).
    pub iif: Option<String>,
    /// Output interface the socket is bound to (a source bound to an interface).
    pub oif: Option<String>,
}

/// What a node's kernel answered to a route lookup: the kernel layer's
/// answer as it is.
pub use crate::kernel::ask::RouteGot as RouteAnswer;

/// Everything the walk reads besides the network.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// Whether the facts come from the kernel.
    pub live: bool,
    /// What new namespaces start with.
    pub defaults: Defaults,
    /// Nodes read from the kernel (live): their steps are kernel evidence.
    pub kernel_nodes: BTreeSet<String>,
    /// Nodes of the file whose namespace does not exist (live).
    pub missing: BTreeSet<String>,
    /// Bridge port states (IFLA_BRPORT_STATE) by (node, port), live.
    pub stp: HashMap<(String, String), u8>,
    /// Route lookups answered by the kernel.
    pub routes: HashMap<RouteKey, RouteAnswer>,
    /// nftables rulesets by node (live; absent: none read).
    pub nft: HashMap<String, Ruleset>,
    /// Neighbour entries (NUD state words) by (node, iface, address), live.
    pub neigh: HashMap<(String, String, IpAddr), String>,
    /// Bridge forwarding database entries by (node, bridge, address): the
    /// port it is on, `None` when the bridge has not learnt it (live).
    pub fdb: HashMap<(String, String, crate::model::MacAddr), Option<String>>,
    /// Differences between the file and the kernel.
    pub drift: Vec<String>,
}

impl Facts {
    /// Facts from the file alone, with the defaults of this machine.
    pub fn model() -> Facts {
        Facts {
            defaults: Defaults::here(),
            ..Facts::default()
        }
    }

    /// Whether steps in `node` are the kernel's evidence.
    pub fn evidence(&self, node: &str) -> super::Evidence {
        if self.live && self.kernel_nodes.contains(node) {
            super::Evidence::Kernel
        } else {
            super::Evidence::Model
        }
    }

    fn start(&self, key: &str) -> Option<u32> {
        self.defaults.values.get(key).and_then(|v| v.parse().ok())
    }

    /// A per-interface IPv4 conf value as the kernel has it: the interface's
    /// own key, else what the node wrote to `all` for keys whose writes
    /// reach every interface (`propagates`), else `default` at the time the
    /// interface was made, else what new namespaces start with.
    fn conf_v4(&self, node: &Node, dev: &str, name: &str, propagates: bool) -> u32 {
        let get = |k: String| {
            node.sysctls
                .get(&k)
                .and_then(|v| v.trim().parse::<u32>().ok())
        };
        if let Some(v) = get(dev_key(4, dev, name)) {
            return v;
        }
        if propagates {
            if let Some(v) = get(format!("net.ipv4.conf.all.{name}")) {
                return v;
            }
        }
        get(format!("net.ipv4.conf.default.{name}"))
            .or_else(|| self.start(&format!("net.ipv4.conf.default.{name}")))
            .unwrap_or(0)
    }

    /// A conf/all IPv4 value of the node.
    fn all_v4(&self, node: &Node, name: &str) -> u32 {
        let key = format!("net.ipv4.conf.all.{name}");
        node.sysctls
            .get(&key)
            .and_then(|v| v.trim().parse().ok())
            .or_else(|| self.start(&key))
            .unwrap_or(0)
    }

    /// Whether `node` forwards packets that came in on `dev`.
    ///
    /// IPv4: the input device's forwarding (ip_route_input_slow checks
    /// IN_DEV_FORWARD); `ip_forward` is conf/all/forwarding, and a write
    /// to it reaches every device and default (devinet_sysctl_forward ->
    /// inet_forward_change). IPv6: conf/all/forwarding (ip6_forward).
    pub fn forwards(&self, node: &Node, dev: &str, v6: bool) -> bool {
        if v6 {
            return node
                .sysctls
                .get("net.ipv6.conf.all.forwarding")
                .is_some_and(|v| v.trim() == "1");
        }
        if let Some(v) = node.sysctls.get(&dev_key(4, dev, "forwarding")) {
            return v.trim() != "0";
        }
        let ip_forward = node
            .sysctls
            .get("net.ipv4.ip_forward")
            .or_else(|| node.sysctls.get("net.ipv4.conf.all.forwarding"));
        if let Some(v) = ip_forward {
            return v.trim() != "0";
        }
        self.conf_v4(node, dev, "forwarding", true) != 0
    }

    /// The reverse-path filter mode on `dev`: the larger of conf/all and
    /// the device's (IN_DEV_RPFILTER is IN_DEV_MAXCONF): 0 off, 1 strict, 2 loose.
    pub fn rp_filter(&self, node: &Node, dev: &str) -> u32 {
        self.all_v4(node, "rp_filter")
            .max(self.conf_v4(node, dev, "rp_filter", false))
    }

    /// `arp_ignore` on `dev` (IN_DEV_ARP_IGNORE is IN_DEV_MAXCONF).
    pub fn arp_ignore(&self, node: &Node, dev: &str) -> u32 {
        self.all_v4(node, "arp_ignore")
            .max(self.conf_v4(node, dev, "arp_ignore", false))
    }

    /// `accept_local` on `dev` (IN_DEV_ORCONF).
    pub fn accept_local(&self, node: &Node, dev: &str) -> bool {
        self.all_v4(node, "accept_local") != 0
            || self.conf_v4(node, dev, "accept_local", false) != 0
    }

    /// The STP state of bridge port `node/port` as the kernel reported it.
    pub fn port_state(&self, node: &str, port: &str) -> Option<u8> {
        self.stp.get(&(node.to_string(), port.to_string())).copied()
    }
}

/// The sysctl key of per-interface setting `name` for `dev` (a `.` in the
/// interface name is written `/`, as sysctl(8) does).
pub fn dev_key(family: u8, dev: &str, name: &str) -> String {
    format!(
        "net.ipv{}.conf.{}.{name}",
        if family == 6 { 6 } else { 4 },
        dev.replace('.', "/")
    )
}

/// The sysctl keys the walk may read for interface `dev` (asked of the kernel live).
pub fn keys_for(dev: &str) -> Vec<String> {
    ["forwarding", "rp_filter", "arp_ignore", "accept_local"]
        .iter()
        .map(|n| dev_key(4, dev, n))
        .collect()
}

/// Node-wide keys the walk may read (asked of the kernel live).
pub const NODE_KEYS: &[&str] = &[
    "net.ipv4.ip_forward",
    "net.ipv4.conf.all.forwarding",
    "net.ipv4.conf.all.rp_filter",
    "net.ipv4.conf.all.arp_ignore",
    "net.ipv4.conf.all.accept_local",
    "net.ipv6.conf.all.forwarding",
    "net.bridge.bridge-nf-call-iptables",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn node(kv: &[(&str, &str)]) -> Node {
        Node {
            sysctls: kv
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Node::default()
        }
    }

    #[test]
    fn forwarding_follows_ip_forward_unless_the_device_says_otherwise() {
        let f = Facts::default();
        assert!(!f.forwards(&node(&[]), "eth0", false));
        assert!(f.forwards(&node(&[("net.ipv4.ip_forward", "1")]), "eth0", false));
        let n = node(&[
            ("net.ipv4.ip_forward", "1"),
            ("net.ipv4.conf.eth0.forwarding", "0"),
        ]);
        assert!(!f.forwards(&n, "eth0", false));
        assert!(f.forwards(&n, "eth1", false));
        assert!(f.forwards(&node(&[("net.ipv6.conf.all.forwarding", "1")]), "x", true));
    }

    #[test]
    fn rp_filter_is_the_larger_of_all_and_the_device() {
        let mut f = Facts::default();
        assert_eq!(f.rp_filter(&node(&[]), "eth0"), 0);
        let n = node(&[("net.ipv4.conf.eth0.rp_filter", "1")]);
        assert_eq!(f.rp_filter(&n, "eth0"), 1);
        assert_eq!(f.rp_filter(&n, "eth1"), 0);
        f.defaults
            .values
            .insert("net.ipv4.conf.all.rp_filter".into(), "2".into());
        assert_eq!(f.rp_filter(&n, "eth0"), 2);
        // A dotted name is written with `/`.
        assert_eq!(
            dev_key(4, "eth0.10", "rp_filter"),
            "net.ipv4.conf.eth0/10.rp_filter"
        );
    }
}
