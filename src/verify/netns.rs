//! Entering a node's network namespace on a dedicated thread.
//!
//! A socket stays in the namespace where it was created, so every probe and
//! netlink query runs on a `std::thread` that has called `setns` first: a
//! fresh one, or a verifier worker (see [`as_worker`]) that enters the
//! namespace in place. Never on a tokio worker: other tasks would then run
//! in the wrong namespace.
use std::cell::{Cell, RefCell};
use std::fs::File;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::{Condvar, Mutex};

use nix::sched::{setns, CloneFlags};

use super::error::Error;
use crate::kernel::netns::{current, Netns};
use crate::model;

/// Most namespace threads alive at once (each holds a socket or two and blocks).
pub const MAX_THREADS: usize = 64;

/// A counting semaphore bounding namespace threads.
struct Slots {
    used: Mutex<usize>,
    freed: Condvar,
}

static SLOTS: Slots = Slots {
    used: Mutex::new(0),
    freed: Condvar::new(),
};

/// One held slot; released on drop.
struct Slot;

impl Slot {
    fn take() -> Slot {
        let mut used = SLOTS.used.lock().unwrap_or_else(|e| e.into_inner());
        while *used >= MAX_THREADS {
            used = SLOTS.freed.wait(used).unwrap_or_else(|e| e.into_inner());
        }
        *used += 1;
        Slot
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut used = SLOTS.used.lock().unwrap_or_else(|e| e.into_inner());
        *used -= 1;
        SLOTS.freed.notify_one();
    }
}

thread_local! {
    /// On a verifier worker: the namespace the thread started in.
    static HOME: RefCell<Option<Rc<Netns>>> = const { RefCell::new(None) };
    /// On a verifier worker: a call of [`run_in`] is running in place.
    static INSIDE: Cell<bool> = const { Cell::new(false) };
}

/// Run `body` with the current thread as a verifier worker: [`run_in`] then
/// enters each namespace in place on this thread, and returns to the
/// thread's own namespace after each call, instead of spawning a thread per
/// call (a thousand probes would start two thousand threads). Only for a
/// thread of its own that does nothing else while it runs. A thread whose
/// own namespace cannot be opened just stays an ordinary one.
pub fn as_worker<T>(body: impl FnOnce() -> T) -> T {
    let home = current().ok().map(Rc::new);
    HOME.with(|h| *h.borrow_mut() = home);
    let out = body();
    HOME.with(|h| *h.borrow_mut() = None);
    out
}

/// Returns a worker to its own namespace when dropped (also when `f` panics).
struct GoHome(Rc<Netns>);

impl Drop for GoHome {
    fn drop(&mut self) {
        // Every call enters its target explicitly (host: the home file), so
        // a failure here cannot misplace a later probe.
        let _ = setns(self.0.fd(), CloneFlags::CLONE_NEWNET);
        INSIDE.set(false);
    }
}

/// Path of the namespace file of `node`, or `None` for `host` (our own namespace).
pub fn ns_path(topo: &str, node: &str) -> Option<PathBuf> {
    model::netns_name(topo, node).map(|n| PathBuf::from("/run/netns").join(n))
}

/// Run `f` inside the network namespace of `node` and return its result: on
/// a new thread, or in place on a verifier worker (see [`as_worker`]).
///
/// Blocks the caller until `f` returns; at most [`MAX_THREADS`] new threads run at once.
pub fn run_in<T, F>(topo: &str, node: &str, f: F) -> Result<T, Error>
where
    T: Send,
    F: FnOnce() -> Result<T, Error> + Send,
{
    // Open before spawning so a missing namespace is reported plainly.
    let file = match ns_path(topo, node) {
        Some(p) => Some(File::open(&p).map_err(|source| Error::OpenNetns {
            node: node.to_owned(),
            path: p.clone(),
            source,
        })?),
        None => None,
    };
    let home = HOME.with(|h| h.borrow().clone());
    if let Some(home) = home.as_ref().filter(|_| !INSIDE.get()) {
        INSIDE.set(true);
        let _back = GoHome(home.clone());
        let target = file.as_ref().map_or(home.fd(), |f| f.as_fd());
        setns(target, CloneFlags::CLONE_NEWNET).map_err(|source| Error::Setns {
            node: node.to_owned(),
            source,
        })?;
        return f();
    }
    // A call nested in one running in place gets a thread of its own, which
    // starts in the caller's namespace: for host it must enter home itself.
    let file = match (file, home) {
        (None, Some(home)) => Some(File::from(home.fd().try_clone_to_owned().map_err(
            |source| Error::OpenNetns {
                node: node.to_owned(),
                path: "/proc/thread-self/ns/net".into(),
                source,
            },
        )?)),
        (file, _) => file,
    };
    let _slot = Slot::take();
    std::thread::scope(|s| {
        let handle = s.spawn(move || {
            if let Some(file) = file {
                setns(&file, CloneFlags::CLONE_NEWNET).map_err(|source| Error::Setns {
                    node: node.to_owned(),
                    source,
                })?;
            }
            f()
        });
        handle.join().unwrap_or_else(|_| {
            Err(Error::Panicked {
                node: node.to_owned(),
            })
        })
    })
}

/// A single-threaded tokio runtime for netlink requests on the current (namespace) thread.
pub fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::Runtime)
}
