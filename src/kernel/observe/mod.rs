//! Reading kernel state as plain [`crate::model`] data.
//!
//! Per namespace: one link dump, one address dump and one route dump (all
//! address families at once), plus the asked sysctls; nodes are read
//! concurrently. What is reported and what is left out:
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
mod address;
mod bond;
mod bridge;
mod ipvlan;
mod link;
mod macvlan;
mod netnsid;
mod route;
mod team;
mod tun;
mod veth;
mod vlan;
mod vxlan;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use futures::StreamExt;
use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST};
use rtnetlink::packet_route::address::AddressMessage;
use rtnetlink::packet_route::link::{LinkAttribute, LinkExtentMask, LinkMessage};
use rtnetlink::packet_route::route::RouteMessage;
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};

use super::conn::map_err;
use super::{sysctl, Kernel, KernelError, NodeHandle};
use crate::model::{BridgeVlan, IfRef, LinkKind, Network, Node, PortOptions};

/// NLM_F_DUMP_INTR: the dump raced with a change and may be inconsistent.
const NLM_F_DUMP_INTR: u16 = 0x10;
/// How often an interrupted dump is retried before giving up.
const DUMP_ATTEMPTS: usize = 5;

/// Everything read from one namespace, before cross-namespace resolution.
struct Dump {
    node: String,
    handle: NodeHandle,
    names: HashMap<u32, String>,
    links: Vec<link::Parsed>,
    addresses: HashMap<u32, Vec<crate::model::Address>>,
    routes: Vec<crate::model::Route>,
    sysctls: BTreeMap<String, String>,
    /// Bridge VLAN entries by ifindex (empty unless some bridge filters VLANs).
    vlans: HashMap<u32, Vec<BridgeVlan>>,
}

/// Observe one node: `None` when its namespace does not exist.
pub async fn node(
    k: &Kernel,
    node: &str,
    sysctl_keys: &[String],
) -> Result<Option<Node>, KernelError> {
    let Some(h) = k.node(node).await? else {
        return Ok(None);
    };
    let (ns, keys) = (h.netns.clone(), sysctl_keys.to_vec());
    let sysctls = tokio::task::spawn_blocking(move || sysctl::read_many(&ns, &keys))
        .await
        .map_err(|_| KernelError::Thread {
            object: format!("node {node}"),
        })??;
    let d = read(node, h, sysctls).await?;
    Ok(build(k, vec![d], &HashMap::new())
        .await?
        .pop()
        .map(|(_, n)| n))
}

/// Observe several nodes concurrently; nodes whose namespace is absent are omitted.
///
/// Connections are opened and sysctls read by one thread entering each
/// namespace in turn (a thread per node would cost more than the reads).
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
    let (located, nodes): (Vec<String>, Vec<String>) =
        nodes.iter().cloned().partition(|n| located.contains(n));
    let mut found = HashMap::new();
    for n in located {
        if let Some(ns) = k.netns_of(&n).await? {
            found.insert(n, ns);
        }
    }
    let nodes = &nodes;
    let t = std::time::Instant::now();
    let handles = k.nodes(nodes).await?;
    super::timing::record("observe connect", t.elapsed());
    let present: Vec<(String, NodeHandle)> = nodes
        .iter()
        .cloned()
        .zip(handles)
        .filter_map(|(n, h)| Some((n, h?)))
        .collect();
    let asked: Vec<(std::sync::Arc<super::Netns>, Vec<String>)> = present
        .iter()
        .map(|(n, h)| {
            let keys = sysctl_keys.get(n).cloned().unwrap_or_default();
            (h.netns.clone(), keys)
        })
        .collect();
    // Sysctls are read by helper threads while the dumps run.
    let t = std::time::Instant::now();
    let sysctls = async {
        let values = tokio::task::spawn_blocking(move || sysctl::read_each(&asked))
            .await
            .map_err(|_| KernelError::Thread {
                object: "sysctls".into(),
            })?;
        super::timing::record("observe sysctls", t.elapsed());
        values
    };
    let reads = present
        .into_iter()
        .map(|(n, h)| async move { read(&n, h, Vec::new()).await });
    let dumps = async {
        let dumps = futures::future::try_join_all(reads).await;
        super::timing::record("observe dumps", t.elapsed());
        dumps
    };
    let (sysctls, dumps) = futures::future::try_join(sysctls, dumps).await?;
    let dumps: Vec<Dump> = dumps
        .into_iter()
        .zip(sysctls)
        .map(|(mut d, values)| {
            d.sysctls = values.into_iter().collect();
            d
        })
        .collect();
    let mut nodes = build(k, dumps, &found).await?;
    nodes.extend(found.into_keys().map(|n| (n, Node::default())));
    // A team's runner and ports live in teamd, not the kernel.
    for (name, node) in &mut nodes {
        team::fill(k, name, node)?;
    }
    Ok(Network {
        name: k.topo().to_string(),
        nodes: nodes.into_iter().collect(),
    })
}

