//! vlan: id, lower and protocol are fixed at creation; flags and QoS maps change live.
use super::Diffs;
use crate::model::VlanOptions;

/// Compare VLAN options.
pub(super) fn compare(w: &VlanOptions, h: &VlanOptions, d: &mut Diffs) -> VlanOptions {
    d.device("lower", &w.lower, &h.lower);
    d.value("id", &w.id, &h.id, true);
    d.opt("protocol", &w.protocol, &h.protocol, true);
    VlanOptions {
        lower: None,
        id: w.id,
        protocol: None,
        reorder_hdr: d.opt("reorder_hdr", &w.reorder_hdr, &h.reorder_hdr, false),
        gvrp: d.opt("gvrp", &w.gvrp, &h.gvrp, false),
        mvrp: d.opt("mvrp", &w.mvrp, &h.mvrp, false),
        loose_binding: d.opt("loose_binding", &w.loose_binding, &h.loose_binding, false),
        ingress_qos_map: d.list(
            "ingress_qos_map",
            &w.ingress_qos_map,
            &h.ingress_qos_map,
            false,
        ),
        egress_qos_map: d.list(
            "egress_qos_map",
            &w.egress_qos_map,
            &h.egress_qos_map,
            false,
        ),
    }
}
