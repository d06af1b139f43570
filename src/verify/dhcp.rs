//! The claims about DHCP and DNS, proved for real:
//! - `lease`: the interface has the leased address in the kernel, its
//!   client holds it, and the dnsmasq that granted it lists it for the
//!   interface's MAC in its lease file;
//! - `resolve`: a DNS query sent from inside the node to the name server
//!   its lease gave (it must be a dnsmasq of the topology) is answered with
//!   the address of the node the name names.
//!
//! The network handed in is the desired one completed with what services
//! report (see [`crate::plan::resolve`]): leases, dnsmasq's lease lists.
use std::net::{IpAddr, Ipv4Addr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

use super::{node, Error, Outcome};
use crate::kernel::query::Query;
use crate::kernel::resolv;
use crate::model::service::{leased, DnsmasqSetup, ServiceReport};
use crate::model::{netns_name, Expectation, Network, ServiceSetup};
use crate::wire::dns;

/// Every dnsmasq of the topology: (node, setup, leases it lists).
fn servers(network: &Network) -> Vec<(&str, &DnsmasqSetup, Option<&ServiceReport>)> {
    network
        .nodes
        .iter()
        .flat_map(|(n, node)| {
            node.services.values().filter_map(move |s| match &s.setup {
                ServiceSetup::Dnsmasq(d) => Some((n.as_str(), d, s.report.as_ref())),
                _ => None,
            })
        })
        .collect()
}

/// Check `lease: NODE/IFACE in FIRST-LAST`.
pub fn lease(
    network: &Network,
    e: &Expectation,
    first: Ipv4Addr,
    last: Ipv4Addr,
    mut o: Outcome,
) -> Outcome {
    let node = &e.from.node;
    let iface = e.from.iface.clone().unwrap_or_default();
    o.from_iface = Some(iface.clone());
    let me = format!("{node}/{iface}");
    let held = network
        .nodes
        .get(node)
        .and_then(|n| n.services.get(&format!("dhcp-{iface}")))
        .and_then(leased);
    let Some(l) = held else {
        o.reason = format!("{me}'s DHCP client holds no lease (does it run? see `netloom status`)");
        return o;
    };
    let addr = l.address.addr();
    if !(first..=last).contains(&addr) {
        o.reason = format!("leased {}, outside {first}-{last}", l.address);
        return o;
    }
    // The kernel: the address is on the interface, whose MAC the server lists.
    let seen = node::run_in(&network.name, node, || {
        let mut q = Query::open(format!("node {node}"))?;
        let link = q
            .link_by_name(&iface)?
            .ok_or_else(|| Error::NoLink(iface.clone()))?;
        let on = q
            .addresses()?
            .iter()
            .any(|a| a.index == link.index && a.addr == IpAddr::V4(addr));
        Ok((on, link.mac))
    });
    let (on, mac) = match seen {
        Ok(s) => s,
        Err(err) => {
            o.reason = format!("cannot read {me}: {err}");
            return o;
        }
    };
    if !on {
        o.reason = format!("{me} leased {} but does not have it", l.address);
        return o;
    }
    let Some((snode, server, report)) = servers(network)
        .into_iter()
        .find(|(_, d, _)| d.address.addr() == l.server)
    else {
        o.reason = format!(
            "{me} holds {} from {}, which is no dnsmasq of the topology",
            l.address, l.server
        );
        return o;
    };
    let listed = match report {
        Some(ServiceReport::Leases(list)) => {
            list.iter().any(|x| x.address == addr && Some(x.mac) == mac)
        }
        _ => false,
    };
    let by = format!("dnsmasq on {snode}/{} ({})", server.iface, l.server);
    o.to_addr = Some(IpAddr::V4(l.server));
    o.to_iface = Some(format!("{snode}/{}", server.iface));
    if !listed {
        o.reason = format!(
            "{me} has {} but {by} does not list it for its MAC",
            l.address
        );
        return o;
    }
    o.ok = true;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let left = l.expires.saturating_sub(now);
    o.reason = format!(
        "{me} has {} leased from {by}, renewed {} time(s), {left} s left",
        l.address, l.renewals
    );
    o
}

/// The name servers `node`'s lease gave (its resolv.conf), else the
/// dnsmasq listening on the node's segment.
fn name_servers(network: &Network, node: &str) -> Vec<Ipv4Addr> {
    let from_file: Vec<Ipv4Addr> = netns_name(&network.name, node)
        .and_then(|ns| resolv::read(&ns))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix("nameserver "))
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    if !from_file.is_empty() {
        return from_file;
    }
    let mine: Vec<IpAddr> = network
        .nodes
        .get(node)
        .map(|n| {
            n.links
                .values()
                .flat_map(|l| l.addresses.iter().map(|a| a.net.addr()))
                .collect()
        })
        .unwrap_or_default();
    servers(network)
        .into_iter()
        .filter(|(_, d, _)| {
            mine.iter()
                .any(|a| matches!(a, IpAddr::V4(v) if d.address.contains(v)))
        })
        .map(|(_, d, _)| d.address.addr())
        .collect()
}

