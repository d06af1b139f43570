//! Resolving references into other namespaces: a link reports a peer or lower
//! device there as (IFLA_LINK_NETNSID, ifindex); the nsid is this
//! namespace's private number for the other one, so it is matched against
//! the nsid asked (RTM_GETNSID, by fd) for every namespace of the topology.
use std::collections::HashMap;
use std::os::fd::AsRawFd;

use futures::StreamExt;
use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_REQUEST};
use rtnetlink::packet_route::nsid::{NsidAttribute, NsidMessage};
use rtnetlink::packet_route::RouteNetlinkMessage;

use super::link::LinkRef;
use crate::kernel::conn::map_err;
use crate::kernel::{netns, Kernel, KernelError, Netns, NodeHandle};
use crate::model::{IfRef, HOST};

/// The nsid namespace `of` has for namespace `target` (`None`: not assigned,
/// so no link of `of` can refer to `target`).
pub(super) async fn nsid(
    of: &rtnetlink::Handle,
    target: &Netns,
    object: &str,
) -> Result<Option<i32>, KernelError> {
    let mut msg = NsidMessage::default();
    // The fd is looked up in this process's table while the kernel handles
    // the request, and `target` keeps it open until then.
    msg.attributes = vec![NsidAttribute::Fd(target.fd().as_raw_fd() as u32)];
    let mut req = NetlinkMessage::from(RouteNetlinkMessage::GetNsId(msg));
    req.header.flags = NLM_F_REQUEST | NLM_F_ACK;
    let op = "get nsid";
    let mut answers = of
        .clone()
        .request(req)
        .map_err(|e| map_err(e, object, op))?;
    let mut id = None;
    while let Some(m) = answers.next().await {
        match m.payload {
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewNsId(n)) => {
                for a in n.attributes {
                    if let NsidAttribute::Id(i) = a {
                        id = (i >= 0).then_some(i);
                    }
                }
            }
            NetlinkPayload::Error(e) if e.code.is_some() => {
                return Err(map_err(rtnetlink::Error::NetlinkError(e), object, op))
            }
            _ => {}
        }
    }
    Ok(id)
}

/// The topology's nodes: `host` and every /run/netns/netloom-<topo>.<node>.
fn candidate_nodes(k: &Kernel) -> Result<Vec<String>, KernelError> {
    let prefix = crate::model::netns_prefix(k.topo());
    let mut out = vec![HOST.to_string()];
    for n in netns::list()? {
        if let Some(node) = n.strip_prefix(&prefix) {
            // Only names that map back exactly belong to this topology's nodes.
            if k.netns_name(node).as_deref() == Some(n.as_str()) {
                out.push(node.to_string());
            }
        }
    }
    Ok(out)
}

/// Resolve remote references of node `node` to interfaces of other nodes.
/// Names come from `known` (ifindex -> name of already dumped nodes) or, for
/// other nodes, from a single-link request there. Unresolvable refs are absent.
pub(super) async fn resolve(
    k: &Kernel,
    node: &str,
    h: &NodeHandle,
    refs: &[LinkRef],
    known: &HashMap<String, HashMap<u32, String>>,
) -> Result<HashMap<LinkRef, IfRef>, KernelError> {
    let object = format!("node {node}");
    let mut by_nsid: HashMap<i32, (String, NodeHandle)> = HashMap::new();
    for c in candidate_nodes(k)? {
        if c == node {
            continue;
        }
        let Some(other) = k.node(&c).await? else {
            continue;
        };
        if let Some(id) = nsid(&h.handle, &other.netns, &object).await? {
            by_nsid.insert(id, (c, other));
        }
    }
    let mut out = HashMap::new();
    for r in refs {
        let Some((other, oh)) = r.nsid.and_then(|id| by_nsid.get(&id)) else {
            continue;
        };
        let name = match known.get(other) {
            Some(names) => names.get(&r.ifindex).cloned(),
            None => link_name(&oh.handle, r.ifindex, &format!("node {other}")).await?,
        };
        if let Some(name) = name {
            out.insert(
                *r,
                IfRef {
                    node: other.clone(),
                    name,
                },
            );
        }
    }
    Ok(out)
}

/// The name of link `ifindex` through `h`; `None` if no such link.
async fn link_name(
    h: &rtnetlink::Handle,
    ifindex: u32,
    object: &str,
) -> Result<Option<String>, KernelError> {
    use rtnetlink::packet_route::link::LinkAttribute;
    let mut links = h.link().get().match_index(ifindex).execute();
    match links.next().await {
        Some(Ok(m)) => Ok(m.attributes.into_iter().find_map(|a| match a {
            LinkAttribute::IfName(n) => Some(n),
            _ => None,
        })),
        Some(Err(e)) => {
            let err = map_err(e, object, "get link");
            if err.errno() == Some(libc::ENODEV) {
                Ok(None)
            } else {
                Err(err)
            }
        }
        None => Ok(None),
    }
}
