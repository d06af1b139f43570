//! `status`: per object in sync, missing, drifted or orphaned, with what
//! the kernel and teamd report beside it.
use std::collections::BTreeMap;

use super::{Engine, EngineError};
use crate::kernel;
use crate::model::service::ServiceReport;
use crate::model::{LinkKind, Network, Service, ServiceSetup};
use crate::plan::{self, ObjectStatus};

/// The answer of `status`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StatusReport {
    /// Per object: in sync, missing, drifted or orphaned.
    pub objects: Vec<ObjectStatus>,
    /// Character devices of tap-like links (`node/iface` -> `/dev/tapN`).
    pub devices: BTreeMap<String, String>,
    /// What each desired team's teamd reports (`node/iface` -> runner,
    /// active port, port link states); a team whose teamd does not answer
    /// is absent.
    pub teams: BTreeMap<String, kernel::teamd::TeamState>,
    /// Every service the file wants or that runs for it: running or not,
    /// its pid and what it serves and reports.
    pub services: Vec<ServiceView>,
    /// Where each LIF is, as its watcher reports.
    pub lifs: Vec<LifView>,
    /// Failover masters the kernel made in the file's nodes (`node/iface`
    /// -> primary, standby, and the slave carrying traffic now).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub failover: BTreeMap<String, kernel::failover::Failover>,
}

/// One service in `status`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ServiceView {
    /// Its node.
    pub node: String,
    /// Its name in the node.
    pub name: String,
    /// Whether its process runs (alive and identified).
    pub running: bool,
    /// The pid, when it runs.
    pub pid: Option<u32>,
    /// What it serves.
    pub serves: String,
    /// What it reports, in words (leases handed out, the lease held).
    pub report: String,
}

/// One LIF in `status`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LifView {
    /// Its name.
    pub name: String,
    /// Its node.
    pub node: String,
    /// The port holding its address, as its watcher reports (`None`: no
    /// watcher runs, or no port was up).
    pub port: Option<String>,
    /// Its home port.
    pub home: String,
    /// Whether it is on its home port.
    pub at_home: bool,
    /// Migrated by hand and staying put until reverted.
    pub sticky: bool,
}

impl Engine {
    /// Per-object status of the file against the kernel.
    pub async fn status(&self, desired: &Network) -> Result<StatusReport, EngineError> {
        let rec = self.records()?;
        let observed = self.observe(desired, &rec).await?;
        let objects = plan::status(desired, &observed, &Self::owned(&rec));
        let mut devices = BTreeMap::new();
        for (node, n) in &observed.nodes {
            for (name, l) in &n.links {
                let tap = l.kind.facts().tap_path().map(str::to_string);
                if let (Some(tap), true) = (
                    tap,
                    desired
                        .nodes
                        .get(node)
                        .is_some_and(|d| d.links.contains_key(name)),
                ) {
                    devices.insert(format!("{node}/{name}"), tap);
                }
            }
        }
        let mut teams = BTreeMap::new();
        for (node, n) in &desired.nodes {
            for (name, l) in &n.links {
                if !matches!(l.kind, LinkKind::Team(_)) {
                    continue;
                }
                let dir = self.kernel.teamd_dir(node);
                if kernel::teamd::running(&dir, name)?.is_none() {
                    continue;
                }
                // A teamd that stops between the two calls is just not reported.
                if let Ok(state) = kernel::teamd::state(&dir, name) {
                    teams.insert(format!("{node}/{name}"), state);
                }
            }
        }
        let (services, lifs) = services(desired, &observed);
        let failover = self
            .failover(&observed, |node| desired.nodes.contains_key(node))
            .await?;
        Ok(StatusReport {
            objects,
            devices,
            teams,
            services,
            lifs,
            failover,
        })
    }

