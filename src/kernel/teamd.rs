//! teamd supervision: one teamd per team device, started inside the node's
//! network namespace, queried over its control socket, stopped by signal.
//!
//! Facts from libteam's source (teamd/teamd.c, teamd_usock*.c, libteamdctl),
//! which decide how netloom runs it:
//! - netloom creates the team device itself (over rtnetlink, with its
//!   ownership mark). `-o` (`--take-over`) makes teamd use an existing device
//!   instead of creating one, and not destroy it when its own start fails.
//! - On exit (SIGTERM/SIGINT/SIGQUIT) teamd destroys the team device, taken
//!   over or not, unless `-N` (`--no-quit-destroy`). netloom owns the device
//!   and deletes it itself, so teamd always runs with `-o -N`: the device
//!   stays. Its ports do NOT all stay: teamd 1.31 (Debian 12's
//!   libteam-utils) releases every port on exit even with `-N` (libteam
//!   commit dbb2cfc, in 1.32, keeps them); seen in the VM. So after a stop
//!   the team device is there without ports, and a restart enslaves them again.
//! - The control socket is `/var/run/teamd/<dev>.sock` (TEAMD_RUN_DIR is a
//!   compile-time constant: there is no option for it), the default pid file
//!   `/var/run/teamd/<dev>.pid`. Two nodes with a `team0` would collide, so
//!   each teamd runs in a private mount namespace where the node's own
//!   directory is bind-mounted over the run dir. The socket and pid file then
//!   live in that directory, where netloom reaches them from any namespace.
//! - Without `-d` teamd stays in the foreground: it is netloom's child, its pid
//!   is known without racing the pid file, and its log (`-l stderr`) goes to
//!   `<node_dir>/<dev>.log`, so a failed start reports teamd's own words.
//! - Ports: teamd enslaves each key of `ports` with a plain IFLA_MASTER
//!   change. A port already enslaved to this team is left as is (rtnetlink
//!   treats "same master" as done), a port of another master is first
//!   released from it; a port that does not exist is skipped with a warning.
//!   The 6.1 team driver refuses a port that is up (EBUSY, "Device is up. Set
//!   it down before adding it as a team port"), and teamd then exits: ports
//!   must be down when teamd starts. The driver opens (brings up) each port
//!   it enslaves.
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::mount::MsFlags;
use nix::sched::CloneFlags;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use serde_json::Value;

use super::error::KernelError;
use super::netns::Netns;
use super::sys::{self, Step};

pub mod active;
mod config;
pub mod usock;

pub use active::settle;
pub use config::config;
pub use usock::{TeamPortState, TeamState};

/// The program run (Debian package libteam-utils).
pub const TEAMD: &str = "teamd";

/// The run directory compiled into Debian's teamd (TEAMD_RUN_DIR).
pub const TEAMD_RUN_DIR: &str = "/var/run/teamd";

/// How long a start may take until the control socket answers.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

/// How long teamd gets to exit after SIGTERM before SIGKILL.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(5);

fn object(dev: &str) -> String {
    format!("teamd {dev}")
}

fn check_dev(dev: &str) -> Result<(), KernelError> {
    // IFNAMSIZ is 16 including the NUL; the name also becomes a file name.
    if dev.is_empty() || dev.len() > 15 || dev.contains('/') || dev.contains('\0') || dev == "." {
        return Err(KernelError::Invalid {
            object: object(dev),
            message: "not a valid interface name".into(),
        });
    }
    Ok(())
}

/// The control socket teamd for `dev` binds, as seen from outside its mount namespace.
pub fn socket_path(node_dir: &Path, dev: &str) -> PathBuf {
    node_dir.join(format!("{dev}.sock"))
}

/// The pid file teamd for `dev` writes, as seen from outside its mount namespace.
pub fn pid_path(node_dir: &Path, dev: &str) -> PathBuf {
    node_dir.join(format!("{dev}.pid"))
}

/// The config file netloom writes for `dev` and passes with `-f`.
pub fn config_path(node_dir: &Path, dev: &str) -> PathBuf {
    node_dir.join(format!("{dev}.conf"))
}

/// The setup (model data) netloom started teamd for `dev` with, which
/// observe reads back while that teamd runs.
pub fn setup_path(node_dir: &Path, dev: &str) -> PathBuf {
    node_dir.join(format!("{dev}.setup.json"))
}

/// teamd's log (its stdout and stderr) for `dev`.
pub fn log_path(node_dir: &Path, dev: &str) -> PathBuf {
    node_dir.join(format!("{dev}.log"))
}

/// Where teamd's run dir really is: /var/run is a symlink to /run on Debian,
/// and a bind mount must target the real directory.
fn real_run_dir() -> Result<PathBuf, KernelError> {
    let run_dir = Path::new(TEAMD_RUN_DIR);
    let parent = run_dir.parent().unwrap_or(Path::new("/"));
    let parent =
        fs::canonicalize(parent).map_err(|e| KernelError::io(parent.display().to_string(), e))?;
    let real = parent.join("teamd");
    // The mount point must exist; teamd itself would create this directory.
    fs::create_dir_all(&real).map_err(|e| KernelError::io(real.display().to_string(), e))?;
    Ok(real)
}

