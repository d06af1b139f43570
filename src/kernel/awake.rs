//! Keeping idle CPUs from sleeping while netloom makes the kernel work: a
//! PM QoS request for zero CPU wakeup latency, through /dev/cpu_dma_latency
//! (Documentation/power/pm_qos_interface.rst).
//!
//! Why: building or tearing down a large network is a long series of short
//! waits inside the kernel (an RCU grace period per bridge port removed,
//! worker threads handing work to each other). Between them a CPU goes
//! idle, and waking it costs its idle state's exit latency; on a VM whose
//! idle vCPUs halt, that is a VM exit and a wake-up each time. Measured on
//! this project's 2-vCPU VM: deleting a bridge with 1000 ports took
//! 0.31-0.36 s with the request held, 0.40-0.73 s without.
//!
//! The request is the kernel's own, per open file: it ends when the file is
//! closed, which the kernel does also when netloom dies, so nothing of it
//! outlives the process.
use std::fs::{File, OpenOptions};
use std::io::Write;

/// The device whose open files are CPU wakeup latency requests.
const DEVICE: &str = "/dev/cpu_dma_latency";

/// Environment variable that, set to `0`, leaves the CPUs' idle states alone.
pub const ENV: &str = "NETLOOM_KEEP_AWAKE";

/// A held request for zero CPU wakeup latency; dropping it ends the request.
#[derive(Debug)]
pub struct Awake {
    _file: Option<File>,
}

impl Awake {
    /// Ask that CPUs stay ready to run at once, for as long as the result
    /// lives. Best effort: where the device is missing or refused (a
    /// container, no PM QoS), or [`ENV`] is `0`, nothing is held.
    pub fn hold() -> Awake {
        if std::env::var_os(ENV).is_some_and(|v| v == "0") {
            return Awake { _file: None };
        }
        Awake {
            _file: request(DEVICE, 0),
        }
    }
}

/// Open `device` and write the latency bound `us` (microseconds) as the
/// binary s32 the interface takes; `None` when either fails.
fn request(device: &str, us: i32) -> Option<File> {
    let mut f = OpenOptions::new().write(true).open(device).ok()?;
    f.write_all(&us.to_ne_bytes()).ok()?;
    Some(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_device_holds_nothing() {
        assert!(request("/nonexistent/cpu_dma_latency", 0).is_none());
    }

    /// Reading the device gives the bound in force: 0 while one is held.
    #[test]
    fn a_held_request_is_in_force_until_dropped() {
        if std::fs::metadata(DEVICE).is_err() || !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: no {DEVICE} or not root");
            return;
        }
        let in_force = || {
            let mut b = [0u8; 4];
            std::io::Read::read_exact(&mut File::open(DEVICE).unwrap(), &mut b).unwrap();
            i32::from_ne_bytes(b)
        };
        let before = in_force();
        let held = Awake {
            _file: request(DEVICE, 0),
        };
        assert!(held._file.is_some());
        assert_eq!(in_force(), 0);
        drop(held);
        // Another process's request may be in force too; ours is gone.
        assert_eq!(in_force(), before);
    }

    #[test]
    fn the_request_is_the_bound_as_a_native_s32() {
        let dir = std::env::temp_dir().join(format!("netloom-awake-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("dev");
        std::fs::write(&path, b"").unwrap();
        let f = request(path.to_str().unwrap(), 0);
        assert!(f.is_some());
        drop(f);
        assert_eq!(std::fs::read(&path).unwrap(), 0i32.to_ne_bytes());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
