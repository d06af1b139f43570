//! The kernel-effects model against the kernel itself: random ops on a
//! small network, each run by netloom's kernel layer in a sandbox and by the
//! model kernel (netloom::effects::sim) on the network as observed before
//! it. After each op the two must agree on every link (state, MTU, master,
//! addresses with their secondary flag), every route and every static
//! forwarding entry, and on whether the op is refused at all. NETLOOM_EFFECTS_SEED replays one seed.
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use netloom::effects::sim;
use netloom::kernel::{apply, observe, Kernel};
use netloom::model::*;
use netloom::plan::{self, Owned};

/// A tiny deterministic generator (xorshift), so a seed replays a run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn a(s: &str) -> Address {
    Address {
        net: s.parse().unwrap(),
        dad: false,
        secondary: false,
    }
}

fn route(to: &str, via: &str, src: Option<&str>) -> Route {
    Route {
        to: to.parse().unwrap(),
        via: Some(via.parse().unwrap()),
        dev: None,
        metric: None,
        table: None,
        src: src.map(|s| s.parse().unwrap()),
    }
}

fn up(mut l: Link) -> Link {
    l.up = Some(true);
    l
}

/// Node `a` wired to node `b` by two veth pairs, one end of one a bridge
/// port; a macvlan and a vxlan over `a/v0`; addresses with a secondary
/// and IPv6; gateway routes, one preferring a source.
fn base() -> Network {
    let mut a_node = Node::default();
    let mut b_node = Node::default();
    let mut v0 = up(Link::veth("v0", "b", "v0"));
    v0.addresses = vec![a("10.1.0.1/24"), a("10.1.0.9/24"), a("fd00:1::1/64")];
    a_node.links.insert("v0".into(), v0);
    let mut mv = up(Link::new(
        "mv0",
        LinkKind::Macvlan(MacvlanOptions {
            lower: Some(IfRef {
                node: "a".into(),
                name: "v0".into(),
            }),
            mode: Some("bridge".into()),
            ..Default::default()
        }),
    ));
    mv.addresses = vec![a("10.2.0.1/24")];
    a_node.links.insert("mv0".into(), mv);
    a_node.links.insert(
        "vx0".into(),
        up(Link::new(
            "vx0",
            LinkKind::Vxlan(VxlanOptions {
                vni: 5,
                remote: Some("10.1.0.2".parse().unwrap()),
                dev: Some(IfRef {
                    node: "a".into(),
                    name: "v0".into(),
                }),
                dstport: Some(4789),
                ..Default::default()
            }),
        )),
    );
    let mut br = up(Link::new("br0", LinkKind::Bridge(Default::default())));
    br.addresses = vec![a("10.3.0.1/24")];
    a_node.links.insert("br0".into(), br);
    let mut p0 = up(Link::veth("p0", "b", "p1"));
    p0.master = Some("br0".into());
    a_node.links.insert("p0".into(), p0);
    // Static forwarding entries, on the bridge for its port and on the vxlan.
    let mac = |m: &str| m.parse::<MacAddr>().unwrap();
    a_node.fdb = vec![
        FdbEntry::bridge("br0", mac("02:00:00:00:00:09"), "p0", None),
        FdbEntry::vxlan("vx0", mac("02:00:00:00:00:0a"), "10.1.0.3".parse().unwrap()),
    ];
    a_node.routes = vec![
        route("172.16.0.0/16", "10.1.0.2", None),
        route("172.17.0.0/16", "10.1.0.2", Some("10.1.0.9")),
        route("0.0.0.0/0", "10.1.0.2", None),
    ];
    let mut bv0 = up(Link::veth("v0", "a", "v0"));
    bv0.addresses = vec![a("10.1.0.2/24")];
    b_node.links.insert("v0".into(), bv0);
    b_node
        .links
        .insert("p1".into(), up(Link::veth("p1", "a", "p0")));
    for n in [&mut a_node, &mut b_node] {
        n.links
            .insert("lo".into(), up(Link::new("lo", LinkKind::Loopback)));
    }
    Network {
        name: "t".into(),
        nodes: [("a".to_string(), a_node), ("b".to_string(), b_node)].into(),
    }
}

