//! Errors of the verifier's own machinery (namespaces, netlink), as opposed to
//! probe failures, which are results and become an outcome's reason.
use std::path::PathBuf;

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
    /// Entering the namespace failed.
    #[error("node {node}: setns: {source}")]
    Setns {
        /// Node name.
        node: String,
        /// The OS error.
        source: nix::Error,
    },
    /// The namespace thread panicked.
    #[error("node {node}: verifier thread panicked")]
    Panicked {
        /// Node name.
        node: String,
    },
    /// The small per-thread tokio runtime could not start.
    #[error("tokio runtime: {0}")]
    Runtime(std::io::Error),
    /// The netlink socket could not be opened.
    #[error("netlink socket: {0}")]
    Socket(std::io::Error),
    /// A netlink request failed.
    #[error("{what}: {source}")]
    Netlink {
        /// The request, e.g. "link dump".
        what: String,
        /// rtnetlink's error.
        source: rtnetlink::Error,
    },
    /// The kernel refused to re-create something a failover check had to restore.
    #[error("restore {what}: {source}")]
    Restore {
        /// "route" or "address".
        what: &'static str,
        /// The errno the kernel answered.
        source: std::io::Error,
    },
    /// No interface of that name in the node.
    #[error("no interface {0}")]
    NoLink(String),
    /// Several failures (restoring continues past the first).
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Several(Vec<Error>),
}

/// A closure mapping an rtnetlink error to [`Error::Netlink`] for request `what`.
pub fn netlink(what: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> Error {
    let what = what.into();
    move |source| Error::Netlink { what, source }
}
