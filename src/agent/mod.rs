//! Agents: the bodies of the services that are netloom itself, run as
//! `netloom agent <state dir>/services/<netns>/<name>/launch.json` inside
//! the node's namespace (see [`crate::kernel::service`], which starts,
//! identifies and stops them): the DHCP client ([`dhcp`]) and the LIF
//! watcher ([`lif`]).
//!
//! An agent is one thread waiting in poll(2) on its sockets and a signalfd
//! (SIGTERM and SIGINT stop it, SIGUSR1 hands it a request): it sleeps
//! until the kernel, a server or netloom has something for it. It reports
//! what it holds in `state.json` and writes its `pid` file once ready;
//! `netloom` reads both (see kernel::service::observe).
pub mod dhcp;
pub mod lif;
mod net;

use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use crate::kernel::service::{self, Launched};
use crate::kernel::KernelError;
use crate::model::{ServiceReport, ServiceSetup};

/// Why an agent stopped other than by being asked to.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The kernel refused something, or a file could not be used.
    #[error(transparent)]
    Kernel(#[from] KernelError),
    /// A system call failed.
    #[error("{what}: {source}")]
    Sys {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The launch file does not describe an agent.
    #[error("{0}")]
    Setup(String),
}

impl AgentError {
    /// A failed system call, with what was being done.
    pub fn sys(what: impl Into<String>, e: impl Into<std::io::Error>) -> Self {
        AgentError::Sys {
            what: what.into(),
            source: e.into(),
        }
    }
}

/// What woke an agent up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// Its socket has something to read.
    Socket,
    /// SIGTERM or SIGINT: stop.
    Stop,
    /// SIGUSR1: a request waits in `command.json`.
    Request,
    /// The time it waited for has come.
    Time,
}

/// An agent's directory, launch description and signals.
pub struct Ctx {
    /// The service directory (where `launch.json` is).
    pub dir: PathBuf,
    /// What it was started with.
    pub launched: Launched,
    signals: SignalFd,
}

impl Ctx {
    /// Wait until `socket` is readable, a signal comes, or `until` passes.
    pub fn wait(
        &mut self,
        socket: Option<BorrowedFd<'_>>,
        until: Option<Instant>,
    ) -> Result<Wake, AgentError> {
        loop {
            let timeout = match until {
                None => PollTimeout::NONE,
                Some(t) => {
                    let left = t.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(Wake::Time);
                    }
                    // Round up: waking a little late beats spinning early.
                    let ms = left.as_millis().saturating_add(1).min(60_000) as u16;
                    PollTimeout::from(ms)
                }
            };
            let mut fds = vec![PollFd::new(self.signals.as_fd(), PollFlags::POLLIN)];
            if let Some(s) = socket {
                fds.push(PollFd::new(s, PollFlags::POLLIN));
            }
            match poll(&mut fds, timeout) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(AgentError::sys("poll", e)),
            }
            let ready = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
            if ready(&fds[0]) {
                if let Some(info) = self
                    .signals
                    .read_signal()
                    .map_err(|e| AgentError::sys("read signalfd", e))?
                {
                    match Signal::try_from(info.ssi_signo as i32) {
                        Ok(Signal::SIGUSR1) => return Ok(Wake::Request),
                        Ok(Signal::SIGTERM | Signal::SIGINT) => return Ok(Wake::Stop),
                        _ => continue,
                    }
                }
            }
            if fds.len() > 1 && ready(&fds[1]) {
                return Ok(Wake::Socket);
            }
            if until.is_some_and(|t| Instant::now() >= t) {
                return Ok(Wake::Time);
            }
        }
    }

    /// Report `report` in `state.json`.
    pub fn report(&self, report: &ServiceReport) -> Result<(), AgentError> {
        let text = serde_json::to_string_pretty(report)
            .map_err(|e| AgentError::Setup(format!("report cannot be written: {e}")))?;
        Ok(service::write_atomic(
            &service::state_path(&self.dir),
            &text,
        )?)
    }

    /// Say "ready": write the pid file (what `netloom` waits for).
    pub fn ready(&self) -> Result<(), AgentError> {
        let pid = std::process::id().to_string();
        Ok(service::write_atomic(&service::pid_path(&self.dir), &pid)?)
    }
}

/// Seconds since the epoch.
pub fn now_epoch() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Run the agent described by `launch` (a `launch.json`) until stopped.
pub fn run(launch: &Path) -> Result<(), AgentError> {
    let text = std::fs::read_to_string(launch)
        .map_err(|e| AgentError::sys(format!("read {}", launch.display()), e))?;
    let launched: Launched = serde_json::from_str(&text)
        .map_err(|e| AgentError::Setup(format!("{}: {e}", launch.display())))?;
    let dir = launch
        .parent()
        .ok_or_else(|| AgentError::Setup("launch file without a directory".into()))?
        .to_path_buf();
    // Signals are taken through a signalfd only: blocked before anything
    // else (the agent has one thread), so none is lost in between.
    let mut mask = SigSet::empty();
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGUSR1] {
        mask.add(s);
    }
    mask.thread_block()
        .map_err(|e| AgentError::sys("block signals", e))?;
    let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(|e| AgentError::sys("signalfd", e))?;
    let setup = launched.setup.clone();
    let mut cx = Ctx {
        dir,
        launched,
        signals,
    };
    match setup {
        ServiceSetup::DhcpClient(c) => dhcp::run(&mut cx, &c),
        ServiceSetup::LifWatch(l) => lif::run(&mut cx, &l),
        ServiceSetup::Dnsmasq(_) => Err(AgentError::Setup(
            "dnsmasq is not an agent of netloom".into(),
        )),
    }
}

/// A short pause (used between retries of a failed system call).
pub fn pause() -> Duration {
    Duration::from_millis(100)
}
