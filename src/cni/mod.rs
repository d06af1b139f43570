//! netloom as a CNI plugin (CNI specification 1.1.0): the verbs ADD, DEL,
//! CHECK, STATUS, VERSION and GC over netloom's own layers (the kernel
//! access, the op vocabulary, the apply layer's transaction and journal,
//! the engine for a network's shared devices). `src/bin/netloom-cni.rs`
//! only reads the environment and stdin, calls [`run`] and prints.
//!
//! The invocation: CNI_* variables ([`env`]), the network configuration on
//! stdin ([`conf`], netloom's words for the container's side), a result or
//! an error in the spec's JSON shapes on stdout ([`result`], [`error`]).
//! See docs/cni.md for the configuration and the spec conformance table.
mod add;
pub mod attach;
mod check;
pub mod conf;
mod del;
pub mod env;
pub mod error;
pub mod ipam;
pub mod net;
pub mod result;
pub mod state;
pub mod version;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use error::CniError;

use crate::kernel::netns::{self, ForeignNetnsError, Netns};
use env::Verb;
use error::{INVALID_ENV, IO_FAILURE, UNKNOWN_CONTAINER};

/// The environment of an invocation.
pub type Vars = BTreeMap<String, String>;

/// What the plugin prints and how it exits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// stdout: a result, a VERSION answer, an error result, or nothing.
    pub stdout: String,
    /// The exit code: 0 on success.
    pub code: i32,
    /// The error, for a line on stderr.
    pub error: Option<CniError>,
}

/// Serve one invocation: environment `vars`, configuration `stdin`,
/// netloom's state directory `root` (the store's, /run/netloom).
pub fn run(vars: &Vars, stdin: &[u8], root: &Path) -> Outcome {
    // The version errors are written in: the request's when it names one.
    let asked = serde_json::from_slice::<serde_json::Value>(stdin)
        .ok()
        .and_then(|v| v["cniVersion"].as_str().map(String::from))
        .unwrap_or_else(|| version::NEWEST.to_string());
    match serve(vars, stdin, root) {
        Ok(stdout) => Outcome {
            stdout,
            code: 0,
            error: None,
        },
        Err(e) => Outcome {
            stdout: e.to_json(&asked),
            code: 1,
            error: Some(e),
        },
    }
}

fn serve(vars: &Vars, stdin: &[u8], root: &Path) -> Result<String, CniError> {
    let inv = env::parse(vars)?;
    if inv.verb == Verb::Version {
        let asked = serde_json::from_slice::<serde_json::Value>(stdin)
            .ok()
            .and_then(|v| v["cniVersion"].as_str().map(String::from))
            .unwrap_or_else(|| version::NEWEST.to_string());
        return Ok(serde_json::json!({
            "cniVersion": asked,
            "supportedVersions": version::SUPPORTED,
        })
        .to_string());
    }
    let raw = conf::object(stdin)?;
    let v = conf::request_version(&raw)?;
    version::allows(inv.verb.word(), &v)?;
    let conf = conf::parse(raw, v, inv.verb)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CniError::new(IO_FAILURE, "cannot start the runtime").with(e.to_string()))?;
    rt.block_on(async {
        match inv.verb {
            Verb::Add => add::add(&inv, &conf, vars, root).await,
            Verb::Del => del::del(&inv, &conf, vars, root)
                .await
                .map(|()| String::new()),
            Verb::Check => check::check(&inv, &conf, vars, root)
                .await
                .map(|()| String::new()),
            Verb::Status => check::status(&inv, &conf, vars, root)
                .await
                .map(|()| String::new()),
            Verb::Gc => del::gc(&inv, &conf, vars, root)
                .await
                .map(|()| String::new()),
            Verb::Version => unreachable!("answered above"),
        }
    })
}

/// Open CNI_NETNS by file descriptor, refusing what is not a network
/// namespace (see [`netns::open_path`]) before anything is touched: a path
/// that does not exist names no container (3); a file that is not a
/// network namespace is a wrong CNI_NETNS (4).
pub fn open_netns(path: &Path) -> Result<Netns, CniError> {
    netns::open_path(path).map_err(|e| match &e {
        ForeignNetnsError::Open { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            CniError::new(
                UNKNOWN_CONTAINER,
                "the container's network namespace does not exist",
            )
            .with(e.to_string())
        }
        _ => CniError::new(INVALID_ENV, "invalid environment: CNI_NETNS").with(e.to_string()),
    })
}

/// An I/O error of the state directory, saying what was being done.
pub fn io_error(what: &'static str) -> impl Fn(std::io::Error) -> CniError {
    move |e| CniError::new(IO_FAILURE, what).with(e.to_string())
}

/// netloom's state directory, as the store finds it.
pub fn state_root() -> PathBuf {
    crate::state::Store::from_env().dir().to_path_buf()
}
