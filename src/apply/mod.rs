//! Apply: run a plan's steps in dependency order, many at once, with a
//! write-ahead journal; when a step fails, undo the finished steps in reverse.
pub mod journal;
mod recreate;
pub mod undo;

use std::future::Future;
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};

use crate::model::Network;
use crate::model::{Op, Plan};
use crate::state::{Records, StateError, Store};

/// Any error a step can fail with (kernel errors, injected faults).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// How to apply.
pub struct Options {
    /// Fail the step launched as number N (0-based) instead of running it: a
    /// fault-injection hook for testing rollback against the real kernel.
    pub fault_at: Option<usize>,
    /// Steps in flight at once (sysctl writes, which wait in a queue of
    /// their own, not counted).
    pub max_in_flight: usize,
    /// Called after each finished step with (finished, total).
    pub progress: Option<Box<dyn Fn(usize, usize) + Send + Sync>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            fault_at: None,
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
        source: BoxError,
        /// What rollback achieved.
        rollback: Rollback,
    },
    /// The records could not be written (nothing further was changed).
    #[error(transparent)]
    State(#[from] StateError),
}

/// An error standing for an injected fault.
#[derive(Debug, thiserror::Error)]
#[error("injected fault (NETLOOM_FAULT_AT={0})")]
pub struct InjectedFault(pub usize);

