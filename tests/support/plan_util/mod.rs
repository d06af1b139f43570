//! Test helpers for the planner: hand-built networks, and netloom's model
//! kernel (`effects::sim`) applying plans in the most adversarial order.
#![allow(dead_code)]

use std::collections::BTreeSet;

use netloom::effects::sim;
use netloom::model::*;
use netloom::model::{Op, Plan};
use netloom::plan::Owned;

/// Interface reference shorthand.
pub fn r(node: &str, name: &str) -> IfRef {
    IfRef {
        node: node.into(),
        name: name.into(),
    }
}

/// An address without DAD.
pub fn a(s: &str) -> Address {
    Address {
        net: s.parse().expect("test address"),
        dad: false,
        secondary: false,
    }
}

/// A route.
pub fn route(to: &str, via: Option<&str>, dev: Option<&str>, metric: Option<u32>) -> Route {
    Route {
        to: to.parse().expect("test prefix"),
        via: via.map(|v| v.parse().expect("test gateway")),
        dev: dev.map(String::from),
        metric,
        table: None,
        src: None,
    }
}

/// A veth end.
pub fn veth(name: &str, peer: IfRef) -> Link {
    Link::veth(name, &peer.node, &peer.name)
}

/// The seed LXC topology: host bridge with a veth port, a container, NAT, forwarding.
pub fn lxc() -> Network {
    let mut host = Node::default();
    let mut br = Link::new(
        "lxcbr0",
        LinkKind::Bridge(BridgeOptions {
            stp: Some(false),
            ..Default::default()
        }),
    );
    br.up = Some(true);
    br.addresses = vec![a("10.0.3.1/24")];
    host.links.insert("lxcbr0".into(), br);
    let mut v0 = veth("veth0", r("c1", "eth0"));
    v0.up = Some(true);
    v0.master = Some("lxcbr0".into());
    host.links.insert("veth0".into(), v0);
    host.nat = vec![Masquerade {
        source: "10.0.3.0/24".parse().expect("prefix"),
        out: "uplink0".into(),
    }];
    host.sysctls
        .insert("net.ipv4.ip_forward".into(), "1".into());
    let mut c1 = Node::default();
    let mut e = veth("eth0", r("host", "veth0"));
    e.up = Some(true);
    e.addresses = vec![a("10.0.3.78/24")];
    c1.links.insert("eth0".into(), e);
    let mut lo = Link::new("lo", LinkKind::Loopback);
    lo.up = Some(true);
    c1.links.insert("lo".into(), lo);
    c1.routes
        .push(route("0.0.0.0/0", Some("10.0.3.1"), None, None));
    let mut net = Network {
        name: "lxc".into(),
        nodes: Default::default(),
    };
    net.nodes.insert("host".into(), host);
    net.nodes.insert("c1".into(), c1);
    net
}

/// What the kernel shows before anything: the host with its own lo and eth0.
pub fn bare_host(topo: &str) -> Network {
    let mut host = Node::default();
    let mut lo = Link::new("lo", LinkKind::Loopback);
    lo.up = Some(true);
    lo.addresses = vec![a("127.0.0.1/8")];
    host.links.insert("lo".into(), lo);
    let mut eth0 = Link::new("eth0", LinkKind::Other("virtio".into()));
    eth0.up = Some(true);
    eth0.addresses = vec![a("192.168.1.10/24")];
    host.links.insert("eth0".into(), eth0);
    host.routes
        .push(route("192.168.1.0/24", None, Some("eth0"), None));
    host.routes
        .push(route("0.0.0.0/0", Some("192.168.1.1"), Some("eth0"), None));
    host.sysctls
        .insert("net.ipv4.ip_forward".into(), "0".into());
    let mut net = Network {
        name: topo.into(),
        nodes: Default::default(),
    };
    net.nodes.insert("host".into(), host);
    net
}

/// A symbolic kernel: the observed network plus what netloom owns.
#[derive(Debug, Clone)]
pub struct Kernel {
    pub net: Network,
    pub owned: Owned,
}

