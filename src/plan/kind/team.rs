//! team: options live in teamd's config, which teamd reads only at start, so
//! any difference means recreating the team device (and restarting teamd).
use super::Diffs;
use crate::model::{TeamOptions, TeamPort};

/// Compare team options. teamd state may be unreadable: an empty observed
/// runner and unset observed fields count as "unknown", not as different.
pub(super) fn compare(w: &TeamOptions, h: &TeamOptions, d: &mut Diffs) -> TeamOptions {
    if !h.runner.is_empty() {
        d.value("runner", &w.runner, &h.runner, true);
    }
    if h.hwaddr_policy.is_some() {
        d.opt("hwaddr_policy", &w.hwaddr_policy, &h.hwaddr_policy, true);
    }
    if h.tx_balancer.is_some() {
        d.opt("tx_balancer", &w.tx_balancer, &h.tx_balancer, true);
    }
    if h.active.is_some() {
        d.opt("active", &w.active, &h.active, true);
    }
    if h.fast_rate.is_some() {
        d.opt("fast_rate", &w.fast_rate, &h.fast_rate, true);
    }
    if !h.tx_hash.is_empty() {
        d.list("tx_hash", &w.tx_hash, &h.tx_hash, true);
    }
    TeamOptions::default()
}

/// Compare team port options; teamd applies port config updates live.
pub(super) fn compare_port(w: &TeamPort, h: &TeamPort, d: &mut Diffs) -> TeamPort {
    TeamPort {
        prio: d.opt("prio", &w.prio, &h.prio, false),
        sticky: d.opt("sticky", &w.sticky, &h.sticky, false),
        queue_id: d.opt("queue_id", &w.queue_id, &h.queue_id, false),
        lacp_prio: d.opt("lacp_prio", &w.lacp_prio, &h.lacp_prio, false),
        lacp_key: d.opt("lacp_key", &w.lacp_key, &h.lacp_key, false),
    }
}
