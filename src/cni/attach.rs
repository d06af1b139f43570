//! The kernel side of one attachment, in netloom's op vocabulary: the ops
//! that make it (a plan run by the apply layer's transaction, so that a
//! failure undoes every finished step and a kill leaves a journal naming
//! what was being made) and the deletion of what it made.
//!
//! Why not `plan::up`: the planner diffs whole namespaces netloom owns,
//! and would take every device of an owned namespace for its own; the
//! container's namespace is the runtime's, shared with other plugins of a
//! chain. So the attachment's few ops are written here, in dependency
//! order, and everything else (journal, undo, the kernel codecs, ownership
//! marks) is netloom's as for any file.
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

use super::conf::{Attach, NetConf};
use super::error::{CniError, KERNEL};
use super::net;
use crate::apply::exec::{Executor, KernelExec};
use crate::apply::{self, ApplyError, Txn};
use crate::kernel::{observe, Kernel};
use crate::model::{
    owner_mark, Address, IfRef, IpvlanOptions, Link, LinkChange, LinkKind, MacvlanOptions, Network,
    Op, Plan, PortOptions, Route, Step, VethOptions, HOST,
};
use crate::state::Store;

/// The node name of the container's namespace in an attachment's ops.
pub const CONTAINER: &str = "container";

/// What an attachment makes.
#[derive(Debug, Clone)]
pub struct Want {
    /// CNI_IFNAME.
    pub ifname: String,
    /// The host veth end (bridge attachments).
    pub host_if: Option<String>,
    /// Addresses of the container's interface.
    pub addresses: Vec<IpNet>,
    /// Routes inside the container: destination, next hop, metric.
    pub routes: Vec<(IpNet, Option<IpAddr>, Option<u32>)>,
}

fn iref(node: &str, name: &str) -> IfRef {
    IfRef {
        node: node.into(),
        name: name.into(),
    }
}

/// The ops making the attachment, in dependency order.
pub fn plan(conf: &NetConf, want: &Want) -> Plan {
    let mut steps: Vec<Step> = Vec::new();
    let mut push = |op: Op, after: Vec<usize>| {
        steps.push(Step { op, after });
        steps.len() - 1
    };
    let mut cont = Link::new(want.ifname.clone(), LinkKind::External);
    cont.mtu = conf.mtu;
    let created = match (
        conf.attach.as_ref().expect("checked by conf"),
        &want.host_if,
    ) {
        (Attach::Bridge(b), Some(host_if)) => {
            cont.kind = LinkKind::Veth(VethOptions {
                peer: Some(iref(HOST, host_if)),
            });
            let mut host = Link::new(
                host_if.clone(),
                LinkKind::Veth(VethOptions {
                    peer: Some(iref(CONTAINER, &want.ifname)),
                }),
            );
            host.mtu = conf.mtu;
            let add = push(
                Op::AddLink {
                    node: HOST.into(),
                    link: host,
                    peer: Some(Box::new(cont.clone())),
                },
                vec![],
            );
            let mut port = b.port.to_model();
            if let Some(id) = conf.vlan {
                port.vlans = vec![crate::model::BridgeVlan {
                    vid: id,
                    pvid: true,
                    untagged: true,
                }];
            }
            push(
                Op::SetLink {
                    node: HOST.into(),
                    name: host_if.clone(),
                    change: LinkChange {
                        master: Some(Some(b.name.clone())),
                        port: Some(PortOptions::Bridge(port)),
                        up: Some(true),
                        ..LinkChange::default()
                    },
                    prior: LinkChange {
                        master: Some(None),
                        up: Some(false),
                        ..LinkChange::default()
                    },
                },
                vec![add],
            );
            add
        }
        (attach, _) => {
            let lower = Some(iref(HOST, &net::lower_of(conf).unwrap_or_default()));
            cont.kind = match attach {
                Attach::Macvlan { mode, .. } => LinkKind::Macvlan(MacvlanOptions {
                    lower,
                    mode: Some(mode.clone()),
                    ..MacvlanOptions::default()
                }),
                Attach::Ipvlan { mode, flag, .. } => LinkKind::Ipvlan(IpvlanOptions {
                    lower,
                    mode: Some(mode.clone()),
                    flag: Some(flag.clone()),
                    tap_path: None,
                }),
                Attach::Bridge(_) => unreachable!("a bridge attachment has a host end"),
            };
            push(
                Op::AddLink {
                    node: CONTAINER.into(),
                    link: cont.clone(),
                    peer: None,
                },
                vec![],
            )
        }
    };
    let up = push(
        Op::SetLink {
            node: CONTAINER.into(),
            name: want.ifname.clone(),
            change: LinkChange::only_up(Some(true)),
            prior: LinkChange::only_up(Some(false)),
        },
        vec![created],
    );
    let mut ready = vec![up];
    for net in &want.addresses {
        ready.push(push(
            Op::AddAddress {
                node: CONTAINER.into(),
                link: want.ifname.clone(),
                addr: Address {
                    net: *net,
                    dad: false,
                    secondary: false,
                },
            },
            vec![created],
        ));
    }
    // A gateway is reachable once the interface is up with its address
    // (fib_check_nh wants a route to it): routes go last.
    for (to, via, metric) in &want.routes {
        push(
            Op::AddRoute {
                node: CONTAINER.into(),
                route: Route {
                    to: *to,
                    via: *via,
                    dev: Some(want.ifname.clone()),
                    metric: *metric,
                    table: None,
                    src: None,
                },
            },
            ready.clone(),
        );
    }
    Plan { steps }
}

