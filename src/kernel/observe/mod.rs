//! Reading kernel state as plain [`crate::model`] data.
//!
//! Per namespace: one link dump, one address dump and one route dump (all
//! address families at once), plus the asked sysctls (per-interface ones
//! from the link dump where it carries them, see `devconf`; the others
//! from /proc/sys); nodes are read concurrently. What is reported and what is left out:
//! - links: every link; kind options for every kind in `model` (see the kind
//!   files); kernel-made addresses (IPv6 link-local, SLAAC, and 127.0.0.1/8
//!   and ::1/128 on the loopback device) are left out (see `address`);
//!   routes as described in `route`. `carrier` is IFF_LOWER_UP.
//! - cross-namespace references (veth peer, macvlan/ipvlan/vlan lower in
//!   another node) are resolved through the nsid this namespace assigned to
//!   the other one: veth ends are matched across the dumps and confirmed by
//!   one RTM_GETNSID per namespace pair (see `netnsid`); a reference to a
//!   namespace outside the topology stays `None`.
//! - bridge VLAN entries (`vlans` of bridges and bridge ports) come from a
//!   fourth dump (AF_BRIDGE, RTEXT_FILTER_BRVLAN), made only when some bridge
//!   of the namespace has vlan_filtering on; otherwise they stay empty.
//! - team options live in teamd, not in the kernel: they are read back from
//!   the setup netloom started the team's teamd with, while it runs (see
//!   `team`); otherwise a team is reported with default (empty) options.
//! - `nat` is left empty: nftables is read elsewhere.
//! - `services` are read from the node's service directory (see `service`).
//! - `fdb` holds the static forwarding entries netloom manages (see
//!   [`fdb::managed`]), from an AF_BRIDGE neighbour dump made only where a
//!   bridge or a vxlan is, and only in the nodes [`Kernel::read_fdb_in`] names.
mod address;
pub mod bond;
mod devconf;
mod link;
mod netnsid;
mod route;
mod service;
mod team;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

use rtnetlink::packet_route::address::AddressMessage;
use rtnetlink::packet_route::link::{LinkAttribute, LinkExtentMask, LinkMessage};
use rtnetlink::packet_route::route::RouteMessage;
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::sys::Socket;

use super::rtnl::Rtnl;
use super::{fdb, netns, sysctl, Kernel, KernelError, Locator, Netns};
use crate::model::{BridgeVlan, IfRef, Link, LinkKind, Network, Node, PortOptions};

/// Everything read from one namespace, before cross-namespace resolution.
struct Dump {
    node: String,
    netns: Arc<Netns>,
    names: HashMap<u32, String>,
    links: Vec<link::Parsed>,
    addresses: HashMap<u32, Vec<crate::model::Address>>,
    routes: Vec<crate::model::Route>,
    sysctls: BTreeMap<String, String>,
    /// Bridge VLAN entries by ifindex (empty unless some bridge filters VLANs).
    vlans: HashMap<u32, Vec<BridgeVlan>>,
    /// Forwarding database entries (empty unless a bridge or vxlan is here).
    fdb: Vec<crate::kernel::fdb::Row>,
}

/// A node to read: its namespace and the sysctl keys asked there.
struct Asked {
    node: String,
    netns: Arc<Netns>,
    keys: Vec<String>,
    /// Read its forwarding entries (see [`Kernel::read_fdb_in`]).
    fdb: bool,
}

/// Observe one node: `None` when its namespace does not exist.
pub async fn node(
    k: &Kernel,
    node: &str,
    sysctl_keys: &[String],
) -> Result<Option<Node>, KernelError> {
    let keys = BTreeMap::from([(node.to_string(), sysctl_keys.to_vec())]);
    let mut net = network(k, &[node.to_string()], &keys).await?;
    Ok(net.nodes.remove(node))
}

/// Observe several nodes; nodes whose namespace is absent are omitted.
///
/// Two helper threads enter the namespaces in turn and read each there
/// (dumps and sysctls through one blocking socket, see [`Rtnl`]); the
/// sockets are then left to the [`Kernel`] for connections later work needs.
pub async fn network(
    k: &Kernel,
    nodes: &[String],
    sysctl_keys: &BTreeMap<String, Vec<String>>,
) -> Result<Network, KernelError> {
    network_with(k, nodes, sysctl_keys, &BTreeSet::new()).await
}

