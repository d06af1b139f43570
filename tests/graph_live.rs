//! `netloom graph --live` over a running network in a sandbox: admin state
//! and carrier, drift, STP port states, failed expectations, the active
//! port of a bond (in the VM), read back from `--format json`.
#[path = "support/common/mod.rs"]
mod common;

/// In a module so `vm/test.sh graph_live` selects these tests.
mod graph_live {
    use std::time::{Duration, Instant};

    use serde_json::Value;

    use super::common::Lab;

    fn live(lab: &Lab, extra: &[&str]) -> Value {
        let mut args = vec!["--live", "--format", "json"];
        args.extend_from_slice(extra);
        let r = lab.expect("graph", &args, 0);
        serde_json::from_str(&r.out).unwrap()
    }

    fn iface<'a>(g: &'a Value, id: &str) -> &'a Value {
        g["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|n| n["interfaces"].as_array().unwrap())
            .find(|i| i["id"] == id)
            .unwrap_or_else(|| panic!("{id} not in {g:#}"))
    }

    fn ports(g: &Value) -> Vec<&Value> {
        g["edges"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["relation"] == "port")
            .collect()
    }

    /// Poll the live graph until `f` holds (STP and bonds settle in seconds).
    fn until(lab: &Lab, secs: u64, f: impl Fn(&Value) -> bool) -> Value {
        let end = Instant::now() + Duration::from_secs(secs);
        loop {
            let g = live(lab, &[]);
            if f(&g) || Instant::now() > end {
                return g;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    #[test]
    fn the_live_graph_shows_state_stp_drift_and_what_is_missing() {
        let lab = Lab::new("05-stp-loop.yaml");
        lab.expect("up", &[], 0);
        // Two STP bridges joined twice: once converged, one of the four
        // ports between them blocks and the others forward.
        let blocking = |g: &Value| {
            ports(g).iter().filter(|e| e["stp"] == "blocking").count() == 1
                && ports(g).iter().filter(|e| e["stp"] == "forwarding").count() == 5
        };
        let g = until(&lab, 20, blocking);
        assert!(blocking(&g), "no converged STP in {:#}", g["edges"]);
        assert_eq!(g["live"], true);
        for id in ["sw1/br0", "sw1/p1", "sw2/p2", "h1/eth0"] {
            let s = &iface(&g, id)["state"];
            assert_eq!(s["present"], true, "{id}");
            assert_eq!(s["up"], true, "{id}");
            assert_eq!(s["carrier"], true, "{id}");
            assert!(s["drift"].is_null(), "{id}: {s}");
        }
        // A change behind netloom's back shows as drift on that interface.
        let r = lab.exec(
            "sw1",
            &[
                "ip", "link", "set", "br0", "type", "bridge", "priority", "8192",
            ],
        );
        assert_eq!(r.code, 0, "{}", r.text());
        let g = live(&lab, &[]);
        let drift = iface(&g, "sw1/br0")["state"]["drift"]
            .as_str()
            .unwrap_or("")
            .to_string();
        assert!(
            drift.contains("priority 8192 (want 4096)"),
            "no drift on sw1/br0: {:#}",
            iface(&g, "sw1/br0")
        );
        // The DOT picture has the legend and colours the blocking port.
        let dot = lab.expect("graph", &["--live", "--format", "dot"], 0).out;
        assert!(dot.contains("legend") && dot.contains("blocking"), "{dot}");
        lab.expect("down", &[], 0);
        let g = live(&lab, &[]);
        assert_eq!(iface(&g, "sw1/br0")["state"]["present"], false);
        assert!(iface(&g, "h1/eth0")["state"]["drift"].is_string());
        lab.assert_no_residue();
    }

    #[test]
    fn failed_expectations_are_drawn_after_a_verify() {
        let text =
            std::fs::read_to_string(super::common::root().join("examples/01-veth-pair.yaml"))
                .unwrap()
                .replace(
                    "  - reach: b -> a",
                    "  - reach: b -> a\n  - isolated: a -> b",
                );
        let lab = Lab::from_text("veth.yaml", &text);
        lab.expect("up", &[], 0);
        let g = live(&lab, &["--verify"]);
        let failed = g["failed"].as_array().unwrap();
        assert_eq!(failed.len(), 1, "{g:#}");
        assert_eq!(failed[0]["from"], "a/eth0");
        assert_eq!(failed[0]["to"], "b/eth0");
        assert!(failed[0]["text"].as_str().unwrap().contains("isolated"));
        // Without --verify nothing is proved, so nothing is drawn as failed.
        assert!(live(&lab, &[])["failed"].as_array().unwrap().is_empty());
        lab.expect("down", &[], 0);
    }

    #[test]
    #[ignore = "needs a kernel with bonding: runs in the VM"]
    fn the_active_port_of_a_bond_is_drawn() {
        let lab = Lab::new("07-bond-active-backup.yaml");
        lab.expect("up", &[], 0);
        let bond_ports = |g: &Value| -> Vec<(String, Value)> {
            ports(g)
                .into_iter()
                .filter(|e| e["to"] == "a/bond0")
                .map(|e| (e["from"].as_str().unwrap().to_string(), e["active"].clone()))
                .collect()
        };
        let g = until(&lab, 20, |g| bond_ports(g).iter().any(|(_, a)| *a == true));
        let got = bond_ports(&g);
        assert_eq!(
            got,
            vec![
                ("a/eth0".to_string(), Value::Bool(true)),
                ("a/eth1".to_string(), Value::Bool(false))
            ],
            "the primary eth0 is the active port"
        );
        // Cut the primary: the other port takes over, and the picture says so.
        let r = lab.exec("a", &["ip", "link", "set", "eth0", "down"]);
        assert_eq!(r.code, 0, "{}", r.text());
        let g = until(&lab, 20, |g| {
            bond_ports(g).contains(&("a/eth1".to_string(), Value::Bool(true)))
        });
        assert!(
            bond_ports(&g).contains(&("a/eth1".to_string(), Value::Bool(true))),
            "{:?}",
            bond_ports(&g)
        );
        assert_eq!(iface(&g, "a/eth0")["state"]["up"], false);
        lab.expect("down", &[], 0);
    }
}
