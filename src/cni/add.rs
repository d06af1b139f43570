//! ADD: attach a container to the network.
//!
//! Everything is checked before anything changes (the configuration, the
//! environment, that CNI_NETNS is a network namespace, that CNI_IFNAME is
//! free); then the attachment's record is written, an address reserved,
//! the network's shared devices made if missing, and the attachment's ops
//! run in one transaction. A failure at any step undoes the steps before
//! it; a process killed at any step leaves a record that DEL and GC follow.
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

use super::attach::{self, Want, CONTAINER};
use super::conf::{Attach, NetConf};
use super::env::Invocation;
use super::error::{CniError, ADDRESSES_EXHAUSTED, DELEGATE, IFNAME_EXISTS};
use super::ipam::delegate::Delegate;
use super::ipam::{builtin_result, IpamConf};
use super::result::{CniResult, Interface};
use super::state::{attachment_id, attachment_topology, host_ifname, Attachment, NetState};
use super::{io_error, net, open_netns, Vars};
use crate::kernel::{observe, Kernel};
use crate::model::HOST;
use crate::state::Store;

/// Run ADD; the result's JSON text.
pub async fn add(
    inv: &Invocation,
    conf: &NetConf,
    vars: &Vars,
    root: &std::path::Path,
) -> Result<String, CniError> {
    let start = std::time::Instant::now();
    let netns_path = inv
        .netns
        .as_deref()
        .expect("env requires CNI_NETNS for ADD");
    let ns = open_netns(netns_path)?;
    let st = NetState::new(root, &conf.name);
    let _lock = st.lock().map_err(io_error("taking the network's lock"))?;
    crate::timing::record("cni lock", start.elapsed());
    let id = attachment_id(&conf.name, &inv.container_id, &inv.ifname);
    if st
        .record(&id)
        .map_err(io_error("reading the attachment's record"))?
        .is_some()
    {
        return Err(CniError::new(
            IFNAME_EXISTS,
            format!(
                "{}/{} is attached to {} already",
                inv.container_id, inv.ifname, conf.name
            ),
        )
        .with("a runtime must DEL before it ADDs the same container and interface again"));
    }
    let k = Arc::new(
        Kernel::new(&attachment_topology(&st.topo, &id), st.dir().join("teamd"))
            .map_err(net::kernel)?,
    );
    k.attach_node(CONTAINER, ns).await.map_err(net::kernel)?;
    if observe::link_named(&k, CONTAINER, &inv.ifname)
        .await
        .map_err(net::kernel)?
        .is_some()
    {
        return Err(CniError::new(
            IFNAME_EXISTS,
            format!(
                "an interface {} exists in {} already",
                inv.ifname,
                netns_path.display()
            ),
        ));
    }
    let host_if = matches!(conf.attach, Some(Attach::Bridge(_))).then(|| host_ifname(&id));
    if let Some(h) = &host_if {
        if observe::link_named(&k, HOST, h)
            .await
            .map_err(net::kernel)?
            .is_some()
        {
            return Err(CniError::new(
                IFNAME_EXISTS,
                format!("the host end's name {h} is taken by a device of another"),
            ));
        }
    }
    let mut rec = Attachment {
        container_id: inv.container_id.clone(),
        ifname: inv.ifname.clone(),
        netns: Some(netns_path.to_path_buf()),
        host_if: host_if.clone(),
        ips: Vec::new(),
        delegated: match &conf.ipam {
            Some(IpamConf::Delegated { plugin }) => Some(plugin.clone()),
            _ => None,
        },
        result: None,
    };
    crate::timing::record("cni checks", start.elapsed());
    // Written ahead: from here on, DEL and GC know this attachment.
    st.save(&id, &rec)
        .map_err(io_error("writing the attachment's record"))?;
    let made = make(inv, conf, vars, root, &st, &id, &k, &mut rec).await;
    match made {
        Ok(result) => {
            rec.result = Some(result.clone());
            st.save(&id, &rec)
                .map_err(io_error("writing the attachment's record"))?;
            Ok(result.to_json())
        }
        Err(e) => {
            // The transaction undid its finished steps, but keeps in the
            // journal what the failed step wrote ahead (it may have
            // half-happened): remove such a device if it is there, then
            // the journal; give the addresses back; forget the attachment.
            let journal = st.journal();
            let leftover = match &rec.host_if {
                Some(h) => attach::delete_if_ours(&k, &journal, HOST, h).await,
                None => attach::delete_if_ours(&k, &journal, CONTAINER, &inv.ifname).await,
            };
            if leftover.is_ok() {
                let _ = journal.remove(k.topo());
            }
            release(inv, conf, vars, &st, &rec).await;
            let _ = st.forget(&id);
            Err(e)
        }
    }
}

