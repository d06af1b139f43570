//! Live explanations: the same walk over what the kernel has, each step
//! confirmed by the kernel of the node it happens in.
//!
//! Rounds: walk (first over the file); read from the kernel the nodes the
//! walk went through (their links, addresses, routes and sysctls through
//! [`crate::kernel::observe`], bridge port states, the nftables ruleset)
//! and ask each node the route lookups the walk made there (RTM_GETROUTE,
//! with `iif` and `from` at transit hops) and the neighbour entries it
//! needed; walk again over the file with those nodes replaced by the
//! kernel's, the kernel's routing answers winning where they differ; until
//! nothing new is needed. Only the nodes on the way are read, so one flow
//! in a thousand-node network costs a handful of namespaces. Differences
//! between the file and the kernel are reported as drift.
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

use serde_json::Value;

use super::facts::{self, Defaults, Facts, RouteAnswer, RouteKey};
use super::frame::FdbKey;
use super::index::Index;
use super::nft::Ruleset;
use super::rules::Place;
use super::walk::Walker;
use super::{ExplainError, Explanation, Flow};
use crate::kernel::ask::{self as query, RouteAsk};
use crate::kernel::{Kernel, KernelError, Netns};
use crate::model::{self, LinkKind, Network, Node};
use crate::spec::Topology;

/// A neighbour entry asked for: (node, interface, address).
type NeighKey = (String, String, IpAddr);

/// Most rounds of walking and asking.
const ROUNDS: usize = 8;

/// A node with more links than this is read link by link (only those a
/// flow crosses), not dumped whole: the scale topology's host has a
/// thousand veth ends, whose dump and peer lookups cost ten times a flow.
const BIG: usize = 64;

/// What has been read from the kernel so far.
#[derive(Default)]
struct Read {
    /// Namespaces found, by node.
    nss: HashMap<String, Arc<Netns>>,
    /// Nodes whose namespace is missing.
    missing: BTreeSet<String>,
    /// Nodes read (whole, or link by link when big).
    nodes: BTreeSet<String>,
    /// Links of big nodes read.
    links: BTreeSet<(String, String)>,
    stp: HashMap<(String, String), u8>,
    routes: HashMap<RouteKey, RouteAnswer>,
    neigh: HashMap<NeighKey, String>,
    fdb: HashMap<FdbKey, Option<String>>,
    nft: HashMap<String, Ruleset>,
    drift: Vec<String>,
    asked_neigh: BTreeSet<NeighKey>,
}

impl Read {
    /// Find the namespaces of `nodes` not looked for yet; whether any is missing.
    fn locate(
        &mut self,
        k: &Kernel,
        nodes: impl IntoIterator<Item = String>,
    ) -> Result<bool, ExplainError> {
        let mut new_missing = false;
        for n in nodes {
            if self.nss.contains_key(&n) || self.missing.contains(&n) {
                continue;
            }
            match k.netns_of(&n)? {
                Some(ns) => {
                    self.nss.insert(n, ns);
                }
                None => {
                    self.missing.insert(n);
                    new_missing = true;
                }
            }
        }
        Ok(new_missing)
    }
}

