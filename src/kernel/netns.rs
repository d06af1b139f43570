//! Named network namespaces under /run/netns, managed like iproute2's `ip netns`,
//! and a way to run code inside one without ever touching a tokio thread.
//!
//! Namespaces are always held by file descriptor (never by a /proc/PID path),
//! so a namespace stays the same object for as long as a [`Netns`] lives.
//!
//! setns(2) moves only the calling thread, so [`run_in`] does its work on a
//! thread of its own, never on a tokio worker (other tasks would then run in
//! the wrong namespace); or, on a thread that declared itself a namespace
//! worker ([`as_worker`]), in place, going home after each call.
use std::cell::{Cell, RefCell};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::{Condvar, Mutex};

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

use super::error::KernelError;

/// Directory holding the bind-mounted namespace files, as iproute2 uses it.
pub const NETNS_RUN_DIR: &str = "/run/netns";

/// statfs magic of nsfs: a namespace file that is really bound to a namespace.
const NSFS_MAGIC: i64 = 0x6e73_6673;

/// An open network namespace: the file descriptor keeps it alive.
#[derive(Debug)]
pub struct Netns {
    file: File,
    name: Option<String>,
    /// For a namespace someone else made and handed over by path (a
    /// container runtime's CNI_NETNS): that path, for messages.
    path: Option<PathBuf>,
}

impl Netns {
    /// The namespace file descriptor, for setns(2) or NETNSA_FD / IFLA_NET_NS_FD.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }

    /// The name under /run/netns, `None` for the namespace netloom runs in.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Whether this is still the namespace bound at /run/netns/<name>: false
    /// when the name was deleted (or re-created) behind netloom's back.
    /// The namespace netloom runs in is always current.
    pub fn is_bound(&self) -> Result<bool, KernelError> {
        use std::os::unix::fs::MetadataExt;
        let Some(name) = &self.name else {
            return Ok(true);
        };
        let own = self
            .file
            .metadata()
            .map_err(|e| KernelError::io(self.label(), e))?;
        match std::fs::metadata(netns_path(name)) {
            Ok(m) => Ok(m.dev() == own.dev() && m.ino() == own.ino()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(KernelError::io(self.label(), e)),
        }
    }

    /// A short label for error messages.
    pub fn label(&self) -> String {
        match (&self.name, &self.path) {
            (Some(n), _) => format!("netns {n}"),
            (None, Some(p)) => format!("netns {}", p.display()),
            (None, None) => "current netns".to_string(),
        }
    }
}

/// The path of the namespace file for `name`: /run/netns/<name>.
pub fn netns_path(name: &str) -> PathBuf {
    Path::new(NETNS_RUN_DIR).join(name)
}

fn check_name(name: &str) -> Result<(), KernelError> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err(KernelError::Invalid {
            object: format!("netns {name:?}"),
            message: "not a valid namespace name".into(),
        });
    }
    Ok(())
}