/// Reserve addresses, make the shared devices and the attachment; its result.
#[allow(clippy::too_many_arguments)]
async fn make(
    inv: &Invocation,
    conf: &NetConf,
    vars: &Vars,
    root: &std::path::Path,
    st: &NetState,
    id: &str,
    k: &Arc<Kernel>,
    rec: &mut Attachment,
) -> Result<CniResult, CniError> {
    let t = std::time::Instant::now();
    let ipam = match &conf.ipam {
        None => CniResult::default(),
        Some(IpamConf::Builtin { ranges, routes }) => {
            let store = st.ipam();
            for (i, r) in ranges.iter().enumerate() {
                match store
                    .reserve(i, r, &rec.owner())
                    .map_err(io_error("reserving an address"))?
                {
                    Some(ip) => rec.ips.push(ip),
                    None => {
                        return Err(CniError::new(
                            ADDRESSES_EXHAUSTED,
                            format!("no free address left in {}", r.subnet),
                        ))
                    }
                }
                st.save(id, rec)
                    .map_err(io_error("writing the attachment's record"))?;
            }
            builtin_result(ranges, routes, &rec.ips)
        }
        Some(IpamConf::Delegated { plugin }) => {
            let d = Delegate::find(plugin, &inv.path, vars)?;
            let v = d.version_for(&conf.version)?.ok_or_else(|| {
                CniError::new(
                    DELEGATE,
                    format!("IPAM plugin {plugin} speaks no version netloom-cni speaks"),
                )
            })?;
            d.add(&conf.raw, &v)?
        }
    };
    crate::timing::record("cni ipam", t.elapsed());
    let t = std::time::Instant::now();
    let gateways: Vec<IpNet> = ipam
        .ips
        .iter()
        .filter_map(|ip| IpNet::new(ip.gateway?, ip.address.prefix_len()).ok())
        .collect();
    if let Some(want) = net::desired(conf, &st.topo, &gateways) {
        net::ensure(k, &want, &Store::at(root)).await?;
    }
    crate::timing::record("cni ensure", t.elapsed());
    let gateway_of = |v4: bool| {
        ipam.ips
            .iter()
            .filter(|ip| ip.address.addr().is_ipv4() == v4)
            .find_map(|ip| ip.gateway)
    };
    let mut routes: Vec<(IpNet, Option<IpAddr>, Option<u32>)> = Vec::new();
    for r in &ipam.routes {
        let via = r.gw.or_else(|| gateway_of(r.dst.addr().is_ipv4()));
        routes.push((r.dst, via, r.priority));
    }
    for r in &conf.routes {
        if !routes.iter().any(|o| o.0 == r.0) {
            routes.push(*r);
        }
    }
    let want = Want {
        ifname: inv.ifname.clone(),
        host_if: rec.host_if.clone(),
        addresses: ipam.ips.iter().map(|ip| ip.address).collect(),
        routes: routes.clone(),
    };
    crate::timing::timed(
        "cni apply",
        attach::apply(k, &st.journal(), &attach::plan(conf, &want)),
    )
    .await?;
    let t = std::time::Instant::now();
    let netns = inv
        .netns
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let out = result(k, conf, inv, rec, &ipam, &routes, &netns).await;
    crate::timing::record("cni result", t.elapsed());
    out
}

/// The attachment's result, its devices read back for MACs and MTUs, after
/// the prevResult of a chain.
async fn result(
    k: &Arc<Kernel>,
    conf: &NetConf,
    inv: &Invocation,
    rec: &Attachment,
    ipam: &CniResult,
    routes: &[(IpNet, Option<IpAddr>, Option<u32>)],
    netns: &str,
) -> Result<CniResult, CniError> {
    let mut out = CniResult::default();
    let iface = |node: &str, name: &str| {
        let (k, node, name) = (k.clone(), node.to_string(), name.to_string());
        async move {
            let l = observe::link_named(&k, &node, &name)
                .await
                .map_err(net::kernel)?;
            Ok::<_, CniError>(Interface {
                name: name.clone(),
                mac: l
                    .as_ref()
                    .and_then(|l| l.mac)
                    .map(|m| m.to_string())
                    .unwrap_or_default(),
                mtu: l.and_then(|l| l.mtu),
                ..Interface::default()
            })
        }
    };
    if let Some(Attach::Bridge(b)) = &conf.attach {
        out.interfaces.push(iface(HOST, &b.name).await?);
    }
    if let Some(h) = &rec.host_if {
        out.interfaces.push(iface(HOST, h).await?);
    }
    let mut cont = iface(CONTAINER, &inv.ifname).await?;
    cont.sandbox = netns.to_string();
    out.interfaces.push(cont);
    let at = out.interfaces.len() - 1;
    for ip in &ipam.ips {
        let mut ip = ip.clone();
        ip.interface = Some(at);
        out.ips.push(ip);
    }
    for (dst, gw, metric) in routes {
        out.routes.push(super::result::RouteEntry {
            dst: *dst,
            gw: *gw,
            mtu: None,
            advmss: None,
            priority: *metric,
            table: None,
            scope: None,
            extra: Default::default(),
        });
    }
    out.dns = if ipam.dns.is_empty() {
        conf.dns.clone()
    } else {
        ipam.dns.clone()
    };
    let all = match &conf.prev_result {
        Some(prev) => prev.clone().chain(out),
        None => out,
    };
    Ok(all.for_version(&conf.version))
}

/// Give back what the attachment holds in IPAM (best effort: the error
/// that led here is the one reported).
pub async fn release(
    inv: &Invocation,
    conf: &NetConf,
    vars: &Vars,
    st: &NetState,
    rec: &Attachment,
) {
    match &conf.ipam {
        Some(IpamConf::Builtin { .. }) => {
            let _ = st.ipam().release(&rec.owner(), &rec.ips);
        }
        Some(IpamConf::Delegated { plugin }) => {
            if let Ok(d) = Delegate::find(plugin, &inv.path, vars) {
                if let Ok(Some(v)) = d.version_for(&conf.version) {
                    let _ = d.run("DEL", &conf.raw, &v);
                }
            }
        }
        None => {}
    }
}
