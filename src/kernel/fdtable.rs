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

use nix::fcntl::{fcntl, FcntlArg};
use nix::sys::resource::{getrlimit, setrlimit, Resource};

/// Descriptor slots made ready: two per node for 4000 nodes.
pub const SLOTS: u64 = 8192;

/// Raise the soft RLIMIT_NOFILE towards [`SLOTS`] (within the hard limit;
/// never lowered) and grow the descriptor table to match. Call it first
/// thing in `main`, while the process has a single thread.
pub fn prepare() -> io::Result<()> {
    let (mut soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft < SLOTS {
        soft = SLOTS.min(hard);
        setrlimit(Resource::RLIMIT_NOFILE, soft, hard)?;
    }
    let top = SLOTS.min(soft).saturating_sub(1) as libc::c_int;
    // Duplicating a descriptor onto the highest slot grows the table to
    // cover it; the duplicate is closed at once, the table stays grown.
    // F_DUPFD_CLOEXEC takes the lowest free slot >= top, so no open
    // descriptor is replaced.
    let any = std::fs::File::open("/dev/null")?;
    let fd = fcntl(&any, FcntlArg::F_DUPFD_CLOEXEC(top))?;
    nix::unistd::close(fd)?;
    Ok(())
}
