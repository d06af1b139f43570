//! The `netloom` command: a thin layer over the library.
#![deny(unsafe_code)]
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use netloom::apply::exec::Faults;
use netloom::engine::{Engine, EngineError, Options};
use netloom::plan::SyncState;
use netloom::spec::{self, SpecErrors, Topology};
use netloom::state::Store;

/// Declarative Linux virtual networks: one YAML file becomes a real network, proved by traffic.
#[derive(Parser)]
#[command(name = "netloom", version, about)]
struct Cli {
    #[command(subcommand)]
    verb: Verb,
}

#[derive(Subcommand)]
enum Verb {
    /// Check a topology file; touches nothing.
    Validate {
        /// Topology file.
        file: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List, in order, the operations `up` would perform (exit 0: in sync, 2: changes pending).
    Plan {
        /// Topology file.
        file: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Make the kernel match the file.
    Up {
        /// Topology file.
        file: PathBuf,
        /// After applying, check every expectation by traffic.
        #[arg(long)]
        verify: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show, per object, in sync / missing / drifted / orphaned.
    Status {
        /// Topology file.
        file: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove everything this topology created, and nothing else.
    Down {
        /// Topology file (or use --name).
        file: Option<PathBuf>,
        /// Topology name, from netloom's records, when the file is gone.
        #[arg(long, conflicts_with = "file")]
        name: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Prove the file's expectations with real packets (exit 1 when any fails).
    Verify {
        /// Topology file.
        file: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run a command inside a node's namespace.
    Exec {
        /// Topology file.
        file: PathBuf,
        /// Node name.
        node: String,
        /// Command and arguments.
        #[arg(last = true, required = true)]
        cmd: Vec<String>,
    },
}

/// An error for people: what went wrong, rendered at the edge.
enum Failure {
    Spec(Box<SpecErrors>),
    Engine(EngineError),
    Other(String),
}

impl From<EngineError> for Failure {
    fn from(e: EngineError) -> Self {
        Failure::Engine(e)
    }
}

fn load(file: &Path) -> Result<Topology, Failure> {
    let start = std::time::Instant::now();
    let topo = spec::load(file).map_err(|e| Failure::Spec(Box::new(e)));
    netloom::timing::record("load", start.elapsed());
    topo
}

fn print_json(v: &impl serde::Serialize) {
    match serde_json::to_string_pretty(v) {
        Ok(s) => println!("{s}"),
        Err(e) => eprintln!("error: cannot encode JSON: {e}"),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = match &cli.verb {
        Verb::Validate { json, .. }
        | Verb::Plan { json, .. }
        | Verb::Up { json, .. }
        | Verb::Status { json, .. }
        | Verb::Down { json, .. }
        | Verb::Verify { json, .. } => *json,
        Verb::Exec { .. } => false,
    };
    // Before the runtime starts threads (see the module's docs). Without it
    // netloom still works, only slower and for fewer nodes.
    if let Err(e) = netloom::kernel::fdtable::prepare() {
        eprintln!("warning: cannot prepare the file descriptor table: {e}");
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let start = std::time::Instant::now();
    let result = rt.block_on(run(cli.verb));
    netloom::timing::record("run", start.elapsed());
    drop(rt);
    netloom::timing::record("run and runtime shutdown", start.elapsed());
    netloom::timing::report();
    match result {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            report(f, json);
            ExitCode::from(1)
        }
    }
}

fn report(f: Failure, json: bool) {
    match f {
        Failure::Spec(e) => {
            if json {
                print_json(&e.to_json());
            } else {
                eprintln!("{:?}", miette::Report::new(*e));
            }
        }
        Failure::Engine(e) => {
            if json {
                print_json(&serde_json::json!({ "error": e.to_string() }));
            } else {
                eprintln!("error: {e}");
                if let Some(rollback) = e.rollback() {
                    if rollback.errors.is_empty() {
                        eprintln!(
                            "rolled back: {} finished step(s) undone; the machine is as before",
                            rollback.undone
                        );
                    } else {
                        eprintln!("rollback incomplete ({} undone):", rollback.undone);
                        for m in &rollback.errors {
                            eprintln!("  {m}");
                        }
                    }
                }
            }
        }
        Failure::Other(m) => {
            if json {
                print_json(&serde_json::json!({ "error": m }));
            } else {
                eprintln!("error: {m}");
            }
        }
    }
}

async fn run(verb: Verb) -> Result<u8, Failure> {
    // The verbs that make the kernel build, tear down or carry traffic keep
    // idle CPUs ready while they run (see the module's docs for why).
    let _awake = matches!(
        verb,
        Verb::Up { .. } | Verb::Down { .. } | Verb::Verify { .. }
    )
    .then(netloom::kernel::awake::Awake::hold);
    match verb {
        Verb::Validate { file, json } => {
            let topo = load(&file)?;
            if json {
                print_json(
                    &serde_json::json!({ "file": file, "valid": true, "name": topo.network.name }),
                );
            } else {
                println!(
                    "{}: valid ({} nodes, {} expectations)",
                    file.display(),
                    topo.network.nodes.len(),
                    topo.expect.len()
                );
            }
            Ok(0)
        }
        Verb::Plan { file, json } => {
            let topo = load(&file)?;
            let engine = Engine::new(&topo.network.name, Store::from_env())?;
            let planned = engine.plan(&topo.network).await?;
            if json {
                print_json(&planned.plan);
            } else if planned.plan.steps.is_empty() {
                println!("{}: in sync, nothing to do", topo.network.name);
            } else {
                for (i, s) in planned.plan.steps.iter().enumerate() {
                    println!("{:>4}  {}", i + 1, s.op);
                }
                println!("{} operation(s) pending", planned.plan.steps.len());
            }
            Ok(if planned.plan.steps.is_empty() { 0 } else { 2 })
        }
        Verb::Up { file, verify, json } => {
            let topo = load(&file)?;
            let engine = Engine::new(&topo.network.name, Store::from_env())?;
            let abs = std::fs::canonicalize(&file).unwrap_or(file.clone());
            let opts = Options {
                file: Some(abs.to_string_lossy().into_owned()),
                verify,
                faults: Faults::from_env(),
                progress: progress_bar(json),
            };
            let report = engine.up(&topo, opts).await;
            clear_progress(json);
            let report = report?;
            if json && report.verify.is_none() {
                print_json(&report);
            } else if !json {
                println!(
                    "{}: {} operation(s) in {:.3} s",
                    report.name,
                    report.done,
                    report.elapsed.as_secs_f64()
                );
            }
            let Some(proof) = &report.verify else {
                return Ok(0);
            };
            let code = render_verify(proof, json);
            if code != 0 && !json {
                // Verify never rolls back: the network is what the file asked for,
                // left in place to be inspected (`exec`) or removed (`down`).
                eprintln!(
                    "verification failed; the network stays applied: inspect it with `netloom exec`, remove it with `netloom down {}`",
                    file.display()
                );
            }
            Ok(code)
        }
        Verb::Status { file, json } => {
            let topo = load(&file)?;
            let engine = Engine::new(&topo.network.name, Store::from_env())?;
            let st = engine.status(&topo.network).await?;
            if json {
                print_json(&st);
            } else {
                print!("{}", status_table(&st));
            }
            Ok(
                if st
                    .objects
                    .iter()
                    .all(|s| matches!(s.state, SyncState::InSync))
                {
                    0
                } else {
                    2
                },
            )
        }
        Verb::Down { file, name, json } => {
            let name = match (file, name) {
                (Some(f), _) => spec::load_name(&f).map_err(|e| Failure::Spec(Box::new(e)))?,
                (None, Some(n)) => {
                    spec::checked_name(n).map_err(|e| Failure::Other(e.to_string()))?
                }
                (None, None) => {
                    return Err(Failure::Other("give a topology file or --name NAME".into()))
                }
            };
            let engine = Engine::new(&name, Store::from_env())?;
            let opts = Options {
                faults: Faults::from_env(),
                progress: progress_bar(json),
                ..Options::default()
            };
            let report = engine.down(opts).await;
            clear_progress(json);
            let report = report?;
            if json {
                print_json(&report);
            } else {
                println!(
                    "{name}: {} operation(s) in {:.3} s",
                    report.done,
                    report.elapsed.as_secs_f64()
                );
            }
            Ok(0)
        }
        Verb::Verify { file, json } => {
            let topo = load(&file)?;
            let engine = Engine::new(&topo.network.name, Store::from_env())?;
            let proof = engine.verify(&topo).await?;
            Ok(render_verify(&proof, json))
        }
        Verb::Exec { file, node, cmd } => {
            let topo = load(&file)?;
            if !topo.network.nodes.contains_key(&node) {
                return Err(Failure::Other(format!(
                    "node `{node}` is not in {}",
                    file.display()
                )));
            }
            let engine = Engine::new(&topo.network.name, Store::from_env())?;
            let status = engine.exec(&node, &cmd)?;
            Ok(status.code().map_or(1, |c| c as u8))
        }
    }
}

/// Print a proof by traffic; its exit code (1 when a claim failed).
fn render_verify(report: &netloom::verify::Report, json: bool) -> u8 {
    if json {
        print_json(report);
    } else {
        println!("{}", report.readiness);
        print!("{}", netloom::verify::table(&report.outcomes));
    }
    u8::from(!report.ok())
}

fn status_table(st: &netloom::engine::StatusReport) -> String {
    let width = st.objects.iter().map(|o| o.object.len()).max().unwrap_or(0);
    let mut out = String::new();
    for o in &st.objects {
        let state = match &o.state {
            SyncState::InSync => "in sync".to_string(),
            SyncState::Missing => "missing".to_string(),
            SyncState::Orphaned => "orphaned (no longer in the file; `up` removes it)".to_string(),
            SyncState::Drifted { fields } => format!(
                "drifted: {}",
                fields
                    .iter()
                    .map(|f| format!("{} {} (want {})", f.field, f.have, f.want))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let mut extra = st
            .devices
            .get(&o.object)
            .map(|d| format!("  [{d}]"))
            .unwrap_or_default();
        if let Some(t) = st.teams.get(&o.object) {
            let ports: Vec<String> = t
                .ports
                .iter()
                .map(|p| format!("{} {}", p.name, if p.link_up { "up" } else { "down" }))
                .collect();
            extra.push_str(&format!(
                "  [teamd: runner {}, active port {}, ports: {}]",
                t.runner,
                t.active_port.as_deref().unwrap_or("none"),
                ports.join(", ")
            ));
        }
        if let Some(f) = st.failover.get(&o.object) {
            extra.push_str(&format!("  [{}]", failover_words(f)));
        }
        out.push_str(&format!("{:<width$}  {state}{extra}\n", o.object));
    }
    // Failover masters the file does not name are shown too: the kernel
    // made them, and a file's external lower may sit on one.
    for (name, f) in &st.failover {
        if !st.objects.iter().any(|o| &o.object == name) {
            out.push_str(&format!(
                "{name:<width$}  observed  [{}]\n",
                failover_words(f)
            ));
        }
    }
    out
}

/// A failover master in one bracket: its slaves, and which carries traffic.
fn failover_words(f: &netloom::kernel::failover::Failover) -> String {
    let slave = |s: &Option<netloom::kernel::failover::Slave>| match s {
        Some(s) => format!(
            "{} {} (tx {})",
            s.name,
            if s.up && s.carrier { "ready" } else { "down" },
            s.tx_packets
        ),
        None => "absent".to_string(),
    };
    format!(
        "net_failover: primary {}, standby {}, active {}",
        slave(&f.primary),
        slave(&f.standby),
        f.active.as_deref().unwrap_or("none (frames are dropped)")
    )
}

fn progress_bar(json: bool) -> Option<Box<dyn Fn(usize, usize) + Send + Sync>> {
    // Only people watching a terminal want a bar, and only for long runs;
    // logs and pipes stay quiet.
    if json || !std::io::stderr().is_terminal() {
        return None;
    }
    Some(Box::new(|done, total| {
        if total < 50 {
            return;
        }
        if done == total || done % 16 == 0 {
            let width = 40;
            let filled = done * width / total.max(1);
            eprint!(
                "\r[{}{}] {done}/{total}",
                "#".repeat(filled),
                " ".repeat(width - filled)
            );
        }
    }))
}

fn clear_progress(json: bool) {
    if !json && std::io::stderr().is_terminal() {
        eprint!("\r\x1b[K");
    }
}
