//! vxlan: IFLA_VXLAN_* options of a VXLAN tunnel endpoint.
use std::net::IpAddr;

use rtnetlink::packet_route::link::InfoVxlan;

use crate::model::VxlanOptions;

/// The IFLA_VXLAN_* attributes; `dev` is the underlay's ifindex when set.
/// `create` adds the VNI, which the kernel refuses to change later.
pub(super) fn info(o: &VxlanOptions, dev: Option<u32>, create: bool) -> Vec<InfoVxlan> {
    let mut v = Vec::new();
    if create {
        v.push(InfoVxlan::Id(o.vni));
    }
    // The kernel keeps the unicast remote and the multicast group in the
    // same attribute (IFLA_VXLAN_GROUP / GROUP6), as iproute2 does.
    if let Some(a) = o.remote.or(o.group) {
        v.push(match a {
            IpAddr::V4(a) => InfoVxlan::Group(a),
            IpAddr::V6(a) => InfoVxlan::Group6(a),
        });
    }
    if let Some(a) = o.local {
        v.push(match a {
            IpAddr::V4(a) => InfoVxlan::Local(a),
            IpAddr::V6(a) => InfoVxlan::Local6(a),
        });
    }
    if let Some(i) = dev {
        v.push(InfoVxlan::Link(i));
    }
    if let Some(p) = o.dstport {
        v.push(InfoVxlan::Port(p));
    }
    if let Some(t) = o.ttl {
        v.push(InfoVxlan::Ttl(t));
    }
    if let Some(l) = o.learning {
        v.push(InfoVxlan::Learning(l));
    }
    v
}
