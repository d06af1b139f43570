//! Model-based test of edits (issue 17): random sequences of valid edits
//! over a handful of base topologies (veth, bridge with port options,
//! macvlan modes, vxlan, tun/tap; addresses of both families, routes with
//! via/dev/metric/table, nodes, links, ports, MTUs, sysctls, NAT), at least
//! NETLOOM_EDITS_TOTAL (300) edits per run, each sequence in one sandbox.
//! After every `up`: exit 0, `plan` exit 0, the kernel as iproute2, nft and
//! /proc/sys show it (tests/support/kstate, not netloom's observer) equal to what
//! the test's own model of the file says, and the file's `reach:` claims
//! proved by `netloom verify`. Every file is first checked by `netloom
//! validate`; a refusal is a bug of the generator.
//!
//! A failing sequence is shrunk (tests/support/edits_util/shrink.rs) and reported
//! with its seed, its edits, the file before and after the last one, and
//! what differed. Environment:
//!   NETLOOM_EDITS_SEED=N         the run's seed (default: from the clock)
//!   NETLOOM_EDITS_CASE=N         run only the sequence of this seed
//!   NETLOOM_EDITS_REPLAY=TEXT    run exactly this (shrunk) sequence
//!   NETLOOM_EDITS_TOTAL=N        edits per run (default 300)
//!   NETLOOM_EDITS_SHRINK_SECS=N  time for shrinking a failure (default 120)
//!   NETLOOM_EDITS_KEEP_GOING=1   after a failure, rebuild the network from
//!                                scratch and go on, through all sequences;
//!                                each kind of failure is shrunk and reported
#[path = "support/common/mod.rs"]
mod common;
#[path = "support/edits_util/mod.rs"]
mod edits_util;
#[path = "support/kstate/mod.rs"]
mod kstate;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use edits_util::render::BASES;
use edits_util::run::{run, splitmix, Failure, Script};
use edits_util::shrink;

/// Edits per sequence.
const MIN_STEPS: usize = 30;
const MAX_STEPS: usize = 45;

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim();
    Some(
        match v.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16),
            None => v.parse(),
        }
        .unwrap_or_else(|_| panic!("{name}={v} is not a number")),
    )
}

/// Shrinks a failure, re-runs the shrunk sequence, and describes it all.
fn shrink_and_report(seed: u64, script: &Script, f: &Failure, recover: bool) -> String {
    let budget = Duration::from_secs(env_u64("NETLOOM_EDITS_SHRINK_SECS").unwrap_or(120));
    eprintln!(
        "sequence {seed:#x} failed after edit {}: {}; shrinking for at most {} s",
        f.at,
        f.kind(),
        budget.as_secs()
    );
    let s = shrink::shrink(script, f, recover, budget);
    let again = shrink::reproduce(&s.script, &s.failure, recover, 3);
    let text = shrink::report(seed, script, f, &s, (again, 3));
    eprintln!("{text}");
    text
}

#[test]
fn random_edits_converge_and_match_the_kernel() {
    let keep_going = std::env::var_os("NETLOOM_EDITS_KEEP_GOING").is_some();
    if let Ok(text) = std::env::var("NETLOOM_EDITS_REPLAY") {
        let script = Script::decode(&text);
        let out = run(&script, keep_going, None);
        if let Some(f) = out.failures.first() {
            let report = shrink_and_report(0, &script, f, keep_going);
            panic!("{report}");
        }
        eprintln!("replayed {} edits: all held", script.steps.len());
        return;
    }
    let only = env_u64("NETLOOM_EDITS_CASE");
    let seed = env_u64("NETLOOM_EDITS_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
    });
    let total = env_u64("NETLOOM_EDITS_TOTAL").unwrap_or(300) as usize;
    eprintln!("edit test: NETLOOM_EDITS_SEED={seed:#x}, {total} edits");
    let start = Instant::now();
    let mut state = seed;
    let (mut done, mut sequences, mut failed) = (0, 0, 0);
    let mut seen = BTreeSet::new();
    let mut reports = Vec::new();
    while done < total {
        let case = only.unwrap_or_else(|| splitmix(&mut state));
        let script = Script::random(case, MIN_STEPS, MAX_STEPS);
        let t0 = Instant::now();
        eprintln!(
            "sequence {case:#x}: base `{}`, {} edits",
            BASES[script.base],
            script.steps.len()
        );
        sequences += 1;
        let out = run(&script, keep_going, None);
        done += out.edits;
        eprintln!(
            "  {} edits, {} failures ({:.1} s)",
            out.edits,
            out.failures.len(),
            t0.elapsed().as_secs_f64()
        );
        failed += out.failures.len();
        for f in &out.failures {
            eprintln!("  failed after edit {}: {}", f.at, f.kind());
            // Each kind of failure shrunk once.
            if seen.insert(f.kind()) {
                reports.push(shrink_and_report(case, &script, f, keep_going));
            }
        }
        if only.is_some() || (!keep_going && failed > 0) {
            break;
        }
    }
    eprintln!(
        "{done} edits in {sequences} sequences, {failed} failures of {} kinds, {:.1} s",
        reports.len(),
        start.elapsed().as_secs_f64()
    );
    assert!(
        reports.is_empty(),
        "{failed} failure(s) (this run: NETLOOM_EDITS_SEED={seed:#x}):\n\n{}",
        reports.join("\n\n")
    );
}

/// The generator alone, many more edits than the kernel test makes: every
/// file it writes must pass `netloom validate` (which touches nothing), so
/// that a refusal in the kernel test is never the generator's doing.
#[test]
fn every_generated_file_validates() {
    use edits_util::{claims, edit, render};
    let dir = std::env::temp_dir().join(format!("netloom-edits-gen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("ed.yaml");
    let seed = env_u64("NETLOOM_EDITS_SEED").unwrap_or(0x5eed);
    let mut state = seed;
    let mut checked = 0;
    for _ in 0..25 {
        let case = splitmix(&mut state);
        let script = Script::random(case, MIN_STEPS, MAX_STEPS);
        let mut t = render::base(script.base);
        let mut edits = Vec::new();
        for (i, step) in script.steps.iter().enumerate() {
            edits.push(edit::apply(&mut t, step));
            t.expect = claims::choose(&t, i + 1, 4);
            let text = render::render(&t);
            std::fs::write(&file, &text).unwrap();
            let out = std::process::Command::new(common::netloom_bin())
                .arg("validate")
                .arg(&file)
                .output()
                .unwrap();
            checked += 1;
            assert!(
                out.status.success(),
                "sequence {case:#x}, edit {}: the generator wrote a file validate refuses\n\
                 edits: {edits:#?}\n{text}\n{}",
                i + 1,
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("{checked} generated files validate (seed {seed:#x})");
}
