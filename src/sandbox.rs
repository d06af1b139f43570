//! Sandboxes for tests and benchmarks: a private network + mount namespace with
//! its own empty /run (so its own /run/netns and netloom state directory).
//!
//! Nothing done inside can touch the machine's interfaces, and when the last
//! process inside exits the kernel tears everything down: a crashed test
//! leaks nothing, parallel tests cannot collide.
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use nix::mount::MsFlags;
use nix::sched::CloneFlags;

use crate::kernel::sys::{self, Step};

/// Environment variable set inside a re-executed test to say "you are sandboxed".
pub const INSIDE: &str = "NETLOOM_SANDBOXED";

/// What a process does to become a sandbox of its own: new network and
/// mount namespaces, mounts not propagated back, a tmpfs on /run, and a
/// sysfs that shows the new network namespace (sysfs shows the namespace it
/// was mounted in), so /sys/class/net lists the sandbox's own devices.
fn private() -> io::Result<Vec<Step>> {
    Ok(vec![
        Step::Unshare(CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWNS),
        Step::propagation(Path::new("/"), MsFlags::MS_REC | MsFlags::MS_PRIVATE)?,
        Step::fresh("tmpfs", Path::new("/run"))?,
        Step::fresh("sysfs", Path::new("/sys"))?,
        // The per-namespace files a DHCP client writes (resolv.conf) stay
        // in the sandbox too.
        Step::fresh("tmpfs", Path::new(ETC_NETNS))?,
    ])
}

/// Where iproute2 keeps per-namespace files (see kernel::resolv).
const ETC_NETNS: &str = crate::kernel::resolv::ETC_NETNS;

/// Configure `cmd` to start inside a brand-new sandbox of its own.
pub fn isolate(cmd: &mut Command) -> &mut Command {
    // The mount point of the sandbox's own /etc/netns: an empty directory,
    // as iproute2 would make it; nothing is ever written to it outside.
    if let Err(e) = std::fs::create_dir_all(ETC_NETNS) {
        panic!("{ETC_NETNS}: {e}");
    }
    sys::pre_exec(cmd, private().expect("static paths without NUL"))
}

/// If not already inside a sandbox, re-run the current test binary's test
/// `name` in a fresh sandbox and return `false` (the caller returns at once);
/// return `true` when the caller is inside and should run the test body.
///
/// Panics (fails the test) when the sandboxed run fails.
pub fn reexec_test(name: &str) -> bool {
    if std::env::var_os(INSIDE).is_some() {
        return true;
    }
    let exe = std::env::current_exe().expect("current test binary");
    let mut cmd = Command::new(exe);
    cmd.args([
        name,
        "--exact",
        "--nocapture",
        "--test-threads=1",
        "--include-ignored",
    ])
    .env(INSIDE, "1");
    isolate(&mut cmd);
    let out = cmd.output().expect("start sandboxed test");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // libtest exits 0 also when the filter matched nothing: insist it ran.
    assert!(
        out.status.success() && text.contains("1 passed"),
        "sandboxed test {name} failed ({}):\n{text}",
        out.status
    );
    false
}

/// Run a test body in a fresh sandbox: `sandboxed!(test_fn_name, { body })`.
#[macro_export]
macro_rules! sandboxed {
    ($name:expr) => {
        if !$crate::sandbox::reexec_test($name) {
            return;
        }
    };
}

/// A long-lived sandbox that several commands can enter one after another,
/// like a person working in one lab. Dropping it kills the holder process,
/// and with it every namespace and device made inside.
pub struct Sandbox {
    holder: Child,
    net: Arc<OwnedFd>,
    mnt: Arc<OwnedFd>,
}

impl Sandbox {
    /// Start a holder process in new network and mount namespaces with a private /run.
    pub fn new() -> io::Result<Sandbox> {
        let mut cmd = Command::new("sleep");
        cmd.arg("100000")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        isolate(&mut cmd);
        let holder = cmd.spawn()?;
        let pid = holder.id();
        // The namespaces exist once the child has exec'd; wait for its mnt ns to differ.
        let own = std::fs::read_link("/proc/self/ns/mnt")?;
        for _ in 0..1000 {
            match std::fs::read_link(format!("/proc/{pid}/ns/mnt")) {
                Ok(l) if l != own => break,
                _ => std::thread::sleep(std::time::Duration::from_millis(2)),
            }
        }
        let net = File::open(format!("/proc/{pid}/ns/net"))?;
        let mnt = File::open(format!("/proc/{pid}/ns/mnt"))?;
        Ok(Sandbox {
            holder,
            net: Arc::new(net.into()),
            mnt: Arc::new(mnt.into()),
        })
    }

    /// A command that will run inside this sandbox.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        // Both before exec, so the program starts wholly inside.
        let steps = vec![
            Step::Enter(self.mnt.clone(), CloneFlags::CLONE_NEWNS),
            Step::Enter(self.net.clone(), CloneFlags::CLONE_NEWNET),
        ];
        sys::pre_exec(&mut cmd, steps);
        cmd
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // Processes started inside that outlive the test (a service a
        // failed test never took down) would keep its namespaces alive:
        // everything still in the sandbox's mount namespace goes too.
        let pid = self.holder.id();
        if let Ok(mnt) = std::fs::read_link(format!("/proc/{pid}/ns/mnt")) {
            kill_inside(&mnt);
        }
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// SIGKILL every process (but this one) whose mount namespace is `mnt`.
fn kill_inside(mnt: &Path) {
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        if std::fs::read_link(format!("/proc/{pid}/ns/mnt")).is_ok_and(|m| m == mnt) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}
