//! Running a program inside a node's namespace (`netloom exec`), the way
//! `ip netns exec` does: the network namespace of the node, plus a private
//! mount namespace with sysfs remounted so /sys/class/net shows the node's devices.
use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus};

use super::netns;
use super::KernelError;
use crate::model;

/// Run `cmd` (program and arguments) inside `node` of topology `topo` and wait for it.
pub fn run(topo: &str, node: &str, cmd: &[String]) -> Result<ExitStatus, KernelError> {
    let Some(program) = cmd.first() else {
        return Err(KernelError::Invalid {
            object: node.to_string(),
            message: "no command given".into(),
        });
    };
    let ns = match model::netns_name(topo, node) {
        None => {
            return Command::new(program)
                .args(&cmd[1..])
                .status()
                .map_err(|e| KernelError::io(program, e))
        }
        Some(name) => netns::open(&name)?.ok_or_else(|| KernelError::Invalid {
            object: format!("node {node}"),
            message: format!("namespace {name} does not exist (is the topology up?)"),
        })?,
    };
    let fd = ns.fd().as_raw_fd();
    let (root, sys, sysfs) = (c("/"), c("/sys"), c("sysfs"));
    let mut command = Command::new(program);
    command.args(&cmd[1..]);
    // SAFETY: only async-signal-safe syscalls on data prepared before fork; `ns`
    // (and so `fd`) stays open until the child has been spawned.
    unsafe {
        command.pre_exec(move || {
            if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // A fresh sysfs is a nicety, not a requirement: skip it when not allowed.
            if libc::unshare(libc::CLONE_NEWNS) == 0
                && libc::mount(
                    std::ptr::null(),
                    root.as_ptr(),
                    std::ptr::null(),
                    libc::MS_SLAVE | libc::MS_REC,
                    std::ptr::null(),
                ) == 0
                && libc::umount2(sys.as_ptr(), libc::MNT_DETACH) == 0
            {
                libc::mount(
                    sysfs.as_ptr(),
                    sys.as_ptr(),
                    sysfs.as_ptr(),
                    0,
                    std::ptr::null(),
                );
            }
            Ok(())
        });
    }
    let status = command.status().map_err(|e| KernelError::io(program, e));
    drop(ns);
    status
}

fn c(s: &str) -> CString {
    CString::new(s).expect("static string without NUL")
}
