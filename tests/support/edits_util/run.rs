//! One edit sequence against the real binary, in one sandbox: the base
//! topology, then each edit; after each, the file must validate, `up` exit
//! 0, `plan` exit 0, the kernel equal the file, and `verify` pass.
use std::collections::BTreeSet;

use crate::common::Lab;
use crate::kstate;

use super::edit::{self, Step, STEP};
use super::model::Topo;
use super::render::{base, render, BASES};
use super::{check, claims};

/// `reach:` claims written into each file.
const CLAIMS: usize = 4;

/// A base topology and the choices of each edit.
#[derive(Clone, Debug, PartialEq)]
pub struct Script {
    pub base: usize,
    pub steps: Vec<Step>,
}

/// splitmix64: a small, well-mixed generator for the choices.
pub fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Script {
    /// The sequence seed `seed` stands for: a base and `min..=max` edits.
    pub fn random(seed: u64, min: usize, max: usize) -> Script {
        let mut s = seed;
        let base = (splitmix(&mut s) % BASES.len() as u64) as usize;
        let len = min + (splitmix(&mut s) % (max - min + 1) as u64) as usize;
        let steps = (0..len)
            .map(|_| {
                let mut st = [0u32; STEP];
                for c in st.iter_mut() {
                    *c = splitmix(&mut s) as u32;
                }
                st
            })
            .collect();
        Script { base, steps }
    }

    /// The text NETLOOM_EDITS_REPLAY takes: `BASE:STEP,STEP,...`, each step
    /// its choices in hex joined by `.`.
    pub fn encode(&self) -> String {
        let steps: Vec<String> = self
            .steps
            .iter()
            .map(|s| {
                s.iter()
                    .map(|c| format!("{c:x}"))
                    .collect::<Vec<_>>()
                    .join(".")
            })
            .collect();
        format!("{}:{}", self.base, steps.join(","))
    }

    /// Reads [`Script::encode`]'s text.
    pub fn decode(text: &str) -> Script {
        let (base, steps) = text.trim().split_once(':').expect("BASE:STEPS");
        let steps = steps
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| {
                let mut st = [0u32; STEP];
                for (c, v) in st.iter_mut().zip(s.split('.')) {
                    *c = u32::from_str_radix(v, 16).expect("hex choice");
                }
                st
            })
            .collect();
        Script {
            base: base.parse().expect("base number"),
            steps,
        }
    }

    /// The first `n` edits.
    pub fn prefix(&self, n: usize) -> Script {
        Script {
            base: self.base,
            steps: self.steps[..n.min(self.steps.len())].to_vec(),
        }
    }
}

/// Where a run failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// netloom validate refused the file: a bug of the generator.
    Validate,
    Up,
    Plan,
    State,
    Verify,
}

/// A failed run.
#[derive(Clone, Debug)]
pub struct Failure {
    /// The edit after which it failed (0: the base topology's first `up`).
    pub at: usize,
    pub stage: Stage,
    /// Categories: the plan's pending kinds of step, the state's kinds of difference.
    pub tags: BTreeSet<String>,
    pub detail: String,
    /// The file before the failing edit, and with it.
    pub before: String,
    pub file: String,
    /// The base and each edit, described.
    pub edits: Vec<String>,
}

impl Failure {
    /// What kind of failure this is: the stage, and the kinds of difference
    /// in the kernel, else the kinds of pending step, else the error.
    pub fn kind(&self) -> String {
        let state: Vec<&String> = self
            .tags
            .iter()
            .filter(|t| !t.starts_with("plan: "))
            .collect();
        let tags: Vec<&String> = if state.is_empty() {
            self.tags.iter().collect()
        } else {
            state
        };
        format!("{:?} {tags:?}", self.stage)
    }

    /// Whether `other` is the same kind of failure (for shrinking).
    pub fn same(&self, other: &Failure) -> bool {
        self.kind() == other.kind()
    }
}

/// The kind of each pending step of `plan` output (`route add`, `addr del`).
fn plan_tags(out: &str) -> BTreeSet<String> {
    out.lines()
        .filter(|l| l.starts_with("   "))
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let at = w.iter().position(|x| x.ends_with(':'))?;
            Some(format!("plan: {}", w.get(at + 1..at + 3)?.join(" ")))
        })
        .collect()
}

/// The failed step's kind and the kernel's message, from `up`'s error
/// `step N (NODE: OP ...) failed: ...: MESSAGE` (`addr add: address already
/// assigned`, `link set macvlan: Invalid argument`).
fn error_tag(err: &str) -> String {
    let line = err.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let msg = line.rsplit(": ").next().unwrap_or(line).trim();
    let op = line
        .split_once('(')
        .and_then(|(_, r)| r.split_once(')'))
        .map(|(inside, _)| inside)
        .unwrap_or("");
    let op = op.split_once(": ").map(|(_, o)| o).unwrap_or(op);
    let w: Vec<&str> = op.split_whitespace().collect();
    let mut kind: Vec<&str> = w.iter().take(2).copied().collect();
    if let Some(i) = w.iter().position(|x| *x == "type") {
        kind.extend(w.get(i + 1));
    }
    format!("up: {}: {msg}", kind.join(" "))
}

