//! fdb: forwarding database entries as the kernel encodes them, an
//! ndmsg of family AF_BRIDGE (RTM_NEWNEIGH, RTM_DELNEIGH, RTM_GETNEIGH),
//! read ([`parse`]) and written ([`message`]) as a pair.
//!
//! A bridge's entry is held by its port: ndm_ifindex is the port, NDA_MASTER
//! (NTF_MASTER in requests) the bridge; a static one is NUD_NOARP, a local
//! one (the bridge's and its ports' own addresses) NUD_PERMANENT, a learned
//! one neither (br_fdb_fill_info, fdb_to_nud). A vxlan's entry is its own
//! (NTF_SELF): NDA_DST, NDA_VNI, NDA_PORT and NDA_IFINDEX name the remote
//! (vxlan_fdb_info reports a VNI and port only when not the device's own).
//! Requests are what `bridge fdb add|append|del` send.
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use futures::StreamExt;
use rtnetlink::packet_core::{
    NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE, NLM_F_REPLACE,
    NLM_F_REQUEST,
};
use rtnetlink::packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};
use serde::Serialize;

use super::error::KernelError;
use super::NodeHandle;
use crate::model::fdb::FLOOD;
use crate::model::{FdbEntry, Link, LinkKind, MacAddr};

/// NUD_NOARP: a static entry.
const NUD_NOARP: u16 = 0x40;
/// NUD_PERMANENT: a local entry of a bridge; any entry a vxlan was given.
const NUD_PERMANENT: u16 = 0x80;
/// NUD_STALE: a learned bridge entry older than the ageing time.
const NUD_STALE: u16 = 0x04;
/// USER_HZ: NDA_CACHEINFO counts in clock ticks of 1/100 s (jiffies_to_clock_t).
const USER_HZ: u32 = 100;

/// How an entry came to be, as `bridge fdb` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// Learned from traffic (no state word in `bridge fdb`).
    Learned,
    /// Added by a user, `static`.
    Static,
    /// A device's own address, or a vxlan entry someone added, `permanent`.
    Permanent,
}

/// One entry of a dump: the model's entry plus what the kernel tells of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    /// The entry; for a bridge's own address `port` is the bridge itself;
    /// for an address a device lists for itself (`self`, no master) `dev`
    /// is that device.
    pub entry: FdbEntry,
    /// Learned, static or permanent.
    pub origin: Origin,
    /// Held by a bridge for one of its ports (NDA_MASTER), not the device's own.
    pub master: bool,
    /// Seconds since the entry was last updated (NDA_CACHEINFO), if told.
    pub age: Option<u32>,
    /// Flag words as `bridge fdb` prints them (`extern_learn`, `sticky`, ...).
    pub flags: Vec<&'static str>,
}

/// The name of `ifindex` among `names`; an index with no name (a device
/// since deleted) as `ifindex N`, which holds a space and so never
/// matches a real name, and which [`message`] reads back.
fn name_of(names: &HashMap<u32, String>, ifindex: u32) -> String {
    names
        .get(&ifindex)
        .cloned()
        .unwrap_or_else(|| format!("ifindex {ifindex}"))
}

/// The address in an NDA_DST of an AF_BRIDGE message (the crate leaves it
/// raw for that family): 4 bytes IPv4, 16 IPv6.
fn address(a: &NeighbourAddress) -> Option<IpAddr> {
    match a {
        NeighbourAddress::Inet(v) => Some(IpAddr::V4(*v)),
        NeighbourAddress::Inet6(v) => Some(IpAddr::V6(*v)),
        NeighbourAddress::Other(b) => match b.len() {
            4 => Some(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))),
            16 => {
                let mut o = [0u8; 16];
                o.copy_from_slice(b);
                Some(IpAddr::V6(Ipv6Addr::from(o)))
            }
            _ => None,
        },
        _ => None,
    }
}

