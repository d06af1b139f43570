//! Services (see [`crate::model::service`]): a desired service that does
//! not run, or runs with another setup, gets a (re)start; one that runs but
//! is no longer desired (or whose node goes) gets a stop. Stops come first
//! in a plan, DHCP clients before the dnsmasq they lease from, so a client
//! releases its lease to a server still there. Starts wait for their
//! interfaces to be up (and dnsmasq for its address); DHCP clients wait for
//! every dnsmasq this plan starts.
use super::effect::{iref, Ctx};
use super::graph::{Key, Pending, Phase};
use super::status::{FieldDiff, ObjectStatus, SyncState};
use crate::model::service::ServiceReport;
use crate::model::{Network, Op, Service, ServiceSetup};

/// The key every dnsmasq start gives and every DHCP client start needs.
fn served() -> Key {
    Key::Service(String::new(), "dnsmasq".into())
}

/// StopService for services not wanted, StartService for those not running
/// as wanted.
pub(crate) fn plan(ctx: &Ctx, out: &mut Vec<Pending>) {
    let mut stopping: Vec<(&str, &str, &Service)> = Vec::new();
    for (node, have) in &ctx.observed.nodes {
        if !ctx.managed(node) && !ctx.del_nodes.contains(node) {
            continue;
        }
        for (name, s) in &have.services {
            let kept = !ctx.del_nodes.contains(node) && ctx.want(node).services.contains_key(name);
            if !kept {
                stopping.push((node, name, s));
            }
        }
    }
    // Clients first: a server's stop waits for every client's.
    stopping.sort_by_key(|(_, _, s)| matches!(s.setup, ServiceSetup::Dnsmasq(_)));
    let clients: Vec<Key> = stopping
        .iter()
        .filter(|(_, _, s)| !matches!(s.setup, ServiceSetup::Dnsmasq(_)))
        .map(|(n, name, _)| Key::ServiceGone(n.to_string(), name.to_string()))
        .collect();
    for (node, name, s) in stopping {
        let needs = match s.setup {
            ServiceSetup::Dnsmasq(_) => clients.clone(),
            _ => vec![],
        };
        let op = Op::StopService {
            node: node.to_string(),
            name: name.to_string(),
            prior: Some(s.setup.clone()),
        };
        let gives = vec![
            Key::ServiceGone(node.to_string(), name.to_string()),
            Key::Touched(node.to_string()),
        ];
        out.push(Pending::new(Phase::StopService, op, needs, gives));
    }
    // Servers first: the graph links a need only to ops pushed before it.
    let mut starts: Vec<(String, &String, &Service)> = Vec::new();
    for node in ctx.kept_nodes() {
        for (name, w) in &ctx.want(&node).services {
            starts.push((node.clone(), name, w));
        }
    }
    starts.sort_by_key(|(_, _, w)| !matches!(w.setup, ServiceSetup::Dnsmasq(_)));
    for (node, name, w) in starts {
        let have = ctx.observed.nodes.get(&node);
        {
            let running = have.and_then(|h| h.services.get(name));
            if running.is_some_and(|r| r.setup == w.setup) {
                continue;
            }
            let mut needs = vec![Key::Netns(node.clone())];
            for iface in w.setup.interfaces() {
                let me = iref(&node, iface);
                needs.extend([Key::Link(me.clone()), Key::Config(me.clone()), Key::Up(me)]);
            }
            let mut gives = vec![Key::Service(node.clone(), name.clone())];
            match &w.setup {
                ServiceSetup::Dnsmasq(d) => {
                    needs.push(Key::Addr(iref(&node, &d.iface), d.address.into()));
                    gives.push(served());
                    // A restart stops the server first: clients stopping
                    // in this plan release their leases to it before
                    // (else a release sent meanwhile is lost and the
                    // lease stays in its file until it expires).
                    if running.is_some() {
                        needs.extend(clients.iter().cloned());
                    }
                }
                ServiceSetup::DhcpClient(_) => needs.push(served()),
                ServiceSetup::LifWatch(_) => {}
            }
            let op = Op::StartService {
                node: node.clone(),
                name: name.clone(),
                setup: w.setup.clone(),
                prior: running.map(|r| r.setup.clone()),
            };
            out.push(Pending::new(Phase::Service, op, needs, gives));
        }
    }
}

/// One status line per desired service, and one per service running in a
/// managed node that the file no longer wants.
pub(crate) fn status(ctx: &Ctx, out: &mut Vec<ObjectStatus>) {
    let diff = |field: &str, want: String, have: String| SyncState::Drifted {
        fields: vec![FieldDiff {
            field: field.to_string(),
            want,
            have,
        }],
    };
    for (node, want) in &ctx.desired.nodes {
        let have = ctx.observed.nodes.get(node);
        for (name, w) in &want.services {
            let state = match have.and_then(|h| h.services.get(name)) {
                None => SyncState::Missing,
                Some(h) if h.setup != w.setup => diff("setup", w.setup.serves(), h.setup.serves()),
                Some(h) => match (&h.setup, &h.report) {
                    (ServiceSetup::DhcpClient(_), Some(ServiceReport::Lease(None)) | None) => {
                        diff("lease", "held".into(), "none".into())
                    }
                    _ => SyncState::InSync,
                },
            };
            out.push(ObjectStatus {
                object: format!("{node} service {name}"),
                state,
            });
        }
    }
    for node in ctx.kept_nodes() {
        let Some(have) = ctx.observed.nodes.get(&node) else {
            continue;
        };
        for name in have.services.keys() {
            if !ctx.want(&node).services.contains_key(name) {
                out.push(ObjectStatus {
                    object: format!("{node} service {name}"),
                    state: SyncState::Orphaned,
                });
            }
        }
    }
}

