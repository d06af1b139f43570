//! `list`: every topology netloom has up on this machine, from its records
//! (the state directory), with what the kernel shows of each now.
use std::time::SystemTime;

use serde::Serialize;

use super::{Engine, EngineError};
use crate::kernel::{self, Kernel};
use crate::model::{netns_name, owner_mark, HOST};
use crate::state::Store;

/// One topology netloom made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listed {
    /// Its name.
    pub name: String,
    /// The file it was last brought up from, when recorded.
    pub file: Option<String>,
    /// Its nodes: the namespaces netloom made, and `host` when it holds
    /// something of it there.
    pub nodes: Vec<String>,
    /// Seconds since it was made: since its oldest namespace was, else
    /// since its records were last written.
    pub age_seconds: Option<u64>,
    /// `up`, `partial (N of M namespaces)`, or `gone (records only)`.
    pub state: String,
}

/// Seconds since `t`.
fn since(t: SystemTime) -> Option<u64> {
    SystemTime::now()
        .duration_since(t)
        .ok()
        .map(|d| d.as_secs())
}

impl Engine {
    /// `list`: every topology with records in `store`, by name.
    pub async fn list(store: &Store) -> Result<Vec<Listed>, EngineError> {
        let k = Kernel::new("list", store.dir().join("teamd"))?;
        // One read of host's links: which topologies mark a link there.
        k.read_fdb_in(Some(Default::default()));
        let host = kernel::observe::node(&k, HOST, &[])
            .await?
            .unwrap_or_default();
        let mut out = Vec::new();
        for name in store.topologies()? {
            let rec = match store.load(&name) {
                Ok(r) => r,
                Err(e) => {
                    out.push(Listed {
                        name,
                        file: None,
                        nodes: Vec::new(),
                        age_seconds: None,
                        state: format!("records unreadable: {e}"),
                    });
                    continue;
                }
            };
            let mark = owner_mark(&name);
            let in_host = host
                .links
                .values()
                .any(|l| l.alias.as_deref() == Some(mark.as_str()))
                || rec.nat.contains(HOST)
                || rec.sysctls.contains_key(HOST)
                || rec.links.iter().any(|l| l.node == HOST);
            let mut nodes: Vec<String> = rec.namespaces.iter().cloned().collect();
            if in_host {
                nodes.push(HOST.to_string());
            }
            let mut present = 0;
            let mut oldest: Option<SystemTime> = None;
            for node in &rec.namespaces {
                let Some(ns) = netns_name(&name, node) else {
                    continue;
                };
                if kernel::netns::open(&ns)?.is_some() {
                    present += 1;
                    let made = std::fs::metadata(kernel::netns::netns_path(&ns))
                        .and_then(|m| m.modified())
                        .ok();
                    oldest = match (oldest, made) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                }
            }
            let total = rec.namespaces.len();
            let state = if present == total && (total > 0 || in_host) {
                "up".to_string()
            } else if present == 0 && !in_host {
                "gone (records only)".to_string()
            } else {
                format!("partial ({present} of {total} namespaces)")
            };
            let recorded = std::fs::metadata(store.dir().join(format!("{name}.json")))
                .and_then(|m| m.modified())
                .ok();
            out.push(Listed {
                name,
                file: rec.file.clone(),
                nodes,
                age_seconds: oldest.or(recorded).and_then(since),
                state,
            });
        }
        Ok(out)
    }
}
