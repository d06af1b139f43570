//! Every option the file format offers for bridge (with port options),
//! macvlan (every mode, source MACs), macvtap, vxlan and tun/tap reaches the
//! kernel: `netloom up`, then read back independently with iproute2 inside the
//! node and compare each value; then `status` is in sync and `plan` is empty.
//! These kinds exist on the host kernel, so the tests are not ignored.
#[path = "support/common/mod.rs"]
mod common;

/// In a module so `vm/test.sh options` selects these tests too.
mod options {
    use serde_json::{json, Value};

    use super::common::{link, many_ports, round_trip};

    /// iproute2 prints some flags as JSON booleans and some as 0/1.
    fn on(v: &Value) -> Option<bool> {
        v.as_bool().or_else(|| v.as_u64().map(|n| n != 0))
    }

    #[test]
    fn bridge_every_option_reaches_the_kernel() {
        // vlan_filtering and its companions need a kernel with bridge VLAN
        // filtering: tests/options_vm.rs covers them.
        let text = r#"
name: opt-bridge
nodes:
  a:
    interfaces:
      br0:
        kind: bridge
        stp: true
        forward_delay: 400
        hello_time: 300
        max_age: 2500
        ageing_time: 12000
        priority: 4096
        mcast_snooping: false
        ports:
          p0: { cost: 77, priority: 9, learning: false, flood: false, hairpin: true, isolated: true }
          p1: { cost: 5, priority: 40, learning: true, flood: true, hairpin: false, isolated: false }
      p0: {}
      p1: {}
  b:
    interfaces:
      q0: {}
      q1: {}
links:
  - [a/p0, b/q0]
  - [a/p1, b/q1]
"#;
        round_trip("opt-bridge.yaml", text, |lab| {
            let d = link(lab, "a", "br0")["linkinfo"]["info_data"].clone();
            assert_eq!(d["stp_state"], 1, "{d}");
            assert_eq!(d["forward_delay"], 400, "{d}");
            assert_eq!(d["hello_time"], 300, "{d}");
            assert_eq!(d["max_age"], 2500, "{d}");
            assert_eq!(d["ageing_time"], 12000, "{d}");
            assert_eq!(d["priority"], 4096, "{d}");
            assert_eq!(d["mcast_snooping"], 0, "{d}");
            for (port, cost, prio, learning, flood, hairpin, isolated) in [
                ("p0", 77, 9, false, false, true, true),
                ("p1", 5, 40, true, true, false, false),
            ] {
                let p = link(lab, "a", port);
                assert_eq!(p["master"], "br0", "{p}");
                let s = &p["linkinfo"]["info_slave_data"];
                assert_eq!(s["cost"], cost, "{port}: {s}");
                assert_eq!(s["priority"], prio, "{port}: {s}");
                assert_eq!(on(&s["learning"]), Some(learning), "{port}: {s}");
                assert_eq!(on(&s["flood"]), Some(flood), "{port}: {s}");
                assert_eq!(on(&s["hairpin"]), Some(hairpin), "{port}: {s}");
                assert_eq!(on(&s["isolated"]), Some(isolated), "{port}: {s}");
            }
        });
    }

