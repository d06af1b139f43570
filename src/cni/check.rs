//! CHECK (is the attachment as ADD left it?) and STATUS (can ADD be served?).
use std::path::Path;
use std::sync::Arc;

use super::attach::CONTAINER;
use super::conf::{Attach, NetConf};
use super::env::Invocation;
use super::error::{CniError, CHECK_FAILED, INVALID_CONFIG, NOT_AVAILABLE, UNKNOWN_CONTAINER};
use super::ipam::delegate::Delegate;
use super::ipam::IpamConf;
use super::state::{attachment_id, attachment_topology, NetState};
use super::{io_error, net, open_netns, Vars};
use crate::kernel::{observe, Kernel};
use crate::model::{owner_mark, HOST};

fn differs(what: String) -> CniError {
    CniError::new(CHECK_FAILED, what)
}

/// Run CHECK: the container's interface, its addresses and the routes the
/// attachment made and prevResult still lists, the host end in its bridge,
/// the address reservations (or the delegated plugin's CHECK).
pub async fn check(
    inv: &Invocation,
    conf: &NetConf,
    vars: &Vars,
    root: &Path,
) -> Result<(), CniError> {
    let prev = conf.prev_result.as_ref().ok_or_else(|| {
        CniError::new(INVALID_CONFIG, "CHECK needs prevResult")
            .with("the runtime must pass the result of the ADD")
    })?;
    let netns_path = inv
        .netns
        .as_deref()
        .expect("env requires CNI_NETNS for CHECK");
    let ns = open_netns(netns_path)?;
    let st = NetState::new(root, &conf.name);
    let _lock = st.lock().map_err(io_error("taking the network's lock"))?;
    let id = attachment_id(&conf.name, &inv.container_id, &inv.ifname);
    let Some(rec) = st
        .record(&id)
        .map_err(io_error("reading the attachment's record"))?
    else {
        return Err(CniError::new(
            UNKNOWN_CONTAINER,
            format!(
                "{}/{} is not attached to {}",
                inv.container_id, inv.ifname, conf.name
            ),
        ));
    };
    let topo = attachment_topology(&st.topo, &id);
    let k = Arc::new(Kernel::new(&topo, st.dir().join("teamd")).map_err(net::kernel)?);
    k.attach_node(CONTAINER, ns).await.map_err(net::kernel)?;
    let mark = owner_mark(&topo);
    let node = observe::node(&k, CONTAINER, &[])
        .await
        .map_err(net::kernel)?
        .unwrap_or_default();
    let Some(link) = node.links.get(&inv.ifname) else {
        return Err(differs(format!(
            "{} is missing from {}",
            inv.ifname,
            netns_path.display()
        )));
    };
    if link.alias.as_deref() != Some(mark.as_str()) {
        return Err(differs(format!(
            "{} is not the interface this attachment made",
            inv.ifname
        )));
    }
    if link.up != Some(true) {
        return Err(differs(format!("{} is down", inv.ifname)));
    }
    let sandbox = netns_path.display().to_string();
    let Some(at) = prev
        .interfaces
        .iter()
        .position(|i| i.name == inv.ifname && i.sandbox == sandbox)
    else {
        return Err(differs(format!(
            "prevResult lists no interface {} in {sandbox}",
            inv.ifname
        )));
    };
    let listed_mac = &prev.interfaces[at].mac;
    let mac = link.mac.map(|m| m.to_string()).unwrap_or_default();
    if !listed_mac.is_empty() && !listed_mac.eq_ignore_ascii_case(&mac) {
        return Err(differs(format!(
            "{} has MAC {mac}, prevResult says {listed_mac}",
            inv.ifname
        )));
    }
    for ip in prev.ips.iter().filter(|ip| ip.interface == Some(at)) {
        if !link.addresses.iter().any(|a| a.net == ip.address) {
            return Err(differs(format!(
                "{} lacks its address {}",
                inv.ifname, ip.address
            )));
        }
    }
    // Routes this attachment made that prevResult still lists (a later
    // plugin may have changed others: the spec lets it).
    let made = rec
        .result
        .as_ref()
        .map(|r| r.routes.clone())
        .unwrap_or_default();
    for r in made.iter().filter(|r| prev.routes.contains(r)) {
        if !node.routes.iter().any(|o| o.to == r.dst && o.via == r.gw) {
            return Err(differs(format!("the route to {} is missing", r.dst)));
        }
    }
    if let (Some(Attach::Bridge(b)), Some(h)) = (&conf.attach, &rec.host_if) {
        let host = observe::link_named(&k, HOST, h)
            .await
            .map_err(net::kernel)?;
        match host {
            None => return Err(differs(format!("the host end {h} is missing"))),
            Some(l) if l.master.as_deref() != Some(b.name.as_str()) => {
                return Err(differs(format!(
                    "the host end {h} is not a port of {}",
                    b.name
                )))
            }
            Some(l) if l.up != Some(true) => {
                return Err(differs(format!("the host end {h} is down")))
            }
            Some(_) => {}
        }
    }
    match &conf.ipam {
        Some(IpamConf::Builtin { .. }) => {
            let store = st.ipam();
            for ip in &rec.ips {
                if store.owner(*ip).map_err(io_error("reading reservations"))? != Some(rec.owner())
                {
                    return Err(differs(format!("the reservation of {ip} is gone")));
                }
            }
        }
        Some(IpamConf::Delegated { plugin }) => {
            let d = Delegate::find(plugin, &inv.path, vars)?;
            if let Some(v) = d.version_for(&conf.version)? {
                d.run("CHECK", &conf.raw, &v)?;
            }
        }
        None => {}
    }
    Ok(())
}

/// Run STATUS: not available (50) when an IPAM range is full, a lower or
/// external bridge ADD needs is missing, or a delegated plugin that
/// speaks 1.1.0 says so.
pub async fn status(
    inv: &Invocation,
    conf: &NetConf,
    vars: &Vars,
    root: &Path,
) -> Result<(), CniError> {
    let st = NetState::new(root, &conf.name);
    let unavailable = |m: String| CniError::new(NOT_AVAILABLE, m);
    match &conf.ipam {
        Some(IpamConf::Builtin { ranges, .. }) => {
            let store = st.ipam();
            for r in ranges {
                if store.free(r).map_err(io_error("reading reservations"))? == 0 {
                    return Err(unavailable(format!("no free address left in {}", r.subnet)));
                }
            }
        }
        Some(IpamConf::Delegated { plugin }) => {
            let d = Delegate::find(plugin, &inv.path, vars)
                .map_err(|e| unavailable(e.msg.clone()).with(e.details.clone()))?;
            if d.version_for("1.1.0")?.as_deref() == Some("1.1.0") {
                d.run("STATUS", &conf.raw, "1.1.0")?;
            }
        }
        None => {}
    }
    let needed = match &conf.attach {
        Some(Attach::Bridge(b)) if b.external => Some(b.name.clone()),
        Some(Attach::Macvlan { lower, .. } | Attach::Ipvlan { lower, .. }) => Some(lower.clone()),
        _ => None,
    };
    if let Some(dev) = needed {
        let k = Kernel::new(&st.topo, st.dir().join("teamd")).map_err(net::kernel)?;
        if observe::link_named(&k, HOST, &dev)
            .await
            .map_err(net::kernel)?
            .is_none()
        {
            return Err(unavailable(format!(
                "the host device {dev} the network needs is missing"
            )));
        }
    }
    Ok(())
}
