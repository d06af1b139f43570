//! Crash safety: `netloom up` killed with SIGKILL at random moments; each
//! time the next `up` converges to the file, and `down` (by file, or by name
//! straight after a crash) leaves nothing behind.
mod common;
mod txn_support;

use std::time::{Duration, Instant};

use common::Lab;
use txn_support::{assert_clean, command, pending_ops, topology};

const ITERATIONS: usize = 52;

/// xorshift64*: a seeded generator, so a failing run can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Start `netloom up`, kill it after `delay`; true when it was still running.
fn kill_up_after(lab: &Lab, delay: Duration) -> bool {
    let file = lab.file.to_string_lossy().into_owned();
    let mut child = command(lab, &["up", &file])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start netloom up");
    std::thread::sleep(delay);
    let running = matches!(child.try_wait(), Ok(None));
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();
    running
}

#[test]
fn up_killed_at_random_moments_converges_and_tears_down() {
    let lab = Lab::from_text("txn.yaml", &topology("txn", 2));
    let n = pending_ops(&lab);
    assert!(n >= 30, "only {n} operations");
    // How long a whole `up` takes here, so kills land inside it.
    let t = Instant::now();
    lab.expect("up", &[], 0);
    let full = t.elapsed();
    lab.expect("down", &[], 0);
    lab.assert_no_residue();

    let seed = std::env::var("NETLOOM_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
                | 1
        });
    eprintln!(
        "crash test: seed {seed} (replay with NETLOOM_CRASH_SEED={seed}); up takes {full:?}; {n} ops"
    );
    let mut rng = Rng(seed);
    let start = Instant::now();
    let mut interrupted = 0;
    for i in 0..ITERATIONS {
        let micros = rng.next() % (full.as_micros() as u64).max(1);
        let delay = Duration::from_micros(micros);
        interrupted += usize::from(kill_up_after(&lab, delay));
        if i % 4 == 3 {
            // Teardown straight after a crash, by name, without the file.
            let r = lab.netloom(&["down", "--name", "txn"]);
            assert_eq!(
                r.code,
                0,
                "iteration {i} (delay {delay:?}): down --name:\n{}",
                r.text()
            );
            assert_clean(
                &lab,
                &format!("iteration {i} (seed {seed}, delay {delay:?}), down --name after a kill"),
            );
            continue;
        }
        let r = lab.verb("up", &[]);
        assert_eq!(
            r.code,
            0,
            "iteration {i} (seed {seed}, delay {delay:?}): up after a kill:\n{}",
            r.text()
        );
        let p = lab.verb("plan", &[]);
        assert_eq!(
            p.code,
            0,
            "iteration {i} (seed {seed}, delay {delay:?}): not converged:\n{}",
            p.text()
        );
        let d = lab.verb("down", &[]);
        assert_eq!(
            d.code,
            0,
            "iteration {i} (seed {seed}, delay {delay:?}): down:\n{}",
            d.text()
        );
        assert_clean(
            &lab,
            &format!("iteration {i} (seed {seed}, delay {delay:?})"),
        );
    }
    let took = start.elapsed();
    eprintln!("crash test: {ITERATIONS} kills ({interrupted} mid-up) in {took:?}");
    assert!(
        interrupted >= ITERATIONS / 2,
        "only {interrupted} of {ITERATIONS} kills hit a running up"
    );
    assert!(took < Duration::from_secs(180), "crash test took {took:?}");
}