    /// Once its ports forward, a spanning tree bridge is in a topology
    /// change for max_age + forward_delay, and the kernel reports twice
    /// forward_delay as its ageing time meanwhile: `up` must still find
    /// nothing to do (it set ageing_time again, 1 operation, before).
    #[test]
    fn an_stp_bridge_in_a_topology_change_is_in_sync() {
        let text = r#"
name: opt-tc
nodes:
  a:
    interfaces:
      br0: { kind: bridge, stp: true, forward_delay: 200, max_age: 2000, ageing_time: 12000, ports: [p0] }
      p0: {}
  b:
    interfaces:
      q0: {}
links:
  - [a/p0, b/q0]
"#;
        round_trip("opt-tc.yaml", text, |lab| {
            // The port forwards after twice forward_delay (4 s).
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            loop {
                let d = link(lab, "a", "br0")["linkinfo"]["info_data"].clone();
                if on(&d["topology_change"]) == Some(true) {
                    assert_eq!(d["ageing_time"], 400, "the kernel's temporary value: {d}");
                    break;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "no topology change: {d}"
                );
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
        });
    }

    /// A bridge `up` creates with many ports is built with multicast
    /// snooping off and gets it on once its ports are up (the plan's
    /// MANY_PORTS is 32): in the end it snoops, as the file (by default)
    /// asks, its ports forward, and a second `up` changes nothing.
    #[test]
    fn a_bridge_built_with_many_ports_ends_snooping() {
        let n = 40;
        let text = many_ports("opt-many", n);
        let ports: Vec<String> = (0..n).map(|i| format!("p{i}")).collect();
        round_trip("opt-many.yaml", &text, |lab| {
            let d = link(lab, "a", "br0")["linkinfo"]["info_data"].clone();
            assert_eq!(d["mcast_snooping"], 1, "{d}");
            for p in &ports {
                let s = link(lab, "a", p)["linkinfo"]["info_slave_data"].clone();
                assert_eq!(s["state"], "forwarding", "{p}: {s}");
            }
        });
    }

    #[test]
    fn macvlan_every_mode_and_source_macs_reach_the_kernel() {
        // passthru takes its lower for itself, so it gets a lower of its own;
        // the others share one, which lives in another node.
        let text = r#"
name: opt-macvlan
nodes:
  wire:
    interfaces:
      w0: {}
  sink:
    interfaces:
      s0: {}
      s1: {}
  a:
    interfaces:
      l1: {}
      mv1: { kind: macvlan, lower: wire/w0, mode: private }
      mv2: { kind: macvlan, lower: wire/w0, mode: vepa }
      mv3: { kind: macvlan, lower: wire/w0, mode: bridge }
      mv4: { kind: macvlan, lower: wire/w0, mode: source, source_macs: ["02:00:00:00:00:0a", "02:00:00:00:00:0b"] }
      mv5: { kind: macvlan, lower: l1, mode: passthru }
links:
  - [wire/w0, sink/s0]
  - [a/l1, sink/s1]
"#;
        round_trip("opt-macvlan.yaml", text, |lab| {
            for (dev, mode) in [
                ("mv1", "private"),
                ("mv2", "vepa"),
                ("mv3", "bridge"),
                ("mv4", "source"),
                ("mv5", "passthru"),
            ] {
                let l = link(lab, "a", dev);
                assert_eq!(l["linkinfo"]["info_kind"], "macvlan", "{l}");
                assert_eq!(l["linkinfo"]["info_data"]["mode"], mode, "{dev}: {l}");
            }
            assert_eq!(link(lab, "a", "mv5")["link"], "l1");
            assert!(link(lab, "a", "mv1").get("link_netnsid").is_some());
            let d = link(lab, "a", "mv4")["linkinfo"]["info_data"].clone();
            assert_eq!(d["macaddr_count"], 2, "{d}");
            let mut macs: Vec<Value> = d["macaddr_data"].as_array().cloned().unwrap_or_default();
            macs.sort_by_key(|m| m.to_string());
            assert_eq!(
                Value::Array(macs),
                json!(["02:00:00:00:00:0a", "02:00:00:00:00:0b"]),
                "{d}"
            );
        });
    }

    #[test]
    fn macvtap_modes_reach_the_kernel() {
        let text = r#"
name: opt-macvtap
nodes:
  a:
    interfaces:
      l0: {}
      l1: {}
      mt1: { kind: macvtap, lower: l0, mode: vepa }
      mt2: { kind: macvtap, lower: l0, mode: source, source_macs: ["02:00:00:00:00:0c"] }
      mt3: { kind: macvtap, lower: l1, mode: passthru }
  sink:
    interfaces:
      s0: {}
      s1: {}
links:
  - [a/l0, sink/s0]
  - [a/l1, sink/s1]
"#;
        round_trip("opt-macvtap.yaml", text, |lab| {
            for (dev, lower, mode) in [
                ("mt1", "l0", "vepa"),
                ("mt2", "l0", "source"),
                ("mt3", "l1", "passthru"),
            ] {
                let l = link(lab, "a", dev);
                assert_eq!(l["linkinfo"]["info_kind"], "macvtap", "{l}");
                assert_eq!(l["link"], lower, "{l}");
                assert_eq!(l["linkinfo"]["info_data"]["mode"], mode, "{dev}: {l}");
            }
            let d = link(lab, "a", "mt2")["linkinfo"]["info_data"].clone();
            assert_eq!(d["macaddr_data"], json!(["02:00:00:00:00:0c"]), "{d}");
        });
    }

    #[test]
    fn vxlan_every_option_reaches_the_kernel() {
        let text = r#"
name: opt-vxlan
nodes:
  a:
    interfaces:
      eth0: { addresses: [10.30.0.1/24] }
      vx0: { kind: vxlan, vni: 4242, local: 10.30.0.1, remote: 10.30.0.2, dev: eth0, dstport: 4790, ttl: 17, learning: false }
      vx1: { kind: vxlan, vni: 16777215, group: 239.1.1.1, dev: eth0, dstport: 8472, ttl: 1, learning: true }
  b:
    interfaces:
      eth0: { addresses: [10.30.0.2/24] }
links:
  - [a/eth0, b/eth0]
"#;
        round_trip("opt-vxlan.yaml", text, |lab| {
            let d = link(lab, "a", "vx0")["linkinfo"]["info_data"].clone();
            assert_eq!(d["id"], 4242, "{d}");
            assert_eq!(d["local"], "10.30.0.1", "{d}");
            assert_eq!(d["remote"], "10.30.0.2", "{d}");
            assert_eq!(d["link"], "eth0", "{d}");
            assert_eq!(d["port"], 4790, "{d}");
            assert_eq!(d["ttl"], 17, "{d}");
            assert_eq!(on(&d["learning"]), Some(false), "{d}");
            let d = link(lab, "a", "vx1")["linkinfo"]["info_data"].clone();
            assert_eq!(d["id"], 16777215, "{d}");
            assert_eq!(d["group"], "239.1.1.1", "{d}");
            assert_eq!(d["link"], "eth0", "{d}");
            assert_eq!(d["port"], 8472, "{d}");
            assert_eq!(d["ttl"], 1, "{d}");
            assert_eq!(on(&d["learning"]), Some(true), "{d}");
        });
    }

    #[test]
    fn tun_tap_owner_group_multi_queue_reach_the_kernel() {
        let text = r#"
name: opt-tun
nodes:
  a:
    interfaces:
      tun0: { kind: tun, owner: 1234, group: 4321, persist: true }
      tap0: { kind: tap, owner: 0, multi_queue: true }
      tap1: { kind: tap, group: 4322, multi_queue: false }
"#;
        round_trip("opt-tun.yaml", text, |lab| {
            for (dev, kind, user, group, mq) in [
                ("tun0", "tun", Some(1234), Some(4321), false),
                ("tap0", "tap", Some(0), None, true),
                ("tap1", "tap", None, Some(4322), false),
            ] {
                let l = link(lab, "a", dev);
                assert_eq!(l["linkinfo"]["info_kind"], "tun", "{l}");
                let d = &l["linkinfo"]["info_data"];
                assert_eq!(d["type"], kind, "{dev}: {d}");
                assert_eq!(on(&d["persist"]), Some(true), "{dev}: {d}");
                assert_eq!(on(&d["multi_queue"]), Some(mq), "{dev}: {d}");
                // iproute2 prints a name when the id has one, else the number.
                let id = |v: &Value| {
                    v.as_u64()
                        .map(|n| n.to_string())
                        .or_else(|| v.as_str().map(str::to_string))
                };
                match user {
                    Some(0) => assert!(
                        matches!(id(&d["user"]).as_deref(), Some("0" | "root")),
                        "{dev}: {d}"
                    ),
                    Some(u) => assert_eq!(id(&d["user"]), Some(u.to_string()), "{dev}: {d}"),
                    None => assert!(d.get("user").is_none(), "{dev}: {d}"),
                }
                match group {
                    Some(g) => assert_eq!(id(&d["group"]), Some(g.to_string()), "{dev}: {d}"),
                    None => assert!(d.get("group").is_none(), "{dev}: {d}"),
                }
            }
        });
    }
}
