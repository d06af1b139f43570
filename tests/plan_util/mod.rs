//! Test helpers for the planner: hand-built networks and a symbolic kernel
//! that applies plan ops to a `model::Network` and refuses impossible ones.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::net::IpAddr;

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

    fn mark(&self) -> String {
        owner_mark(&self.net.name)
    }

    fn node(&mut self, node: &str) -> Result<&mut Node, String> {
        self.net
            .nodes
            .get_mut(node)
            .ok_or(format!("no netns {node}"))
    }

    fn link(&mut self, node: &str, name: &str) -> Result<&mut Link, String> {
        self.node(node)?
            .links
            .get_mut(name)
            .ok_or(format!("no link {node}/{name}"))
    }

    /// Like the kernel: a vlan or macvlan may not outgrow its lower; when a
    /// lower's MTU changes, those shrink to fit and an ipvlan takes it.
    fn set_mtu(&mut self, node: &str, name: &str, mtu: u32) -> Result<(), String> {
        let kind = self.link(node, name)?.kind.clone();
        self.fits(&kind, mtu)?;
        self.link(node, name)?.mtu = Some(mtu);
        // A bond or team sets its ports to its own MTU.
        if matches!(kind, LinkKind::Bond(_) | LinkKind::Team(_)) {
            for l in self.node(node)?.links.values_mut() {
                if l.master.as_deref() == Some(name) {
                    l.mtu = Some(mtu);
                }
            }
        }
        let me = r(node, name);
        for l in self
            .net
            .nodes
            .values_mut()
            .flat_map(|n| n.links.values_mut())
        {
            if l.kind.lower() != Some(&me) {
                continue;
            }
            match l.kind {
                LinkKind::Vlan(_) | LinkKind::Macvlan(_) | LinkKind::Macvtap(_)
                    if l.mtu.unwrap_or(1500) > mtu =>
                {
                    l.mtu = Some(mtu)
                }
                LinkKind::Ipvlan(_) | LinkKind::Ipvtap(_) => l.mtu = Some(mtu),
                _ => {}
            }
        }
        Ok(())
    }

    /// EINVAL for a vlan or macvlan MTU larger than its lower's.
    fn fits(&mut self, kind: &LinkKind, mtu: u32) -> Result<(), String> {
        let strict = matches!(
            kind,
            LinkKind::Vlan(_) | LinkKind::Macvlan(_) | LinkKind::Macvtap(_)
        );
        if let (true, Some(lower)) = (strict, kind.lower()) {
            let below = self.link(&lower.node, &lower.name)?.mtu.unwrap_or(1500);
            if mtu > below {
                return Err(format!("mtu {mtu} larger than lower {lower} ({below})"));
            }
        }
        Ok(())
    }

    fn exists(&self, i: &IfRef) -> bool {
        self.net
            .nodes
            .get(&i.node)
            .is_some_and(|n| n.links.contains_key(&i.name))
    }

    fn insert(&mut self, node: &str, link: &Link) -> Result<(), String> {
        let mark = self.mark();
        let n = self.node(node)?;
        if n.links.contains_key(&link.name) {
            return Err(format!("{node}/{} exists", link.name));
        }
        let mut l = link.clone();
        l.alias = Some(mark);
        l.up = Some(false);
        l.mtu = l.mtu.or(Some(1500));
        n.links.insert(l.name.clone(), l);
        Ok(())
    }

    /// Remove a link and everything the kernel removes with it.
    fn remove(&mut self, i: &IfRef) {
        let Some(link) = self
            .net
            .nodes
            .get_mut(&i.node)
            .and_then(|n| n.links.remove(&i.name))
        else {
            return;
        };
        if let Some(n) = self.net.nodes.get_mut(&i.node) {
            n.sysctls
                .retain(|k, _| sysctl_interface(k).as_deref() != Some(i.name.as_str()));
            n.routes
                .retain(|r| r.dev.as_deref() != Some(i.name.as_str()));
            for l in n.links.values_mut() {
                if l.master.as_deref() == Some(i.name.as_str()) {
                    l.master = None;
                    l.port = None;
                    // A bond or a team closes the ports it releases.
                    if matches!(link.kind, LinkKind::Bond(_) | LinkKind::Team(_)) {
                        l.up = Some(false);
                    }
                }
            }
        }
        if let LinkKind::Veth(VethOptions { peer: Some(p) }) = &link.kind {
            self.remove(p);
        }
        let uppers: Vec<IfRef> = self
            .net
            .nodes
            .iter()
            .flat_map(|(n, node)| {
                node.links
                    .values()
                    .filter(|l| l.kind.lower() == Some(i))
                    .map(move |l| r(n, &l.name))
            })
            .collect();
        for u in uppers {
            self.remove(&u);
        }
    }

    /// Apply one op, refusing what the kernel would refuse.
    pub fn op(&mut self, op: &Op) -> Result<(), String> {
        match op {
            Op::AddNetns { node } => {
                if self.net.nodes.contains_key(node) {
                    return Err(format!("netns {node} exists"));
                }
                let mut n = Node::default();
                let mut lo = Link::new("lo", LinkKind::Loopback);
                lo.up = Some(false);
                n.links.insert("lo".into(), lo);
                self.net.nodes.insert(node.clone(), n);
                self.owned.namespaces.insert(node.clone());
            }
            Op::DelNetns { node } => {
                let n = self
                    .net
                    .nodes
                    .get(node)
                    .ok_or(format!("no netns {node}"))?
                    .clone();
                for name in n.links.keys() {
                    self.remove(&r(node, name));
                }
                self.net.nodes.remove(node);
                self.owned.namespaces.remove(node);
            }
            Op::SetSysctl {
                node, key, value, ..
            } => {
                if let Some(link) = sysctl_interface(key) {
                    self.link(node, &link)?;
                }
                let old = self.node(node)?.sysctls.insert(key.clone(), value.clone());
                if let Some(old) = old {
                    self.owned
                        .sysctls
                        .entry((node.clone(), key.clone()))
                        .or_insert(old);
                }
            }
            Op::AddLink { node, link, peer } => {
                if let Some(l) = link.kind.lower() {
                    if !self.exists(l) {
                        return Err(format!("lower {l} missing"));
                    }
                }
                if let Some(mtu) = link.mtu {
                    self.fits(&link.kind, mtu)?;
                }
                // A new team has no teamd yet: observe reports no runner.
                let mut link = link.clone();
                if let LinkKind::Team(_) = link.kind {
                    link.kind = LinkKind::Team(TeamOptions::default());
                }
                let link = &link;
                self.insert(node, link)?;
                if let LinkKind::Veth(VethOptions { peer: Some(p) }) = &link.kind {
                    let other = peer.as_ref().ok_or("veth without peer link")?;
                    if let Err(e) = self.insert(&p.node, other) {
                        self.net
                            .nodes
                            .get_mut(node)
                            .map(|n| n.links.remove(&link.name));
                        return Err(e);
                    }
                }
            }
            Op::DelLink { node, name } => {
                self.link(node, name)?;
                self.remove(&r(node, name));
            }
            Op::SetLink {
                node, name, change, ..
            } => {
                if let Some(mtu) = change.mtu {
                    self.set_mtu(node, name, mtu)?;
                }
                // Like the kernel: a bond refuses a port that is up, and
                // opens it once enslaved.
                let mut to_bond = false;
                if let Some(Some(m)) = &change.master {
                    to_bond = matches!(self.link(node, m)?.kind, LinkKind::Bond(_));
                }
                // A bond or a team closes a port it releases.
                let old = self.link(node, name)?.master.clone();
                let mut released = false;
                if let (Some(old), Some(new)) = (old, &change.master) {
                    let closes = matches!(
                        self.link(node, &old)?.kind,
                        LinkKind::Bond(_) | LinkKind::Team(_)
                    );
                    released = closes && new.as_deref() != Some(old.as_str());
                }
                let l = self.link(node, name)?;
                let was_up = l.up == Some(true);
                if released {
                    l.up = Some(false);
                }
                if to_bond && l.up == Some(true) {
                    return Err(format!(
                        "{node}/{name}: device can not be enslaved while up"
                    ));
                }
                if let Some(up) = change.up {
                    l.up = Some(up);
                }
                if to_bond {
                    l.up = Some(true);
                }
                if change.mac.is_some() {
                    l.mac = change.mac;
                }
                if let Some(m) = &change.master {
                    l.master = m.clone();
                    l.port = None;
                }
                if let Some(p) = &change.port {
                    if matches!(p, PortOptions::Team(_)) {
                        return Err(format!("team port options on {node}/{name} are teamd's"));
                    }
                    if l.master.is_none() {
                        return Err(format!("port options on {node}/{name} without master"));
                    }
                    l.port = Some(match &l.port {
                        Some(old) => merge(old, p),
                        None => p.clone(),
                    });
                }
                if let Some(k) = &change.kind {
                    l.kind = merge(&l.kind, k);
                }
                // Down takes the link's routes and IPv6 addresses along; up
                // brings back the prefix routes of its IPv4 addresses.
                let is_up = l.up == Some(true);
                let v4: Vec<Address> = l
                    .addresses
                    .iter()
                    .filter(|a| a.net.addr().is_ipv4())
                    .copied()
                    .collect();
                if was_up && !is_up {
                    l.addresses = v4;
                    let n = self.node(node)?;
                    n.routes.retain(|r| r.dev.as_deref() != Some(name.as_str()));
                } else if !was_up && is_up {
                    let n = self.node(node)?;
                    for a in v4 {
                        let prefix = route(&a.net.trunc().to_string(), None, Some(name), None);
                        if !n.routes.contains(&prefix) {
                            n.routes.push(prefix);
                        }
                    }
                }
            }
            Op::AddAddress { node, link, addr } => {
                let l = self.link(node, link)?;
                if l.addresses.iter().any(|x| x.net == addr.net) {
                    return Err(format!("address {} exists", addr.net));
                }
                l.addresses.push(*addr);
                // The kernel's prefix route for the new address.
                let prefix = route(&addr.net.trunc().to_string(), None, Some(link), None);
                self.node(node)?.routes.push(prefix);
            }
            Op::DelAddress { node, link, addr } => {
                let l = self.link(node, link)?;
                let before = l.addresses.len();
                l.addresses.retain(|x| x.net != addr.net);
                if before == l.addresses.len() {
                    return Err(format!("no address {}", addr.net));
                }
                let prefix = addr.net.trunc();
                self.node(node)?.routes.retain(|r| {
                    !(r.to == prefix && r.via.is_none() && r.dev.as_deref() == Some(link))
                });
            }
            Op::AddRoute { node, route: want } => {
                let n = self.node(node)?.clone();
                let mut have = want.clone();
                // The kernel resolves the device from the gateway, which needs an up link with an address in its subnet.
                // A gateway is on link through an up link's address or a
                // device route already added (in main or the route's table).
                let on_link = |dev: &str, via: IpAddr| {
                    n.links.get(dev).is_some_and(|l| {
                        l.up == Some(true) && l.addresses.iter().any(|x| x.net.contains(&via))
                    }) || n.routes.iter().any(|d| {
                        d.dev.as_deref() == Some(dev) && d.puts_on_link(via, want.table_id())
                    })
                };
                let dev = match (&want.dev, want.via) {
                    (Some(d), _) => d.clone(),
                    (None, Some(via)) => n
                        .links
                        .keys()
                        .find(|name| on_link(name, via))
                        .cloned()
                        .ok_or(format!("gateway {via} unreachable"))?,
                    (None, None) => return Err("route without dev or via".into()),
                };
                let l = n.links.get(&dev).ok_or(format!("no dev {dev}"))?;
                if l.up != Some(true) {
                    return Err(format!("dev {dev} is down"));
                }
                if let Some(via) = want.via {
                    let link_local = matches!(via, IpAddr::V6(v6) if v6.is_unicast_link_local());
                    if !link_local && !on_link(&dev, via) {
                        return Err(format!("gateway {via} not on {dev}"));
                    }
                }
                have.dev = Some(dev);
                if have.metric.is_none() && have.to.addr().is_ipv6() {
                    have.metric = Some(1024);
                }
                if n.routes
                    .iter()
                    .any(|x| x.to == have.to && x.table == have.table && x.metric == have.metric)
                {
                    return Err(format!("route to {} exists", have.to));
                }
                self.node(node)?.routes.push(have);
            }
            Op::DelRoute { node, route: want } => {
                let n = self.node(node)?;
                let before = n.routes.len();
                n.routes.retain(|x| x != want);
                if before == n.routes.len() {
                    return Err(format!("no route {want:?}"));
                }
            }
            Op::SetNat { node, rules } => {
                self.node(node)?.nat = rules.clone();
                self.owned.nat.insert(node.clone());
            }
            Op::DelNat { node } => {
                self.node(node)?.nat.clear();
                self.owned.nat.remove(node);
            }
            // The team driver refuses an up port, which teamd's apply step
            // sets down itself only for ports that exist: a port must exist.
            Op::StartTeamd {
                node, dev, setup, ..
            } => {
                self.link(node, dev)?.kind = LinkKind::Team(setup.options.clone());
                for (port, opts) in &setup.ports {
                    let l = self.link(node, port)?;
                    l.master = Some(dev.clone());
                    l.port = Some(PortOptions::Team(opts.clone()));
                    l.up = Some(true);
                }
            }
            Op::StopTeamd { node, dev, .. } => {
                self.link(node, dev)?.kind = LinkKind::Team(TeamOptions::default());
                for l in self.node(node)?.links.values_mut() {
                    if l.master.as_deref() == Some(dev.as_str()) {
                        l.master = None;
                        l.port = None;
                    }
                }
            }
        }
        Ok(())
    }
}

