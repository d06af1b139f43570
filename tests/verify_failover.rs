//! Failover by traffic: cutting the only path fails, cutting one of two paths
//! recovers, and the cut link comes back with its routes and addresses.
use std::time::Duration;

use netloom::model::{Claim, IfRef, Probe};
use netloom::verify;

#[path = "support/verify_util/mod.rs"]
mod verify_util;
use verify_util::*;

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
    let out = verify::judge(&net, &exps);
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
    let arp = verify::judge(
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
    let again = verify::judge(&net, &exps[..1]);
    assert!(again[0].ok, "{}", again[0].reason);
    assert_eq!(again[0].from_iface.as_deref(), Some("a1"));
}