/// [`network`], where the nodes in `located` are only located, not read:
/// for a node about to be deleted whole nothing inside matters, except to
/// tell which links of the other nodes vanish with it. Such a node that
/// exists is reported without links; a reference into it (a veth peer, a
/// lower) names the node, and, its links unread, [`unread`] as the link.
pub async fn network_with(
    k: &Kernel,
    nodes: &[String],
    sysctl_keys: &BTreeMap<String, Vec<String>>,
    located: &BTreeSet<String>,
) -> Result<Network, KernelError> {
    let t = Instant::now();
    let mut found = HashMap::new();
    let mut asked = Vec::new();
    for n in nodes {
        let Some(ns) = k.netns_of(n)? else { continue };
        if located.contains(n) {
            found.insert(n.clone(), ns);
        } else {
            let keys = sysctl_keys.get(n).cloned().unwrap_or_default();
            asked.push(Asked {
                node: n.clone(),
                netns: ns,
                keys,
                fdb: k.reads_fdb(n),
            });
        }
    }
    // host usually holds one end of every link to the nodes, so it costs
    // as much as many nodes together: read it first (see run_in_each).
    asked.sort_by_key(|a| a.node != crate::model::HOST);
    crate::timing::record("observe locate", t.elapsed());
    let unread: Vec<String> = found.keys().cloned().collect();
    let loc = k.locator();
    let (mut nodes, spares) = tokio::task::spawn_blocking(move || read_all(&loc, asked, &found))
        .await
        .map_err(|_| KernelError::Thread {
            object: "observing namespaces".into(),
        })??;
    let t = Instant::now();
    for (node, ns, socket) in spares {
        k.adopt(&node, ns, socket);
    }
    nodes.extend(unread.into_iter().map(|n| (n, Node::default())));
    // A team's runner and ports live in teamd, not the kernel.
    for (name, node) in &mut nodes {
        team::fill(k, name, node)?;
        // Processes netloom supervises there (dnsmasq, agents).
        service::fill(k, name, node)?;
    }
    crate::timing::record("observe adopt+teams", t.elapsed());
    Ok(Network {
        name: k.topo().to_string(),
        nodes: nodes.into_iter().collect(),
    })
}

/// A node's socket, left over for a connection to it.
type Spare = (String, Arc<Netns>, Socket);

/// The assembled nodes and their sockets.
type Read = (Vec<(String, Node)>, Vec<Spare>);

/// Read every `asked` node inside its namespace, resolve the references
/// across them and assemble the model nodes. Blocking.
fn read_all(
    loc: &Locator,
    asked: Vec<Asked>,
    located: &HashMap<String, Arc<Netns>>,
) -> Result<Read, KernelError> {
    let t = Instant::now();
    let nss: Vec<&Netns> = asked.iter().map(|a| a.netns.as_ref()).collect();
    // What the read nodes call the nodes only located (`down`: host's nsids
    // of every container) is asked on a thread of its own beside the dumps.
    let targets: Vec<(String, Arc<Netns>)> = located
        .iter()
        .map(|(n, ns)| (n.clone(), ns.clone()))
        .collect();
    let (reads, prefetched) = std::thread::scope(|s| {
        let pre = (!targets.is_empty()).then(|| s.spawn(|| netnsid::prefetch(&nss, &targets)));
        let reads = netns::run_in_each(&nss, |i, ns| {
            let a = &asked[i];
            let t = Instant::now();
            let mut rtnl = Rtnl::open().map_err(|e| KernelError::io(ns.label(), e))?;
            let r = read(a, &mut rtnl)?;
            crate::timing::record("observe read", t.elapsed());
            Ok::<_, KernelError>((r, rtnl))
        });
        // Only a shortcut: what it could not tell, resolve asks itself.
        let prefetched = pre
            .and_then(|h| h.join().ok())
            .and_then(Result::ok)
            .unwrap_or_default();
        Ok::<_, KernelError>((reads?, prefetched))
    })?;
    crate::timing::record("observe reads", t.elapsed());
    let (mut dumps, mut sockets) = (Vec::with_capacity(reads.len()), Vec::new());
    for r in reads {
        let (d, rtnl) = r??;
        dumps.push(d);
        sockets.push(rtnl);
    }
    let t = Instant::now();
    let dumped: Vec<netnsid::Dumped> = dumps
        .iter()
        .map(|d| netnsid::Dumped {
            node: &d.node,
            netns: &d.netns,
            names: &d.names,
            remote: d
                .links
                .iter()
                .filter_map(|p| {
                    let r = p.link_ref?;
                    Some(netnsid::Remote {
                        own: p.link.ifindex?,
                        veth: matches!(p.link.kind, LinkKind::Veth(_)),
                        ifindex: r.ifindex,
                        nsid: r.nsid?,
                    })
                })
                .collect(),
        })
        .collect();
    let resolved = netnsid::resolve(loc, &dumped, &mut sockets, located, &prefetched)?;
    drop(dumped);
    crate::timing::record("observe nsids", t.elapsed());
    let mut spares = Vec::with_capacity(sockets.len());
    for (a, rtnl) in asked.into_iter().zip(sockets) {
        // A socket that cannot be made non-blocking is just not kept.
        if let Ok(socket) = rtnl.into_socket() {
            spares.push((a.node, a.netns, socket));
        }
    }
    let nodes = dumps
        .into_iter()
        .zip(resolved)
        .map(|(d, r)| (d.node.clone(), assemble(d, &r)))
        .collect();
    Ok((nodes, spares))
}