/// An entry of an AF_BRIDGE neighbour answer; `names` maps the ifindexes
/// of its namespace. `None` for anything else (no link-layer address).
pub fn parse(m: &NeighbourMessage, names: &HashMap<u32, String>) -> Option<Row> {
    if m.header.family != AddressFamily::Bridge {
        return None;
    }
    let (mut mac, mut master, mut dst, mut vni, mut port, mut via, mut vlan, mut age) =
        (None, None, None, None, None, None, None, None);
    for a in &m.attributes {
        match a {
            NeighbourAttribute::LinkLayerAddress(b) if b.len() == 6 => {
                let mut o = [0u8; 6];
                o.copy_from_slice(b);
                mac = Some(MacAddr(o));
            }
            NeighbourAttribute::Controller(i) => master = Some(*i),
            NeighbourAttribute::Destination(d) => dst = address(d),
            NeighbourAttribute::Vni(v) => vni = Some(*v),
            NeighbourAttribute::Port(p) => port = Some(*p),
            NeighbourAttribute::IfIndex(i) => via = Some(*i),
            NeighbourAttribute::Vlan(v) => vlan = Some(*v),
            NeighbourAttribute::CacheInfo(c) => age = Some(c.updated / USER_HZ),
            _ => {}
        }
    }
    let state = u16::from(m.header.state);
    let origin = if state & NUD_PERMANENT != 0 {
        Origin::Permanent
    } else if state & NUD_NOARP != 0 {
        Origin::Static
    } else {
        Origin::Learned
    };
    let here = name_of(names, m.header.ifindex);
    let entry = match master {
        Some(br) => FdbEntry::bridge(&name_of(names, br), mac?, &here, vlan),
        None => FdbEntry {
            dev: here,
            mac: mac?,
            port: None,
            vlan,
            dst,
            vni,
            dstport: port,
            via: via.map(|i| name_of(names, i)),
        },
    };
    let f = m.header.flags;
    let mut flags = Vec::new();
    for (bit, word) in [
        (NeighbourFlags::ExtLearned, "extern_learn"),
        (NeighbourFlags::Sticky, "sticky"),
        (NeighbourFlags::Offloaded, "offload"),
        (NeighbourFlags::Router, "router"),
    ] {
        if f.contains(bit) {
            flags.push(word);
        }
    }
    if origin == Origin::Learned && state & NUD_STALE != 0 {
        flags.push("stale");
    }
    Some(Row {
        entry,
        origin,
        master: master.is_some(),
        age: (origin != Origin::Permanent).then_some(age).flatten(),
        flags,
    })
}

/// The message adding or deleting `entry`, the devices it names looked up
/// through `index` (a name written `ifindex N` is that index): a bridge's
/// entry as its port's, NTF_MASTER and static; a vxlan's as its own,
/// NTF_SELF and permanent (vxlan_fdb_add refuses an entry neither
/// permanent nor reachable), as iproute2 sends them.
pub fn message(
    entry: &FdbEntry,
    index: &dyn Fn(&str) -> Result<u32, KernelError>,
) -> Result<NeighbourMessage, KernelError> {
    let lookup = |name: &str| match name.strip_prefix("ifindex ").map(str::parse::<u32>) {
        Some(Ok(i)) => Ok(i),
        _ => index(name),
    };
    let mut m = NeighbourMessage::default();
    m.header.family = AddressFamily::Bridge;
    m.attributes
        .push(NeighbourAttribute::LinkLayerAddress(entry.mac.0.to_vec()));
    match &entry.port {
        Some(port) => {
            m.header.ifindex = lookup(port)?;
            m.header.flags = NeighbourFlags::Controller;
            m.header.state = NeighbourState::Noarp;
            if let Some(v) = entry.vlan {
                m.attributes.push(NeighbourAttribute::Vlan(v));
            }
        }
        None => {
            m.header.ifindex = lookup(&entry.dev)?;
            m.header.flags = NeighbourFlags::Own;
            m.header.state = NeighbourState::from(NUD_PERMANENT | NUD_NOARP);
            if let Some(d) = entry.dst {
                m.attributes
                    .push(NeighbourAttribute::Destination(NeighbourAddress::from(d)));
            }
            if let Some(p) = entry.dstport {
                m.attributes.push(NeighbourAttribute::Port(p));
            }
            if let Some(v) = entry.vni {
                m.attributes.push(NeighbourAttribute::Vni(v));
            }
            if let Some(v) = &entry.via {
                m.attributes.push(NeighbourAttribute::IfIndex(lookup(v)?));
            }
        }
    }
    Ok(m)
}

