//! Apply: a transaction that runs plans through an [`Executor`], in
//! dependency order, many steps at once, with a write-ahead journal. When
//! a step fails, every finished step of the transaction (of all the plans
//! it ran) is undone in reverse, with what the kernel did along with it
//! (see [`undo`]).
pub mod exec;
pub mod journal;
mod recreate;
pub mod settle;
pub mod undo;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};

pub use exec::{Executor, StepError};

use crate::model::{IfRef, Network, Op, Plan};
use crate::state::{Records, StateError, Store};

/// How to apply.
pub struct Options {
    /// Steps in flight at once (sysctl writes, which wait in a queue of
    /// their own, not counted).
    pub max_in_flight: usize,
    /// Called after each finished step with (finished, total).
    pub progress: Option<Box<dyn Fn(usize, usize) + Send + Sync>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_in_flight: 64,
            progress: None,
        }
    }
}

/// What an apply did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Report {
    /// Steps performed.
    pub done: usize,
    /// Wall time.
    pub elapsed: Duration,
}

/// The outcome of undoing after a failure.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Rollback {
    /// Finished steps that were undone.
    pub undone: usize,
    /// Undo ops that failed, as messages (empty when rollback was complete).
    pub errors: Vec<String>,
}

/// Why an apply failed.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// A step failed; the steps finished before it were rolled back.
    #[error("step {index} ({op}) failed: {source}")]
    Step {
        /// Step index in the plan.
        index: usize,
        /// The step, as a human line.
        op: String,
        /// The kernel's (or the fault injector's) error.
        #[source]
        source: StepError,
        /// What rollback achieved.
        rollback: Rollback,
    },
    /// The records could not be written (nothing further was changed).
    #[error(transparent)]
    State(#[from] StateError),
}

/// A finished step: the op, and which network it ran on (an index into
/// the transaction's `befores`), to undo it from.
struct Done {
    op: Op,
    before: usize,
}

/// One transaction: plans run through `exec`, journaled in `store`.
pub struct Txn<'s, E> {
    exec: E,
    store: &'s Store,
    rec: Records,
    /// The records from before the transaction: a complete rollback puts
    /// them back, so that nothing (not even a sysctl prior) is left that
    /// was not there.
    original: Records,
    opts: Options,
    befores: Vec<Network>,
    done: Vec<Done>,
    /// Steps finished by the plan running now (for progress).
    finished: usize,
}

impl<'s, E: Executor> Txn<'s, E> {
    /// A transaction starting from records `rec`.
    pub fn new(exec: E, store: &'s Store, rec: Records, opts: Options) -> Self {
        Txn {
            exec,
            store,
            original: rec.clone(),
            rec,
            opts,
            befores: Vec::new(),
            done: Vec::new(),
            finished: 0,
        }
    }

    /// The records as they stand.
    pub fn records(&mut self) -> &mut Records {
        &mut self.rec
    }

    /// Save the records as they stand.
    pub fn save(&self) -> Result<(), StateError> {
        self.store.save(&self.rec)
    }

    /// The records, once the transaction is over.
    pub fn into_records(self) -> Records {
        self.rec
    }