fn errno_io(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

/// Whether `file` is an nsfs file, i.e. really bound to a namespace (a file
/// left behind by an interrupted create is a plain empty file).
fn is_nsfs(file: &File) -> io::Result<bool> {
    let st = nix::sys::statfs::fstatfs(file).map_err(errno_io)?;
    Ok(st.filesystem_type().0 as i64 == NSFS_MAGIC)
}

/// Make /run/netns exist and be a shared mount point, so namespace bind mounts
/// made here propagate to every mount namespace that sees /run (as iproute2 does).
/// Done once per process: a thousand creations need not remount it each time.
fn prepare_run_dir() -> Result<(), KernelError> {
    static PREPARED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if PREPARED.load(std::sync::atomic::Ordering::Relaxed) {
        return Ok(());
    }
    prepare_run_dir_now()?;
    PREPARED.store(true, std::sync::atomic::Ordering::Relaxed);
    Ok(())
}

fn prepare_run_dir_now() -> Result<(), KernelError> {
    let dir = Path::new(NETNS_RUN_DIR);
    std::fs::create_dir_all(dir).map_err(|e| KernelError::io(NETNS_RUN_DIR, e))?;
    let make_shared = || {
        mount(
            None::<&str>,
            dir,
            None::<&str>,
            MsFlags::MS_SHARED | MsFlags::MS_REC,
            None::<&str>,
        )
    };
    match make_shared() {
        Ok(()) => Ok(()),
        // EINVAL: not a mount point yet; bind it onto itself, then retry.
        Err(Errno::EINVAL) => {
            mount(
                Some(dir),
                dir,
                Some("none"),
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(|e| KernelError::io(NETNS_RUN_DIR, errno_io(e)))?;
            make_shared().map_err(|e| KernelError::io(NETNS_RUN_DIR, errno_io(e)))
        }
        Err(e) => Err(KernelError::io(NETNS_RUN_DIR, errno_io(e))),
    }
}

/// Create the named namespace /run/netns/<name> and return it open.
///
/// Fails with EEXIST when a namespace of that name exists. The calling
/// thread unshares its network namespace, bind-mounts the new one onto the
/// file and goes back (see `in_new_netns`); no other thread changes.
pub fn create(name: &str) -> Result<Netns, KernelError> {
    create_with(name, || ()).map(|(ns, ())| ns)
}

/// [`create`], and run `f` inside the new namespace before the thread goes
/// back (e.g. to open a socket there without entering it a second time).
pub fn create_with<T: Send>(
    name: &str,
    f: impl FnOnce() -> T + Send,
) -> Result<(Netns, T), KernelError> {
    check_name(name)?;
    let object = format!("netns {name}");
    prepare_run_dir()?;
    let path = netns_path(name);
    if open(name)?.is_some() {
        return Err(KernelError::io(
            object,
            io::Error::from_raw_os_error(libc::EEXIST),
        ));
    }
    // A plain file left by an interrupted create holds no namespace: replace it.
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(KernelError::io(object, e)),
    }
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o444)
        .open(&path)
        .map_err(|e| KernelError::io(object.clone(), e))?;
    let out = match in_new_netns(&path, f) {
        Ok(out) => out,
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            return Err(KernelError::io(object, errno_io(e)));
        }
    };
    let ns = open(name)?.ok_or_else(|| KernelError::Decode {
        object,
        message: "namespace vanished right after it was created".into(),
    })?;
    Ok((ns, out))
}

/// Unshare a new namespace on this thread, bind it at `target`, run `f`
/// inside it, and go back to the thread's namespace from before, whatever
/// happens (see [`GoHome`]). In place rather than on a thread of its own:
/// a thread's start and exit per namespace were some 5 % of the CPU a
/// 1000-container `up` uses.
fn in_new_netns<T>(target: &Path, f: impl FnOnce() -> T) -> Result<T, Errno> {
    let home = current().map_err(|e| Errno::from_raw(e.errno().unwrap_or(libc::EIO)))?;
    unshare(CloneFlags::CLONE_NEWNET)?;
    let _back = GoHome(home.file);
    mount(
        Some("/proc/thread-self/ns/net"),
        target,
        Some("none"),
        MsFlags::MS_BIND,
        None::<&str>,
    )?;
    Ok(f())
}

/// Puts the thread back into namespace `.0` when dropped, on unwinding too.
struct GoHome(File);

impl Drop for GoHome {
    fn drop(&mut self) {
        back_to(self.0.as_fd());
    }
}

/// Put the calling thread into the namespace `home`, or abort.
fn back_to(home: BorrowedFd<'_>) {
    if let Err(e) = setns(home, CloneFlags::CLONE_NEWNET) {
        // A (pooled) thread left in another namespace would do later
        // work there; nothing after this could be trusted.
        eprintln!("fatal: cannot return a thread to its network namespace: {e}");
        std::process::abort();
    }
}

/// Open the named namespace; `None` when no such namespace exists.
pub fn open(name: &str) -> Result<Option<Netns>, KernelError> {
    check_name(name)?;
    let path = netns_path(name);
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(&path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(KernelError::io(format!("netns {name}"), e)),
    };
    if !is_nsfs(&file).map_err(|e| KernelError::io(format!("netns {name}"), e))? {
        return Ok(None);
    }
    Ok(Some(Netns {
        file,
        name: Some(name.to_string()),
        path: None,
    }))
}

/// The namespace netloom runs in (the `host` node). Call it at startup.
pub fn current() -> Result<Netns, KernelError> {
    let file = File::open("/proc/thread-self/ns/net")
        .map_err(|e| KernelError::io("/proc/thread-self/ns/net", e))?;
    Ok(Netns {
        file,
        name: None,
        path: None,
    })
}

