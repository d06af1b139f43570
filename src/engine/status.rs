//! `status`: per object in sync, missing, drifted or orphaned, with what
//! the kernel and teamd report beside it.
use std::collections::BTreeMap;

use super::{Engine, EngineError};
use crate::kernel;
use crate::model::{LinkKind, Network};
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
    /// Failover masters the kernel made in the file's nodes (`node/iface`
    /// -> primary, standby, and the slave carrying traffic now).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub failover: BTreeMap<String, kernel::failover::Failover>,
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
        let failover = self
            .failover(&observed, |node| desired.nodes.contains_key(node))
            .await?;
        Ok(StatusReport {
            objects,
            devices,
            teams,
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