    /// Run `plan`, made against `before` (the network as observed). Steps
    /// that cannot be undone (namespace deletion) run only after every
    /// other step has succeeded, so a failure can always be rolled back
    /// completely. A failing step rolls back the whole transaction.
    pub async fn run(&mut self, plan: &Plan, before: Network) -> Result<Report, ApplyError> {
        let start = Instant::now();
        self.befores.push(before);
        let b = self.befores.len() - 1;
        let n = plan.steps.len();
        // Phase 2 holds irreversible steps and whatever depends on them.
        let mut late = vec![false; n];
        for (i, s) in plan.steps.iter().enumerate() {
            late[i] = journal::inverse(&s.op, &self.befores[b]).is_none()
                || s.after.iter().any(|&d| late[d]);
        }
        let first = self.done.len();
        // Each finished step is kept for rollback (an Op is ~800 bytes):
        // room for exactly this plan, not a doubling's slack.
        self.done.reserve_exact(n);
        self.finished = 0;
        for phase in [false, true] {
            let members: Vec<usize> = (0..n).filter(|&i| late[i] == phase).collect();
            if let Err((index, source)) = self.phase(plan, b, &members).await? {
                let mut rollback = self.rollback().await;
                if rollback.errors.is_empty() {
                    // The failed step itself may have half-happened in the
                    // kernel (an injected fault never runs): keep what it
                    // wrote ahead, so a leftover is still recognized as
                    // ours; the next run prunes records of what does not exist.
                    let mut back = self.original.clone();
                    if !matches!(source, StepError::Injected(_)) {
                        journal::write_ahead(&mut back, &plan.steps[index].op);
                    }
                    self.rec = back;
                    if let Err(e) = self.store.save(&self.rec) {
                        rollback
                            .errors
                            .push(format!("saving records after rollback: {e}"));
                    }
                }
                return Err(ApplyError::Step {
                    index,
                    op: plan.steps[index].op.to_string(),
                    source,
                    rollback,
                });
            }
        }
        self.store.save(&self.rec)?;
        Ok(Report {
            done: self.done.len() - first,
            elapsed: start.elapsed(),
        })
    }

    /// Run `members` (a dependency-closed subset of `plan`, made against
    /// `befores[b]`) to completion or first failure.
    async fn phase(
        &mut self,
        plan: &Plan,
        b: usize,
        members: &[usize],
    ) -> Result<Result<(), (usize, StepError)>, StateError> {
        let n = plan.steps.len();
        let mut member = vec![false; n];
        for &i in members {
            member[i] = true;
        }
        let mut waiting = vec![0usize; n];
        let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
        for &i in members {
            for &d in &plan.steps[i].after {
                if member[d] {
                    waiting[i] += 1;
                    dependents[d].push(i);
                }
            }
        }
        let mut ready: VecDeque<usize> = members
            .iter()
            .copied()
            .filter(|&i| waiting[i] == 0)
            .collect();
        // Write the whole phase ahead in one save rather than one save per
        // launched batch (with 64 in flight that is a save per finished
        // step, each rewriting every record: quadratic in a 1000-container
        // up). A record of something not yet created names nothing that
        // exists; the next run prunes such records.
        let mut dirty = false;
        for &i in members {
            dirty |= journal::write_ahead(&mut self.rec, &plan.steps[i].op);
        }
        if dirty {
            self.store.save(&self.rec)?;
        }
        let mut in_flight = FuturesUnordered::new();
        // Steps counted against max_in_flight: a sysctl write mostly waits
        // in the kernel layer's batch queue, and counting it starved the
        // rest (a third of the slots of a 1000-container up held waiting
        // writes).
        let mut busy = 0usize;
        let counts = |i: usize| !matches!(plan.steps[i].op, Op::SetSysctl { .. });
        let mut failure: Option<(usize, StepError)> = None;
        loop {
            if failure.is_none() && !ready.is_empty() && busy < self.opts.max_in_flight {
                while busy < self.opts.max_in_flight {
                    let Some(i) = ready.pop_front() else {
                        break;
                    };
                    busy += usize::from(counts(i));
                    let fut = self.exec.run(plan.steps[i].op.clone());
                    in_flight.push(async move { (i, tokio::spawn(fut).await) });
                }
                continue;
            }
            let Some((i, res)) = in_flight.next().await else {
                break;
            };
            busy -= usize::from(counts(i));
            match res.unwrap_or_else(|join| Err(StepError::Task(join.to_string()))) {
                Ok(()) => {
                    self.done.push(Done {
                        op: plan.steps[i].op.clone(),
                        before: b,
                    });
                    self.finished += 1;
                    // Forgetting needs no save of its own: a record left
                    // stale by a crash names only something that no longer
                    // exists or is already marked, and the next run prunes
                    // it. The change rides along with the final save.
                    journal::forget(&mut self.rec, &plan.steps[i].op);
                    if let Some(p) = &self.opts.progress {
                        p(self.finished, n);
                    }
                    for &d in &dependents[i] {
                        waiting[d] -= 1;
                        if waiting[d] == 0 {
                            ready.push_back(d);
                        }
                    }
                }
                Err(e) => {
                    if failure.is_none() {
                        failure = Some((i, e));
                    }
                }
            }
        }
        Ok(failure.map_or(Ok(()), Err))
    }