/// What teamd's child does before exec: a session of its own (a Ctrl-C
/// meant for netloom must not stop teamd), the node's network namespace,
/// and a private mount namespace where `node_dir` is bound over the run dir.
fn steps(ns: &Netns, node_dir: &Path, run_dir: &Path) -> io::Result<Vec<Step>> {
    Ok(vec![
        Step::NewSession,
        Step::enter(ns.fd(), CloneFlags::CLONE_NEWNET)?,
        Step::Unshare(CloneFlags::CLONE_NEWNS),
        // Keep the bind mount below from propagating back to the caller.
        Step::propagation(Path::new("/"), MsFlags::MS_REC | MsFlags::MS_PRIVATE)?,
        Step::bind(node_dir, run_dir)?,
    ])
}

/// The last lines of teamd's log, for error messages.
fn log_tail(node_dir: &Path, dev: &str) -> String {
    let mut text = String::new();
    if let Ok(mut f) = File::open(log_path(node_dir, dev)) {
        let _ = f.read_to_string(&mut text);
    }
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(8);
    lines[start..].join(" | ")
}

/// Start teamd for the existing team device `dev` in namespace `ns` with
/// `config` (see [`config`]), keeping its socket, pid file, config and log in
/// `node_dir` (one directory per node, e.g. /run/netloom/teamd/<netns>/).
///
/// Returns teamd's pid once its control socket answers. Fails with EEXIST if a
/// teamd for `dev` already runs from `node_dir`, and with teamd's own log
/// lines if it exits during start (e.g. a port was up).
pub fn start(ns: &Netns, node_dir: &Path, dev: &str, config: &Value) -> Result<u32, KernelError> {
    check_dev(dev)?;
    let obj = object(dev);
    if let Some(pid) = running(node_dir, dev)? {
        return Err(KernelError::Io {
            object: format!("{obj} in {}", ns.label()),
            source: io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("already running with pid {pid}"),
            ),
        });
    }
    fs::create_dir_all(node_dir).map_err(|e| KernelError::io(node_dir.display().to_string(), e))?;
    let conf = config_path(node_dir, dev);
    let text = serde_json::to_string_pretty(config).map_err(|e| KernelError::Invalid {
        object: obj.clone(),
        message: format!("config cannot be written: {e}"),
    })?;
    fs::write(&conf, text).map_err(|e| KernelError::io(conf.display().to_string(), e))?;
    let log = File::create(log_path(node_dir, dev))
        .map_err(|e| KernelError::io(log_path(node_dir, dev).display().to_string(), e))?;
    let log2 = log
        .try_clone()
        .map_err(|e| KernelError::io(log_path(node_dir, dev).display().to_string(), e))?;
    let steps = steps(ns, node_dir, &real_run_dir()?)
        .map_err(|e| KernelError::io(format!("{obj}: start {TEAMD}"), e))?;
    let mut cmd = Command::new(TEAMD);
    cmd.arg("-o") // use the device netloom made
        .arg("-N") // and leave it (and its ports) in place on exit
        .arg("-U") // the control socket, whatever the build's default
        .args(["-l", "stderr", "-t", dev, "-f"])
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log2));
    sys::pre_exec(&mut cmd, steps);
    let child = cmd
        .spawn()
        .map_err(|e| KernelError::io(format!("{obj}: start {TEAMD}"), e))?;
    let pid = child.id();
    // The Child handle is dropped: teamd outlives this call (and netloom);
    // stop() and running() reap it when it is still our child.
    drop(child);
    let sock = socket_path(node_dir, dev);
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(status) = reap(pid) {
            return Err(failed(
                &obj,
                ns,
                format!(
                    "teamd exited during start ({status}): {}",
                    log_tail(node_dir, dev)
                ),
            ));
        }
        match usock::state_dump(&sock) {
            Ok(_) => return Ok(pid),
            Err(e) if Instant::now() >= deadline => {
                let _ = stop_pid(pid);
                return Err(failed(
                    &obj,
                    ns,
                    format!(
                        "control socket did not answer in time ({e}): {}",
                        log_tail(node_dir, dev)
                    ),
                ));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// A start that went wrong in the teamd process (not in a syscall of ours).
fn failed(obj: &str, ns: &Netns, message: String) -> KernelError {
    KernelError::io(
        format!("{obj} in {}", ns.label()),
        io::Error::other(message),
    )
}

/// If `pid` is our child and has exited, reap it and say how it ended.
fn reap(pid: u32) -> Option<String> {
    match waitpid(Pid::from_raw(pid as i32), Some(WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::Exited(_, code)) => Some(format!("exit status {code}")),
        Ok(WaitStatus::Signaled(_, sig, _)) => Some(format!("killed by {sig}")),
        _ => None,
    }
}

/// Whether process `pid` exists and is a live (not zombie) teamd.
fn is_teamd(pid: u32) -> bool {
    // A zombie child of ours is reaped here, so it reads as gone.
    if reap(pid).is_some() {
        return false;
    }
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // stat is "pid (comm) state ...": comm may hold spaces, so split at the last ')'.
    let Some((head, tail)) = stat.rsplit_once(')') else {
        return false;
    };
    let comm = head.split_once('(').map(|(_, c)| c).unwrap_or("");
    let state = tail.trim_start().chars().next().unwrap_or('X');
    comm == TEAMD && state != 'Z' && state != 'X'
}

/// The pid of the teamd running for `dev` from `node_dir`, if any.
///
/// Reads teamd's pid file and checks that the process is a live teamd, so a
/// stale pid file (teamd killed) or a reused pid reads as "not running".
pub fn running(node_dir: &Path, dev: &str) -> Result<Option<u32>, KernelError> {
    check_dev(dev)?;
    let path = pid_path(node_dir, dev);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(KernelError::io(path.display().to_string(), e)),
    };
    let Ok(pid) = text.trim().parse::<u32>() else {
        return Ok(None);
    };
    Ok(is_teamd(pid).then_some(pid))
}

/// Wait until `pid` is gone, at most `limit`.
fn wait_gone(pid: u32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if !is_teamd(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    !is_teamd(pid)
}

/// SIGTERM (what `teamd -k` sends), then SIGKILL if it does not go in time.
/// Returns whether SIGKILL was needed.
fn stop_pid(pid: u32) -> Result<bool, KernelError> {
    let target = Pid::from_raw(pid as i32);
    match kill(target, Signal::SIGTERM) {
        Ok(()) | Err(Errno::ESRCH) => {}
        Err(e) => return Err(KernelError::io(format!("teamd pid {pid}"), e.into())),
    }
    if wait_gone(pid, STOP_TIMEOUT) {
        return Ok(false);
    }
    match kill(target, Signal::SIGKILL) {
        Ok(()) | Err(Errno::ESRCH) => {}
        Err(e) => return Err(KernelError::io(format!("teamd pid {pid}"), e.into())),
    }
    if wait_gone(pid, STOP_TIMEOUT) {
        Ok(true)
    } else {
        Err(KernelError::io(
            format!("teamd pid {pid}"),
            io::Error::new(io::ErrorKind::TimedOut, "still alive after SIGKILL"),
        ))
    }
}

/// Stop the teamd for `dev` started from `node_dir`; `false` if none ran.
///
/// teamd runs with `-N`, so the team device and its ports stay in place.
/// When it had to be killed, its leftover socket and pid file are removed.
pub fn stop(node_dir: &Path, dev: &str) -> Result<bool, KernelError> {
    let Some(pid) = running(node_dir, dev)? else {
        return Ok(false);
    };
    if stop_pid(pid)? {
        for path in [socket_path(node_dir, dev), pid_path(node_dir, dev)] {
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(KernelError::io(path.display().to_string(), e)),
            }
        }
    }
    Ok(true)
}

/// The team devices with a pid file in `node_dir` (teamd running or not).
pub fn devices(node_dir: &Path) -> Result<Vec<String>, KernelError> {
    let entries = match fs::read_dir(node_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(KernelError::io(node_dir.display().to_string(), e)),
    };
    let mut devs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| KernelError::io(node_dir.display().to_string(), e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        for suffix in [".pid", ".conf"] {
            if let Some(dev) = name.strip_suffix(suffix) {
                if check_dev(dev).is_ok() {
                    devs.push(dev.to_string());
                }
            }
        }
    }
    devs.sort();
    devs.dedup();
    Ok(devs)
}

/// Stop the teamd for `dev` (if it runs) and remove every file netloom and
/// teamd keep for it in `node_dir`; the directory goes when it is empty.
pub fn stop_and_forget(node_dir: &Path, dev: &str) -> Result<bool, KernelError> {
    let stopped = stop(node_dir, dev)?;
    for path in [
        socket_path(node_dir, dev),
        pid_path(node_dir, dev),
        config_path(node_dir, dev),
        setup_path(node_dir, dev),
        log_path(node_dir, dev),
    ] {
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(KernelError::io(path.display().to_string(), e)),
        }
    }
    // Only an empty directory goes (another team of the node may still run).
    let _ = fs::remove_dir(node_dir);
    Ok(stopped)
}

/// What the teamd for `dev` started from `node_dir` reports: runner, active
/// port and each port's link state, read from its control socket.
pub fn state(node_dir: &Path, dev: &str) -> Result<TeamState, KernelError> {
    check_dev(dev)?;
    usock::state_dump(&socket_path(node_dir, dev))
}
