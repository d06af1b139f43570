//! `lif migrate` and `lif revert`: move a logical interface by hand, through
//! the topology's LIF watcher (see netloom::agent::lif).
use std::path::PathBuf;

use clap::Subcommand;
use netloom::engine::Engine;
use netloom::state::Store;

use super::{load, Failure};

/// What `lif` does.
#[derive(Subcommand)]
pub enum LifAction {
    /// Move the LIF to PORT and keep it there (sticky: no auto-revert) until `lif revert`.
    Migrate {
        /// Topology file.
        file: PathBuf,
        /// The LIF's name.
        lif: String,
        /// One of its ports: IFACE or NODE/IFACE.
        port: String,
    },
    /// Send the LIF home (its home port must be up) and let auto-revert work again.
    Revert {
        /// Topology file.
        file: PathBuf,
        /// The LIF's name.
        lif: String,
    },
}

/// Ask the watcher to move the LIF; print its answer.
pub async fn run(action: LifAction) -> Result<u8, Failure> {
    let (file, lif, port) = match &action {
        LifAction::Migrate { file, lif, port } => (file, lif, Some(port.as_str())),
        LifAction::Revert { file, lif } => (file, lif, None),
    };
    let topo = load(file)?;
    let engine = Engine::new(&topo.network.name, Store::from_env())?;
    let answer = engine.lif(&topo, lif, port).await?;
    println!("{}", answer.message);
    Ok(0)
}