    /// Undo every finished step of the transaction, newest first, one at a
    /// time, each from the network it ran on.
    pub async fn rollback(&mut self) -> Rollback {
        let mut out = Rollback::default();
        let done = std::mem::take(&mut self.done);
        // Links removed by steps not undone yet (those done before the one
        // being undone), with how many such steps removed each; at first, all.
        let removed_by: Vec<Vec<IfRef>> = done
            .iter()
            .map(|d| undo::removed(&d.op, &self.befores[d.before]))
            .collect();
        let mut gone: BTreeMap<IfRef, usize> = BTreeMap::new();
        for r in removed_by.iter().flatten() {
            *gone.entry(r.clone()).or_default() += 1;
        }
        let removed: BTreeSet<IfRef> = gone.keys().cloned().collect();
        for (i, d) in done.iter().enumerate().rev() {
            for r in &removed_by[i] {
                if let Some(n) = gone.get_mut(r) {
                    *n -= 1;
                    if *n == 0 {
                        gone.remove(r);
                    }
                }
            }
            let op = &d.op;
            let gone_now = |r: &IfRef| gone.contains_key(r);
            let Some(inverse) = undo::ops(op, &self.befores[d.before], &gone_now, &removed) else {
                out.errors.push(format!("step {i} ({op}) cannot be undone"));
                continue;
            };
            let mut ok = true;
            for inv in inverse {
                // An undo is a change like any other: journal it first, so
                // that an undo that fails or is killed half-way is still
                // known to `down`.
                if journal::write_ahead(&mut self.rec, &inv) {
                    if let Err(e) = self.store.save(&self.rec) {
                        out.errors.push(format!("saving records before undo: {e}"));
                    }
                }
                let res = tokio::spawn(self.exec.run(inv.clone()))
                    .await
                    .unwrap_or_else(|join| Err(StepError::Task(join.to_string())));
                match res {
                    Ok(()) => {
                        journal::forget(&mut self.rec, &inv);
                    }
                    Err(e) if e.already_so(&inv) => {
                        journal::forget(&mut self.rec, &inv);
                    }
                    Err(e) => {
                        ok = false;
                        out.errors
                            .push(format!("undo of step {i} ({op}): {inv}: {e}"));
                    }
                }
            }
            if ok {
                out.undone += 1;
            }
        }
        if let Err(e) = self.store.save(&self.rec) {
            out.errors
                .push(format!("saving records after rollback: {e}"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::exec::{self, FaultAt, Running};
    use super::*;
    use crate::model::Step;
    use std::sync::{Arc, Mutex};

    fn netns(node: &str) -> Op {
        Op::AddNetns { node: node.into() }
    }

    fn plan(ops: Vec<(Op, Vec<usize>)>) -> Plan {
        Plan {
            steps: ops
                .into_iter()
                .map(|(op, after)| Step { op, after })
                .collect(),
        }
    }

    fn store(tag: &str) -> Store {
        let d = std::env::temp_dir().join(format!("netloom-apply-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        Store::at(d)
    }

    /// Records every op it is asked to run; fails ops whose node is "bad".
    struct Recorder(Arc<Mutex<Vec<String>>>);

    impl Executor for Recorder {
        fn run(&self, op: Op) -> Running {
            self.0.lock().unwrap().push(op.to_string());
            let bad = matches!(&op, Op::AddNetns { node } if node == "bad");
            Box::pin(async move {
                if bad {
                    Err(StepError::Kernel(crate::kernel::KernelError::Invalid {
                        object: "bad".into(),
                        message: "refused".into(),
                    }))
                } else {
                    Ok(())
                }
            })
        }
    }

    fn records() -> Records {
        Records {
            name: "t".into(),
            ..Records::default()
        }
    }

    #[tokio::test]
    async fn dependencies_are_respected_and_failure_rolls_back_in_reverse() {
        let p = plan(vec![
            (netns("a"), vec![]),
            (netns("b"), vec![0]),
            (netns("bad"), vec![1]),
        ]);
        let log = Arc::new(Mutex::new(Vec::new()));
        let st = store("rb");
        let mut txn = Txn::new(Recorder(log.clone()), &st, records(), Options::default());
        let err = txn.run(&p, Network::default()).await.unwrap_err();
        let ApplyError::Step {
            index, rollback, ..
        } = err
        else {
            panic!("wrong error")
        };
        assert_eq!(index, 2);
        assert_eq!(rollback.undone, 2);
        let log = log.lock().unwrap().clone();
        let pos = |s: &str| log.iter().position(|l| l.contains(s)).unwrap_or(usize::MAX);
        assert!(pos("a: netns add") < pos("b: netns add"), "{log:?}");
        assert!(pos("b: netns del") < pos("a: netns del"), "{log:?}");
        // A complete rollback restores the records, except what the failed
        // step wrote ahead (it may have half-happened).
        let rec = txn.into_records();
        assert!(
            rec.namespaces.contains("bad") && !rec.namespaces.contains("a"),
            "{rec:?}"
        );
        assert_eq!(rec.namespaces.len(), 1, "{rec:?}");
        let _ = std::fs::remove_dir_all(st.dir());
    }

    #[tokio::test]
    async fn injected_fault_stops_at_that_step() {
        let p = plan(vec![
            (netns("a"), vec![]),
            (netns("b"), vec![0]),
            (netns("c"), vec![1]),
        ]);
        let log = Arc::new(Mutex::new(Vec::new()));
        let st = store("fault");
        let exec = FaultAt::new(
            Recorder(log.clone()),
            exec::Faults {
                fail_at: Some(1),
                ..Default::default()
            },
        );
        let mut txn = Txn::new(exec, &st, records(), Options::default());
        let err = txn.run(&p, Network::default()).await.unwrap_err();
        assert!(matches!(err, ApplyError::Step { index: 1, .. }), "{err}");
        assert!(!log
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("c: netns add")));
        let _ = std::fs::remove_dir_all(st.dir());
    }

    #[tokio::test]
    async fn irreversible_steps_run_last() {
        let p = plan(vec![
            (Op::DelNetns { node: "old".into() }, vec![]),
            (netns("a"), vec![]),
        ]);
        let log = Arc::new(Mutex::new(Vec::new()));
        let st = store("late");
        let mut txn = Txn::new(Recorder(log.clone()), &st, records(), Options::default());
        txn.run(&p, Network::default()).await.unwrap();
        let log = log.lock().unwrap().clone();
        assert!(
            log[0].contains("a: netns add") && log[1].contains("old: netns del"),
            "{log:?}"
        );
        let _ = std::fs::remove_dir_all(st.dir());
    }

    /// A second plan's failure rolls back the first plan's steps too.
    #[tokio::test]
    async fn a_failure_in_a_later_pass_rolls_back_the_whole_transaction() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let st = store("passes");
        let mut txn = Txn::new(Recorder(log.clone()), &st, records(), Options::default());
        txn.run(&plan(vec![(netns("a"), vec![])]), Network::default())
            .await
            .unwrap();
        let err = txn
            .run(&plan(vec![(netns("bad"), vec![])]), Network::default())
            .await
            .unwrap_err();
        let ApplyError::Step { rollback, .. } = err else {
            panic!("wrong error")
        };
        assert_eq!(rollback.undone, 1);
        assert!(log
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("a: netns del")));
        let _ = std::fs::remove_dir_all(st.dir());
    }
}
