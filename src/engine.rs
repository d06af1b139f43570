//! The engine: composes the layers into netloom's verbs (plan, up, status,
//! down), so the CLI and other programs share one straight path:
//! spec -> observe -> plan -> apply.
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::apply::{self, ApplyError, Report};
use crate::kernel::{self, Kernel, KernelError};
use crate::model::{LinkKind, Network, HOST};
use crate::plan::{self, Conflict, ObjectStatus, Owned, Plan};
use crate::state::{Lock, Records, StateError, Store};

/// Why a verb failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Reading the kernel failed.
    #[error(transparent)]
    Kernel(#[from] KernelError),
    /// netloom's records or lock.
    #[error(transparent)]
    State(#[from] StateError),
    /// The file names objects netloom does not own; nothing was touched.
    #[error("refusing to touch objects netloom did not create:\n{}", conflicts.iter().map(|c| format!("  {}: {}", c.object, c.reason)).collect::<Vec<_>>().join("\n"))]
    Conflicts {
        /// The objects and why.
        conflicts: Vec<Conflict>,
    },
    /// Applying failed (and was rolled back).
    #[error(transparent)]
    Apply(#[from] ApplyError),
}

/// The answer of `status`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StatusReport {
    /// Per object: in sync, missing, drifted or orphaned.
    pub objects: Vec<ObjectStatus>,
    /// Character devices of tap-like links (`node/iface` -> `/dev/tapN`).
    pub devices: BTreeMap<String, String>,
}

/// One topology's handle on the machine: kernel access and records.
pub struct Engine {
    kernel: Arc<Kernel>,
    store: Store,
    name: String,
}

/// The result of observing and planning.
pub struct Planned {
    /// The kernel as observed before planning.
    pub observed: Network,
    /// What netloom owns, from records.
    pub owned: Owned,
    /// The plan.
    pub plan: Plan,
}

impl Engine {
    /// An engine for topology `name`, with records in `store`.
    pub fn new(name: &str, store: Store) -> Result<Engine, EngineError> {
        Ok(Engine {
            kernel: Arc::new(Kernel::new(name)?),
            store,
            name: name.to_string(),
        })
    }

    /// The kernel access, for verbs such as exec and verify.
    pub fn kernel(&self) -> &Arc<Kernel> {
        &self.kernel
    }

    /// Take the machine-wide lock for a changing verb.
    pub fn lock(&self, what: &str) -> Result<Lock, EngineError> {
        Ok(self.store.lock(what)?)
    }

    /// This topology's records.
    pub fn records(&self) -> Result<Records, EngineError> {
        Ok(self.store.load(&self.name)?)
    }

    /// Observe every node the file or the records name (and always `host`,
    /// where links carry ownership marks).
    pub async fn observe(&self, desired: &Network, rec: &Records) -> Result<Network, EngineError> {
        let mut nodes: Vec<String> = desired.nodes.keys().cloned().collect();
        nodes.extend(rec.namespaces.iter().cloned());
        nodes.push(HOST.to_string());
        nodes.sort();
        nodes.dedup();
        let mut keys: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, node) in &desired.nodes {
            keys.entry(name.clone())
                .or_default()
                .extend(node.sysctls.keys().cloned());
        }
        for (name, m) in &rec.sysctls {
            keys.entry(name.clone())
                .or_default()
                .extend(m.keys().cloned());
        }
        let mut observed = kernel::timing::timed(
            "observe",
            kernel::observe::network(&self.kernel, &nodes, &keys),
        )
        .await?;
        observed.name = self.name.clone();
        // NAT lives in nftables, read only where the file or the records put
        // it (each read is one `nft` process).
        let mut foreign = Vec::new();
        for name in nodes {
            let wants = desired.nodes.get(&name).is_some_and(|n| !n.nat.is_empty());
            let owned = rec.nat.contains(&name);
            if !(wants || owned) || !observed.nodes.contains_key(&name) {
                continue;
            }
            let Some(h) = self.kernel.node(&name).await? else {
                continue;
            };
            let topo = self.name.clone();
            let rules = tokio::task::spawn_blocking(move || kernel::nft::read_nat(&h.netns, &topo))
                .await
                .map_err(|_| KernelError::Thread {
                    object: format!("nft in {name}"),
                })??;
            match rules {
                Some(_) if wants && !owned => foreign.push(Conflict {
                    object: format!(
                        "nft table inet {} in {name}",
                        crate::model::nft_table(&self.name)
                    ),
                    reason: "it exists, but netloom's records do not say this topology made it"
                        .into(),
                }),
                Some(r) => {
                    if let Some(n) = observed.nodes.get_mut(&name) {
                        n.nat = r;
                    }
                }
                None => {}
            }
        }
        if !foreign.is_empty() {
            return Err(EngineError::Conflicts { conflicts: foreign });
        }
        Ok(observed)
    }

    /// What this topology owns according to its records.
    pub fn owned(rec: &Records) -> Owned {
        let mut sysctls = BTreeMap::new();
        for (node, m) in &rec.sysctls {
            for (k, v) in m {
                sysctls.insert((node.clone(), k.clone()), v.clone());
            }
        }
        Owned {
            namespaces: rec.namespaces.clone(),
            nat: rec.nat.clone(),
            sysctls,
        }
    }

    /// Observe and plan `up` for `desired`.
    pub async fn plan_up(&self, desired: &Network) -> Result<Planned, EngineError> {
        let rec = self.records()?;
        let observed = self.observe(desired, &rec).await?;
        let owned = Self::owned(&rec);
        let start = std::time::Instant::now();
        let plan = plan::up(desired, &observed, &owned)
            .map_err(|conflicts| EngineError::Conflicts { conflicts })?;
        kernel::timing::record("plan", start.elapsed());
        Ok(Planned {
            observed,
            owned,
            plan,
        })
    }

    /// Observe and plan `down`: remove everything this topology created.
    pub async fn plan_down(&self) -> Result<Planned, EngineError> {
        let rec = self.records()?;
        let empty = Network {
            name: self.name.clone(),
            ..Network::default()
        };
        let observed = self.observe(&empty, &rec).await?;
        let owned = Self::owned(&rec);
        let plan = plan::down(&observed, &owned);
        Ok(Planned {
            observed,
            owned,
            plan,
        })
    }

    /// Per-object status of the file against the kernel.
    pub async fn status(&self, desired: &Network) -> Result<StatusReport, EngineError> {
        let rec = self.records()?;
        let observed = self.observe(desired, &rec).await?;
        let objects = plan::status(desired, &observed, &Self::owned(&rec));
        let mut devices = BTreeMap::new();
        for (node, n) in &observed.nodes {
            for (name, l) in &n.links {
                let tap = match &l.kind {
                    LinkKind::Macvtap(o) => o.tap_path.clone(),
                    LinkKind::Ipvtap(o) => o.tap_path.clone(),
                    _ => None,
                };
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
        Ok(StatusReport { objects, devices })
    }

    /// Apply a plan made by [`Engine::plan_up`] or [`Engine::plan_down`].
    /// `file` is recorded for `down` by name.
    pub async fn apply(
        &self,
        planned: &Planned,
        file: Option<&str>,
        opts: &apply::Options,
    ) -> Result<Report, EngineError> {
        let mut rec = self.records()?;
        if let Some(f) = file {
            rec.file = Some(f.to_string());
        }
        // Records of namespaces that do not exist (a crash before creation) are stale.
        rec.namespaces.retain(|n| {
            planned.observed.nodes.contains_key(n)
                || planned
                    .plan
                    .steps
                    .iter()
                    .any(|s| matches!(&s.op, plan::Op::AddNetns { node } if node == n))
        });
        let kernel = self.kernel.clone();
        let exec = move |op: plan::Op| {
            let k = kernel.clone();
            async move {
                kernel::timing::timed(kernel::timing::op_label(&op), kernel::apply::run(&k, &op))
                    .await
                    .map_err(|e| Box::new(e) as apply::BoxError)
            }
        };
        let report = kernel::timing::timed(
            "apply",
            apply::run(
                &planned.plan,
                &planned.observed,
                &mut rec,
                &self.store,
                opts,
                exec,
            ),
        )
        .await?;
        Ok(report)
    }
}

/// The fault-injection hook: NETLOOM_FAULT_AT=N fails the N-th launched step.
pub fn fault_from_env() -> Option<usize> {
    std::env::var("NETLOOM_FAULT_AT")
        .ok()
        .and_then(|v| v.parse().ok())
}