/// Why a path handed over as a network namespace was refused.
#[derive(Debug, thiserror::Error)]
pub enum ForeignNetnsError {
    /// The path could not be opened.
    #[error("{path}: {source}")]
    Open {
        /// The path.
        path: PathBuf,
        /// The error opening it.
        #[source]
        source: io::Error,
    },
    /// It is a file, but not a namespace (not on nsfs).
    #[error("{path} is not a namespace file (not on nsfs)")]
    NotNamespace {
        /// The path.
        path: PathBuf,
    },
    /// A namespace, but not a network namespace.
    #[error("{path} is a namespace, but not a network namespace")]
    NotNetwork {
        /// The path.
        path: PathBuf,
    },
}

/// Open a network namespace someone else made, by `path` (a bind mount
/// under /run/netns, or /proc/PID/ns/net), and check before anything uses
/// it that the open file is an nsfs file (fstatfs) and a network namespace
/// (NS_GET_NSTYPE): a /proc/PID path whose process died and whose PID was
/// reused names another process's namespace, or none, and an empty file
/// left where a bind mount was is no namespace at all. From then on the
/// descriptor holds that very namespace, whatever happens to the path.
pub fn open_path(path: &Path) -> Result<Netns, ForeignNetnsError> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .map_err(|source| ForeignNetnsError::Open {
            path: path.to_path_buf(),
            source,
        })?;
    if !is_nsfs(&file).unwrap_or(false) {
        return Err(ForeignNetnsError::NotNamespace {
            path: path.to_path_buf(),
        });
    }
    match super::sys::ns_type(file.as_fd()) {
        Ok(t) if t == libc::CLONE_NEWNET => Ok(Netns {
            file,
            name: None,
            path: Some(path.to_path_buf()),
        }),
        _ => Err(ForeignNetnsError::NotNetwork {
            path: path.to_path_buf(),
        }),
    }
}

/// The namespace the calling thread calls home: a namespace worker's own
/// (see [`as_worker`]) even while a call of [`run_in`] has it elsewhere,
/// else the thread's current one (see [`current`]).
pub fn home() -> Result<Netns, KernelError> {
    let Some(home) = HOME.with(|h| h.borrow().clone()) else {
        return current();
    };
    let file = home
        .file
        .try_clone()
        .map_err(|e| KernelError::io(home.label(), e))?;
    Ok(Netns {
        file,
        name: None,
        path: None,
    })
}

/// Delete the named namespace: detach its bind mount and remove the file.
///
/// Deleting a namespace that does not exist succeeds (nothing to do). The
/// namespace itself lives on while any process or fd still holds it.
pub fn delete(name: &str) -> Result<(), KernelError> {
    check_name(name)?;
    let object = format!("netns {name}");
    let path = netns_path(name);
    match umount2(&path, MntFlags::MNT_DETACH) {
        // EINVAL: not mounted (a leftover plain file); ENOENT: already gone.
        Ok(()) | Err(Errno::EINVAL) | Err(Errno::ENOENT) => {}
        Err(e) => return Err(KernelError::io(object, errno_io(e))),
    }
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(KernelError::io(object, e)),
    }
}

/// Names of the namespaces under /run/netns, sorted.
pub fn list() -> Result<Vec<String>, KernelError> {
    let entries = match std::fs::read_dir(NETNS_RUN_DIR) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(KernelError::io(NETNS_RUN_DIR, e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| KernelError::io(NETNS_RUN_DIR, e))?;
        if let Some(n) = entry.file_name().to_str() {
            names.push(n.to_string());
        }
    }
    names.sort();
    Ok(names)
}

