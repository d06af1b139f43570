//! team: options live in teamd's config. teamd reads it only at start, so a
//! difference means restarting teamd with the new config (the team device
//! stays); the planner's teamd step emits that restart, not a link change.
use super::Diffs;
use crate::model::{TeamOptions, TeamPort};

/// Compare team options. An empty observed runner means teamd does not run
/// or its config is unreadable: "unknown", not different (the teamd step
/// starts it).
pub(super) fn compare(w: &TeamOptions, h: &TeamOptions, d: &mut Diffs) -> TeamOptions {
    if h.runner.is_empty() {
        return TeamOptions::default();
    }
    d.value("runner", &w.runner, &h.runner, false);
    TeamOptions {
        runner: w.runner.clone(),
        hwaddr_policy: d.opt("hwaddr_policy", &w.hwaddr_policy, &h.hwaddr_policy, false),
        tx_hash: d.list("tx_hash", &w.tx_hash, &h.tx_hash, false),
        tx_balancer: d.opt("tx_balancer", &w.tx_balancer, &h.tx_balancer, false),
        balancing_interval: d.opt(
            "balancing_interval",
            &w.balancing_interval,
            &h.balancing_interval,
            false,
        ),
        active: d.opt("active", &w.active, &h.active, false),
        fast_rate: d.opt("fast_rate", &w.fast_rate, &h.fast_rate, false),
        sys_prio: d.opt("sys_prio", &w.sys_prio, &h.sys_prio, false),
        min_ports: d.opt("min_ports", &w.min_ports, &h.min_ports, false),
        agg_select_policy: d.opt(
            "agg_select_policy",
            &w.agg_select_policy,
            &h.agg_select_policy,
            false,
        ),
        link_watch: d.list("link_watch", &w.link_watch, &h.link_watch, false),
    }
}

/// Compare team port options (applied by restarting teamd).
pub(super) fn compare_port(w: &TeamPort, h: &TeamPort, d: &mut Diffs) -> TeamPort {
    TeamPort {
        prio: d.opt("prio", &w.prio, &h.prio, false),
        sticky: d.opt("sticky", &w.sticky, &h.sticky, false),
        queue_id: d.opt("queue_id", &w.queue_id, &h.queue_id, false),
        lacp_prio: d.opt("lacp_prio", &w.lacp_prio, &h.lacp_prio, false),
        lacp_key: d.opt("lacp_key", &w.lacp_key, &h.lacp_key, false),
    }
}
