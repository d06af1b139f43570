//! The `netloom` command: a thin layer over the library.
#![deny(unsafe_code)]
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use netloom::apply::exec::Faults;
use netloom::engine::{Engine, EngineError, Options, Source};
use netloom::plan::SyncState;
use netloom::spec::{self, SpecErrors, Topology};
use netloom::state::Store;

// The binary's own rooms, under src/main/ (the library's layers are under
// src/; tests/architecture.rs leaves the binary out of them).
#[path = "main/install.rs"]
mod install;
#[path = "main/progress.rs"]
mod progress;
#[path = "main/render.rs"]
mod render;

/// One example per verb, shown by `netloom --help` (a test holds every
/// verb to having one).
const EXAMPLES: &str = "\
Examples:
  netloom validate lab.yaml                check the file; touches nothing
  netloom plan lab.yaml                    list what `up` would do
  netloom up lab.yaml --verify             build it, then prove it by traffic
  netloom status lab.yaml                  per object: in sync, missing, drifted, orphaned
  netloom verify lab.yaml                  prove the file's expectations again
  netloom exec lab.yaml c1 -- ping -c1 10.0.3.1
                                           run a command inside node c1
  netloom fdb lab.yaml sw/br0              a bridge's MAC table and spanning tree
  netloom export --topology lab -o now.yaml
                                           the file that makes what is up now
  netloom list                             every topology up on this machine
  netloom down lab.yaml                    remove everything it made
  netloom install --prefix /usr/local      the binary, completions and man pages";

/// Declarative Linux virtual networks: one YAML file becomes a real network, proved by traffic.
#[derive(Parser)]
#[command(name = "netloom", version, about, after_help = EXAMPLES)]
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
    /// Show a bridge's MAC table (learned, static, permanent, with ages) and spanning tree per port.
    Fdb {
        /// Topology file.
        file: PathBuf,
        /// The bridge, as NODE/BRIDGE.
        bridge: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write the topology file that makes what the kernel has now (reads only, changes nothing).
    #[command(group(clap::ArgGroup::new("source").required(true).args(["node", "netns", "topology"])))]
    Export {
        /// The namespace netloom runs in: `--node host`.
        #[arg(long, value_name = "host")]
        node: Option<String>,
        /// A named network namespace (/run/netns/NAME).
        #[arg(long, value_name = "NAME")]
        netns: Option<String>,
        /// A topology netloom made (see `netloom list`).
        #[arg(long, value_name = "NAME")]
        topology: Option<String>,
        /// Write the file here instead of to standard output.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// List every topology netloom has up on this machine, with its nodes, age and state.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Install the binary, shell completions (bash, zsh, fish) and man pages under a prefix.
    Install {
        /// Where to install: PREFIX/bin, PREFIX/share/{bash-completion,zsh,fish,man}.
        #[arg(long, value_name = "PREFIX", default_value = "/usr/local")]
        prefix: PathBuf,
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
        | Verb::Verify { json, .. }
        | Verb::Fdb { json, .. }
        | Verb::List { json } => *json,
        Verb::Exec { .. } | Verb::Export { .. } | Verb::Install { .. } => false,
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
                progress: progress::bar(json),
            };
            let report = engine.up(&topo, opts).await;
            progress::clear();
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
                print!("{}", render::status(&st));
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
                progress: progress::bar(json),
                ..Options::default()
            };
            let report = engine.down(opts).await;
            progress::clear();
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
        Verb::Fdb { file, bridge, json } => {
            let topo = load(&file)?;
            let Some((node, name)) = bridge.split_once('/') else {
                return Err(Failure::Other(format!(
                    "`{bridge}`: name the bridge as NODE/BRIDGE, e.g. host/br0"
                )));
            };
            if !topo.network.nodes.contains_key(node) {
                return Err(Failure::Other(format!(
                    "node `{node}` is not in {}",
                    file.display()
                )));
            }
            let engine = Engine::new(&topo.network.name, Store::from_env())?;
            let report = engine.fdb(node, name).await?;
            if json {
                print_json(&report);
            } else {
                print!("{}", render::fdb(&report));
            }
            Ok(0)
        }
        Verb::Export {
            node,
            netns,
            topology,
            output,
        } => {
            let source = match (node, netns, topology) {
                (Some(n), _, _) if n == netloom::model::HOST => Source::Host,
                (Some(n), _, _) => {
                    return Err(Failure::Other(format!(
                        "`--node {n}`: only the node `host` is read by --node; name a namespace with --netns or a topology with --topology"
                    )))
                }
                (_, Some(ns), _) => Source::Netns(ns),
                (_, _, Some(t)) => {
                    Source::Topology(spec::checked_name(t).map_err(|e| Failure::Other(e.to_string()))?)
                }
                _ => return Err(Failure::Other("give --node host, --netns NAME or --topology NAME".into())),
            };
            let engine = Engine::exporting(&source, Store::from_env())?;
            let export = engine.export(&source).await?;
            match output {
                Some(path) => {
                    std::fs::write(&path, &export.text).map_err(|e| {
                        Failure::Other(format!("cannot write {}: {e}", path.display()))
                    })?;
                    let notes: usize = export.notes.values().map(Vec::len).sum();
                    eprintln!(
                        "{}: {} node(s), {notes} thing(s) not expressed (listed as comments)",
                        path.display(),
                        export.network.nodes.len()
                    );
                }
                None => print!("{}", export.text),
            }
            Ok(0)
        }
        Verb::List { json } => {
            let listed = Engine::list(&Store::from_env()).await?;
            if json {
                print_json(&listed);
            } else if listed.is_empty() {
                println!("no topology is up");
            } else {
                print!("{}", render::list(&listed));
            }
            Ok(0)
        }
        Verb::Install { prefix } => {
            let written = install::install(Cli::command(), &prefix).map_err(|e| {
                Failure::Other(format!("cannot install under {}: {e}", prefix.display()))
            })?;
            for p in &written {
                println!("{}", p.display());
            }
            Ok(0)
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
