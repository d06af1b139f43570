//! Static forwarding entries and head-end replication through the binary:
//! example 18-vxlan-her's life cycle, its flood lists read back from the
//! kernel, proof that the flood list (not learning) carries broadcasts and
//! that a static entry carries unicast, and entries that drift are seen and
//! put back.
#[path = "support/common/mod.rs"]
mod common;

use common::Lab;

/// The vxlan's own entries in `bridge -j fdb show dev DEV` inside a node
/// (not its bridge's entries for it as a port): (mac, dst, state).
fn fdb(lab: &Lab, node: &str, dev: &str) -> Vec<(String, String, String)> {
    let r = lab.exec(node, &["bridge", "-j", "fdb", "show", "dev", dev]);
    assert_eq!(r.code, 0, "{}", r.text());
    let v: serde_json::Value = serde_json::from_str(&r.out).expect("bridge -j output");
    let mut out: Vec<_> = v
        .as_array()
        .expect("a list")
        .iter()
        .filter(|e| e["master"].is_null())
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            (s("mac"), s("dst"), s("state"))
        })
        .collect();
    out.sort();
    out
}

fn ping(lab: &Lab, from: &str, to: &str) -> bool {
    lab.exec(from, &["ping", "-c", "1", "-W", "1", to]).code == 0
}

fn sh_in(lab: &Lab, node: &str, cmd: &[&str]) {
    let r = lab.exec(node, cmd);
    assert_eq!(r.code, 0, "{cmd:?}: {}", r.text());
}

#[test]
fn head_end_replication_floods_to_every_listed_vtep() {
    let lab = Lab::new("18-vxlan-her.yaml");
    common::life_cycle(
        &lab,
        ("remotes: [10.9.0.1, 10.9.0.3] }", "remotes: [10.9.0.1] }"),
        "h2: fdb del 00:00:00:00:00:00 dev vx0 dst 10.9.0.3",
        |lab| {
            // Read back from the kernel: one flood entry per remote, the
            // static entry for c3, and learning off.
            let zero = "00:00:00:00:00:00".to_string();
            let flood = |dst: &str| (zero.clone(), dst.to_string(), "permanent".to_string());
            assert_eq!(
                fdb(lab, "h1", "vx0"),
                vec![
                    flood("10.9.0.2"),
                    flood("10.9.0.3"),
                    (
                        "02:00:00:00:01:03".into(),
                        "10.9.0.3".into(),
                        "permanent".into()
                    ),
                ]
            );
            let vx = common::link(lab, "h1", "vx0");
            assert_eq!(vx["linkinfo"]["info_data"]["learning"], false, "{vx}");
            assert!(ping(lab, "c1", "10.100.0.2") && ping(lab, "c2", "10.100.0.3"));

            // Without its flood entry to h2, h1 reaches c2 no more: learning
            // is off, so nothing but the flood list sends frames to h2.
            sh_in(
                lab,
                "h1",
                &[
                    "bridge",
                    "fdb",
                    "del",
                    "00:00:00:00:00:00",
                    "dev",
                    "vx0",
                    "dst",
                    "10.9.0.2",
                ],
            );
            assert!(
                !ping(lab, "c1", "10.100.0.2"),
                "c2 reached without a way to h2"
            );
            let pending = lab.pending();
            assert_eq!(pending.len(), 1, "{pending:#?}");
            assert!(
                pending[0].ends_with("h1: fdb append 00:00:00:00:00:00 dev vx0 dst 10.9.0.2"),
                "{pending:#?}"
            );
            let st = lab.expect("status", &[], 2);
            assert!(
                st.out.lines().any(|l| l
                    .starts_with("h1 fdb 00:00:00:00:00:00 dev vx0 dst 10.9.0.2")
                    && l.contains("missing")),
                "{}",
                st.out
            );
            let r = lab.expect("up", &[], 0);
            assert!(r.out.contains(": 1 operation"), "{}", r.text());
            assert!(
                ping(lab, "c1", "10.100.0.2"),
                "c2 not reached once h1 floods to h2 again"
            );

            // Without its flood entry to h3, h1 still reaches c3 by unicast:
            // the static entry names c3's VTEP (c1 is told c3's address, as
            // the broadcast asking for it would no longer reach h3).
            sh_in(
                lab,
                "h1",
                &[
                    "bridge",
                    "fdb",
                    "del",
                    "00:00:00:00:00:00",
                    "dev",
                    "vx0",
                    "dst",
                    "10.9.0.3",
                ],
            );
            sh_in(
                lab,
                "c1",
                &[
                    "ip",
                    "neigh",
                    "replace",
                    "10.100.0.3",
                    "lladdr",
                    "02:00:00:00:01:03",
                    "dev",
                    "eth0",
                    "nud",
                    "permanent",
                ],
            );
            assert!(
                ping(lab, "c1", "10.100.0.3"),
                "the static entry did not carry c1 -> c3"
            );
            sh_in(
                lab,
                "h1",
                &["bridge", "fdb", "del", "02:00:00:00:01:03", "dev", "vx0"],
            );
            assert!(
                !ping(lab, "c1", "10.100.0.3"),
                "c3 reached with neither a static nor a flood entry"
            );
            sh_in(
                lab,
                "c1",
                &["ip", "neigh", "del", "10.100.0.3", "dev", "eth0"],
            );

            // A bridge entry lost and a foreign static one added on a
            // netloom bridge: `up` puts the file's back, removes the other.
            sh_in(
                lab,
                "h1",
                &[
                    "bridge",
                    "fdb",
                    "del",
                    "02:00:00:00:01:01",
                    "dev",
                    "c",
                    "master",
                ],
            );
            sh_in(
                lab,
                "h1",
                &[
                    "bridge",
                    "fdb",
                    "add",
                    "02:00:00:00:00:77",
                    "dev",
                    "c",
                    "master",
                    "static",
                ],
            );
            let st = lab.expect("status", &[], 2);
            assert!(
                st.out.lines().any(
                    |l| l.starts_with("h1 fdb 02:00:00:00:00:77 dev c master br0")
                        && l.contains("orphaned")
                ),
                "{}",
                st.out
            );
            let pending = lab.pending();
            assert_eq!(pending.len(), 4, "{pending:#?}");
            lab.expect("up", &[], 0);
            assert!(lab.pending().is_empty());
            let statics: Vec<String> = lab
                .exec("h1", &["bridge", "fdb", "show", "br", "br0"])
                .out
                .lines()
                // Not the copies a kernel with VLAN filtering built in
                // makes for the port's default VLAN (see kernel::fdb).
                .filter(|l| l.ends_with(" static") && !l.contains(" vlan "))
                .map(str::to_string)
                .collect();
            assert_eq!(statics, ["02:00:00:00:01:01 dev c master br0 static"]);
            assert!(ping(lab, "c1", "10.100.0.3") && ping(lab, "c3", "10.100.0.1"));
        },
    );
}

