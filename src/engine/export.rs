//! `export`: read the kernel (netloom's own namespace, any named namespace,
//! or a topology netloom made) and write the topology file that makes it.
//! Only reads: nothing is changed, created or deleted.
//!
//! What is read: every link of a kind netloom makes with its options,
//! addresses, MTU (when not what the kernel gives anyway), MAC (where the
//! file may set one), state, ports and their options; routes but the
//! kernel's own; the sysctls of [`NODE_KEYS`] and [`LINK_KEYS`] that differ
//! from the defaults (a new namespace's, and for an interface its
//! namespace's `default`); masquerade rules; static forwarding entries.
//! Everything else found is named in the file as a comment.
use std::collections::{BTreeMap, BTreeSet};

use super::{Engine, EngineError};
use crate::kernel::{self, Kernel, KernelError};
use crate::model::{owner_mark, IfRef, Link, LinkKind, Network, Node, VethOptions, HOST};
use crate::spec::export::Notes;
use crate::state::Store;

/// What to export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The namespace netloom runs in (node `host`).
    Host,
    /// The named namespace /run/netns/NAME.
    Netns(String),
    /// The topology netloom made under this name.
    Topology(String),
}

/// The answer of `export`.
#[derive(Debug, Clone)]
pub struct Export {
    /// The network as it will be written.
    pub network: Network,
    /// What could not be written, by node (`""`: the whole).
    pub notes: Notes,
    /// The topology file.
    pub text: String,
}

/// Node-wide sysctls written when they differ from a new namespace's.
pub const NODE_KEYS: &[&str] = &[
    "net.ipv4.ip_forward",
    "net.ipv6.conf.all.forwarding",
    "net.ipv6.conf.all.disable_ipv6",
    "net.ipv6.conf.default.disable_ipv6",
    "net.ipv4.conf.all.rp_filter",
    "net.ipv4.conf.default.rp_filter",
    "net.ipv4.conf.all.proxy_arp",
    "net.ipv4.conf.all.arp_ignore",
    "net.ipv4.conf.all.arp_announce",
    "net.ipv4.ip_nonlocal_bind",
];

/// Per-interface sysctls (`{}` the interface) written when they differ
/// from the namespace's `default` ones.
pub const LINK_KEYS: &[&str] = &[
    "net.ipv6.conf.{}.disable_ipv6",
    "net.ipv4.conf.{}.forwarding",
    "net.ipv6.conf.{}.forwarding",
    "net.ipv4.conf.{}.rp_filter",
    "net.ipv4.conf.{}.proxy_arp",
];

/// The name a namespace gets as a topology and node: lowercase letters,
/// digits, `_` and `-`, at most 24 characters.
pub fn name_for(netns: &str) -> String {
    let mut s: String = netns
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(24)
        .collect();
    if !s.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        s.insert(0, 'n');
        s.truncate(24);
    }
    s
}

impl Engine {
    /// An engine reading `source` (a named namespace becomes one node named
    /// after it, in a topology of that name).
    pub fn exporting(source: &Source, store: Store) -> Result<Engine, EngineError> {
        match source {
            Source::Host => Engine::new(HOST, store),
            Source::Topology(name) => Engine::new(name, store),
            Source::Netns(ns) => {
                let name = name_for(ns);
                let kernel = Kernel::for_netns(&name, &name, ns, store.dir().join("teamd"))?;
                Ok(Engine {
                    kernel: std::sync::Arc::new(kernel),
                    store,
                    name,
                })
            }
        }
    }

