//! Services (see [`crate::kernel::service`]): start and stop them in their
//! node. Deleting a node stops its services first, found through the
//! node's service directory alone, so this also works after a crash.
use std::path::PathBuf;

use super::node_handle;
use crate::kernel::error::KernelError;
use crate::kernel::service::{self, dnsmasq::DNSMASQ, Launched};
use crate::kernel::Kernel;
use crate::model::ServiceSetup;

/// Environment variable naming the program to run agents with, for callers
/// that are not the `netloom` program themselves (benchmarks, tests
/// driving the library); by default netloom runs its own binary.
pub const AGENT_EXE: &str = "NETLOOM_AGENT_EXE";

/// Run a blocking service call off the async threads.
async fn blocking<T: Send + 'static>(
    what: String,
    f: impl FnOnce() -> Result<T, KernelError> + Send + 'static,
) -> Result<T, KernelError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| KernelError::Thread { object: what })?
}

/// The program a service of `setup` runs.
fn exe(setup: &ServiceSetup) -> Result<PathBuf, KernelError> {
    let missing = |what: &str, e: std::io::Error| KernelError::io(what.to_string(), e);
    match setup {
        ServiceSetup::Dnsmasq(_) => service::program(DNSMASQ).ok_or_else(|| {
            missing(
                DNSMASQ,
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "not found on PATH (Debian package dnsmasq-base)",
                ),
            )
        }),
        _ => match std::env::var_os(AGENT_EXE) {
            Some(p) => std::fs::canonicalize(&p).map_err(|e| missing(&p.to_string_lossy(), e)),
            None => std::env::current_exe().map_err(|e| missing("netloom's own program", e)),
        },
    }
}

/// (Re)start service `name` of `node` with `setup`.
pub(super) async fn start(
    k: &Kernel,
    node: &str,
    name: &str,
    setup: &ServiceSetup,
) -> Result<(), KernelError> {
    let h = node_handle(k, node).await?;
    let launched = Launched {
        setup: setup.clone(),
        exe: exe(setup)?,
        topology: k.topo().to_string(),
        node: node.to_string(),
    };
    let dir = k.service_dir(node).join(name);
    blocking(format!("start service {name} in {node}"), move || {
        service::start(&h.netns, &dir, &launched).map(drop)
    })
    .await
}

/// Stop service `name` of `node` and forget its files.
pub(super) async fn stop(k: &Kernel, node: &str, name: &str) -> Result<(), KernelError> {
    let node_dir = k.service_dir(node);
    let dir = node_dir.join(name);
    let root = k.service_root();
    blocking(format!("stop service {name} in {node}"), move || {
        service::stop_and_forget(&dir)?;
        forget_empty(&node_dir, &root);
        Ok(())
    })
    .await
}

/// Stop every service of `node` (its namespace is about to go).
pub(super) async fn stop_all(k: &Kernel, node: &str) -> Result<(), KernelError> {
    let node_dir = k.service_dir(node);
    let root = k.service_root();
    blocking(format!("stop services in node {node}"), move || {
        for name in service::names(&node_dir)? {
            service::stop_and_forget(&node_dir.join(name))?;
        }
        forget_empty(&node_dir, &root);
        Ok(())
    })
    .await
}

/// Remove the node's service directory and the root when they are empty.
fn forget_empty(node_dir: &std::path::Path, root: &std::path::Path) {
    // Each fails (and stays) while something is left in it: that is fine.
    let _ = std::fs::remove_dir(node_dir);
    let _ = std::fs::remove_dir(root);
}
