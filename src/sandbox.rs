//! Sandboxes for tests and benchmarks: a private network + mount namespace with
//! its own empty /run (so its own /run/netns and netloom state directory).
//!
//! Nothing done inside can touch the machine's interfaces, and when the last
//! process inside exits the kernel tears everything down: a crashed test
//! leaks nothing, parallel tests cannot collide.
use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

/// Environment variable set inside a re-executed test to say "you are sandboxed".
pub const INSIDE: &str = "NETLOOM_SANDBOXED";

/// Paths prepared before fork (allocation is not allowed after it).
struct Paths {
    run: CString,
    tmpfs: CString,
    root: CString,
    sys: CString,
    sysfs: CString,
}

/// Make the calling (freshly forked, single-threaded) process private: new
/// network and mount namespaces, mounts not propagated back, a tmpfs on /run.
///
/// Only async-signal-safe calls: it runs between fork and exec.
fn unshare_private(p: &Paths) -> io::Result<()> {
    let (run, tmpfs, root, sys, sysfs) = (&p.run, &p.tmpfs, &p.root, &p.sys, &p.sysfs);
    // SAFETY: plain syscalls on valid NUL-terminated strings prepared before fork.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNET | libc::CLONE_NEWNS) != 0 {
            return Err(io::Error::last_os_error());
        }
        if libc::mount(
            std::ptr::null(),
            root.as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ) != 0
        {
            return Err(io::Error::last_os_error());
        }
        if libc::mount(
            tmpfs.as_ptr(),
            run.as_ptr(),
            tmpfs.as_ptr(),
            0,
            std::ptr::null(),
        ) != 0
        {
            return Err(io::Error::last_os_error());
        }
        // sysfs shows the network namespace it was mounted in: remount it so
        // /sys/class/net lists the sandbox's own devices.
        if libc::mount(
            sysfs.as_ptr(),
            sys.as_ptr(),
            sysfs.as_ptr(),
            0,
            std::ptr::null(),
        ) != 0
        {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Configure `cmd` to start inside a brand-new sandbox of its own.
pub fn isolate(cmd: &mut Command) -> &mut Command {
    let p = Paths {
        run: CString::new("/run").expect("static"),
        tmpfs: CString::new("tmpfs").expect("static"),
        root: CString::new("/").expect("static"),
        sys: CString::new("/sys").expect("static"),
        sysfs: CString::new("sysfs").expect("static"),
    };
    // SAFETY: the closure only makes async-signal-safe syscalls.
    unsafe { cmd.pre_exec(move || unshare_private(&p)) }
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
    // --include-ignored: the parent already chose to run this test; a test
    // #[ignore]d on the host (run in the VM with --include-ignored) must run
    // here too instead of being skipped again.
    cmd.args([
        name,
        "--exact",
        "--include-ignored",
        "--nocapture",
        "--test-threads=1",
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
    net: File,
    mnt: File,
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
        Ok(Sandbox { holder, net, mnt })
    }

    /// A command that will run inside this sandbox.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        let net = self.net.as_raw_fd();
        let mnt = self.mnt.as_raw_fd();
        // SAFETY: setns is a plain syscall on fds that stay open while `self` lives.
        unsafe {
            cmd.pre_exec(move || {
                // Both before exec, so the program starts wholly inside.
                if libc::setns(mnt, libc::CLONE_NEWNS) != 0
                    || libc::setns(net, libc::CLONE_NEWNET) != 0
                {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        cmd
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}
