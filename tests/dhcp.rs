//! DHCP and DNS served by dnsmasq, and netloom's DHCP client, through the
//! real binary in a sandbox: supervision (identity, kill, restart, option
//! change, rollback, crash, down), leases, renewals and name resolution.
mod common;

use std::time::Instant;

use common::{Lab, Run};

/// An LXC-style segment: gw's bridge serves DHCP and DNS; c1 is static.
const LAB: &str = "name: lxc
nodes:
  gw:
    forwarding: true
    interfaces:
      lxcbr0: { kind: bridge, stp: false, addresses: [10.0.3.1/24], ports: [veth1], dhcp: { range: 10.0.3.100-10.0.3.200, lease_time: 1h, hosts: { c1: 10.0.3.78 } } }
      veth1: {}
      uplink0: { addresses: [100.64.0.1/30] }
    nat:
      - masquerade: { source: 10.0.3.0/24, out: uplink0 }
  c1:
    interfaces:
      eth0: { addresses: [10.0.3.78/24] }
  isp:
    interfaces:
      eth0: { addresses: [100.64.0.2/30] }
links:
  - [gw/veth1, c1/eth0]
  - [gw/uplink0, isp/eth0]
expect:
  - reach: c1 -> 10.0.3.1
";

/// The pid `status` reports for service `name`, if it runs.
fn pid_of(lab: &Lab, name: &str) -> Option<u32> {
    let st = lab.verb("status", &["--json"]);
    let v: serde_json::Value = serde_json::from_str(&st.out).expect("status --json");
    v["services"]
        .as_array()?
        .iter()
        .find(|s| s["name"] == name && s["running"] == true)
        .and_then(|s| s["pid"].as_u64())
        .map(|p| p as u32)
}

/// `readlink /proc/PID/exe` in the sandbox.
fn exe_of(lab: &Lab, pid: u32) -> String {
    lab.sh(&format!("readlink /proc/{pid}/exe")).out.trim().to_string()
}

/// Whether process `pid` is alive and not a zombie.
fn alive(lab: &Lab, pid: u32) -> bool {
    let r = lab.sh(&format!("awk '{{print $3}}' /proc/{pid}/stat 2>/dev/null"));
    let state = r.out.trim();
    !state.is_empty() && state != "Z"
}

/// What the sandbox holds of netloom's services: live processes of
/// dnsmasq or of netloom's agents in this sandbox, and their files.
fn leftovers(lab: &Lab) -> String {
    lab.sh(
        "me=$(readlink /proc/self/ns/mnt); for p in /proc/[0-9]*; do \
         [ \"$(readlink $p/ns/mnt 2>/dev/null)\" = \"$me\" ] || continue; \
         [ \"$(awk '{print $3}' $p/stat 2>/dev/null)\" = Z ] && continue; \
         case \"$(readlink $p/exe)\" in */dnsmasq) echo \"process: dnsmasq $p\";; \
         */netloom*) tr '\\0' '\\n' < $p/cmdline | grep -qx agent && echo \"process: agent $p\";; esac; done; \
         ls -A /run/netloom/services 2>/dev/null; ls -A /etc/netns 2>/dev/null; true",
    )
    .out
}

fn nslookup(lab: &Lab, node: &str, name: &str, server: &str) -> Run {
    lab.exec(node, &["busybox", "nslookup", name, server])
}