/// On a bridge filtering VLANs: an entry for one VLAN of its port, and one
/// without `vlan`, which the kernel adds for every VLAN of the port (and
/// netloom observes as that one entry): up converges, a second up does
/// nothing, and the kernel shows each.
#[test]
#[ignore = "needs a kernel with bridge VLAN filtering: runs in the VM"]
fn entries_per_vlan_on_a_filtering_bridge() {
    let text = "name: fdbvlan
nodes:
  sw:
    interfaces:
      br0:
        kind: bridge
        vlan_filtering: true
        ports: { p1: { vlans: [{ vid: 10, pvid: true, untagged: true }, 20] }, p2: {} }
        fdb:
          - { mac: 02:00:00:00:00:0a, port: p1, vlan: 20 }
          - { mac: 02:00:00:00:00:0b, port: p1 }
          - { mac: 02:00:00:00:00:0c, port: p2 }
      p1: {}
      p2: {}
  a:
    interfaces:
      eth0: {}
  b:
    interfaces:
      eth0: {}
links:
  - [sw/p1, a/eth0]
  - [sw/p2, b/eth0]
";
    common::round_trip("fdbvlan.yaml", text, |lab| {
        let r = lab.exec("sw", &["bridge", "fdb", "show", "br", "br0"]);
        let statics: Vec<&str> = r.out.lines().filter(|l| l.ends_with(" static")).collect();
        for want in [
            "02:00:00:00:00:0a dev p1 vlan 20 master br0 static",
            "02:00:00:00:00:0b dev p1 vlan 10 master br0 static",
            "02:00:00:00:00:0b dev p1 vlan 20 master br0 static",
            "02:00:00:00:00:0b dev p1 master br0 static",
            "02:00:00:00:00:0c dev p2 master br0 static",
        ] {
            assert!(statics.contains(&want), "no `{want}` in:\n{}", r.out);
        }
        let st = lab.expect("status", &[], 0);
        assert!(
            st.out.lines().any(|l| l
                .starts_with("sw fdb 02:00:00:00:00:0a dev p1 master br0 vlan 20 ")
                && l.ends_with("in sync")),
            "{}",
            st.out
        );
    });
}

/// The file drops every entry of a node: netloom still reads that node's
/// entries (its records say it added some there) and deletes them; then it
/// stops reading them, and `down` leaves no records behind.
#[test]
fn entries_the_file_drops_are_deleted() {
    let lab = Lab::from_text(
        "drop.yaml",
        "name: drop
nodes:
  sw:
    interfaces:
      br0: { kind: bridge, ports: [p1], fdb: [{ mac: 02:00:00:00:00:09, port: p1 }] }
      p1: {}
  a:
    interfaces:
      eth0: {}
links:
  - [sw/p1, a/eth0]
",
    );
    lab.expect("up", &[], 0);
    let statics = |lab: &Lab| {
        lab.exec("sw", &["bridge", "fdb", "show", "br", "br0"])
            .out
            .lines()
            .filter(|l| l.ends_with(" static") && !l.contains(" vlan "))
            .count()
    };
    assert_eq!(statics(&lab), 1);
    lab.edit(", fdb: [{ mac: 02:00:00:00:00:09, port: p1 }]", "");
    let pending = lab.pending();
    assert_eq!(pending.len(), 1, "{pending:#?}");
    assert!(
        pending[0].ends_with("sw: fdb del 02:00:00:00:00:09 dev p1 master br0"),
        "{pending:#?}"
    );
    lab.expect("up", &[], 0);
    assert_eq!(statics(&lab), 0);
    assert!(lab.pending().is_empty());
    lab.expect("down", &[], 0);
    lab.assert_no_residue();
}

