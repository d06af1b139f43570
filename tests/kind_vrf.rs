//! The vrf kind (examples/16-vrf.yaml): two tenants with overlapping
//! addresses in one router node stay apart, proved by traffic; the vrf and
//! its ports are read back option by option from the kernel. Ignored on
//! the host (no vrf driver); the VM runs it: `vm/test.sh kind_vrf`.
#[path = "support/common/mod.rs"]
mod common;

/// In a module so `vm/test.sh kind_vrf` selects exactly these tests.
mod kind_vrf {
    use super::common::{self, link, Lab};

    #[test]
    #[ignore = "needs a kernel with vrf: runs in the VM"]
    fn tenants_with_overlapping_addresses_stay_apart() {
        let lab = Lab::new("16-vrf.yaml");
        let edit = (
            "red: { kind: vrf, table: 10,",
            "red: { kind: vrf, table: 10, mtu: 9000,",
        );
        common::life_cycle(&lab, edit, "mtu 9000", |lab| {
            // The vrfs as the kernel has them: kind and table.
            for (vrf, table) in [("red", 10), ("blue", 20)] {
                let l = link(lab, "r", vrf);
                assert_eq!(l["linkinfo"]["info_kind"], "vrf", "{l}");
                assert_eq!(l["linkinfo"]["info_data"]["table"], table, "{l}");
            }
            // Their ports, each with its master and its address.
            for (port, vrf) in [
                ("r1a", "red"),
                ("r1b", "red"),
                ("r2a", "blue"),
                ("r2b", "blue"),
            ] {
                let l = link(lab, "r", port);
                assert_eq!(l["master"], vrf, "{l}");
            }
            // Each table routes only its own tenant's subnets.
            let red = lab.exec("r", &["ip", "-4", "route", "show", "table", "10"]);
            assert!(
                red.out.contains("10.16.2.0/24") && !red.out.contains("10.16.3.0/24"),
                "{}",
                red.text()
            );
            let blue = lab.exec("r", &["ip", "-4", "route", "show", "table", "20"]);
            assert!(
                blue.out.contains("10.16.3.0/24") && !blue.out.contains("10.16.2.0/24"),
                "{}",
                blue.text()
            );
            // By traffic, beside verify's own probes: the same source
            // address reaches its own tenant's far site and not the other's.
            let ping =
                |node: &str, to: &str| lab.exec(node, &["ping", "-c", "1", "-W", "2", to]).code;
            assert_eq!(ping("t1a", "10.16.2.2"), 0);
            assert_eq!(ping("t2a", "10.16.3.2"), 0);
            assert_ne!(ping("t1a", "10.16.3.2"), 0);
            assert_ne!(ping("t2a", "10.16.2.2"), 0);
        });
    }

    /// A new table is a new device (the driver has no changelink).
    #[test]
    #[ignore = "needs a kernel with vrf: runs in the VM"]
    fn a_new_table_makes_the_vrf_anew_and_keeps_its_ports() {
        let lab = Lab::new("16-vrf.yaml");
        lab.expect("up", &[], 0);
        lab.edit(
            "blue: { kind: vrf, table: 20,",
            "blue: { kind: vrf, table: 21,",
        );
        let pending = lab.pending();
        assert!(
            pending.iter().any(|p| p.contains("link del blue")),
            "{pending:#?}"
        );
        lab.expect("up", &[], 0);
        assert!(lab.pending().is_empty(), "not converged");
        let l = link(&lab, "r", "blue");
        assert_eq!(l["linkinfo"]["info_data"]["table"], 21, "{l}");
        assert_eq!(link(&lab, "r", "r2b")["master"], "blue");
        lab.expect("verify", &[], 0);
        lab.expect("down", &[], 0);
        lab.assert_no_residue();
    }
}
