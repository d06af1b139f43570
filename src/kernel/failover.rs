//! net_failover, observed: the kernel makes a failover master itself
//! (net_failover_create, from virtio-net's probe when the device offers
//! VIRTIO_NET_F_STANDBY) and enslaves the virtio device's own netdev as
//! `standby` and a PCI netdev with the same MAC as `primary`
//! (failover_slave_register). netloom never creates one; it reads what
//! there is: the master (a device without IFLA_INFO_KIND whose ethtool
//! driver is `net_failover`), its two slaves (IFLA_MASTER), their roles
//! (the standby shares the master's parent device,
//! net_failover_slave_pre_register) and which one carries traffic now
//! (net_failover_start_xmit: the primary when it is running with carrier,
//! else the standby when it is, else none: frames are dropped).
use std::collections::HashMap;

use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags, LinkInfo, LinkMessage, Stats64};
use serde::Serialize;

use super::error::KernelError;
use super::netns::{self, Netns};
use super::rtnl::Rtnl;

/// One slave of a failover master.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Slave {
    /// Its name.
    pub name: String,
    /// IFF_UP.
    pub up: bool,
    /// IFF_LOWER_UP: running with carrier (net_failover_xmit_ready).
    pub carrier: bool,
    /// Packets it sent (its own counter: the master's is a sum that
    /// restarts when a slave goes).
    pub tx_packets: u64,
}

/// A failover master and its slaves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failover {
    /// The master (the device users configure).
    pub master: String,
    /// The PCI device (a VF), when present.
    pub primary: Option<Slave>,
    /// The virtio device's own netdev, when present.
    pub standby: Option<Slave>,
    /// The slave frames leave by now; `None` when the master is down or
    /// neither slave can send (the master drops then).
    pub active: Option<String>,
}

/// In one line: its slaves, and which carries traffic.
impl std::fmt::Display for Failover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let slave = |s: &Option<Slave>| match s {
            Some(s) => format!(
                "{} {} (tx {})",
                s.name,
                if s.up && s.carrier { "ready" } else { "down" },
                s.tx_packets
            ),
            None => "absent".to_string(),
        };
        write!(
            f,
            "net_failover: primary {}, standby {}, active {}",
            slave(&self.primary),
            slave(&self.standby),
            self.active
                .as_deref()
                .unwrap_or("none (frames are dropped)")
        )
    }
}

/// What one link message says, as far as failover cares.
struct Seen {
    name: String,
    master: Option<u32>,
    has_kind: bool,
    parent: Option<String>,
    up: bool,
    carrier: bool,
    tx_packets: u64,
}

fn seen(m: &LinkMessage) -> Seen {
    let mut s = Seen {
        name: String::new(),
        master: None,
        has_kind: false,
        parent: None,
        up: m.header.flags.contains(LinkFlags::Up),
        carrier: m.header.flags.contains(LinkFlags::LowerUp),
        tx_packets: 0,
    };
    for a in &m.attributes {
        match a {
            LinkAttribute::IfName(n) => s.name = n.clone(),
            LinkAttribute::Controller(i) => s.master = Some(*i),
            LinkAttribute::ParentDevName(p) => s.parent = Some(p.clone()),
            LinkAttribute::Stats64(st) => s.tx_packets = tx(st),
            LinkAttribute::LinkInfo(infos) => {
                s.has_kind |= infos.iter().any(|i| matches!(i, LinkInfo::Kind(_)))
            }
            _ => {}
        }
    }
    s
}

fn tx(st: &Stats64) -> u64 {
    st.tx_packets
}

/// The masters among `links` that could be failover masters: devices of no
/// rtnl kind that are the master of another device.
pub fn candidates(links: &[LinkMessage]) -> Vec<String> {
    let seen: Vec<(u32, Seen)> = links.iter().map(|m| (m.header.index, seen(m))).collect();
    seen.iter()
        .filter(|(i, s)| !s.has_kind && seen.iter().any(|(_, o)| o.master == Some(*i)))
        .map(|(_, s)| s.name.clone())
        .collect()
}

