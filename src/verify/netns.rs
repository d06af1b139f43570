//! Entering a node's network namespace on a dedicated thread.
//!
//! A socket stays in the namespace where it was created, so every probe and
//! netlink query runs on a fresh `std::thread` that has called `setns` first.
//! Never on a tokio worker: other tasks would then run in the wrong namespace.
use std::fs::File;
use std::path::PathBuf;
use std::sync::{Condvar, Mutex};

use nix::sched::{setns, CloneFlags};

use super::error::Error;
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

/// Path of the namespace file of `node`, or `None` for `host` (our own namespace).
pub fn ns_path(topo: &str, node: &str) -> Option<PathBuf> {
    model::netns_name(topo, node).map(|n| PathBuf::from("/run/netns").join(n))
}

/// Run `f` on a new thread inside the network namespace of `node` and return its result.
///
/// Blocks the caller until `f` returns; at most [`MAX_THREADS`] run at once.
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
