//! Two netloom processes on one machine: the machine-wide lock serializes
//! them, and one that finds it held fails at once naming the holder.
#[path = "support/common/mod.rs"]
mod common;
#[path = "support/txn_support/mod.rs"]
mod txn_support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::Lab;
use netloom::state::Store;
use txn_support::{command, topology};

#[test]
fn two_ups_at_once_one_wins_the_other_names_it() {
    let lab = Lab::from_text("txn.yaml", &topology("txn", 4));
    let file = lab.file.to_string_lossy().into_owned();
    let mut refused = 0;
    for round in 0..6 {
        let spawn = || {
            command(&lab, &["up", &file])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start up")
        };
        let (a, b) = (spawn(), spawn());
        let pids = [a.id(), b.id()];
        let outs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
        let codes: Vec<i32> = outs.iter().map(|o| o.status.code().unwrap_or(-1)).collect();
        assert!(
            codes.contains(&0),
            "round {round}: neither up succeeded: {codes:?}"
        );
        for (i, o) in outs.iter().enumerate() {
            if codes[i] == 0 {
                continue;
            }
            let err = String::from_utf8_lossy(&o.stderr);
            let other = pids[1 - i];
            let want = format!("another netloom is running (pid {other}: netloom up {file})");
            assert!(
                err.contains(&want),
                "round {round}: loser says:\n{err}\nwant `{want}`"
            );
            refused += 1;
        }
        lab.expect("plan", &[], 0);
        lab.expect("down", &[], 0);
        lab.assert_no_residue();
    }
    eprintln!("{refused} of 6 rounds had a refused up (the rest serialized)");
}

#[test]
fn a_held_lock_fails_up_and_down_at_once_naming_the_holder() {
    let lab = Lab::from_text("txn.yaml", &topology("txn", 2));
    let file = lab.file.to_string_lossy().into_owned();
    // Another netloom holds the lock: this test process, through netloom's
    // own Store::lock on the sandbox's lock file (reached through a process
    // inside the sandbox; flock(2) locks the file, whatever the path).
    let mut inside = lab
        .sb
        .command("sleep")
        .arg("60")
        .spawn()
        .expect("a process in the sandbox");
    let store = Store::at(format!("/proc/{}/root/run/netloom", inside.id()));
    let held = store
        .lock("netloom up /elsewhere/lab.yaml")
        .expect("take the lock");
    for verb in [
        vec!["up", file.as_str()],
        vec!["down", file.as_str()],
        vec!["down", "--name", "txn"],
    ] {
        let t = Instant::now();
        let r = lab.netloom(&verb);
        let took = t.elapsed();
        assert_eq!(r.code, 1, "{verb:?}:\n{}", r.text());
        assert!(
            r.err.contains(&format!(
                "another netloom is running (pid {}: netloom up /elsewhere/lab.yaml)",
                std::process::id()
            )),
            "{verb:?}: message does not name the holder:\n{}",
            r.text()
        );
        assert!(took < Duration::from_secs(2), "{verb:?} waited {took:?}");
    }
    // Nothing was touched while refused.
    let r = lab.sh("ls -A /run/netns 2>/dev/null; ip -o link show | grep -v ': lo:'; true");
    assert_eq!(r.out.trim(), "", "{}", r.text());
    drop(held);
    let _ = inside.kill();
    let _ = inside.wait();
    lab.expect("up", &[], 0);
    lab.expect("down", &[], 0);
    lab.assert_no_residue();
}
