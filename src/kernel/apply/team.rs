//! team: the device is made over rtnetlink like any link (see `link`); its
//! runner and ports are teamd's. Starting teamd means: stop the one that runs
//! (a config change is a restart: teamd reads its config only at start), set
//! each port down and release it (the 6.1 team driver refuses an up port
//! with EBUSY, and a runner change with ports present), then start teamd,
//! which enslaves the ports; the driver brings each port up as it enslaves it.
//! Deleting a team or its node stops its teamd first, found through the
//! node's teamd directory alone, so this also works after a crash.
//!
//! teamd processes are not listed in the records (`Records::processes`):
//! the node's teamd directory under the state dir is where teamd writes its
//! own pid file, which `teamd::running` checks against /proc, so the
//! directory alone finds every teamd, also after a crash between start and a
//! records save, and with `down --name` when the file is gone. A second copy
//! in the records could only go stale.
use std::path::PathBuf;

use futures::TryStreamExt;
use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};

use super::{node_handle, object};
use crate::kernel::error::KernelError;
use crate::kernel::{conn, teamd, Kernel, NodeHandle};
use crate::model::TeamdSetup;

/// Run a blocking teamd call off the async threads.
async fn blocking<T: Send + 'static>(
    what: String,
    f: impl FnOnce() -> Result<T, KernelError> + Send + 'static,
) -> Result<T, KernelError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| KernelError::Thread { object: what })?
}

/// (Re)start the teamd of team `dev` in `node` with `setup`.
pub(super) async fn start(
    k: &Kernel,
    node: &str,
    dev: &str,
    setup: &TeamdSetup,
) -> Result<(), KernelError> {
    let h = node_handle(k, node).await?;
    let dir = k.teamd_dir(node);
    let obj = object(node, dev);
    {
        let (dir, dev) = (dir.clone(), dev.to_string());
        blocking(format!("stop teamd {obj}"), move || teamd::stop(&dir, &dev)).await?;
    }
    let team_index = super::ifindex(&h, node, dev).await?;
    for port in setup.ports.keys() {
        release(&h, node, port, team_index).await?;
    }
    std::fs::create_dir_all(&dir).map_err(|e| KernelError::io(dir.display().to_string(), e))?;
    let text = serde_json::to_string_pretty(setup).map_err(|e| KernelError::Invalid {
        object: obj.clone(),
        message: format!("teamd setup cannot be written: {e}"),
    })?;
    let path = teamd::setup_path(&dir, dev);
    std::fs::write(&path, text).map_err(|e| KernelError::io(path.display().to_string(), e))?;
    let config = config(dev, setup);
    let (ns, dev) = (h.netns.clone(), dev.to_string());
    blocking(format!("start teamd {obj}"), move || {
        teamd::start(&ns, &dir, &dev, &config).map(drop)
    })
    .await
}

/// After a (re)start of the teamd of team `dev` in `node` with `setup`,
/// once the other steps of the plan have run (they bring the ports' peers
/// up): make the highest-prio port with carrier the active one (see
/// kernel::teamd::active). Other runners: nothing to do.
pub async fn first_choice(
    k: &Kernel,
    node: &str,
    dev: &str,
    setup: &TeamdSetup,
) -> Result<(), KernelError> {
    let h = node_handle(k, node).await?;
    let dir = k.teamd_dir(node);
    let config = config(dev, setup);
    let (ns, dev) = (h.netns.clone(), dev.to_string());
    blocking(
        format!("choose the active port of {}", object(node, &dev)),
        move || teamd::settle(&ns, &dir, &dev, &config),
    )
    .await
}

/// The teamd configuration of team `dev` for `setup`.
fn config(dev: &str, setup: &TeamdSetup) -> serde_json::Value {
    let ports: Vec<_> = setup
        .ports
        .iter()
        .map(|(n, p)| (n.clone(), p.clone()))
        .collect();
    teamd::config(dev, &setup.options, &ports)
}

/// Set port `name` down, and release it when it is a port of the team
/// `team_index`. A port that does not exist is left to teamd (which skips it).
async fn release(
    h: &NodeHandle,
    node: &str,
    name: &str,
    team_index: u32,
) -> Result<(), KernelError> {
    let obj = object(node, name);
    let mut links = h.handle.link().get().match_name(name.to_string()).execute();
    let found = match links.try_next().await {
        Ok(found) => found,
        Err(e) => {
            let err = conn::map_err(e, &obj, "look up link");
            if err.errno() == Some(libc::ENODEV) {
                return Ok(());
            }
            return Err(err);
        }
    };
    let Some(link) = found else { return Ok(()) };
    let enslaved = link
        .attributes
        .iter()
        .any(|a| matches!(a, LinkAttribute::Controller(m) if *m == team_index));
    let up = link.header.flags.contains(LinkFlags::Up);
    if !up && !enslaved {
        return Ok(());
    }
    let mut msg = LinkMessage::default();
    msg.header.index = link.header.index;
    msg.header.change_mask |= LinkFlags::Up;
    if enslaved {
        msg.attributes.push(LinkAttribute::Controller(0));
    }
    h.handle
        .link()
        .change(msg)
        .execute()
        .await
        .map_err(|e| conn::map_err(e, &obj, "set team port down"))
}

/// Stop the teamd of team `dev` in `node` and forget its files.
pub(super) async fn stop(k: &Kernel, node: &str, dev: &str) -> Result<(), KernelError> {
    let dir = k.teamd_dir(node);
    let dev = dev.to_string();
    let root = k.teamd_root().to_path_buf();
    blocking(format!("stop teamd {}", object(node, &dev)), move || {
        teamd::stop_and_forget(&dir, &dev)?;
        forget_root(root);
        Ok(())
    })
    .await
}

/// Stop every teamd of `node` (its namespace is about to go) and remove its
/// teamd directory.
pub(super) async fn stop_all(k: &Kernel, node: &str) -> Result<(), KernelError> {
    let dir = k.teamd_dir(node);
    let root = k.teamd_root().to_path_buf();
    blocking(format!("stop teamd in node {node}"), move || {
        for dev in teamd::devices(&dir)? {
            teamd::stop_and_forget(&dir, &dev)?;
        }
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(KernelError::io(dir.display().to_string(), e)),
        }
        forget_root(root);
        Ok(())
    })
    .await
}

/// Remove the teamd root when no node directory is left in it.
fn forget_root(root: PathBuf) {
    // Fails (and stays) while some node still has a directory: that is fine.
    let _ = std::fs::remove_dir(root);
}
