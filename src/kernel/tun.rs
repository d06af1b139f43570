//! tun/tap devices: made with the TUNSETIFF ioctl on /dev/net/tun, because the
//! kernel refuses to create them over rtnetlink.
use std::fs::OpenOptions;

use crate::kernel::error::KernelError;
use crate::kernel::netns::{self, Netns};
use crate::kernel::sys::{self, TunSetting};
use crate::model::TunOptions;

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
    // The flag values all fit in the 16-bit ifr_flags field.
    let flags = flags as libc::c_short;
    let (owner, group) = (o.owner, o.group);
    // The device lands in the namespace /dev/net/tun was opened in, so the
    // open and every ioctl happen on a thread inside `ns`.
    netns::run_in(ns, move || -> Result<(), KernelError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/net/tun")
            .map_err(|e| KernelError::io("/dev/net/tun", e))?;
        let fail = |what: &str| {
            let object = format!("{object}: {what}");
            move |e: std::io::Error| KernelError::io(object, e)
        };
        sys::tun_attach(&file, name, flags).map_err(fail("TUNSETIFF"))?;
        if let Some(uid) = owner {
            sys::tun_set(&file, TunSetting::Owner(uid)).map_err(fail("TUNSETOWNER"))?;
        }
        if let Some(gid) = group {
            sys::tun_set(&file, TunSetting::Group(gid)).map_err(fail("TUNSETGROUP"))?;
        }
        // netloom devices always outlive this descriptor (validation refuses
        // persist false): without it the device vanishes on close.
        sys::tun_set(&file, TunSetting::Persist(true)).map_err(fail("TUNSETPERSIST"))?;
        Ok(())
    })?
}
