//! The examples whose drivers this machine's kernel lacks (bonding, 8021q,
//! ipvlan, ipvtap), each through the full life cycle (`common::life_cycle`)
//! with a proof read from the kernel and by traffic. Ignored on the host; the
//! VM (Debian's 6.1 kernel) runs them: `vm/test.sh examples_vm`.
#[path = "support/common/mod.rs"]
mod common;

/// In a module so `vm/test.sh examples_vm` selects exactly these tests.
mod examples_vm {
    use std::time::{Duration, Instant};

    use serde_json::Value;

    use super::common::{self, link, Lab};

    /// A counter of an interface inside a node (`rx` or `tx` packets).
    fn packets(lab: &Lab, node: &str, iface: &str, dir: &str) -> u64 {
        let r = lab.exec(node, &["ip", "-s", "-j", "link", "show", "dev", iface]);
        assert_eq!(r.code, 0, "{}", r.text());
        let v: Value = serde_json::from_str(&r.out).expect("ip -j output");
        v[0]["stats64"][dir]["packets"]
            .as_u64()
            .expect("packet counter")
    }

    /// Ping once from `node`, retrying for up to `secs` seconds (a TCG guest
    /// is slow, and bonds and bridges take a moment to settle).
    fn ping_within(lab: &Lab, node: &str, to: &str, secs: u64) -> bool {
        let end = Instant::now() + Duration::from_secs(secs);
        loop {
            if lab.exec(node, &["ping", "-c", "1", "-W", "1", to]).code == 0 {
                return true;
            }
            if Instant::now() > end {
                return false;
            }
        }
    }

    /// Assert `node` reaches `to`.
    fn reaches(lab: &Lab, node: &str, to: &str) {
        assert!(ping_within(lab, node, to, 10), "{node} does not reach {to}");
    }

    /// Assert `node` does not reach `to` (three probes, none answered).
    fn isolated(lab: &Lab, node: &str, to: &str) {
        let r = lab.exec(node, &["ping", "-c", "3", "-i", "0.3", "-W", "1", to]);
        assert_ne!(r.code, 0, "{node} reaches {to}:\n{}", r.text());
    }

