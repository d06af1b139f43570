//! tun/tap devices: made with the TUNSETIFF ioctl on /dev/net/tun, because the
//! kernel refuses to create them over rtnetlink.
use std::fs::OpenOptions;
use std::io;
use std::os::fd::AsRawFd;

use crate::kernel::error::KernelError;
use crate::kernel::netns::{self, Netns};
use crate::model::TunOptions;

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

/// Create the persistent tun or tap device `name` inside namespace `ns`
/// with the owner, group and multi-queue setting of `o`.
pub fn create(ns: &Netns, name: &str, o: &TunOptions) -> Result<(), KernelError> {
    let object = format!("{}/{name}", ns.label());
    let mut flags = match o.mode.as_str() {
        "tun" => libc::IFF_TUN,
        "tap" => libc::IFF_TAP,
        m => {
            return Err(KernelError::Invalid {
                object,
                message: format!("tun mode `{m}` is neither tun nor tap"),
            })
        }
    };
    flags |= libc::IFF_NO_PI;
    if o.multi_queue == Some(true) {
        flags |= libc::IFF_MULTI_QUEUE;
    }
    if name.is_empty() || name.len() >= libc::IFNAMSIZ {
        return Err(KernelError::Invalid {
            object,
            message: "an interface name has 1 to 15 bytes".into(),
        });
    }
    let mut req = IfReq {
        name: [0; libc::IFNAMSIZ],
        // The flag values all fit in the 16-bit ifr_flags field.
        flags: flags as libc::c_short,
        _pad: [0; 22],
    };
    for (d, s) in req.name.iter_mut().zip(name.bytes()) {
        *d = s as libc::c_char;
    }
    let (owner, group) = (o.owner, o.group);
    let obj = object.clone();
    // The device lands in the namespace /dev/net/tun was opened in, so the
    // open and every ioctl happen on a thread inside `ns`.
    netns::run_in(ns, move || -> Result<(), KernelError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/net/tun")
            .map_err(|e| KernelError::io("/dev/net/tun", e))?;
        let fd = file.as_raw_fd();
        let call = |what: &str, nr: libc::c_ulong, arg: libc::c_ulong| {
            // SAFETY: `fd` is open for the whole closure; each request takes
            // a plain integer argument.
            let rc = unsafe { libc::ioctl(fd, nr, arg) };
            if rc < 0 {
                Err(KernelError::io(
                    format!("{obj}: {what}"),
                    io::Error::last_os_error(),
                ))
            } else {
                Ok(())
            }
        };
        // SAFETY: `req` is a valid ifreq that outlives the call.
        let rc = unsafe { libc::ioctl(fd, TUNSETIFF, &mut req as *mut IfReq) };
        if rc < 0 {
            return Err(KernelError::io(
                format!("{obj}: TUNSETIFF"),
                io::Error::last_os_error(),
            ));
        }
        if let Some(uid) = owner {
            call("TUNSETOWNER", TUNSETOWNER, uid.into())?;
        }
        if let Some(gid) = group {
            call("TUNSETGROUP", TUNSETGROUP, gid.into())?;
        }
        // netloom devices always outlive this descriptor (validation refuses
        // persist false): without it the device vanishes on close.
        call("TUNSETPERSIST", TUNSETPERSIST, 1)?;
        Ok(())
    })?
}