    /// The failover masters of the nodes `wanted` picks, keyed NODE/MASTER,
    /// read where a device of no kind netloom knows is the master of another
    /// (a failover master, or a device of a driver netloom does not model).
    pub(super) async fn failover(
        &self,
        observed: &Network,
        wanted: impl Fn(&str) -> bool,
    ) -> Result<BTreeMap<String, kernel::failover::Failover>, EngineError> {
        let mut out = BTreeMap::new();
        for (node, n) in &observed.nodes {
            let candidate = n.links.values().any(|l| {
                matches!(l.kind, LinkKind::External | LinkKind::Other(_))
                    && n.links
                        .values()
                        .any(|o| o.master.as_deref() == Some(l.name.as_str()))
            });
            if !candidate || !wanted(node) {
                continue;
            }
            let Some(ns) = self.kernel.netns_of(node)? else {
                continue;
            };
            let found = tokio::task::spawn_blocking(move || kernel::failover::read(&ns))
                .await
                .map_err(|e| EngineError::Task(e.to_string()))??;
            for f in found {
                out.insert(format!("{node}/{}", f.master), f);
            }
        }
        Ok(out)
    }
}

/// The services and LIFs of `desired` (and the services running in
/// `observed` beside them), as `status` shows them.
fn services(desired: &Network, observed: &Network) -> (Vec<ServiceView>, Vec<LifView>) {
    let mut views = Vec::new();
    let mut lifs = Vec::new();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    for (node, n) in &observed.nodes {
        let wanted = desired.nodes.get(node);
        let mut names: Vec<&String> = n.services.keys().collect();
        names.extend(wanted.iter().flat_map(|w| w.services.keys()));
        names.sort();
        names.dedup();
        for name in names {
            let have = n.services.get(name);
            let Some(setup) = have
                .map(|s| &s.setup)
                .or_else(|| wanted.and_then(|w| w.services.get(name)).map(|s| &s.setup))
            else {
                continue;
            };
            views.push(ServiceView {
                node: node.clone(),
                name: name.clone(),
                running: have.is_some(),
                pid: have.and_then(|s| s.pid),
                serves: setup.serves(),
                report: have.map(|s| report(s, now)).unwrap_or_default(),
            });
        }
        let Some(w) = wanted else { continue };
        for s in w.services.values() {
            let ServiceSetup::LifWatch(l) = &s.setup else {
                continue;
            };
            let reported = n
                .services
                .get(&s.setup.name())
                .and_then(|h| match &h.report {
                    Some(ServiceReport::Lifs(m)) => Some(m),
                    _ => None,
                });
            for lif in &l.lifs {
                let state = reported.and_then(|m| m.get(&lif.name));
                let port = state.and_then(|st| st.port.clone());
                lifs.push(LifView {
                    name: lif.name.clone(),
                    node: node.clone(),
                    at_home: port.as_deref() == Some(lif.home.as_str()),
                    port,
                    home: lif.home.clone(),
                    sticky: state.is_some_and(|st| st.sticky),
                });
            }
        }
    }
    (views, lifs)
}

/// What a running service reports, in words.
fn report(s: &Service, now: u64) -> String {
    match &s.report {
        Some(ServiceReport::Leases(l)) => {
            let each: Vec<String> = l
                .iter()
                .map(|x| format!("{} {}", x.hostname.as_deref().unwrap_or("?"), x.address))
                .collect();
            format!("{} lease(s): {}", l.len(), each.join(", "))
        }
        Some(ServiceReport::Lease(Some(l))) => format!(
            "lease {} from {}, renewed {} time(s), expires in {} s",
            l.address,
            l.server,
            l.renewals,
            l.expires.saturating_sub(now)
        ),
        Some(ServiceReport::Lease(None)) => "no lease".into(),
        Some(ServiceReport::Lifs(m)) => {
            let each: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{k} on {}", v.port.as_deref().unwrap_or("no port")))
                .collect();
            each.join(", ")
        }
        None => String::new(),
    }
}