/// The name standing for link `ifindex` of a node that was only located
/// (see [`network_with`]): not an interface name (it holds a space), so it
/// never matches a real one.
pub fn unread(ifindex: u32) -> String {
    format!("ifindex {ifindex}")
}

/// Read one node's links, addresses, routes and the sysctls `keys` through
/// `rtnl`, a socket in its namespace, from a thread inside it.
fn read(a: &Asked, rtnl: &mut Rtnl) -> Result<Dump, KernelError> {
    let (node, netns, keys) = (a.node.as_str(), &a.netns, a.keys.as_slice());
    let object = format!("node {node}");
    let addr_req = || RouteNetlinkMessage::GetAddress(AddressMessage::default());
    let route_req = || RouteNetlinkMessage::GetRoute(RouteMessage::default());
    let links = new_links(rtnl.dump(link_request, &object, "dump links")?);
    let addrs = rtnl.dump(addr_req, &object, "dump addresses")?;
    let routes = rtnl.dump(route_req, &object, "dump routes")?;
    let vlans = if links.iter().any(filters_vlans) {
        new_links(rtnl.dump(bridge_vlan_request, &object, "dump bridge vlans")?)
    } else {
        Vec::new()
    };
    let names = link::names(&links);
    let parsed: Vec<link::Parsed> = links
        .iter()
        .filter_map(|l| link::parse(l, node, &names))
        .collect();
    // Only where asked, and a bridge or a vxlan may hold entries netloom manages.
    let fdb = if a.fdb && fdb::worth_dumping(parsed.iter().map(|p| &p.link.kind)) {
        let answers = rtnl.dump(fdb::dump_request, &object, "dump fdb")?;
        fdb::rows(&answers, &names)
    } else {
        Vec::new()
    };
    let (mut sysctls, rest) = devconf::answer(keys, &links);
    sysctls.extend(sysctl::read_here(&rest, &netns.label())?);
    let addrs: Vec<AddressMessage> = addrs
        .into_iter()
        .filter_map(|m| match m {
            RouteNetlinkMessage::NewAddress(a) => Some(a),
            _ => None,
        })
        .collect();
    let mut routes: Vec<_> = routes
        .iter()
        .filter_map(|m| match m {
            RouteNetlinkMessage::NewRoute(r) => route::parse(r, &names),
            _ => None,
        })
        .collect();
    routes.sort();
    Ok(Dump {
        node: node.to_string(),
        netns: netns.clone(),
        links: parsed,
        fdb,
        addresses: address::by_ifindex(&addrs),
        vlans: crate::kernel::bridge::vlans(&vlans),
        names,
        routes,
        sysctls: sysctls.into_iter().collect(),
    })
}

/// The link called `name` in `node`, asked for by name (no dump: a host's
/// dump costs the kernel O(N^2) with N veth peers); `None` when there is
/// no such link or node.
pub async fn link_by_name(
    k: &Kernel,
    node: &str,
    name: &str,
) -> Result<Option<LinkMessage>, KernelError> {
    use futures::TryStreamExt;
    let Some(h) = k.node(node).await? else {
        return Ok(None);
    };
    let mut links = h.handle.link().get().match_name(name.to_string()).execute();
    match links.try_next().await {
        Ok(found) => Ok(found),
        Err(e) => {
            let err = super::conn::map_err(e, &format!("{node}/{name}"), "look up link");
            if err.errno() == Some(libc::ENODEV) {
                Ok(None)
            } else {
                Err(err)
            }
        }
    }
}

/// The link called `name` in `node` as model data, asked for by name like
/// [`link_by_name`] (no dump), its master's name asked for by index. Its
/// `addresses` are left empty and a veth peer or lower unresolved.
pub async fn link_named(k: &Kernel, node: &str, name: &str) -> Result<Option<Link>, KernelError> {
    use futures::TryStreamExt;
    let Some(msg) = link_by_name(k, node, name).await? else {
        return Ok(None);
    };
    let mut names = HashMap::from([(msg.header.index, name.to_string())]);
    let master = msg.attributes.iter().find_map(|a| match a {
        LinkAttribute::Controller(i) => Some(*i),
        _ => None,
    });
    if let (Some(i), Some(h)) = (master, k.node(node).await?) {
        let mut found = h.handle.link().get().match_index(i).execute();
        if let Ok(Some(m)) = found.try_next().await {
            names.extend(link::names(&[m]));
        }
    }
    Ok(link::parse(&msg, node, &names).map(|p| p.link))
}

