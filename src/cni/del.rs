//! DEL and GC: remove what an attachment made, from its record, its
//! journal and the names derived from its id, so that a DEL after an ADD
//! killed half-way leaves nothing either; DEL of something not attached
//! succeeds (the spec wants DEL idempotent).
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::attach::{delete_if_ours, CONTAINER};
use super::conf::{Attach, NetConf};
use super::env::Invocation;
use super::error::CniError;
use super::ipam::delegate::Delegate;
use super::ipam::store::Owner;
use super::ipam::IpamConf;
use super::state::{attachment_id, attachment_topology, host_ifname, Attachment, NetState};
use super::{io_error, net, Vars};
use crate::kernel::{netns, observe, Kernel};
use crate::model::HOST;

/// Run DEL.
pub async fn del(
    inv: &Invocation,
    conf: &NetConf,
    vars: &Vars,
    root: &Path,
) -> Result<(), CniError> {
    let st = NetState::new(root, &conf.name);
    let _lock = st.lock().map_err(io_error("taking the network's lock"))?;
    let id = attachment_id(&conf.name, &inv.container_id, &inv.ifname);
    let rec = st
        .record(&id)
        .map_err(io_error("reading the attachment's record"))?;
    let owner = Owner {
        container_id: inv.container_id.clone(),
        ifname: inv.ifname.clone(),
    };
    let netns = inv
        .netns
        .clone()
        .or_else(|| rec.as_ref().and_then(|r| r.netns.clone()));
    remove(
        &st,
        &id,
        &owner,
        rec.as_ref(),
        netns.as_deref(),
        conf,
        &inv.path,
        vars,
    )
    .await
}

/// Remove attachment `id` of `owner`: its devices, its addresses, its
/// journal and record. `netns` is where its container side may still be.
#[allow(clippy::too_many_arguments)]
async fn remove(
    st: &NetState,
    id: &str,
    owner: &Owner,
    rec: Option<&Attachment>,
    netns: Option<&Path>,
    conf: &NetConf,
    path: &[PathBuf],
    vars: &Vars,
) -> Result<(), CniError> {
    let topo = attachment_topology(&st.topo, id);
    let k = Arc::new(Kernel::new(&topo, st.dir().join("teamd")).map_err(net::kernel)?);
    let journal = st.journal();
    match &conf.attach {
        // The host end takes the container end along (veth_dellink).
        Some(Attach::Bridge(_)) => {
            delete_if_ours(&k, &journal, HOST, &host_ifname(id)).await?;
        }
        _ => {
            // A namespace that is gone took the device along; a path that
            // is no namespace now holds nothing of ours (and the mark check
            // below guards against a path reused by another container).
            if let Some(ns) = netns.and_then(|p| netns::open_path(p).ok()) {
                k.attach_node(CONTAINER, ns).await.map_err(net::kernel)?;
                delete_if_ours(&k, &journal, CONTAINER, &owner.ifname).await?;
            }
        }
    }
    match &conf.ipam {
        Some(IpamConf::Builtin { .. }) => {
            let known = rec.map(|r| r.ips.clone()).unwrap_or_default();
            st.ipam()
                .release(owner, &known)
                .map_err(io_error("releasing addresses"))?;
        }
        // An owner unknown (a journal without its record) cannot be named
        // to the plugin; its GC (when it has one) finds such leftovers.
        Some(IpamConf::Delegated { plugin }) if !owner.container_id.is_empty() => {
            let mut vars = vars.clone();
            vars.insert("CNI_CONTAINERID".into(), owner.container_id.clone());
            vars.insert("CNI_IFNAME".into(), owner.ifname.clone());
            let d = Delegate::find(plugin, path, &vars)?;
            if let Some(v) = d.version_for(&conf.version)? {
                d.run("DEL", &conf.raw, &v)?;
            }
        }
        _ => {}
    }
    if let Some(IpamConf::Builtin { .. }) = &conf.ipam {
        st.ipam()
            .sweep()
            .map_err(io_error("sweeping reservations"))?;
    }
    journal.remove(&topo).map_err(|e| {
        CniError::new(super::error::IO_FAILURE, "clearing the journal").with(e.to_string())
    })?;
    st.forget(id)
        .map_err(io_error("removing the attachment's record"))
}

