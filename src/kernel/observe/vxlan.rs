//! vxlan: IFLA_VXLAN_* of a VXLAN device.
use std::collections::HashMap;
use std::net::IpAddr;

use rtnetlink::packet_route::link::InfoVxlan;

use crate::model::{IfRef, VxlanOptions};

/// VXLAN options. IFLA_VXLAN_GROUP(6) holds the default destination: a
/// multicast address is a `group`, a unicast one a `remote` (as iproute2
/// shows it). `dev` is resolved in the same node through `names`.
pub(super) fn options(
    data: &[InfoVxlan],
    node: &str,
    names: &HashMap<u32, String>,
) -> VxlanOptions {
    let mut o = VxlanOptions::default();
    let mut dest: Option<IpAddr> = None;
    for a in data {
        match a {
            InfoVxlan::Id(v) => o.vni = *v,
            InfoVxlan::Local(a) => o.local = Some(IpAddr::V4(*a)),
            InfoVxlan::Local6(a) => o.local = Some(IpAddr::V6(*a)),
            InfoVxlan::Group(a) => dest = Some(IpAddr::V4(*a)),
            InfoVxlan::Group6(a) => dest = Some(IpAddr::V6(*a)),
            InfoVxlan::Link(i) if *i != 0 => {
                o.dev = names.get(i).map(|n| IfRef {
                    node: node.to_string(),
                    name: n.clone(),
                })
            }
            InfoVxlan::Port(p) => o.dstport = Some(*p),
            InfoVxlan::Ttl(t) => o.ttl = Some(*t),
            InfoVxlan::Learning(l) => o.learning = Some(*l),
            _ => {}
        }
    }
    match dest {
        Some(d) if d.is_multicast() => o.group = Some(d),
        Some(d) if !d.is_unspecified() => o.remote = Some(d),
        _ => {}
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unicast_destination_is_remote_and_multicast_is_group() {
        let names = HashMap::from([(3u32, "eth0".to_string())]);
        let o = options(
            &[
                InfoVxlan::Id(42),
                InfoVxlan::Group("10.0.0.2".parse().unwrap()),
                InfoVxlan::Link(3),
                InfoVxlan::Port(4789),
                InfoVxlan::Ttl(0),
                InfoVxlan::Learning(true),
            ],
            "a",
            &names,
        );
        assert_eq!(o.vni, 42);
        assert_eq!(o.remote, Some("10.0.0.2".parse().unwrap()));
        assert_eq!(o.group, None);
        assert_eq!(
            o.dev,
            Some(IfRef {
                node: "a".into(),
                name: "eth0".into()
            })
        );
        assert_eq!(o.dstport, Some(4789));
        let o = options(
            &[InfoVxlan::Group6("ff05::1".parse().unwrap())],
            "a",
            &names,
        );
        assert_eq!(o.group, Some("ff05::1".parse().unwrap()));
        assert_eq!(o.remote, None);
    }
}
