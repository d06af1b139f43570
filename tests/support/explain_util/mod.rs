//! Differential checks of `explain` against real probes: bring a topology
//! up in the current (sandboxed) process, explain every pair (node,
//! address of the file) statically and live, probe every pair with
//! netloom's own probes, and compare. A pair explain says is delivered but
//! a quick probe missed is probed again, slowly, before it counts as a
//! disagreement (an answer is proof; silence may be a slow machine).
#![allow(dead_code)]

use std::collections::BTreeMap;

use netloom::engine::{Engine, ExplainOptions, Options};
use netloom::explain::{self, Disposition, Explanation, Flow};
use netloom::model::{Claim, Endpoint, Expectation, Probe, Target};
use netloom::spec::Topology;
use netloom::state::Store;

/// The known gaps the docs publish: `KEY` -> reason.
pub fn known_gaps() -> BTreeMap<String, String> {
    // Built in: the VM's copy of the tree has no docs/.
    let text = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/explain-gaps.md"));
    text.lines()
        .filter_map(|l| l.strip_prefix("- `"))
        .filter_map(|l| l.split_once('`'))
        .map(|(k, r)| {
            (
                k.to_string(),
                r.trim_start_matches([' ', ':', '-']).trim().to_string(),
            )
        })
        .collect()
}

/// One disagreement.
#[derive(Debug, Clone)]
pub struct Disagreement {
    /// `label:src->dst`.
    pub key: String,
    /// What the probe saw.
    pub probe: String,
    /// Static and live dispositions.
    pub stat: Disposition,
    /// Live.
    pub live: Disposition,
    /// The live explanation, for the message.
    pub why: String,
}

/// What a comparison found.
#[derive(Debug, Default)]
pub struct Counts {
    /// Pairs compared.
    pub pairs: usize,
    /// Pairs where static and probe agree.
    pub static_agree: usize,
    /// Pairs where live and probe agree.
    pub live_agree: usize,
    /// Pairs a probe got an answer for.
    pub reached: usize,
    /// The disagreements not listed as known gaps.
    pub bad: Vec<Disagreement>,
    /// Disagreements listed as known gaps.
    pub known: Vec<Disagreement>,
    /// How many pairs ended how (live), by disposition.
    pub dispositions: BTreeMap<String, usize>,
}

fn claims(flows: &[Flow], count: u32, timeout_ms: u32) -> Vec<Expectation> {
    flows
        .iter()
        .map(|f| Expectation {
            claim: Claim::Reach,
            from: Endpoint {
                node: f.src.clone(),
                iface: None,
            },
            to: Target::Addr(f.dst),
            probe: f.probe,
            count,
            timeout_ms,
            text: format!("{} -> {}", f.src, f.dst),
        })
        .collect()
}

/// Probe every flow (reach claims), slow ones again: answered or not.
fn probe_all(
    topo: &Topology,
    flows: &[Flow],
    again: impl Fn(usize) -> bool,
) -> Vec<(bool, String)> {
    let quick = netloom::verify::judge(&topo.network, &claims(flows, 1, 300));
    let mut out: Vec<(bool, String)> = quick.into_iter().map(|o| (o.ok, o.reason)).collect();
    let retry: Vec<usize> = (0..flows.len())
        .filter(|&i| !out[i].0 && again(i))
        .collect();
    if !retry.is_empty() {
        let sub: Vec<Flow> = retry.iter().map(|&i| flows[i].clone()).collect();
        let slow = netloom::verify::judge(&topo.network, &claims(&sub, 3, 1500));
        for (i, o) in retry.into_iter().zip(slow) {
            out[i] = (o.ok, o.reason);
        }
    }
    out
}

/// Bring `topo` up with `engine` (in this sandboxed process) and wait until it forwards.
pub async fn up(engine: &Engine, topo: &Topology) {
    engine
        .up(topo, Options::default())
        .await
        .unwrap_or_else(|e| panic!("up {}: {e}", topo.network.name));
    let flows = explain::all_flows(topo, Probe::Icmp);
    let expect = claims(&flows, 1, 300);
    let net = topo.network.clone();
    let bound = netloom::verify::default_bound(&net);
    let r = tokio::task::spawn_blocking(move || netloom::verify::readiness(&net, &expect, bound))
        .await
        .unwrap();
    assert!(
        r.ready || r.broken,
        "{} not ready: {}",
        topo.network.name,
        r
    );
}

/// Compare explain (static and live) with probes for every pair of a network that is up.
pub async fn compare(
    engine: &Engine,
    topo: &Topology,
    file: &str,
    label: &str,
    gaps: &BTreeMap<String, String>,
) -> Counts {
    let flows = explain::all_flows(topo, Probe::Icmp);
    let stat: Vec<Explanation> = flows
        .iter()
        .map(|f| explain::explain_static(topo, file, f))
        .collect();
    let live = engine
        .explain(topo, file, &flows, ExplainOptions::default())
        .await
        .unwrap_or_else(|e| panic!("live explain of {label}: {e}"));
    let t2 = topo.clone();
    let f2 = flows.clone();
    let said: Vec<bool> = stat
        .iter()
        .zip(&live)
        .map(|(s, l)| s.ok() || l.ok())
        .collect();
    let probes = tokio::task::spawn_blocking(move || probe_all(&t2, &f2, |i| said[i]))
        .await
        .unwrap();
    let mut c = Counts {
        pairs: flows.len(),
        ..Counts::default()
    };
    for (i, f) in flows.iter().enumerate() {
        *c.dispositions
            .entry(live[i].disposition.to_string())
            .or_default() += 1;
        let (reached, how) = &probes[i];
        c.reached += usize::from(*reached);
        let s_ok = stat[i].ok() == *reached;
        let l_ok = live[i].ok() == *reached;
        c.static_agree += usize::from(s_ok);
        c.live_agree += usize::from(l_ok);
        if s_ok && l_ok {
            continue;
        }
        let key = format!("{label}:{}->{}", f.src, f.dst);
        let d = Disagreement {
            key: key.clone(),
            probe: format!(
                "{}: {how}",
                if *reached { "answered" } else { "not answered" }
            ),
            stat: stat[i].disposition,
            live: live[i].disposition,
            why: explain::render::explanation(&live[i], "    "),
        };
        if gaps.contains_key(&key) {
            c.known.push(d);
        } else {
            c.bad.push(d);
        }
    }
    c
}

/// Print `line`, and append it to the file NETLOOM_EXPLAIN_COUNTS names
/// (a sandboxed test's output is only shown when it fails).
pub fn tell(line: &str) {
    println!("{line}");
    if let Some(p) = std::env::var_os("NETLOOM_EXPLAIN_COUNTS") {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
        {
            let _ = writeln!(f, "{line}");
        }
    }
}

/// A readable report of the disagreements.
pub fn report(bad: &[Disagreement]) -> String {
    bad.iter()
        .map(|d| {
            format!(
                "{}: probe {}; static {}, live {}\n{}",
                d.key, d.probe, d.stat, d.live, d.why
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A fresh engine for `topo` in this sandbox.
pub fn engine(topo: &Topology) -> Engine {
    Engine::new(&topo.network.name, Store::from_env()).expect("engine")
}
