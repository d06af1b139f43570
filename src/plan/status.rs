//! Status: per object, whether the kernel matches the file.
use serde::{Deserialize, Serialize};

use super::effect::Ctx;
use super::kind::show;
use super::{address, fdb, route, Owned};
use crate::model::{Link, LinkKind, Network, HOST};

/// One differing field of an object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldDiff {
    /// Field name, e.g. `mtu` or `stp`.
    pub field: String,
    /// Desired value.
    pub want: String,
    /// Observed value (`unset` when the kernel reported none).
    pub have: String,
}

/// How one object compares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncState {
    /// Exists and matches the file.
    InSync,
    /// In the file, absent from the kernel.
    Missing,
    /// Exists but differs in these fields.
    Drifted {
        /// The differing fields.
        fields: Vec<FieldDiff>,
    },
    /// Created by this topology earlier, no longer in the file.
    Orphaned,
}

/// The state of one object, named like `node c1`, `c1/eth0`, `c1 route default via 10.0.3.1`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectStatus {
    /// Object name.
    pub object: String,
    /// Its state.
    pub state: SyncState,
}

/// Compare every object of `desired` and every object this topology owns in `observed`.
pub fn status(desired: &Network, observed: &Network, owned: &Owned) -> Vec<ObjectStatus> {
    let desired = &*super::resolve(desired, observed);
    let ctx = Ctx::new(desired, observed, owned, &desired.name);
    let mut out = Vec::new();
    let mut push = |object: String, state: SyncState| out.push(ObjectStatus { object, state });
    for name in desired.nodes.keys().filter(|n| n.as_str() != HOST) {
        let state = match observed.nodes.get(name) {
            None => SyncState::Missing,
            Some(_) if !owned.namespaces.contains(name) => drift("owner", "netloom", "foreign"),
            Some(_) => SyncState::InSync,
        };
        push(format!("node {name}"), state);
    }
    for name in &ctx.del_nodes {
        push(format!("node {name}"), SyncState::Orphaned);
    }
    for node in desired.nodes.keys() {
        let want = &desired.nodes[node];
        let have = observed.nodes.get(node);
        for (name, w) in &want.links {
            let state = match have.and_then(|h| h.links.get(name)) {
                None => SyncState::Missing,
                Some(h)
                    if !matches!(w.kind, LinkKind::External | LinkKind::Loopback)
                        && !ctx.ours(node, h) =>
                {
                    drift("owner", &ctx.mark, h.alias.as_deref().unwrap_or("unset"))
                }
                Some(h) if teamd_missing(w, h) => drift("teamd", "running", "not running"),
                Some(h) => fields(link_fields(w, h)),
            };
            push(format!("{node}/{name}"), state);
        }
        for r in &want.routes {
            let found = have.is_some_and(|h| h.routes.iter().any(|o| route::matches(r, o)));
            let state = if found {
                SyncState::InSync
            } else {
                SyncState::Missing
            };
            push(format!("{node} route {}", r), state);
        }
        for (key, value) in &want.sysctls {
            let state = match have {
                None => SyncState::Missing,
                Some(h) => match h.sysctls.get(key) {
                    Some(v) if v == value => SyncState::InSync,
                    v => drift(key, value, v.map_or("unset", |s| s.as_str())),
                },
            };
            push(format!("{node} sysctl {key}"), state);
        }
        for e in &want.fdb {
            let found = have.is_some_and(|h| h.fdb.contains(e));
            let state = if found {
                SyncState::InSync
            } else {
                SyncState::Missing
            };
            push(format!("{node} fdb {e}"), state);
        }
        if !want.nat.is_empty() {
            let state = match have {
                None => SyncState::Missing,
                Some(h) if h.nat == want.nat => SyncState::InSync,
                Some(h) => drift("rules", &show(&want.nat), &show(&h.nat)),
            };
            push(format!("{node} nat"), state);
        }
    }
    // Orphans in nodes that stay: our links and routes the file no longer lists.
    for node in ctx.kept_nodes() {
        let Some(have) = observed.nodes.get(&node) else {
            continue;
        };
        let want = ctx.want(&node);
        for (name, h) in &have.links {
            if h.kind != LinkKind::Loopback && ctx.ours(&node, h) && !want.links.contains_key(name)
            {
                push(format!("{node}/{name}"), SyncState::Orphaned);
            }
        }
        for r in &have.routes {
            if route::ours(&ctx, &node, have, r)
                && !want.routes.iter().any(|w| route::matches(w, r))
            {
                push(format!("{node} route {}", r), SyncState::Orphaned);
            }
        }
        for e in &have.fdb {
            if !want.fdb.contains(e) && fdb::ours(&ctx, &node, have, e) {
                push(format!("{node} fdb {e}"), SyncState::Orphaned);
            }
        }
        if want.nat.is_empty() && !have.nat.is_empty() {
            push(format!("{node} nat"), SyncState::Orphaned);
        }
    }
    super::service::status(&ctx, &mut out);
    out
}

/// All differing fields of a link, addresses included.
fn link_fields(want: &Link, have: &Link) -> Vec<FieldDiff> {
    let mut out = super::change::compare(want, have).fields;
    if want.kind == LinkKind::External {
        return out;
    }
    for a in &want.addresses {
        if !have.addresses.iter().any(|h| h.net == a.net) {
            out.push(FieldDiff {
                field: format!("address {}", a.net),
                want: "present".to_string(),
                have: "absent".to_string(),
            });
        }
    }
    if want.kind != LinkKind::Loopback {
        for h in &have.addresses {
            if !address::kernel_made(&h.net) && !want.addresses.iter().any(|a| a.net == h.net) {
                out.push(FieldDiff {
                    field: format!("address {}", h.net),
                    want: "absent".to_string(),
                    have: "present".to_string(),
                });
            }
        }
    }
    out
}

fn fields(fields: Vec<FieldDiff>) -> SyncState {
    if fields.is_empty() {
        SyncState::InSync
    } else {
        SyncState::Drifted { fields }
    }
}

/// A desired team observed with no runner: its teamd does not run.
fn teamd_missing(want: &Link, have: &Link) -> bool {
    matches!((&want.kind, &have.kind), (LinkKind::Team(_), LinkKind::Team(o)) if o.runner.is_empty())
}

fn drift(field: &str, want: &str, have: &str) -> SyncState {
    SyncState::Drifted {
        fields: vec![FieldDiff {
            field: field.to_string(),
            want: want.to_string(),
            have: have.to_string(),
        }],
    }
}
