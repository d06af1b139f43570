//! vxlan: IFLA_VXLAN_* of a VXLAN tunnel endpoint; its underlay `dev` is
//! IFLA_VXLAN_LINK, a device of the same node.
use std::collections::HashMap;
use std::net::IpAddr;

use rtnetlink::packet_route::link::{InfoData, InfoKind, InfoVxlan};

use super::{invalid, Codec};
use crate::model::{IfRef, LinkKind, VxlanOptions};

/// The vxlan kind.
pub const CODEC: Codec = Codec {
    kind: InfoKind::Vxlan,
    parse: |data, seen| {
        let d = match data {
            Some(InfoData::Vxlan(d)) => d.as_slice(),
            _ => &[],
        };
        LinkKind::Vxlan(options(d, seen.node, seen.names))
    },
    emit: |kind, w| {
        let LinkKind::Vxlan(o) = kind else {
            return Err(invalid(w.obj, "not a vxlan"));
        };
        let dev = match &o.dev {
            Some(d) if d.node != w.node => {
                return Err(invalid(
                    w.obj,
                    format!("vxlan dev {d} must be in the same node"),
                ))
            }
            Some(d) => Some(*w.indexes.get(&d.name).ok_or_else(|| {
                invalid(
                    w.obj,
                    format!("vxlan dev {d} does not exist in the same node"),
                )
            })?),
            None => None,
        };
        Ok(Some(InfoData::Vxlan(info(o, dev, w.create))))
    },
    names: |kind| match kind {
        LinkKind::Vxlan(VxlanOptions { dev: Some(d), .. }) => vec![d.name.clone()],
        _ => Vec::new(),
    },
    stacked: false,
    sample: || Some(InfoData::Vxlan(vec![InfoVxlan::Id(42)])),
    port: None,
};

/// VXLAN options. IFLA_VXLAN_GROUP(6) holds the default destination: a
/// multicast address is a `group`, a unicast one a `remote` (as iproute2
/// shows it). `dev` is resolved in the same node through `names`.
pub fn options(data: &[InfoVxlan], node: &str, names: &HashMap<u32, String>) -> VxlanOptions {
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

/// The IFLA_VXLAN_* attributes; `dev` is the underlay's ifindex when set.
/// `create` adds the VNI, which the kernel refuses to change later.
pub fn info(o: &VxlanOptions, dev: Option<u32>, create: bool) -> Vec<InfoVxlan> {
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

    #[test]
    fn what_is_emitted_parses_back() {
        for (dest, dev) in [
            ("10.0.0.2", true),
            ("239.1.1.1", true),
            ("2001:db8::2", false),
        ] {
            let dest: IpAddr = dest.parse().unwrap();
            let o = VxlanOptions {
                vni: 100,
                local: None,
                remote: (!dest.is_multicast()).then_some(dest),
                group: dest.is_multicast().then_some(dest),
                dev: dev.then(|| IfRef {
                    node: "n".into(),
                    name: "eth0".into(),
                }),
                dstport: Some(4789),
                ttl: Some(3),
                learning: Some(false),
            };
            let kind = LinkKind::Vxlan(o);
            assert_eq!(super::super::round_trip::kind(&kind), kind);
        }
    }
}
