//! The unsafe room: the system calls that neither std nor nix offers as a
//! safe function, each wrapped here in one that is, with the argument for
//! its soundness beside it. The crate denies `unsafe` everywhere else (see
//! lib.rs); the probes' raw packet socket is the only other room
//! (`verify::probe::packet`).
//!
//! - [`pre_exec`]: what a child does between fork and exec (enter a
//!   namespace, unshare, mount), for every program netloom starts in a node
//!   (`exec`, nft, teamd) and for the test sandbox.
//! - [`adopt`]: a netlink socket handed to tokio.
//! - ioctls: [`tun_attach`] and [`tun_set`] (tun/tap), [`pending`] (bytes
//!   waiting on a socket), [`ns_type`] (what kind of namespace a file is),
//!   [`ethtool_driver`] (the driver behind a network device).
//! - [`detached_proc`]: a procfs instance mounted nowhere (fsopen/fsmount).
use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;
use rtnetlink::sys::{Socket, TokioSocket};

/// One thing a child process does between fork and exec. Its data is made
/// before fork, because nothing may allocate in between.
#[derive(Debug, Clone)]
pub enum Step {
    /// setsid(2): a session of its own, so a Ctrl-C meant for netloom does
    /// not reach it.
    NewSession,
    /// setns(2) into the namespace of this descriptor, of this kind
    /// (`CLONE_NEWNET`, `CLONE_NEWNS`). The descriptor is held by the step,
    /// so it is open when the child forks; it is close-on-exec.
    Enter(Arc<OwnedFd>, CloneFlags),
    /// unshare(2) of these namespaces.
    Unshare(CloneFlags),
    /// mount(2): `source` on `target`, of type `fstype`, with `flags`.
    Mount {
        /// What to mount (a device, a directory to bind, a filesystem's name).
        source: Option<CString>,
        /// Where.
        target: CString,
        /// The filesystem type, if any.
        fstype: Option<CString>,
        /// MS_* flags.
        flags: MsFlags,
    },
    /// umount2(2) of `target`.
    Unmount {
        /// The mount point.
        target: CString,
        /// MNT_* flags.
        flags: MntFlags,
    },
    /// These steps in order, stopping quietly at the first that fails: for
    /// what is a nicety, not a requirement.
    Try(Vec<Step>),
}

impl Step {
    /// Enter the namespace of kind `kind` behind `ns` (a duplicate of the
    /// descriptor is held).
    pub fn enter(ns: impl AsFd, kind: CloneFlags) -> io::Result<Step> {
        Ok(Step::Enter(
            Arc::new(ns.as_fd().try_clone_to_owned()?),
            kind,
        ))
    }

    /// Mount a fresh instance of filesystem `fs` (`sysfs`, `tmpfs`) on `target`.
    pub fn fresh(fs: &str, target: &Path) -> io::Result<Step> {
        Ok(Step::Mount {
            source: Some(c_string(fs)?),
            target: c_string(target)?,
            fstype: Some(c_string(fs)?),
            flags: MsFlags::empty(),
        })
    }

    /// Bind-mount `source` on `target`.
    pub fn bind(source: &Path, target: &Path) -> io::Result<Step> {
        Ok(Step::Mount {
            source: Some(c_string(source)?),
            target: c_string(target)?,
            fstype: None,
            flags: MsFlags::MS_BIND,
        })
    }

    /// Change the propagation of the mounts at and below `target`
    /// (`MS_PRIVATE`, `MS_SLAVE`, with `MS_REC`).
    pub fn propagation(target: &Path, flags: MsFlags) -> io::Result<Step> {
        Ok(Step::Mount {
            source: None,
            target: c_string(target)?,
            fstype: None,
            flags,
        })
    }

    /// Unmount `target`.
    pub fn unmount(target: &Path, flags: MntFlags) -> io::Result<Step> {
        Ok(Step::Unmount {
            target: c_string(target)?,
            flags,
        })
    }

