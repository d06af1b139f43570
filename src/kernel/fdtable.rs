//! The process's file descriptor table, made ready for thousands of
//! namespaces before any thread starts.
//!
//! netloom holds two descriptors per node (the namespace and a netlink
//! socket), so 1000 containers need more than the 1024 a shell allows by
//! default. And the kernel grows a descriptor table by doubling it, waiting
//! for an RCU grace period each time when the table is shared by threads
//! (10-20 ms each on a small VM: 35 ms of a 0.3 s no-op `up` went to growing
//! from 64 to 2048 slots). Grown once while the process has one thread, it
//! never waits.
use std::io;
use std::os::fd::AsRawFd;

/// Descriptor slots made ready: two per node for 4000 nodes.
pub const SLOTS: u64 = 8192;

/// Raise the soft RLIMIT_NOFILE towards [`SLOTS`] (within the hard limit;
/// never lowered) and grow the descriptor table to match. Call it first
/// thing in `main`, while the process has a single thread.
pub fn prepare() -> io::Result<()> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit write or read the struct passed.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if lim.rlim_cur < SLOTS {
        lim.rlim_cur = SLOTS.min(lim.rlim_max);
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    let top = SLOTS.min(lim.rlim_cur).saturating_sub(1) as libc::c_int;
    // Duplicating a descriptor onto the highest slot grows the table to
    // cover it; the duplicate is closed at once, the table stays grown.
    let any = std::fs::File::open("/dev/null")?;
    // SAFETY: F_DUPFD_CLOEXEC takes the lowest free slot >= top, so no open
    // descriptor is replaced; the new one is owned here and closed once.
    let fd = unsafe { libc::fcntl(any.as_raw_fd(), libc::F_DUPFD_CLOEXEC, top) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    unsafe { libc::close(fd) };
    Ok(())
}