/// A bridge id `prio.mac` with each byte as a number, however padded.
fn bridge_id(s: &str) -> Vec<u64> {
    s.split(['.', ':'])
        .map(|p| u64::from_str_radix(p, 16).unwrap_or(u64::MAX))
        .collect()
}

/// `netloom fdb` against the kernel's own views: its MAC table is `bridge
/// -j fdb show`'s for that bridge, its ports' states, costs and priorities
/// `bridge -j link`'s, their designated root and bridge `ip -d link`'s,
/// and the roles follow: on the bridge that is not the root, one root port
/// and one alternate (the blocking one of the loop).
#[test]
fn fdb_shows_what_bridge_shows() {
    let lab = Lab::new("05-stp-loop.yaml");
    lab.expect("up", &["--verify"], 0);
    let file = lab.file.to_string_lossy().into_owned();
    let json = |args: &[&str]| -> serde_json::Value {
        let r = lab.netloom(args);
        assert_eq!(r.code, 0, "{}", r.text());
        serde_json::from_str(&r.out).expect("JSON")
    };
    let kernel = |cmd: &[&str]| -> serde_json::Value {
        let r = lab.exec("sw2", cmd);
        assert_eq!(r.code, 0, "{}", r.text());
        serde_json::from_str(&r.out).expect("JSON")
    };
    // The MAC table, read alike (retried while traffic changes it between reads).
    let table = |v: &serde_json::Value, ours: bool| -> Vec<String> {
        let mut rows: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| ours || e["master"] == "br0")
            .map(|e| {
                let (port, state) = if ours {
                    (
                        e["port"].clone(),
                        e["origin"].as_str().unwrap().replace("learned", ""),
                    )
                } else {
                    (
                        e["ifname"].clone(),
                        e["state"].as_str().unwrap().replace("stale", ""),
                    )
                };
                format!(
                    "{} {} {} {}",
                    e["mac"],
                    port,
                    e["vlan"].as_u64().unwrap_or(0),
                    state
                )
            })
            .collect();
        rows.sort();
        rows
    };
    let mut agreed = false;
    for _ in 0..5 {
        let before = table(
            &kernel(&["bridge", "-j", "fdb", "show", "br", "br0"]),
            false,
        );
        let ours = table(&json(&["fdb", &file, "sw2/br0", "--json"])["entries"], true);
        let after = table(
            &kernel(&["bridge", "-j", "fdb", "show", "br", "br0"]),
            false,
        );
        if before == after {
            assert_eq!(ours, before);
            assert!(ours.iter().any(|r| r.ends_with(" permanent")), "{ours:#?}");
            agreed = true;
            break;
        }
    }
    assert!(agreed, "the table kept changing");
    // The spanning tree per port.
    let r = json(&["fdb", &file, "sw2/br0", "--json"]);
    let links = kernel(&["bridge", "-j", "link"]);
    let ports = r["stp"]["ports"].as_array().unwrap();
    assert_eq!(ports.len(), 3, "{r}");
    for p in ports {
        let name = p["name"].as_str().unwrap();
        let k = links
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["ifname"] == name)
            .unwrap_or_else(|| panic!("{name} not in bridge link"));
        for (ours, theirs) in [
            ("state", "state"),
            ("cost", "cost"),
            ("priority", "priority"),
        ] {
            assert_eq!(p[ours], k[theirs], "{name} {ours}: {p} / {k}");
        }
        let d = &kernel(&["ip", "-d", "-j", "link", "show", "dev", name])[0]["linkinfo"]
            ["info_slave_data"];
        assert_eq!(
            bridge_id(p["designated_root"].as_str().unwrap()),
            bridge_id(d["root_id"].as_str().unwrap()),
            "{name}"
        );
        assert_eq!(
            bridge_id(p["designated_bridge"].as_str().unwrap()),
            bridge_id(d["bridge_id"].as_str().unwrap()),
            "{name}"
        );
        assert_eq!(p["designated_port"], d["designated_port"], "{name}");
    }
    let role = |n: &str| ports.iter().find(|p| p["name"] == n).unwrap()["role"].clone();
    let roles: Vec<serde_json::Value> = ["p1", "p2", "h"].map(role).to_vec();
    assert_eq!(roles, ["root", "alternate", "designated"], "{r}");
    // The human table names both.
    let t = lab.netloom(&["fdb", &file, "sw2/br0"]);
    assert!(t.out.contains("p2    alternate   blocking"), "{}", t.out);
    lab.expect("down", &[], 0);
}