    /// Take this step, in the child.
    fn take(&self) -> io::Result<()> {
        match self {
            Step::NewSession => drop(nix::unistd::setsid()?),
            Step::Enter(fd, kind) => nix::sched::setns(fd.as_fd(), *kind)?,
            Step::Unshare(kinds) => nix::sched::unshare(*kinds)?,
            Step::Mount {
                source,
                target,
                fstype,
                flags,
            } => nix::mount::mount(
                source.as_deref(),
                target.as_c_str(),
                fstype.as_deref(),
                *flags,
                None::<&std::ffi::CStr>,
            )?,
            Step::Unmount { target, flags } => nix::mount::umount2(target.as_c_str(), *flags)?,
            Step::Try(steps) => {
                let _ = take_all(steps);
            }
        }
        Ok(())
    }
}

/// `s` as a C string; a NUL byte inside is refused.
fn c_string(s: impl AsRef<OsStr>) -> io::Result<CString> {
    CString::new(s.as_ref().as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{:?} contains a NUL byte", s.as_ref()),
        )
    })
}

/// Take `steps` in order; the first failure stops them.
fn take_all(steps: &[Step]) -> io::Result<()> {
    steps.iter().try_for_each(Step::take)
}

/// Make the child of `cmd` take `steps` between fork and exec; a step that
/// fails makes the spawn fail with its errno. The one place where netloom
/// runs code in a forked child.
pub fn pre_exec(cmd: &mut Command, steps: Vec<Step>) -> &mut Command {
    // SAFETY: the closure runs in the forked child of a possibly
    // multi-threaded process, where only async-signal-safe work is allowed.
    // `take_all` makes nothing but system calls (setsid, setns, unshare,
    // mount, umount2) through nix's thin wrappers, on C strings and
    // descriptors the closure owns (made before fork; CStr paths are passed
    // to the kernel without copying), and allocates nothing: an error is an
    // errno turned into an io::Error, which does not allocate either.
    unsafe { cmd.pre_exec(move || take_all(&steps)) }
}

/// The tokio netlink socket owning the descriptor of `socket`.
pub fn adopt(socket: Socket) -> TokioSocket {
    // SAFETY: `into_raw_fd` takes the descriptor out of the Socket that
    // owned it, so the TokioSocket becomes its only owner.
    unsafe { TokioSocket::from_raw_fd(socket.into_raw_fd()) }
}

// ioctl numbers from <linux/if_tun.h>: _IOW('T', nr, int).
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const TUNSETPERSIST: libc::c_ulong = 0x4004_54cb;
const TUNSETOWNER: libc::c_ulong = 0x4004_54cc;
const TUNSETGROUP: libc::c_ulong = 0x4004_54ce;

