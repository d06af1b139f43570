//! Services: the processes netloom starts inside a node besides teamd —
//! dnsmasq, and netloom's own agents (the DHCP client and the LIF watcher,
//! which are this same program run as `netloom agent FILE`).
//!
//! Each service keeps its files in a directory of its own,
//! `<state dir>/services/<netns>/<name>/`: `launch.json` (what it was
//! started with and which program it is), `pid`, `log`, and what it
//! reports (`leases` for dnsmasq, `state.json` for an agent). How a
//! service is found and trusted:
//! - a pid is never trusted alone: the process must be alive (not a
//!   zombie), its /proc/PID/exe must be the program netloom started (a
//!   binary replaced since reads `PATH (deleted)`, still the same program),
//!   and its command line must name this service's own files (dnsmasq its
//!   `--pid-file`, an agent its `launch.json`). A stale pid file (the
//!   process was killed) or a reused pid reads as "not running";
//! - every process runs in a session of its own (a Ctrl-C or a kill of the
//!   `netloom` that started it does not reach it) inside the node's
//!   network namespace;
//! - dnsmasq daemonizes: its first process exits once the daemon has
//!   written its pid file (dnsmasq.c, as libvirt relies on), with its error
//!   on stderr (kept in `log`) when it cannot start. An agent stays in the
//!   foreground and writes its pid file itself once ready (the DHCP client
//!   holds and applied a lease, the LIF watcher placed every LIF); until
//!   then `start` waits, and reports the agent's log if it exits.
//! - stopping is SIGTERM (dnsmasq exits; the DHCP client releases its
//!   lease first), then SIGKILL after [`STOP_TIMEOUT`].
pub mod dnsmasq;

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use super::error::KernelError;
use super::netns::Netns;
use super::sys::{self, Step};
use crate::model::{Service, ServiceReport, ServiceSetup};

/// How long a start may take until the service is ready.
pub const START_TIMEOUT: Duration = Duration::from_secs(15);

/// How long a service gets to exit after SIGTERM before SIGKILL.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// The subcommand of the `netloom` program that runs an agent.
pub const AGENT_VERB: &str = "agent";

/// What netloom started a service with, written (as `launch.json`) before
/// the process starts: an agent reads its setup from it, and observing
/// reads back the setup and the program to expect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Launched {
    /// What the service runs with.
    pub setup: ServiceSetup,
    /// The program started, as /proc/PID/exe must name it.
    pub exe: PathBuf,
    /// The topology.
    pub topology: String,
    /// The node it runs in.
    pub node: String,
}

impl Launched {
    /// Whether the program is netloom itself, run as an agent.
    pub fn is_agent(&self) -> bool {
        !matches!(self.setup, ServiceSetup::Dnsmasq(_))
    }
}

/// `launch.json` of the service in `dir`.
pub fn launch_path(dir: &Path) -> PathBuf {
    dir.join("launch.json")
}

/// The pid file of the service in `dir`.
pub fn pid_path(dir: &Path) -> PathBuf {
    dir.join("pid")
}

/// The log (stdout and stderr, and dnsmasq's log facility) of the service in `dir`.
pub fn log_path(dir: &Path) -> PathBuf {
    dir.join("log")
}

/// What an agent in `dir` reports ([`ServiceReport`] as JSON).
pub fn state_path(dir: &Path) -> PathBuf {
    dir.join("state.json")
}

/// dnsmasq's lease file in `dir`.
pub fn leases_path(dir: &Path) -> PathBuf {
    dir.join("leases")
}

/// A request to an agent in `dir` (see `lif`), and its answer.
pub fn command_path(dir: &Path) -> PathBuf {
    dir.join("command.json")
}

/// The answer to the last request to the agent in `dir`.
pub fn answer_path(dir: &Path) -> PathBuf {
    dir.join("answer.json")
}

/// Whether `name` can be a service's name (it becomes a directory name).
pub fn name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name != "."
        && name != ".."
        && !name.contains(['/', '\0'])
}

fn check_name(name: &str) -> Result<(), KernelError> {
    if name_ok(name) {
        Ok(())
    } else {
        Err(KernelError::Invalid {
            object: format!("service {name:?}"),
            message: "not a valid service name".into(),
        })
    }
}

/// `program` as found on PATH (the real file, links resolved), as
/// /proc/PID/exe will name it.
pub fn program(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .and_then(|p| fs::canonicalize(p).ok())
}

