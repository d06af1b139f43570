//! Apply: carry out one [`plan::Op`] against the kernel, over netlink (and
//! the TUNSETIFF ioctl for tun/tap, and `nft` for NAT).
//!
//! One file per device kind turns that kind's options into the kernel's link
//! attributes; [`link`], [`address`] and [`route`] hold the generic requests.
mod address;
mod fdb;
mod link;
mod route;
mod service;
mod team;

pub use service::AGENT_EXE;
pub use team::first_choice;
mod tun;

use futures::TryStreamExt;
use rtnetlink::Handle;

use crate::kernel::error::KernelError;
use crate::kernel::{conn, nft, Kernel, NodeHandle};
use crate::model::Op;

/// Execute one plan op against the kernel.
pub async fn run(k: &Kernel, op: &Op) -> Result<(), KernelError> {
    // Sysctl writes take their own, exclusive turn (see Kernel::write_sysctl).
    let _turn = match op {
        Op::SetSysctl { .. } => None,
        _ => Some(k.turn().await),
    };
    match op {
        Op::AddNetns { node } => k.create_node(node).await.map(drop),
        Op::DelNetns { node } => {
            // teamd and services would outlive the namespace (they hold it
            // through their fds).
            team::stop_all(k, node).await?;
            service::stop_all(k, node).await?;
            let done = k.delete_node(node).await;
            k.forget_indexes();
            done
        }
        Op::SetSysctl {
            node, key, value, ..
        } => {
            let h = node_handle(k, node).await?;
            k.write_sysctl(h.netns, key, value).await
        }
        Op::AddLink { node, link, peer } => link::add(k, node, link, peer.as_deref()).await,
        Op::DelLink { node, name } => {
            // A team's teamd goes first; for any other link this finds nothing.
            team::stop(k, node, name).await?;
            let done = link::del(k, node, name).await;
            k.forget_indexes();
            done
        }
        Op::SetLink {
            node,
            name,
            change,
            prior,
        } => link::set(k, node, name, change, prior).await,
        Op::AddAddress { node, link, addr } => {
            let h = node_handle(k, node).await?;
            address::add(&h, node, link, addr).await
        }
        Op::DelAddress { node, link, addr } => {
            let h = node_handle(k, node).await?;
            address::del(&h, node, link, addr).await
        }
        Op::AddRoute { node, route } => {
            let h = node_handle(k, node).await?;
            route::add(&h, node, route).await
        }
        Op::DelRoute { node, route } => {
            let h = node_handle(k, node).await?;
            route::del(&h, node, route).await
        }
        Op::SetNat { node, rules } => {
            let h = node_handle(k, node).await?;
            nft::set_nat(&h.netns, k.topo(), rules)
        }
        Op::DelNat { node } => {
            let h = node_handle(k, node).await?;
            nft::del_nat(&h.netns, k.topo())
        }
        Op::StartTeamd {
            node, dev, setup, ..
        } => team::start(k, node, dev, setup).await,
        Op::StopTeamd { node, dev, .. } => team::stop(k, node, dev).await,
        Op::StartService {
            node, name, setup, ..
        } => service::start(k, node, name, setup).await,
        Op::StopService { node, name, .. } => service::stop(k, node, name).await,
        Op::AddFdb { node, entry } | Op::DelFdb { node, entry } => {
            let h = node_handle(k, node).await?;
            fdb::change(&h, node, entry, matches!(op, Op::AddFdb { .. })).await
        }
    }
}

/// The handle of a node that must already exist.
async fn node_handle(k: &Kernel, node: &str) -> Result<NodeHandle, KernelError> {
    k.node(node).await?.ok_or_else(|| KernelError::Invalid {
        object: format!("node {node}"),
        message: "the node's namespace does not exist".into(),
    })
}

/// The name netloom uses for an interface in errors: `node/iface`.
fn object(node: &str, name: &str) -> String {
    format!("{node}/{name}")
}

/// The ifindex of interface `name` in the node, remembered once looked up
/// (see [`NodeHandle::known_index`]).
async fn ifindex(h: &NodeHandle, node: &str, name: &str) -> Result<u32, KernelError> {
    if let Some(i) = h.known_index(name) {
        return Ok(i);
    }
    let i = lookup_index(&h.handle, node, name).await?;
    h.remember_index(name, i);
    Ok(i)
}

/// The ifindex of interface `name` in the namespace served by `handle`,
/// asked of the kernel.
async fn lookup_index(handle: &Handle, node: &str, name: &str) -> Result<u32, KernelError> {
    let mut links = handle.link().get().match_name(name.to_string()).execute();
    match links.try_next().await {
        Ok(Some(msg)) => Ok(msg.header.index),
        Ok(None) => Err(missing(node, name)),
        // The kernel answers ENODEV for an unknown name.
        Err(e) => {
            let err = conn::map_err(e, &object(node, name), "look up link");
            if err.errno() == Some(libc::ENODEV) {
                Err(missing(node, name))
            } else {
                Err(err)
            }
        }
    }
}

/// The error for an interface that is not there.
fn missing(node: &str, name: &str) -> KernelError {
    KernelError::Invalid {
        object: object(node, name),
        message: "no such interface".into(),
    }
}

/// An [`KernelError::Invalid`] for a value the kernel layer cannot encode.
fn invalid(object: &str, message: impl Into<String>) -> KernelError {
    KernelError::Invalid {
        object: object.to_string(),
        message: message.into(),
    }
}
