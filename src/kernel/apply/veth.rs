//! veth: the peer end, described inside the create request (VETH_INFO_PEER)
//! so both ends appear at once, the peer directly in its own namespace.
use std::os::fd::RawFd;

use rtnetlink::packet_route::link::{InfoData, InfoVeth, LinkAttribute, LinkMessage};

use crate::model::Link;

/// IFLA_INFO_DATA naming the peer, its MTU and MAC, and (when it lives in
/// another namespace) that namespace's fd.
pub(super) fn info(peer: &Link, peer_ns: Option<RawFd>) -> InfoData {
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
