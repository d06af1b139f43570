//! Addresses and routes that services place: the file cannot name them
//! (`addresses: [dhcp]` gets whatever the server leases; a LIF lives on
//! whichever of its ports its watcher chose), so before planning the
//! desired network is completed from what the services report:
//! - a DHCP client that runs as wanted and holds a lease: its address on
//!   its interface and its default route via the lease's router are
//!   wanted. Removed behind netloom's back, they are missing (status shows
//!   the drift, `up` adds them again);
//! - a DHCP client about to (re)start or stop, or without a lease: what its
//!   interface has is left alone (it is the client's to change, and a
//!   stopping client releases and removes it itself);
//! - a LIF: its address is wanted on the port its running watcher reports;
//!   while the watcher is about to (re)start, wherever among its ports the
//!   kernel has it (the watcher places it once it runs).
use std::borrow::Cow;

use ipnet::{IpNet, Ipv4Net};

use crate::model::service::{leased, ServiceReport};
use crate::model::{Address, Network, Node, Route, ServiceSetup};

/// `desired` completed with what its services placed in `observed` (see
/// the module's docs); borrowed unchanged when no service is involved.
pub fn resolve<'a>(desired: &'a Network, observed: &Network) -> Cow<'a, Network> {
    let involved = |name: &String| {
        desired
            .nodes
            .get(name)
            .is_some_and(|n| !n.services.is_empty())
            || observed
                .nodes
                .get(name)
                .is_some_and(|n| !n.services.is_empty())
    };
    if !desired.nodes.keys().any(involved) {
        return Cow::Borrowed(desired);
    }
    let mut out = desired.clone();
    for (name, want) in out.nodes.iter_mut() {
        let Some(have) = observed.nodes.get(name) else {
            continue;
        };
        complete(want, have);
    }
    Cow::Owned(out)
}

/// Complete desired node `want` from observed node `have`.
fn complete(want: &mut Node, have: &Node) {
    // A service running as wanted is wanted as it runs: with its pid and
    // what it reports (which `verify` reads; planning compares setups).
    for (name, w) in want.services.iter_mut() {
        if let Some(h) = have.services.get(name).filter(|h| h.setup == w.setup) {
            *w = h.clone();
        }
    }
    let wanted = want.services.clone();
    // DHCP clients wanted, and those running that are to stop.
    let mut clients: Vec<(String, Option<&crate::model::service::Lease>)> = Vec::new();
    for (name, w) in &wanted {
        let ServiceSetup::DhcpClient(c) = &w.setup else {
            continue;
        };
        let lease = have
            .services
            .get(name)
            .filter(|h| h.setup == w.setup)
            .and_then(leased);
        clients.push((c.iface.clone(), lease));
        if lease.is_none() {
            leave_alone(want, have, &c.iface);
        }
    }
    for (name, h) in &have.services {
        if let ServiceSetup::DhcpClient(c) = &h.setup {
            if !wanted.contains_key(name) {
                clients.push((c.iface.clone(), leased(h)));
            }
        }
    }
    for (iface, lease) in clients {
        let Some(lease) = lease else { continue };
        if let Some(link) = want.links.get_mut(&iface) {
            add_address(&mut link.addresses, lease.address.into());
        }
        if let Some(router) = lease.router {
            let route = default_via(router, &iface);
            if !want.routes.contains(&route) {
                want.routes.push(route);
            }
        }
    }
    for w in wanted.values() {
        let ServiceSetup::LifWatch(setup) = &w.setup else {
            continue;
        };
        let reported = have
            .services
            .get(&w.setup.name())
            .filter(|h| h.setup == w.setup)
            .and_then(|h| match &h.report {
                Some(ServiceReport::Lifs(m)) => Some(m),
                _ => None,
            });
        for lif in &setup.lifs {
            let port = match reported {
                Some(m) => m.get(&lif.name).and_then(|s| s.port.clone()),
                None => lif
                    .ports()
                    .find(|p| {
                        have.links
                            .get(*p)
                            .is_some_and(|l| l.addresses.iter().any(|a| a.net == lif.address))
                    })
                    .map(str::to_string),
            };
            if let Some(link) = port.and_then(|p| want.links.get_mut(&p)) {
                add_address(&mut link.addresses, lif.address);
            }
        }
    }
}

