//! Apply tests against the real kernel, layer 3 and around: addresses,
//! routes, sysctls, NAT. Read back with iproute2 / nft JSON, each in a sandbox.
#[path = "support/apply_support/mod.rs"]
mod apply_support;

use std::process::Command;

use apply_support::*;
use netloom::model::{Address, Masquerade, Route};
use netloom::model::{LinkChange, Op};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn addresses_v4_and_v6() {
    netloom::sandboxed!("addresses_v4_and_v6");
    let k = lab(&["a"]).await;
    add_veth(&k, "a", "e0", "a", "e1").await;
    set(
        &k,
        "a",
        "e0",
        LinkChange {
            up: Some(true),
            ..Default::default()
        },
    )
    .await;
    let v4 = Address {
        net: "10.0.3.1/24".parse().unwrap(),
        dad: false,
        secondary: false,
    };
    let v6 = Address {
        net: "fd00::1/64".parse().unwrap(),
        dad: false,
        secondary: false,
    };
    for addr in [v4, v6] {
        run(
            &k,
            Op::AddAddress {
                node: "a".into(),
                link: "e0".into(),
                addr,
            },
        )
        .await;
    }
    let info = ip("a", &["addr", "show", "dev", "e0"]);
    let addrs = info[0]["addr_info"].as_array().unwrap().clone();
    let find = |a: &str| {
        addrs
            .iter()
            .find(|x| x["local"] == a)
            .unwrap_or_else(|| panic!("{a} missing in {addrs:?}"))
            .clone()
    };
    let a4 = find("10.0.3.1");
    assert_eq!(a4["prefixlen"], 24);
    assert_eq!(a4["broadcast"], "10.0.3.255");
    let a6 = find("fd00::1");
    assert_eq!(a6["prefixlen"], 64);
    assert!(a6.get("tentative").is_none(), "{a6}");
    assert_eq!(a6["nodad"], true, "{a6}");
    run(
        &k,
        Op::DelAddress {
            node: "a".into(),
            link: "e0".into(),
            addr: v4,
        },
    )
    .await;
    let info = ip("a", &["addr", "show", "dev", "e0"]);
    assert!(!info[0]["addr_info"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["local"] == "10.0.3.1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_with_via_dev_metric_table() {
    netloom::sandboxed!("routes_with_via_dev_metric_table");
    let k = lab(&["a"]).await;
    add_veth(&k, "a", "e0", "a", "e1").await;
    set(
        &k,
        "a",
        "e0",
        LinkChange {
            up: Some(true),
            ..Default::default()
        },
    )
    .await;
    for a in ["10.0.0.1/24", "fd00::1/64"] {
        run(
            &k,
            Op::AddAddress {
                node: "a".into(),
                link: "e0".into(),
                addr: Address {
                    net: a.parse().unwrap(),
                    dad: false,
                    secondary: false,
                },
            },
        )
        .await;
    }
    let routes = [
        Route {
            to: "0.0.0.0/0".parse().unwrap(),
            via: Some("10.0.0.254".parse().unwrap()),
            dev: None,
            metric: Some(100),
            table: None,
            src: None,
        },
        Route {
            to: "192.168.7.0/24".parse().unwrap(),
            via: None,
            dev: Some("e0".into()),
            metric: None,
            table: Some(1000),
            src: None,
        },
        Route {
            to: "fd01::/64".parse().unwrap(),
            via: Some("fd00::fe".parse().unwrap()),
            dev: Some("e0".into()),
            metric: Some(7),
            table: Some(100),
            src: None,
        },
    ];
    for r in &routes {
        run(
            &k,
            Op::AddRoute {
                node: "a".into(),
                route: r.clone(),
            },
        )
        .await;
    }
    let main = ip("a", &["route", "show", "table", "main"]);
    let def = main
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["dst"] == "default")
        .unwrap()
        .clone();
    assert_eq!(def["gateway"], "10.0.0.254");
    assert_eq!(def["metric"], 100);
    assert_eq!(def["dev"], "e0");
    let t1000 = ip("a", &["route", "show", "table", "1000"]);
    assert_eq!(t1000[0]["dst"], "192.168.7.0/24");
    assert_eq!(t1000[0]["dev"], "e0");
    assert_eq!(t1000[0]["scope"], "link");
    let t100 = ip("a", &["-6", "route", "show", "table", "100"]);
    let r6 = t100
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["dst"] == "fd01::/64")
        .unwrap()
        .clone();
    assert_eq!(r6["gateway"], "fd00::fe");
    assert_eq!(r6["metric"], 7);
    for r in &routes {
        run(
            &k,
            Op::DelRoute {
                node: "a".into(),
                route: r.clone(),
            },
        )
        .await;
    }
    assert!(ip("a", &["route", "show", "table", "1000"])
        .as_array()
        .unwrap()
        .is_empty());
    assert!(!ip("a", &["route", "show", "table", "main"])
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["dst"] == "default"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sysctl_is_written_in_the_node() {
    netloom::sandboxed!("sysctl_is_written_in_the_node");
    let k = lab(&["a"]).await;
    run(
        &k,
        Op::SetSysctl {
            node: "a".into(),
            key: "net.ipv4.ip_forward".into(),
            value: "1".into(),
            prior: None,
        },
    )
    .await;
    let out = in_node("a", &["cat", "/proc/sys/net/ipv4/ip_forward"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");
    let own = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    assert_eq!(
        own.trim(),
        "0",
        "the sandbox's own namespace must not change"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nat_set_read_replace_delete() {
    netloom::sandboxed!("nat_set_read_replace_delete");
    use netloom::kernel::nft;
    let k = lab(&["a"]).await;
    let ns = k.node("a").await.unwrap().unwrap().netns;
    assert_eq!(nft::read_nat(&ns, TOPO).unwrap(), None);
    assert!(!nft::table_exists(&ns, TOPO).unwrap());
    let rules = vec![
        Masquerade {
            source: "10.0.0.0/24".parse().unwrap(),
            out: "eth0".into(),
        },
        Masquerade {
            source: "fd00::/64".parse().unwrap(),
            out: "eth1".into(),
        },
    ];
    run(
        &k,
        Op::SetNat {
            node: "a".into(),
            rules: rules.clone(),
        },
    )
    .await;
    assert_eq!(nft::read_nat(&ns, TOPO).unwrap(), Some(rules.clone()));
    // Independent read: the table exists in the node only, with a nat hook.
    let out = in_node("a", &["nft", "-j", "list", "table", "inet", "netloom-t"]);
    assert!(out.status.success());
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    let items = j["nftables"].as_array().unwrap();
    assert!(items
        .iter()
        .any(|i| i["chain"]["type"] == "nat" && i["chain"]["hook"] == "postrouting"));
    assert!(items
        .iter()
        .any(|i| i["chain"]["type"] == "filter" && i["chain"]["hook"] == "forward"));
    let masq = items
        .iter()
        .filter(|i| {
            i["rule"]["expr"]
                .as_array()
                .is_some_and(|e| e.iter().any(|x| x.get("masquerade").is_some()))
        })
        .count();
    assert_eq!(masq, 2);
    let host = Command::new("nft")
        .args(["list", "table", "inet", "netloom-t"])
        .output()
        .unwrap();
    assert!(!host.status.success(), "the table must not be in the host");
    // Replace: the old rules are gone.
    let new = vec![Masquerade {
        source: "10.9.0.0/16".parse().unwrap(),
        out: "up0".into(),
    }];
    run(
        &k,
        Op::SetNat {
            node: "a".into(),
            rules: new.clone(),
        },
    )
    .await;
    assert_eq!(nft::read_nat(&ns, TOPO).unwrap(), Some(new));
    run(&k, Op::DelNat { node: "a".into() }).await;
    assert_eq!(nft::read_nat(&ns, TOPO).unwrap(), None);
    // Deleting an absent table is fine.
    run(&k, Op::DelNat { node: "a".into() }).await;
}
