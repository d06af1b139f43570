//! Running and timing processes inside a sandbox: wall time from spawn to
//! exit, the child's own peak RSS (wait4), a timeout that kills the whole
//! process group, and the two "done" conditions every method is timed to:
//! container 1 reaches container N, and nothing of the topology is left.
use std::fs::OpenOptions;
use std::io::{self, Read, Seek, SeekFrom};
use std::net::Ipv4Addr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use netloom::sandbox::Sandbox;

/// How one process ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Wall time from just before spawn to its exit being reaped.
    pub elapsed: Duration,
    /// Exit status 0.
    pub ok: bool,
    /// Status in words, plus the tail of its output when it failed.
    pub detail: String,
    /// Peak resident set of the process (and its waited-for children), KiB.
    pub maxrss_kb: i64,
}

/// The last `max` bytes of `log` from offset `from`, as one line.
fn tail(log: &Path, from: u64, max: u64) -> String {
    let Ok(mut f) = std::fs::File::open(log) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(max).max(from);
    let mut buf = String::new();
    if f.seek(SeekFrom::Start(start)).is_ok() {
        let _ = f.read_to_string(&mut buf);
    }
    buf.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Run `cmd` to completion (stdout+stderr appended to `log`), killing its
/// process group after `timeout`.
pub fn run(mut cmd: Command, log: &Path, timeout: Duration) -> io::Result<Outcome> {
    let out = OpenOptions::new().create(true).append(true).open(log)?;
    let from = out.metadata()?.len();
    cmd.stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .process_group(0);
    let start = Instant::now();
    let child = cmd.spawn()?;
    let pid = child.id() as libc::pid_t;
    // The std Child is left unreaped on purpose: wait4 below reaps it and
    // returns its rusage, which Child::wait would discard.
    drop(child);
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut status: libc::c_int = 0;
        // SAFETY: a zeroed rusage is a valid value for the kernel to fill.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        let r = loop {
            // SAFETY: plain syscall on our own child with valid out-pointers.
            let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
            if r == -1 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            break r;
        };
        let _ = tx.send((r, status, ru.ru_maxrss, start.elapsed()));
    });
    let (got, timed_out) = match rx.recv_timeout(timeout) {
        Ok(v) => (v, false),
        Err(_) => {
            // SAFETY: signalling the process group we created for this child.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
            match rx.recv() {
                Ok(v) => (v, true),
                Err(_) => return Err(io::Error::other("waiter thread vanished")),
            }
        }
    };
    let (r, status, maxrss_kb, elapsed) = got;
    if r == -1 {
        return Err(io::Error::other(format!("wait4({pid}) failed")));
    }
    let ok = !timed_out && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    let mut detail = if timed_out {
        format!("timed out after {:.0} s", timeout.as_secs_f64())
    } else if libc::WIFEXITED(status) {
        format!("exit {}", libc::WEXITSTATUS(status))
    } else {
        format!("signal {}", libc::WTERMSIG(status))
    };
    if !ok {
        let t = tail(log, from, 300);
        if !t.is_empty() {
            detail = format!("{detail}: {t}");
        }
    }
    Ok(Outcome {
        elapsed,
        ok,
        detail,
        maxrss_kb,
    })
}

/// Ping from inside netns `ns` (a name under the sandbox's /run/netns) to
/// `to`, every 10 ms, until the first reply or `deadline` s; `Ok` is the
/// ping process's own wall time.
pub fn reach(
    sb: &Sandbox,
    ns: &str,
    to: Ipv4Addr,
    deadline: u32,
    log: &Path,
) -> io::Result<Result<Duration, String>> {
    let mut cmd = sb.command("nsenter");
    // -c1 with -w: ping keeps sending until one reply arrives or the deadline.
    cmd.arg(format!("--net=/run/netns/{ns}"))
        .args(["ping", "-n", "-q", "-c1", "-i", "0.01", "-w"])
        .arg(deadline.to_string())
        .arg(to.to_string());
    let o = run(cmd, log, Duration::from_secs(u64::from(deadline) + 10))?;
    Ok(if o.ok {
        Ok(o.elapsed)
    } else {
        Err(format!("{ns} -> {to} unreachable ({})", o.detail))
    })
}

/// A sleeping process inside the sandbox, through whose /proc/PID/root the
/// bench reads the sandbox's own /sys/class/net and /run/netns.
pub struct Anchor {
    child: Child,
    root: PathBuf,
}

impl Anchor {
    /// Start the anchor in `sb`.
    pub fn start(sb: &Sandbox) -> io::Result<Anchor> {
        let child = sb
            .command("sleep")
            .arg("1000000")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let root = PathBuf::from(format!("/proc/{}/root", child.id()));
        Ok(Anchor { child, root })
    }

    /// Links other than lo in the sandbox's namespace, and netns files left.
    pub fn leftovers(&self) -> io::Result<(usize, usize)> {
        let links = std::fs::read_dir(self.root.join("sys/class/net"))?
            .filter_map(Result::ok)
            .filter(|e| e.file_name() != "lo")
            .count();
        let netns = match std::fs::read_dir(self.root.join("run/netns")) {
            Ok(d) => d.count(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e),
        };
        Ok((links, netns))
    }

    /// Poll every 2 ms until nothing is left or `timeout`; `Err` says what stayed.
    pub fn wait_empty(&self, timeout: Duration) -> io::Result<Result<(), String>> {
        let start = Instant::now();
        loop {
            let (links, netns) = self.leftovers()?;
            if links == 0 && netns == 0 {
                return Ok(Ok(()));
            }
            if start.elapsed() > timeout {
                return Ok(Err(format!(
                    "{links} links and {netns} netns still there after {:.0} s",
                    timeout.as_secs_f64()
                )));
            }
            thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Drop for Anchor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Busy and total jiffies of all CPUs so far (/proc/stat's `cpu` line).
fn cpu_jiffies() -> io::Result<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let line = stat.lines().next().unwrap_or_default();
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal: idle and iowait are not busy.
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    Ok((total - idle, total))
}

/// Wait until the CPUs were at least 90 % idle over a second, at most
/// `max`; returns whether they were. A trial starts on a quiet machine:
/// the kernel destroys namespaces in the background long after their
/// links are gone, and that work must not land on the next trial.
pub fn wait_quiet(max: Duration) -> io::Result<bool> {
    let start = Instant::now();
    while start.elapsed() < max {
        let (b0, t0) = cpu_jiffies()?;
        thread::sleep(Duration::from_secs(1));
        let (b1, t1) = cpu_jiffies()?;
        if (b1 - b0) * 10 <= t1 - t0 {
            return Ok(true);
        }
    }
    Ok(false)
}