    /// `export`: the topology file that makes what `source` holds now.
    pub async fn export(&self, source: &Source) -> Result<Export, EngineError> {
        let mut notes = Notes::new();
        let (nodes, owned, what) = match source {
            Source::Host => (
                vec![HOST.to_string()],
                None,
                "the host's own namespace".to_string(),
            ),
            Source::Netns(ns) => (vec![self.name.clone()], None, format!("namespace {ns}")),
            Source::Topology(name) => {
                let rec = self.records()?;
                let mut nodes: Vec<String> = rec.namespaces.iter().cloned().collect();
                nodes.push(HOST.to_string());
                (nodes, Some(rec), format!("topology {name}"))
            }
        };
        // Entries everywhere, whoever put them (see Kernel::read_fdb_in).
        self.kernel.read_fdb_in(None);
        let mut net = kernel::observe::network(&self.kernel, &nodes, &BTreeMap::new()).await?;
        net.name = self.name.clone();
        if let Source::Netns(ns) = source {
            if net.nodes.is_empty() {
                return Err(KernelError::Invalid {
                    object: format!("namespace {ns}"),
                    message: "no such namespace under /run/netns".into(),
                }
                .into());
            }
        }
        if let Some(rec) = &owned {
            let mark = owner_mark(&self.name);
            let host_ours = net.nodes.get(HOST).is_some_and(|h| {
                h.links
                    .values()
                    .any(|l| l.alias.as_deref() == Some(mark.as_str()))
            });
            if rec.namespaces.is_empty() && !host_ours {
                return Err(KernelError::Invalid {
                    object: format!("topology {}", self.name),
                    message: "netloom has no such topology up on this machine (see `netloom list`)"
                        .into(),
                }
                .into());
            }
            keep_topology_host(&mut net, rec, &mark);
        }
        // The file names the services (`dhcp:`, `addresses: [dhcp]`,
        // `lifs:`, read back from their launch files), not what they placed.
        for (node, more) in crate::plan::dynamic::unplace(&mut net) {
            notes.entry(node).or_default().extend(more);
        }
        self.read_sysctls(&mut net).await?;
        self.read_nat(&mut net, owned.is_some(), &mut notes).await?;
        // A failover master is the kernel's (written as `external`, which a
        // file may use as a lower): say which slaves it has and which one
        // carries traffic, as status does.
        for (key, f) in self.failover(&net, |_| true).await? {
            let node = key.split_once('/').map_or(key.as_str(), |(n, _)| n);
            notes
                .entry(node.to_string())
                .or_default()
                .push(format!("`{}`: the kernel's {f}", f.master));
        }
        let mtus: BTreeMap<IfRef, u32> = net
            .nodes
            .iter()
            .flat_map(|(node, n)| {
                n.links.values().filter_map(move |l| {
                    let r = IfRef {
                        node: node.clone(),
                        name: l.name.clone(),
                    };
                    l.mtu.map(|m| (r, m))
                })
            })
            .collect();
        for (name, node) in net.nodes.iter_mut() {
            let n = notes.entry(name.clone()).or_default();
            tidy(node, owned.is_some(), name, &mtus, n);
        }
        stand_ins(&mut net, &mut notes);
        notes.retain(|_, v| !v.is_empty());
        let text = crate::spec::export::write(&net, &notes, &what);
        Ok(Export {
            network: net,
            notes,
            text,
        })
    }

