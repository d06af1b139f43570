//! The `netloom` command: a thin layer over the library.
#![deny(unsafe_code)]
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use netloom::apply::exec::Faults;
use netloom::engine::{Engine, EngineError, ExplainOptions, Options};
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
    /// Draw a topology: from the file alone, or with the kernel's state (--live).
    Graph {
        /// Topology file.
        file: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "svg")]
        format: GraphFormat,
        /// Colour in the kernel's state: carrier, admin state, STP, active ports, drift.
        #[arg(long)]
        live: bool,
        /// With --live: prove the expectations by traffic and draw the failed ones.
        #[arg(long, requires = "live")]
        verify: bool,
        /// Write here instead of standard output.
        #[arg(short = 'o', long = "output")]
        out: Option<PathBuf>,
    },
    /// Turn another tool's network configuration into a topology file; reads only.
    Import {
        #[command(subcommand)]
        from: ImportFrom,
    },
    /// Say why SRC reaches DST, hop by hop, or which rule stops it (exit 0: delivered, 2: not).
    Explain {
        /// Topology file.
        file: PathBuf,
        /// Source: NODE or NODE/IFACE.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        src: Option<String>,
        /// Destination: an address, NODE or NODE/IFACE.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        dst: Option<String>,
        /// Probe: icmp, arp, udp/PORT, tcp/PORT.
        #[arg(long, default_value = "icmp")]
        proto: String,
        /// From the file alone, before `up` (needs no root).
        #[arg(long = "static")]
        static_only: bool,
        /// Send one real probe with nftables tracing on and show the verdicts.
        #[arg(long)]
        trace: bool,
        /// Every node to every address of the file, as a matrix.
        #[arg(long)]
        all: bool,
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

/// The formats `graph` writes.
#[derive(Clone, Copy, clap::ValueEnum)]
enum GraphFormat {
    /// SVG, laid out by Graphviz's `dot`.
    Svg,
    /// Graphviz DOT text.
    Dot,
    /// A Mermaid flowchart.
    Mermaid,
    /// The graph as JSON.
    Json,
}

/// The configurations `import` reads.
#[derive(Subcommand)]
enum ImportFrom {
    /// Debian's /etc/network/interfaces (ifupdown, bridge-utils, ifenslave, vlan, ifupdown2).
    Ifupdown {
        /// The interfaces file [default: /etc/network/interfaces].
        file: Option<PathBuf>,
        /// Write the topology here instead of standard output.
        #[arg(short = 'o', long = "output")]
        out: Option<PathBuf>,
        /// Fail (exit 1, nothing written) when anything cannot be imported.
        #[arg(long)]
        strict: bool,
        /// Read absolute paths under this directory (another machine's files).
        #[arg(long)]
        root: Option<PathBuf>,
        /// The topology's name.
        #[arg(long, default_value = "ifupdown")]
        name: String,
        /// The node of the machine's interfaces (not `host` needs --stand-ins).
        #[arg(long, default_value = "host")]
        node: String,
        /// Physical ports become veth ends paired into node `wire`, with all their settings.
        #[arg(long)]
        stand_ins: bool,
    },
}

/// An error for people: what went wrong, rendered at the edge.
enum Failure {
    Spec(Box<SpecErrors>),
    Import(Box<netloom::import::ImportErrors>),
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
        | Verb::Verify { json, .. }
        | Verb::Explain { json, .. } => *json,
        Verb::Exec { .. } | Verb::Import { .. } | Verb::Graph { .. } => false,
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
        Failure::Import(e) => {
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
            let proof = engine
                .verify_explained(&topo, &file.display().to_string())
                .await?;
            Ok(render_verify(&proof, json))
        }
        Verb::Import { from } => import(from),
        Verb::Graph {
            file,
            format,
            live,
            verify,
            out,
        } => {
            let topo = load(&file)?;
            let state = if live {
                let engine = Engine::new(&topo.network.name, Store::from_env())?;
                Some(engine.live(&topo, verify).await?)
            } else {
                None
            };
            let g = netloom::graph::build(&topo, state.as_ref());
            let format = match format {
                GraphFormat::Svg => netloom::graph::Format::Svg,
                GraphFormat::Dot => netloom::graph::Format::Dot,
                GraphFormat::Mermaid => netloom::graph::Format::Mermaid,
                GraphFormat::Json => netloom::graph::Format::Json,
            };
            let bytes =
                netloom::graph::render(&g, format).map_err(|e| Failure::Other(e.to_string()))?;
            match out {
                Some(path) => std::fs::write(&path, bytes)
                    .map_err(|e| Failure::Other(format!("cannot write {}: {e}", path.display())))?,
                None => {
                    use std::io::Write as _;
                    std::io::stdout()
                        .write_all(&bytes)
                        .map_err(|e| Failure::Other(format!("cannot write: {e}")))?;
                }
            }
            Ok(0)
        }
        Verb::Explain {
            file,
            src,
            dst,
            proto,
            static_only,
            trace,
            all,
            json,
        } => {
            let topo = load(&file)?;
            let shown = file.display().to_string();
            let probe = netloom::explain::parse_probe(&proto).ok_or_else(|| {
                Failure::Engine(netloom::explain::ExplainError::BadProbe(proto.clone()).into())
            })?;
            let engine = Engine::new(&topo.network.name, Store::from_env())?;
            if all {
                let m = engine
                    .explain_all(&topo, &shown, probe, static_only)
                    .await?;
                if json {
                    print_json(&m);
                } else {
                    print!("{}", netloom::explain::render::matrix(&m));
                }
                return Ok(0);
            }
            let (src, dst) = (src.unwrap_or_default(), dst.unwrap_or_default());
            let flow = netloom::explain::target::flow(&topo, &shown, &src, &dst, probe)
                .map_err(|e| Failure::Engine(e.into()))?;
            let opts = ExplainOptions { static_only, trace };
            let ex = engine.explain(&topo, &shown, &[flow], opts).await?;
            let Some(e) = ex.first() else {
                return Err(Failure::Other("nothing explained".into()));
            };
            if json {
                print_json(e);
            } else {
                print!("{}", netloom::explain::render::explanation(e, ""));
            }
            Ok(if e.ok() { 0 } else { 2 })
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

/// `import`: write the topology, say on stderr what was left out.
fn import(from: ImportFrom) -> Result<u8, Failure> {
    let ImportFrom::Ifupdown {
        file,
        out,
        strict,
        root,
        name,
        node,
        stand_ins,
    } = from;
    let opts = netloom::import::ifupdown::Options {
        file,
        root,
        name,
        node,
        stand_ins,
    };
    let imported =
        netloom::import::ifupdown::import(&opts).map_err(|e| Failure::Import(Box::new(e)))?;
    if strict && !imported.skipped.is_empty() {
        return Err(Failure::Import(Box::new(netloom::import::ImportErrors {
            what: "--strict: not everything can be imported".into(),
            errors: imported.skipped.iter().map(|s| s.to_error()).collect(),
        })));
    }
    match &out {
        Some(path) => std::fs::write(path, &imported.yaml)
            .map_err(|e| Failure::Other(format!("cannot write {}: {e}", path.display())))?,
        None => print!("{}", imported.yaml),
    }
    let net = &imported.topology.network;
    let ifaces: usize = net.nodes.values().map(|n| n.links.len()).sum();
    let routes: usize = net.nodes.values().map(|n| n.routes.len()).sum();
    eprintln!(
        "imported {ifaces} interface(s) and {routes} route(s){}; {} item(s) not imported{}",
        out.as_ref()
            .map(|p| format!(" into {}", p.display()))
            .unwrap_or_default(),
        imported.skipped.len(),
        if imported.skipped.is_empty() {
            ""
        } else {
            " (listed at the end of the file)"
        }
    );
    Ok(0)
}

/// Print a proof by traffic, with why each failed claim failed; its exit
/// code (1 when a claim failed).
fn render_verify(v: &netloom::engine::Verified, json: bool) -> u8 {
    if json {
        print_json(v);
    } else {
        println!("{}", v.report.readiness);
        print!("{}", netloom::verify::table(&v.report.outcomes));
        for x in &v.explanations {
            println!("\nwhy `{}`:", x.text);
            match (&x.explanation, &x.error) {
                (Some(e), _) => print!("{}", netloom::explain::render::explanation(e, "  ")),
                (None, Some(err)) => println!("  (no explanation: {err})"),
                (None, None) => {}
            }
        }
    }
    u8::from(!v.ok())
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
        out.push_str(&format!("{:<width$}  {state}{extra}\n", o.object));
    }
    out
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