/// Write `text` to `path` through a temporary file and a rename, so a
/// reader sees the old or the new file, never a part.
pub fn write_atomic(path: &Path, text: &str) -> Result<(), KernelError> {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, text).map_err(|e| KernelError::io(tmp.display().to_string(), e))?;
    fs::rename(&tmp, path).map_err(|e| KernelError::io(path.display().to_string(), e))
}

fn read_launch(dir: &Path) -> Option<Launched> {
    let text = fs::read_to_string(launch_path(dir)).ok()?;
    serde_json::from_str(&text).ok()
}

/// The last lines of a service's log, for error messages.
fn log_tail(dir: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut f) = File::open(log_path(dir)) {
        let _ = f.read_to_string(&mut text);
    }
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(6);
    lines[start..].join(" | ")
}

/// Start the service `launched` describes in namespace `ns`, keeping its
/// files in `dir` (one directory per service); a copy that runs from `dir`
/// is stopped first. Returns the pid once the service is ready.
pub fn start(ns: &Netns, dir: &Path, launched: &Launched) -> Result<u32, KernelError> {
    let name = launched.setup.name();
    check_name(&name)?;
    let object = format!("service {name} in {}", ns.label());
    stop(dir)?;
    fs::create_dir_all(dir).map_err(|e| KernelError::io(dir.display().to_string(), e))?;
    let text = serde_json::to_string_pretty(launched).map_err(|e| KernelError::Invalid {
        object: object.clone(),
        message: format!("setup cannot be written: {e}"),
    })?;
    write_atomic(&launch_path(dir), &text)?;
    // A pid file left by a killed process must not pass for readiness.
    for stale in [pid_path(dir), command_path(dir), answer_path(dir)] {
        remove(&stale)?;
    }
    // Appended to: a restart keeps what the service said before.
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path(dir))
        .map_err(|e| KernelError::io(log_path(dir).display().to_string(), e))?;
    let log2 = log
        .try_clone()
        .map_err(|e| KernelError::io(log_path(dir).display().to_string(), e))?;
    let mut cmd = Command::new(&launched.exe);
    match &launched.setup {
        ServiceSetup::Dnsmasq(d) => {
            cmd.args(dnsmasq::args(d, dir));
        }
        _ => {
            cmd.arg(AGENT_VERB).arg(launch_path(dir));
        }
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log2));
    let steps = vec![
        Step::NewSession,
        Step::enter(ns.fd(), CloneFlags::CLONE_NEWNET)
            .map_err(|e| KernelError::io(object.clone(), e))?,
    ];
    sys::pre_exec(&mut cmd, steps);
    let child = cmd
        .spawn()
        .map_err(|e| KernelError::io(format!("{object}: start {}", launched.exe.display()), e))?;
    let pid = child.id();
    // The child outlives this call (and netloom): it is reaped by `reap`
    // below or, once netloom is gone, by init.
    drop(child);
    let deadline = Instant::now() + START_TIMEOUT;
    let failed = |why: String| KernelError::io(object.clone(), io::Error::other(why));
    loop {
        if let Some(status) = reap(pid) {
            if !launched.is_agent() && status == "exit status 0" {
                // dnsmasq's first process is done: the daemon wrote its pid file.
                return running(dir)?.ok_or_else(|| {
                    failed(format!(
                        "dnsmasq started but is not running: {}",
                        log_tail(dir)
                    ))
                });
            }
            return Err(failed(format!(
                "exited during start ({status}): {}",
                log_tail(dir)
            )));
        }
        if launched.is_agent() {
            if let Some(p) = running(dir)? {
                return Ok(p);
            }
        }
        if Instant::now() >= deadline {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
            let _ = reap_wait(pid);
            let _ = stop(dir);
            return Err(failed(format!(
                "not ready within {} s: {}",
                START_TIMEOUT.as_secs(),
                log_tail(dir)
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// If `pid` is our child and has exited, reap it and say how it ended.
fn reap(pid: u32) -> Option<String> {
    match waitpid(Pid::from_raw(pid as i32), Some(WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::Exited(_, code)) => Some(format!("exit status {code}")),
        Ok(WaitStatus::Signaled(_, sig, _)) => Some(format!("killed by {sig}")),
        _ => None,
    }
}

/// Reap our child `pid` once it has gone (after a SIGKILL).
fn reap_wait(pid: u32) -> Option<WaitStatus> {
    waitpid(Pid::from_raw(pid as i32), None).ok()
}

/// Whether process `pid` is alive (not a zombie) and is `launched`'s
/// program started for the service in `dir` (see the module's docs).
fn is_ours(pid: u32, dir: &Path, launched: &Launched) -> bool {
    // A zombie child of ours is reaped here, so it reads as gone.
    if reap(pid).is_some() {
        return false;
    }
    let Ok(exe) = fs::read_link(format!("/proc/{pid}/exe")) else {
        return false;
    };
    let want = launched.exe.as_os_str().to_string_lossy();
    let have = exe.as_os_str().to_string_lossy();
    if have != want && have != format!("{want} (deleted)") {
        return false;
    }
    let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let marker = if launched.is_agent() {
        launch_path(dir)
    } else {
        dnsmasq::pid_arg(dir)
    };
    let marker = marker.as_os_str().to_string_lossy().into_owned();
    let named = cmdline
        .split(|b| *b == 0)
        .any(|arg| String::from_utf8_lossy(arg).ends_with(&marker));
    if !named || !sees(pid, dir) {
        return false;
    }
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // stat is "pid (comm) state ...": comm may hold spaces, so split at the last ')'.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, t)| t.trim_start().chars().next())
        .unwrap_or('X');
    state != 'Z' && state != 'X'
}

/// Whether process `pid` sees this very service directory at `dir`: the
/// same path in another mount namespace (another netloom state directory
/// mounted at /run, as each test sandbox has) is another service, and a
/// process started for it is not ours. Asked through /proc/PID/root, which
/// resolves paths in the process's own mount namespace.
fn sees(pid: u32, dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let ours = launch_path(dir);
    let theirs =
        Path::new(&format!("/proc/{pid}/root")).join(ours.strip_prefix("/").unwrap_or(&ours));
    match (fs::metadata(&ours), fs::metadata(theirs)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// The pid of the service running from `dir`, if it runs and is ours.
pub fn running(dir: &Path) -> Result<Option<u32>, KernelError> {
    let Some(launched) = read_launch(dir) else {
        return Ok(None);
    };
    let path = pid_path(dir);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(KernelError::io(path.display().to_string(), e)),
    };
    let Ok(pid) = text.trim().parse::<u32>() else {
        return Ok(None);
    };
    Ok(is_ours(pid, dir, &launched).then_some(pid))
}

/// Wait until `pid` is no longer the service of `dir`, at most `limit`.
fn wait_gone(pid: u32, dir: &Path, launched: &Launched, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if !is_ours(pid, dir, launched) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    !is_ours(pid, dir, launched)
}

/// How long an agent may take to answer a request.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// Hand the agent running from `dir` a request (`request`, JSON): written
/// to `command.json`, announced with SIGUSR1; its answer (JSON) once
/// `answer.json` appears. Refused when no agent runs there.
pub fn request(dir: &Path, request: &str) -> Result<String, KernelError> {
    let object = format!("service {}", dir.display());
    let Some(pid) = running(dir)? else {
        return Err(KernelError::Invalid {
            object,
            message: "it does not run (`netloom up` starts it)".into(),
        });
    };
    remove(&answer_path(dir))?;
    write_atomic(&command_path(dir), request)?;
    kill(Pid::from_raw(pid as i32), Signal::SIGUSR1)
        .map_err(|e| KernelError::io(object.clone(), e.into()))?;
    let deadline = Instant::now() + ANSWER_TIMEOUT;
    loop {
        match fs::read_to_string(answer_path(dir)) {
            Ok(text) => {
                remove(&command_path(dir))?;
                return Ok(text);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(KernelError::io(answer_path(dir).display().to_string(), e)),
        }
        if Instant::now() >= deadline {
            return Err(KernelError::io(
                object,
                io::Error::new(io::ErrorKind::TimedOut, "no answer"),
            ));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The processes of the service of `dir` that have no pid file yet: a
/// `netloom up` killed while it started one leaves it so (dnsmasq writes
/// its pid file once its daemon runs, an agent once it is ready). Found by
/// program and command line in /proc, as [`running`] checks a pid.
fn strays(dir: &Path, launched: &Launched) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()))
        .filter(|p| *p != std::process::id() && is_ours(*p, dir, launched))
        .collect()
}

/// Stop the service of `dir` (SIGTERM, then SIGKILL): the process its pid
/// file names and any of its processes without one; `false` when none ran.
pub fn stop(dir: &Path) -> Result<bool, KernelError> {
    let Some(launched) = read_launch(dir) else {
        return Ok(false);
    };
    let mut pids: Vec<u32> = running(dir)?.into_iter().collect();
    for p in strays(dir, &launched) {
        if !pids.contains(&p) {
            pids.push(p);
        }
    }
    if pids.is_empty() {
        return Ok(false);
    }
    let object = format!("service {} pid {pids:?}", launched.setup.name());
    for signal in [Signal::SIGTERM, Signal::SIGKILL] {
        for pid in &pids {
            match kill(Pid::from_raw(*pid as i32), signal) {
                Ok(()) | Err(Errno::ESRCH) => {}
                Err(e) => return Err(KernelError::io(object, e.into())),
            }
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        let gone = pids.iter().all(|pid| {
            let left = deadline.saturating_duration_since(Instant::now());
            wait_gone(*pid, dir, &launched, left)
        });
        if gone {
            return Ok(true);
        }
    }
    Err(KernelError::io(
        object,
        io::Error::new(io::ErrorKind::TimedOut, "still alive after SIGKILL"),
    ))
}

fn remove(path: &Path) -> Result<(), KernelError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(KernelError::io(path.display().to_string(), e)),
    }
}

/// Stop the service of `dir` (if it runs), undo what a killed agent could
/// not (the DHCP client's resolv.conf), and remove the directory.
pub fn stop_and_forget(dir: &Path) -> Result<bool, KernelError> {
    let stopped = stop(dir)?;
    if let Some(Launched {
        setup: ServiceSetup::DhcpClient(c),
        ..
    }) = read_launch(dir)
    {
        super::resolv::forget(&c.netns)?;
    }
    match fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(KernelError::io(dir.display().to_string(), e)),
    }
    Ok(stopped)
}

/// The names of the services with a directory in `node_dir` (running or not).
pub fn names(node_dir: &Path) -> Result<Vec<String>, KernelError> {
    let entries = match fs::read_dir(node_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(KernelError::io(node_dir.display().to_string(), e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| KernelError::io(node_dir.display().to_string(), e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name_ok(&name) && entry.path().is_dir() {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// The services of `node_dir` that run, each with its setup, pid and report.
pub fn observe(node_dir: &Path) -> Result<BTreeMap<String, Service>, KernelError> {
    let mut out = BTreeMap::new();
    for name in names(node_dir)? {
        let dir = node_dir.join(&name);
        let Some(pid) = running(&dir)? else { continue };
        let Some(launched) = read_launch(&dir) else {
            continue;
        };
        let report = match &launched.setup {
            ServiceSetup::Dnsmasq(_) => Some(ServiceReport::Leases(dnsmasq::leases(&dir))),
            _ => fs::read_to_string(state_path(&dir))
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok()),
        };
        out.insert(
            name,
            Service {
                setup: launched.setup,
                pid: Some(pid),
                report,
            },
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_would_leave_the_directory_are_refused() {
        assert!(name_ok("dnsmasq-lxcbr0") && name_ok("dhcp-eth0.100") && name_ok("lif"));
        for bad in ["", ".", "..", "a/b", "a\0b"] {
            assert!(!name_ok(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_pid_file_naming_another_program_is_not_running() {
        let dir = std::env::temp_dir().join(format!("netloom-svc-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let launched = Launched {
            setup: ServiceSetup::LifWatch(crate::model::service::LifSetup { lifs: vec![] }),
            exe: PathBuf::from("/nonexistent/netloom"),
            topology: "t".into(),
            node: "a".into(),
        };
        write_atomic(
            &launch_path(&dir),
            &serde_json::to_string(&launched).unwrap(),
        )
        .unwrap();
        // Our own pid: alive, but /proc/self/exe is the test binary.
        fs::write(pid_path(&dir), std::process::id().to_string()).unwrap();
        assert_eq!(running(&dir).unwrap(), None);
        // Our own program, but a command line that does not name the service.
        let me = Launched {
            exe: fs::read_link("/proc/self/exe").unwrap(),
            ..launched
        };
        write_atomic(&launch_path(&dir), &serde_json::to_string(&me).unwrap()).unwrap();
        assert_eq!(running(&dir).unwrap(), None);
        assert!(!stop(&dir).unwrap());
        stop_and_forget(&dir).unwrap();
        assert!(!dir.exists());
    }
}