/// Resolve the cross-namespace references of all `dumps` at once (see
/// `netnsid`) and assemble each into a model node.
async fn build(
    k: &Kernel,
    dumps: Vec<Dump>,
    located: &HashMap<String, std::sync::Arc<super::Netns>>,
) -> Result<Vec<(String, Node)>, KernelError> {
    let dumped: Vec<netnsid::Dumped> = dumps
        .iter()
        .map(|d| netnsid::Dumped {
            node: &d.node,
            handle: &d.handle,
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
    let resolved =
        super::timing::timed("observe nsids", netnsid::resolve(k, &dumped, located)).await?;
    drop(dumped);
    Ok(dumps
        .into_iter()
        .zip(resolved)
        .map(|(d, r)| (d.node.clone(), assemble(d, &r)))
        .collect())
}

/// The name standing for link `ifindex` of a node that was only located
/// (see [`network_with`]): not an interface name (it holds a space), so it
/// never matches a real one.
pub fn unread(ifindex: u32) -> String {
    format!("ifindex {ifindex}")
}

/// The names of the links in `node` (one link dump); `None` when its
/// namespace does not exist.
pub async fn link_names(k: &Kernel, node: &str) -> Result<Option<BTreeSet<String>>, KernelError> {
    let Some(h) = k.node(node).await? else {
        return Ok(None);
    };
    let object = format!("node {node}");
    let _guard = h.lock_dump().await;
    let links = new_links(dump(&h.handle, link_request, &object, "dump links").await?);
    Ok(Some(link::names(&links).into_values().collect()))
}

/// Dump one node's links, addresses and routes; `sysctls` were read already.
async fn read(
    node: &str,
    h: NodeHandle,
    sysctls: Vec<(String, String)>,
) -> Result<Dump, KernelError> {
    let object = format!("node {node}");
    // The dumps share one socket, which runs one dump at a time.
    let dumps = async {
        let _guard = h.lock_dump().await;
        let link_req = link_request;
        let addr_req = || RouteNetlinkMessage::GetAddress(AddressMessage::default());
        let route_req = || RouteNetlinkMessage::GetRoute(RouteMessage::default());
        let links = new_links(dump(&h.handle, link_req, &object, "dump links").await?);
        let addrs = dump(&h.handle, addr_req, &object, "dump addresses").await?;
        let routes = dump(&h.handle, route_req, &object, "dump routes").await?;
        let vlans = if links.iter().any(filters_vlans) {
            let req = bridge_vlan_request;
            new_links(dump(&h.handle, req, &object, "dump bridge vlans").await?)
        } else {
            Vec::new()
        };
        Ok::<_, KernelError>((links, addrs, routes, vlans))
    };
    let (links, addrs, routes, vlans) = dumps.await?;
    let addrs: Vec<AddressMessage> = addrs
        .into_iter()
        .filter_map(|m| match m {
            RouteNetlinkMessage::NewAddress(a) => Some(a),
            _ => None,
        })
        .collect();
    let names = link::names(&links);
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
        links: links
            .iter()
            .filter_map(|l| link::parse(l, node, &names))
            .collect(),
        addresses: address::by_ifindex(&addrs),
        vlans: bridge::vlans(&vlans),
        names,
        routes,
        sysctls: sysctls.into_iter().collect(),
        handle: h,
    })
}

/// A link dump request without the counters (netloom reads none): the
/// kernel then skips filling them and the answer is much shorter.
fn link_request() -> RouteNetlinkMessage {
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
    let mut m = LinkMessage::default();
    m.header.interface_family = AddressFamily::Bridge;
    m.attributes = vec![LinkAttribute::ExtMask(vec![LinkExtentMask::Brvlan])];
    RouteNetlinkMessage::GetLink(m)
}

/// Send a dump request and collect the answers; an answer the kernel marks
/// as interrupted by a concurrent change makes the whole dump start again.
async fn dump(
    handle: &rtnetlink::Handle,
    request: impl Fn() -> RouteNetlinkMessage,
    object: &str,
    op: &str,
) -> Result<Vec<RouteNetlinkMessage>, KernelError> {
    'attempt: for _ in 0..DUMP_ATTEMPTS {
        let mut req = NetlinkMessage::from(request());
        req.header.flags = NLM_F_REQUEST | NLM_F_DUMP;
        let mut answers = handle
            .clone()
            .request(req)
            .map_err(|e| map_err(e, object, op))?;
        let mut out = Vec::new();
        while let Some(msg) = answers.next().await {
            if msg.header.flags & NLM_F_DUMP_INTR != 0 {
                continue 'attempt;
            }
            match msg.payload {
                NetlinkPayload::InnerMessage(m) => out.push(m),
                NetlinkPayload::Error(e) if e.code.is_some() => {
                    return Err(map_err(rtnetlink::Error::NetlinkError(e), object, op))
                }
                NetlinkPayload::Done(_) => break,
                _ => {}
            }
        }
        return Ok(out);
    }
    Err(KernelError::Decode {
        object: object.to_string(),
        message: format!("{op}: interrupted by concurrent changes {DUMP_ATTEMPTS} times"),
    })
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
        match &mut l.kind {
            LinkKind::Veth(o) => o.peer = target,
            LinkKind::Vlan(o) => o.lower = target,
            LinkKind::Macvlan(o) | LinkKind::Macvtap(o) => o.lower = target,
            LinkKind::Ipvlan(o) | LinkKind::Ipvtap(o) => o.lower = target,
            _ => {}
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
    node
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The AF_BRIDGE VLAN dump is only made for VLAN-filtering bridges, which
    /// this test kernel may lack: check the kernel accepts the request and
    /// answers with the bridge's port.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bridge_vlan_dump_is_accepted() {
        crate::sandboxed!("kernel::observe::tests::bridge_vlan_dump_is_accepted");
        let k = Kernel::new("t").unwrap();
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
        let all = new_links(
            dump(
                &h.handle,
                || RouteNetlinkMessage::GetLink(LinkMessage::default()),
                "t",
                "dump",
            )
            .await
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
            dump(&h.handle, bridge_vlan_request, "t", "dump bridge vlans")
                .await
                .unwrap(),
        );
        assert!(answers
            .iter()
            .any(|m| m.header.index == p0 && m.header.interface_family == AddressFamily::Bridge));
    }
}
