//! A bridge's spanning tree as the kernel reports it: the bridge's own
//! identifiers (IFLA_BR_BRIDGE_ID, ROOT_ID, ROOT_PORT, ROOT_PATH_COST) and
//! each port's (IFLA_BRPORT_STATE, COST, ROOT_ID, BRIDGE_ID,
//! DESIGNATED_PORT/COST, ID, NO), from one link dump. The kernel's STP
//! (net/bridge/br_stp.c) has no port roles; they follow from these as
//! br_stp.c decides them: the root port is br->root_port, a designated port
//! is one for which this bridge is the designated bridge through that port
//! (br_is_designated_port), any other port is an alternate (blocking) or,
//! when this bridge designates its segment through another port, a backup.
use rtnetlink::packet_route::link::{
    BridgeId, BridgePortState, BridgeStpState, InfoBridge, InfoBridgePort, InfoData, InfoPortData,
    LinkAttribute, LinkInfo, LinkMessage,
};
use rtnetlink::packet_route::RouteNetlinkMessage;
use serde::Serialize;

use super::error::KernelError;

/// The spanning tree of one bridge.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BridgeStp {
    /// STP runs (kernel or user-space STP), else ports just forward.
    pub enabled: bool,
    /// This bridge's identifier, `prio.mac` (`8000.02:00:00:00:00:01`).
    pub bridge_id: String,
    /// The root bridge's identifier, as this bridge sees it.
    pub root_id: String,
    /// The port number of the root port (0: this bridge is the root).
    pub root_port: u16,
    /// The cost of the path to the root.
    pub root_path_cost: u32,
    /// Each port, by name order.
    pub ports: Vec<PortStp>,
}

/// One port of a bridge in the spanning tree.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PortStp {
    /// The port's name.
    pub name: String,
    /// Its port number.
    pub port_no: u16,
    /// `root`, `designated`, `alternate`, `backup`, `disabled`, or `-`
    /// without STP.
    pub role: String,
    /// `disabled`, `listening`, `learning`, `forwarding` or `blocking`.
    pub state: String,
    /// Its path cost.
    pub cost: u32,
    /// Its priority (the top bits of its port id).
    pub priority: u16,
    /// The root bridge its segment's designated bridge announces.
    pub designated_root: String,
    /// The designated bridge of its segment.
    pub designated_bridge: String,
    /// The designated port of its segment (a port id).
    pub designated_port: u16,
    /// The designated bridge's cost to the root.
    pub designated_cost: u16,
}

/// A bridge id as brctl and `bridge -d link` print it: priority in hex,
/// a dot, the address.
pub fn id(b: &BridgeId) -> String {
    let a = b.address;
    format!(
        "{:04x}.{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        b.priority, a[0], a[1], a[2], a[3], a[4], a[5]
    )
}

fn state_word(s: &BridgePortState) -> String {
    match s {
        BridgePortState::Disabled => "disabled".into(),
        BridgePortState::Listening => "listening".into(),
        BridgePortState::Learning => "learning".into(),
        BridgePortState::Forwarding => "forwarding".into(),
        BridgePortState::Blocking => "blocking".into(),
        BridgePortState::Other(v) => format!("state {v}"),
        _ => "unknown".into(),
    }
}

fn name_of(m: &LinkMessage) -> Option<&str> {
    m.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.as_str()),
        _ => None,
    })
}

fn info(m: &LinkMessage) -> impl Iterator<Item = &LinkInfo> {
    m.attributes
        .iter()
        .filter_map(|a| match a {
            LinkAttribute::LinkInfo(i) => Some(i.iter()),
            _ => None,
        })
        .flatten()
}