/// The inverse of [`resolve`], for `export`: what the services of `net`
/// (as observed) placed is taken out, because the file names the service
/// instead (`addresses: [dhcp]`, `lifs:`): a DHCP client's leased address
/// and its default route, each LIF's address on whichever port holds it,
/// and the device of routes through a LIF's subnet (they follow the LIF).
/// Returns, per node, what could not be told apart from static settings.
pub fn unplace(net: &mut Network) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut notes = std::collections::BTreeMap::new();
    for (name, n) in net.nodes.iter_mut() {
        let services: Vec<_> = n.services.values().cloned().collect();
        for s in &services {
            match &s.setup {
                ServiceSetup::DhcpClient(c) => match leased(s) {
                    Some(lease) => {
                        let a = IpNet::V4(lease.address);
                        if let Some(l) = n.links.get_mut(&c.iface) {
                            l.addresses.retain(|x| x.net != a);
                        }
                        if let Some(router) = lease.router {
                            let d = default_via(router, &c.iface);
                            n.routes.retain(|r| {
                                !(r.to == d.to && r.via == d.via && r.dev == d.dev)
                            });
                        }
                    }
                    None => notes.entry(name.clone()).or_insert_with(Vec::new).push(format!(
                        "the DHCP client of `{}` holds no lease it reports: the interface's addresses are written as they are",
                        c.iface
                    )),
                },
                ServiceSetup::LifWatch(w) => {
                    for lif in &w.lifs {
                        for p in lif.ports() {
                            if let Some(l) = n.links.get_mut(p) {
                                l.addresses.retain(|x| x.net != lif.address);
                            }
                        }
                        for r in n.routes.iter_mut() {
                            let through = r.via.is_some_and(|v| lif.address.contains(&v));
                            if through && r.dev.as_deref().is_some_and(|d| lif.ports().any(|p| p == d)) {
                                r.dev = None;
                            }
                        }
                    }
                }
                ServiceSetup::Dnsmasq(_) => {}
            }
        }
    }
    notes
}

/// Keep what interface `iface` has in `have` (IPv4 addresses and default
/// routes through it) in `want`.
fn leave_alone(want: &mut Node, have: &Node, iface: &str) {
    let Some(h) = have.links.get(iface) else {
        return;
    };
    if let Some(link) = want.links.get_mut(iface) {
        for a in h.addresses.iter().filter(|a| a.net.addr().is_ipv4()) {
            add_address(&mut link.addresses, a.net);
        }
    }
    for r in &have.routes {
        if r.dev.as_deref() == Some(iface) && r.via.is_some() && r.to.prefix_len() == 0 {
            let mut r = r.clone();
            r.metric = None;
            if !want.routes.contains(&r) {
                want.routes.push(r);
            }
        }
    }
}

fn add_address(list: &mut Vec<Address>, net: IpNet) {
    if !list.iter().any(|a| a.net == net) {
        list.push(Address {
            net,
            dad: false,
            secondary: false,
        });
    }
}

/// The default route a lease's router gives: `default via ROUTER dev IFACE`.
pub fn default_via(router: std::net::Ipv4Addr, iface: &str) -> Route {
    Route {
        to: IpNet::V4(Ipv4Net::default()),
        via: Some(router.into()),
        dev: Some(iface.to_string()),
        metric: None,
        table: None,
        src: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::service::{DhcpClientSetup, Lease};
    use crate::model::{Link, Service};

    fn client() -> ServiceSetup {
        ServiceSetup::DhcpClient(DhcpClientSetup {
            iface: "eth0".into(),
            hostname: "c1".into(),
            netns: "netloom-t.c1".into(),
        })
    }

    fn network(node: Node) -> Network {
        Network {
            name: "t".into(),
            nodes: [("c1".to_string(), node)].into(),
        }
    }

    #[test]
    fn a_held_lease_is_wanted_and_an_unleased_interface_is_left_alone() {
        let mut want = Node::default();
        want.links
            .insert("eth0".into(), Link::veth("eth0", "gw", "p1"));
        want.services
            .insert("dhcp-eth0".into(), Service::new(client()));
        let mut have = want.clone();
        have.links.get_mut("eth0").unwrap().addresses.push(Address {
            net: "10.0.3.150/24".parse().unwrap(),
            dad: false,
            secondary: false,
        });
        // Not running: what eth0 has stays.
        have.services.clear();
        let d = network(want.clone());
        let r = resolve(&d, &network(have.clone()));
        assert_eq!(r.nodes["c1"].links["eth0"].addresses.len(), 1);
        // Running with a lease: its address and default route are wanted.
        let mut s = Service::new(client());
        s.report = Some(ServiceReport::Lease(Some(Lease {
            address: "10.0.3.151/24".parse().unwrap(),
            router: Some("10.0.3.1".parse().unwrap()),
            dns: vec![],
            domain: None,
            server: "10.0.3.1".parse().unwrap(),
            lease_time: 120,
            granted: 0,
            expires: 0,
            renewals: 0,
        })));
        have.services.insert("dhcp-eth0".into(), s);
        let d = network(want);
        let r = resolve(&d, &network(have));
        let eth0 = &r.nodes["c1"].links["eth0"];
        assert_eq!(eth0.addresses.len(), 1);
        assert_eq!(eth0.addresses[0].net.to_string(), "10.0.3.151/24");
        assert_eq!(
            r.nodes["c1"].routes[0].to_string(),
            "default via 10.0.3.1 dev eth0"
        );
    }
}
