//! The verbs that read and render beyond the core path: explain, graph,
//! fdb, export, import and list. Each parses what the CLI gave it, calls the
//! engine (or the library's importer) and prints.
use std::path::{Path, PathBuf};

use netloom::engine::{Engine, ExplainOptions, Source};
use netloom::spec;
use netloom::state::Store;

use super::{load, print_json, render, Failure, GraphFormat, ImportFrom};

/// What `explain` was asked.
pub struct Explain {
    /// NODE or NODE/IFACE.
    pub src: Option<String>,
    /// An address, NODE or NODE/IFACE.
    pub dst: Option<String>,
    /// icmp, arp, udp/PORT, tcp/PORT.
    pub proto: String,
    /// Static or live, traced or not.
    pub opts: ExplainOptions,
    /// The whole matrix.
    pub all: bool,
    /// Print JSON.
    pub json: bool,
}

/// Write `bytes` to `out`, or to standard output.
fn write_out(out: Option<&Path>, bytes: &[u8]) -> Result<(), Failure> {
    match out {
        Some(path) => std::fs::write(path, bytes)
            .map_err(|e| Failure::Other(format!("cannot write {}: {e}", path.display()))),
        None => {
            use std::io::Write as _;
            std::io::stdout()
                .write_all(bytes)
                .map_err(|e| Failure::Other(format!("cannot write: {e}")))
        }
    }
}

/// `graph`: draw the file, with the kernel's state laid over it when `live`.
pub async fn graph(
    file: &Path,
    format: GraphFormat,
    live: bool,
    verify: bool,
    out: Option<PathBuf>,
) -> Result<u8, Failure> {
    let topo = load(file)?;
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
    let bytes = netloom::graph::render(&g, format).map_err(|e| Failure::Other(e.to_string()))?;
    write_out(out.as_deref(), &bytes)?;
    Ok(0)
}

/// `explain`: one flow (exit 0 delivered, 2 not) or the whole matrix.
pub async fn explain(file: &Path, ask: Explain) -> Result<u8, Failure> {
    let topo = load(file)?;
    let shown = file.display().to_string();
    let probe = netloom::explain::parse_probe(&ask.proto).ok_or_else(|| {
        Failure::Engine(netloom::explain::ExplainError::BadProbe(ask.proto.clone()).into())
    })?;
    let engine = Engine::new(&topo.network.name, Store::from_env())?;
    if ask.all {
        let m = engine
            .explain_all(&topo, &shown, probe, ask.opts.static_only)
            .await?;
        if ask.json {
            print_json(&m);
        } else {
            print!("{}", netloom::explain::render::matrix(&m));
        }
        return Ok(0);
    }
    let (src, dst) = (ask.src.unwrap_or_default(), ask.dst.unwrap_or_default());
    let flow = netloom::explain::target::flow(&topo, &shown, &src, &dst, probe)
        .map_err(|e| Failure::Engine(e.into()))?;
    let ex = engine.explain(&topo, &shown, &[flow], ask.opts).await?;
    let Some(e) = ex.first() else {
        return Err(Failure::Other("nothing explained".into()));
    };
    if ask.json {
        print_json(e);
    } else {
        print!("{}", netloom::explain::render::explanation(e, ""));
    }
    Ok(if e.ok() { 0 } else { 2 })
}

/// `fdb`: a bridge's MAC table and spanning tree.
pub async fn fdb(file: &Path, bridge: &str, json: bool) -> Result<u8, Failure> {
    let topo = load(file)?;
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

/// `export`: the file that makes what the kernel has now.
pub async fn export(
    node: Option<String>,
    netns: Option<String>,
    topology: Option<String>,
    output: Option<PathBuf>,
) -> Result<u8, Failure> {
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
        _ => {
            return Err(Failure::Other(
                "give --node host, --netns NAME or --topology NAME".into(),
            ))
        }
    };
    let engine = Engine::exporting(&source, Store::from_env())?;
    let export = engine.export(&source).await?;
    write_out(output.as_deref(), export.text.as_bytes())?;
    if let Some(path) = &output {
        let notes: usize = export.notes.values().map(Vec::len).sum();
        eprintln!(
            "{}: {} node(s), {notes} thing(s) not expressed (listed as comments)",
            path.display(),
            export.network.nodes.len()
        );
    }
    Ok(0)
}

/// `import`: write the topology, say on stderr what was left out.
pub fn import(from: ImportFrom) -> Result<u8, Failure> {
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
    write_out(out.as_deref(), imported.yaml.as_bytes())?;
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

/// `list`: every topology netloom has up on this machine.
pub async fn list(json: bool) -> Result<u8, Failure> {
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
