//! Crash safety: `netloom up` killed with SIGKILL at random moments; each
//! time the next `up` converges to the file, and `down` (by file, or by name
//! straight after a crash) leaves nothing behind.
#[path = "support/common/mod.rs"]
mod common;
#[path = "support/txn_support/mod.rs"]
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
    // How long a whole `up` takes here, so kills land inside it: the
    // fastest of three, as a machine busy during one of them would make
    // most kills land after the ups that follow.
    let mut full = Duration::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        lab.expect("up", &[], 0);
        full = full.min(t.elapsed());
        lab.expect("down", &[], 0);
        lab.assert_no_residue();
    }

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
    // Bounded: 60 s here (it takes ~15 s); slower machines (the VM emulates
    // its CPU) get a bound in proportion to their measured `up`.
    let bound = if full < Duration::from_millis(500) {
        Duration::from_secs(60)
    } else {
        full * (15 * ITERATIONS as u32)
    };
    assert!(took < bound, "crash test took {took:?} (bound {bound:?})");
}

/// The window between creating a link and marking it, made deterministic:
/// the marks are removed by hand. Unmarked devices whose names netloom wrote
/// ahead are recognized as its own; without that record they are foreign.
#[test]
fn a_link_created_but_not_yet_marked_is_recognized_by_its_written_ahead_name() {
    let lab = Lab::from_text("txn.yaml", &topology("txn", 2));
    lab.expect("up", &[], 0);
    let unmark = "ip link set dev up0 alias '' && ip link set dev p1 alias ''";
    let r = lab.sh(unmark);
    assert_eq!(r.code, 0, "{}", r.text());
    // As a netloom killed right after the create requests would have left them.
    let r = lab.sh(
        r#"sed -i 's/"links": \[\]/"links": [{"node":"host","name":"up0"},{"node":"host","name":"p1"}]/' /run/netloom/txn.json && grep -c up0 /run/netloom/txn.json"#,
    );
    assert_eq!(r.out.trim(), "1", "{}", r.text());
    lab.expect("plan", &[], 0);
    lab.expect("up", &[], 0);
    lab.expect("down", &[], 0);
    assert_clean(&lab, "unmarked but recorded");

    // Without the record the same unmarked device is someone else's.
    lab.expect("up", &[], 0);
    let r = lab.sh(unmark);
    assert_eq!(r.code, 0, "{}", r.text());
    let up = lab.verb("up", &[]);
    assert_eq!(up.code, 1, "{}", up.text());
    assert!(
        up.err.contains("host/up0") && up.err.contains("host/p1"),
        "{}",
        up.text()
    );
    let r = lab.sh("ip link show dev up0");
    assert_eq!(r.code, 0, "a refused up must leave the device alone");
}

/// The window between building a bridge of many ports with multicast
/// snooping off and turning it on, made deterministic: snooping is turned
/// off by hand. Recorded as left quiet, the next `up` turns it on; without
/// that record the file (silent on snooping) is in sync.
#[test]
fn a_bridge_left_quiet_by_a_crash_gets_snooping_at_the_next_up() {
    let lab = Lab::from_text("quiet.yaml", &common::many_ports("quiet", 40));
    lab.expect("up", &[], 0);
    let snooping = |lab: &Lab| {
        let l = common::link(lab, "a", "br0");
        l["linkinfo"]["info_data"]["mcast_snooping"].clone()
    };
    assert_eq!(snooping(&lab), 1);
    let r = lab.exec(
        "a",
        &"ip link set dev br0 type bridge mcast_snooping 0"
            .split(' ')
            .collect::<Vec<_>>(),
    );
    assert_eq!(r.code, 0, "{}", r.text());
    lab.expect("plan", &[], 0);
    // As a netloom killed between the two would have left its records.
    let r = lab.sh(
        r#"sed -i 's/"quiet_bridges": \[\]/"quiet_bridges": [{"node":"a","name":"br0"}]/' /run/netloom/quiet.json && grep -c br0 /run/netloom/quiet.json"#,
    );
    assert_eq!(r.out.trim(), "1", "{}", r.text());
    let plan = lab.expect("plan", &[], 2);
    assert!(
        plan.out
            .contains("a: link set br0 type bridge mcast_snooping true"),
        "{}",
        plan.text()
    );
    lab.expect("up", &[], 0);
    assert_eq!(snooping(&lab), 1);
    lab.expect("plan", &[], 0);
    let r = lab.sh("grep -c br0 /run/netloom/quiet.json");
    assert_eq!(r.out.trim(), "0", "forgotten once on: {}", r.text());
    lab.expect("down", &[], 0);
    assert_clean(&lab, "a bridge left quiet");
}
