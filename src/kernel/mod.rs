//! The kernel layer: namespaces, rtnetlink connections, sysctls, and reading
//! kernel state back as plain [`crate::model`] data ([`observe`]).
//!
//! Every node of a topology is a network namespace; [`Kernel`] holds one open
//! namespace and one rtnetlink connection per node, made on first use (from
//! the socket an observation already opened there, when there is one).
pub mod apply;
pub mod ask;
pub mod awake;
pub mod bridge;
pub mod conn;
pub mod error;
pub mod exec;
pub mod failover;
pub mod fdb;
pub mod fdtable;
pub mod kind;
pub mod monitor;
pub mod netns;
pub mod nfnl;
pub mod nft;
pub mod observe;
pub mod query;
pub mod resolv;
pub mod rtnl;
pub mod service;
pub mod stp;
pub mod support;
#[allow(unsafe_code)]
pub mod sys;
pub mod sysctl;
pub mod teamd;
pub mod tun;
pub mod updown;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::{Mutex, RwLock, RwLockReadGuard};

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
    /// Interface indexes looked up through this handle, by name, with the
    /// deletion epoch they were looked up in (see [`NodeHandle::known_index`]).
    indexes: Arc<std::sync::Mutex<HashMap<String, (u32, u64)>>>,
    /// The [`Kernel`]'s deletion epoch, shared by all its handles.
    epoch: Arc<AtomicU64>,
    /// Held while a dump runs on the connection: the kernel allows one
    /// dump at a time per socket (__netlink_dump_start: EBUSY).
    dumping: Arc<Mutex<()>>,
}

impl NodeHandle {
    fn new(netns: Arc<Netns>, handle: rtnetlink::Handle, epoch: Arc<AtomicU64>) -> Self {
        NodeHandle {
            netns,
            handle,
            indexes: Arc::default(),
            epoch,
            dumping: Arc::default(),
        }
    }

    /// The index of interface `name` as last looked up, if still trusted.
    ///
    /// Indexes are remembered so that a thousand ports need not each look
    /// their bridge up; every deletion made through [`Kernel`] starts a new
    /// epoch, which makes all of them stale at once (a deleted device can
    /// take others along: a veth's peer, the devices of a namespace), and
    /// the kernel hands out indexes cyclically, so an index that went stale
    /// anyway names no other device.
    pub fn known_index(&self, name: &str) -> Option<u32> {
        let now = self.epoch.load(Ordering::Acquire);
        match self.lock_indexes().get(name) {
            Some(&(index, epoch)) if epoch == now => Some(index),
            _ => None,
        }
    }

