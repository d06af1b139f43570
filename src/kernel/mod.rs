//! The kernel layer: namespaces, rtnetlink connections, sysctls, and reading
//! kernel state back as plain [`crate::model`] data ([`observe`]).
//!
//! Every node of a topology is a network namespace; [`Kernel`] holds one open
//! namespace and one rtnetlink connection per node, made on first use.
pub mod apply;
pub mod conn;
pub mod error;
pub mod exec;
pub mod netns;
pub mod nft;
pub mod observe;
pub mod support;
pub mod sysctl;
pub mod teamd;
pub mod tun;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::Mutex;

pub use error::KernelError;
pub use netns::Netns;

use crate::model;

/// A node's namespace and an rtnetlink connection whose socket lives in it.
#[derive(Debug, Clone)]
pub struct NodeHandle {
    /// The node's network namespace, held open.
    pub netns: Arc<Netns>,
    /// rtnetlink handle talking to that namespace.
    pub handle: rtnetlink::Handle,
    /// A netlink socket runs one dump at a time (a second one fails with
    /// EBUSY): hold this lock while a dump through `handle` runs.
    dump_lock: Arc<Mutex<()>>,
}

impl NodeHandle {
    fn new(netns: Arc<Netns>, handle: rtnetlink::Handle) -> Self {
        NodeHandle {
            netns,
            handle,
            dump_lock: Arc::new(Mutex::new(())),
        }
    }

    /// Serialize dumps on this node's socket: hold the guard until the dump's
    /// last answer has been read.
    pub async fn lock_dump(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.dump_lock.lock().await
    }
}

/// Access to the kernel objects of one topology, node by node.
#[derive(Debug)]
pub struct Kernel {
    topo: String,
    /// The namespace netloom runs in, opened when the Kernel was made.
    current: Arc<Netns>,
    /// Open nodes; absent nodes are not cached, so a later create is seen.
    nodes: Mutex<HashMap<String, NodeHandle>>,
    /// Where each node's teamd directory lives (`<state dir>/teamd`).
    teamd_root: PathBuf,
}

impl Kernel {
    /// Access for topology `topo`; remembers the namespace the caller runs in as `host`.
    pub fn new(topo: &str) -> Result<Kernel, KernelError> {
        Ok(Kernel {
            topo: topo.to_string(),
            current: Arc::new(netns::current()?),
            nodes: Mutex::new(HashMap::new()),
            teamd_root: crate::state::Store::from_env().dir().join("teamd"),
        })
    }

    /// The same access with teamd directories under `root` instead of
    /// `<$NETLOOM_STATE_DIR or /run/netloom>/teamd`.
    pub fn with_teamd_root(mut self, root: PathBuf) -> Kernel {
        self.teamd_root = root;
        self
    }

    /// The directory holding teamd's socket, pid file, config and log for
    /// the teams of `node`: `<teamd root>/<netns name>` (`host` for host).
    pub fn teamd_dir(&self, node: &str) -> PathBuf {
        let leaf = self
            .netns_name(node)
            .unwrap_or_else(|| model::HOST.to_string());
        self.teamd_root.join(leaf)
    }

    /// The directory holding every node's teamd directory.
    pub fn teamd_root(&self) -> &std::path::Path {
        &self.teamd_root
    }

    /// The topology name.
    pub fn topo(&self) -> &str {
        &self.topo
    }

    /// The namespace name of `node` (`None` for `host`).
    pub fn netns_name(&self, node: &str) -> Option<String> {
        model::netns_name(&self.topo, node)
    }

    /// The node's namespace and connection, or `None` when its namespace does not exist.
    pub async fn node(&self, node: &str) -> Result<Option<NodeHandle>, KernelError> {
        let mut nodes = self.nodes.lock().await;
        if let Some(h) = nodes.get(node) {
            // A namespace deleted or re-created by someone else must not be
            // served from the cache: the old one may live on through our fd.
            if h.netns.is_bound()? {
                return Ok(Some(h.clone()));
            }
            nodes.remove(node);
        }
        let ns = match self.netns_name(node) {
            None => self.current.clone(),
            Some(name) => match netns::open(&name)? {
                Some(ns) => Arc::new(ns),
                None => return Ok(None),
            },
        };
        let h = NodeHandle::new(ns.clone(), conn::connect(&ns).await?);
        nodes.insert(node.to_string(), h.clone());
        Ok(Some(h))
    }

    /// Create the node's namespace (fails with EEXIST if it exists) and connect to it.
    /// For `host` this returns the namespace netloom runs in.
    pub async fn create_node(&self, node: &str) -> Result<NodeHandle, KernelError> {
        let Some(name) = self.netns_name(node) else {
            return self.node(node).await?.ok_or_else(|| KernelError::Decode {
                object: "node host".into(),
                message: "own namespace not available".into(),
            });
        };
        let mut nodes = self.nodes.lock().await;
        let ns = Arc::new(netns::create(&name)?);
        let h = NodeHandle::new(ns.clone(), conn::connect(&ns).await?);
        nodes.insert(node.to_string(), h.clone());
        Ok(h)
    }

    /// Delete the node's namespace (nothing to do if absent) and forget its connection.
    /// Refuses `host`.
    pub async fn delete_node(&self, node: &str) -> Result<(), KernelError> {
        let Some(name) = self.netns_name(node) else {
            return Err(KernelError::Invalid {
                object: "node host".into(),
                message: "the namespace netloom runs in cannot be deleted".into(),
            });
        };
        let mut nodes = self.nodes.lock().await;
        nodes.remove(node);
        netns::delete(&name)
    }
}
