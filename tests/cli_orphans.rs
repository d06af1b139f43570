//! Objects a topology created earlier and the file no longer names are shown
//! as orphaned by `status`, removed by `up`, and `down` works from netloom's
//! records alone (by name, without the file).
#[path = "support/common/mod.rs"]
mod common;

use common::Lab;

#[test]
fn removed_container_is_orphaned_then_removed() {
    let lab = Lab::new("03-lxc-nat.yaml");
    lab.expect("up", &[], 0);
    // Drop container c2: its node, its link, and its bridge port.
    let text = std::fs::read_to_string(&lab.file).unwrap();
    let start = text.find("  c2:\n").unwrap();
    let end = text[start..].find("  isp:\n").unwrap() + start;
    let text = format!("{}{}", &text[..start], &text[end..])
        .replace("ports: [veth1, veth2]", "ports: [veth1]")
        .replace("      veth2: {}\n", "")
        .replace("  - [gw/veth2, c2/eth0]\n", "")
        .replace("  - reach: c2 -> 100.64.0.2\n    probe: icmp\n", "")
        .replace("  - reach: c1 -> 10.0.3.79\n", "");
    std::fs::write(&lab.file, text).unwrap();
    lab.expect("validate", &[], 0);
    let st = lab.expect("status", &[], 2);
    assert!(
        st.out
            .lines()
            .any(|l| l.starts_with("node c2") && l.contains("orphaned")),
        "{}",
        st.out
    );
    assert!(
        st.out
            .lines()
            .any(|l| l.starts_with("gw/veth2") && l.contains("orphaned")),
        "{}",
        st.out
    );
    let plan = lab.expect("plan", &[], 2);
    assert!(plan.out.contains("c2: netns del"), "{}", plan.out);
    lab.expect("up", &[], 0);
    assert!(
        lab.sh("ls /run/netns")
            .out
            .lines()
            .all(|l| !l.ends_with(".c2")),
        "c2 survived"
    );
    lab.expect("status", &[], 0);
    lab.expect("verify", &[], 0);
    // The file is gone: down by name still removes everything.
    std::fs::remove_file(&lab.file).unwrap();
    let r = lab.netloom(&["down", "--name", "lxc"]);
    assert_eq!(r.code, 0, "{}", r.text());
    lab.assert_no_residue();
}

#[test]
fn plan_exit_codes_and_json() {
    let lab = Lab::new("01-veth-pair.yaml");
    let r = lab.expect("plan", &["--json"], 2);
    let v: serde_json::Value = serde_json::from_str(&r.out).expect("plan --json is JSON");
    assert!(v["steps"].as_array().is_some_and(|s| !s.is_empty()), "{v}");
    lab.expect("up", &["--json"], 0);
    lab.expect("plan", &[], 0);
    let st = lab.expect("status", &["--json"], 0);
    let v: serde_json::Value = serde_json::from_str(&st.out).expect("status --json is JSON");
    assert!(
        v["objects"]
            .as_array()
            .is_some_and(|o| o.iter().all(|x| x["state"] == "InSync")),
        "{v}"
    );
    let bad = lab.netloom(&["plan", "/nonexistent.yaml"]);
    assert_eq!(bad.code, 1, "{}", bad.text());
    lab.expect("down", &[], 0);
    lab.assert_no_residue();
}
