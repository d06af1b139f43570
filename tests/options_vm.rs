//! Every option the file format offers for bond, vlan, ipvlan/ipvtap, dummy
//! and a VLAN-filtering bridge reaches the kernel: `netloom up`, then read
//! back independently with iproute2 inside the node and compare each value;
//! then `status` is in sync and `plan` is empty. These kinds are missing from
//! the host kernel: `vm/test.sh options` runs them in the VM.
#[path = "support/common/mod.rs"]
mod common;

/// In a module so `vm/test.sh options` selects these tests.
mod options {
    use serde_json::{json, Value};

    use super::common::{link, round_trip, Lab};

    /// `linkinfo.info_data` of a device.
    fn data(lab: &Lab, node: &str, iface: &str) -> Value {
        link(lab, node, iface)["linkinfo"]["info_data"].clone()
    }

    /// The VLANs of `dev` from `bridge -j vlan show` inside a node, as
    /// (vid, sorted flags) pairs.
    fn bridge_vlans(lab: &Lab, node: &str, dev: &str) -> Vec<(u64, Vec<String>)> {
        let r = lab.exec(node, &["bridge", "-j", "vlan", "show", "dev", dev]);
        assert_eq!(r.code, 0, "{}", r.text());
        let v: Value = serde_json::from_str(&r.out).expect("bridge -j output");
        let Some(entry) = v
            .as_array()
            .and_then(|a| a.iter().find(|e| e["ifname"] == dev))
        else {
            return Vec::new();
        };
        let mut out: Vec<(u64, Vec<String>)> = entry["vlans"]
            .as_array()
            .expect("vlans")
            .iter()
            .map(|x| {
                let mut flags: Vec<String> = x["flags"]
                    .as_array()
                    .map(|f| {
                        f.iter()
                            .filter_map(|s| s.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                flags.sort();
                (x["vlan"].as_u64().expect("vid"), flags)
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    #[ignore = "needs a kernel with bonding: runs in the VM"]
    fn bond_every_option_reaches_the_kernel() {
        // Three bonds because the kernel refuses some options in some modes
        // (arp monitoring replaces miimon; lacp_rate and ad_select are 802.3ad's).
        let text = r#"
name: opt-bond
nodes:
  a:
    interfaces:
      bond0:
        kind: bond
        mode: active-backup
        miimon: 100
        updelay: 200
        downdelay: 300
        use_carrier: false
        primary: eth0
        primary_reselect: better
        fail_over_mac: active
        min_links: 1
        all_slaves_active: true
        ports: { eth0: { prio: 10, queue_id: 3 }, eth1: { prio: -5, queue_id: 1 } }
      bond1:
        kind: bond
        mode: balance-xor
        arp_interval: 250
        arp_ip_target: [10.0.0.1, 10.0.0.2]
        arp_validate: all
        arp_all_targets: all
        xmit_hash_policy: encap3+4
      bond2:
        kind: bond
        mode: 802.3ad
        miimon: 50
        lacp_rate: fast
        ad_select: bandwidth
        xmit_hash_policy: layer3+4
        min_links: 2
      eth0: {}
      eth1: {}
  b:
    interfaces:
      eth0: {}
      eth1: {}
links:
  - [a/eth0, b/eth0]
  - [a/eth1, b/eth1]
"#;
        round_trip("opt-bond.yaml", text, |lab| {
            let d = data(lab, "a", "bond0");
            assert_eq!(d["mode"], "active-backup", "{d}");
            assert_eq!(d["miimon"], 100, "{d}");
            assert_eq!(d["updelay"], 200, "{d}");
            assert_eq!(d["downdelay"], 300, "{d}");
            assert_eq!(d["use_carrier"], 0, "{d}");
            assert_eq!(d["primary"], "eth0", "{d}");
            assert_eq!(d["primary_reselect"], "better", "{d}");
            assert_eq!(d["fail_over_mac"], "active", "{d}");
            assert_eq!(d["min_links"], 1, "{d}");
            assert_eq!(d["all_slaves_active"], 1, "{d}");
            for (port, prio, queue) in [("eth0", 10, 3), ("eth1", -5, 1)] {
                let p = link(lab, "a", port);
                assert_eq!(p["master"], "bond0", "{p}");
                let s = &p["linkinfo"]["info_slave_data"];
                assert_eq!(s["prio"], prio, "{p}");
                assert_eq!(s["queue_id"], queue, "{p}");
            }
            let d = data(lab, "a", "bond1");
            assert_eq!(d["mode"], "balance-xor", "{d}");
            assert_eq!(d["arp_interval"], 250, "{d}");
            assert_eq!(d["arp_ip_target"], json!(["10.0.0.1", "10.0.0.2"]), "{d}");
            assert_eq!(d["arp_validate"], "all", "{d}");
            assert_eq!(d["arp_all_targets"], "all", "{d}");
            assert_eq!(d["xmit_hash_policy"], "encap3+4", "{d}");
            let d = data(lab, "a", "bond2");
            assert_eq!(d["mode"], "802.3ad", "{d}");
            assert_eq!(d["miimon"], 50, "{d}");
            assert_eq!(d["ad_lacp_rate"], "fast", "{d}");
            assert_eq!(d["ad_select"], "bandwidth", "{d}");
            assert_eq!(d["xmit_hash_policy"], "layer3+4", "{d}");
            assert_eq!(d["min_links"], 2, "{d}");
        });
    }

    /// Topology `name`: master m0 (`m0` its options) in node a with ports
    /// p0 (`p0` its interface map) and p1, veths to q0 and q1 in node b.
    fn two_ports(name: &str, m0: &str, p0: &str) -> String {
        format!(
            "name: {name}
nodes:
  a:
    interfaces:
      m0: {{ {m0}, ports: [p0, p1] }}
      p0: {p0}
      p1: {{}}
  b:
    interfaces:
      q0: {{}}
      q1: {{}}
links:
  - [a/p0, b/q0]
  - [a/p1, b/q1]
"
        )
    }

    /// A bridge whose ports are up turned into a bond: the kernel's bond
    /// refuses a port that is up ("Device can not be enslaved while up"),
    /// so `up` sets each one down first (the bond brings it up again).
    /// Then the bond removed: its released ports come up again.
    #[test]
    #[ignore = "needs a kernel with bonding: runs in the VM"]
    fn a_bridge_turned_into_a_bond_takes_its_up_ports() {
        let text = &two_ports("br2bond", "kind: bridge, stp: false", "{}");
        let lab = Lab::from_text("br2bond.yaml", text);
        lab.expect("up", &[], 0);
        let bond = text.replace(
            "kind: bridge, stp: false",
            "kind: bond, mode: active-backup",
        );
        std::fs::write(&lab.file, bond).unwrap();
        lab.expect("up", &[], 0);
        for p in ["p0", "p1"] {
            let l = link(&lab, "a", p);
            assert_eq!(l["master"], "m0", "{l}");
            assert_eq!(l["linkinfo"]["info_slave_kind"], "bond", "{l}");
            assert!(
                l["flags"].as_array().unwrap().iter().any(|f| f == "UP"),
                "{l}"
            );
        }
        let again = lab.expect("up", &[], 0);
        assert!(again.out.contains(": 0 operation"), "{}", again.text());
        // The bond removed, its ports kept: the kernel closes the ports a
        // bond releases, and `up` brings them up again.
        let none = text.replace(
            "      m0: { kind: bridge, stp: false, ports: [p0, p1] }\n",
            "",
        );
        std::fs::write(&lab.file, none).unwrap();
        lab.expect("up", &[], 0);
        for p in ["p0", "p1"] {
            let l = link(&lab, "a", p);
            assert!(l.get("master").is_none(), "{l}");
            assert!(
                l["flags"].as_array().unwrap().iter().any(|f| f == "UP"),
                "{l}"
            );
        }
        let again = lab.expect("up", &[], 0);
        assert!(again.out.contains(": 0 operation"), "{}", again.text());
        lab.expect("down", &[], 0);
        lab.assert_no_residue();
    }

    /// A bond opens each port it takes; a port the file wants down is set
    /// down after, and a second `up` changes nothing.
    #[test]
    #[ignore = "needs a kernel with bonding: runs in the VM"]
    fn a_bond_port_wanted_down_stays_down() {
        let text = two_ports(
            "bonddown",
            "kind: bond, mode: active-backup",
            "{ state: down }",
        );
        round_trip("bonddown.yaml", &text, |lab| {
            let l = link(lab, "a", "p0");
            assert_eq!(l["master"], "m0", "{l}");
            assert!(
                !l["flags"].as_array().unwrap().iter().any(|f| f == "UP"),
                "{l}"
            );
        });
    }

    /// The team driver opens each port teamd takes, at every start: a port
    /// the file wants down is set down after teamd, and stays so; also after
    /// a restart (a port option changed).
    #[test]
    #[ignore = "needs a kernel with team and teamd: runs in the VM"]
    fn a_team_port_wanted_down_stays_down() {
        let text = two_ports(
            "teamdown",
            "kind: team, runner: activebackup",
            "{ state: down }",
        );
        let down = |lab: &Lab| {
            let l = link(lab, "a", "p0");
            assert_eq!(l["master"], "m0", "{l}");
            assert!(
                !l["flags"].as_array().unwrap().iter().any(|f| f == "UP"),
                "{l}"
            );
        };
        round_trip("teamdown.yaml", &text, down);
        let lab = Lab::from_text("teamdown.yaml", &text);
        lab.expect("up", &[], 0);
        let restart = text.replace("ports: [p0, p1]", "ports: { p0: { prio: 5 }, p1: {} }");
        std::fs::write(&lab.file, restart).unwrap();
        let plan = lab.verb("plan", &[]);
        assert!(plan.out.contains("teamd restart m0"), "{}", plan.text());
        lab.expect("up", &[], 0);
        down(&lab);
        let again = lab.expect("up", &[], 0);
        assert!(again.out.contains(": 0 operation"), "{}", again.text());
        lab.expect("down", &[], 0);
        lab.assert_no_residue();
    }

    #[test]
    #[ignore = "needs a kernel with 8021q: runs in the VM"]
    fn vlan_every_option_reaches_the_kernel() {
        let text = r#"
name: opt-vlan
nodes:
  a:
    interfaces:
      d0: { kind: dummy }
      d0.20:
        kind: vlan
        lower: d0
        id: 20
        protocol: 802.1ad
        reorder_hdr: false
        gvrp: true
        mvrp: true
        loose_binding: true
        ingress_qos_map: ["1:2", "3:4"]
        egress_qos_map: ["2:5", "6:7"]
      d0.30: { kind: vlan, lower: d0, id: 30, protocol: 802.1Q, reorder_hdr: true, gvrp: false, mvrp: false, loose_binding: false }
"#;
        round_trip("opt-vlan.yaml", text, |lab| {
            let l = link(lab, "a", "d0.20");
            assert_eq!(l["link"], "d0", "{l}");
            let d = &l["linkinfo"]["info_data"];
            assert_eq!(d["protocol"], "802.1ad", "{d}");
            assert_eq!(d["id"], 20, "{d}");
            let flags = d["flags"].as_array().expect("flags");
            for (flag, on) in [
                ("REORDER_HDR", false),
                ("GVRP", true),
                ("MVRP", true),
                ("LOOSE_BINDING", true),
            ] {
                assert_eq!(flags.contains(&flag.into()), on, "{flag}: {d}");
            }
            assert_eq!(
                d["ingress_qos"],
                json!([{"from": 1, "to": 2}, {"from": 3, "to": 4}]),
                "{d}"
            );
            assert_eq!(
                d["egress_qos"],
                json!([{"from": 2, "to": 5}, {"from": 6, "to": 7}]),
                "{d}"
            );
            let d = data(lab, "a", "d0.30");
            assert_eq!(d["protocol"], "802.1Q", "{d}");
            assert_eq!(d["id"], 30, "{d}");
            let flags = d["flags"].as_array().expect("flags");
            assert!(flags.contains(&"REORDER_HDR".into()), "{d}");
            for flag in ["GVRP", "MVRP", "LOOSE_BINDING"] {
                assert!(!flags.contains(&flag.into()), "{flag}: {d}");
            }
        });
    }

    #[test]
    #[ignore = "needs a kernel with ipvlan and ipvtap: runs in the VM"]
    fn ipvlan_ipvtap_modes_and_flags_reach_the_kernel() {
        // Mode and flag belong to the lower device's ipvlan port (the
        // kernel keeps one per lower), so each combination gets its own lower;
        // one lower is in another node, its sub-device moved here.
        let text = r#"
name: opt-ipvlan
nodes:
  wire:
    interfaces:
      w0: { kind: dummy }
  a:
    interfaces:
      d1: { kind: dummy }
      d2: { kind: dummy }
      d3: { kind: dummy }
      d4: { kind: dummy }
      iv1: { kind: ipvlan, lower: wire/w0, mode: l2, flag: bridge }
      iv2: { kind: ipvlan, lower: d1, mode: l3, flag: private }
      iv3: { kind: ipvlan, lower: d2, mode: l3s, flag: vepa }
      it1: { kind: ipvtap, lower: d3, mode: l2, flag: vepa }
      it2: { kind: ipvtap, lower: d4, mode: l3s, flag: private }
"#;
        round_trip("opt-ipvlan.yaml", text, |lab| {
            for (dev, kind, lower, mode, flag) in [
                ("iv1", "ipvlan", None, "l2", "bridge"),
                ("iv2", "ipvlan", Some("d1"), "l3", "private"),
                ("iv3", "ipvlan", Some("d2"), "l3s", "vepa"),
                ("it1", "ipvtap", Some("d3"), "l2", "vepa"),
                ("it2", "ipvtap", Some("d4"), "l3s", "private"),
            ] {
                let l = link(lab, "a", dev);
                assert_eq!(l["linkinfo"]["info_kind"], kind, "{l}");
                let d = &l["linkinfo"]["info_data"];
                assert_eq!(d["mode"], mode, "{dev}: {l}");
                assert_eq!(d[flag], true, "{dev}: {l}");
                match lower {
                    Some(lower) => assert_eq!(l["link"], lower, "{l}"),
                    // The lower stayed in `wire`: the link points to another netns.
                    None => assert!(l.get("link_netnsid").is_some(), "{l}"),
                }
            }
        });
    }

    #[test]
    #[ignore = "needs a kernel with dummy: runs in the VM"]
    fn dummy_common_fields_reach_the_kernel() {
        let text = r#"
name: opt-dummy
nodes:
  a:
    interfaces:
      d0: { kind: dummy, mtu: 9000, mac: "02:00:00:00:d0:01", addresses: [10.20.0.1/24, "2001:db8::1/64"] }
      d1: { kind: dummy, state: down }
"#;
        round_trip("opt-dummy.yaml", text, |lab| {
            let l = link(lab, "a", "d0");
            assert_eq!(l["linkinfo"]["info_kind"], "dummy", "{l}");
            assert_eq!(l["mtu"], 9000, "{l}");
            assert_eq!(l["address"], "02:00:00:00:d0:01", "{l}");
            assert!(
                l["flags"].as_array().expect("flags").contains(&"UP".into()),
                "{l}"
            );
            let r = lab.exec("a", &["ip", "-j", "addr", "show", "dev", "d0"]);
            for addr in ["10.20.0.1", "2001:db8::1"] {
                assert!(r.out.contains(&format!("\"{addr}\"")), "{addr}: {}", r.out);
            }
            let l = link(lab, "a", "d1");
            assert!(
                !l["flags"].as_array().expect("flags").contains(&"UP".into()),
                "{l}"
            );
        });
    }

    #[test]
    #[ignore = "needs a kernel with bridge VLAN filtering: runs in the VM"]
    fn bridge_vlan_filtering_options_reach_the_kernel() {
        let text = r#"
name: opt-brvlan
nodes:
  a:
    interfaces:
      br0:
        kind: bridge
        vlan_filtering: true
        vlan_protocol: 802.1ad
        default_pvid: 10
        vlans: [10, { vid: 20, pvid: true, untagged: true }]
        ports:
          p0: { vlans: [30, { vid: 40, pvid: true, untagged: true }] }
          p1: {}
      p0: { kind: dummy }
      p1: { kind: dummy }
"#;
        round_trip("opt-brvlan.yaml", text, |lab| {
            let d = data(lab, "a", "br0");
            assert_eq!(d["vlan_filtering"], 1, "{d}");
            assert_eq!(d["vlan_protocol"], "802.1ad", "{d}");
            assert_eq!(d["vlan_default_pvid"], 10, "{d}");
            let flags = |f: &[&str]| f.iter().map(|s| s.to_string()).collect::<Vec<_>>();
            assert_eq!(
                bridge_vlans(lab, "a", "br0"),
                vec![(10, vec![]), (20, flags(&["Egress Untagged", "PVID"])),]
            );
            assert_eq!(
                bridge_vlans(lab, "a", "p0"),
                vec![(30, vec![]), (40, flags(&["Egress Untagged", "PVID"])),]
            );
            // A port with no vlans listed gets the default PVID.
            assert_eq!(
                bridge_vlans(lab, "a", "p1"),
                vec![(10, flags(&["Egress Untagged", "PVID"]))]
            );
        });
    }
}