/// Run `plan` for attachment topology `k.topo()` in one transaction
/// journaled in `journal`; on failure everything done is undone and the
/// kernel's words are in the error.
pub async fn apply(k: &Arc<Kernel>, journal: &Store, plan: &Plan) -> Result<(), CniError> {
    let rec = journal.load(k.topo()).map_err(|e| {
        CniError::new(super::error::IO_FAILURE, "reading the journal").with(e.to_string())
    })?;
    let exec = crate::apply::exec::Timed(KernelExec::new(k.clone(), BTreeMap::new()));
    let mut txn = Txn::new(exec, journal, rec, apply::Options::default());
    let before = Network {
        name: k.topo().to_string(),
        ..Network::default()
    };
    match txn.run(plan, before).await {
        Ok(_) => Ok(()),
        Err(ApplyError::Step {
            op,
            source,
            rollback,
            ..
        }) => {
            let undo = if rollback.errors.is_empty() {
                "everything it had done was undone".to_string()
            } else {
                format!("undoing it failed: {}", rollback.errors.join("; "))
            };
            Err(CniError::new(KERNEL, format!("{op}: {source}")).with(undo))
        }
        Err(ApplyError::State(e)) => {
            Err(CniError::new(super::error::IO_FAILURE, "writing the journal").with(e.to_string()))
        }
    }
}

/// Delete link `name` of `node` when it is the attachment's: marked with
/// its topology's mark, or unmarked and named in its journal (made by an
/// ADD killed before it could mark it). True when something was deleted.
pub async fn delete_if_ours(
    k: &Arc<Kernel>,
    journal: &Store,
    node: &str,
    name: &str,
) -> Result<bool, CniError> {
    let Some(have) = observe::link_named(k, node, name)
        .await
        .map_err(net::kernel)?
    else {
        return Ok(false);
    };
    let marked = have.alias.as_deref() == Some(owner_mark(k.topo()).as_str());
    let journaled = have.alias.as_deref().unwrap_or("").is_empty()
        && journal
            .load(k.topo())
            .map(|r| r.links.contains(&iref(node, name)))
            .unwrap_or(false);
    if !(marked || journaled) {
        return Ok(false);
    }
    let exec = KernelExec::new(k.clone(), BTreeMap::new());
    let op = Op::DelLink {
        node: node.into(),
        name: name.into(),
    };
    match exec.run(op.clone()).await {
        Ok(()) => Ok(true),
        // Gone meanwhile (its namespace died): the goal holds.
        Err(e) if e.already_so(&op) => Ok(true),
        Err(e) => Err(CniError::new(KERNEL, format!("{op}: {e}"))),
    }
}