/// A link dump request without the counters (netloom reads none): the
/// kernel then skips filling them and the answer is much shorter.
pub fn link_request() -> RouteNetlinkMessage {
    let mut m = LinkMessage::default();
    m.attributes = vec![LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats])];
    RouteNetlinkMessage::GetLink(m)
}

/// The RTM_NEWLINK messages among dump answers.
fn new_links(msgs: Vec<RouteNetlinkMessage>) -> Vec<LinkMessage> {
    msgs.into_iter()
        .filter_map(|m| match m {
            RouteNetlinkMessage::NewLink(l) => Some(l),
            _ => None,
        })
        .collect()
}

/// Whether `m` is a bridge with VLAN filtering on.
fn filters_vlans(m: &LinkMessage) -> bool {
    use rtnetlink::packet_route::link::{InfoBridge, InfoData, LinkInfo};
    m.attributes.iter().any(|a| match a {
        LinkAttribute::LinkInfo(infos) => infos.iter().any(|i| match i {
            LinkInfo::Data(InfoData::Bridge(d)) => d.contains(&InfoBridge::VlanFiltering(true)),
            _ => false,
        }),
        _ => false,
    })
}

/// An AF_BRIDGE link dump asking for every VLAN entry one by one.
fn bridge_vlan_request() -> RouteNetlinkMessage {
    crate::kernel::bridge::request(vec![LinkExtentMask::Brvlan])
}

/// Build the model node: resolve IFLA_LINK references (locally, or through
/// `resolved` for other namespaces), attach addresses.
fn assemble(d: Dump, resolved: &HashMap<link::LinkRef, IfRef>) -> Node {
    let mut node = Node {
        sysctls: d.sysctls,
        routes: d.routes,
        ..Node::default()
    };
    let mut addresses = d.addresses;
    for p in d.links {
        let mut l = p.link;
        let target: Option<IfRef> = match p.link_ref {
            Some(r @ link::LinkRef { nsid: Some(_), .. }) => resolved.get(&r).cloned(),
            Some(link::LinkRef {
                ifindex,
                nsid: None,
            }) => d.names.get(&ifindex).map(|n| IfRef {
                node: d.node.clone(),
                name: n.clone(),
            }),
            None => None,
        };
        if let Some(slot) = l.kind.facts_mut().and_then(|f| f.link_ref_mut()) {
            *slot = target;
        }
        if let Some(i) = l.ifindex {
            l.addresses = addresses.remove(&i).unwrap_or_default();
            if l.kind == LinkKind::Loopback {
                l.addresses.retain(|a| !address::is_loopback_default(a));
            }
            if let Some(v) = d.vlans.get(&i) {
                if let LinkKind::Bridge(o) = &mut l.kind {
                    o.vlans = v.clone();
                } else if let Some(PortOptions::Bridge(p)) = &mut l.port {
                    p.vlans = v.clone();
                }
            }
        }
        node.links.insert(l.name.clone(), l);
    }
    node.fdb = fdb::managed(&d.fdb, &node.links);
    node
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtnetlink::packet_route::AddressFamily;

    /// The AF_BRIDGE VLAN dump is only made for VLAN-filtering bridges, which
    /// this test kernel may lack: check the kernel accepts the request and
    /// answers with the bridge's port.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bridge_vlan_dump_is_accepted() {
        crate::sandboxed!("kernel::observe::tests::bridge_vlan_dump_is_accepted");
        let k = Kernel::new("t", std::env::temp_dir().join("netloom-test-teamd")).unwrap();
        let h = k.node("host").await.unwrap().unwrap();
        let link = h.handle.link();
        link.add(rtnetlink::LinkBridge::new("br0").build())
            .execute()
            .await
            .unwrap();
        link.add(rtnetlink::LinkVeth::new("p0", "p1").build())
            .execute()
            .await
            .unwrap();
        let mut rtnl = Rtnl::open().unwrap();
        let all = new_links(
            rtnl.dump(
                || RouteNetlinkMessage::GetLink(LinkMessage::default()),
                "t",
                "dump",
            )
            .unwrap(),
        );
        let names = link::names(&all);
        let index = |n: &str| *names.iter().find(|(_, v)| v.as_str() == n).unwrap().0;
        let (br, p0) = (index("br0"), index("p0"));
        link.set(
            rtnetlink::LinkUnspec::new_with_index(p0)
                .controller(br)
                .build(),
        )
        .execute()
        .await
        .unwrap();
        let answers = new_links(
            rtnl.dump(bridge_vlan_request, "t", "dump bridge vlans")
                .unwrap(),
        );
        assert!(answers
            .iter()
            .any(|m| m.header.index == p0 && m.header.interface_family == AddressFamily::Bridge));
    }
}