/// The flags of a request adding `entry`: a flood entry is appended
/// beside the others (`bridge fdb append`), any other replaces what the
/// device has for its MAC (`bridge fdb replace`: a learned entry turns
/// static).
pub fn add_flags(entry: &FdbEntry) -> u16 {
    NLM_F_CREATE
        | if entry.floods() {
            NLM_F_APPEND
        } else {
            NLM_F_REPLACE
        }
}

/// Send `m` (RTM_NEWNEIGH when `add`, else RTM_DELNEIGH) through `h`.
pub async fn send(
    h: &NodeHandle,
    m: NeighbourMessage,
    flags: u16,
    add: bool,
    object: &str,
    op: &str,
) -> Result<(), KernelError> {
    let msg = if add {
        RouteNetlinkMessage::NewNeighbour(m)
    } else {
        RouteNetlinkMessage::DelNeighbour(m)
    };
    let mut req = NetlinkMessage::from(msg);
    req.header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
    let fail = |e| super::conn::map_err(e, object, op);
    let mut handle = h.handle.clone();
    let mut answers = handle.request(req).map_err(fail)?;
    while let Some(a) = answers.next().await {
        if let NetlinkPayload::Error(e) = a.payload {
            if e.code.is_some() {
                return Err(fail(rtnetlink::Error::NetlinkError(e)));
            }
        }
    }
    Ok(())
}

/// An AF_BRIDGE neighbour dump request: every forwarding entry of the
/// namespace (bridges', vxlans' and devices' own address lists).
pub fn dump_request() -> RouteNetlinkMessage {
    let mut m = NeighbourMessage::default();
    m.header.family = AddressFamily::Bridge;
    RouteNetlinkMessage::GetNeighbour(m)
}

/// Every forwarding entry of `node`'s namespace, read from one AF_BRIDGE
/// neighbour dump (and one link dump for the names); empty when the node
/// is gone.
pub async fn dump(k: &super::Kernel, node: &str) -> Result<Vec<Row>, KernelError> {
    let Some(ns) = k.netns_of(node)? else {
        return Ok(Vec::new());
    };
    let object = format!("node {node}");
    tokio::task::spawn_blocking(move || {
        super::netns::run_in(&ns, || {
            let mut rtnl =
                super::rtnl::Rtnl::open().map_err(|e| KernelError::io(object.clone(), e))?;
            let links = rtnl.dump(super::observe::link_request, &object, "dump links")?;
            let names: HashMap<u32, String> = links
                .iter()
                .filter_map(|m| match m {
                    RouteNetlinkMessage::NewLink(l) => l.attributes.iter().find_map(|a| match a {
                        rtnetlink::packet_route::link::LinkAttribute::IfName(n) => {
                            Some((l.header.index, n.clone()))
                        }
                        _ => None,
                    }),
                    _ => None,
                })
                .collect();
            let answers = rtnl.dump(dump_request, &object, "dump fdb")?;
            Ok(rows(&answers, &names))
        })?
    })
    .await
    .map_err(|_| KernelError::Thread {
        object: format!("fdb of {node}"),
    })?
}

