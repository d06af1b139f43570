//! Errors of the verifier's own machinery (namespaces, netlink, sockets,
//! the topology's addresses), as opposed to probe failures, which are results
//! and become an outcome's reason.
use std::path::PathBuf;

use super::Readiness;
use crate::kernel::KernelError;

/// Why the verifier could not look or act inside a node.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The node's namespace file could not be opened.
    #[error("node {node}: cannot open namespace {}: {source}", path.display())]
    OpenNetns {
        /// Node name.
        node: String,
        /// /run/netns/... path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The kernel refused or failed a request (entering a namespace, netlink).
    #[error(transparent)]
    Kernel(#[from] KernelError),
    /// A probe socket could not be opened or set up.
    #[error("{what}: {source}")]
    Socket {
        /// The step, e.g. `raw ICMP socket`, `SO_BINDTODEVICE eth0`.
        what: String,
        /// The errno.
        source: nix::Error,
    },
    /// No interface of that name in the node.
    #[error("no interface {0}")]
    NoLink(String),
    /// An expectation names a node the topology does not have.
    #[error("no node {0} in the topology")]
    NoNode(String),
    /// An expectation names an interface (`node/iface`) the topology does not have.
    #[error("no interface {0} in the topology")]
    NoIface(String),
    /// The interface (`node/iface`) an expectation targets has no address.
    #[error("{0} has no address to probe")]
    IfaceWithoutAddress(String),
    /// The node an expectation targets has no address (of the probe's family).
    #[error("node {0} has no address to probe")]
    NodeWithoutAddress(String),
    /// The network did not become ready (see [`Readiness`]).
    #[error("{0}")]
    NotReady(Readiness),
    /// Several failures (restoring continues past the first).
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Several(Vec<Error>),
}
