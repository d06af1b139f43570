//! Observing for a verb: every node the file or the records name, with the
//! sysctls they set and the NAT tables netloom may own.
use std::collections::{BTreeMap, BTreeSet};

use super::{Engine, EngineError};
use crate::effects::sysctl::default_of;
use crate::kernel::{self, KernelError};
use crate::model::{Network, HOST};
use crate::plan::Conflict;
use crate::state::Records;

impl Engine {
    /// Observe every node the file or the records name (and always `host`,
    /// where links carry ownership marks).
    pub(super) async fn observe(
        &self,
        desired: &Network,
        rec: &Records,
    ) -> Result<Network, EngineError> {
        self.observe_scoped(desired, rec, &BTreeSet::new()).await
    }

    /// [`Engine::observe`], only locating the nodes in `located` (see
    /// [`kernel::observe::network_with`]).
    pub(super) async fn observe_scoped(
        &self,
        desired: &Network,
        rec: &Records,
        located: &BTreeSet<String>,
    ) -> Result<Network, EngineError> {
        let (observed, foreign) = self.observe_all(desired, rec, located).await?;
        if !foreign.is_empty() {
            return Err(EngineError::Conflicts { conflicts: foreign });
        }
        Ok(observed)
    }

    /// Observe, returning foreign nft tables as conflicts beside the network
    /// (so `up` can name them together with every other foreign object).
    pub(super) async fn observe_all(
        &self,
        desired: &Network,
        rec: &Records,
        located: &BTreeSet<String>,
    ) -> Result<(Network, Vec<Conflict>), EngineError> {
        let mut nodes: Vec<String> = desired.nodes.keys().cloned().collect();
        nodes.extend(rec.namespaces.iter().cloned());
        nodes.push(HOST.to_string());
        nodes.sort();
        nodes.dedup();
        let mut keys: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, node) in &desired.nodes {
            let k = keys.entry(name.clone()).or_default();
            k.extend(node.sysctls.keys().cloned());
            // What a link created now starts with (see plan::sysctl).
            k.extend(node.sysctls.keys().filter_map(|k| default_of(k)));
        }
        for (name, m) in &rec.sysctls {
            keys.entry(name.clone())
                .or_default()
                .extend(m.keys().cloned());
        }
        for k in keys.values_mut() {
            k.sort();
            k.dedup();
        }
        let mut fdb = fdb_nodes(desired);
        fdb.extend(rec.fdb.iter().cloned());
        self.kernel.read_fdb_in(Some(fdb));
        let mut observed = crate::timing::timed(
            "observe",
            kernel::observe::network_with(&self.kernel, &nodes, &keys, located),
        )
        .await?;
        observed.name = self.name.clone();
        // NAT lives in nftables, read only where the file or the records put
        // it (each read is one `nft` process).
        let mut foreign = Vec::new();
        for name in nodes {
            let wants = desired.nodes.get(&name).is_some_and(|n| !n.nat.is_empty());
            let owned = rec.nat.contains(&name);
            if !(wants || owned) || !observed.nodes.contains_key(&name) {
                continue;
            }
            let Some(h) = self.kernel.node(&name).await? else {
                continue;
            };
            let topo = self.name.clone();
            let rules = tokio::task::spawn_blocking(move || kernel::nft::read_nat(&h.netns, &topo))
                .await
                .map_err(|_| KernelError::Thread {
                    object: format!("nft in {name}"),
                })??;
            match rules {
                Some(_) if wants && !owned => foreign.push(Conflict {
                    object: format!(
                        "nft table inet {} in {name}",
                        crate::model::nft_table(&self.name)
                    ),
                    reason: "it exists, but netloom's records do not say this topology made it"
                        .into(),
                }),
                Some(r) => {
                    if let Some(n) = observed.nodes.get_mut(&name) {
                        n.nat = r;
                    }
                }
                None => {}
            }
        }
        Ok((observed, foreign))
    }
}

/// The nodes where `desired` has forwarding entries.
pub(super) fn fdb_nodes(desired: &Network) -> BTreeSet<String> {
    desired
        .nodes
        .iter()
        .filter(|(_, n)| !n.fdb.is_empty())
        .map(|(name, _)| name.clone())
        .collect()
}