/// The rows of a dump's answers.
pub fn rows(answers: &[RouteNetlinkMessage], names: &HashMap<u32, String>) -> Vec<Row> {
    answers
        .iter()
        .filter_map(|a| match a {
            RouteNetlinkMessage::NewNeighbour(m) => parse(m, names),
            _ => None,
        })
        .collect()
}

/// The entries netloom manages among `rows` of a namespace whose links
/// are `links`, sorted: a bridge's static entries for its ports, and a
/// vxlan's entries but the one it made itself for its own `remote` or
/// `group` (__vxlan_dev_create: the all-zero MAC to that address, by its
/// underlay `dev`).
pub fn managed(rows: &[Row], links: &BTreeMap<String, Link>) -> Vec<FdbEntry> {
    let kind = |name: &str| links.get(name).map(|l| &l.kind);
    let mut out: Vec<FdbEntry> = rows
        .iter()
        .filter(|r| {
            let e = &r.entry;
            match kind(&e.dev) {
                Some(LinkKind::Bridge(_)) => {
                    r.master && r.origin == Origin::Static && e.port.as_ref() != Some(&e.dev)
                }
                Some(LinkKind::Vxlan(o)) => {
                    let own = e.mac == FLOOD
                        && e.dst.is_some()
                        && (e.dst == o.remote || e.dst == o.group)
                        && e.vni.is_none()
                        && e.dstport.is_none()
                        && e.via.as_ref() == o.dev.as_ref().map(|d| &d.name);
                    !r.master && r.origin != Origin::Learned && e.dst.is_some() && !own
                }
                _ => false,
            }
        })
        .map(|r| r.entry.clone())
        .collect();
    // A bridge entry added without a VLAN is added again for every VLAN of
    // its port (br_fdb_add; on kernels with VLAN filtering built in every
    // port is in the default PVID even when the bridge does not filter), and
    // deleted with them (br_fdb_delete): the copies are that one entry.
    let whole: Vec<(String, MacAddr, Option<String>)> = out
        .iter()
        .filter(|e| e.on_bridge() && e.vlan.is_none())
        .map(|e| (e.dev.clone(), e.mac, e.port.clone()))
        .collect();
    out.retain(|e| e.vlan.is_none() || !whole.contains(&(e.dev.clone(), e.mac, e.port.clone())));
    out.sort();
    out.dedup();
    out
}

