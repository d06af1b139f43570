//! Logical interfaces through the real binary in a sandbox: failover on
//! admin down and on carrier loss with the routes that use the address,
//! auto-revert after the delay, manual migrate (sticky) and revert, and
//! the watcher's supervision (kill, restart, outliving its `up`, down).
#[path = "support/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::Lab;

/// The port of node `n1` holding `addr` now (from `ip -j addr`), if any.
fn holder(lab: &Lab, addr: &str) -> Option<String> {
    let r = lab.exec("n1", &["ip", "-j", "-4", "addr", "show"]);
    let v: serde_json::Value = serde_json::from_str(&r.out).ok()?;
    v.as_array()?.iter().find_map(|l| {
        l["addr_info"]
            .as_array()?
            .iter()
            .any(|a| a["local"] == addr)
            .then(|| l["ifname"].as_str().unwrap_or_default().to_string())
    })
}

/// Wait (at most `bound`) until `addr` is on `port`; how long it took.
fn until_on(lab: &Lab, addr: &str, port: &str, bound: Duration) -> Duration {
    let t = Instant::now();
    while holder(lab, addr).as_deref() != Some(port) {
        if t.elapsed() >= bound {
            let log = lab.sh(
                "cat /run/netloom/services/netloom-lif.n1/lif/log /run/netloom/services/netloom-lif.n1/lif/state.json",
            );
            let links = lab.exec("n1", &["ip", "-o", "link"]);
            panic!(
                "{addr} not on {port} within {bound:?}: on {:?}\nwatcher: {}\nlinks: {}",
                holder(lab, addr),
                log.text(),
                links.out
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    t.elapsed()
}

/// The watcher's pid, from its pid file.
fn watcher(lab: &Lab) -> Option<u32> {
    lab.sh("cat /run/netloom/services/netloom-lif.n1/lif/pid 2>/dev/null")
        .out
        .trim()
        .parse()
        .ok()
}

fn ping(lab: &Lab, node: &str, addr: &str) -> bool {
    lab.exec(node, &["ping", "-c", "1", "-W", "1", addr]).code == 0
}

#[test]
fn a_lif_fails_over_reverts_and_is_supervised() {
    let lab = Lab::new("20-lif.yaml");
    lab.expect("up", &[], 0);
    assert_eq!(holder(&lab, "10.0.5.10").as_deref(), Some("eth0"));
    let st = lab.expect("status", &[], 0);
    assert!(
        st.out.contains("lif data1: on n1/eth0 (home: n1/eth0)"),
        "{}",
        st.out
    );
    // The example's claims: failover (both ways in) and revert.
    lab.expect("verify", &[], 0);
    until_on(&lab, "10.0.5.10", "eth0", Duration::from_secs(5));

    // Carrier loss (the switch side goes down; n1/eth0 stays up): the
    // address and the route through r follow it to eth1, then come home
    // once eth0 has had carrier for the revert delay (1 s).
    // The kernel reports a carrier change at once only when its linkwatch
    // deems it urgent (a veth whose ifindex differs from its peer's), else
    // within a second (net/core/link_watch.c): a generous bound here; the
    // figures are benches/lif.rs's.
    lab.exec("sw", &["ip", "link", "set", "s0", "down"]);
    until_on(&lab, "10.0.5.10", "eth1", Duration::from_secs(3));
    let r = lab.exec("n1", &["ip", "route", "show", "10.0.6.0/24"]);
    assert!(r.out.contains("dev eth1"), "{}", r.text());
    assert!(
        ping(&lab, "c2", "10.0.5.10"),
        "c2 cannot reach the LIF on eth1"
    );
    lab.exec("sw", &["ip", "link", "set", "s0", "up"]);
    let back = until_on(&lab, "10.0.5.10", "eth0", Duration::from_secs(5));
    assert!(
        back >= Duration::from_millis(900),
        "reverted after {back:?}, before the delay"
    );
    assert!(ping(&lab, "c2", "10.0.5.10"));
    let again = lab.expect("up", &[], 0);
    assert!(again.out.contains(": 0 operation"), "{}", again.text());

    // Migrate by hand: sticky, so no revert; status says so; up keeps it.
    let file = lab.file.to_string_lossy().into_owned();
    let r = lab.netloom(&["lif", "migrate", &file, "data1", "n1/eth2"]);
    assert_eq!(r.code, 0, "{}", r.text());
    assert!(r.out.contains("migrated to eth2 (sticky)"), "{}", r.out);
    assert_eq!(holder(&lab, "10.0.5.10").as_deref(), Some("eth2"));
    assert!(ping(&lab, "c1", "10.0.5.10") && ping(&lab, "c2", "10.0.5.10"));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        holder(&lab, "10.0.5.10").as_deref(),
        Some("eth2"),
        "a sticky LIF reverted"
    );
    let st = lab.expect("status", &[], 0);
    assert!(
        st.out
            .contains("lif data1: on n1/eth2 (not home: n1/eth0, sticky)"),
        "{}",
        st.out
    );
    let again = lab.expect("up", &[], 0);
    assert!(again.out.contains(": 0 operation"), "{}", again.text());
    // Refused: a port that is not the LIF's, a LIF that does not exist.
    let r = lab.netloom(&["lif", "migrate", &file, "data1", "n1/lo"]);
    assert!(
        r.code != 0 && r.err.contains("not a port of LIF data1"),
        "{}",
        r.text()
    );
    let r = lab.netloom(&["lif", "migrate", &file, "nope", "eth1"]);
    assert!(
        r.code != 0 && r.err.contains("no LIF `nope`"),
        "{}",
        r.text()
    );
    let r = lab.netloom(&["lif", "revert", &file, "data1"]);
    assert_eq!(r.code, 0, "{}", r.text());
    assert_eq!(holder(&lab, "10.0.5.10").as_deref(), Some("eth0"));
    let st = lab.expect("status", &[], 0);
    assert!(
        st.out.contains("lif data1: on n1/eth0 (home: n1/eth0)"),
        "{}",
        st.out
    );

    // Killed: status says so; up starts it again and it works.
    let pid = watcher(&lab).expect("the watcher runs");
    lab.kill9(pid);
    let st = lab.expect("status", &[], 2);
    assert!(st.out.contains("service n1 lif: NOT RUNNING"), "{}", st.out);
    assert!(
        st.out.contains("n1 service lif") && st.out.contains("missing"),
        "{}",
        st.out
    );
    let up = lab.expect("up", &[], 0);
    assert!(up.out.contains(": 1 operation"), "{}", up.text());
    let pid2 = watcher(&lab).expect("the watcher runs again");
    assert_ne!(pid, pid2);
    let again = lab.expect("up", &[], 0);
    assert!(again.out.contains(": 0 operation"), "{}", again.text());

    // It outlives the `netloom up` that started it, killed right after
    // the start: a session of its own, still moving the LIF.
    lab.kill9(pid2);
    let mut up = lab
        .sb
        .command(common::netloom_bin())
        .args(["up", &file])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    let pid3 = loop {
        if let Some(p) = watcher(&lab).filter(|p| *p != pid2 && lab.alive(*p)) {
            break p;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "no new watcher");
        std::thread::sleep(Duration::from_millis(5));
    };
    let _ = up.kill();
    let _ = up.wait();
    assert!(lab.alive(pid3), "the watcher died with its netloom");
    let sid = lab.sh(&format!("awk '{{print $6}}' /proc/{pid3}/stat"));
    assert_eq!(sid.out.trim(), pid3.to_string(), "not a session of its own");
    lab.exec("n1", &["ip", "link", "set", "eth0", "down"]);
    until_on(&lab, "10.0.5.10", "eth1", Duration::from_secs(3));
    lab.exec("n1", &["ip", "link", "set", "eth0", "up"]);
    until_on(&lab, "10.0.5.10", "eth0", Duration::from_secs(5));

    lab.expect("down", &[], 0);
    assert!(!lab.alive(pid3), "the watcher survived down");
    lab.assert_no_residue();
}

/// A dual-stack pair of LIFs on n1 (eth0 home, eth1 failover) and a
/// neighbour c1 on the same bridge.
const ANNOUNCED: &str = "\
name: lif6
nodes:
  sw:
    interfaces:
      br0: { kind: bridge, stp: false, ports: [s0, s1, s2] }
      s0: {}
      s1: {}
      s2: {}
  n1:
    interfaces:
      eth0: {}
      eth1: {}
  c1:
    interfaces:
      eth0: { addresses: [10.0.5.20/24, 'fd00:5::20/64'] }
links:
  - [sw/s0, n1/eth0]
  - [sw/s1, n1/eth1]
  - [sw/s2, c1/eth0]
lifs:
  v4: { address: 10.0.5.10/24, home: n1/eth0, failover: [n1/eth1] }
  v6: { address: 'fd00:5::10/64', home: n1/eth0, failover: [n1/eth1] }
";

/// The link-layer address c1's kernel holds for `addr` (`ip neigh`), if any.
fn c1_neighbour(lab: &Lab, addr: &str) -> Option<String> {
    let r = lab.exec("c1", &["ip", "-j", "neigh", "show", addr]);
    let v: serde_json::Value = serde_json::from_str(&r.out).ok()?;
    v.as_array()?
        .first()?
        .get("lladdr")?
        .as_str()
        .map(str::to_string)
}

fn mac_of(lab: &Lab, node: &str, dev: &str) -> String {
    let r = lab.exec(node, &["cat", &format!("/sys/class/net/{dev}/address")]);
    r.out.trim().to_string()
}

/// A move is announced: the neighbour's existing entry for the address
/// turns to the new port's MAC without the neighbour asking (a gratuitous
/// ARP updates an entry in arp_process; an unsolicited NA with the override
/// flag does in ndisc_recv_na), and both families answer on the new port.
#[test]
fn a_move_is_announced_to_the_neighbours_in_both_families() {
    let lab = Lab::from_text("lif6.yaml", ANNOUNCED);
    lab.expect("up", &[], 0);
    let (home, away) = (mac_of(&lab, "n1", "eth0"), mac_of(&lab, "n1", "eth1"));
    for addr in ["10.0.5.10", "fd00:5::10"] {
        let t = Instant::now();
        while !ping(&lab, "c1", addr) {
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "c1 never reached {addr}"
            );
        }
        assert_eq!(
            c1_neighbour(&lab, addr).as_deref(),
            Some(home.as_str()),
            "{addr}"
        );
    }
    lab.exec("n1", &["ip", "link", "set", "eth0", "down"]);
    until_on(&lab, "10.0.5.10", "eth1", Duration::from_secs(3));
    for addr in ["10.0.5.10", "fd00:5::10"] {
        // c1 sends nothing meanwhile: only an announcement can change it.
        let t = Instant::now();
        while c1_neighbour(&lab, addr).as_deref() != Some(away.as_str()) {
            assert!(
                t.elapsed() < Duration::from_secs(3),
                "c1 still has {addr} at {:?}, not at eth1's {away}: the move was not announced",
                c1_neighbour(&lab, addr)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(ping(&lab, "c1", addr), "c1 cannot reach {addr} on eth1");
    }
    lab.expect("down", &[], 0);
}
