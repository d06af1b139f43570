//! explain's speed goals, printed as figures (not a timed test):
//! - one live explain in the 1000-container scale topology (benches/scale):
//!   goal at most 100 ms;
//! - `--all --static` for a 100-node topology (about 10,000 pairs): goal at
//!   most 1 s.
//!
//! `cargo bench --bench explain -- [--n 1000] [--reps 5] [--static-only]`
//! The live part runs in a sandbox of its own (the bench re-runs itself
//! inside one), built with netloom's library.
#[path = "scale/topo.rs"]
#[allow(dead_code)]
mod topo;

use std::fmt::Write as _;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use netloom::engine::{Engine, ExplainOptions, Options};
use netloom::explain;
use netloom::model::Probe;
use netloom::state::Store;

/// A 100-node topology: a core router `r` joined to 9 racks; each rack a
/// node with a bridge (the rack's gateway, forwarding) and 10 hosts on it.
fn hundred() -> String {
    let mut y =
        String::from("name: hundred\nnodes:\n  r:\n    forwarding: true\n    interfaces:\n");
    for s in 1..=9 {
        let _ = writeln!(y, "      u{s}: {{ addresses: [10.255.{s}.1/30] }}");
    }
    y.push_str("    routes:\n");
    for s in 1..=9 {
        let _ = writeln!(y, "      - {{ to: 10.{s}.0.0/24, via: 10.255.{s}.2 }}");
    }
    let mut links = String::new();
    for s in 1..=9 {
        let ports: Vec<String> = (1..=10).map(|h| format!("p{h}")).collect();
        let _ = writeln!(y, "  s{s}:\n    forwarding: true\n    interfaces:");
        let _ = writeln!(y, "      up: {{ addresses: [10.255.{s}.2/30] }}");
        let _ = writeln!(
            y,
            "      br0: {{ kind: bridge, stp: false, addresses: [10.{s}.0.254/24], ports: [{}] }}",
            ports.join(", ")
        );
        for p in &ports {
            let _ = writeln!(y, "      {p}: {{}}");
        }
        let _ = writeln!(
            y,
            "    routes:\n      - {{ to: default, via: 10.255.{s}.1 }}"
        );
        let _ = writeln!(links, "  - [r/u{s}, s{s}/up]");
        for h in 1..=10 {
            let _ = writeln!(
                y,
                "  h{s}x{h}:\n    interfaces:\n      eth0: {{ addresses: [10.{s}.0.{h}/24] }}\n    routes:\n      - {{ to: default, via: 10.{s}.0.254 }}"
            );
            let _ = writeln!(links, "  - [h{s}x{h}/eth0, s{s}/p{h}]");
        }
    }
    y.push_str("links:\n");
    y.push_str(&links);
    y
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// `--all --static` over the 100-node topology.
fn static_all(reps: usize) {
    let text = hundred();
    let topo =
        netloom::spec::parse_str("hundred.yaml", &text).expect("the 100-node topology is valid");
    let mut times = Vec::new();
    let mut m = None;
    for _ in 0..reps {
        let t = Instant::now();
        m = Some(explain::all_static(&topo, "hundred.yaml", Probe::Icmp));
        times.push(t.elapsed());
    }
    let m = m.expect("at least one rep");
    let ok = m.cells.iter().filter(|c| c.disposition.ok()).count();
    println!(
        "static --all, {} nodes, {} pairs ({} delivered): median {} (min {}, max {}) over {reps} reps; goal <= 1000 ms",
        m.nodes.len(),
        m.cells.len(),
        ok,
        ms(median(times.clone())),
        ms(*times.iter().min().unwrap()),
        ms(*times.iter().max().unwrap()),
    );
}

/// Inside the sandbox: the scale topology up, then live explains of c1 -> cN.
fn live(n: usize, reps: usize) -> Result<(), String> {
    let text = topo::netloom_yaml(n);
    let topo = netloom::spec::parse_str("scale.yaml", &text).map_err(|e| format!("{e:?}"))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let engine = Engine::new(&topo.network.name, Store::from_env()).map_err(|e| e.to_string())?;
        let t = Instant::now();
        engine.up(&topo, Options::default()).await.map_err(|e| e.to_string())?;
        println!("scale topology, {n} containers: up in {}", ms(t.elapsed()));
        let dst = topo::addr(n).to_string();
        let flow = explain::target::flow(&topo, "scale.yaml", &topo::container(1), &dst, Probe::Icmp)
            .map_err(|e| e.to_string())?;
        let mut times = Vec::new();
        let mut last = None;
        for _ in 0..reps {
            let t = Instant::now();
            let ex = engine
                .explain(&topo, "scale.yaml", std::slice::from_ref(&flow), ExplainOptions::default())
                .await
                .map_err(|e| e.to_string())?;
            times.push(t.elapsed());
            last = ex.into_iter().next();
        }
        let e = last.ok_or("no explanation")?;
        println!(
            "live explain {} -> {dst}: {} ({} hops there, {} back); first {}, median {} (min {}) over {reps} reps; goal <= 100 ms",
            flow.src,
            e.disposition,
            e.forward.hops.len(),
            e.reply.as_ref().map_or(0, |r| r.hops.len()),
            ms(times[0]),
            ms(median(times.clone())),
            ms(*times.iter().min().unwrap()),
        );
        let t = Instant::now();
        let _ = explain::explain_static(&topo, "scale.yaml", &flow);
        println!("static explain of the same flow: {}", ms(t.elapsed()));
        netloom::timing::report();
        Ok(())
    })
}

fn main() -> ExitCode {
    let mut n = 1000;
    let mut reps = 5;
    let mut static_only = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--n" => n = args.next().and_then(|v| v.parse().ok()).unwrap_or(n),
            "--reps" => {
                reps = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(reps)
                    .max(1)
            }
            "--static-only" => static_only = true,
            _ => {}
        }
    }
    if std::env::var_os(netloom::sandbox::INSIDE).is_some() {
        return match live(n, reps) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("explain bench: {e}");
                ExitCode::from(1)
            }
        };
    }
    static_all(reps);
    if static_only {
        return ExitCode::SUCCESS;
    }
    let Ok(exe) = std::env::current_exe() else {
        eprintln!("explain bench: cannot find itself");
        return ExitCode::from(1);
    };
    let mut cmd = Command::new(exe);
    cmd.args(["--n", &n.to_string(), "--reps", &reps.to_string()])
        .env(netloom::sandbox::INSIDE, "1");
    netloom::sandbox::isolate(&mut cmd);
    match cmd.status() {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        Ok(s) => {
            eprintln!("explain bench: the sandboxed run failed ({s})");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("explain bench: cannot start the sandbox: {e}");
            ExitCode::from(1)
        }
    }
}
