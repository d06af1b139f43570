//! Running a program inside a node's namespace (`netloom exec`), the way
//! `ip netns exec` does: the network namespace of the node, plus a private
//! mount namespace with sysfs remounted so /sys/class/net shows the node's
//! devices, and each file of /etc/netns/NETNS/ bound over its namesake in
//! /etc (iproute2's bind_etc: a DHCP client's resolv.conf, see
//! [`super::resolv`]).
use std::io;
use std::path::Path;
use std::process::{Command, ExitStatus};

use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;

use super::netns::{self, Netns};
use super::sys::{self, Step};
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
    let steps = steps(&ns).map_err(|e| KernelError::io(format!("node {node}"), e))?;
    let mut command = Command::new(program);
    command.args(&cmd[1..]);
    sys::pre_exec(&mut command, steps);
    command.status().map_err(|e| KernelError::io(program, e))
}

/// What the child does before exec: enter the node's network namespace and,
/// where allowed, see that namespace's sysfs in a mount namespace of its own.
fn steps(ns: &Netns) -> io::Result<Vec<Step>> {
    let sys_dir = Path::new("/sys");
    // Nothing is mounted unless the mount namespace is the child's own.
    let mut private = vec![
        Step::Unshare(CloneFlags::CLONE_NEWNS),
        Step::propagation(Path::new("/"), MsFlags::MS_SLAVE | MsFlags::MS_REC)?,
    ];
    if let Some(name) = ns.name() {
        private.extend(etc_binds(name)?);
    }
    // A fresh sysfs is a nicety, not a requirement: skipped when not allowed.
    private.push(Step::Try(vec![
        Step::unmount(sys_dir, MntFlags::MNT_DETACH)?,
        Step::fresh("sysfs", sys_dir)?,
    ]));
    Ok(vec![
        Step::enter(ns.fd(), CloneFlags::CLONE_NEWNET)?,
        Step::Try(private),
    ])
}

/// Bind each file of /etc/netns/NETNS/ over /etc/FILE (in the mount
/// namespace `steps` made), as `ip netns exec` does; files without a
/// namesake in /etc are skipped, as iproute2 warns and skips them.
fn etc_binds(netns: &str) -> io::Result<Vec<Step>> {
    let dir = Path::new(super::resolv::ETC_NETNS).join(netns);
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(out);
    };
    for e in entries.flatten() {
        let target = Path::new("/etc").join(e.file_name());
        if target.exists() {
            out.push(Step::bind(&e.path(), &target)?);
        }
    }
    Ok(out)
}
