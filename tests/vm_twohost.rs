//! One logical switch across two hosts (vm/twohost.sh boots them: two VMs
//! on one virtual wire). Each host runs netloom with its own file: the
//! VM's NIC declared `external` is the underlay of a VXLAN (VNI 100,
//! multicast group 239.1.1.100) bridged with a container; host a also
//! bridges VLAN 10 of a trunk into the switch, with a tagged host behind
//! it. Containers on both hosts reach each other, and host b's container
//! reaches the VLAN host on host a. Each VM runs this test in its role.
//! The second test builds the same switch by head-end replication instead
//! of multicast: each VTEP lists the other under `remotes`.
use std::net::UdpSocket;
use std::process::Command;
use std::time::{Duration, Instant};

/// The file of host a: container c1 and the VLAN 10 host `tor`.
const HOST_A: &str = "\
name: lsw
nodes:
  host:
    interfaces:
      eth0: { kind: external }
      vx100: { kind: vxlan, vni: 100, VXLAN_FLOOD, dev: eth0, dstport: 4789 }
      v1: {}
      trunk0: {}
      trunk0.10: { kind: vlan, lower: trunk0, id: 10 }
      br100: { kind: bridge, stp: false, ports: [vx100, v1, trunk0.10] }
  c1:
    interfaces:
      eth0: { addresses: [10.100.0.11/24] }
  tor:
    interfaces:
      eth0: {}
      eth0.10: { kind: vlan, lower: eth0, id: 10, addresses: [10.100.0.30/24] }
links:
  - [host/v1, c1/eth0]
  - [host/trunk0, tor/eth0]
";

/// The file of host b: container c2.
const HOST_B: &str = "\
name: lsw
nodes:
  host:
    interfaces:
      eth0: { kind: external }
      vx100: { kind: vxlan, vni: 100, VXLAN_FLOOD, dev: eth0, dstport: 4789 }
      v2: {}
      br100: { kind: bridge, stp: false, ports: [vx100, v2] }
  c2:
    interfaces:
      eth0: { addresses: [10.100.0.12/24] }
links:
  - [host/v2, c2/eth0]
";

fn netloom(args: &[&str]) -> std::process::Output {
    let bin =
        std::env::var("NETLOOM_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_netloom").to_string());
    Command::new(bin).args(args).output().unwrap()
}