/// Run GC: remove every attachment of the network not in
/// `cni.dev/valid-attachments`, the addresses of owners not in it, the
/// devices marked for attachments not in it, and forward GC to a delegated
/// IPAM plugin that speaks 1.1.0. Goes on past errors and reports them all.
pub async fn gc(
    inv: &Invocation,
    conf: &NetConf,
    vars: &Vars,
    root: &Path,
) -> Result<(), CniError> {
    let st = NetState::new(root, &conf.name);
    let _lock = st.lock().map_err(io_error("taking the network's lock"))?;
    let valid: BTreeSet<String> = conf
        .valid
        .iter()
        .map(|(c, i)| attachment_id(&conf.name, c, i))
        .collect();
    let mut errors = Vec::new();
    let mut stale: Vec<(String, Owner, Option<Attachment>)> = Vec::new();
    for (id, a) in st
        .records()
        .map_err(io_error("reading attachment records"))?
    {
        if !valid.contains(&id) {
            stale.push((id, a.owner(), Some(a)));
        }
    }
    // Journals without a record: an ADD killed before its record was
    // written has nothing in the kernel yet, but a record lost otherwise
    // leaves its journal; the owner is unknown then (IPAM is swept below).
    let prefix = format!("{}.", st.topo);
    for topo in st.journal().topologies().unwrap_or_default() {
        if let Some(id) = topo.strip_prefix(&prefix) {
            if !valid.contains(id) && !stale.iter().any(|s| s.0 == id) {
                let owner = Owner {
                    container_id: String::new(),
                    ifname: String::new(),
                };
                stale.push((id.to_string(), owner, None));
            }
        }
    }
    for (id, owner, rec) in &stale {
        let netns = rec.as_ref().and_then(|r| r.netns.clone());
        if let Err(e) = remove(
            &st,
            id,
            owner,
            rec.as_ref(),
            netns.as_deref(),
            conf,
            &inv.path,
            vars,
        )
        .await
        {
            errors.push(e.to_string());
        }
    }
    if let Some(IpamConf::Builtin { .. }) = &conf.ipam {
        let store = st.ipam();
        let keep: BTreeSet<(String, String)> = conf.valid.iter().cloned().collect();
        match store.all() {
            Ok(all) => {
                for (ip, o) in all {
                    if !keep.contains(&(o.container_id.clone(), o.ifname.clone())) {
                        if let Err(e) = store.release(&o, &[ip]) {
                            errors.push(format!("releasing {ip}: {e}"));
                        }
                    }
                }
            }
            Err(e) => errors.push(format!("reading reservations: {e}")),
        }
        if let Err(e) = store.sweep() {
            errors.push(format!("sweeping reservations: {e}"));
        }
    }
    // Host ends marked for an attachment of this network that is neither
    // valid nor recorded (a record lost with its journal).
    if matches!(conf.attach, Some(Attach::Bridge(_))) {
        if let Err(e) = sweep_host(&st, &valid).await {
            errors.push(e.to_string());
        }
    }
    if let Some(IpamConf::Delegated { plugin }) = &conf.ipam {
        match Delegate::find(plugin, &inv.path, vars).and_then(|d| {
            if d.version_for("1.1.0")?.as_deref() == Some("1.1.0") {
                d.run("GC", &conf.raw, "1.1.0").map(drop)
            } else {
                eprintln!(
                    "netloom-cni: IPAM plugin {plugin} predates GC (CNI 1.1.0); not forwarded"
                );
                Ok(())
            }
        }) {
            Ok(()) => {}
            Err(e) => errors.push(e.to_string()),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CniError::new(super::error::KERNEL, "GC left stale resources").with(errors.join("; ")))
    }
}

/// Delete host links marked for attachments of this network not in `valid`.
async fn sweep_host(st: &NetState, valid: &BTreeSet<String>) -> Result<(), CniError> {
    let k = Arc::new(Kernel::new(&st.topo, st.dir().join("teamd")).map_err(net::kernel)?);
    let Some(host) = observe::node(&k, HOST, &[]).await.map_err(net::kernel)? else {
        return Ok(());
    };
    let prefix = format!("{}.", crate::model::owner_mark(&st.topo));
    for l in host.links.values() {
        let Some(id) = l.alias.as_deref().and_then(|a| a.strip_prefix(&prefix)) else {
            continue;
        };
        if valid.contains(id) || l.name != host_ifname(id) {
            continue;
        }
        let ka = Arc::new(
            Kernel::new(&attachment_topology(&st.topo, id), st.dir().join("teamd"))
                .map_err(net::kernel)?,
        );
        delete_if_ours(&ka, &st.journal(), HOST, &l.name).await?;
    }
    Ok(())
}