    /// The sysctls of each node worth writing (see the module docs).
    async fn read_sysctls(&self, net: &mut Network) -> Result<(), EngineError> {
        let defaults: Vec<String> = ["ipv4", "ipv6"]
            .iter()
            .flat_map(|f| {
                ["forwarding", "disable_ipv6", "rp_filter", "proxy_arp"]
                    .iter()
                    .map(move |k| format!("net.{f}.conf.default.{k}"))
            })
            .collect();
        let node_keys: Vec<String> = NODE_KEYS.iter().map(|k| k.to_string()).collect();
        let fresh: BTreeMap<String, String> = tokio::task::spawn_blocking({
            let keys = node_keys.clone();
            move || kernel::sysctl::fresh(&keys)
        })
        .await
        .map_err(|e| EngineError::Task(e.to_string()))??
        .into_iter()
        .collect();
        for (name, node) in net.nodes.iter_mut() {
            let Some(ns) = self.kernel.netns_of(name)? else {
                continue;
            };
            let mut keys = node_keys.clone();
            keys.extend(defaults.iter().cloned());
            for l in node.links.values().filter(|l| l.kind != LinkKind::Loopback) {
                let dev = l.name.replace('.', "/");
                keys.extend(LINK_KEYS.iter().map(|k| k.replace("{}", &dev)));
            }
            let read: BTreeMap<String, String> =
                tokio::task::spawn_blocking(move || kernel::sysctl::read_many(&ns, &keys))
                    .await
                    .map_err(|e| EngineError::Task(e.to_string()))??
                    .into_iter()
                    .collect();
            let mut kept = BTreeMap::new();
            for (k, v) in &read {
                let default = match crate::effects::sysctl::default_of(k) {
                    Some(d) => read.get(&d),
                    None if NODE_KEYS.contains(&k.as_str()) => fresh.get(k),
                    // A `default` key read only to compare with.
                    None => continue,
                };
                if default != Some(v) {
                    kept.insert(k.clone(), v.clone());
                }
            }
            node.sysctls = kept;
            // What the file implies on its own (a bridge port's quiet IPv6)
            // is not written.
            let mut implied = node.clone();
            implied.sysctls.retain(|k, _| !k.ends_with(".disable_ipv6"));
            crate::spec::brport::quiet_ports(&mut implied);
            for (k, v) in implied.sysctls {
                if node.sysctls.get(&k) == Some(&v) && k.ends_with(".disable_ipv6") {
                    node.sysctls.remove(&k);
                }
            }
        }
        Ok(())
    }