fn sh(script: &str) {
    let o = Command::new("sh").args(["-c", script]).output().unwrap();
    assert!(
        o.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Ping `to` from `node` until it answers, at most `secs`.
fn reaches(file: &str, node: &str, to: &str, secs: u64) -> bool {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(secs) {
        if netloom(&["exec", file, node, "--", "ping", "-c1", "-W1", to])
            .status
            .success()
        {
            return true;
        }
    }
    false
}

/// How a VTEP floods broadcast and unknown frames.
#[derive(Clone, Copy, PartialEq)]
enum Flood {
    /// To the multicast group 239.1.1.100.
    Group,
    /// A copy to each VTEP under `remotes` (all-zero-MAC fdb entries).
    HeadEnd,
}

#[test]
#[ignore = "needs two VMs on one wire: runs under vm/twohost.sh"]
fn one_logical_switch_across_two_hosts() {
    two_hosts(Flood::Group, 7777);
}

#[test]
#[ignore = "needs two VMs on one wire: runs under vm/twohost.sh"]
fn one_logical_switch_across_two_hosts_by_head_end_replication() {
    two_hosts(Flood::HeadEnd, 7778);
}

/// One run of a role's file with `flood`; `port` carries the hosts'
/// "done" messages (one per test, so that a late message of the other test
/// is never read as this one's).
fn two_hosts(flood: Flood, port: u16) {
    let Ok(role) = std::env::var("NETLOOM_TWOHOST_ROLE") else {
        eprintln!("skipped: runs only in vm/twohost.sh's guests");
        return;
    };
    let mods = std::env::var("NETLOOM_NIC_MODULES").unwrap();
    for m in std::fs::read_to_string(format!("{mods}/order"))
        .unwrap()
        .split_whitespace()
    {
        // (Loaded already by the first test of the boot: EEXIST, quiet.)
        let _ = Command::new("insmod")
            .arg(format!("{mods}/{m}.ko"))
            .stderr(std::process::Stdio::null())
            .status();
    }
    let t = Instant::now();
    while !std::path::Path::new("/sys/class/net/eth0").exists() {
        assert!(t.elapsed() < Duration::from_secs(30), "no eth0 appeared");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (me, peer, text) = match role.as_str() {
        "a" => ("192.168.50.1", "192.168.50.2", HOST_A),
        _ => ("192.168.50.2", "192.168.50.1", HOST_B),
    };
    // The host's own setup of its NIC (netloom leaves external devices alone).
    // (`replace`: both tests run in one boot, one after the other.)
    sh(&format!(
        "ip addr replace {me}/24 dev eth0 && ip link set eth0 up"
    ));
    // Told across the wire when each host has seen what it checks.
    let done = UdpSocket::bind(format!("{me}:{port}")).unwrap();
    done.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let file = std::env::temp_dir().join("lsw.yaml");
    let vtep = match flood {
        Flood::Group => "group: 239.1.1.100".to_string(),
        Flood::HeadEnd => format!("local: {me}, remotes: [{peer}]"),
    };
    std::fs::write(&file, text.replace("VXLAN_FLOOD", &vtep)).unwrap();
    let file = file.display().to_string();
    let up = netloom(&["up", &file]);
    assert!(
        up.status.success(),
        "up on {role}: {}",
        String::from_utf8_lossy(&up.stderr)
    );
    let checks: &[(&str, &str)] = match role.as_str() {
        "a" => &[
            ("c1", "10.100.0.12"),
            ("tor", "10.100.0.12"),
            ("c1", "10.100.0.30"),
        ],
        _ => &[("c2", "10.100.0.11"), ("c2", "10.100.0.30")],
    };
    for (node, to) in checks {
        assert!(
            reaches(&file, node, to, 90),
            "host {role}: {node} does not reach {to}"
        );
        eprintln!("host {role}: {node} reaches {to}");
    }
    let fdb = Command::new("bridge")
        .args(["fdb", "show", "dev", "vx100"])
        .output()
        .unwrap();
    let fdb = String::from_utf8_lossy(&fdb.stdout).into_owned();
    eprintln!("host {role}: vx100 fdb:\n{fdb}");
    match flood {
        // Unknown destinations go to the group; the peer's MACs were
        // learned behind its VTEP address (vxlan_snoop): the frames crossed
        // the wire in VXLAN, not some other way.
        Flood::Group => {
            assert!(fdb.contains("00:00:00:00:00:00 dst 239.1.1.100"), "{fdb}");
            assert!(fdb.contains(&format!("dst {peer} self")), "{fdb}");
        }
        // The only flood entry is the peer's; no group is joined.
        Flood::HeadEnd => {
            assert!(
                fdb.contains(&format!("00:00:00:00:00:00 dst {peer} self permanent")),
                "{fdb}"
            );
            assert!(!fdb.contains("239.1.1.100"), "{fdb}");
        }
    }
    // Stay up (answering) until the peer has seen its own checks through.
    let t = Instant::now();
    let mut buf = [0u8; 16];
    let mut heard = false;
    let mut after = 0;
    while after < 10 {
        let _ = done.send_to(b"done", format!("{peer}:{port}"));
        if let Ok((n, _)) = done.recv_from(&mut buf) {
            heard |= &buf[..n] == b"done";
        }
        if heard {
            after += 1;
        }
        assert!(
            t.elapsed() < Duration::from_secs(180),
            "host {role}: the peer never finished"
        );
    }
    let down = netloom(&["down", &file]);
    assert!(
        down.status.success(),
        "down: {}",
        String::from_utf8_lossy(&down.stderr)
    );
}
