//! Executors: what carries out one op. [`KernelExec`] does it over netlink;
//! [`Timed`] and [`FaultAt`] wrap any executor (as smoltcp's tracer and
//! fault injector wrap any device), so that neither timing nor fault
//! injection lives inside the transaction.
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::settle::{self, Lingering};
use crate::kernel::{self, Kernel, KernelError};
use crate::model::Op;

/// A boxed future of one op's outcome.
pub type Running = Pin<Box<dyn Future<Output = Result<(), StepError>> + Send + 'static>>;

/// Carries out one op.
pub trait Executor: Send + Sync {
    /// Start `op`; the returned future finishes when it is done.
    fn run(&self, op: Op) -> Running;
}

/// Why one op failed.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// The kernel refused it (with the kernel's own words).
    #[error(transparent)]
    Kernel(#[from] KernelError),
    /// A fault injected instead of running it (see [`FaultAt`]).
    #[error("injected fault (NETLOOM_FAULT_AT={0})")]
    Injected(usize),
    /// The task running it panicked or was cancelled.
    #[error("the task running the step failed: {0}")]
    Task(String),
}

impl StepError {
    /// True when `undo_op` failed only because its goal already holds: the
    /// address, route or link to remove is gone (the kernel flushes IPv6
    /// addresses and routes of a link set down, see crate::effects), or
    /// the one to restore is there.
    pub fn already_so(&self, undo_op: &Op) -> bool {
        let StepError::Kernel(k) = self else {
            return false;
        };
        let errno = k.errno();
        let gone = matches!(k, KernelError::Invalid { message, .. } if message == "no such interface")
            || errno == Some(libc::ENODEV);
        match undo_op {
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
}

/// The kernel as an executor: each op over netlink (kernel::apply). A
/// namespace deletion that later steps wait for returns only once the
/// links dying with it elsewhere are gone (the kernel tears a namespace
/// down after the deletion returned; see [`settle`]).
pub struct KernelExec {
    kernel: Arc<Kernel>,
    awaited: Arc<BTreeMap<String, Lingering>>,
}

impl KernelExec {
    /// Run ops on `kernel`; `awaited` names, per deleted namespace, the
    /// links to wait for (see [`settle::awaited`]).
    pub fn new(kernel: Arc<Kernel>, awaited: BTreeMap<String, Lingering>) -> KernelExec {
        KernelExec {
            kernel,
            awaited: Arc::new(awaited),
        }
    }
}

impl Executor for KernelExec {
    fn run(&self, op: Op) -> Running {
        let k = self.kernel.clone();
        let awaited = self.awaited.clone();
        Box::pin(async move {
            kernel::apply::run(&k, &op).await?;
            if let Op::DelNetns { node } = &op {
                if let Some(w) = awaited.get(node) {
                    settle::namespace_gone(&k, w.clone()).await?;
                }
            }
            Ok(())
        })
    }
}

/// Any executor, with each op's time summed by kind (see crate::timing).
pub struct Timed<E>(pub E);

impl<E: Executor> Executor for Timed<E> {
    fn run(&self, op: Op) -> Running {
        let label = op.label();
        let inner = self.0.run(op);
        Box::pin(crate::timing::timed(label, inner))
    }
}

/// Faults to inject: hooks for testing rollback and convergence against
/// the real kernel.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Fail the op started as number N (0-based, counted over every op
    /// given to the executor) instead of running it.
    pub fail_at: Option<usize>,
    /// Acknowledge every op whose line contains this text without running
    /// it: a kernel that says yes and does nothing.
    pub skip: Option<String>,
    /// With `skip`: only the first such op.
    pub skip_once: bool,
}

impl Faults {
    /// The faults the environment asks for: NETLOOM_FAULT_AT=N fails the
    /// N-th started op, NETLOOM_FAULT_SKIP=TEXT skips every op whose line
    /// contains TEXT, NETLOOM_FAULT_SKIP_ONCE=TEXT only the first.
    pub fn from_env() -> Faults {
        let var = |k: &str| std::env::var(k).ok().filter(|s| !s.is_empty());
        let once = var("NETLOOM_FAULT_SKIP_ONCE");
        Faults {
            fail_at: var("NETLOOM_FAULT_AT").and_then(|v| v.parse().ok()),
            skip_once: once.is_some(),
            skip: once.or_else(|| var("NETLOOM_FAULT_SKIP")),
        }
    }
}

/// Any executor, with [`Faults`] injected.
pub struct FaultAt<E> {
    inner: E,
    faults: Faults,
    started: AtomicUsize,
    skipped: AtomicUsize,
}

impl<E> FaultAt<E> {
    /// Wrap `inner`; `Faults::default()` injects nothing.
    pub fn new(inner: E, faults: Faults) -> FaultAt<E> {
        FaultAt {
            inner,
            faults,
            started: AtomicUsize::new(0),
            skipped: AtomicUsize::new(0),
        }
    }
}

impl<E: Executor> Executor for FaultAt<E> {
    fn run(&self, op: Op) -> Running {
        let nth = self.started.fetch_add(1, Ordering::SeqCst);
        if self.faults.fail_at == Some(nth) {
            return Box::pin(async move { Err(StepError::Injected(nth)) });
        }
        if let Some(text) = &self.faults.skip {
            let hit = op.to_string().contains(text.as_str());
            if hit && (!self.faults.skip_once || self.skipped.fetch_add(1, Ordering::SeqCst) == 0) {
                return Box::pin(async { Ok(()) });
            }
        }
        self.inner.run(op)
    }
}