/// Explain `flows` of `topo` (read from `file`) live.
pub async fn explain(
    k: &Kernel,
    topo: &Topology,
    file: &str,
    flows: &[Flow],
) -> Result<Vec<Explanation>, ExplainError> {
    let mut read = Read::default();
    let sources: BTreeSet<String> = flows.iter().map(|f| f.src.clone()).collect();
    read.locate(k, sources.iter().cloned())?;
    if sources
        .iter()
        .all(|s| s == model::HOST || read.missing.contains(s))
    {
        // None of the sources is there: is anything of the file?
        read.locate(k, topo.network.nodes.keys().cloned())?;
        if read.nss.keys().all(|n| n == model::HOST)
            && topo.network.nodes.keys().any(|n| n != model::HOST)
        {
            return Err(ExplainError::NotUp {
                file: file.to_string(),
            });
        }
    }
    let defaults = Defaults::here();
    let place = Place {
        file,
        locations: &topo.locations,
    };
    let mut merged = topo.network.clone();
    for round in 0..ROUNDS {
        let t = std::time::Instant::now();
        let facts = Facts {
            live: true,
            defaults: defaults.clone(),
            kernel_nodes: read.nodes.clone(),
            missing: read.missing.clone(),
            stp: read.stp.clone(),
            routes: read.routes.clone(),
            nft: read.nft.clone(),
            neigh: read.neigh.clone(),
            fdb: read.fdb.clone(),
            drift: read.drift.clone(),
        };
        let idx = Index::new(&merged);
        let mut out = Vec::with_capacity(flows.len());
        let mut fdb: BTreeSet<FdbKey> = BTreeSet::new();
        let (mut touched, mut links, mut wanted, mut neigh) = (
            BTreeSet::new(),
            BTreeSet::new(),
            BTreeSet::new(),
            BTreeSet::new(),
        );
        for f in flows {
            let w = Walker::new(&idx, &facts, place);
            out.push(w.explain(f));
            touched.extend(w.touched.into_inner());
            links.extend(w.touched_links.into_inner());
            wanted.extend(w.wanted.into_inner());
            neigh.extend(w.wanted_neigh.into_inner());
            fdb.extend(w.wanted_fdb.into_inner());
        }
        crate::timing::record("explain walk", t.elapsed());
        let newly_missing = read.locate(k, touched.iter().cloned())?;
        let big = |n: &str| {
            topo.network
                .nodes
                .get(n)
                .is_some_and(|x| x.links.len() > BIG)
        };
        let new_nodes: Vec<String> = touched
            .iter()
            .filter(|n| !read.nodes.contains(*n) && read.nss.contains_key(*n) && !big(n))
            .cloned()
            .collect();
        let new_links: Vec<(String, String)> = links
            .into_iter()
            .filter(|(n, _)| big(n) && read.nss.contains_key(n))
            .filter(|l| !read.links.contains(l))
            .collect();
        let new_routes: Vec<RouteKey> = wanted
            .into_iter()
            .filter(|q| read.nss.contains_key(&q.node) && !read.routes.contains_key(q))
            .collect();
        let new_neigh: Vec<NeighKey> = neigh
            .into_iter()
            .filter(|q| !read.asked_neigh.contains(q))
            .collect();
        let new_fdb: Vec<FdbKey> = fdb
            .into_iter()
            .filter(|q| read.nss.contains_key(&q.0) && !read.fdb.contains_key(q))
            .collect();
        let quiet = new_fdb.is_empty()
            && new_nodes.is_empty()
            && new_links.is_empty()
            && new_routes.is_empty()
            && new_neigh.is_empty();
        if (quiet && !newly_missing) || round + 1 == ROUNDS {
            return Ok(out);
        }
        if !new_nodes.is_empty() {
            let got =
                crate::timing::timed("explain observe", observe(k, topo, &new_nodes, &mut read))
                    .await?;
            for (name, node) in got {
                merge_node(&mut merged, &topo.network, &name, node);
            }
        }
        if !new_links.is_empty() {
            crate::timing::timed(
                "explain links",
                read_links(topo, new_links, &mut merged, &mut read),
            )
            .await?;
        }
        if !new_fdb.is_empty() {
            crate::timing::timed("explain fdb", ask_fdb(new_fdb, &mut read)).await?;
        }
        if !new_routes.is_empty() || !new_neigh.is_empty() {
            crate::timing::timed("explain ask", ask(new_routes, new_neigh, &mut read)).await?;
        }
    }
    Ok(Vec::new())
}

/// Put node `name` as the kernel has it into `net` (the file's network so
/// far). A reference the kernel did not resolve keeps the file's: a veth
/// peer or lower in a namespace not read, and the lower of an ipvtap in
/// another namespace, which the kernel does not tell (ipvtap_link_ops has
/// no get_link_net, so no IFLA_LINK_NETNSID).
fn merge_node(net: &mut Network, file: &Network, name: &str, mut n: Node) {
    if let Some(m) = file.nodes.get(name) {
        for (lname, l) in n.links.iter_mut() {
            let Some(ml) = m.links.get(lname) else {
                continue;
            };
            let keep = |r: &Option<crate::model::IfRef>| r.is_some();
            match (&mut l.kind, &ml.kind) {
                (LinkKind::Veth(o), LinkKind::Veth(mo)) if o.peer.is_none() && keep(&mo.peer) => {
                    o.peer = mo.peer.clone()
                }
                (
                    LinkKind::Macvlan(o) | LinkKind::Macvtap(o),
                    LinkKind::Macvlan(mo) | LinkKind::Macvtap(mo),
                ) if o.lower.is_none() && keep(&mo.lower) => o.lower = mo.lower.clone(),
                (
                    LinkKind::Ipvlan(o) | LinkKind::Ipvtap(o),
                    LinkKind::Ipvlan(mo) | LinkKind::Ipvtap(mo),
                ) if o.lower.is_none() && keep(&mo.lower) => o.lower = mo.lower.clone(),
                _ => {}
            }
        }
    }
    net.nodes.insert(name.to_string(), n);
}

