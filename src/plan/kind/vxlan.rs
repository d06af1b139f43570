//! vxlan: the tunnel's identity (vni, endpoints, dev, port) is fixed at
//! creation; ttl and learning change live.
use super::Diffs;
use crate::model::VxlanOptions;

/// Compare VXLAN options. In the returned change `vni` is the unchanged id.
pub(super) fn compare(w: &VxlanOptions, h: &VxlanOptions, d: &mut Diffs) -> VxlanOptions {
    d.value("vni", &w.vni, &h.vni, true);
    d.opt("local", &w.local, &h.local, true);
    d.opt("remote", &w.remote, &h.remote, true);
    d.opt("group", &w.group, &h.group, true);
    d.device("dev", &w.dev, &h.dev);
    d.opt("dstport", &w.dstport, &h.dstport, true);
    VxlanOptions {
        vni: w.vni,
        ttl: d.opt("ttl", &w.ttl, &h.ttl, false),
        learning: d.opt("learning", &w.learning, &h.learning, false),
        ..VxlanOptions::default()
    }
}
