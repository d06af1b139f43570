//! Preflight: can this kernel make every device kind a plan creates? Each
//! needed kind is tried once in a throwaway network namespace: a dedicated
//! thread unshares its network namespace (never bound to a file, so it
//! vanishes with the thread and everything made in it), creates one device
//! of the kind and deletes it. Nothing is cached: a driver loaded or
//! unloaded since the last run is seen. Loading a missing module is the
//! kernel's own business (request_module on the create), as for `up`.
use std::collections::BTreeSet;

use futures::TryStreamExt;
use rtnetlink::packet_route::link::{
    InfoBridge, InfoData, InfoKind, LinkAttribute, LinkInfo, LinkMessage,
};
use rtnetlink::Handle;

use super::conn;
use super::error::KernelError;
use crate::model::Need;

/// A need the kernel (or the system) cannot meet, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// What was needed.
    pub need: Need,
    /// The error seen when trying it.
    pub reason: String,
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.need {
            Need::Kind(k) => write!(
                f,
                "this kernel cannot make `{k}` devices ({} driver missing: {})",
                driver(k),
                self.reason
            ),
            Need::BridgeVlanFiltering => write!(
                f,
                "this kernel cannot filter VLANs on a bridge (bridge vlan_filtering: {})",
                self.reason
            ),
            Need::Teamd => write!(f, "team devices need the `teamd` program ({})", self.reason),
            Need::Dnsmasq => write!(
                f,
                "`dhcp` needs the `dnsmasq` program, Debian package dnsmasq-base ({})",
                self.reason
            ),
        }
    }
}

/// The module (driver) behind a kernel kind, as named in modprobe.
fn driver(kind: &str) -> &str {
    match kind {
        "bond" => "bonding",
        "vlan" => "8021q",
        other => other,
    }
}

/// Try every need; return those that failed (empty: all supported).
pub fn check(needs: &BTreeSet<Need>) -> Result<Vec<Missing>, KernelError> {
    if needs.is_empty() {
        return Ok(Vec::new());
    }
    let mut missing = Vec::new();
    if needs.contains(&Need::Teamd) && !on_path(super::teamd::TEAMD) {
        missing.push(Missing {
            need: Need::Teamd,
            reason: "not found in PATH".into(),
        });
    }
    if needs.contains(&Need::Dnsmasq) && !on_path(super::service::dnsmasq::DNSMASQ) {
        missing.push(Missing {
            need: Need::Dnsmasq,
            reason: "not found in PATH".into(),
        });
    }
    let kinds: Vec<Need> = needs
        .iter()
        .filter(|n| !matches!(n, Need::Teamd | Need::Dnsmasq))
        .cloned()
        .collect();
    if kinds.is_empty() {
        return Ok(missing);
    }
    let object = "preflight namespace".to_string();
    let thread = std::thread::Builder::new()
        .name("netloom-preflight".into())
        .spawn(move || try_in_throwaway_netns(&kinds))
        .map_err(|e| KernelError::io(object.clone(), e))?;
    let found = thread
        .join()
        .map_err(|_| KernelError::Thread { object })??;
    missing.extend(found);
    Ok(missing)
}

