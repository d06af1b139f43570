//! team: the kernel reports only the kind; the options and per-port options
//! are what netloom started the device's teamd with, read back from the
//! setup file next to teamd's pid file, and only while that teamd runs. A
//! team without a running teamd keeps an empty runner ("unknown"), so the
//! planner starts one.
use crate::kernel::{teamd, Kernel, KernelError};
use crate::model::{LinkKind, Node, PortOptions, TeamdSetup};

/// Fill the team options and team port options of `node` from its teamd directory.
pub(super) fn fill(k: &Kernel, name: &str, node: &mut Node) -> Result<(), KernelError> {
    let dir = k.teamd_dir(name);
    let teams: Vec<String> = node
        .links
        .values()
        .filter(|l| matches!(l.kind, LinkKind::Team(_)))
        .map(|l| l.name.clone())
        .collect();
    for team in teams {
        if teamd::running(&dir, &team)?.is_none() {
            continue;
        }
        let path = teamd::setup_path(&dir, &team);
        // A setup that cannot be read leaves the options unknown, like a stopped teamd.
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let Ok(setup) = serde_json::from_str::<TeamdSetup>(&text) else {
            continue;
        };
        if let Some(l) = node.links.get_mut(&team) {
            l.kind = LinkKind::Team(setup.options);
        }
        for l in node.links.values_mut() {
            if l.master.as_deref() == Some(team.as_str()) {
                if let Some(p) = setup.ports.get(&l.name) {
                    l.port = Some(PortOptions::Team(p.clone()));
                }
            }
        }
    }
    Ok(())
}