/// Whether a namespace with `links` may hold entries netloom manages.
pub fn worth_dumping<'a>(mut kinds: impl Iterator<Item = &'a LinkKind>) -> bool {
    kinds.any(|k| matches!(k, LinkKind::Bridge(_) | LinkKind::Vxlan(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> HashMap<u32, String> {
        [(1, "br0"), (2, "p1"), (3, "vx0"), (4, "eth0")]
            .into_iter()
            .map(|(i, n)| (i, n.to_string()))
            .collect()
    }

    fn index(name: &str) -> Result<u32, KernelError> {
        names()
            .into_iter()
            .find(|(_, n)| n == name)
            .map(|(i, _)| i)
            .ok_or_else(|| KernelError::Invalid {
                object: name.into(),
                message: "no such interface".into(),
            })
    }

    /// What the kernel answers is what was sent, for the attributes both
    /// carry: message -> parse gives the entry back.
    #[test]
    fn message_and_parse_are_a_pair() {
        let mac: MacAddr = "02:00:00:00:00:09".parse().unwrap();
        let mut vx = FdbEntry::vxlan("vx0", mac, "10.9.0.2".parse().unwrap());
        vx.vni = Some(200);
        vx.dstport = Some(4790);
        vx.via = Some("eth0".into());
        let v6 = FdbEntry::vxlan("vx0", FLOOD, "fd00::2".parse().unwrap());
        for e in [FdbEntry::bridge("br0", mac, "p1", Some(10)), vx, v6] {
            let mut m = message(&e, &index).unwrap();
            // The kernel names the bridge of a port's entry.
            if e.on_bridge() {
                m.attributes.push(NeighbourAttribute::Controller(1));
            }
            // And sends the destination raw for family AF_BRIDGE.
            for a in &mut m.attributes {
                if let NeighbourAttribute::Destination(d) = a {
                    let raw = match address(d).unwrap() {
                        IpAddr::V4(v) => v.octets().to_vec(),
                        IpAddr::V6(v) => v.octets().to_vec(),
                    };
                    *a = NeighbourAttribute::Destination(NeighbourAddress::Other(raw));
                }
            }
            let row = parse(&m, &names()).unwrap();
            assert_eq!(row.entry, e);
            let want = if e.on_bridge() {
                Origin::Static
            } else {
                Origin::Permanent
            };
            assert_eq!(row.origin, want, "{e}");
            assert_eq!(row.master, e.on_bridge());
        }
        assert_eq!(
            add_flags(&FdbEntry::vxlan("vx0", FLOOD, "10.0.0.1".parse().unwrap())) & NLM_F_APPEND,
            NLM_F_APPEND
        );
    }

    /// Managed: static bridge entries (a VLAN copy folded into the entry
    /// without VLAN) and a vxlan's entries but its own default one.
    #[test]
    fn only_what_netloom_manages_is_observed() {
        use crate::model::{IfRef, VxlanOptions};
        let mac = |s: &str| s.parse::<MacAddr>().unwrap();
        let row = |entry: FdbEntry, origin, master| Row {
            entry,
            origin,
            master,
            age: None,
            flags: Vec::new(),
        };
        let (m, n) = (mac("02:00:00:00:00:01"), mac("02:00:00:00:00:02"));
        let remote: IpAddr = "10.0.0.9".parse().unwrap();
        let mut own = FdbEntry::vxlan("vx0", FLOOD, remote);
        own.via = Some("eth0".into());
        let appended = FdbEntry::vxlan("vx0", FLOOD, "10.0.0.3".parse().unwrap());
        let rows = vec![
            row(FdbEntry::bridge("br0", m, "p1", None), Origin::Static, true),
            row(
                FdbEntry::bridge("br0", m, "p1", Some(1)),
                Origin::Static,
                true,
            ),
            row(
                FdbEntry::bridge("br0", n, "p1", Some(10)),
                Origin::Static,
                true,
            ),
            row(
                FdbEntry::bridge("br0", n, "p1", None),
                Origin::Learned,
                true,
            ),
            row(
                FdbEntry::bridge("br0", n, "br0", None),
                Origin::Static,
                true,
            ),
            row(
                FdbEntry::bridge("br0", mac("02:00:00:00:00:03"), "p1", None),
                Origin::Permanent,
                true,
            ),
            row(own, Origin::Permanent, false),
            row(appended.clone(), Origin::Permanent, false),
        ];
        let mut links = BTreeMap::new();
        links.insert(
            "br0".to_string(),
            Link::new("br0", LinkKind::Bridge(Default::default())),
        );
        let vx = VxlanOptions {
            remote: Some(remote),
            dev: Some(IfRef {
                node: "n".into(),
                name: "eth0".into(),
            }),
            ..Default::default()
        };
        links.insert("vx0".to_string(), Link::new("vx0", LinkKind::Vxlan(vx)));
        let got: Vec<String> = managed(&rows, &links)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            got,
            [
                "02:00:00:00:00:01 dev p1 master br0",
                "02:00:00:00:00:02 dev p1 master br0 vlan 10",
                appended.to_string().as_str(),
            ]
        );
    }

    #[test]
    fn a_vanished_device_reads_back_by_its_index() {
        let mut e = FdbEntry::vxlan("vx0", FLOOD, "10.9.0.2".parse().unwrap());
        e.via = Some("ifindex 9".into());
        let m = message(&e, &index).unwrap();
        assert!(m.attributes.contains(&NeighbourAttribute::IfIndex(9)));
        assert_eq!(parse(&m, &names()).unwrap().entry, e);
    }
}