    /// Wait for this connection's turn to dump (one dump at a time per
    /// socket); held while the dump runs.
    pub async fn dump_turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.dumping.lock().await
    }

    /// Remember the index of interface `name`.
    pub fn remember_index(&self, name: &str, index: u32) {
        let now = self.epoch.load(Ordering::Acquire);
        self.lock_indexes().insert(name.to_string(), (index, now));
    }

    fn lock_indexes(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u32, u64)>> {
        self.indexes.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Where the namespaces of one topology's nodes are: plain data, so helper
/// threads can open them without the [`Kernel`].
#[derive(Debug, Clone)]
pub struct Locator {
    topo: String,
    /// The namespace netloom runs in, opened when the Kernel was made.
    current: Arc<Netns>,
    /// A node that is a named namespace of another name (see
    /// [`Kernel::for_netns`]): (node, namespace name).
    alias: Option<(String, String)>,
}

impl Locator {
    /// The topology name.
    pub fn topo(&self) -> &str {
        &self.topo
    }

    /// The namespace name of `node` (`None` for `host`).
    pub fn netns_name(&self, node: &str) -> Option<String> {
        match &self.alias {
            Some((n, ns)) if n == node => Some(ns.clone()),
            _ => model::netns_name(&self.topo, node),
        }
    }

    /// Open `node`'s namespace (`None` when absent); `host` is the current one.
    pub fn open(&self, node: &str) -> Result<Option<Arc<Netns>>, KernelError> {
        match self.netns_name(node) {
            None => Ok(Some(self.current.clone())),
            Some(name) => Ok(netns::open(&name)?.map(Arc::new)),
        }
    }
}

/// Access to the kernel objects of one topology, node by node.
#[derive(Debug)]
pub struct Kernel {
    loc: Locator,
    /// Open nodes; absent nodes are not cached, so a later create is seen.
    /// Held only to look up or insert, never across an await.
    nodes: std::sync::Mutex<HashMap<String, NodeHandle>>,
    /// Turns between netlink requests (shared) and sysctl writes (alone):
    /// see [`Kernel::write_sysctl`].
    turns: RwLock<()>,
    /// Sysctl writes waiting for the next batch.
    sysctls: std::sync::Mutex<Vec<PendingSysctl>>,
    /// Held while a batch of sysctl writes is opened and written.
    sysctl_lane: Mutex<()>,
    /// Deletion epoch: remembered interface indexes older than it are stale.
    epoch: Arc<AtomicU64>,
    /// Sockets opened by an observation (see [`Kernel::adopt`]), not yet
    /// turned into connections.
    spares: std::sync::Mutex<HashMap<String, (Arc<Netns>, rtnetlink::sys::Socket)>>,
    /// Where each node's teamd directory lives (`<state dir>/teamd`).
    teamd_root: PathBuf,
    /// The nodes whose forwarding entries observation reads (`None`: every
    /// node with a bridge or a vxlan); see [`Kernel::read_fdb_in`].
    fdb_scope: std::sync::Mutex<Option<std::collections::BTreeSet<String>>>,
}

/// A sysctl write waiting for its turn, and where to send its result.
struct PendingSysctl {
    netns: Arc<Netns>,
    key: String,
    value: String,
    done: tokio::sync::oneshot::Sender<Result<(), KernelError>>,
}

impl PendingSysctl {
    /// Write the value to the opened file (or pass the opening error on)
    /// and report the result to the waiting op.
    fn finish(self, file: Result<std::fs::File, KernelError>) {
        let object = || format!("{}: sysctl {}", self.netns.label(), self.key);
        let r = file.and_then(|mut f| {
            sysctl::write_file(&mut f, &self.value).map_err(|e| KernelError::io(object(), e))
        });
        // The op may have given up waiting; nobody to tell then.
        let _ = self.done.send(r);
    }
}

impl std::fmt::Debug for PendingSysctl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}={}", self.netns.label(), self.key, self.value)
    }
}

impl Kernel {
    /// Access for topology `topo`; remembers the namespace the caller runs in
    /// as `host`. Each node's teamd directory lives under `teamd_root`.
    pub fn new(topo: &str, teamd_root: PathBuf) -> Result<Kernel, KernelError> {
        Ok(Kernel {
            loc: Locator {
                topo: topo.to_string(),
                current: Arc::new(netns::current()?),
                alias: None,
            },
            nodes: std::sync::Mutex::new(HashMap::new()),
            turns: RwLock::new(()),
            sysctls: std::sync::Mutex::new(Vec::new()),
            sysctl_lane: Mutex::new(()),
            epoch: Arc::default(),
            spares: std::sync::Mutex::default(),
            teamd_root,
            fdb_scope: std::sync::Mutex::default(),
        })
    }

    /// Access to one named namespace, `/run/netns/<netns>`, as node `node`
    /// of topology `topo` (for reading a namespace netloom did not make).
    pub fn for_netns(
        topo: &str,
        node: &str,
        netns: &str,
        teamd_root: PathBuf,
    ) -> Result<Kernel, KernelError> {
        let mut k = Kernel::new(topo, teamd_root)?;
        k.loc.alias = Some((node.to_string(), netns.to_string()));
        Ok(k)
    }

    /// The directory holding teamd's socket, pid file, config and log for
    /// the teams of `node`: `<teamd root>/<netns name>` (`host` for host).
    pub fn teamd_dir(&self, node: &str) -> PathBuf {
        let leaf = self
            .netns_name(node)
            .unwrap_or_else(|| model::HOST.to_string());
        self.teamd_root.join(leaf)
    }

    /// Read forwarding entries only in `nodes` from now on (`None`: in every
    /// node with a bridge or a vxlan). Dumping them costs the kernel time
    /// quadratic in a bridge's ports (rtnl_fdb_dump walks the bridge's whole
    /// table once per port: 1.4 s with 1000 ports), so a verb reads them
    /// only where the file or the records put some.
    pub fn read_fdb_in(&self, nodes: Option<std::collections::BTreeSet<String>>) {
        *self.fdb_scope.lock().unwrap_or_else(|e| e.into_inner()) = nodes;
    }

    /// Whether observation reads the forwarding entries of `node`.
    pub fn reads_fdb(&self, node: &str) -> bool {
        self.fdb_scope
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_none_or(|s| s.contains(node))
    }

