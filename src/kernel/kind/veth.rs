//! veth: one end of a pair. The kernel names the peer by IFLA_LINK (its
//! ifindex) plus IFLA_LINK_NETNSID when it lives in another namespace; the
//! caller resolves that to a node (see observe::netnsid). Created, the peer
//! is described inside the request (VETH_INFO_PEER), so both ends appear at
//! once, the peer directly in its own namespace.
use std::os::fd::RawFd;

use rtnetlink::packet_route::link::{InfoData, InfoKind, InfoVeth, LinkAttribute, LinkMessage};

use super::{invalid, no_names, no_sample, Codec};
use crate::model::{Link, LinkKind, VethOptions};

/// The veth kind.
pub const CODEC: Codec = Codec {
    kind: InfoKind::Veth,
    parse: |_, _| LinkKind::Veth(VethOptions { peer: None }),
    emit: |kind, w| match (kind, w.create, w.peer) {
        (LinkKind::Veth(_), true, Some((peer, ns))) => Ok(Some(info(peer, ns))),
        (LinkKind::Veth(_), true, None) => Err(invalid(w.obj, "a veth needs a peer")),
        (LinkKind::Veth(_), false, _) => Err(invalid(
            w.obj,
            "a veth's peer cannot change; delete and re-create",
        )),
        _ => Err(invalid(w.obj, "not a veth")),
    },
    names: no_names,
    stacked: false,
    sample: no_sample,
    port: None,
};

/// IFLA_INFO_DATA naming the peer, its MTU and MAC, and (when it lives in
/// another namespace) that namespace's fd.
pub fn info(peer: &Link, peer_ns: Option<RawFd>) -> InfoData {
    let mut msg = LinkMessage::default();
    msg.attributes
        .push(LinkAttribute::IfName(peer.name.clone()));
    if let Some(fd) = peer_ns {
        msg.attributes.push(LinkAttribute::NetNsFd(fd));
    }
    if let Some(mtu) = peer.mtu {
        msg.attributes.push(LinkAttribute::Mtu(mtu));
    }
    if let Some(mac) = peer.mac {
        msg.attributes.push(LinkAttribute::Address(mac.0.to_vec()));
    }
    InfoData::Veth(InfoVeth::Peer(msg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peer_is_described_inside_the_request() {
        let mut peer = Link::veth("p1", "a", "p0");
        peer.mtu = Some(1400);
        let InfoData::Veth(InfoVeth::Peer(msg)) = info(&peer, None) else {
            panic!("not a peer description")
        };
        assert!(msg.attributes.contains(&LinkAttribute::IfName("p1".into())));
        assert!(msg.attributes.contains(&LinkAttribute::Mtu(1400)));
    }
}
