//! The engine: each of netloom's verbs end to end, over the layers below
//! (spec -> observe -> plan -> apply -> verify), returning typed reports.
//! The CLI, a CNI plugin or a test only parse, call and render.
mod explain;
mod export;
mod fdb;
mod list;
pub mod live;
mod observe;
mod status;

use std::sync::Arc;

use crate::apply::exec::{FaultAt, Faults, KernelExec, Timed};
use crate::apply::journal::repair;
use crate::apply::{self, settle, ApplyError, Rollback, Txn};
use crate::kernel::{self, Kernel, KernelError};
use crate::model::{Network, Plan};
use crate::plan::{self, Conflict, Owned};
use crate::spec::Topology;
use crate::state::{Lock, Records, StateError, Store};
use crate::verify;

pub use explain::{ExplainOptions, Explained, Verified};
pub use export::{Export, Source};
pub use fdb::{FdbReport, MacEntry};
pub use list::Listed;
pub use status::{LifView, ServiceView, StatusReport};

/// The executor of `up` and `down`: the kernel, with faults injected as
/// asked and each op timed.
type Executor = Timed<FaultAt<KernelExec>>;

/// How many times `up` applies what is still pending after reading the
/// kernel back, before it gives up (see [`Engine::up`]).
pub const MAX_PASSES: usize = 3;

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
    Apply(Box<ApplyError>),
    /// After applying, the kernel still differed from the file, pass after
    /// pass; everything was rolled back.
    #[error("the kernel did not converge to the file after {passes} passes; still pending:\n{}", pending.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    NotConverged {
        /// Passes applied.
        passes: usize,
        /// The operations still pending, one line each.
        pending: Vec<String>,
        /// What rollback achieved.
        rollback: Rollback,
    },
    /// An explanation could not be made; nothing was touched.
    #[error(transparent)]
    Explain(Box<crate::explain::ExplainError>),
    /// A helper task failed.
    #[error("{0}")]
    Task(String),
}

impl From<crate::explain::ExplainError> for EngineError {
    fn from(e: crate::explain::ExplainError) -> Self {
        EngineError::Explain(Box::new(e))
    }
}

impl From<ApplyError> for EngineError {
    fn from(e: ApplyError) -> Self {
        EngineError::Apply(Box::new(e))
    }
}

impl EngineError {
    /// What rollback achieved, when the verb rolled back.
    pub fn rollback(&self) -> Option<&Rollback> {
        match self {
            EngineError::Apply(e) => match &**e {
                ApplyError::Step { rollback, .. } => Some(rollback),
                ApplyError::State(_) => None,
            },
            EngineError::NotConverged { rollback, .. } => Some(rollback),
            _ => None,
        }
    }
}

/// How to run `up` or `down`.
#[derive(Default)]
pub struct Options {
    /// Recorded for `down --name` (the file's absolute path).
    pub file: Option<String>,
    /// After applying, prove the expectations by traffic.
    pub verify: bool,
    /// Faults to inject (see [`apply::exec::Faults`]).
    pub faults: Faults,
    /// Called after each finished step with (finished, total).
    pub progress: Option<Box<dyn Fn(usize, usize) + Send + Sync>>,
}

