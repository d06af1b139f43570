//! bridge: every IFLA_BR_* option can be changed on a live bridge.
use super::Diffs;
use crate::model::{BridgeOptions, BridgePort};

/// Compare bridge options; all are changeable in place.
pub(super) fn compare(w: &BridgeOptions, h: &BridgeOptions, d: &mut Diffs) -> BridgeOptions {
    BridgeOptions {
        stp: d.opt("stp", &w.stp, &h.stp, false),
        forward_delay: d.opt("forward_delay", &w.forward_delay, &h.forward_delay, false),
        hello_time: d.opt("hello_time", &w.hello_time, &h.hello_time, false),
        max_age: d.opt("max_age", &w.max_age, &h.max_age, false),
        priority: d.opt("priority", &w.priority, &h.priority, false),
        ageing_time: d.opt("ageing_time", &w.ageing_time, &h.ageing_time, false),
        mcast_snooping: d.opt(
            "mcast_snooping",
            &w.mcast_snooping,
            &h.mcast_snooping,
            false,
        ),
        vlan_filtering: d.opt(
            "vlan_filtering",
            &w.vlan_filtering,
            &h.vlan_filtering,
            false,
        ),
        vlan_protocol: d.opt("vlan_protocol", &w.vlan_protocol, &h.vlan_protocol, false),
        default_pvid: d.opt("default_pvid", &w.default_pvid, &h.default_pvid, false),
        vlans: d.list("vlans", &w.vlans, &h.vlans, false),
    }
}

/// Compare bridge port options; all are changeable in place.
pub(super) fn compare_port(w: &BridgePort, h: &BridgePort, d: &mut Diffs) -> BridgePort {
    BridgePort {
        cost: d.opt("cost", &w.cost, &h.cost, false),
        priority: d.opt("priority", &w.priority, &h.priority, false),
        learning: d.opt("learning", &w.learning, &h.learning, false),
        flood: d.opt("flood", &w.flood, &h.flood, false),
        hairpin: d.opt("hairpin", &w.hairpin, &h.hairpin, false),
        isolated: d.opt("isolated", &w.isolated, &h.isolated, false),
        vlans: d.list("vlans", &w.vlans, &h.vlans, false),
    }
}
