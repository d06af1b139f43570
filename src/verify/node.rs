//! A topology's node as the network namespace it lives in: opened, and
//! entered to run a probe or a query there (see [`crate::kernel::netns`]).
use std::io;

use super::Error;
use crate::kernel::netns::{self, Netns};
use crate::model;

/// The namespace of `node` of topology `topo`, opened: for `host`, the one
/// the calling thread calls home (see [`netns::home`]).
pub fn open(topo: &str, node: &str) -> Result<Netns, Error> {
    let Some(name) = model::netns_name(topo, node) else {
        return Ok(netns::home()?);
    };
    netns::open(&name)?.ok_or_else(|| Error::OpenNetns {
        node: node.to_string(),
        path: netns::netns_path(&name),
        source: io::Error::from_raw_os_error(libc::ENOENT),
    })
}

/// Run `f` inside the namespace of `node` and return its result: on a
/// thread of its own, or in place on a namespace worker (see
/// [`netns::as_worker`]). Blocks the caller until `f` returns.
pub fn run_in<T, F>(topo: &str, node: &str, f: F) -> Result<T, Error>
where
    T: Send,
    F: FnOnce() -> Result<T, Error> + Send,
{
    // Opened before entering, so a missing namespace is reported plainly.
    let ns = open(topo, node)?;
    netns::run_in(&ns, f)?
}
