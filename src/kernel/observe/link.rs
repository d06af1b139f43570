//! Links from one RTM_GETLINK dump: generic settings plus the kind's options,
//! dispatched to one file per kind.
use std::collections::HashMap;

use rtnetlink::packet_route::link::{
    InfoData, InfoKind, LinkAttribute, LinkFlags, LinkInfo, LinkLayerType, LinkMessage,
};

use crate::kernel::kind;
use crate::model::{Link, LinkKind, MacAddr};

/// The other device a link points at through IFLA_LINK: a veth peer or a
/// lower device, possibly in another namespace (IFLA_LINK_NETNSID).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct LinkRef {
    /// ifindex of the other device, in its own namespace.
    pub ifindex: u32,
    /// nsid of that namespace as seen from this one; `None` means this namespace.
    pub nsid: Option<i32>,
}

/// A parsed link and, for kinds whose model names another device through
/// IFLA_LINK (veth, vlan, macvlan/macvtap, ipvlan/ipvtap), that reference
/// still to be resolved into an [`crate::model::IfRef`].
#[derive(Debug, Clone)]
pub(super) struct Parsed {
    /// The link with its IfRef fields not yet filled.
    pub link: Link,
    /// What IFLA_LINK(+NETNSID) says, for kinds that use it.
    pub link_ref: Option<LinkRef>,
}

/// ifindex -> name for every link of a dump.
pub(super) fn names(msgs: &[LinkMessage]) -> HashMap<u32, String> {
    msgs.iter()
        .filter_map(|m| {
            m.attributes.iter().find_map(|a| match a {
                LinkAttribute::IfName(n) => Some((m.header.index, n.clone())),
                _ => None,
            })
        })
        .collect()
}