/// The interface a per-interface sysctl key names (`/` in the key is `.` in the name).
pub fn sysctl_interface(key: &str) -> Option<String> {
    let parts: Vec<&str> = key.split('.').collect();
    (parts.len() >= 5
        && parts[0] == "net"
        && (parts[2] == "conf" || parts[2] == "neigh")
        && parts[3] != "all"
        && parts[3] != "default")
        .then(|| parts[3].replace('/', "."))
}

/// Overwrite the set fields of `old` with those of `new` (same enum variant), via JSON.
pub fn merge<T: serde::Serialize + serde::de::DeserializeOwned + Clone>(old: &T, new: &T) -> T {
    fn walk(old: &mut serde_json::Value, new: &serde_json::Value) {
        match (old, new) {
            (serde_json::Value::Object(o), serde_json::Value::Object(n)) => {
                for (k, v) in n {
                    match o.get_mut(k) {
                        Some(slot) if v.is_object() => walk(slot, v),
                        Some(slot)
                            if !v.is_null() && v.as_array().is_none_or(|a| !a.is_empty()) =>
                        {
                            *slot = v.clone()
                        }
                        _ => {}
                    }
                }
            }
            (slot, v) => *slot = v.clone(),
        }
    }
    let mut o = serde_json::to_value(old).expect("serialize");
    let n = serde_json::to_value(new).expect("serialize");
    walk(&mut o, &n);
    serde_json::from_value(o).expect("deserialize merged")
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