/// `struct ifreq` as TUNSETIFF reads it: the name, then the flags (the rest
/// of the union is padding the kernel copies but does not use here).
#[repr(C)]
struct IfReq {
    name: [libc::c_char; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// TUNSETIFF: make `tun` (an open /dev/net/tun) the device `name`, created
/// with `flags` (IFF_TUN or IFF_TAP, IFF_NO_PI, IFF_MULTI_QUEUE) if it does
/// not exist, in the namespace /dev/net/tun was opened in.
pub fn tun_attach(tun: &File, name: &str, flags: libc::c_short) -> io::Result<()> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains('\0') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "an interface name has 1 to 15 bytes",
        ));
    }
    let mut req = IfReq {
        name: [0; libc::IFNAMSIZ],
        flags,
        _pad: [0; 22],
    };
    for (d, s) in req.name.iter_mut().zip(name.bytes()) {
        *d = s as libc::c_char;
    }
    // SAFETY: `req` is a valid, NUL-terminated ifreq as large as the kernel
    // reads and writes for TUNSETIFF, and it outlives the call; the
    // descriptor is borrowed from an open File.
    let rc = unsafe { libc::ioctl(tun.as_raw_fd(), TUNSETIFF, &mut req as *mut IfReq) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A setting of an attached tun/tap device (see [`tun_set`]).
#[derive(Debug, Clone, Copy)]
pub enum TunSetting {
    /// TUNSETOWNER: the user allowed to attach.
    Owner(u32),
    /// TUNSETGROUP: the group allowed to attach.
    Group(u32),
    /// TUNSETPERSIST: whether the device outlives its last descriptor.
    Persist(bool),
}

/// Apply `setting` to the device `tun` is attached to (see [`tun_attach`]).
pub fn tun_set(tun: &File, setting: TunSetting) -> io::Result<()> {
    let (nr, arg): (libc::c_ulong, libc::c_ulong) = match setting {
        TunSetting::Owner(uid) => (TUNSETOWNER, uid.into()),
        TunSetting::Group(gid) => (TUNSETGROUP, gid.into()),
        TunSetting::Persist(on) => (TUNSETPERSIST, on.into()),
    };
    // SAFETY: each of these requests takes a plain integer argument (no
    // pointer), and the descriptor is borrowed from an open File.
    let rc = unsafe { libc::ioctl(tun.as_raw_fd(), nr, arg) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// FIONREAD (SIOCINQ): the bytes waiting on socket `fd`; for a SEQPACKET
/// socket, the length of the next packet.
pub fn pending(fd: BorrowedFd<'_>) -> io::Result<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int through the valid pointer given; the
    // descriptor is borrowed, so open.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut n) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(usize::try_from(n).unwrap_or(0))
}

/// NS_GET_NSTYPE (linux/nsfs.h, `_IO(0xb7, 0x3)`): the CLONE_NEW* kind of
/// the namespace behind `fd`, which must be an nsfs file (ENOTTY otherwise).
pub fn ns_type(fd: BorrowedFd<'_>) -> io::Result<libc::c_int> {
    const NS_GET_NSTYPE: libc::c_ulong = 0xb703;
    // SAFETY: NS_GET_NSTYPE takes no argument and returns the type as the
    // call's result; the descriptor is borrowed, so open.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), NS_GET_NSTYPE) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(rc)
}

/// ETHTOOL_GDRVINFO through SIOCETHTOOL on socket `sock`: the name of the
/// driver of device `ifname` in the socket's namespace (struct
/// ethtool_drvinfo, linux/ethtool.h: cmd, then driver[32]).
pub fn ethtool_driver(sock: BorrowedFd<'_>, ifname: &str) -> io::Result<String> {
    const SIOCETHTOOL: libc::c_ulong = 0x8946;
    const ETHTOOL_GDRVINFO: u32 = 0x0000_0003;
    /// struct ethtool_drvinfo: 196 bytes, u32-aligned.
    #[repr(C)]
    struct DrvInfo {
        cmd: u32,
        driver: [u8; 32],
        rest: [u8; 160],
    }
    /// struct ifreq with ifr_data.
    #[repr(C)]
    struct IfReq {
        name: [u8; libc::IFNAMSIZ],
        data: *mut DrvInfo,
        _pad: [u8; 16],
    }
    let b = ifname.as_bytes();
    if b.is_empty() || b.len() >= libc::IFNAMSIZ || b.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "bad interface name",
        ));
    }
    let mut info = DrvInfo {
        cmd: ETHTOOL_GDRVINFO,
        driver: [0; 32],
        rest: [0; 160],
    };
    let mut req = IfReq {
        name: [0; libc::IFNAMSIZ],
        data: &mut info,
        _pad: [0; 16],
    };
    req.name[..b.len()].copy_from_slice(b);
    // SAFETY: SIOCETHTOOL reads the NUL-terminated name and the pointer in
    // `req`, and writes at most one struct ethtool_drvinfo through it; both
    // live on this stack frame for the whole call; the socket is borrowed.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), SIOCETHTOOL, &mut req) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    let end = info.driver.iter().position(|&c| c == 0).unwrap_or(32);
    Ok(String::from_utf8_lossy(&info.driver[..end]).into_owned())
}