/// Check `resolve: NODE -> NAME`; `target` is the node NAME names.
pub fn resolve(
    network: &Network,
    e: &Expectation,
    name: &str,
    target: &str,
    mut o: Outcome,
) -> Outcome {
    let from = &e.from.node;
    let Some(server) = name_servers(network, from).into_iter().next() else {
        o.reason = format!(
            "{from} has no name server (no resolv.conf from a lease, no dnsmasq on its segment)"
        );
        return o;
    };
    o.to_addr = Some(IpAddr::V4(server));
    let Some((snode, d, _)) = servers(network)
        .into_iter()
        .find(|(_, d, _)| d.address.addr() == server)
    else {
        o.reason = format!("{from}'s name server {server} is no dnsmasq of the topology");
        return o;
    };
    o.to_iface = Some(format!("{snode}/{}", d.iface));
    // What the name must give: the target's addresses in the server's subnet.
    let want: Vec<IpAddr> = network
        .nodes
        .get(target)
        .into_iter()
        .flat_map(|n| n.links.values())
        .flat_map(|l| l.addresses.iter().map(|a| a.net.addr()))
        .filter(|a| matches!(a, IpAddr::V4(v) if d.address.contains(v)))
        .collect();
    if want.is_empty() {
        o.reason = format!(
            "{target} has no address in {} to be named by",
            d.address.trunc()
        );
        return o;
    }
    let timeout = Duration::from_millis(u64::from(e.timeout_ms.max(1)));
    let asked = node::run_in(&network.name, from, || ask(name, server, timeout, e.count));
    match asked {
        Err(err) => o.reason = format!("cannot ask {server}: {err}"),
        Ok(None) => {
            o.reason = format!(
                "{server} did not answer for {name} ({} queries, {} ms each)",
                e.count,
                timeout.as_millis()
            )
        }
        Ok(Some((answer, took))) => {
            o.rtt_ms = Some(took.as_secs_f64() * 1000.0);
            let got: Vec<String> = answer.addresses.iter().map(IpAddr::to_string).collect();
            if answer.rcode != 0 {
                o.reason = format!("{server} answered {name} with rcode {}", answer.rcode);
            } else if answer.addresses.iter().any(|a| want.contains(a)) {
                o.ok = true;
                o.reason = format!(
                    "{name} is {}, answered by dnsmasq on {snode}/{} ({server})",
                    got.join(", "),
                    d.iface
                );
            } else {
                o.reason = format!(
                    "{name} is {} by {server}, not {target}'s {}",
                    if got.is_empty() {
                        "nothing".to_string()
                    } else {
                        got.join(", ")
                    },
                    want[0]
                );
            }
        }
    }
    o
}

/// Ask `server` for `name`'s A records from the calling thread's namespace,
/// up to `tries` times; the answer and how long it took.
fn ask(
    name: &str,
    server: Ipv4Addr,
    timeout: Duration,
    tries: u32,
) -> Result<Option<(dns::Answer, Duration)>, Error> {
    let io = |what: &str| {
        let what = what.to_string();
        move |e: std::io::Error| Error::Socket {
            what,
            source: nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        }
    };
    let sock = UdpSocket::bind("0.0.0.0:0").map_err(io("DNS socket"))?;
    sock.set_read_timeout(Some(timeout))
        .map_err(io("DNS socket timeout"))?;
    for i in 0..tries.max(1) {
        let id = (std::process::id() as u16) ^ (i as u16).wrapping_mul(7919);
        let q = dns::query(id, name, dns::TYPE_A).map_err(|_| Error::NoNode(name.to_string()))?;
        let start = Instant::now();
        sock.send_to(&q, SocketAddrV4::new(server, dns::PORT))
            .map_err(io("send DNS query"))?;
        let mut buf = [0u8; 1500];
        while start.elapsed() < timeout {
            match sock.recv_from(&mut buf) {
                Ok((n, from)) if from.ip() == IpAddr::V4(server) => {
                    if let Ok(a) = dns::parse(&buf[..n]) {
                        if a.id == id {
                            return Ok(Some((a, start.elapsed())));
                        }
                    }
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    }
    Ok(None)
}