    /// Poll `f` every 200 ms for up to `secs` seconds until it gives Some.
    fn wait_for<T>(secs: u64, mut f: impl FnMut() -> Option<T>) -> Option<T> {
        let end = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(t) = f() {
                return Some(t);
            }
            if Instant::now() > end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The `/dev/tapN` paths `netloom status` reports, in order.
    fn tap_paths(text: &str) -> Vec<String> {
        text.match_indices("/dev/tap")
            .map(|(at, _)| {
                text[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '/')
                    .collect()
            })
            .collect()
    }

    #[test]
    #[ignore = "needs a kernel with bonding: runs in the VM"]
    fn bond_active_backup_fails_over_to_the_other_port() {
        let lab = Lab::new("07-bond-active-backup.yaml");
        common::life_cycle(&lab, ("miimon: 100", "miimon: 200"), "miimon 200", |lab| {
            let d = link(lab, "a", "bond0")["linkinfo"]["info_data"].clone();
            assert_eq!(d["mode"], "active-backup", "{d}");
            assert_eq!(d["miimon"], 100, "{d}");
            assert_eq!(d["primary"], "eth0", "{d}");
            let active = |lab: &Lab| {
                link(lab, "a", "bond0")["linkinfo"]["info_data"]["active_slave"]
                    .as_str()
                    .map(str::to_string)
            };
            let first = active(lab).expect("bond0 has an active port");
            assert_eq!(first, "eth0", "the primary carries traffic");
            reaches(lab, "a", "10.7.0.2");
            // Cut the wire at the switch side: the bond only learns of it
            // through the carrier miimon polls.
            let peer = if first == "eth0" { "p0" } else { "p1" };
            let r = lab.exec("sw", &["ip", "link", "set", peer, "down"]);
            assert_eq!(r.code, 0, "{}", r.text());
            let now = wait_for(10, || active(lab).filter(|a| *a != first))
                .unwrap_or_else(|| panic!("active port is still {first} after the cut"));
            assert_eq!(now, "eth1");
            let before = packets(lab, "a", "eth1", "tx");
            reaches(lab, "a", "10.7.0.2");
            reaches(lab, "b", "10.7.0.1");
            assert!(
                packets(lab, "a", "eth1", "tx") > before,
                "traffic did not leave through eth1"
            );
            // Heal the wire; the primary takes over again.
            let r = lab.exec("sw", &["ip", "link", "set", peer, "up"]);
            assert_eq!(r.code, 0, "{}", r.text());
            wait_for(10, || active(lab).filter(|a| *a == first))
                .unwrap_or_else(|| panic!("{first} did not become active again"));
            reaches(lab, "a", "10.7.0.2");
        });
    }

    /// Both ports of `node`'s bond0 in the bond's active aggregator, with
    /// LACP's partner being the other side's bond: the aggregator id.
    fn aggregated(lab: &Lab, node: &str, partner_mac: &str) -> Option<u64> {
        let bond = link(lab, node, "bond0");
        let ad = &bond["linkinfo"]["info_data"]["ad_info"];
        let agg = ad["aggregator"].as_u64()?;
        if ad["num_ports"] != 2 || ad["partner_mac"] != partner_mac {
            return None;
        }
        for port in ["eth0", "eth1"] {
            let p = link(lab, node, port);
            if p["master"] != "bond0"
                || p["linkinfo"]["info_slave_data"]["ad_aggregator_id"].as_u64() != Some(agg)
            {
                return None;
            }
        }
        Some(agg)
    }

    #[test]
    #[ignore = "needs a kernel with bonding: runs in the VM"]
    fn bond_lacp_both_ports_in_one_aggregator() {
        let lab = Lab::new("08-bond-lacp.yaml");
        common::life_cycle(
            &lab,
            (
                "layer3+4, ports: [eth0, eth1], addresses: [10.8.0.1/24]",
                "layer2+3, ports: [eth0, eth1], addresses: [10.8.0.1/24]",
            ),
            "layer2+3",
            |lab| {
                let mac = |node: &str| {
                    link(lab, node, "bond0")["address"]
                        .as_str()
                        .expect("bond mac")
                        .to_string()
                };
                let (ma, mb) = (mac("a"), mac("b"));
                for (node, partner) in [("a", &mb), ("b", &ma)] {
                    let d = link(lab, node, "bond0")["linkinfo"]["info_data"].clone();
                    assert_eq!(d["mode"], "802.3ad", "{d}");
                    assert_eq!(d["ad_lacp_rate"], "fast", "{d}");
                    assert_eq!(d["xmit_hash_policy"], "layer3+4", "{d}");
                    // LACP converges after a few fast LACPDUs (1 s apart).
                    let agg = wait_for(30, || aggregated(lab, node, partner));
                    assert!(
                        agg.is_some(),
                        "{node}: ports not in one aggregator with partner {partner}:\n{}\n{}\n{}",
                        link(lab, node, "bond0"),
                        link(lab, node, "eth0"),
                        link(lab, node, "eth1"),
                    );
                }
                reaches(lab, "a", "10.8.0.2");
                reaches(lab, "b", "10.8.0.1");
            },
        );
    }

    #[test]
    #[ignore = "needs a kernel with ipvlan: runs in the VM"]
    fn ipvlan_l3_routes_between_subnets_on_one_lower() {
        let lab = Lab::new("10-ipvlan-l3.yaml");
        common::life_cycle(
            &lab,
            (
                "mode: l3, addresses: [100.0.2.18/24]",
                "mode: l3, addresses: [100.0.2.18/24], mtu: 1400",
            ),
            "mtu 1400",
            |lab| {
                for (node, dev) in [("a", "ipv1"), ("b", "ipv2")] {
                    let l = link(lab, node, dev);
                    assert_eq!(l["linkinfo"]["info_kind"], "ipvlan", "{l}");
                    assert_eq!(l["linkinfo"]["info_data"]["mode"], "l3", "{l}");
                    // The only route out is the device route set by the file.
                    let r = lab.exec(node, &["ip", "route", "show", "default"]);
                    assert!(r.out.contains(&format!("dev {dev}")), "{}", r.text());
                }
                // Different subnets, no gateway: only l3 mode's routing in
                // the lower device joins them.
                reaches(lab, "a", "100.0.3.18");
                reaches(lab, "b", "100.0.2.18");
            },
        );
    }

    #[test]
    #[ignore = "needs a kernel with ipvlan: runs in the VM"]
    fn ipvlan_l2_peers_reach_each_other_and_the_wire() {
        let lab = Lab::new("11-ipvlan-l2.yaml");
        common::life_cycle(
            &lab,
            (
                "mode: l2, addresses: [10.11.0.2/24]",
                "mode: l2, addresses: [10.11.0.2/24], mtu: 1400",
            ),
            "mtu 1400",
            |lab| {
                let l = link(lab, "a", "ipv1");
                assert_eq!(l["linkinfo"]["info_data"]["mode"], "l2", "{l}");
                reaches(lab, "a", "10.11.0.3");
                reaches(lab, "b", "10.11.0.2");
                reaches(lab, "sink", "10.11.0.2");
                reaches(lab, "sink", "10.11.0.3");
            },
        );
    }

    #[test]
    #[ignore = "needs a kernel with 8021q: runs in the VM"]
    fn vlan_same_id_reaches_other_id_is_isolated() {
        let lab = Lab::new("12-vlan.yaml");
        common::life_cycle(
            &lab,
            (
                "id: 2, addresses: [10.12.2.2/24]",
                "id: 2, addresses: [10.12.2.2/24], mtu: 1400",
            ),
            "mtu 1400",
            |lab| {
                for (node, dev, id) in [("a", "eth0.2", 2), ("a", "eth0.3", 3), ("d", "eth0.3", 3)]
                {
                    let l = link(lab, node, dev);
                    assert_eq!(l["linkinfo"]["info_data"]["id"], id, "{l}");
                    assert_eq!(l["linkinfo"]["info_data"]["protocol"], "802.1Q", "{l}");
                }
                reaches(lab, "b", "10.12.2.1");
                reaches(lab, "c", "10.12.3.1");
                // d shares VLAN 2's subnet but sits in VLAN 3.
                isolated(lab, "b", "10.12.2.4");
                isolated(lab, "a", "10.12.2.4");
                isolated(lab, "d", "10.12.2.2");
            },
        );
    }

    #[test]
    #[ignore = "needs a kernel with 8021q: runs in the VM"]
    fn logical_switch_joins_vlan_and_vxlan() {
        let lab = Lab::new("13-logical-switch.yaml");
        common::life_cycle(
            &lab,
            (
                "eth0: { addresses: [10.13.0.2/24] }",
                "eth0: { addresses: [10.13.0.2/24], mtu: 1400 }",
            ),
            "mtu 1400",
            |lab| {
                let br = link(lab, "sw1", "eth1.10");
                assert_eq!(br["master"], "br0", "{br}");
                assert_eq!(br["linkinfo"]["info_data"]["id"], 10, "{br}");
                assert_eq!(link(lab, "sw1", "vx0")["master"], "br0");
                assert_eq!(link(lab, "sw2", "vx0")["master"], "br0");
                let before = packets(lab, "sw2", "vx0", "rx");
                reaches(lab, "h1", "10.13.0.2");
                reaches(lab, "h2", "10.13.0.1");
                assert!(
                    packets(lab, "sw2", "vx0", "rx") > before,
                    "the traffic did not cross the VXLAN"
                );
            },
        );
    }

    #[test]
    #[ignore = "needs a kernel with ipvtap: runs in the VM"]
    fn ipvtap_and_macvtap_have_tap_devices() {
        let lab = Lab::new("14-ipvtap-macvtap.yaml");
        common::life_cycle(
            &lab,
            (
                "mode: l2, addresses: [10.14.1.2/24]",
                "mode: l2, addresses: [10.14.1.2/24], mtu: 1400",
            ),
            "mtu 1400",
            |lab| {
                let st = lab.expect("status", &[], 0);
                let paths = tap_paths(&st.out);
                assert_eq!(paths.len(), 2, "status:\n{}", st.out);
                for (node, dev, kind) in [("m", "mvt0", "macvtap"), ("i", "ipt0", "ipvtap")] {
                    let l = link(lab, node, dev);
                    assert_eq!(l["linkinfo"]["info_kind"], kind, "{l}");
                    // The character device is /dev/tap<ifindex>.
                    let want = format!("/dev/tap{}", l["ifindex"]);
                    assert!(paths.contains(&want), "{want} not in {paths:?}");
                    let r = lab.sh(&format!("test -c {want}"));
                    assert_eq!(r.code, 0, "{want} is not a character device");
                }
                reaches(lab, "sink", "10.14.0.2");
                reaches(lab, "sink", "10.14.1.2");
            },
        );
    }
}
