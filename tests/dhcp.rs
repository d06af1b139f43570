//! DHCP and DNS served by dnsmasq, and netloom's DHCP client, through the
//! real binary in a sandbox: supervision (identity, kill, restart, option
//! change, rollback, crash, down), leases, renewals and name resolution.
#[path = "support/common/mod.rs"]
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
    lab.sh(&format!("readlink /proc/{pid}/exe"))
        .out
        .trim()
        .to_string()
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

/// The pid in a service's pid file (`node`'s service `name`).
fn pid_file(lab: &Lab, node: &str, name: &str) -> u32 {
    let r = lab.sh(&format!(
        "cat /run/netloom/services/netloom-lxc.{node}/{name}/pid"
    ));
    r.out
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no pid for {node} {name}: {}", r.text()))
}

fn nslookup(lab: &Lab, node: &str, name: &str, server: &str) -> Run {
    lab.exec(node, &["busybox", "nslookup", name, server])
}

#[test]
fn dnsmasq_serves_dns_and_is_supervised() {
    let lab = Lab::from_text("lxc.yaml", LAB);
    lab.expect("up", &[], 0);
    let pid = pid_of(&lab, "dnsmasq-lxcbr0").expect("dnsmasq runs");
    assert!(
        exe_of(&lab, pid).ends_with("/dnsmasq"),
        "{}",
        exe_of(&lab, pid)
    );
    // In gw's namespace, bound to lxcbr0's address only, hermetic.
    let ns = lab.sh(&format!(
        "[ $(stat -Lc %i /proc/{pid}/ns/net) = $(stat -Lc %i /run/netns/netloom-lxc.gw) ] && echo same"
    ));
    assert_eq!(ns.out.trim(), "same", "{}", ns.text());
    let ss = lab.exec("gw", &["ss", "-Hlnu", "sport = :53"]);
    assert!(ss.out.contains("10.0.3.1:53"), "{}", ss.text());
    assert!(
        !ss.out.contains("0.0.0.0:53") && !ss.out.contains("*:53"),
        "{}",
        ss.text()
    );
    let cmdline = lab.sh(&format!("tr '\\0' ' ' < /proc/{pid}/cmdline")).out;
    for flag in [
        "--conf-file=/dev/null",
        "--no-resolv",
        "--no-hosts",
        "--no-ping",
        "--interface=lxcbr0",
    ] {
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
    lab.kill9(pid);
    let st = lab.expect("status", &[], 2);
    assert!(
        st.out.contains("gw service dnsmasq-lxcbr0") && st.out.contains("missing"),
        "{}",
        st.out
    );
    assert!(
        st.out.contains("service gw dnsmasq-lxcbr0: NOT RUNNING"),
        "{}",
        st.out
    );
    let up = lab.expect("up", &[], 0);
    assert!(up.out.contains(": 1 operation"), "{}", up.text());
    let pid2 = pid_of(&lab, "dnsmasq-lxcbr0").expect("dnsmasq runs again");
    assert_ne!(pid, pid2);
    lab.expect("status", &[], 0);

    // Its options changed: restarted, once.
    lab.edit("lease_time: 1h", "lease_time: 2h");
    let pending = lab.pending();
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert!(
        pending[0].contains("service restart dnsmasq-lxcbr0"),
        "{pending:?}"
    );
    lab.expect("up", &[], 0);
    let pid3 = pid_of(&lab, "dnsmasq-lxcbr0").expect("dnsmasq runs");
    assert!(pid3 != pid2 && !lab.alive(pid2));
    assert!(lab.pending().is_empty());

    lab.expect("down", &[], 0);
    assert!(!lab.alive(pid3), "dnsmasq survived down");
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
    assert!(!lab.alive(pid), "dnsmasq survived down --name");
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

/// Two containers leasing from gw's dnsmasq, with quick renewals.
const CLIENTS: &str = "name: lxc
nodes:
  gw:
    forwarding: true
    interfaces:
      lxcbr0: { kind: bridge, stp: false, addresses: [10.0.3.1/24], ports: [veth1, veth2], dhcp: { range: 10.0.3.100-10.0.3.200, lease_time: 2m, renew_time: 2s, rebind_time: 4s, hosts: { c2: 10.0.3.50 } } }
      veth1: {}
      veth2: {}
  c1:
    interfaces:
      eth0: { addresses: [dhcp] }
  c2:
    interfaces:
      eth0: { addresses: [dhcp] }
links:
  - [gw/veth1, c1/eth0]
  - [gw/veth2, c2/eth0]
expect:
  - reach: c1 -> 10.0.3.1
";

/// The lease the DHCP client of `node/eth0` reports (its state file).
fn lease_of(lab: &Lab, node: &str) -> Option<serde_json::Value> {
    let r = lab.sh(&format!(
        "cat /run/netloom/services/netloom-lxc.{node}/dhcp-eth0/state.json"
    ));
    let state: serde_json::Value = serde_json::from_str(&r.out).ok()?;
    state.get("Lease").cloned().filter(|l| !l.is_null())
}

/// The IPv4 addresses of `node/eth0`.
fn addresses(lab: &Lab, node: &str) -> String {
    lab.exec(node, &["ip", "-4", "-br", "addr", "show", "dev", "eth0"])
        .out
}

#[test]
fn clients_lease_renew_drift_restart_and_release() {
    let lab = Lab::from_text("lxc.yaml", CLIENTS);
    lab.expect("up", &[], 0);
    let l1 = lease_of(&lab, "c1").expect("c1 holds a lease");
    let a1 = l1["address"].as_str().unwrap().to_string();
    let ip1: std::net::Ipv4Addr = a1.split('/').next().unwrap().parse().unwrap();
    assert!(
        ("10.0.3.100".parse::<std::net::Ipv4Addr>().unwrap()..="10.0.3.200".parse().unwrap())
            .contains(&ip1),
        "{a1}"
    );
    assert_eq!(l1["router"], "10.0.3.1");
    assert!(
        addresses(&lab, "c1").contains(&a1),
        "{}",
        addresses(&lab, "c1")
    );
    // The host reservation by name, and the router as default route.
    assert_eq!(lease_of(&lab, "c2").unwrap()["address"], "10.0.3.50/24");
    let r = lab.exec("c1", &["ip", "route", "show", "default"]);
    assert!(
        r.out.contains("default via 10.0.3.1 dev eth0 proto dhcp"),
        "{}",
        r.text()
    );
    // DNS from the lease, through /etc/netns, which `netloom exec` binds.
    let r = lab.sh("cat /etc/netns/netloom-lxc.c1/resolv.conf");
    assert!(r.out.contains("nameserver 10.0.3.1"), "{}", r.text());
    let r = lab.exec("c1", &["cat", "/etc/resolv.conf"]);
    assert!(
        r.out.contains("nameserver 10.0.3.1") && r.out.contains("search lxc"),
        "{}",
        r.text()
    );
    let r = lab.exec("c1", &["busybox", "nslookup", "c2.lxc"]);
    assert!(r.out.contains("10.0.3.50"), "{}", r.text());
    let again = lab.expect("up", &[], 0);
    assert!(again.out.contains(": 0 operation"), "{}", again.text());

    // Renewals (T1 = 2 s) keep the lease: three of them, each pushing
    // its end further, the address staying.
    let first_end = l1["expires"].as_u64().unwrap();
    let t = Instant::now();
    let renewed = loop {
        let l = lease_of(&lab, "c1").expect("still leased");
        if l["renewals"].as_u64().unwrap() >= 3 {
            break l;
        }
        assert!(
            t.elapsed() < std::time::Duration::from_secs(30),
            "no third renewal: {l}"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    };
    assert_eq!(renewed["address"], l1["address"]);
    assert!(
        renewed["expires"].as_u64().unwrap() > first_end,
        "{renewed} vs {l1}"
    );
    assert!(addresses(&lab, "c1").contains(&a1));
    let log = lab.sh("cat /run/netloom/services/netloom-lxc.gw/dnsmasq-lxcbr0/log");
    assert!(
        log.out.matches(&format!("DHCPACK(lxcbr0) {ip1}")).count() >= 4,
        "{}",
        log.out
    );
    lab.expect("status", &[], 0);

    // The address removed behind netloom's back: drift, and up puts it back.
    let r = lab.exec("c1", &["ip", "addr", "del", &a1, "dev", "eth0"]);
    assert_eq!(r.code, 0, "{}", r.text());
    let st = lab.expect("status", &[], 2);
    assert!(
        st.out
            .contains(&format!("address {a1} absent (want present)")),
        "{}",
        st.out
    );
    let pending = lab.pending();
    assert!(
        pending
            .iter()
            .any(|p| p.contains(&format!("addr add {a1} dev eth0"))),
        "{pending:?}"
    );
    lab.expect("up", &[], 0);
    assert!(addresses(&lab, "c1").contains(&a1));
    assert!(lab.pending().is_empty());

    // The client killed: status says so, up starts it again, same lease.
    lab.kill9(pid_file(&lab, "c1", "dhcp-eth0"));
    let st = lab.expect("status", &[], 2);
    assert!(
        st.out.contains("service c1 dhcp-eth0: NOT RUNNING"),
        "{}",
        st.out
    );
    let up = lab.expect("up", &[], 0);
    assert!(up.out.contains(": 1 operation"), "{}", up.text());
    assert_eq!(lease_of(&lab, "c1").unwrap()["address"], l1["address"]);
    let again = lab.expect("up", &[], 0);
    assert!(again.out.contains(": 0 operation"), "{}", again.text());

    // c2 no longer leases: its client releases the lease, which dnsmasq forgets.
    let leases = || {
        lab.sh("cat /run/netloom/services/netloom-lxc.gw/dnsmasq-lxcbr0/leases")
            .out
    };
    assert!(leases().contains("10.0.3.50"), "{}", leases());
    lab.edit(
        "  c2:\n    interfaces:\n      eth0: { addresses: [dhcp] }",
        "  c2:\n    interfaces:\n      eth0: { addresses: [10.0.3.60/24] }",
    );
    lab.expect("up", &[], 0);
    // dnsmasq writes its lease file once it has handled the release.
    let t = Instant::now();
    while leases().contains("10.0.3.50") {
        assert!(
            t.elapsed() < std::time::Duration::from_secs(3),
            "not released: {}\n{}",
            leases(),
            lab.sh("cat /run/netloom/services/netloom-lxc.gw/dnsmasq-lxcbr0/log")
                .text()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        addresses(&lab, "c2").contains("10.0.3.60/24")
            && !addresses(&lab, "c2").contains("10.0.3.50")
    );
    assert!(
        lab.sh("ls /etc/netns/netloom-lxc.c2 2>&1").code != 0,
        "c2's resolv.conf stayed"
    );
    assert!(lab.pending().is_empty());

    lab.expect("down", &[], 0);
    assert_eq!(leftovers(&lab), "");
    lab.assert_no_residue();
}

/// The claims are proved, not assumed: untrue, they fail.
#[test]
fn lease_and_resolve_claims_fail_when_untrue() {
    let text = CLIENTS.replace(
        "expect:\n  - reach: c1 -> 10.0.3.1\n",
        "expect:\n  - lease: c2/eth0 in 10.0.3.40-10.0.3.60\n  - resolve: c1 -> c2.lxc\n",
    );
    let lab = Lab::from_text("lxc.yaml", &text);
    lab.expect("up", &["--verify"], 0);
    // c2's address gone from the kernel: its lease claim fails.
    let r = lab.exec("c2", &["ip", "addr", "del", "10.0.3.50/24", "dev", "eth0"]);
    assert_eq!(r.code, 0, "{}", r.text());
    let v = lab.expect("verify", &[], 1);
    assert!(
        v.out.contains("leased 10.0.3.50/24 but does not have it"),
        "{}",
        v.out
    );
    lab.expect("up", &[], 0);
    lab.expect("verify", &[], 0);
    // dnsmasq gone: nobody answers the name.
    lab.kill9(pid_file(&lab, "gw", "dnsmasq-lxcbr0"));
    let v = lab.expect("verify", &[], 1);
    assert!(
        v.out.contains("10.0.3.1 did not answer for c2.lxc"),
        "{}",
        v.out
    );
    lab.expect("down", &[], 0);
    lab.assert_no_residue();
}