/// The drivers only the VM has, on top of [`base`]: a bond of two veth
/// ports, a vlan and an ipvlan over `a/v0`, a vrf holding a port.
fn base_vm() -> Network {
    let mut net = base();
    let a_node = net.nodes.get_mut("a").unwrap();
    let b_node_links: Vec<Link> = ["q0", "q1", "q2"]
        .iter()
        .map(|q| up(Link::veth(*q, "a", &q.replace('q', "e"))))
        .collect();
    let bond = up(Link::new(
        "bond0",
        LinkKind::Bond(BondOptions {
            mode: Some("active-backup".into()),
            miimon: Some(100),
            ..Default::default()
        }),
    ));
    a_node.links.insert("bond0".into(), bond);
    for e in ["e0", "e1"] {
        let mut l = up(Link::veth(e, "b", &e.replace('e', "q")));
        l.master = Some("bond0".into());
        a_node.links.insert(e.into(), l);
    }
    let lower = Some(IfRef {
        node: "a".into(),
        name: "v0".into(),
    });
    let mut vlan = up(Link::new(
        "v0.7",
        LinkKind::Vlan(VlanOptions {
            id: 7,
            lower: lower.clone(),
            ..Default::default()
        }),
    ));
    vlan.addresses = vec![a("10.7.0.1/24")];
    a_node.links.insert("v0.7".into(), vlan);
    // macvlan and ipvlan may not share a lower: the ipvlan sits on e2.
    let mut e2 = up(Link::veth("e2", "b", "q2"));
    e2.addresses = vec![a("10.9.0.1/24")];
    a_node.links.insert("e2".into(), e2);
    a_node.links.insert(
        "ipv0".into(),
        up(Link::new(
            "ipv0",
            LinkKind::Ipvlan(IpvlanOptions {
                lower: Some(IfRef {
                    node: "a".into(),
                    name: "e2".into(),
                }),
                mode: Some("l2".into()),
                ..Default::default()
            }),
        )),
    );
    a_node.links.insert(
        "red".into(),
        up(Link::new(
            "red",
            LinkKind::Vrf(netloom::model::vrf::VrfOptions { table: 10 }),
        )),
    );
    let mut p2 = a_node.links.remove("p0").unwrap();
    p2.master = Some("red".into());
    // No longer a bridge port: no bridge entry for it.
    a_node.fdb.retain(|e| e.port.as_deref() != Some("p0"));
    p2.addresses = vec![a("10.8.0.1/24"), a("fd00:8::1/64")];
    a_node.links.insert("p0".into(), p2);
    let b_node = net.nodes.get_mut("b").unwrap();
    for l in b_node_links {
        b_node.links.insert(l.name.clone(), l);
    }
    net
}

/// The network as netloom observes it (host left out: it is the sandbox's).
async fn observed(k: &Kernel) -> Network {
    let nodes = vec!["a".to_string(), "b".to_string()];
    let mut net = observe::network(k, &nodes, &BTreeMap::new())
        .await
        .expect("observe");
    net.name = "t".into();
    net
}

/// What both sides are compared on: per link its state, MTU, master and
/// addresses (with the secondary flag); the routes netloom manages (the
/// model shows the kernel's prefix routes as device routes; the observer
/// leaves them out).
fn shape(net: &Network) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (node, n) in &net.nodes {
        for (name, l) in &n.links {
            let mut addrs: Vec<String> = l
                .addresses
                .iter()
                .map(|x| format!("{}{}", x.net, if x.secondary { " secondary" } else { "" }))
                .collect();
            addrs.sort();
            out.insert(
                format!("{node}/{name}"),
                format!(
                    "up {:?} mtu {:?} master {:?} addrs {addrs:?}",
                    l.up, l.mtu, l.master
                ),
            );
        }
        let prefix = |r: &Route| {
            r.via.is_none()
                && r.dev
                    .as_ref()
                    .and_then(|d| n.links.get(d))
                    .is_some_and(|l| l.addresses.iter().any(|x| x.net.trunc() == r.to))
        };
        let mut routes: Vec<String> = n
            .routes
            .iter()
            .filter(|r| !prefix(r) && r.to.addr().is_ipv4())
            .map(|r| r.to_string())
            .collect();
        routes.sort();
        out.insert(format!("{node} routes"), format!("{routes:?}"));
        let fdb: Vec<String> = n.fdb.iter().map(ToString::to_string).collect();
        out.insert(format!("{node} fdb"), format!("{fdb:?}"));
    }
    out
}