impl Kernel {
    /// A kernel showing `net`, owning nothing yet.
    pub fn new(net: Network) -> Self {
        Kernel {
            net,
            owned: Owned::default(),
        }
    }

    /// Apply every step, in the most adversarial order `after` allows: always
    /// the ready step with the highest index. Panics naming the failing op.
    pub fn apply(&mut self, plan: &Plan) {
        let mut done = vec![false; plan.steps.len()];
        for _ in 0..plan.steps.len() {
            let next = (0..plan.steps.len())
                .rev()
                .find(|&i| !done[i] && plan.steps[i].after.iter().all(|&d| done[d]))
                .expect("a ready step (no cycle)");
            if let Err(e) = self.op(&plan.steps[next].op) {
                panic!(
                    "step {next} `{}` failed: {e}\nplan:\n{plan}",
                    plan.steps[next].op
                );
            }
            done[next] = true;
            if std::env::var_os("PLAN_TRACE").is_some() {
                eprintln!(
                    "ran {next} `{}`; host routes {:?}",
                    plan.steps[next].op,
                    self.net.nodes.get("host").map(|h| h
                        .routes
                        .iter()
                        .map(|r| r.to.to_string())
                        .collect::<Vec<_>>())
                );
            }
        }
    }

    /// Apply one op through the model kernel (netloom::effects::sim),
    /// keeping netloom's records of what it owns as `up` would.
    pub fn op(&mut self, op: &Op) -> Result<(), String> {
        if let Op::SetSysctl { node, key, .. } = op {
            if let Some(old) = self.net.nodes.get(node).and_then(|n| n.sysctls.get(key)) {
                self.owned
                    .sysctls
                    .entry((node.clone(), key.clone()))
                    .or_insert(old.clone());
            }
        }
        sim::apply(op, &mut self.net).map_err(|e| e.to_string())?;
        match op {
            Op::AddNetns { node } => {
                self.owned.namespaces.insert(node.clone());
            }
            Op::DelNetns { node } => {
                self.owned.namespaces.remove(node);
            }
            Op::SetNat { node, .. } => {
                self.owned.nat.insert(node.clone());
            }
            Op::DelNat { node } => {
                self.owned.nat.remove(node);
            }
            _ => {}
        }
        Ok(())
    }
}

/// Check the structural invariants every plan must keep.
pub fn check_shape(plan: &Plan) {
    let mut created = BTreeSet::new();
    for (i, s) in plan.steps.iter().enumerate() {
        assert!(
            s.after.iter().all(|&d| d < i),
            "step {i} depends on a later step: {plan}"
        );
        let key = match &s.op {
            Op::AddNetns { node } => Some(format!("netns {node}")),
            Op::AddLink { node, link, .. } => Some(format!("link {node}/{}", link.name)),
            Op::AddAddress { node, link, addr } => Some(format!("addr {node}/{link} {}", addr.net)),
            Op::AddRoute { node, route } => Some(format!("route {node} {route:?}")),
            _ => None,
        };
        if let Some(k) = key {
            assert!(created.insert(k.clone()), "{k} created twice: {plan}");
        }
        if let Op::AddLink {
            link,
            peer: Some(p),
            ..
        } = &s.op
        {
            if let LinkKind::Veth(VethOptions { peer: Some(pr) }) = &link.kind {
                assert!(
                    created.insert(format!("link {pr}")),
                    "veth end {pr} created twice: {plan}"
                );
                assert_eq!(pr.name, p.name);
            }
        }
    }
}

/// Index of the first step whose display line equals `line`.
pub fn find(plan: &Plan, line: &str) -> usize {
    plan.steps
        .iter()
        .position(|s| s.op.to_string() == line)
        .unwrap_or_else(|| panic!("no step `{line}` in plan:\n{plan}"))
}

/// True when step `later` transitively depends on step `earlier`.
pub fn depends(plan: &Plan, later: usize, earlier: usize) -> bool {
    let mut stack = vec![later];
    let mut seen = BTreeSet::new();
    while let Some(i) = stack.pop() {
        for &d in &plan.steps[i].after {
            if d == earlier {
                return true;
            }
            if seen.insert(d) {
                stack.push(d);
            }
        }
    }
    false
}