/// Run `f(i, ns)` inside each of `nss` on helper threads that enter the
/// namespaces in turn (two threads: the work is mostly the kernel's, and
/// this machine kind has two cores); results in the order of `nss`. Each
/// thread takes the next namespace not yet taken, so one costly namespace
/// early in `nss` (put it first) does not leave the other thread idle at
/// the end. One thread per namespace would cost more than the work. Every
/// other thread stays in netloom's own namespace.
pub fn run_in_each<T: Send>(
    nss: &[&Netns],
    f: impl Fn(usize, &Netns) -> T + Sync,
) -> Result<Vec<Result<T, KernelError>>, KernelError> {
    // Below a few dozen namespaces a second thread is not worth its start.
    let threads = if nss.len() < 32 { 1 } else { 2 };
    let next = std::sync::atomic::AtomicUsize::new(0);
    let (f, next) = (&f, &next);
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(move || {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(ns) = nss.get(i) else { break done };
                        let r = setns(ns.fd(), CloneFlags::CLONE_NEWNET)
                            .map_err(|e| KernelError::io(ns.label(), errno_io(e)))
                            .map(|()| f(i, ns));
                        done.push((i, r));
                    }
                })
            })
            .collect();
        let mut out: Vec<Option<Result<T, KernelError>>> = Vec::new();
        out.resize_with(nss.len(), || None);
        for w in workers {
            let done = w.join().map_err(|_| KernelError::Thread {
                object: "namespaces".into(),
            })?;
            for (i, r) in done {
                out[i] = Some(r);
            }
        }
        // Every index below nss.len() was taken by exactly one thread.
        Ok(out
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(KernelError::Thread {
                        object: "namespaces".into(),
                    })
                })
            })
            .collect())
    })
}

/// Most threads [`run_in`] has inside namespaces at once (each blocks its
/// caller, and holds a socket or two).
pub const MAX_THREADS: usize = 64;

/// A counting semaphore bounding the threads of [`run_in`].
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
    /// On a namespace worker: the namespace the thread started in.
    static HOME: RefCell<Option<Rc<Netns>>> = const { RefCell::new(None) };
    /// On a namespace worker: a call of [`run_in`] is running in place.
    static INSIDE: Cell<bool> = const { Cell::new(false) };
}

/// Forgets that the thread is a worker when dropped (on unwinding too).
struct Retire;

impl Drop for Retire {
    fn drop(&mut self) {
        HOME.with(|h| *h.borrow_mut() = None);
    }
}

/// Run `body` with the current thread as a namespace worker: [`run_in`]
/// then enters each namespace in place on this thread, and returns to the
/// thread's own namespace after each call, instead of starting a thread
/// per call (a thousand probes would start two thousand threads). Only for
/// a thread of its own that does nothing else while it runs, never a tokio
/// worker. A thread whose own namespace cannot be opened just stays an
/// ordinary one.
pub fn as_worker<T>(body: impl FnOnce() -> T) -> T {
    let home = current().ok().map(Rc::new);
    HOME.with(|h| *h.borrow_mut() = home);
    let _retire = Retire;
    body()
}

/// Returns a worker to its own namespace when dropped (also when the work panics).
struct InPlace(Rc<Netns>);

impl Drop for InPlace {
    fn drop(&mut self) {
        back_to(self.0.fd());
        INSIDE.set(false);
    }
}

/// Run `f` inside `ns` and return its result: in place on a namespace
/// worker (see [`as_worker`]), else on a fresh OS thread.
///
/// setns(2) changes only the calling thread, so doing it on a throwaway thread
/// keeps every other thread (tokio's workers above all) in netloom's own
/// namespace. The caller blocks until `f` returns: keep `f` short (open a
/// socket, read a file, send a probe). At most [`MAX_THREADS`] such threads
/// run at once; a call nested in another gets a thread of its own.
pub fn run_in<T: Send>(ns: &Netns, f: impl FnOnce() -> T + Send) -> Result<T, KernelError> {
    let home = HOME.with(|h| h.borrow().clone());
    if let Some(home) = home.filter(|_| !INSIDE.get()) {
        INSIDE.set(true);
        let _back = InPlace(home);
        setns(ns.fd(), CloneFlags::CLONE_NEWNET)
            .map_err(|e| KernelError::io(ns.label(), errno_io(e)))?;
        return Ok(f());
    }
    let _slot = Slot::take();
    let fd = ns.fd();
    std::thread::scope(|s| {
        s.spawn(move || -> Result<T, KernelError> {
            setns(fd, CloneFlags::CLONE_NEWNET)
                .map_err(|e| KernelError::io(ns.label(), errno_io(e)))?;
            Ok(f())
        })
        .join()
        .map_err(|_| KernelError::Thread { object: ns.label() })?
    })
}