/// Whether `network` runs or wants any service (plans of networks without
/// any need not look at them).
pub fn any(network: &Network) -> bool {
    network.nodes.values().any(|n| !n.services.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::service::{DhcpClientSetup, DnsmasqSetup};
    use crate::model::{Address, Link, LinkKind, Node};
    use crate::plan::Owned;

    /// The index of the step of `plan` whose words hold `words`.
    fn at(plan: &crate::model::Plan, words: &str) -> usize {
        plan.steps
            .iter()
            .position(|s| s.op.to_string().contains(words))
            .unwrap_or_else(|| panic!("no step `{words}` in {plan}"))
    }

    fn dnsmasq() -> ServiceSetup {
        ServiceSetup::Dnsmasq(DnsmasqSetup {
            iface: "br0".into(),
            address: "10.0.3.1/24".parse().unwrap(),
            range: ("10.0.3.100".parse().unwrap(), "10.0.3.200".parse().unwrap()),
            lease_time: 3600,
            renew_time: None,
            rebind_time: None,
            hosts: Default::default(),
            domain: "t".into(),
            records: Default::default(),
        })
    }

    fn client() -> ServiceSetup {
        ServiceSetup::DhcpClient(DhcpClientSetup {
            iface: "eth0".into(),
            hostname: "c1".into(),
            netns: "netloom-t.c1".into(),
        })
    }

    /// gw with br0 (10.0.3.1/24) serving DHCP, c1 leasing on eth0; with
    /// `running`, both services run as wanted.
    fn network(running: bool) -> Network {
        let mut gw = Node::default();
        let mut br = Link::new("br0", LinkKind::Bridge(Default::default()));
        br.up = Some(true);
        br.addresses.push(Address {
            net: "10.0.3.1/24".parse().unwrap(),
            dad: false,
            secondary: false,
        });
        gw.links.insert("br0".into(), br);
        let mut c1 = Node::default();
        let mut eth0 = Link::new("eth0", LinkKind::Dummy(Default::default()));
        eth0.up = Some(true);
        c1.links.insert("eth0".into(), eth0);
        for (node, setup) in [(&mut gw, dnsmasq()), (&mut c1, client())] {
            let mut s = Service::new(setup);
            if running {
                s.pid = Some(7);
            }
            node.services.insert(s.setup.name(), s);
        }
        Network {
            name: "t".into(),
            nodes: [("gw".to_string(), gw), ("c1".to_string(), c1)].into(),
        }
    }

    fn owned() -> Owned {
        let mut o = Owned::default();
        o.namespaces.extend(["gw".to_string(), "c1".to_string()]);
        o
    }

    #[test]
    fn clients_start_after_the_server_and_stop_before_it() {
        let want = network(true);
        let mut have = network(false);
        for n in have.nodes.values_mut() {
            n.services.clear();
        }
        let plan = crate::plan::up(&want, &have, &owned()).unwrap();
        let lines: Vec<String> = plan.steps.iter().map(|s| s.op.to_string()).collect();
        let server = at(&plan, "start dnsmasq-br0");
        let client = at(&plan, "start dhcp-eth0");
        assert!(plan.steps[client].after.contains(&server), "{plan}");
        assert_eq!(lines.len(), 2, "{plan}");
        // Running as wanted: nothing to do.
        assert!(crate::plan::up(&want, &want, &owned())
            .unwrap()
            .steps
            .is_empty());
        // Down: the client's stop first, the server's after it.
        let plan = crate::plan::down(&want, &owned());
        let server = at(&plan, "stop dnsmasq-br0");
        let client = at(&plan, "stop dhcp-eth0");
        assert!(plan.steps[server].after.contains(&client), "{plan}");
    }

    #[test]
    fn a_server_restarts_after_the_clients_that_stop_have_released() {
        // c1 no longer leases, and the server's setup changes with it (its
        // DNS records do): the client's stop, which releases, comes first.
        let have = network(true);
        let mut want = network(true);
        want.nodes.get_mut("c1").unwrap().services.clear();
        if let Some(s) = want
            .nodes
            .get_mut("gw")
            .unwrap()
            .services
            .get_mut("dnsmasq-br0")
        {
            if let ServiceSetup::Dnsmasq(d) = &mut s.setup {
                d.records.insert("c1".into(), "10.0.3.60".parse().unwrap());
            }
        }
        let plan = crate::plan::up(&want, &have, &owned()).unwrap();
        let server = at(&plan, "restart dnsmasq-br0");
        let client = at(&plan, "stop dhcp-eth0");
        assert!(plan.steps[server].after.contains(&client), "{plan}");
    }

    #[test]
    fn a_changed_setup_restarts_and_status_names_it() {
        let want = network(true);
        let mut have = network(true);
        if let Some(s) = have
            .nodes
            .get_mut("gw")
            .unwrap()
            .services
            .get_mut("dnsmasq-br0")
        {
            if let ServiceSetup::Dnsmasq(d) = &mut s.setup {
                d.lease_time = 120;
            }
        }
        let plan = crate::plan::up(&want, &have, &owned()).unwrap();
        assert_eq!(plan.steps.len(), 1, "{plan}");
        assert!(plan.steps[0].op.to_string().contains("restart dnsmasq-br0"));
        let st = crate::plan::status(&want, &have, &owned());
        let svc = st
            .iter()
            .find(|o| o.object == "gw service dnsmasq-br0")
            .unwrap();
        assert!(matches!(&svc.state, SyncState::Drifted { fields } if fields[0].field == "setup"));
        // A client without a lease has drifted.
        let c = st
            .iter()
            .find(|o| o.object == "c1 service dhcp-eth0")
            .unwrap();
        assert!(matches!(&c.state, SyncState::Drifted { fields } if fields[0].field == "lease"));
    }
}