fn judge(
    lab: &Lab,
    t: &Topo,
    defaults: &std::collections::BTreeMap<String, String>,
) -> Result<(), (Stage, BTreeSet<String>, String)> {
    let one = |s: &str| BTreeSet::from([s.to_string()]);
    let mut clock = Clock::default();
    let v = clock.time("validate", || lab.verb("validate", &[]));
    if v.code != 0 {
        return Err((Stage::Validate, one("generator"), v.text()));
    }
    let up = clock.time("up", || lab.verb("up", &[]));
    if up.code != 0 {
        return Err((Stage::Up, one(&error_tag(&up.err)), up.text()));
    }
    let plan = clock.time("plan", || lab.verb("plan", &[]));
    let world = clock.time("read", || kstate::read(lab, &check::keys()));
    let diff = check::diff(t, &world, defaults);
    if plan.code != 0 || !diff.is_empty() {
        let mut tags = plan_tags(&plan.out);
        tags.extend(
            diff.iter()
                .filter_map(|d| Some(d.strip_prefix('[')?.split(']').next()?.to_string())),
        );
        let stage = if plan.code != 0 {
            Stage::Plan
        } else {
            Stage::State
        };
        let detail = format!(
            "`up` said: {}\n`plan` after it (exit {}):\n{}{}\nkernel vs file:\n  {}",
            up.out.trim(),
            plan.code,
            plan.out,
            plan.err,
            if diff.is_empty() {
                "(equal)".to_string()
            } else {
                diff.join("\n  ")
            }
        );
        return Err((stage, tags, detail));
    }
    if !t.expect.is_empty() {
        let v = clock.time("verify", || lab.verb("verify", &[]));
        if v.code != 0 {
            return Err((Stage::Verify, one("verify"), v.text()));
        }
        if clock.slow() {
            eprintln!(
                "  slow: {} ({})",
                clock.show(),
                v.out.lines().next().unwrap_or("")
            );
        }
    } else if clock.slow() {
        eprintln!("  slow: {}", clock.show());
    }
    Ok(())
}

/// How long each command of one edit took, to name a slow one.
#[derive(Default)]
struct Clock(Vec<(&'static str, std::time::Duration)>);

impl Clock {
    fn time<T>(&mut self, what: &'static str, f: impl FnOnce() -> T) -> T {
        let start = std::time::Instant::now();
        let out = f();
        self.0.push((what, start.elapsed()));
        out
    }
    fn slow(&self) -> bool {
        self.0
            .iter()
            .map(|x| x.1)
            .sum::<std::time::Duration>()
            .as_secs()
            >= 2
    }
    fn show(&self) -> String {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(w, d)| format!("{w} {:.2} s", d.as_secs_f64()))
            .collect();
        parts.join(", ")
    }
}

/// What a run did.
pub struct Outcome {
    /// Edits made (those after a failure included, when recovering).
    pub edits: usize,
    /// The failures, in order.
    pub failures: Vec<Failure>,
}

/// Runs `script` in a fresh sandbox. Without `recover` it stops at the
/// first failure. With it, a failure is recorded and the network rebuilt
/// from scratch (`down`, then `up` of the same file) before the next edit,
/// so that one sequence can show several failures; it stops early at a
/// failure that is the same as `target`.
pub fn run(script: &Script, recover: bool, target: Option<&Failure>) -> Outcome {
    let mut t = base(script.base);
    let mut edits = vec![format!(
        "base topology `{}`",
        BASES[script.base % BASES.len()]
    )];
    t.expect = claims::choose(&t, 0, CLAIMS);
    let mut before = String::new();
    let mut text = render(&t);
    let lab = Lab::from_text("ed.yaml", &text);
    let defaults = kstate::fresh_defaults(&lab, &check::default_keys());
    let mut failures = Vec::new();
    for at in 0..=script.steps.len() {
        if at > 0 {
            edits.push(edit::apply(&mut t, &script.steps[at - 1]));
            t.expect = claims::choose(&t, at, CLAIMS);
            before = std::mem::replace(&mut text, render(&t));
            std::fs::write(&lab.file, &text).unwrap();
        }
        let Err((stage, tags, detail)) = judge(&lab, &t, &defaults) else {
            continue;
        };
        let f = Failure {
            at,
            stage,
            tags,
            detail,
            before: before.clone(),
            file: text.clone(),
            edits: edits.clone(),
        };
        let hit = target.is_some_and(|g| g.same(&f));
        failures.push(f);
        if !recover || hit || stage == Stage::Validate {
            return Outcome {
                edits: at,
                failures,
            };
        }
        let down = lab.verb("down", &[]);
        let up = lab.verb("up", &[]);
        if down.code != 0 || up.code != 0 {
            let mut f = failures.last().unwrap().clone();
            f.stage = Stage::Up;
            f.tags = BTreeSet::from(["rebuild".to_string()]);
            f.detail = format!(
                "rebuilding after the failure above:\n{}\n{}",
                down.text(),
                up.text()
            );
            failures.push(f);
            return Outcome {
                edits: at,
                failures,
            };
        }
    }
    Outcome {
        edits: script.steps.len(),
        failures,
    }
}