    /// Masquerade rules: netloom's own table of the topology, or every
    /// table of a namespace it did not make.
    async fn read_nat(
        &self,
        net: &mut Network,
        topology: bool,
        notes: &mut Notes,
    ) -> Result<(), EngineError> {
        for (name, node) in net.nodes.iter_mut() {
            let Some(ns) = self.kernel.netns_of(name)? else {
                continue;
            };
            let topo = self.name.clone();
            let read = tokio::task::spawn_blocking(move || {
                if topology {
                    kernel::nft::read_nat(&ns, &topo).map(|r| (r.unwrap_or_default(), Vec::new()))
                } else {
                    kernel::nft::masquerades(&ns)
                }
            })
            .await
            .map_err(|e| EngineError::Task(e.to_string()))?;
            match read {
                Ok((rules, more)) => {
                    node.nat = rules;
                    notes.entry(name.clone()).or_default().extend(more);
                }
                // Without nft nothing of nftables can be read; say so.
                Err(KernelError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    notes
                        .entry(name.clone())
                        .or_default()
                        .push("nftables: the `nft` program is missing, so NAT was not read".into());
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

/// In `host`, a topology has only what it made: its marked links (and
/// those its records name), the existing devices they are stacked on,
/// and the routes through them.
fn keep_topology_host(net: &mut Network, rec: &crate::state::Records, mark: &str) {
    let Some(host) = net.nodes.get_mut(HOST) else {
        return;
    };
    let ours: BTreeSet<String> = host
        .links
        .values()
        .filter(|l| {
            l.alias.as_deref() == Some(mark)
                || rec.links.contains(&IfRef {
                    node: HOST.into(),
                    name: l.name.clone(),
                })
        })
        .map(|l| l.name.clone())
        .collect();
    let mut lowers = BTreeSet::new();
    for n in net.nodes.values() {
        for l in n.links.values() {
            if let Some(low) = l.kind.lower().filter(|r| r.node == HOST) {
                lowers.insert(low.name.clone());
            }
        }
    }
    let host = net.nodes.get_mut(HOST).expect("checked above");
    host.links
        .retain(|name, _| ours.contains(name) || lowers.contains(name));
    for (name, l) in host.links.iter_mut() {
        if !ours.contains(name) {
            *l = Link::new(name.clone(), LinkKind::External);
        }
    }
    host.routes
        .retain(|r| r.dev.as_ref().is_some_and(|d| ours.contains(d)));
    host.fdb.retain(|e| ours.contains(&e.dev));
    if host.links.is_empty() {
        net.nodes.remove(HOST);
    }
}

/// The kernel's default MTU for a device of `l`'s kind in `n`: what it
/// gets when the file says nothing (then `mtu` is not written).
fn default_mtu(n: &Node, l: &Link, mtus: &BTreeMap<IfRef, u32>) -> Option<u32> {
    let lower_mtu = |r: &IfRef| mtus.get(r).copied();
    match &l.kind {
        LinkKind::Vlan(o) => o.lower.as_ref().and_then(lower_mtu),
        LinkKind::Macvlan(o) | LinkKind::Macvtap(o) => o.lower.as_ref().and_then(lower_mtu),
        LinkKind::Ipvlan(o) | LinkKind::Ipvtap(o) => o.lower.as_ref().and_then(lower_mtu),
        LinkKind::Vxlan(o) => {
            let room = l.kind.facts().headroom().unwrap_or(50);
            Some(
                o.dev
                    .as_ref()
                    .and_then(lower_mtu)
                    .map_or(1500, |m| m.saturating_sub(room).min(1500)),
            )
        }
        LinkKind::Bridge(_) | LinkKind::Bond(_) | LinkKind::Team(_) => {
            let ports = n
                .links
                .values()
                .filter(|p| p.master.as_deref() == Some(l.name.as_str()))
                .filter_map(|p| p.mtu)
                .min();
            Some(ports.unwrap_or(1500))
        }
        LinkKind::Vrf(_) => Some(65575),
        _ => Some(1500),
    }
}

/// What the file can say of a node's links, routes and entries; the rest
/// goes to `notes`.
fn tidy(
    node: &mut Node,
    topology: bool,
    name: &str,
    mtus: &BTreeMap<IfRef, u32>,
    notes: &mut Vec<String>,
) {
    let mut gone: BTreeSet<String> = BTreeSet::new();
    for l in node.links.values() {
        let stacked = matches!(
            l.kind,
            LinkKind::Vlan(_)
                | LinkKind::Macvlan(_)
                | LinkKind::Macvtap(_)
                | LinkKind::Ipvlan(_)
                | LinkKind::Ipvtap(_)
        );
        if stacked && l.kind.lower().is_none() {
            // An ipvtap moved into another namespace is one: ipvtap's
            // rtnl_link_ops have no get_link_net, so the kernel reports
            // its lower's ifindex without the namespace it is in.
            notes.push(format!(
                "`{}` ({}): the kernel does not name its lower device (one in another namespace, reported without IFLA_LINK_NETNSID)",
                l.name,
                l.kind.word()
            ));
            gone.insert(l.name.clone());
            continue;
        }
        match &l.kind {
            LinkKind::Other(k) => {
                notes.push(format!(
                    "`{}`: a {} device, a kind netloom does not make",
                    l.name,
                    if k.is_empty() { "typeless" } else { k }
                ));
                gone.insert(l.name.clone());
            }
            LinkKind::External if name != HOST => {
                notes.push(format!(
                    "`{}`: a device of no kind netloom makes (hardware, or made by a driver on its own)",
                    l.name
                ));
                gone.insert(l.name.clone());
            }
            LinkKind::External => {
                let mut what = Vec::new();
                if !l.addresses.is_empty() {
                    let a: Vec<String> = l.addresses.iter().map(|a| a.net.to_string()).collect();
                    what.push(format!("addresses {}", a.join(", ")));
                }
                if let Some(m) = l.mtu {
                    what.push(format!("mtu {m}"));
                }
                if !what.is_empty() {
                    notes.push(format!(
                        "`{}` (external: netloom never changes it) has {}",
                        l.name,
                        what.join(", ")
                    ));
                }
            }
            LinkKind::Loopback if !l.addresses.is_empty() => {
                let a: Vec<String> = l.addresses.iter().map(|a| a.net.to_string()).collect();
                notes.push(format!("`lo` has addresses {}", a.join(", ")));
            }
            LinkKind::Team(o) if !topology && o.runner.is_empty() => notes.push(format!(
                "`{}`: its teamd is not netloom's, so its runner and ports were not read",
                l.name
            )),
            _ => {}
        }
    }
    // Stacked on, enslaved to or routed through what cannot be written.
    loop {
        let more: Vec<String> = node
            .links
            .values()
            .filter(|l| !gone.contains(&l.name))
            .filter(|l| {
                l.kind
                    .lower()
                    .is_some_and(|r| r.node == name && gone.contains(&r.name))
            })
            .map(|l| l.name.clone())
            .collect();
        if more.is_empty() {
            break;
        }
        for m in more {
            notes.push(format!("`{m}`: stacked on a device not written"));
            gone.insert(m);
        }
    }
    node.links.retain(|n, _| !gone.contains(n));
    let kept: Vec<String> = node.links.keys().cloned().collect();
    let snapshot = node.clone();
    for l in node.links.values_mut() {
        if l.master.as_ref().is_some_and(|m| gone.contains(m)) {
            notes.push(format!(
                "`{}` is a port of `{}`, not written",
                l.name,
                l.master.clone().unwrap_or_default()
            ));
            l.master = None;
            l.port = None;
        }
        if l.mtu == default_mtu(&snapshot, l, mtus) || matches!(l.kind, LinkKind::External) {
            l.mtu = None;
        }
        if matches!(l.kind, LinkKind::External) {
            l.addresses.clear();
            l.up = None;
        }
    }
    let mut routes = Vec::new();
    for r in std::mem::take(&mut node.routes) {
        if crate::plan::kernel_made_route(&snapshot, &r) {
            continue;
        }
        if r.dev.as_ref().is_some_and(|d| !kept.contains(d)) {
            notes.push(format!("route {r}: through a device not written"));
            continue;
        }
        let mut r = r;
        let default_metric = if r.to.addr().is_ipv4() { 0 } else { 1024 };
        if r.metric == Some(default_metric) {
            r.metric = None;
        }
        routes.push(r);
    }
    node.routes = routes;
    node.fdb
        .retain(|e| kept.contains(&e.dev) && e.refers_to().all(|r| kept.iter().any(|k| k == r)));
}

/// A veth whose peer is in a namespace not exported keeps its other end:
/// a stand-in in node `peers`, so the end, its addresses and routes stay.
fn stand_ins(net: &mut Network, notes: &mut Notes) {
    let exported: BTreeSet<IfRef> = net
        .nodes
        .iter()
        .flat_map(|(node, n)| {
            n.links.keys().map(move |l| IfRef {
                node: node.clone(),
                name: l.clone(),
            })
        })
        .collect();
    let mut ends = Vec::new();
    for (node, n) in net.nodes.iter_mut() {
        for l in n.links.values_mut() {
            let LinkKind::Veth(v) = &mut l.kind else {
                continue;
            };
            if v.peer.as_ref().is_some_and(|p| exported.contains(p)) {
                continue;
            }
            let stand_in: String = format!("p-{}", l.name).chars().take(15).collect();
            v.peer = Some(IfRef {
                node: "peers".into(),
                name: stand_in.clone(),
            });
            notes.entry(node.clone()).or_default().push(format!(
                "`{}`'s other end is in a namespace not exported: it stands in as peers/{stand_in}",
                l.name
            ));
            ends.push((node.clone(), l.name.clone(), stand_in));
        }
    }
    if ends.is_empty() {
        return;
    }
    let peers = net.nodes.entry("peers".into()).or_default();
    for (node, name, stand_in) in ends {
        let mut l = Link::new(
            stand_in.clone(),
            LinkKind::Veth(VethOptions {
                peer: Some(IfRef { node, name }),
            }),
        );
        l.up = Some(true);
        peers.links.insert(stand_in, l);
    }
}
