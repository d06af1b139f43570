//! The engine: composes the layers into netloom's verbs (plan, up, status,
//! down), so the CLI and other programs share one straight path:
//! spec -> observe -> plan -> apply.
mod settle;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::apply::{self, ApplyError, Report};
use crate::kernel::{self, Kernel, KernelError};
use crate::model::Plan;
use crate::model::{IfRef, LinkKind, Network, HOST};
use crate::plan::{self, Conflict, ObjectStatus, Owned};
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
    /// The kernel lacks drivers the plan needs; nothing was touched.
    #[error("{}; nothing was changed", missing.iter().map(|m| m.to_string()).collect::<Vec<_>>().join("; "))]
    Unsupported {
        /// Every missing kind, with the kernel's words.
        missing: Vec<kernel::support::Missing>,
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
    /// What each desired team's teamd reports (`node/iface` -> runner,
    /// active port, port link states); a team whose teamd does not answer
    /// is absent.
    pub teams: BTreeMap<String, kernel::teamd::TeamState>,
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
            kernel: Arc::new(Kernel::new(name, store.dir().join("teamd"))?),
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
        self.observe_scoped(desired, rec, &BTreeSet::new()).await
    }

    /// [`Engine::observe`], only locating the nodes in `located` (see
    /// [`kernel::observe::network_with`]).
    async fn observe_scoped(
        &self,
        desired: &Network,
        rec: &Records,
        located: &BTreeSet<String>,
    ) -> Result<Network, EngineError> {
        let (observed, foreign) = self.observe_all(desired, rec, located).await?;
        if !foreign.is_empty() {
            return Err(EngineError::Conflicts { conflicts: foreign });
        }
        Ok(observed)
    }

    /// Observe, returning foreign nft tables as conflicts beside the network
    /// (so `up` can name them together with every other foreign object).
    async fn observe_all(
        &self,
        desired: &Network,
        rec: &Records,
        located: &BTreeSet<String>,
    ) -> Result<(Network, Vec<Conflict>), EngineError> {
        let mut nodes: Vec<String> = desired.nodes.keys().cloned().collect();
        nodes.extend(rec.namespaces.iter().cloned());
        nodes.push(HOST.to_string());
        nodes.sort();
        nodes.dedup();
        let mut keys: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, node) in &desired.nodes {
            let k = keys.entry(name.clone()).or_default();
            k.extend(node.sysctls.keys().cloned());
            // What a link created now starts with (see plan::sysctl).
            k.extend(
                node.sysctls
                    .keys()
                    .filter_map(|k| crate::effects::sysctl::default_of(k)),
            );
        }
        for (name, m) in &rec.sysctls {
            keys.entry(name.clone())
                .or_default()
                .extend(m.keys().cloned());
        }
        for k in keys.values_mut() {
            k.sort();
            k.dedup();
        }
        let mut observed = crate::timing::timed(
            "observe",
            kernel::observe::network_with(&self.kernel, &nodes, &keys, located),
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
        Ok((observed, foreign))
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
            links: rec.links.clone(),
            quiet_bridges: rec.quiet_bridges.clone(),
        }
    }

    /// Observe and plan `up` for `desired`.
    pub async fn plan_up(&self, desired: &Network) -> Result<Planned, EngineError> {
        let start = std::time::Instant::now();
        let rec = self.records()?;
        crate::timing::record("records", start.elapsed());
        let (observed, mut conflicts) = self.observe_all(desired, &rec, &BTreeSet::new()).await?;
        let owned = Self::owned(&rec);
        let start = std::time::Instant::now();
        let plan = plan::up(desired, &observed, &owned);
        crate::timing::record("plan", start.elapsed());
        // Name every foreign object at once; touch nothing.
        if let Err(more) = &plan {
            conflicts.extend(more.iter().cloned());
        }
        if !conflicts.is_empty() {
            return Err(EngineError::Conflicts { conflicts });
        }
        let plan = plan.map_err(|conflicts| EngineError::Conflicts { conflicts })?;
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
        // Namespaces go whole: nothing inside them needs reading (which
        // host links go with them is told by host's nsids for them).
        let observed = self.observe_scoped(&empty, &rec, &rec.namespaces).await?;
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
        Ok(StatusReport {
            objects,
            devices,
            teams,
        })
    }

    /// Fail before anything is touched when this kernel cannot make every
    /// device kind `plan` creates (tried in a throwaway namespace; see
    /// [`kernel::support`]). [`Engine::apply`] calls it first.
    pub async fn preflight(&self, plan: &Plan) -> Result<(), EngineError> {
        let needs = plan::needs(plan);
        if needs.is_empty() {
            return Ok(());
        }
        let start = std::time::Instant::now();
        let missing = tokio::task::spawn_blocking(move || kernel::support::check(&needs))
            .await
            .map_err(|_| KernelError::Thread {
                object: "preflight".into(),
            })??;
        crate::timing::record("preflight", start.elapsed());
        if missing.is_empty() {
            Ok(())
        } else {
            Err(EngineError::Unsupported { missing })
        }
    }

    /// Apply a plan made by [`Engine::plan_up`] or [`Engine::plan_down`].
    /// `file` is recorded for `down` by name.
    pub async fn apply(
        &self,
        planned: &Planned,
        file: Option<&str>,
        opts: &apply::Options,
    ) -> Result<Report, EngineError> {
        self.preflight(&planned.plan).await?;
        let mut rec = self.records()?;
        if let Some(f) = file {
            rec.file = Some(f.to_string());
        }
        // Records of namespaces that do not exist (a crash before creation) are stale.
        let mut stale = Vec::new();
        rec.namespaces.retain(|n| {
            let keep = planned.observed.nodes.contains_key(n)
                || planned
                    .plan
                    .steps
                    .iter()
                    .any(|s| matches!(&s.op, crate::model::Op::AddNetns { node } if node == n));
            if !keep {
                stale.push(n.clone());
            }
            keep
        });
        // A kill inside netns::create can leave its placeholder: a plain file
        // under /run/netns holding no namespace (open() says "none"). It is
        // ours (the name was written ahead): remove it.
        for n in stale {
            if let Some(name) = self.kernel.netns_name(&n) {
                kernel::netns::delete(&name)?;
            }
        }
        // A sysctl written ahead whose value is (still or again) the original
        // needs no restoring: a crash came before the write, or it was undone.
        // A per-interface sysctl whose link is gone died with it.
        for (node, m) in rec.sysctls.iter_mut() {
            let seen = planned.observed.nodes.get(node);
            m.retain(|k, original| {
                let value = seen.and_then(|n| n.sysctls.get(k));
                let alive = match crate::effects::sysctl::interface(k) {
                    Some(l) => seen.is_some_and(|n| n.links.contains_key(&l)),
                    None => true,
                };
                alive && value != Some(original)
            });
        }
        rec.sysctls.retain(|_, m| !m.is_empty());
        // Links written ahead but never created are stale too, and so are
        // quiet bridges that are gone.
        let exists = |l: &IfRef| {
            planned
                .observed
                .nodes
                .get(&l.node)
                .is_some_and(|n| n.links.contains_key(&l.name))
        };
        rec.links.retain(exists);
        rec.quiet_bridges.retain(exists);
        // The kernel tears a deleted namespace down after the deletion
        // returned; a step reusing what dies with it (a veth end's name in
        // another node) must wait until that is gone.
        let awaited = Arc::new(settle::awaited(planned));
        let kernel = self.kernel.clone();
        let exec = move |op: crate::model::Op| {
            let k = kernel.clone();
            let awaited = awaited.clone();
            async move {
                let label = op.label();
                crate::timing::timed(label, kernel::apply::run(&k, &op))
                    .await
                    .map_err(|e| Box::new(e) as apply::BoxError)?;
                match &op {
                    crate::model::Op::DelNetns { node } => match awaited.get(node) {
                        Some(w) => settle::namespace_gone(&k, w.clone())
                            .await
                            .map_err(|e| Box::new(e) as apply::BoxError),
                        None => Ok(()),
                    },
                    _ => Ok(()),
                }
            }
        };
        let report = crate::timing::timed(
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
        .await;
        if matches!(report, Err(ApplyError::Step { .. })) {
            // Rollback deleted the namespaces this plan made: wait for them too.
            settle::deletions(&self.kernel, planned, true).await?;
        }
        let report = report?;
        let vanished = settle::deletions(&self.kernel, planned, false).await?;
        settle::ports(&self.kernel, planned).await?;
        // Per-interface sysctls of links that went with a deleted peer or
        // namespace (no DelLink of their own settled them): forget them.
        let vanished: Vec<(String, String)> =
            vanished.into_iter().map(|r| (r.node, r.name)).collect();
        forget_sysctls_of_links(&mut rec, &vanished);
        // A deleted link can take others along (a veth's peer): ask for the
        // links of the sysctls still recorded, but only after deletions, and
        // each link once however many of its keys are recorded.
        let deleted = planned.plan.steps.iter().any(|s| {
            matches!(
                s.op,
                crate::model::Op::DelLink { .. } | crate::model::Op::DelNetns { .. }
            )
        });
        let mut dead = Vec::new();
        let mut asked = BTreeSet::new();
        for (node, m) in rec.sysctls.iter().filter(|_| deleted) {
            for l in m
                .keys()
                .filter_map(|k| crate::effects::sysctl::interface(k))
            {
                if asked.insert((node.clone(), l.clone()))
                    && !settle::link_exists(&self.kernel, node, &l).await?
                {
                    dead.push((node.clone(), l));
                }
            }
        }
        forget_sysctls_of_links(&mut rec, &dead);
        if !vanished.is_empty() || !dead.is_empty() {
            self.store.save(&rec)?;
        }
        // Written-ahead link names whose device went with a deleted peer or
        // namespace (no DelLink of their own settled them): forget them.
        if !rec.links.is_empty() {
            let before = rec.links.len();
            let mut keep = std::collections::BTreeSet::new();
            for l in &rec.links {
                if settle::link_exists(&self.kernel, &l.node, &l.name).await? {
                    keep.insert(l.clone());
                }
            }
            rec.links = keep;
            if rec.links.len() != before {
                self.store.save(&rec)?;
            }
        }
        Ok(report)
    }
}

/// Forget the recorded per-interface sysctls of the links `dead` names
/// (node, link): one pass over each node's keys.
fn forget_sysctls_of_links(rec: &mut Records, dead: &[(String, String)]) {
    let mut by_node: BTreeMap<&str, std::collections::HashSet<&str>> = BTreeMap::new();
    for (node, l) in dead {
        by_node.entry(node).or_default().insert(l);
    }
    for (node, links) in by_node {
        apply::journal::forget_sysctls_of(rec, node, |l| links.contains(l));
    }
}

/// The fault-injection hook: NETLOOM_FAULT_AT=N fails the N-th launched step.
pub fn fault_from_env() -> Option<usize> {
    std::env::var("NETLOOM_FAULT_AT")
        .ok()
        .and_then(|v| v.parse().ok())
}