/// The failover masters among `links`, `failover` naming those whose driver
/// is net_failover. Pure: the kernel's answers in, the model out.
pub fn decode(links: &[LinkMessage], failover: &[String]) -> Vec<Failover> {
    let seen: Vec<(u32, Seen)> = links.iter().map(|m| (m.header.index, seen(m))).collect();
    let by_index: HashMap<u32, &Seen> = seen.iter().map(|(i, s)| (*i, s)).collect();
    let mut out = Vec::new();
    for (index, m) in &seen {
        if !failover.contains(&m.name) {
            continue;
        }
        let (mut primary, mut standby) = (None, None);
        for (_, s) in seen.iter().filter(|(_, s)| s.master == Some(*index)) {
            let slave = Slave {
                name: s.name.clone(),
                up: s.up,
                carrier: s.carrier,
                tx_packets: s.tx_packets,
            };
            if s.parent.is_some() && s.parent == m.parent {
                standby = Some(slave);
            } else {
                primary = Some(slave);
            }
        }
        let ready = |s: &Option<Slave>| {
            s.as_ref()
                .filter(|s| s.up && s.carrier)
                .map(|s| s.name.clone())
        };
        let active = if by_index.get(index).is_some_and(|m| m.up) {
            ready(&primary).or_else(|| ready(&standby))
        } else {
            None
        };
        out.push(Failover {
            master: m.name.clone(),
            primary,
            standby,
            active,
        });
    }
    out.sort_by(|a, b| a.master.cmp(&b.master));
    out
}

/// The failover masters of namespace `ns` (none on a machine without them:
/// one link dump, and one ethtool question per candidate).
pub fn read(ns: &Netns) -> Result<Vec<Failover>, KernelError> {
    let object = ns.label();
    netns::run_in(ns, || {
        let mut rtnl = Rtnl::open().map_err(|e| KernelError::io(object.clone(), e))?;
        // With counters: the slaves' tx tells which one carried traffic.
        let request =
            || rtnetlink::packet_route::RouteNetlinkMessage::GetLink(LinkMessage::default());
        let links: Vec<LinkMessage> = rtnl
            .dump(request, &object, "dump links")?
            .into_iter()
            .filter_map(|m| match m {
                rtnetlink::packet_route::RouteNetlinkMessage::NewLink(l) => Some(l),
                _ => None,
            })
            .collect();
        let names = candidates(&links);
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let sock = std::net::UdpSocket::bind("0.0.0.0:0")
            .or_else(|_| std::net::UdpSocket::bind("[::]:0"))
            .map_err(|e| KernelError::io(object.clone(), e))?;
        let failover: Vec<String> = names
            .into_iter()
            .filter(|n| {
                use std::os::fd::AsFd;
                super::sys::ethtool_driver(sock.as_fd(), n).is_ok_and(|d| d == "net_failover")
            })
            .collect();
        Ok(decode(&links, &failover))
    })?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(
        index: u32,
        name: &str,
        master: Option<u32>,
        parent: &str,
        flags: LinkFlags,
        tx: u64,
    ) -> LinkMessage {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.header.flags = flags;
        m.attributes.push(LinkAttribute::IfName(name.into()));
        if let Some(i) = master {
            m.attributes.push(LinkAttribute::Controller(i));
        }
        m.attributes
            .push(LinkAttribute::ParentDevName(parent.into()));
        let mut st = Stats64::default();
        st.tx_packets = tx;
        m.attributes.push(LinkAttribute::Stats64(st));
        m
    }

    fn up() -> LinkFlags {
        LinkFlags::Up | LinkFlags::LowerUp | LinkFlags::Running
    }

    /// The measured layout: eth0 master and eth1 standby on virtio0, eth2
    /// the e1000e primary on a PCI address.
    fn vm(primary: LinkFlags, with_primary: bool) -> Vec<LinkMessage> {
        let mut l = vec![
            link(2, "eth0", None, "virtio0", up(), 30),
            link(3, "eth1", Some(2), "virtio0", up(), 4),
        ];
        if with_primary {
            l.push(link(4, "eth2", Some(2), "0000:01:00.0", primary, 26));
        }
        l
    }

    #[test]
    fn roles_and_the_active_path_follow_net_failover_start_xmit() {
        let links = vm(up(), true);
        assert_eq!(candidates(&links), vec!["eth0".to_string()]);
        let f = &decode(&links, &["eth0".into()])[0];
        assert_eq!(f.primary.as_ref().unwrap().name, "eth2");
        assert_eq!(f.standby.as_ref().unwrap().name, "eth1");
        assert_eq!(f.active.as_deref(), Some("eth2"));
        assert_eq!(f.primary.as_ref().unwrap().tx_packets, 26);
        // Primary set down: the standby carries.
        let down = decode(&vm(LinkFlags::empty(), true), &["eth0".into()]);
        assert_eq!(down[0].active.as_deref(), Some("eth1"));
        // Primary unplugged: the standby alone.
        let gone = decode(&vm(up(), false), &["eth0".into()]);
        assert!(gone[0].primary.is_none());
        assert_eq!(gone[0].active.as_deref(), Some("eth1"));
        // A master that is no failover (its driver said otherwise) is left out.
        assert!(decode(&links, &[]).is_empty());
    }

    #[test]
    fn a_master_down_sends_nothing() {
        let mut links = vm(up(), true);
        links[0].header.flags = LinkFlags::empty();
        assert_eq!(decode(&links, &["eth0".into()])[0].active, None);
    }
}