/// Apply `plan` with `exec` running one op. `before` is the network observed
/// before planning (to undo deletions); `rec` is updated and saved in `store`
/// before each change (write-ahead) and after deletions.
///
/// Steps that cannot be undone (namespace deletion) run only after every other
/// step has succeeded, so a failure can always be rolled back completely.
pub async fn run<E, Fut>(
    plan: &Plan,
    before: &Network,
    rec: &mut Records,
    store: &Store,
    opts: &Options,
    exec: E,
) -> Result<Report, ApplyError>
where
    E: Fn(Op) -> Fut,
    Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
{
    let start = Instant::now();
    // What the records said before: a complete rollback puts them back, so
    // that nothing (not even a sysctl prior) is left that was not there.
    let original = rec.clone();
    let n = plan.steps.len();
    // Phase 2 holds irreversible steps and whatever depends on them.
    let mut late = vec![false; n];
    for (i, s) in plan.steps.iter().enumerate() {
        late[i] = journal::inverse(&s.op, before).is_none() || s.after.iter().any(|&d| late[d]);
    }
    let mut done_order: Vec<usize> = Vec::with_capacity(n);
    let mut launched = 0usize;
    for phase in [false, true] {
        let members: Vec<usize> = (0..n).filter(|&i| late[i] == phase).collect();
        if let Err((index, source)) = run_phase(
            plan,
            &members,
            rec,
            store,
            opts,
            &exec,
            &mut done_order,
            &mut launched,
        )
        .await?
        {
            let mut rollback = undo(plan, before, &done_order, rec, store, &exec).await;
            if rollback.errors.is_empty() {
                // The failed step itself may have half-happened in the kernel
                // (an injected fault never runs): keep what it wrote ahead, so
                // a leftover is still recognized as ours; the engine prunes
                // records of objects that do not exist.
                let mut back = original;
                if !source.is::<InjectedFault>() {
                    journal::write_ahead(&mut back, &plan.steps[index].op);
                }
                *rec = back;
                if let Err(e) = store.save(rec) {
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
    store.save(rec)?;
    Ok(Report {
        done: done_order.len(),
        elapsed: start.elapsed(),
    })
}

/// Run `members` (a dependency-closed subset of the plan) to completion or first failure.
#[allow(clippy::too_many_arguments)]
async fn run_phase<E, Fut>(
    plan: &Plan,
    members: &[usize],
    rec: &mut Records,
    store: &Store,
    opts: &Options,
    exec: &E,
    done_order: &mut Vec<usize>,
    launched: &mut usize,
) -> Result<Result<(), (usize, BoxError)>, StateError>
where
    E: Fn(Op) -> Fut,
    Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
{
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
    let mut ready: std::collections::VecDeque<usize> = members
        .iter()
        .copied()
        .filter(|&i| waiting[i] == 0)
        .collect();
    // Write the whole phase ahead in one save rather than one save per
    // launched batch (with 64 in flight that is a save per finished step,
    // each rewriting every record: quadratic in a 1000-container up). A
    // record of something not yet created names nothing that exists; the
    // engine prunes such records on the next run.
    let mut dirty = false;
    for &i in members {
        dirty |= journal::write_ahead(rec, &plan.steps[i].op);
    }
    if dirty {
        store.save(rec)?;
    }
    let mut in_flight = FuturesUnordered::new();
    // Steps counted against max_in_flight: a sysctl write mostly waits in
    // the kernel layer's batch queue, and counting it starved the rest (a
    // third of the slots of a 1000-container up held waiting writes).
    let mut busy = 0usize;
    let counts = |i: usize| !matches!(plan.steps[i].op, Op::SetSysctl { .. });
    let mut failure: Option<(usize, BoxError)> = None;
    let total = n;
    loop {
        // Launch a batch (its records were written ahead with the phase).
        if failure.is_none() && !ready.is_empty() && busy < opts.max_in_flight {
            while busy < opts.max_in_flight {
                let Some(i) = ready.pop_front() else {
                    break;
                };
                busy += usize::from(counts(i));
                let nth = *launched;
                *launched += 1;
                let fut: std::pin::Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>> =
                    if opts.fault_at == Some(nth) {
                        Box::pin(async move { Err(Box::new(InjectedFault(nth)) as BoxError) })
                    } else {
                        Box::pin(exec(plan.steps[i].op.clone()))
                    };
                in_flight.push(async move { (i, tokio::spawn(fut).await) });
            }
            continue;
        }
        let Some((i, res)) = in_flight.next().await else {
            break;
        };
        busy -= usize::from(counts(i));
        let res = res.unwrap_or_else(|join| Err(Box::new(join) as BoxError));
        match res {
            Ok(()) => {
                done_order.push(i);
                // Forgetting needs no save of its own: a record left stale by
                // a crash names only something that no longer exists or is
                // already marked, and the next run prunes it. The change
                // rides along with the final save.
                journal::settle(rec, &plan.steps[i].op);
                if let Some(p) = &opts.progress {
                    p(done_order.len(), total);
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

/// Undo finished steps, newest first, one at a time.
async fn undo<E, Fut>(
    plan: &Plan,
    before: &Network,
    done_order: &[usize],
    rec: &mut Records,
    store: &Store,
    exec: &E,
) -> Rollback
where
    E: Fn(Op) -> Fut,
    Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
{
    let mut out = Rollback::default();
    // Links removed by steps not undone yet (those done before the one
    // being undone), with how many such steps removed each; at first, all.
    let mut gone: std::collections::BTreeMap<crate::model::IfRef, usize> = Default::default();
    for &i in done_order {
        for r in undo::removed(&plan.steps[i].op, before) {
            *gone.entry(r).or_default() += 1;
        }
    }
    let removed: std::collections::BTreeSet<_> = gone.keys().cloned().collect();
    for &i in done_order.iter().rev() {
        let op = &plan.steps[i].op;
        for r in undo::removed(op, before) {
            if let Some(n) = gone.get_mut(&r) {
                *n -= 1;
                if *n == 0 {
                    gone.remove(&r);
                }
            }
        }
        let gone_now = |r: &crate::model::IfRef| gone.contains_key(r);
        let Some(inverse) = undo::ops(op, before, &gone_now, &removed) else {
            out.errors.push(format!("step {i} ({op}) cannot be undone"));
            continue;
        };
        let mut ok = true;
        for inv in inverse {
            // An undo is a change like any other: journal it first, so that
            // an undo that fails or is killed half-way is still known to `down`.
            if journal::write_ahead(rec, &inv) {
                if let Err(e) = store.save(rec) {
                    out.errors.push(format!("saving records before undo: {e}"));
                }
            }
            match tokio::spawn(exec(inv.clone())).await {
                Ok(Ok(())) => {
                    journal::settle(rec, &inv);
                }
                Ok(Err(e)) if already_so(&inv, &e) => {
                    journal::settle(rec, &inv);
                }
                Ok(Err(e)) => {
                    ok = false;
                    out.errors
                        .push(format!("undo of step {i} ({op}): {inv}: {e}"));
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
    if let Err(e) = store.save(rec) {
        out.errors
            .push(format!("saving records after rollback: {e}"));
    }
    out
}

/// True when an undo op failed only because its goal already holds: the
/// address, route or link to remove is gone (the kernel flushes IPv6
/// addresses and routes of a link set down), or the one to restore is there.
fn already_so(inv: &Op, e: &BoxError) -> bool {
    let Some(k) = e.downcast_ref::<crate::kernel::KernelError>() else {
        return false;
    };
    let errno = k.errno();
    let gone = matches!(k, crate::kernel::KernelError::Invalid { message, .. } if message == "no such interface")
        || errno == Some(libc::ENODEV);
    match inv {
        Op::DelAddress { .. } => {
            gone || matches!(
                errno,
                Some(libc::EADDRNOTAVAIL | libc::ENOENT | libc::ESRCH)
            )
        }
        Op::DelRoute { .. } => gone || matches!(errno, Some(libc::ESRCH | libc::ENOENT)),
        Op::DelLink { .. } => gone,
        Op::AddAddress { .. } | Op::AddRoute { .. } => errno == Some(libc::EEXIST),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
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
    fn recorder(
        log: Arc<Mutex<Vec<String>>>,
    ) -> impl Fn(Op) -> std::future::Ready<Result<(), BoxError>> {
        move |op: Op| {
            log.lock().unwrap().push(op.to_string());
            let bad = matches!(&op, Op::AddNetns { node } if node == "bad");
            std::future::ready(if bad { Err("refused".into()) } else { Ok(()) })
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
        let mut rec = Records {
            name: "t".into(),
            ..Records::default()
        };
        let err = run(
            &p,
            &Network::default(),
            &mut rec,
            &st,
            &Options::default(),
            recorder(log.clone()),
        )
        .await
        .unwrap_err();
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
        let mut rec = Records {
            name: "t".into(),
            ..Records::default()
        };
        let opts = Options {
            fault_at: Some(1),
            ..Options::default()
        };
        let err = run(
            &p,
            &Network::default(),
            &mut rec,
            &st,
            &opts,
            recorder(log.clone()),
        )
        .await
        .unwrap_err();
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
        let mut rec = Records {
            name: "t".into(),
            ..Records::default()
        };
        run(
            &p,
            &Network::default(),
            &mut rec,
            &st,
            &Options::default(),
            recorder(log.clone()),
        )
        .await
        .unwrap();
        let log = log.lock().unwrap().clone();
        assert!(
            log[0].contains("a: netns add") && log[1].contains("old: netns del"),
            "{log:?}"
        );
        let _ = std::fs::remove_dir_all(st.dir());
    }
}
