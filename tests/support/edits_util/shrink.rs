//! Shrinking a failing edit sequence to a smallest one that fails the same
//! way. proptest's own shrinker would replay the sequence once per element
//! it tries to drop, tail included; here each try replays a kernel network
//! in a fresh sandbox, so the sequence is first cut after the failing edit,
//! then chunks of edits are dropped (halving the chunk, as delta debugging
//! does), then each remaining choice is set to zero (the simplest edit of
//! its kind). Bounded by time; the smallest failing sequence found is kept.
use std::time::{Duration, Instant};

use super::run::{run, Failure, Script};

/// A shrunk failure.
pub struct Shrunk {
    pub script: Script,
    pub failure: Box<Failure>,
    /// Sequences tried.
    pub tries: usize,
    pub took: Duration,
}

/// Shrinks `script`, which failed with `first`, for at most `budget`;
/// `recover` as in [`run`] (then other failures on the way do not count).
pub fn shrink(script: &Script, first: &Failure, recover: bool, budget: Duration) -> Shrunk {
    let start = Instant::now();
    let orig = first.clone();
    let mut best = script.prefix(first.at);
    let mut fail = Box::new(first.clone());
    let mut tries = 0;
    // A failure that depends on the order `up` happens to take its steps in
    // shows only in some runs: then each candidate gets several runs.
    let seen = reproduce(&best, &orig, recover, 3);
    let per = match seen {
        3 => 1,
        2 => 2,
        _ => 4,
    };
    // Runs `cand`; Some when it fails as the original did (then cut after
    // its failing edit).
    let attempt = |cand: &Script, tries: &mut usize| -> Option<(Script, Box<Failure>)> {
        for _ in 0..per {
            if start.elapsed() > budget {
                return None;
            }
            *tries += 1;
            let out = run(cand, recover, Some(&orig));
            if let Some(f) = out.failures.into_iter().find(|f| f.same(&orig)) {
                return Some((cand.prefix(f.at), Box::new(f)));
            }
        }
        None
    };
    let mut chunk = (best.steps.len() / 2).max(1);
    while !best.steps.is_empty() && start.elapsed() < budget {
        let mut improved = false;
        let mut i = 0;
        while i < best.steps.len() && start.elapsed() < budget {
            let mut cand = best.clone();
            let end = (i + chunk).min(cand.steps.len());
            cand.steps.drain(i..end);
            match attempt(&cand, &mut tries) {
                Some((s, f)) => {
                    best = s;
                    fail = f;
                    improved = true;
                }
                None => i += chunk,
            }
        }
        if chunk == 1 && !improved {
            break;
        }
        if !improved {
            chunk = (chunk / 2).max(1);
        } else {
            chunk = chunk.min((best.steps.len() / 2).max(1));
        }
    }
    let mut i = 0;
    while i < best.steps.len() && start.elapsed() < budget {
        for j in 0..super::edit::STEP {
            if i >= best.steps.len() || best.steps[i][j] == 0 {
                continue;
            }
            let mut cand = best.clone();
            cand.steps[i][j] = 0;
            if let Some((s, f)) = attempt(&cand, &mut tries) {
                best = s;
                fail = f;
            }
        }
        i += 1;
    }
    Shrunk {
        script: best,
        failure: fail,
        tries,
        took: start.elapsed(),
    }
}

/// How often `script` fails as `f` did in `n` more runs.
pub fn reproduce(script: &Script, f: &Failure, recover: bool, n: usize) -> usize {
    (0..n)
        .filter(|_| {
            run(script, recover, Some(f))
                .failures
                .iter()
                .any(|g| g.same(f))
        })
        .count()
}

/// A failure, its shrunk form and how to run either again.
pub fn report(
    seed: u64,
    script: &Script,
    first: &Failure,
    s: &Shrunk,
    again: (usize, usize),
) -> String {
    let f = &s.failure;
    let mut edits = String::new();
    for (i, e) in f.edits.iter().enumerate() {
        edits.push_str(&format!("    {i:>2}. {e}\n"));
    }
    format!(
        "FAILURE of sequence seed {seed:#x} ({} edits): after edit {}: {}\n\
         run this sequence again: NETLOOM_EDITS_CASE={seed:#x}\n\
         shrunk in {} runs ({:.0} s) to {} edits, failing as {}; \
         it failed again in {} of {} more runs\n\
         run the shrunk sequence again: NETLOOM_EDITS_REPLAY={}\n\
         the edits:\n{edits}\
         --- the file before the last edit:\n{}\
         --- the file after it:\n{}\
         --- what failed:\n{}\n",
        script.steps.len(),
        first.at,
        first.kind(),
        s.tries,
        s.took.as_secs_f64(),
        s.script.steps.len(),
        f.kind(),
        again.0,
        again.1,
        s.script.encode(),
        f.before,
        f.file,
        f.detail
    )
}
