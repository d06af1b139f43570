//! The `netloom` command: a thin layer over the library.
#![deny(unsafe_code)]
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use netloom::apply::exec::Faults;
use netloom::engine::{Engine, EngineError, ExplainOptions, Options};
use netloom::plan::SyncState;
use netloom::spec::{self, SpecErrors, Topology};
use netloom::state::Store;

// The binary's own rooms, under src/main/ (the library's layers are under
// src/; tests/architecture.rs leaves the binary out of them).
#[path = "main/install.rs"]
mod install;
#[path = "main/lif.rs"]
mod lif;
#[path = "main/progress.rs"]
mod progress;
#[path = "main/reads.rs"]
mod reads;
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
  netloom explain lab.yaml c1 10.0.3.1     why c1 reaches 10.0.3.1, or which rule stops it
  netloom graph lab.yaml --live -o lab.svg draw it, with the kernel's state
  netloom import ifupdown -o machine.yaml  /etc/network/interfaces as a topology file
  netloom exec lab.yaml c1 -- ping -c1 10.0.3.1
                                           run a command inside node c1
  netloom lif migrate lab.yaml data1 n1/eth1
                                           move a LIF by hand (`lif revert` sends it home)
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
    /// Move a logical interface (LIF) by hand.
    Lif {
        #[command(subcommand)]
        action: lif::LifAction,
    },
    /// Run one of netloom's own supervised helpers (started by `up`).
    #[command(hide = true)]
    Agent {
        /// Its launch.json in the state directory.
        launch: PathBuf,
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
    // An agent runs alone on one thread, before any runtime starts (it
    // takes its signals through a signalfd; see netloom::agent).
    if let Verb::Agent { launch } = &cli.verb {
        return match netloom::agent::run(launch) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(1)
            }
        };
    }
    let json = match &cli.verb {
        Verb::Validate { json, .. }
        | Verb::Plan { json, .. }
        | Verb::Up { json, .. }
        | Verb::Status { json, .. }
        | Verb::Down { json, .. }
        | Verb::Verify { json, .. }
        | Verb::Explain { json, .. }
        | Verb::Fdb { json, .. }
        | Verb::List { json } => *json,
        Verb::Exec { .. }
        | Verb::Agent { .. }
        | Verb::Lif { .. }
        | Verb::Import { .. }
        | Verb::Graph { .. }
        | Verb::Export { .. }
        | Verb::Install { .. } => false,
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
            let code = render::verify(proof, json);
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
            let proof = engine
                .verify_explained(&topo, &file.display().to_string())
                .await?;
            Ok(render::verify(&proof, json))
        }
        Verb::Import { from } => reads::import(from),
        Verb::Graph {
            file,
            format,
            live,
            verify,
            out,
        } => reads::graph(&file, format, live, verify, out).await,
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
            let ask = reads::Explain {
                src,
                dst,
                proto,
                opts: ExplainOptions { static_only, trace },
                all,
                json,
            };
            reads::explain(&file, ask).await
        }
        Verb::Fdb { file, bridge, json } => reads::fdb(&file, &bridge, json).await,
        Verb::Export {
            node,
            netns,
            topology,
            output,
        } => reads::export(node, netns, topology, output).await,
        Verb::List { json } => reads::list(json).await,
        Verb::Install { prefix } => {
            let written = install::install(Cli::command(), &prefix).map_err(|e| {
                Failure::Other(format!("cannot install under {}: {e}", prefix.display()))
            })?;
            for p in &written {
                println!("{}", p.display());
            }
            Ok(0)
        }
        Verb::Agent { .. } => Ok(0),
        Verb::Lif { action } => lif::run(action).await,
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
