//! verify by traffic on a bridged LAN, end to end in a sandbox: claims that
//! hold pass, claims that must fail fail with the right reason, and readiness
//! names what it waits for.
use std::net::IpAddr;
use std::time::Duration;

use netloom::model::{Address, Claim, Expectation, IfRef, Network, Probe, Target};
use netloom::verify;

#[path = "support/verify_util/mod.rs"]
mod verify_util;
use verify_util::*;

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
    let mut bound_icmp = expect(Claim::Reach, "a", addr_target("10.0.0.2"), Probe::Icmp, 500);
    bound_icmp.from.iface = Some("a0".into());
    // Bound to loopback, the probe cannot leave towards b.
    let mut bound_lo = bound_icmp.clone();
    bound_lo.from.iface = Some("lo".into());
    let extra = verify::judge(&net, &[bound, wrong, bound_icmp, bound_lo]);
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
    let out = verify::judge(&net, &exps);
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
    let out_many = verify::judge(&net, &many);
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
    assert!(extra[2].ok, "{}", extra[2].reason);
    assert_eq!(extra[2].from_iface.as_deref(), Some("a0"));
    assert!(!extra[3].ok, "{}", extra[3].reason);
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
    let out = verify::judge(
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
    // Waiting longer than the kernel's ARP retries (3 x 1s), the kernel's own
    // ICMP host unreachable arrives and is reported with the unanswered ARP.
    let mut slow = reach("10.0.0.78", Probe::Icmp);
    slow.count = 1;
    slow.timeout_ms = 4500;
    let mut slow_udp = slow.clone();
    slow_udp.probe = Probe::Udp(9000);
    slow_udp.text = "a -> 10.0.0.78 udp/9000".into();
    let out = verify::judge(&net, &[slow, slow_udp]);
    show(&out);
    for o in &out {
        assert!(!o.ok, "{}", o.reason);
        assert!(
            o.reason.contains("ARP for 10.0.0.78 on a0 unanswered"),
            "{}",
            o.reason
        );
        assert!(
            o.reason.contains("host 10.0.0.78 unreachable")
                || o.reason.contains("(host unreachable)"),
            "{}",
            o.reason
        );
    }
    // IPv6: the neighbour solicitation goes unanswered.
    let out = verify::judge(&net, &[reach("fd00::77", Probe::Icmp)]);
    assert!(
        !out[0].ok
            && out[0]
                .reason
                .contains("neighbour solicitation for fd00::77 on a0 unanswered"),
        "{}",
        out[0].reason
    );
    // A source node without a namespace is reported, not probed.
    let out = verify::judge(
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
                .contains("node ghost: cannot open namespace /run/netns/netloom-t.ghost"),
        "{}",
        out[0].reason
    );
    // ...and an isolation claim from it is not proven by the failure to probe.
    let out = verify::judge(
        &net,
        &[expect(
            Claim::Isolated,
            "ghost",
            addr_target("10.0.0.2"),
            Probe::Icmp,
            100,
        )],
    );
    assert!(
        !out[0].ok && out[0].reason.contains("cannot probe"),
        "{}",
        out[0].reason
    );
    // An isolation claim that is false.
    let out = verify::judge(
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
    let out = verify::judge(
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
    let out = verify::judge(&net, &[reach("10.0.0.2", Probe::Icmp)]);
    assert!(
        !out[0].ok && out[0].reason.contains("ARP for 10.0.0.2 on a0 unanswered"),
        "{}",
        out[0].reason
    );
    ip(&format!("-n {} addr add 10.0.0.2/24 dev b0", ns("b")));

    // Bridge port down: b is cut off, a's side still has a route.
    ip(&format!("-n {} link set pb down", ns("sw")));
    let out = verify::judge(&net, &[reach("fd00::2", Probe::Icmp)]);
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
    let out = verify::judge(
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
    let out = verify::judge(&net, &[reach("fd00::2", Probe::Icmp)]);
    assert!(
        !out[0].ok && out[0].reason.contains("no route to fd00::2"),
        "{}",
        out[0].reason
    );
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
    let err = verify::wait_ready(&net, &exps, Duration::from_millis(100))
        .expect_err("not ready")
        .to_string();
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
            secondary: false,
        });
    let err = verify::wait_ready(&net, &exps, Duration::from_millis(50))
        .expect_err("tentative")
        .to_string();
    assert!(err.contains("tentative"), "{err}");
    let took = verify::wait_ready(&net, &exps, Duration::from_secs(5)).expect("ready after DAD");
    assert!(took > Duration::from_millis(100), "{took:?}");
}

#[test]
fn host_node_is_the_namespace_verify_runs_in() {
    netloom::sandboxed!("host_node_is_the_namespace_verify_runs_in");
    // The sandbox's own namespace plays `host`; node a is a named namespace.
    add_ns("a");
    ip(&format!(
        "link add h0 type veth peer name ah netns {}",
        ns("a")
    ));
    ip("link set h0 up");
    ip(&format!("-n {} link set ah up", ns("a")));
    ip("addr add 10.5.0.1/24 dev h0");
    ip(&format!("-n {} addr add 10.5.0.2/24 dev ah", ns("a")));
    let mut net = Network {
        name: TOPO.into(),
        ..Network::default()
    };
    net.nodes.insert(
        "host".into(),
        node(vec![link("h0", veth_kind(), None, &["10.5.0.1/24"])]),
    );
    net.nodes.insert(
        "a".into(),
        node(vec![link("ah", veth_kind(), None, &["10.5.0.2/24"])]),
    );
    let exps = vec![
        expect(
            Claim::Reach,
            "host",
            Target::Node("a".into()),
            Probe::Icmp,
            500,
        ),
        expect(
            Claim::Reach,
            "a",
            Target::Node("host".into()),
            Probe::Arp,
            500,
        ),
    ];
    verify::wait_ready(&net, &exps, Duration::from_secs(5)).expect("ready");
    let out = verify::judge(&net, &exps);
    show(&out);
    assert!(out[0].ok, "{}", out[0].reason);
    assert_eq!(out[0].from_iface.as_deref(), Some("h0"));
    assert_eq!(out[0].to_iface.as_deref(), Some("a/ah"));
    assert!(out[1].ok, "{}", out[1].reason);
    assert_eq!(
        out[1].to_addr,
        Some("10.5.0.1".parse::<IpAddr>().expect("ip"))
    );
}

/// A verifier worker enters each namespace in place and goes home after each
/// call; a call nested inside one gets a thread of its own, which enters its
/// target even when that is host; an ordinary thread gets a thread per call.
#[test]
fn a_worker_enters_namespaces_in_place_and_goes_home() {
    netloom::sandboxed!("a_worker_enters_namespaces_in_place_and_goes_home");
    use std::os::unix::fs::MetadataExt;
    use std::thread::{current, ThreadId};
    add_ns("a");
    let ino = |p: &str| std::fs::metadata(p).expect("namespace file").ino();
    let here = move || ino("/proc/thread-self/ns/net");
    let a = ino(&format!("/run/netns/{}", ns("a")));
    let at = move |node: &str| -> (ThreadId, u64) {
        verify::node::run_in(TOPO, node, || Ok((current().id(), here()))).expect("run_in")
    };
    std::thread::spawn(move || {
        let home = here();
        assert_ne!(home, a);
        netloom::kernel::netns::as_worker(|| {
            let me = current().id();
            let (inside, nested) = verify::node::run_in(TOPO, "a", || {
                Ok(((current().id(), here()), (at("host"), at("a"))))
            })
            .expect("run_in a");
            assert_eq!(inside, (me, a), "in place, in a");
            let ((t1, n1), (t2, n2)) = nested;
            assert!(
                t1 != me && t2 != me,
                "nested calls get threads of their own"
            );
            assert_eq!((n1, n2), (home, a), "nested calls enter their targets");
            assert_eq!(here(), home, "back home after the call");
            assert_eq!(at("host"), (me, home));
            assert_eq!(at("a"), (me, a));
        });
        let (t, n) = at("a");
        assert!(t != current().id() && n == a, "an ordinary thread spawns");
        assert_eq!(here(), home);
    })
    .join()
    .expect("worker thread");
}
