//! Every example of examples/ on this machine's kernel, each in its own
//! sandbox, through the full life cycle (see `common::life_cycle`).
#[path = "support/common/mod.rs"]
mod common;

use common::Lab;

/// rx_packets of an interface inside a node, read over netlink by iproute2.
fn rx_packets(lab: &Lab, node: &str, iface: &str) -> u64 {
    let r = lab.exec(node, &["ip", "-s", "-j", "link", "show", "dev", iface]);
    assert_eq!(r.code, 0, "{}", r.text());
    let v: serde_json::Value = serde_json::from_str(&r.out).expect("ip -j output");
    v[0]["stats64"]["rx"]["packets"]
        .as_u64()
        .expect("rx packets")
}

#[test]
fn veth_pair_one_in_one_out() {
    let lab = Lab::new("01-veth-pair.yaml");
    common::life_cycle(
        &lab,
        (
            "eth0: { addresses: [10.0.0.1/24] }",
            "eth0: { addresses: [10.0.0.1/24], mtu: 1400 }",
        ),
        "mtu 1400",
        |lab| {
            let ping = lab.exec("a", &["ping", "-c", "1", "-W", "2", "10.0.0.2"]);
            assert_eq!(ping.code, 0, "{}", ping.text());
            // One in, one out: with b's address gone nothing answers, yet
            // every frame a sends still comes out at b.
            let flush = lab.exec("b", &["ip", "addr", "flush", "dev", "eth0"]);
            assert_eq!(flush.code, 0, "{}", flush.text());
            let before = rx_packets(lab, "b", "eth0");
            let ping = lab.exec(
                "a",
                &["ping", "-c", "3", "-i", "0.2", "-W", "1", "10.0.0.2"],
            );
            assert_ne!(
                ping.code,
                0,
                "b answered without an address:\n{}",
                ping.text()
            );
            let after = rx_packets(lab, "b", "eth0");
            assert!(
                after >= before + 3,
                "b's eth0 rx_packets {before} -> {after}: frames did not arrive"
            );
            // The drift is seen and repaired: exactly the missing address.
            let pending = lab.pending();
            assert_eq!(pending.len(), 1, "{pending:?}");
            assert!(pending[0].contains("10.0.0.2/24"), "{pending:?}");
            lab.expect("up", &[], 0);
        },
    );
}

#[test]
fn macvlan_bridge_reaches_private_is_isolated() {
    let lab = Lab::new("02-macvlan-modes.yaml");
    common::life_cycle(
        &lab,
        (
            "mode: bridge, addresses: [10.2.1.1/24]",
            "mode: bridge, addresses: [10.2.1.1/24], mtu: 1400",
        ),
        "mtu 1400",
        |lab| {
            // The same claims, checked independently of netloom's own probes.
            assert_eq!(
                lab.exec("a", &["ping", "-c", "1", "-W", "2", "10.2.1.2"])
                    .code,
                0
            );
            assert_ne!(
                lab.exec("c", &["ping", "-c", "2", "-W", "1", "10.2.2.2"])
                    .code,
                0
            );
        },
    );
}

#[test]
fn lxc_bridge_with_nat() {
    let lab = Lab::new("03-lxc-nat.yaml");
    common::life_cycle(&lab, ("stp: false", "stp: true"), "stp", |lab| {
        // isp has no route back to 10.0.3.0/24: only masquerading makes this work.
        assert_eq!(
            lab.exec("c1", &["ping", "-c", "1", "-W", "2", "100.64.0.2"])
                .code,
            0
        );
        let routes = lab.exec("isp", &["ip", "route", "get", "10.0.3.78"]);
        assert_ne!(
            routes.code,
            0,
            "isp unexpectedly routes to the containers:\n{}",
            routes.text()
        );
        let nft = lab.exec("gw", &["nft", "list", "table", "inet", "netloom-lxc"]);
        assert!(nft.out.contains("masquerade"), "{}", nft.text());
    });
}

#[test]
fn lxc_with_dhcp_and_dns() {
    let lab = Lab::new("19-lxc-dhcp.yaml");
    common::life_cycle(
        &lab,
        ("lease_time: 1h", "lease_time: 2h"),
        "service restart dnsmasq-lxcbr0",
        |lab| {
            // The name server came with the lease, and names are the topology's.
            let r = lab.exec("c1", &["cat", "/etc/resolv.conf"]);
            assert!(r.out.contains("nameserver 10.0.3.1"), "{}", r.text());
            let r = lab.exec("c1", &["busybox", "nslookup", "c2.lxc"]);
            assert_eq!(r.code, 0, "{}", r.text());
            let r = lab.exec("c2", &["ip", "route", "show", "default"]);
            assert!(r.out.contains("via 10.0.3.1"), "{}", r.text());
        },
    );
}

#[test]
fn vxlan_overlay_over_veth_underlay() {
    let lab = Lab::new("04-vxlan.yaml");
    common::life_cycle(
        &lab,
        (
            "eth0: { addresses: [10.9.0.1/24] }",
            "eth0: { addresses: [10.9.0.1/24], mtu: 1450 }",
        ),
        "mtu 1450",
        |lab| {
            let d = lab.exec("a", &["ip", "-d", "-j", "link", "show", "vx0"]);
            let v: serde_json::Value = serde_json::from_str(&d.out).expect("ip -j");
            let info = &v[0]["linkinfo"]["info_data"];
            assert_eq!(info["id"], 100, "{info}");
            assert_eq!(info["port"], 4789, "{info}");
            assert_eq!(
                lab.exec("b", &["ping", "-c", "1", "-W", "2", "10.100.0.1"])
                    .code,
                0
            );
        },
    );
}

#[test]
fn stp_loop_blocks_a_port_and_still_forwards() {
    let lab = Lab::new("05-stp-loop.yaml");
    common::life_cycle(
        &lab,
        (
            "eth0: { addresses: [10.5.0.1/24] }",
            "eth0: { addresses: [10.5.0.1/24], mtu: 1400 }",
        ),
        "mtu 1400",
        |lab| {
            // Exactly one of the four loop ports is blocking (state 4 in sysfs terms;
            // iproute2 prints "blocking").
            let mut blocking = 0;
            for sw in ["sw1", "sw2"] {
                let r = lab.exec(sw, &["bridge", "-j", "link", "show"]);
                let v: serde_json::Value = serde_json::from_str(&r.out).expect("bridge -j");
                for port in v.as_array().unwrap() {
                    if port["ifname"] == "p1" || port["ifname"] == "p2" {
                        blocking += (port["state"] == "blocking") as u32;
                    }
                }
            }
            assert_eq!(blocking, 1, "STP should block exactly one loop port");
        },
    );
}

#[test]
fn macvtap_has_its_tap_device() {
    let lab = Lab::new("06-macvtap.yaml");
    common::life_cycle(
        &lab,
        (
            "eth0: { addresses: [10.6.0.1/24] }",
            "eth0: { addresses: [10.6.0.1/24], mtu: 1400 }",
        ),
        "mtu 1400",
        |lab| {
            let st = lab.expect("status", &[], 0);
            let at = st
                .out
                .find("/dev/tap")
                .unwrap_or_else(|| panic!("status does not report /dev/tapN:\n{}", st.out));
            let path: String = st.out[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '/')
                .collect();
            // The character device a VM would open exists (devtmpfs makes it).
            let r = lab.sh(&format!("test -c {path}"));
            assert_eq!(r.code, 0, "{path} is not a character device");
        },
    );
}
