//! Shared helpers for the verify tests: hand-built namespaces, veths and
//! bridges (`ip` is used here only as an independent test tool, never by the
//! product) and the matching hand-written model.
#![allow(dead_code)] // each test crate uses a different subset

use std::fs::File;
use std::net::{TcpListener, UdpSocket};
use std::process::Command;

use netloom::model::{
    Address, BridgeOptions, Claim, Endpoint, Expectation, Link, LinkKind, Network, Node, Probe,
    Target, VethOptions,
};
use netloom::verify;

pub const TOPO: &str = "t";

/// Run an `ip` command line, failing the test if it fails.
pub fn ip(args: &str) {
    let out = Command::new("ip")
        .args(args.split_whitespace())
        .output()
        .expect("run ip");
    assert!(
        out.status.success(),
        "ip {args}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Output of an `ip` command line.
pub fn ip_out(args: &str) -> String {
    let out = Command::new("ip")
        .args(args.split_whitespace())
        .output()
        .expect("run ip");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn ns(node: &str) -> String {
    netloom::model::netns_name(TOPO, node).expect("not host")
}

pub fn add_ns(node: &str) {
    ip(&format!("netns add {}", ns(node)));
    ip(&format!("-n {} link set lo up", ns(node)));
}

/// A veth pair between two nodes, both ends up.
pub fn veth(a: &str, an: &str, b: &str, bn: &str) {
    ip(&format!(
        "-n {} link add {an} type veth peer name {bn} netns {}",
        ns(a),
        ns(b)
    ));
    ip(&format!("-n {} link set {an} up", ns(a)));
    ip(&format!("-n {} link set {bn} up", ns(b)));
}

pub fn addr(node: &str, dev: &str, cidr: &str) {
    let nodad = if cidr.contains(':') { " nodad" } else { "" };
    ip(&format!("-n {} addr add {cidr} dev {dev}{nodad}", ns(node)));
}

/// The model of a link with addresses.
pub fn link(name: &str, kind: LinkKind, master: Option<&str>, addrs: &[&str]) -> Link {
    let mut l = Link::new(name, kind);
    l.up = Some(true);
    l.master = master.map(str::to_owned);
    l.addresses = addrs
        .iter()
        .map(|a| Address {
            net: a.parse().expect("cidr"),
            dad: false,
            secondary: false,
        })
        .collect();
    l
}

pub fn veth_kind() -> LinkKind {
    LinkKind::Veth(VethOptions { peer: None })
}

pub fn node(links: Vec<Link>) -> Node {
    let mut n = Node::default();
    for l in links {
        n.links.insert(l.name.clone(), l);
    }
    n
}

pub fn expect(claim: Claim, from: &str, to: Target, probe: Probe, timeout_ms: u32) -> Expectation {
    Expectation {
        text: format!("{from} -> {to:?} {probe:?}"),
        claim,
        from: Endpoint {
            node: from.into(),
            iface: None,
        },
        to,
        probe,
        count: 2,
        timeout_ms,
    }
}

pub fn addr_target(s: &str) -> Target {
    Target::Addr(s.parse().expect("ip"))
}

/// Run `f` on a thread that has entered `node`'s namespace (for test servers).
pub fn in_node(node: &str, f: impl FnOnce() + Send + 'static) {
    let file = File::open(format!("/run/netns/{}", ns(node))).expect("netns file");
    // The server reports readiness itself (it binds, then signals), so just start it.
    std::thread::spawn(move || {
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        f();
    });
}

/// a --veth-- sw(br0) --veth-- b, one IPv4 and one IPv6 subnet; TCP and UDP servers on b.
pub fn lan() -> Network {
    for n in ["a", "b", "sw"] {
        add_ns(n);
    }
    ip(&format!(
        "-n {} link add br0 type bridge stp_state 0",
        ns("sw")
    ));
    ip(&format!("-n {} link set br0 up", ns("sw")));
    veth("a", "a0", "sw", "pa");
    veth("b", "b0", "sw", "pb");
    ip(&format!("-n {} link set pa master br0", ns("sw")));
    ip(&format!("-n {} link set pb master br0", ns("sw")));
    addr("a", "a0", "10.0.0.1/24");
    addr("a", "a0", "fd00::1/64");
    addr("b", "b0", "10.0.0.2/24");
    addr("b", "b0", "fd00::2/64");
    let (ltx, lrx) = std::sync::mpsc::channel();
    in_node("b", move || {
        let l = TcpListener::bind("10.0.0.2:8080").expect("tcp listen");
        ltx.send(()).expect("bound");
        for s in l.incoming() {
            drop(s);
        }
    });
    lrx.recv().expect("tcp bound");
    let (utx, urx) = std::sync::mpsc::channel();
    in_node("b", move || {
        let u = UdpSocket::bind("10.0.0.2:9000").expect("udp bind");
        utx.send(()).expect("bound");
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = u.recv_from(&mut buf) {
            let _ = u.send_to(&buf[..n], from);
        }
    });
    urx.recv().expect("udp bound");
    let mut net = Network {
        name: TOPO.into(),
        ..Network::default()
    };
    net.nodes.insert(
        "a".into(),
        node(vec![link(
            "a0",
            veth_kind(),
            None,
            &["10.0.0.1/24", "fd00::1/64"],
        )]),
    );
    net.nodes.insert(
        "b".into(),
        node(vec![link(
            "b0",
            veth_kind(),
            None,
            &["10.0.0.2/24", "fd00::2/64"],
        )]),
    );
    net.nodes.insert(
        "sw".into(),
        node(vec![
            link("br0", LinkKind::Bridge(BridgeOptions::default()), None, &[]),
            link("pa", veth_kind(), Some("br0"), &[]),
            link("pb", veth_kind(), Some("br0"), &[]),
        ]),
    );
    net
}

pub fn show(outcomes: &[verify::Outcome]) {
    println!("{}", verify::table(outcomes));
}

/// a has two links to r (a1, a2); r's loopback 10.9.0.1 is routed from a via
/// a1 (metric 10) and via a2 (metric 20).
pub fn two_paths() -> Network {
    add_ns("a");
    add_ns("r");
    veth("a", "a1", "r", "r1");
    veth("a", "a2", "r", "r2");
    addr("a", "a1", "10.1.1.1/24");
    addr("r", "r1", "10.1.1.2/24");
    addr("a", "a2", "10.1.2.1/24");
    addr("r", "r2", "10.1.2.2/24");
    addr("r", "lo", "10.9.0.1/32");
    ip(&format!(
        "-n {} route add 10.9.0.1/32 via 10.1.1.2 metric 10",
        ns("a")
    ));
    addr("a", "a1", "fd01::1/64");
    addr("r", "r1", "fd01::2/64");
    ip(&format!(
        "-n {} route add fd09::/64 via fd01::2 metric 10",
        ns("a")
    ));
    ip(&format!(
        "-n {} route add 10.9.0.1/32 via 10.1.2.2 metric 20",
        ns("a")
    ));
    let mut net = Network {
        name: TOPO.into(),
        ..Network::default()
    };
    net.nodes.insert(
        "a".into(),
        node(vec![
            link("a1", veth_kind(), None, &["10.1.1.1/24"]),
            link("a2", veth_kind(), None, &["10.1.2.1/24"]),
        ]),
    );
    net.nodes.insert(
        "r".into(),
        node(vec![
            link("r1", veth_kind(), None, &["10.1.1.2/24"]),
            link("r2", veth_kind(), None, &["10.1.2.2/24"]),
            link("lo", LinkKind::Loopback, None, &["10.9.0.1/32"]),
        ]),
    );
    net
}