/// A fresh procfs instance mounted nowhere (fsopen(2)/fsconfig/fsmount(2)),
/// held by the returned descriptor and gone when it is closed.
pub fn detached_proc() -> io::Result<OwnedFd> {
    const FSOPEN_CLOEXEC: libc::c_long = 1;
    const FSCONFIG_CMD_CREATE: libc::c_long = 6;
    const FSMOUNT_CLOEXEC: libc::c_long = 1;
    // SAFETY: fsopen reads the NUL-terminated name given; a descriptor it
    // returns is new and owned by nobody, so wrapping it at once is sound.
    let fs = unsafe { libc::syscall(libc::SYS_fsopen, c"proc".as_ptr(), FSOPEN_CLOEXEC) };
    if fs < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above: `fs` is a fresh descriptor.
    let fs = unsafe { OwnedFd::from_raw_fd(fs as i32) };
    let null = std::ptr::null::<libc::c_char>();
    let fd = fs.as_raw_fd() as libc::c_long;
    // SAFETY: FSCONFIG_CMD_CREATE takes no key, value or aux (null, null, 0)
    // on the open filesystem context `fd`.
    if unsafe { libc::syscall(libc::SYS_fsconfig, fd, FSCONFIG_CMD_CREATE, null, null, 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fsmount takes the open context `fd` and plain integer flags.
    let m = unsafe { libc::syscall(libc::SYS_fsmount, fd, FSMOUNT_CLOEXEC, 0) };
    if m < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `m` is a fresh mount descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(m as i32) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_with_nul_is_refused_before_fork() {
        let e = Step::bind(Path::new("/a\0b"), Path::new("/c")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(Step::fresh("sysfs", Path::new("/sys")).is_ok());
    }

    /// A failing step fails the spawn with its errno, and a failing step
    /// inside `Try` does not.
    #[test]
    fn a_failing_step_fails_the_spawn_unless_tried() {
        let bad = || Step::unmount(Path::new("/nonexistent-netloom"), MntFlags::empty());
        let mut cmd = Command::new("true");
        pre_exec(&mut cmd, vec![bad().unwrap()]);
        let err = cmd.status().unwrap_err();
        // umount2 of a path that does not exist: ENOENT (EPERM without privilege).
        assert!(
            matches!(err.raw_os_error(), Some(libc::ENOENT | libc::EPERM)),
            "{err}"
        );
        let mut cmd = Command::new("true");
        pre_exec(&mut cmd, vec![Step::Try(vec![bad().unwrap()])]);
        assert!(cmd.status().unwrap().success());
    }

    #[test]
    fn tun_names_are_checked_before_the_ioctl() {
        let f = File::open("/dev/null").unwrap();
        for bad in ["", "sixteen-bytes-xx", "a\0b"] {
            let e = tun_attach(&f, bad, libc::IFF_TAP as libc::c_short).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{bad:?}");
        }
    }

    #[test]
    fn ns_type_tells_a_network_namespace_from_others() {
        let net = File::open("/proc/self/ns/net").unwrap();
        assert_eq!(ns_type(net.as_fd()).unwrap(), libc::CLONE_NEWNET);
        let mnt = File::open("/proc/self/ns/mnt").unwrap();
        assert_eq!(ns_type(mnt.as_fd()).unwrap(), libc::CLONE_NEWNS);
        let plain = File::open("/proc/self/status").unwrap();
        assert!(ns_type(plain.as_fd()).is_err());
    }

    #[test]
    fn ethtool_names_the_loopback_driver_or_says_it_has_none() {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        // The loopback device has no get_drvinfo: the kernel still answers
        // (ethtool_get_drvinfo falls back to the bus or an empty driver).
        let r = ethtool_driver(sock.as_fd(), "lo");
        assert!(
            r.is_ok() || r.as_ref().unwrap_err().raw_os_error() == Some(libc::EOPNOTSUPP),
            "{r:?}"
        );
        let e = ethtool_driver(sock.as_fd(), "no-such-dev0").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENODEV));
        assert!(ethtool_driver(sock.as_fd(), "").is_err());
    }

    #[test]
    fn pending_counts_a_waiting_packet() {
        use std::os::unix::net::UnixDatagram;
        let (a, b) = UnixDatagram::pair().unwrap();
        assert_eq!(pending(b.as_fd()).unwrap(), 0);
        a.send(b"hello").unwrap();
        assert_eq!(pending(b.as_fd()).unwrap(), 5);
    }
}