/// One op with side effects, drawn from the network as it is.
fn draw(net: &Network, rng: &mut Rng) -> Option<Op> {
    let a_links: Vec<&Link> = net.nodes["a"]
        .links
        .values()
        .filter(|l| l.kind != LinkKind::Loopback)
        .collect();
    let l = *a_links.get(rng.below(a_links.len()))?;
    let set = |change: LinkChange| {
        Op::set_link(
            &IfRef {
                node: "a".into(),
                name: l.name.clone(),
            },
            change,
            LinkChange::default(),
        )
    };
    Some(match rng.below(6) {
        0 if !l.addresses.is_empty() => Op::DelAddress {
            node: "a".into(),
            link: l.name.clone(),
            addr: l.addresses[rng.below(l.addresses.len())],
        },
        1 => set(LinkChange::only_up(Some(l.up != Some(true)))),
        2 => set(LinkChange::only_mtu(Some([1300, 1400, 1500][rng.below(3)]))),
        3 if l.master.is_some() => set(LinkChange {
            master: Some(None),
            ..LinkChange::default()
        }),
        4 => Op::DelLink {
            node: "a".into(),
            name: l.name.clone(),
        },
        _ => set(LinkChange::only_up(Some(true))),
    })
}

/// Wait (bounded) for the kernel to show `want`; the last observation.
async fn settle(k: &Kernel, want: &BTreeMap<String, String>) -> Network {
    let end = Instant::now() + Duration::from_secs(2);
    loop {
        let seen = observed(k).await;
        if &shape(&seen) == want || Instant::now() > end {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_model_kernel_agrees_with_the_kernel() {
    netloom::sandboxed!("the_model_kernel_agrees_with_the_kernel");
    agree(base, 12).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kernel with bonding, 8021q, ipvlan and vrf: runs in the VM"]
async fn the_model_kernel_agrees_with_the_kernel_on_vm_drivers() {
    netloom::sandboxed!("the_model_kernel_agrees_with_the_kernel_on_vm_drivers");
    agree(base_vm, 4).await;
}

/// Random ops over `base`, from `runs` seeds (or NETLOOM_EFFECTS_SEED).
async fn agree(base: fn() -> Network, runs: u64) {
    let seeds: Vec<u64> = match std::env::var("NETLOOM_EFFECTS_SEED") {
        Ok(s) => vec![s.parse().expect("a number")],
        Err(_) => (1..=runs)
            .map(|i| 0x9e37_79b9_7f4a_7c15u64.wrapping_mul(i))
            .collect(),
    };
    let mut checked = 0;
    let mut disagreements = Vec::new();
    for seed in seeds {
        let k = Kernel::new("t", std::env::temp_dir().join("netloom-test-teamd")).unwrap();
        let desired = base();
        let empty = Network {
            name: "t".into(),
            nodes: BTreeMap::new(),
        };
        let p = plan::up(&desired, &empty, &Owned::default()).expect("a plan");
        for s in &p.steps {
            apply::run(&k, &s.op)
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", s.op));
        }
        let mut rng = Rng(seed | 1);
        let mut now = observed(&k).await;
        for _ in 0..12 {
            let Some(op) = draw(&now, &mut rng) else {
                break;
            };
            let mut predicted = now.clone();
            let model = sim::apply(&op, &mut predicted);
            let kernel = apply::run(&k, &op).await;
            checked += 1;
            match (&model, &kernel) {
                (Ok(_), Ok(())) => {
                    let want = shape(&predicted);
                    let seen = settle(&k, &want).await;
                    let got = shape(&seen);
                    if got != want {
                        let diff: BTreeSet<String> = want
                            .iter()
                            .filter(|(k, v)| got.get(*k) != Some(v))
                            .map(|(k, v)| format!("{k}: model {v} / kernel {:?}", got.get(k)))
                            .chain(
                                got.keys()
                                    .filter(|k| !want.contains_key(*k))
                                    .map(|k| format!("{k}: kernel has it, the model does not")),
                            )
                            .collect();
                        disagreements.push(format!(
                            "seed {seed} `{op}`:\n  {}",
                            diff.into_iter().collect::<Vec<_>>().join("\n  ")
                        ));
                    }
                    now = seen;
                }
                (Err(_), Err(_)) => now = observed(&k).await,
                (m, kr) => {
                    disagreements.push(format!(
                        "seed {seed} `{op}`: model {m:?}, kernel {kr:?}",
                        m = m.as_ref().map(drop),
                    ));
                    now = observed(&k).await;
                }
            }
        }
        for node in ["a", "b"] {
            apply::run(&k, &Op::DelNetns { node: node.into() })
                .await
                .unwrap();
        }
    }
    println!(
        "{checked} ops checked, {} disagreements",
        disagreements.len()
    );
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}