fn thread(what: &str) -> ExplainError {
    ExplainError::Kernel(KernelError::Thread {
        object: what.to_string(),
    })
}

/// The sysctl keys read in `node`: the walk's, and the file's own.
fn keys(topo: &Topology, node: &str) -> Vec<String> {
    let mut v: Vec<String> = facts::NODE_KEYS.iter().map(|s| s.to_string()).collect();
    if let Some(n) = topo.network.nodes.get(node) {
        for l in n.links.keys() {
            v.extend(facts::keys_for(l));
        }
        v.extend(n.sysctls.keys().cloned());
    }
    v.sort();
    v.dedup();
    v
}

/// Read `nodes` from the kernel whole: the nodes as the kernel has them,
/// their bridge port states, rulesets and drift into `read`.
async fn observe(
    k: &Kernel,
    topo: &Topology,
    nodes: &[String],
    read: &mut Read,
) -> Result<Vec<(String, Node)>, ExplainError> {
    let keys: BTreeMap<String, Vec<String>> =
        nodes.iter().map(|n| (n.clone(), keys(topo, n))).collect();
    let net = crate::kernel::observe::network(k, nodes, &keys).await?;
    let mut out = Vec::new();
    for (name, mut node) in net.nodes {
        let Some(ns) = read.nss.get(&name).cloned() else {
            continue;
        };
        if node
            .links
            .values()
            .any(|l| matches!(l.kind, LinkKind::Bridge(_)))
        {
            for (port, state) in crate::kernel::bridge::port_states(k, &name).await? {
                read.stp.insert((name.clone(), port), state);
            }
        }
        if let Some(json) = ruleset(ns).await? {
            node.nat = netloom_nat(&json, &topo.network.name);
            read.nft.insert(name.clone(), Ruleset::parse(&json));
        }
        if let Some(m) = topo.network.nodes.get(&name) {
            read.drift.extend(super::drift::drift(&name, m, &node));
        }
        read.nodes.insert(name.clone());
        out.push((name, node));
    }
    Ok(out)
}

/// The nftables ruleset of a namespace, if it has a table.
async fn ruleset(ns: Arc<Netns>) -> Result<Option<Value>, ExplainError> {
    Ok(tokio::task::spawn_blocking(move || query::ruleset(&ns))
        .await
        .map_err(|_| thread("nft ruleset"))??)
}

/// Read the links `links` of big nodes one by one (their state, carrier and
/// bridge port state, the sysctls the walk reads for them) into the merged
/// network, the rest of such a node staying as the file has it.
async fn read_links(
    topo: &Topology,
    links: Vec<(String, String)>,
    net: &mut Network,
    read: &mut Read,
) -> Result<(), ExplainError> {
    let mut by_node: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (n, l) in links {
        read.links.insert((n.clone(), l.clone()));
        by_node.entry(n).or_default().push(l);
    }
    for (name, names) in by_node {
        let Some(ns) = read.nss.get(&name).cloned() else {
            continue;
        };
        let mut keys: Vec<String> = facts::NODE_KEYS.iter().map(|s| s.to_string()).collect();
        for l in &names {
            keys.extend(facts::keys_for(l));
        }
        if let Some(m) = topo.network.nodes.get(&name) {
            keys.extend(m.sysctls.keys().cloned());
        }
        let (ns2, asked) = (ns.clone(), names.clone());
        let (states, sysctls) = tokio::task::spawn_blocking(move || {
            let states = query::links(&ns2, &asked)?;
            let sysctls = crate::kernel::sysctl::read_many(&ns2, &keys)?;
            Ok::<_, KernelError>((states, sysctls))
        })
        .await
        .map_err(|_| thread("links"))??;
        let first = read.nodes.insert(name.clone());
        let rules = if first { ruleset(ns).await? } else { None };
        let Some(node) = net.nodes.get_mut(&name) else {
            continue;
        };
        for (l, st) in names.iter().zip(states) {
            match st {
                None => {
                    node.links.remove(l);
                    read.drift
                        .push(format!("{name}/{l}: in the file, not in the kernel"));
                }
                Some(st) => {
                    if let Some(link) = node.links.get_mut(l) {
                        if link.up.unwrap_or(true) != st.up {
                            read.drift.push(format!(
                                "{name}/{l}: {} in the kernel, {} in the file",
                                if st.up { "up" } else { "down" },
                                if link.up.unwrap_or(true) {
                                    "up"
                                } else {
                                    "down"
                                }
                            ));
                        }
                        link.up = Some(st.up);
                        link.carrier = Some(st.lower_up);
                    }
                    if let Some(s) = st.brport_state {
                        read.stp.insert((name.clone(), l.clone()), s);
                    }
                }
            }
        }
        for (k, v) in sysctls {
            if let Some(want) = node.sysctls.get(&k) {
                if want.trim() != v.trim() {
                    read.drift.push(format!(
                        "{name}: sysctl {k} = {} in the kernel, {want} in the file",
                        v.trim()
                    ));
                }
            }
            node.sysctls.insert(k, v);
        }
        if let Some(json) = rules {
            node.nat = netloom_nat(&json, &topo.network.name);
            read.nft.insert(name.clone(), Ruleset::parse(&json));
        }
    }
    Ok(())
}