#[test]
fn dnsmasq_serves_dns_and_is_supervised() {
    let lab = Lab::from_text("lxc.yaml", LAB);
    lab.expect("up", &[], 0);
    let pid = pid_of(&lab, "dnsmasq-lxcbr0").expect("dnsmasq runs");
    assert!(exe_of(&lab, pid).ends_with("/dnsmasq"), "{}", exe_of(&lab, pid));
    // In gw's namespace, bound to lxcbr0's address only, hermetic.
    let ns = lab.sh(&format!(
        "[ $(stat -Lc %i /proc/{pid}/ns/net) = $(stat -Lc %i /run/netns/netloom-lxc.gw) ] && echo same"
    ));
    assert_eq!(ns.out.trim(), "same", "{}", ns.text());
    let ss = lab.exec("gw", &["ss", "-Hlnu", "sport = :53"]);
    assert!(ss.out.contains("10.0.3.1:53"), "{}", ss.text());
    assert!(!ss.out.contains("0.0.0.0:53") && !ss.out.contains("*:53"), "{}", ss.text());
    let cmdline = lab.sh(&format!("tr '\\0' ' ' < /proc/{pid}/cmdline")).out;
    for flag in ["--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--no-ping", "--interface=lxcbr0"] {
        assert!(cmdline.contains(flag), "{flag} missing: {cmdline}");
    }
    // The topology's names, answered by it.
    let r = nslookup(&lab, "c1", "c1.lxc", "10.0.3.1");
    assert!(r.out.contains("10.0.3.78"), "{}", r.text());
    let r = nslookup(&lab, "c1", "gw.lxc", "10.0.3.1");
    assert!(r.out.contains("10.0.3.1"), "{}", r.text());
    let again = lab.expect("up", &[], 0);
    assert!(again.out.contains(": 0 operation"), "{}", again.text());

    // Killed: status says so, the next up starts it again.
    lab.sh(&format!("kill -9 {pid}"));
    let st = lab.expect("status", &[], 2);
    assert!(st.out.contains("gw service dnsmasq-lxcbr0") && st.out.contains("missing"), "{}", st.out);
    assert!(st.out.contains("service gw dnsmasq-lxcbr0: NOT RUNNING"), "{}", st.out);
    let up = lab.expect("up", &[], 0);
    assert!(up.out.contains(": 1 operation"), "{}", up.text());
    let pid2 = pid_of(&lab, "dnsmasq-lxcbr0").expect("dnsmasq runs again");
    assert_ne!(pid, pid2);
    lab.expect("status", &[], 0);

    // Its options changed: restarted, once.
    lab.edit("lease_time: 1h", "lease_time: 2h");
    let pending = lab.pending();
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert!(pending[0].contains("service restart dnsmasq-lxcbr0"), "{pending:?}");
    lab.expect("up", &[], 0);
    let pid3 = pid_of(&lab, "dnsmasq-lxcbr0").expect("dnsmasq runs");
    assert!(pid3 != pid2 && !alive(&lab, pid2));
    assert!(lab.pending().is_empty());

    lab.expect("down", &[], 0);
    assert!(!alive(&lab, pid3), "dnsmasq survived down");
    assert_eq!(leftovers(&lab), "");
    lab.assert_no_residue();
}

#[test]
fn down_by_name_and_after_a_crash_stops_dnsmasq() {
    let lab = Lab::from_text("lxc.yaml", LAB);
    lab.expect("up", &[], 0);
    let pid = pid_of(&lab, "dnsmasq-lxcbr0").expect("dnsmasq runs");
    std::fs::remove_file(&lab.file).unwrap();
    let r = lab.netloom(&["down", "--name", "lxc"]);
    assert_eq!(r.code, 0, "{}", r.text());
    assert!(!alive(&lab, pid), "dnsmasq survived down --name");
    assert_eq!(leftovers(&lab), "");
    lab.assert_no_residue();

    // `up` killed at moments around the start of dnsmasq: whatever it
    // left, `down --name` stops.
    std::fs::write(&lab.file, LAB).unwrap();
    let t = Instant::now();
    lab.expect("up", &[], 0);
    let full = t.elapsed();
    lab.expect("down", &[], 0);
    for tenth in [3, 5, 7, 9] {
        let file = lab.file.to_string_lossy().into_owned();
        let mut child = lab
            .sb
            .command(common::netloom_bin())
            .args(["up", &file])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(full * tenth / 10);
        let _ = child.kill();
        let _ = child.wait();
        let r = lab.netloom(&["down", "--name", "lxc"]);
        assert_eq!(r.code, 0, "{}", r.text());
        assert_eq!(leftovers(&lab), "", "after a kill at {tenth}/10 of up");
        lab.assert_no_residue();
    }
}

#[test]
fn a_failed_up_stops_the_dnsmasq_it_started() {
    let lab = Lab::from_text("lxc.yaml", LAB);
    let plan = lab.pending();
    let nat = plan
        .iter()
        .position(|l| l.contains("nft masquerade"))
        .expect("a NAT step");
    let service = plan
        .iter()
        .position(|l| l.contains("service start dnsmasq-lxcbr0"))
        .expect("a service step");
    assert!(service < nat, "{plan:#?}");
    // The NAT step is the last one started: fail it (counted from 0).
    let at = (plan.len() - 1).to_string();
    let file = lab.file.to_string_lossy().into_owned();
    let r = lab.netloom_with(&["up", &file], &[("NETLOOM_FAULT_AT", &at)]);
    assert_eq!(r.code, 1, "{}", r.text());
    assert!(r.err.contains("rolled back"), "{}", r.text());
    assert_eq!(leftovers(&lab), "", "rollback left dnsmasq");
    lab.assert_no_residue();
    // And recorded nothing: a fresh up starts from scratch.
    let r = lab.sh("cat /run/netloom/lxc.json 2>/dev/null");
    assert!(!r.out.contains("dnsmasq"), "{}", r.out);
}

#[test]
fn dnsmasq_is_refused_before_anything_changes_when_missing() {
    let lab = Lab::from_text("lxc.yaml", LAB);
    let file = lab.file.to_string_lossy().into_owned();
    let r = lab.netloom_with(&["up", &file], &[("PATH", "/nonexistent")]);
    assert_eq!(r.code, 1, "{}", r.text());
    assert!(r.err.contains("dnsmasq-base"), "{}", r.text());
    lab.assert_no_residue();
}
