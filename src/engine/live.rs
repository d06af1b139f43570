//! `graph --live`: what the kernel shows of a topology's objects, for
//! drawing over the file: each link's admin state and carrier, `status`'s
//! drift, each bridge port's STP state, the active port of each bond and
//! team, and (when asked) the proof by traffic.
use std::collections::BTreeMap;

use super::{Engine, EngineError};
use crate::kernel;
use crate::model::LinkKind;
use crate::plan::SyncState;
use crate::spec::Topology;

/// The kernel's view of one link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkLive {
    /// Administratively up.
    pub up: Option<bool>,
    /// Carrier (IFF_LOWER_UP).
    pub carrier: Option<bool>,
}

/// The kernel's state of a topology, by the file's names.
#[derive(Debug, Clone, Default)]
pub struct Live {
    /// Per `node/iface` that exists.
    pub links: BTreeMap<String, LinkLive>,
    /// Per object of `status` that is not in sync (`node/iface`, `node c1`
    /// ...): its state in `status`'s words.
    pub drift: BTreeMap<String, String>,
    /// Per bridge port `node/port`: IFLA_BRPORT_STATE (0 disabled,
    /// 1 listening, 2 learning, 3 forwarding, 4 blocking).
    pub stp: BTreeMap<String, u8>,
    /// Per port `node/port` of a bond or team: whether it is the active one.
    pub active: BTreeMap<String, bool>,
    /// The proof by traffic, when asked for.
    pub verify: Option<crate::verify::Report>,
}

impl Engine {
    /// The kernel's state of `topo`'s objects; with `verify`, the
    /// expectations proved by traffic too.
    pub async fn live(&self, topo: &Topology, verify: bool) -> Result<Live, EngineError> {
        let desired = &topo.network;
        let st = self.status(desired).await?;
        let rec = self.records()?;
        let observed = self.observe(desired, &rec).await?;
        let mut live = Live::default();
        for (node, n) in &observed.nodes {
            for (name, l) in &n.links {
                live.links.insert(
                    format!("{node}/{name}"),
                    LinkLive {
                        up: l.up,
                        carrier: l.carrier,
                    },
                );
            }
        }
        for o in &st.objects {
            let words = match &o.state {
                SyncState::InSync => continue,
                SyncState::Missing => "missing".to_string(),
                SyncState::Orphaned => "orphaned".to_string(),
                SyncState::Drifted { fields } => fields
                    .iter()
                    .map(|f| format!("{} {} (want {})", f.field, f.have, f.want))
                    .collect::<Vec<_>>()
                    .join(", "),
            };
            live.drift.insert(o.object.clone(), words);
        }
        for (team, t) in &st.teams {
            let node = team.split('/').next().unwrap_or_default();
            for p in &t.ports {
                let active = t.active_port.as_deref() == Some(p.name.as_str());
                live.active.insert(format!("{node}/{}", p.name), active);
            }
        }
        for (node, n) in &desired.nodes {
            let kinds = |f: fn(&LinkKind) -> bool| n.links.values().any(|l| f(&l.kind));
            if kinds(|k| matches!(k, LinkKind::Bridge(_))) {
                for (port, state) in kernel::bridge::port_states(&self.kernel, node).await? {
                    live.stp.insert(format!("{node}/{port}"), state);
                }
            }
            if kinds(|k| matches!(k, LinkKind::Bond(_))) {
                for (port, active) in kernel::observe::bond::bond_ports(&self.kernel, node).await? {
                    live.active.insert(format!("{node}/{port}"), active);
                }
            }
        }
        if verify {
            live.verify = Some(self.verify(topo).await?);
        }
        Ok(live)
    }
}