/// The masquerade rules of netloom's own table in a ruleset.
fn netloom_nat(json: &Value, topo: &str) -> Vec<model::Masquerade> {
    let table = model::nft_table(topo);
    let items: Vec<Value> = json
        .get("nftables")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter(|it| {
                    it.as_object()
                        .and_then(|o| o.values().next())
                        .and_then(|v| v.get("table"))
                        .and_then(Value::as_str)
                        == Some(table.as_str())
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    crate::kernel::nft::parse_rules(&serde_json::json!({ "nftables": items })).unwrap_or_default()
}

/// Ask the route lookups and neighbour entries, node by node.
async fn ask(
    routes: Vec<RouteKey>,
    neigh: Vec<(String, String, IpAddr)>,
    read: &mut Read,
) -> Result<(), ExplainError> {
    let mut by_node: BTreeMap<String, (Vec<RouteKey>, Vec<NeighKey>)> = BTreeMap::new();
    for q in routes {
        by_node.entry(q.node.clone()).or_default().0.push(q);
    }
    for q in neigh {
        read.asked_neigh.insert(q.clone());
        by_node.entry(q.0.clone()).or_default().1.push(q);
    }
    for (node, (rs, ns)) in by_node {
        let Some(netns) = read.nss.get(&node).cloned() else {
            continue;
        };
        let asks: Vec<RouteAsk> = rs
            .iter()
            .map(|q| RouteAsk {
                dst: q.dst,
                src: q.src,
                iif: q.iif.clone(),
                oif: q.oif.clone(),
            })
            .collect();
        let neighs: Vec<(String, IpAddr)> = ns.iter().map(|(_, d, a)| (d.clone(), *a)).collect();
        let (got, states) = tokio::task::spawn_blocking(move || query::ask(&netns, &asks, &neighs))
            .await
            .map_err(|_| thread("route get"))??;
        for (q, g) in rs.into_iter().zip(got) {
            read.routes.insert(q, g);
        }
        for (q, s) in ns.into_iter().zip(states) {
            if let Some(s) = s {
                read.neigh.insert(q, s);
            }
        }
    }
    Ok(())
}

/// Ask the bridges' forwarding databases, node by node.
async fn ask_fdb(keys: Vec<FdbKey>, read: &mut Read) -> Result<(), ExplainError> {
    let mut by_node: BTreeMap<String, Vec<FdbKey>> = BTreeMap::new();
    for k in keys {
        by_node.entry(k.0.clone()).or_default().push(k);
    }
    for (node, ks) in by_node {
        let Some(ns) = read.nss.get(&node).cloned() else {
            continue;
        };
        let asks: Vec<(String, crate::model::MacAddr)> =
            ks.iter().map(|k| (k.1.clone(), k.2)).collect();
        let got = tokio::task::spawn_blocking(move || query::fdb(&ns, &asks))
            .await
            .map_err(|_| thread("fdb get"))??;
        for (k, port) in ks.into_iter().zip(got) {
            read.fdb.insert(k, port);
        }
    }
    Ok(())
}