/// The spanning tree of bridge `bridge` from the answers of a link dump;
/// `None` when no such bridge is among them.
pub fn of(answers: &[RouteNetlinkMessage], bridge: &str) -> Option<BridgeStp> {
    let links: Vec<&LinkMessage> = answers
        .iter()
        .filter_map(|a| match a {
            RouteNetlinkMessage::NewLink(l) => Some(l),
            _ => None,
        })
        .collect();
    let br = links.iter().find(|l| name_of(l) == Some(bridge))?;
    let mut out = BridgeStp::default();
    let mut found = false;
    for i in info(br) {
        if let LinkInfo::Data(InfoData::Bridge(d)) = i {
            found = true;
            for a in d {
                match a {
                    InfoBridge::StpState(s) => out.enabled = !matches!(s, BridgeStpState::Disabled),
                    InfoBridge::BridgeId(b) => out.bridge_id = id(b),
                    InfoBridge::RootId(b) => out.root_id = id(b),
                    InfoBridge::RootPort(p) => out.root_port = *p,
                    InfoBridge::RootPathCost(c) => out.root_path_cost = *c,
                    _ => {}
                }
            }
        }
    }
    if !found {
        return None;
    }
    let index = br.header.index;
    for l in links.iter().filter(|l| {
        l.attributes
            .iter()
            .any(|a| matches!(a, LinkAttribute::Controller(m) if *m == index))
    }) {
        let mut p = PortStp {
            name: name_of(l).unwrap_or_default().to_string(),
            ..PortStp::default()
        };
        let mut port_id = 0;
        for i in info(l) {
            let LinkInfo::PortData(InfoPortData::BridgePort(attrs)) = i else {
                continue;
            };
            for a in attrs {
                match a {
                    InfoBridgePort::State(s) => p.state = state_word(s),
                    InfoBridgePort::Cost(c) => p.cost = *c,
                    InfoBridgePort::Priority(v) => p.priority = *v,
                    InfoBridgePort::RootId(b) => p.designated_root = id(b),
                    InfoBridgePort::BridgeId(b) => p.designated_bridge = id(b),
                    InfoBridgePort::DesignatedPort(v) => p.designated_port = *v,
                    InfoBridgePort::DesignatedCost(v) => p.designated_cost = *v,
                    InfoBridgePort::PortId(v) => port_id = *v,
                    InfoBridgePort::PortNumber(v) => p.port_no = *v,
                    _ => {}
                }
            }
        }
        p.role = role(&out, &p, port_id);
        out.ports.push(p);
    }
    out.ports.sort_by(|a, b| a.name.cmp(&b.name));
    Some(out)
}

/// A port's role, as br_stp.c's decisions make it (see the module docs).
fn role(br: &BridgeStp, p: &PortStp, port_id: u16) -> String {
    let role = if !br.enabled {
        "-"
    } else if p.state == "disabled" {
        "disabled"
    } else if br.root_port != 0 && p.port_no == br.root_port {
        "root"
    } else if p.designated_bridge == br.bridge_id && p.designated_port == port_id {
        "designated"
    } else if p.designated_bridge == br.bridge_id {
        "backup"
    } else {
        "alternate"
    };
    role.to_string()
}

/// The spanning tree of `bridge` in `node`, from one link dump there.
pub async fn read(
    k: &super::Kernel,
    node: &str,
    bridge: &str,
) -> Result<Option<BridgeStp>, KernelError> {
    let Some(ns) = k.netns_of(node)? else {
        return Ok(None);
    };
    let object = format!("node {node}");
    let bridge = bridge.to_string();
    tokio::task::spawn_blocking(move || {
        super::netns::run_in(&ns, || {
            let mut rtnl =
                super::rtnl::Rtnl::open().map_err(|e| KernelError::io(object.clone(), e))?;
            let links = rtnl.dump(super::observe::link_request, &object, "dump links")?;
            Ok(of(&links, &bridge))
        })?
    })
    .await
    .map_err(|_| KernelError::Thread {
        object: format!("spanning tree in {node}"),
    })?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bid(prio: u16, last: u8) -> BridgeId {
        BridgeId {
            priority: prio,
            address: [2, 0, 0, 0, 0, last],
        }
    }

    #[test]
    fn ids_read_as_brctl_prints_them() {
        assert_eq!(id(&bid(0x8000, 1)), "8000.02:00:00:00:00:01");
    }

    /// Roles follow br_stp.c: root port, designated, backup, alternate.
    #[test]
    fn roles_follow_the_bridge_and_port_ids() {
        let br = BridgeStp {
            enabled: true,
            bridge_id: id(&bid(0x8000, 2)),
            root_port: 1,
            ..BridgeStp::default()
        };
        let port = |no: u16, bridge: u8, dport: u16, state: &str| PortStp {
            port_no: no,
            designated_bridge: id(&bid(0x8000, bridge)),
            designated_port: dport,
            state: state.into(),
            ..PortStp::default()
        };
        assert_eq!(role(&br, &port(1, 1, 0x8001, "forwarding"), 0x8001), "root");
        assert_eq!(
            role(&br, &port(2, 2, 0x8002, "forwarding"), 0x8002),
            "designated"
        );
        assert_eq!(role(&br, &port(3, 2, 0x8002, "blocking"), 0x8003), "backup");
        assert_eq!(
            role(&br, &port(4, 1, 0x8002, "blocking"), 0x8004),
            "alternate"
        );
        assert_eq!(
            role(&br, &port(5, 1, 0x8002, "disabled"), 0x8005),
            "disabled"
        );
        let off = BridgeStp {
            enabled: false,
            ..br
        };
        assert_eq!(role(&off, &port(2, 2, 0x8002, "forwarding"), 0x8002), "-");
    }
}