/// What `up` or `down` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// Topology name.
    pub name: String,
    /// Operations performed, over all passes.
    pub done: usize,
    /// Wall time of applying (passes, waits and read-backs included).
    pub elapsed: std::time::Duration,
    /// Passes applied (`up` reads the kernel back after each; 0 when
    /// nothing was to do).
    pub passes: usize,
    /// The proof by traffic, when asked for, with why each failed claim failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify: Option<Verified>,
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

    /// The kernel access.
    pub fn kernel(&self) -> &Arc<Kernel> {
        &self.kernel
    }

    /// This topology's records.
    pub fn records(&self) -> Result<Records, EngineError> {
        Ok(self.store.load(&self.name)?)
    }

    /// What this topology owns according to its records.
    pub fn owned(rec: &Records) -> Owned {
        let mut sysctls = std::collections::BTreeMap::new();
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

    /// `plan`: observe and plan `up` for `desired`, touching nothing.
    pub async fn plan(&self, desired: &Network) -> Result<Planned, EngineError> {
        let start = std::time::Instant::now();
        let rec = self.records()?;
        crate::timing::record("records", start.elapsed());
        self.plan_with(desired, &rec).await
    }

    /// Observe and plan `up` against records `rec`.
    async fn plan_with(&self, desired: &Network, rec: &Records) -> Result<Planned, EngineError> {
        let (observed, mut conflicts) = self.observe_all(desired, rec, &Default::default()).await?;
        let owned = Self::owned(rec);
        let fresh = self.fresh_sysctls(desired, &observed).await?;
        let start = std::time::Instant::now();
        let plan = plan::up_with(desired, &observed, &owned, &fresh);
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

    /// The values the sysctls the file sets in nodes not made yet have in a
    /// namespace made now: what to put back when the file stops setting
    /// them (read in a throwaway namespace; nothing to read for most files).
    async fn fresh_sysctls(
        &self,
        desired: &Network,
        observed: &Network,
    ) -> Result<std::collections::BTreeMap<String, String>, EngineError> {
        let keys: std::collections::BTreeSet<String> = desired
            .nodes
            .iter()
            .filter(|(n, _)| n.as_str() != crate::model::HOST && !observed.nodes.contains_key(*n))
            .flat_map(|(_, n)| n.sysctls.keys().cloned())
            .collect();
        if keys.is_empty() {
            return Ok(Default::default());
        }
        let keys: Vec<String> = keys.into_iter().collect();
        Ok(
            tokio::task::spawn_blocking(move || kernel::sysctl::fresh(&keys))
                .await
                .map_err(|_| KernelError::Thread {
                    object: "fresh namespace".into(),
                })??,
        )
    }

    /// `up`: make the kernel match `topo`, and prove it when asked.
    ///
    /// After applying, the kernel is read back and planned again: what the
    /// kernel did on its own that the planner did not foresee is applied
    /// in a further pass, at most [`MAX_PASSES`] in all; when something is
    /// still pending then, everything is rolled back and the pending
    /// operations are named. `up` never returns success with changes pending.
    pub async fn up(&self, topo: &Topology, opts: Options) -> Result<Report, EngineError> {
        let start = std::time::Instant::now();
        let _lock = self.lock(&format!(
            "netloom up {}",
            opts.file.as_deref().unwrap_or(&self.name)
        ))?;
        let desired = &topo.network;
        let mut rec = self.records()?;
        if let Some(f) = &opts.file {
            rec.file = Some(f.clone());
        }
        let mut planned = self.plan_with(desired, &rec).await?;
        self.preflight(&planned.plan).await?;
        repair::recover(&self.kernel, &mut rec, &planned.plan, &planned.observed)?;
        let mut txn = self.transaction(&planned, rec, opts.faults, opts.progress);
        let (mut done, mut passes) = (0, 0);
        while !planned.plan.steps.is_empty() {
            if passes == MAX_PASSES {
                let pending = planned
                    .plan
                    .steps
                    .iter()
                    .map(|s| s.op.to_string())
                    .collect();
                let rollback = txn.rollback().await;
                return Err(EngineError::NotConverged {
                    passes,
                    pending,
                    rollback,
                });
            }
            passes += 1;
            done += self.pass(&mut txn, &planned).await?;
            // Read back what was touched, as `plan` would.
            let read_back = std::time::Instant::now();
            let rec = txn.records().clone();
            // The pass's plan and observation are spent: free them before
            // the next ones are read (at N=1000 they doubled up's peak RSS).
            planned.plan = Default::default();
            planned.observed = Default::default();
            planned = self.plan_with(desired, &rec).await?;
            if apply::journal::note_pids(txn.records(), &planned.observed) {
                txn.save()?;
            }
            crate::timing::record("read back", read_back.elapsed());
        }
        // The kernel is the file now: its forwarding entries are where the
        // file has some (see Records::fdb).
        txn.records().fdb = observe::fdb_nodes(desired);
        // Records pruned by recover are kept even when nothing was to do.
        txn.save()?;
        drop(txn);
        let verify = if opts.verify {
            let file = opts.file.clone().unwrap_or_else(|| self.name.clone());
            Some(self.verify_explained(topo, &file).await?)
        } else {
            None
        };
        Ok(Report {
            name: self.name.clone(),
            done,
            elapsed: start.elapsed(),
            passes,
            verify,
        })
    }

    /// A transaction over the kernel, starting from records `rec`, with the
    /// namespace deletions of `planned` that later steps wait for known to
    /// the executor, and the faults and progress asked for.
    fn transaction(
        &self,
        planned: &Planned,
        rec: Records,
        faults: Faults,
        progress: Option<Box<dyn Fn(usize, usize) + Send + Sync>>,
    ) -> Txn<'_, Executor> {
        let awaited = settle::awaited(&planned.plan, &planned.observed);
        let exec = Timed(FaultAt::new(
            KernelExec::new(self.kernel.clone(), awaited),
            faults,
        ));
        let opts = apply::Options {
            progress,
            ..Default::default()
        };
        Txn::new(exec, &self.store, rec, opts)
    }

    /// Run one plan in the transaction, then wait for what the kernel
    /// finishes later and tidy the records; returns the steps done.
    async fn pass<E: apply::Executor>(
        &self,
        txn: &mut Txn<'_, E>,
        planned: &Planned,
    ) -> Result<usize, EngineError> {
        // Only the ports are kept: the simulated network after the plan is
        // as large as the file's and is needed only after a failure.
        let forwards = settle::expected(&planned.plan, &planned.observed).forwards;
        let run =
            crate::timing::timed("apply", txn.run(&planned.plan, planned.observed.clone())).await;
        if matches!(run, Err(ApplyError::Step { .. })) {
            // Rollback deleted the namespaces this plan made: wait for them too.
            let after = settle::expected(&planned.plan, &planned.observed).after;
            settle::deletions(&self.kernel, &planned.plan, &after, true).await?;
        }
        let report = run?;
        let vanished =
            settle::deletions(&self.kernel, &planned.plan, &planned.observed, false).await?;
        settle::ports(&self.kernel, forwards).await?;
        settle::teams(&self.kernel, &planned.plan).await?;
        if repair::tidy(&self.kernel, txn.records(), &planned.plan, &vanished).await? {
            txn.save()?;
        }
        Ok(report.done)
    }

    /// `down`: remove everything this topology created, and nothing else.
    pub async fn down(&self, opts: Options) -> Result<Report, EngineError> {
        let start = std::time::Instant::now();
        let _lock = self.lock(&format!("netloom down {}", self.name))?;
        let mut rec = self.records()?;
        let empty = Network {
            name: self.name.clone(),
            ..Network::default()
        };
        // Namespaces go whole: nothing inside them needs reading (which
        // host links go with them is told by host's nsids for them).
        let observed = self.observe_scoped(&empty, &rec, &rec.namespaces).await?;
        let owned = Self::owned(&rec);
        let plan = plan::down(&observed, &owned);
        let planned = Planned {
            observed,
            owned,
            plan,
        };
        repair::recover(&self.kernel, &mut rec, &planned.plan, &planned.observed)?;
        let mut txn = self.transaction(&planned, rec, opts.faults, opts.progress);
        let done = self.pass(&mut txn, &planned).await?;
        // Every entry netloom added lived on a device of this topology,
        // gone now.
        if !txn.records().fdb.is_empty() {
            txn.records().fdb.clear();
            txn.save()?;
        }
        Ok(Report {
            name: self.name.clone(),
            done,
            elapsed: start.elapsed(),
            passes: usize::from(!planned.plan.steps.is_empty()),
            verify: None,
        })
    }

    /// `verify`: prove the expectations of `topo` by traffic.
    pub async fn verify(&self, topo: &Topology) -> Result<verify::Report, EngineError> {
        // What services placed (leases, LIFs) and report is proved as it is.
        let network = if plan::service::any(&topo.network) {
            let rec = self.records()?;
            let observed = self.observe(&topo.network, &rec).await?;
            plan::resolve(&topo.network, &observed).into_owned()
        } else {
            topo.network.clone()
        };
        let expect = topo.expect.clone();
        let bound = verify::default_bound(&network);
        tokio::task::spawn_blocking(move || verify::run(&network, &expect, bound))
            .await
            .map_err(|e| EngineError::Task(e.to_string()))
    }

    /// `lif migrate` (`to`: a port, the LIF then stays there: sticky) and
    /// `lif revert` (`to`: `None`: home, and auto-revert works again): asked
    /// of the LIF's watcher, which answers once the address has moved.
    pub async fn lif(
        &self,
        topo: &Topology,
        lif: &str,
        to: Option<&str>,
    ) -> Result<crate::model::service::LifAnswer, EngineError> {
        use crate::model::service::{LifAnswer, LifRequest};
        let home = topo.network.nodes.iter().find_map(|(n, node)| {
            node.services.values().find_map(|s| match &s.setup {
                crate::model::ServiceSetup::LifWatch(l) => l
                    .lifs
                    .iter()
                    .any(|f| f.name == lif)
                    .then(|| (n.clone(), s.setup.name())),
                _ => None,
            })
        });
        let Some((node, name)) = home else {
            return Err(EngineError::Task(format!("no LIF `{lif}` in the file")));
        };
        // A port may be given as NODE/IFACE: it must be in the LIF's node.
        let to = match to.map(|p| p.split_once('/').map_or(("", p), |(n, i)| (n, i))) {
            Some((n, _)) if !n.is_empty() && n != node => {
                return Err(EngineError::Task(format!(
                    "LIF `{lif}` lives in node `{node}`; `{n}` holds none of its ports"
                )))
            }
            Some((_, i)) => Some(i.to_string()),
            None => None,
        };
        let request = serde_json::to_string(&LifRequest {
            lif: lif.to_string(),
            to,
        })
        .map_err(|e| EngineError::Task(e.to_string()))?;
        let dir = self.kernel.service_dir(&node).join(name);
        let answer = tokio::task::spawn_blocking(move || kernel::service::request(&dir, &request))
            .await
            .map_err(|e| EngineError::Task(e.to_string()))??;
        let answer: LifAnswer = serde_json::from_str(&answer)
            .map_err(|e| EngineError::Task(format!("the LIF watcher's answer: {e}")))?;
        if answer.ok {
            Ok(answer)
        } else {
            Err(EngineError::Task(answer.message))
        }
    }

    /// `exec`: run `cmd` inside `node`'s namespace; its exit status.
    pub fn exec(
        &self,
        node: &str,
        cmd: &[String],
    ) -> Result<std::process::ExitStatus, EngineError> {
        Ok(kernel::exec::run(&self.name, node, cmd)?)
    }

    /// Take the machine-wide lock for a changing verb.
    fn lock(&self, what: &str) -> Result<Lock, EngineError> {
        Ok(self.store.lock(what)?)
    }

    /// Fail before anything is touched when this kernel cannot make every
    /// device kind `plan` creates (tried in a throwaway namespace; see
    /// [`kernel::support`]).
    async fn preflight(&self, plan: &Plan) -> Result<(), EngineError> {
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
}