/// Parse one link of node `node`; `names` maps this namespace's ifindexes to names.
pub(super) fn parse(msg: &LinkMessage, node: &str, names: &HashMap<u32, String>) -> Option<Parsed> {
    let ifindex = msg.header.index;
    let mut name = None;
    let mut link = Link::new(String::new(), LinkKind::External);
    let (mut info_kind, mut info_data, mut port_kind, mut port_data) = (None, None, None, None);
    let (mut ifla_link, mut nsid) = (None, None);
    for a in &msg.attributes {
        match a {
            LinkAttribute::IfName(n) => name = Some(n.clone()),
            LinkAttribute::Mtu(m) => link.mtu = Some(*m),
            LinkAttribute::Address(b) => {
                link.mac = <[u8; 6]>::try_from(b.as_slice()).ok().map(MacAddr)
            }
            LinkAttribute::Controller(i) => link.master = names.get(i).cloned(),
            LinkAttribute::IfAlias(s) => link.alias = Some(s.clone()),
            LinkAttribute::Link(i) => ifla_link = Some(*i),
            LinkAttribute::LinkNetNsId(n) => nsid = Some(*n),
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    match i {
                        LinkInfo::Kind(k) => info_kind = Some(k),
                        LinkInfo::Data(d) => info_data = Some(d),
                        LinkInfo::PortData(p) => port_data = Some(p),
                        LinkInfo::PortKind(p) => port_kind = Some(p),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    link.name = name?;
    link.ifindex = Some(ifindex);
    link.up = Some(msg.header.flags.contains(LinkFlags::Up));
    // IFF_LOWER_UP rather than IFLA_CARRIER: it is set only while the device
    // is also up (the loopback device always has IFLA_CARRIER 1), as `ip` shows it.
    link.carrier = Some(msg.header.flags.contains(LinkFlags::LowerUp));
    link.port = port_kind
        .and_then(kind::by_port)
        .zip(port_data)
        .and_then(|(c, d)| (c.parse)(d));
    let is_loopback = msg.header.flags.contains(LinkFlags::Loopback);
    let is_ether = msg.header.link_layer_type == LinkLayerType::Ether;
    link.kind = kind(
        info_kind,
        info_data,
        ifindex,
        node,
        names,
        is_loopback,
        is_ether,
    );
    // Kinds whose model names another device through IFLA_LINK.
    let uses_link = link
        .kind
        .facts_mut()
        .is_some_and(|f| f.link_ref_mut().is_some());
    let link_ref = match ifla_link {
        Some(i) if uses_link && i != 0 => Some(LinkRef { ifindex: i, nsid }),
        _ => None,
    };
    Some(Parsed { link, link_ref })
}

/// The model kind of a link from IFLA_INFO_KIND and IFLA_INFO_DATA. A link
/// without a kind is the loopback device or a device netloom does not manage.
fn kind(
    info_kind: Option<&InfoKind>,
    data: Option<&InfoData>,
    ifindex: u32,
    node: &str,
    names: &HashMap<u32, String>,
    is_loopback: bool,
    is_ether: bool,
) -> LinkKind {
    let Some(k) = info_kind else {
        return if is_loopback {
            LinkKind::Loopback
        } else {
            LinkKind::External
        };
    };
    let seen = kind::Seen {
        node,
        ifindex,
        names,
        ether: is_ether,
    };
    match kind::by_info(k) {
        Some(codec) => (codec.parse)(data, &seen),
        None => LinkKind::Other(k.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{PortOptions, VethOptions};
    use rtnetlink::packet_route::link::{InfoBridgePort, InfoPortData, InfoPortKind};

    fn msg(index: u32, name: &str, attrs: Vec<LinkAttribute>) -> LinkMessage {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.attributes = vec![LinkAttribute::IfName(name.into())];
        m.attributes.extend(attrs);
        m
    }

    #[test]
    fn generic_fields_and_bridge_port() {
        let names = HashMap::from([(1u32, "lo".to_string()), (5u32, "br0".to_string())]);
        let mut m = msg(
            7,
            "v0",
            vec![
                LinkAttribute::Mtu(1400),
                LinkAttribute::Address(vec![2, 0, 0, 0, 0, 9]),
                LinkAttribute::Controller(5),
                LinkAttribute::IfAlias("netloom:t".into()),
                LinkAttribute::Link(8),
                LinkAttribute::LinkNetNsId(0),
                LinkAttribute::LinkInfo(vec![
                    LinkInfo::Kind(InfoKind::Veth),
                    LinkInfo::PortKind(InfoPortKind::Bridge),
                    LinkInfo::PortData(InfoPortData::BridgePort(vec![InfoBridgePort::Cost(9)])),
                ]),
            ],
        );
        m.header.flags = LinkFlags::Up | LinkFlags::LowerUp;
        let p = parse(&m, "a", &names).unwrap();
        assert_eq!(p.link.name, "v0");
        assert_eq!(p.link.kind, LinkKind::Veth(VethOptions { peer: None }));
        assert_eq!(p.link.up, Some(true));
        assert_eq!(p.link.carrier, Some(true));
        assert_eq!(p.link.mtu, Some(1400));
        assert_eq!(p.link.mac, Some(MacAddr([2, 0, 0, 0, 0, 9])));
        assert_eq!(p.link.master.as_deref(), Some("br0"));
        assert_eq!(p.link.alias.as_deref(), Some("netloom:t"));
        assert_eq!(p.link.ifindex, Some(7));
        assert!(matches!(p.link.port, Some(PortOptions::Bridge(ref b)) if b.cost == Some(9)));
        assert_eq!(
            p.link_ref,
            Some(LinkRef {
                ifindex: 8,
                nsid: Some(0)
            })
        );
    }

    #[test]
    fn kindless_links_are_loopback_or_external() {
        let names = HashMap::new();
        let mut lo = msg(1, "lo", vec![]);
        lo.header.flags = LinkFlags::Loopback;
        assert_eq!(
            parse(&lo, "a", &names).unwrap().link.kind,
            LinkKind::Loopback
        );
        let eth = msg(2, "eth0", vec![LinkAttribute::Link(2)]);
        let p = parse(&eth, "a", &names).unwrap();
        assert_eq!(p.link.kind, LinkKind::External);
        assert_eq!(p.link.up, Some(false));
        assert_eq!(p.link_ref, None);
        let odd = msg(
            3,
            "g0",
            vec![LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Other("geneve2".into()),
            )])],
        );
        assert_eq!(
            parse(&odd, "a", &names).unwrap().link.kind,
            LinkKind::Other("geneve2".into())
        );
    }
}