/// True when `program` is an executable file in a directory of $PATH.
fn on_path(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|d| {
        std::fs::metadata(d.join(program))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// On this (dedicated) thread: a network namespace of its own, then try each need.
fn try_in_throwaway_netns(needs: &[Need]) -> Result<Vec<Missing>, KernelError> {
    // Only this thread moves; the namespace dies with the thread (no fd, no bind mount).
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
        .map_err(|e| KernelError::io("preflight: unshare network namespace", e.into()))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| KernelError::io("preflight runtime", e))?;
    rt.block_on(async {
        let handle = conn::socket()
            .map(conn::handle)
            .map_err(|e| KernelError::io("preflight: rtnetlink socket", e))?;
        let mut missing = Vec::new();
        // Stacked kinds need an Ethernet lower; a veth is the one kind
        // netloom always needs the kernel to have.
        let lower = match create(&handle, "pfl-low", "veth", None, None).await {
            Ok(()) => index(&handle, "pfl-low").await.ok(),
            Err(_) => None,
        };
        // Every trial device gets its own name and is left for the
        // namespace's teardown: deleting one waits for the kernel to release
        // it (20-50 ms here), while the dying namespace frees all in a batch.
        for (i, need) in needs.iter().enumerate() {
            let name = format!("pfl-{i}");
            let result = match need {
                Need::Kind(k) if k == "tun" => std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open("/dev/net/tun")
                    .map(drop)
                    .map_err(|e| format!("/dev/net/tun: {e}")),
                Need::Kind(k) if k == "veth" => match lower {
                    Some(_) => Ok(()),
                    None => create(&handle, &name, "veth", None, None).await,
                },
                Need::Kind(k) => {
                    // What a trial device of the kind needs: its codec says.
                    let codec = super::kind::by_info(&InfoKind::from(k.as_str()));
                    let stacked = codec.is_some_and(|c| c.stacked);
                    let data = codec.and_then(|c| (c.sample)());
                    match (stacked, lower) {
                        (true, None) => Err("no veth to stack it on".to_string()),
                        // Each stacked trial gets a lower of its own: the
                        // kernel refuses macvlan and ipvlan on one lower.
                        (true, Some(_)) => {
                            let low = format!("pfl-l{i}");
                            match create(&handle, &low, "veth", None, None).await {
                                Ok(()) => match index(&handle, &low).await {
                                    Ok(l) => create(&handle, &name, k, data, Some(l)).await,
                                    Err(e) => Err(e),
                                },
                                Err(e) => Err(format!("a veth to stack it on: {e}")),
                            }
                        }
                        (false, _) => create(&handle, &name, k, data, None).await,
                    }
                }
                Need::BridgeVlanFiltering => {
                    let data = InfoData::Bridge(vec![InfoBridge::VlanFiltering(true)]);
                    create(&handle, &name, "bridge", Some(data), None).await
                }
                Need::Teamd | Need::Dnsmasq => Ok(()),
            };
            if let Err(reason) = result {
                missing.push(Missing {
                    need: need.clone(),
                    reason,
                });
            }
        }
        Ok(missing)
    })
}

/// Create device `name` of kernel kind `kind`; the kernel's words on failure.
async fn create(
    handle: &Handle,
    name: &str,
    kind: &str,
    data: Option<InfoData>,
    lower: Option<u32>,
) -> Result<(), String> {
    let mut msg = LinkMessage::default();
    msg.attributes.push(LinkAttribute::IfName(name.to_string()));
    if let Some(l) = lower {
        msg.attributes.push(LinkAttribute::Link(l));
    }
    let mut info = vec![LinkInfo::Kind(InfoKind::from(kind))];
    info.extend(data.map(LinkInfo::Data));
    msg.attributes.push(LinkAttribute::LinkInfo(info));
    handle
        .link()
        .add(msg)
        .execute()
        .await
        .map_err(|e| match conn::map_err(e, name, "create") {
            KernelError::Netlink { message, .. } => message,
            other => other.to_string(),
        })
}

/// The ifindex of `name`.
async fn index(handle: &Handle, name: &str) -> Result<u32, String> {
    let mut links = handle.link().get().match_name(name.to_string()).execute();
    match links.try_next().await {
        Ok(Some(m)) => Ok(m.header.index),
        Ok(None) => Err(format!("{name} not found")),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_driver() {
        let m = Missing {
            need: Need::Kind("bond".into()),
            reason: "Unknown device type".into(),
        };
        assert_eq!(
            m.to_string(),
            "this kernel cannot make `bond` devices (bonding driver missing: Unknown device type)"
        );
        let m = Missing {
            need: Need::Kind("vlan".into()),
            reason: "x".into(),
        };
        assert!(m.to_string().contains("8021q driver missing"));
    }
}
