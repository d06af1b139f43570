//! verify by traffic, end to end in a sandbox: namespaces, veths and a bridge
//! are built by hand (`ip` is used here only as an independent test tool), the
//! model is written by hand, and `verify::run` must judge claims correctly and
//! explain the failures.
use std::fs::File;
use std::net::{IpAddr, TcpListener, UdpSocket};
use std::process::Command;
use std::time::Duration;

use netloom::model::{
    Address, BridgeOptions, Claim, Endpoint, Expectation, IfRef, Link, LinkKind, Network, Node,
    Probe, Target, VethOptions,
};
use netloom::verify;

const TOPO: &str = "t";

/// Run an `ip` command line, failing the test if it fails.
fn ip(args: &str) {
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
fn ip_out(args: &str) -> String {
    let out = Command::new("ip")
        .args(args.split_whitespace())
        .output()
        .expect("run ip");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ns(node: &str) -> String {
    netloom::model::netns_name(TOPO, node).expect("not host")
}

fn add_ns(node: &str) {
    ip(&format!("netns add {}", ns(node)));
    ip(&format!("-n {} link set lo up", ns(node)));
}

/// A veth pair between two nodes, both ends up.
fn veth(a: &str, an: &str, b: &str, bn: &str) {
    ip(&format!(
        "-n {} link add {an} type veth peer name {bn} netns {}",
        ns(a),
        ns(b)
    ));
    ip(&format!("-n {} link set {an} up", ns(a)));
    ip(&format!("-n {} link set {bn} up", ns(b)));
}

fn addr(node: &str, dev: &str, cidr: &str) {
    let nodad = if cidr.contains(':') { " nodad" } else { "" };
    ip(&format!("-n {} addr add {cidr} dev {dev}{nodad}", ns(node)));
}

/// The model of a link with addresses.
fn link(name: &str, kind: LinkKind, master: Option<&str>, addrs: &[&str]) -> Link {
    let mut l = Link::new(name, kind);
    l.up = Some(true);
    l.master = master.map(str::to_owned);
    l.addresses = addrs
        .iter()
        .map(|a| Address {
            net: a.parse().expect("cidr"),
            dad: false,
        })
        .collect();
    l
}

fn veth_kind() -> LinkKind {
    LinkKind::Veth(VethOptions { peer: None })
}

fn node(links: Vec<Link>) -> Node {
    let mut n = Node::default();
    for l in links {
        n.links.insert(l.name.clone(), l);
    }
    n
}

fn expect(claim: Claim, from: &str, to: Target, probe: Probe, timeout_ms: u32) -> Expectation {
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

fn addr_target(s: &str) -> Target {
    Target::Addr(s.parse().expect("ip"))
}

/// Run `f` on a thread that has entered `node`'s namespace (for test servers).
fn in_node(node: &str, f: impl FnOnce() + Send + 'static) {
    let file = File::open(format!("/run/netns/{}", ns(node))).expect("netns file");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        f_wrap(f, tx);
    });
    rx.recv().expect("server started");
}

fn f_wrap(f: impl FnOnce(), tx: std::sync::mpsc::Sender<()>) {
    // Tell the caller the thread is in place; servers bind before blocking.
    tx.send(()).expect("signal");
    f();
}

/// a --veth-- sw(br0) --veth-- b, one IPv4 and one IPv6 subnet; TCP and UDP servers on b.
fn lan() -> Network {
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

fn show(outcomes: &[verify::Outcome]) {
    println!("{}", verify::table(outcomes));
}

#[test]
fn reach_and_isolation_hold_on_a_bridged_lan() {
    netloom::sandboxed!("reach_and_isolation_hold_on_a_bridged_lan");
    let net = lan();
    let exps = vec![
        expect(
            Claim::Reach,
            "a",
            addr_target("10.0.0.2"),
            Probe::Icmp,
            1000,
        ),
        expect(Claim::Reach, "a", addr_target("fd00::2"), Probe::Icmp, 1000),
        expect(
            Claim::Reach,
            "a",
            Target::Node("b".into()),
            Probe::Arp,
            1000,
        ),
        expect(
            Claim::Reach,
            "a",
            addr_target("10.0.0.2"),
            Probe::Tcp(8080),
            1000,
        ),
        expect(
            Claim::Reach,
            "a",
            addr_target("10.0.0.2"),
            Probe::Tcp(8081),
            1000,
        ),
        expect(
            Claim::Reach,
            "a",
            addr_target("10.0.0.2"),
            Probe::Udp(9000),
            1000,
        ),
        expect(
            Claim::Reach,
            "a",
            addr_target("10.0.0.2"),
            Probe::Udp(9001),
            1000,
        ),
        expect(
            Claim::Isolated,
            "a",
            addr_target("10.9.9.9"),
            Probe::Icmp,
            300,
        ),
        expect(
            Claim::Isolated,
            "a",
            addr_target("10.0.0.77"),
            Probe::Icmp,
            300,
        ),
        expect(
            Claim::Reach,
            "a",
            Target::Iface(IfRef {
                node: "b".into(),
                name: "b0".into(),
            }),
            Probe::Icmp,
            1000,
        ),
    ];
    if let Err(e) = verify::wait_ready(&net, &exps, Duration::ZERO) {
        println!("at once: {e}");
    }
    let took = verify::wait_ready(&net, &exps, Duration::from_secs(5)).expect("ready");
    println!("ready after {took:?}");
    // Probes bound to an interface (SO_BINDTODEVICE) leave by it.
    let mut bound = expect(
        Claim::Reach,
        "a",
        addr_target("fd00::2"),
        Probe::Tcp(8080),
        500,
    );
    bound.from.iface = Some("a0".into());
    let mut wrong = bound.clone();
    wrong.from.iface = Some("nope0".into());
    let extra = verify::run(&net, &[bound, wrong]);
    show(&extra);
    // Nothing listens on fd00::2:8080 (the listener is IPv4): the RST proves reach.
    assert!(
        extra[0].ok && extra[0].reason.contains("RST"),
        "{}",
        extra[0].reason
    );
    assert_eq!(extra[0].from_iface.as_deref(), Some("a0"));
    assert!(
        !extra[1].ok && extra[1].reason.contains("no interface nope0"),
        "{}",
        extra[1].reason
    );
    let out = verify::run(&net, &exps);
    show(&out);
    for o in &out {
        assert!(o.ok, "{}: {}", o.text, o.reason);
    }
    // Many probes at once (more than the thread bound), answers in input order.
    let many: Vec<Expectation> = (0..100)
        .map(|i| {
            let to = if i % 2 == 0 { "10.0.0.2" } else { "fd00::2" };
            expect(Claim::Reach, "a", addr_target(to), Probe::Icmp, 1000)
        })
        .collect();
    let out_many = verify::run(&net, &many);
    for (i, o) in out_many.iter().enumerate() {
        assert!(o.ok, "{i}: {}", o.reason);
        assert_eq!(
            o.to_addr,
            Some(many[i].to.clone()).and_then(|t| match t {
                Target::Addr(a) => Some(a),
                _ => None,
            })
        );
    }
    // Source and destination interfaces are named.
    assert_eq!(out[0].from_iface.as_deref(), Some("a0"));
    assert_eq!(out[0].to_iface.as_deref(), Some("b/b0"));
    assert!(out[0].rtt_ms.is_some_and(|r| r > 0.0));
    // ARP learnt b0's real MAC.
    let b0 = ip_out(&format!("-n {} link show b0", ns("b")));
    let mac = out[2]
        .reason
        .split_whitespace()
        .find(|w| w.matches(':').count() == 5)
        .map(|m| m.trim_end_matches(','))
        .expect("MAC in ARP reason");
    assert!(b0.contains(mac), "ARP said {mac}, kernel says {b0}");
    assert_eq!(
        out[2].to_addr,
        Some("10.0.0.2".parse::<IpAddr>().expect("ip"))
    );
    assert!(out[3].reason.contains("SYN-ACK"), "{}", out[3].reason);
    assert!(out[4].reason.contains("RST"), "{}", out[4].reason);
    assert!(out[5].reason.contains("reply"), "{}", out[5].reason);
    assert!(
        out[6].reason.contains("port 9001 unreachable"),
        "{}",
        out[6].reason
    );
    assert!(
        out[7].reason.contains("no route to 10.9.9.9"),
        "{}",
        out[7].reason
    );
    assert!(
        out[8].reason.contains("ARP for 10.0.0.77 on a0 unanswered"),
        "{}",
        out[8].reason
    );
}

#[test]
fn reach_claims_fail_with_the_right_reason() {
    netloom::sandboxed!("reach_claims_fail_with_the_right_reason");
    let net = lan();
    let reach = |to: &str, probe| expect(Claim::Reach, "a", addr_target(to), probe, 400);
    // Unused address on the subnet: nobody answers ARP.
    let out = verify::run(
        &net,
        &[
            reach("10.0.0.77", Probe::Icmp),
            reach("10.0.0.77", Probe::Arp),
        ],
    );
    show(&out);
    assert!(
        !out[0].ok && out[0].reason.contains("ARP for 10.0.0.77 on a0 unanswered"),
        "{}",
        out[0].reason
    );
    assert!(
        !out[1].ok && out[1].reason.contains("no ARP reply from 10.0.0.77"),
        "{}",
        out[1].reason
    );
    // IPv6: the neighbour solicitation goes unanswered.
    let out = verify::run(&net, &[reach("fd00::77", Probe::Icmp)]);
    assert!(
        !out[0].ok
            && out[0]
                .reason
                .contains("neighbour solicitation for fd00::77 on a0 unanswered"),
        "{}",
        out[0].reason
    );
    // A source node without a namespace is reported, not probed.
    let out = verify::run(
        &net,
        &[expect(
            Claim::Reach,
            "ghost",
            addr_target("10.0.0.2"),
            Probe::Icmp,
            100,
        )],
    );
    assert!(
        !out[0].ok
            && out[0]
                .reason
                .contains("node ghost: cannot open namespace /run/netns/netloom-t-ghost"),
        "{}",
        out[0].reason
    );
    // An isolation claim that is false.
    let out = verify::run(
        &net,
        &[expect(
            Claim::Isolated,
            "a",
            addr_target("10.0.0.2"),
            Probe::Icmp,
            400,
        )],
    );
    assert!(
        !out[0].ok && out[0].reason.contains("answered"),
        "{}",
        out[0].reason
    );

    // Peer address removed: the ARP for it goes unanswered.
    ip(&format!("-n {} addr del 10.0.0.2/24 dev b0", ns("b")));
    let out = verify::run(
        &net,
        &[
            reach("10.0.0.2", Probe::Icmp),
            reach("10.0.0.2", Probe::Tcp(8080)),
        ],
    );
    show(&out);
    for o in &out {
        // The MAC may still be cached (the kernel then re-probes it by unicast),
        // so the reason is a silent peer or an unanswered ARP; never a pass.
        assert!(!o.ok, "{}", o.reason);
        assert!(
            o.reason.contains("ARP for 10.0.0.2 on a0")
                || o.reason.contains("no echo reply within 400ms")
                || o.reason.contains("no SYN-ACK or RST from 10.0.0.2:8080"),
            "{}",
            o.reason
        );
    }
    // Once the cache is gone, the reason is the unanswered ARP.
    ip(&format!("-n {} neigh flush dev a0", ns("a")));
    let out = verify::run(&net, &[reach("10.0.0.2", Probe::Icmp)]);
    assert!(
        !out[0].ok && out[0].reason.contains("ARP for 10.0.0.2 on a0 unanswered"),
        "{}",
        out[0].reason
    );
    ip(&format!("-n {} addr add 10.0.0.2/24 dev b0", ns("b")));

    // Bridge port down: b is cut off, a's side still has a route.
    ip(&format!("-n {} link set pb down", ns("sw")));
    let out = verify::run(&net, &[reach("fd00::2", Probe::Icmp)]);
    show(&out);
    assert!(!out[0].ok, "{}", out[0].reason);
    assert!(
        out[0].reason.contains("unanswered") || out[0].reason.contains("no echo reply"),
        "{}",
        out[0].reason
    );
    ip(&format!("-n {} link set pb up", ns("sw")));

    // Route removed: no route, reported at once.
    ip(&format!("-n {} route del 10.0.0.0/24 dev a0", ns("a")));
    let started = std::time::Instant::now();
    let out = verify::run(
        &net,
        &[
            reach("10.0.0.2", Probe::Icmp),
            reach("10.0.0.2", Probe::Udp(9000)),
        ],
    );
    show(&out);
    for o in &out {
        assert!(
            !o.ok && o.reason.contains("no route to 10.0.0.2"),
            "{}",
            o.reason
        );
    }
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "no-route must fail fast"
    );

    // Source link down.
    ip(&format!("-n {} link set a0 down", ns("a")));
    let out = verify::run(&net, &[reach("fd00::2", Probe::Icmp)]);
    assert!(
        !out[0].ok && out[0].reason.contains("no route to fd00::2"),
        "{}",
        out[0].reason
    );
}

/// a has two links to r (a1, a2); r's loopback 10.9.0.1 is routed from a via
/// a1 (metric 10) and via a2 (metric 20).
fn two_paths() -> Network {
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

#[test]
fn failover_holds_only_with_a_second_path_and_restores_the_cut() {
    netloom::sandboxed!("failover_holds_only_with_a_second_path_and_restores_the_cut");
    let net = two_paths();
    let cut = IfRef {
        node: "a".into(),
        name: "a1".into(),
    };
    let failover = |to: &str| {
        expect(
            Claim::Failover {
                cut: cut.clone(),
                within_ms: 1500,
            },
            "a",
            addr_target(to),
            Probe::Icmp,
            300,
        )
    };
    let routes_before = ip_out(&format!("-n {} route show", ns("a")));
    let routes6_before = ip_out(&format!("-n {} -6 route show", ns("a")));
    let exps = vec![
        expect(Claim::Reach, "a", addr_target("10.9.0.1"), Probe::Icmp, 500),
        // A second path exists for r's loopback...
        failover("10.9.0.1"),
        // ...but not for r1's own address, which lives only on the cut link.
        failover("10.1.1.2"),
    ];
    verify::wait_ready(&net, &exps, Duration::from_secs(5)).expect("ready");
    let out = verify::run(&net, &exps);
    show(&out);
    assert!(out[0].ok, "{}", out[0].reason);
    assert_eq!(out[0].from_iface.as_deref(), Some("a1"));
    assert!(out[1].ok, "{}", out[1].reason);
    assert_eq!(
        out[1].from_iface.as_deref(),
        Some("a2"),
        "{}",
        out[1].reason
    );
    assert!(out[1].reason.contains("a/a1 down"), "{}", out[1].reason);
    assert!(!out[2].ok, "{}", out[2].reason);
    assert!(
        out[2].reason.contains("no route to 10.1.1.2"),
        "{}",
        out[2].reason
    );
    // ARP to a routed (not on-link) address is refused with the reason.
    let arp = verify::run(
        &net,
        &[expect(
            Claim::Reach,
            "a",
            addr_target("10.9.0.1"),
            Probe::Arp,
            300,
        )],
    );
    assert!(
        !arp[0].ok
            && arp[0]
                .reason
                .contains("not on a link of this node (routed via 10.1.1.2)"),
        "{}",
        arp[0].reason
    );
    // The cut link is up again with its routes, and the preferred path is used again.
    let routes_after = ip_out(&format!("-n {} route show", ns("a")));
    let norm = |s: &str| {
        let mut v: Vec<String> = s
            .lines()
            .map(|l| l.replace(" linkdown", "").trim().to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(norm(&routes_before), norm(&routes_after));
    // IPv6 addresses and routes, which the kernel drops with the link, are back too.
    let routes6_after = ip_out(&format!("-n {} -6 route show", ns("a")));
    assert_eq!(norm(&routes6_before), norm(&routes6_after));
    assert!(
        routes6_after.contains("fd09::/64 via fd01::2"),
        "{routes6_after}"
    );
    assert!(ip_out(&format!("-n {} addr show a1", ns("a"))).contains("fd01::1/64"));
    assert!(ip_out(&format!("-n {} link show a1", ns("a"))).contains(",UP"));
    let again = verify::run(&net, &exps[..1]);
    assert!(again[0].ok, "{}", again[0].reason);
    assert_eq!(again[0].from_iface.as_deref(), Some("a1"));
}

#[test]
fn wait_ready_names_what_is_not_ready() {
    netloom::sandboxed!("wait_ready_names_what_is_not_ready");
    let mut net = lan();
    let exps = vec![expect(
        Claim::Reach,
        "a",
        addr_target("10.0.0.2"),
        Probe::Icmp,
        500,
    )];
    let took = verify::wait_ready(&net, &exps, Duration::from_secs(5)).expect("ready");
    // Only the file's addresses (here without DAD) are waited for, not link-local ones.
    assert!(took < Duration::from_millis(500), "{took:?}");
    // The bridge-side end down: a0 loses carrier.
    ip(&format!("-n {} link set pa down", ns("sw")));
    let err = verify::wait_ready(&net, &exps, Duration::from_millis(100)).expect_err("not ready");
    assert!(err.contains("a/a0: no carrier"), "{err}");
    ip(&format!("-n {} link set pa up", ns("sw")));
    // A new IPv6 address with DAD stays tentative for about a second.
    ip(&format!("-n {} addr add fd00::9/64 dev a0", ns("a")));
    net.nodes
        .get_mut("a")
        .and_then(|n| n.links.get_mut("a0"))
        .expect("a0 in model")
        .addresses
        .push(Address {
            net: "fd00::9/64".parse().expect("cidr"),
            dad: true,
        });
    let err = verify::wait_ready(&net, &exps, Duration::from_millis(50)).expect_err("tentative");
    assert!(err.contains("tentative"), "{err}");
    let took = verify::wait_ready(&net, &exps, Duration::from_secs(5)).expect("ready after DAD");
    assert!(took > Duration::from_millis(100), "{took:?}");
}