    /// The directory holding every node's teamd directory.
    pub fn teamd_root(&self) -> &std::path::Path {
        &self.teamd_root
    }

    /// The directory holding every node's services (see [`service`]):
    /// `services` beside the teamd root, in the state directory.
    pub fn service_root(&self) -> PathBuf {
        self.teamd_root.with_file_name("services")
    }

    /// The directory holding the services of `node`, one directory each:
    /// `<service root>/<netns name>` (`host` for host).
    pub fn service_dir(&self, node: &str) -> PathBuf {
        let leaf = self
            .netns_name(node)
            .unwrap_or_else(|| model::HOST.to_string());
        self.service_root().join(leaf)
    }

    /// Wait for a turn to change the kernel through netlink; held while the
    /// change runs (see [`Kernel::write_sysctl`]).
    pub async fn turn(&self) -> RwLockReadGuard<'_, ()> {
        self.turns.read().await
    }

    /// Write sysctl `key` in `netns`, alone.
    ///
    /// Many network sysctl writes (`disable_ipv6`, `forwarding`, ...) only
    /// try to take the RTNL lock, and when it is busy the kernel restarts the
    /// write at once: the writing thread spins, burning a core, for as long
    /// as netlink requests keep RTNL busy. With dozens of netloom's own
    /// requests in flight that is most of the time (half the CPU of a
    /// 1000-container `up` went into such spinning). So the write itself
    /// waits until the requests in flight (those holding a [`Kernel::turn`])
    /// are done and holds new ones back. Writes queue up meanwhile and go in
    /// batches: the files of a batch are opened first, while netlink requests
    /// still run (the path lookup is the costly part, see [`sysctl`]), then
    /// written in one short exclusive turn.
    pub async fn write_sysctl(
        &self,
        netns: Arc<Netns>,
        key: &str,
        value: &str,
    ) -> Result<(), KernelError> {
        let (done, result) = tokio::sync::oneshot::channel();
        self.lock_sysctls().push(PendingSysctl {
            netns,
            key: key.to_string(),
            value: value.to_string(),
            done,
        });
        let lane = self.sysctl_lane.lock().await;
        let batch = std::mem::take(&mut *self.lock_sysctls());
        if !batch.is_empty() {
            let thread = |what: &str| KernelError::Thread {
                object: format!("sysctl {what}"),
            };
            let asked: Vec<(Arc<Netns>, String)> = batch
                .iter()
                .map(|p| (p.netns.clone(), p.key.clone()))
                .collect();
            let opened = tokio::task::spawn_blocking(move || sysctl::open_each(&asked))
                .await
                .map_err(|_| thread("opening"))?;
            let alone = self.turns.write().await;
            let written = tokio::task::spawn_blocking(move || match opened {
                Ok(files) => batch.into_iter().zip(files).for_each(|(p, f)| p.finish(f)),
                Err(e) => batch.into_iter().for_each(|p| {
                    let message = e.to_string();
                    let object = format!("sysctl {}", p.key);
                    p.finish(Err(KernelError::Decode { object, message }))
                }),
            })
            .await;
            drop(alone);
            written.map_err(|_| thread("writes"))?;
        }
        drop(lane);
        // An empty batch: an earlier batch wrote ours.
        result.await.map_err(|_| KernelError::Thread {
            object: format!("sysctl {key}"),
        })?
    }

    fn lock_sysctls(&self) -> std::sync::MutexGuard<'_, Vec<PendingSysctl>> {
        self.sysctls.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The topology name.
    pub fn topo(&self) -> &str {
        self.loc.topo()
    }

    /// The namespace name of `node` (`None` for `host`).
    pub fn netns_name(&self, node: &str) -> Option<String> {
        self.loc.netns_name(node)
    }

    /// Where the nodes' namespaces are, for helper threads.
    pub fn locator(&self) -> Locator {
        self.loc.clone()
    }

    /// Keep `socket`, opened in `node`'s namespace `netns` by an observation,
    /// for the node's connection should one be needed: opening one means a
    /// thread entering the namespace, which the observation's threads have
    /// already done. Ignored when the node is connected already.
    pub fn adopt(&self, node: &str, netns: Arc<Netns>, socket: rtnetlink::sys::Socket) {
        if !self.lock_nodes().contains_key(node) {
            self.lock_spares().insert(node.to_string(), (netns, socket));
        }
    }

    /// A connection made from an adopted socket of `node`, if one is kept
    /// and its namespace is still the one bound under the node's name.
    fn spare_handle(&self, node: &str) -> Result<Option<NodeHandle>, KernelError> {
        let Some((ns, socket)) = self.lock_spares().remove(node) else {
            return Ok(None);
        };
        if !ns.is_bound()? {
            return Ok(None);
        }
        let h = NodeHandle::new(ns, conn::handle(socket), self.epoch.clone());
        Ok(Some(
            self.lock_nodes()
                .entry(node.to_string())
                .or_insert(h)
                .clone(),
        ))
    }

    fn lock_spares(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, (Arc<Netns>, rtnetlink::sys::Socket)>> {
        self.spares.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A cached connection to `node` whose namespace is still the one bound
    /// under its name; forgets one whose namespace was deleted or re-created
    /// by someone else (the old one may live on through our fd).
    fn cached(&self, node: &str) -> Result<Option<NodeHandle>, KernelError> {
        let h = self.lock_nodes().get(node).cloned();
        match h {
            Some(h) if h.netns.is_bound()? => Ok(Some(h)),
            Some(_) => {
                self.lock_nodes().remove(node);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    /// Make every remembered interface index stale (see
    /// [`NodeHandle::known_index`]): called after every device deletion.
    pub fn forget_indexes(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    fn lock_nodes(&self) -> std::sync::MutexGuard<'_, HashMap<String, NodeHandle>> {
        self.nodes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `node`'s namespace, held open, without connecting to it (`None` when absent).
    pub fn netns_of(&self, node: &str) -> Result<Option<Arc<Netns>>, KernelError> {
        match self.cached(node)? {
            Some(h) => Ok(Some(h.netns)),
            None => self.loc.open(node),
        }
    }

    /// The node's namespace and connection, or `None` when its namespace does not exist.
    pub async fn node(&self, node: &str) -> Result<Option<NodeHandle>, KernelError> {
        if let Some(h) = self.cached(node)? {
            return Ok(Some(h));
        }
        if let Some(h) = self.spare_handle(node)? {
            return Ok(Some(h));
        }
        let Some(ns) = self.loc.open(node)? else {
            return Ok(None);
        };
        let h = NodeHandle::new(ns.clone(), conn::connect(&ns).await?, self.epoch.clone());
        Ok(Some(
            self.lock_nodes()
                .entry(node.to_string())
                .or_insert(h)
                .clone(),
        ))
    }

    /// Serve `node` from `netns`, a namespace netloom neither made nor names
    /// (a container runtime's, opened with [`netns::open_path`]): connect to
    /// it and keep the connection for the node's ops. The node is never
    /// looked up by name again, so the namespace stays the one handed over.
    pub async fn attach_node(&self, node: &str, netns: Netns) -> Result<NodeHandle, KernelError> {
        let ns = Arc::new(netns);
        let h = NodeHandle::new(ns.clone(), conn::connect(&ns).await?, self.epoch.clone());
        self.lock_nodes().insert(node.to_string(), h.clone());
        Ok(h)
    }

    /// Create the node's namespace (fails with EEXIST if it exists) and connect to it.
    /// For `host` this returns the namespace netloom runs in.
    ///
    /// The work runs off the async workers (namespace creation takes about a
    /// millisecond of kernel time), and the socket is opened by the thread
    /// that made the namespace, while it is still inside.
    pub async fn create_node(&self, node: &str) -> Result<NodeHandle, KernelError> {
        let Some(name) = self.netns_name(node) else {
            return self.node(node).await?.ok_or_else(|| KernelError::Decode {
                object: "node host".into(),
                message: "own namespace not available".into(),
            });
        };
        let (ns, socket) =
            tokio::task::spawn_blocking(move || netns::create_with(&name, conn::socket))
                .await
                .map_err(|_| KernelError::Thread {
                    object: format!("node {node}"),
                })??;
        let ns = Arc::new(ns);
        let socket = socket.map_err(|e| KernelError::io(ns.label(), e))?;
        let h = NodeHandle::new(ns, conn::handle(socket), self.epoch.clone());
        self.lock_nodes().insert(node.to_string(), h.clone());
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
        self.lock_nodes().remove(node);
        self.lock_spares().remove(node);
        tokio::task::spawn_blocking(move || netns::delete(&name))
            .await
            .map_err(|_| KernelError::Thread {
                object: format!("node {node}"),
            })?
    }
}
