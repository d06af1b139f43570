//! bond: everything but `mode` can change on a live bond (mode needs no ports
//! and a down device, so netloom recreates the bond instead).
use super::Diffs;
use crate::model::{BondOptions, BondPort};

/// Compare bond options; a different mode means a new bond.
pub(super) fn compare(w: &BondOptions, h: &BondOptions, d: &mut Diffs) -> BondOptions {
    BondOptions {
        mode: d.opt("mode", &w.mode, &h.mode, true),
        miimon: d.opt("miimon", &w.miimon, &h.miimon, false),
        updelay: d.opt("updelay", &w.updelay, &h.updelay, false),
        downdelay: d.opt("downdelay", &w.downdelay, &h.downdelay, false),
        use_carrier: d.opt("use_carrier", &w.use_carrier, &h.use_carrier, false),
        arp_interval: d.opt("arp_interval", &w.arp_interval, &h.arp_interval, false),
        arp_ip_target: d.list("arp_ip_target", &w.arp_ip_target, &h.arp_ip_target, false),
        arp_validate: d.opt("arp_validate", &w.arp_validate, &h.arp_validate, false),
        arp_all_targets: d.opt(
            "arp_all_targets",
            &w.arp_all_targets,
            &h.arp_all_targets,
            false,
        ),
        primary: d.opt("primary", &w.primary, &h.primary, false),
        primary_reselect: d.opt(
            "primary_reselect",
            &w.primary_reselect,
            &h.primary_reselect,
            false,
        ),
        fail_over_mac: d.opt("fail_over_mac", &w.fail_over_mac, &h.fail_over_mac, false),
        xmit_hash_policy: d.opt(
            "xmit_hash_policy",
            &w.xmit_hash_policy,
            &h.xmit_hash_policy,
            false,
        ),
        lacp_rate: d.opt("lacp_rate", &w.lacp_rate, &h.lacp_rate, false),
        ad_select: d.opt("ad_select", &w.ad_select, &h.ad_select, false),
        min_links: d.opt("min_links", &w.min_links, &h.min_links, false),
        all_slaves_active: d.opt(
            "all_slaves_active",
            &w.all_slaves_active,
            &h.all_slaves_active,
            false,
        ),
    }
}

/// Compare bond port options; both are changeable in place.
pub(super) fn compare_port(w: &BondPort, h: &BondPort, d: &mut Diffs) -> BondPort {
    BondPort {
        prio: d.opt("prio", &w.prio, &h.prio, false),
        queue_id: d.opt("queue_id", &w.queue_id, &h.queue_id, false),
    }
}
