//! `netloom verify` and `netloom up --verify` through the real binary, each
//! test in its own sandbox: the table and JSON, exit codes, failures that say
//! where the network broke, readiness on a freshly built STP bridge.
#[path = "support/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{Lab, Run};

/// The table row of the expectation whose text starts with `label`.
fn row<'a>(r: &'a Run, label: &str) -> &'a str {
    r.out
        .lines()
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("no row `{label}`:\n{}", r.text()))
}

fn json(r: &Run) -> serde_json::Value {
    serde_json::from_str(&r.out).unwrap_or_else(|e| panic!("{e}:\n{}", r.text()))
}

#[test]
fn verify_prints_readiness_and_a_table_and_json() {
    let lab = Lab::new("01-veth-pair.yaml");
    lab.expect("up", &[], 0);
    let r = lab.expect("verify", &[], 0);
    let lines: Vec<&str> = r.out.lines().collect();
    assert!(lines[0].starts_with("ready after "), "{}", r.text());
    assert!(lines[0].ends_with(" s"), "{}", r.text());
    let head: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(head, ["EXPECTATION", "RESULT", "RTT", "REASON"]);
    let a = row(&r, "reach a -> 10.0.0.2");
    assert!(a.contains("PASS"), "{a}");
    assert!(a.contains("a/eth0 -> b/eth0 (10.0.0.2): answered"), "{a}");
    assert!(a.contains("ms"), "{a}");
    assert!(row(&r, "reach b -> a").contains("PASS"));
    assert_eq!(lines.len(), 4, "{}", r.text());

    let j = json(&lab.expect("verify", &["--json"], 0));
    let ready = &j["readiness"];
    assert_eq!(ready["ready"], true, "{j}");
    assert_eq!(ready["broken"], false, "{j}");
    assert!(ready["waited_ms"].as_f64().is_some(), "{j}");
    assert!(
        ready["bound_ms"].as_u64().is_some_and(|b| b >= 10_000),
        "{j}"
    );
    assert_eq!(ready["waiting"], serde_json::json!([]), "{j}");
    let outs = j["outcomes"].as_array().expect("outcomes");
    assert_eq!(outs.len(), 2);
    let o = &outs[0];
    assert_eq!(o["text"], "reach a -> 10.0.0.2");
    assert_eq!(o["ok"], true);
    assert!(o["rtt_ms"].as_f64().is_some_and(|r| r > 0.0), "{o}");
    assert_eq!(o["from_node"], "a");
    assert_eq!(o["from_iface"], "eth0");
    assert_eq!(o["to_addr"], "10.0.0.2");
    assert_eq!(o["to_iface"], "b/eth0");
    assert!(o["reason"].as_str().is_some_and(|s| s.contains("answered")));
    // b -> a names a node: its address on b's subnet was chosen.
    assert_eq!(outs[1]["to_addr"], "10.0.0.1");
}

#[test]
fn a_broken_network_fails_naming_the_expectation_and_where() {
    let lab = Lab::new("01-veth-pair.yaml");
    lab.expect("up", &[], 0);
    lab.expect("verify", &[], 0);

    // A route removed: a has none to b; b's echo requests reach a, whose replies cannot leave.
    let del = lab.exec("a", &["ip", "route", "del", "10.0.0.0/24", "dev", "eth0"]);
    assert_eq!(del.code, 0, "{}", del.text());
    let r = lab.expect("verify", &[], 1);
    let a = row(&r, "reach a -> 10.0.0.2");
    assert!(a.contains("FAIL"), "{a}");
    assert!(
        a.contains("a -> b/eth0 (10.0.0.2): no route to 10.0.0.2"),
        "{a}"
    );
    let b = row(&r, "reach b -> a");
    assert!(b.contains("FAIL"), "{b}");
    assert!(
        b.contains("b/eth0 -> a/eth0 (10.0.0.1): no echo reply within 1000ms"),
        "{b}"
    );
    let j = json(&lab.expect("verify", &["--json"], 1));
    assert_eq!(j["outcomes"][0]["ok"], false);
    assert_eq!(j["outcomes"][0]["reason"], "no route to 10.0.0.2");
    // The kernel made that route from the address, so netloom does not manage
    // it; put it back by hand, and verify agrees.
    let add = lab.exec(
        "a",
        &"ip route add 10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.1"
            .split(' ')
            .collect::<Vec<_>>(),
    );
    assert_eq!(add.code, 0, "{}", add.text());
    lab.expect("verify", &[], 0);

    // A link set down: readiness sees it can never forward and stops at once
    // (not after its 10 s bound); the probes say where it broke.
    let down = lab.exec("b", &["ip", "link", "set", "eth0", "down"]);
    assert_eq!(down.code, 0, "{}", down.text());
    let started = Instant::now();
    let r = lab.expect("verify", &[], 1);
    assert!(
        started.elapsed() < Duration::from_secs(7),
        "took {:?}:\n{}",
        started.elapsed(),
        r.text()
    );
    let first = r.out.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("not ready, and never will be"),
        "{}",
        r.text()
    );
    assert!(first.contains("b/eth0: administratively down"), "{first}");
    assert!(
        first.contains("a/eth0: no carrier (its peer b/eth0 is down)"),
        "{first}"
    );
    let a = row(&r, "reach a -> 10.0.0.2");
    assert!(
        a.contains("a/eth0 -> b/eth0 (10.0.0.2): ARP for 10.0.0.2 on eth0 unanswered"),
        "{a}"
    );
    let b = row(&r, "reach b -> a");
    assert!(b.contains("no route to 10.0.0.1"), "{b}");
    let j = json(&lab.expect("verify", &["--json"], 1));
    assert_eq!(j["readiness"]["ready"], false);
    assert_eq!(j["readiness"]["broken"], true);
    lab.expect("down", &[], 0);
    lab.assert_no_residue();
}

/// Two nodes on one veth, with two false claims: an unreachable address and a broken isolation.
const FALSE_CLAIMS: &str = "\
# Two claims that are false by construction.
name: falsehood
nodes:
  a:
    interfaces:
      eth0: { addresses: [10.31.0.1/24] }
  b:
    interfaces:
      eth0: { addresses: [10.31.0.2/24] }
links:
  - [a/eth0, b/eth0]
expect:
  - reach: a -> b
  - reach: a -> 10.32.0.9
  - isolated: a -> 10.31.0.2
    count: 1
";

#[test]
fn up_verify_exits_1_and_leaves_the_network_applied() {
    let lab = Lab::from_text("falsehood.yaml", FALSE_CLAIMS);
    let r = lab.expect("up", &["--verify"], 1);
    assert!(r.out.contains("falsehood: "), "{}", r.text());
    assert!(r.out.contains("ready after"), "{}", r.text());
    assert!(row(&r, "reach a -> b ").contains("PASS"));
    let miss = row(&r, "reach a -> 10.32.0.9");
    assert!(
        miss.contains("FAIL") && miss.contains("no route to 10.32.0.9"),
        "{miss}"
    );
    let iso = row(&r, "isolated a -> 10.31.0.2");
    assert!(
        iso.contains("FAIL") && iso.contains("expected isolation, but 10.31.0.2 answered"),
        "{iso}"
    );
    assert!(
        r.err.contains("the network stays applied") && r.err.contains("netloom down"),
        "{}",
        r.text()
    );
    // Nothing was rolled back: the network is there and in sync with the file.
    lab.expect("status", &[], 0);
    let ping = lab.exec("a", &["ping", "-c", "1", "-W", "2", "10.31.0.2"]);
    assert_eq!(ping.code, 0, "{}", ping.text());
    // JSON: the verify report alone.
    let j = json(&lab.expect("up", &["--verify", "--json"], 1));
    let oks: Vec<bool> = j["outcomes"]
        .as_array()
        .expect("outcomes")
        .iter()
        .map(|o| o["ok"].as_bool().expect("ok"))
        .collect();
    assert_eq!(oks, [true, false, false]);
    lab.expect("down", &[], 0);
    lab.assert_no_residue();
}

/// A fresh STP bridge with `n` ports, each to a host, and a claim from every
/// host. Ports listen and learn for 2 x forward_delay (6 s): long enough to
/// outlast `up` itself (it reads the kernel back after applying, which
/// takes a few seconds under the VM's emulation), so verify starts while
/// they do not forward yet.
fn star(n: usize) -> String {
    let mut t = String::from(
        "# A star: one STP bridge, many hosts.\nname: star\nnodes:\n  sw:\n    interfaces:\n      br0: { kind: bridge, stp: true, forward_delay: 300, addresses: [10.50.0.254/24], ports: [",
    );
    t.push_str(
        &(0..n)
            .map(|i| format!("p{i}"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    t.push_str("] }\n");
    for i in 0..n {
        t.push_str(&format!("      p{i}: {{}}\n"));
    }
    for i in 0..n {
        t.push_str(&format!(
            "  h{i}:\n    interfaces:\n      eth0: {{ addresses: [10.50.0.{}/24] }}\n",
            i + 1
        ));
    }
    t.push_str("links:\n");
    for i in 0..n {
        t.push_str(&format!("  - [sw/p{i}, h{i}/eth0]\n"));
    }
    t.push_str("expect:\n");
    for i in 0..n {
        // Generous per-probe time: under the VM's emulation 50 concurrent
        // first probes (each with its ARP) take up to a second; this test is
        // about readiness, not latency.
        t.push_str(&format!(
            "  - reach: h{i} -> 10.50.0.254\n    count: 2\n    timeout: 3s\n"
        ));
    }
    t.push_str(&format!(
        "  - reach: h0 -> h{}\n    count: 2\n    timeout: 3s\n",
        n - 1
    ));
    t
}

#[test]
fn readiness_waits_for_a_fresh_50_port_stp_bridge() {
    let lab = Lab::from_text("star.yaml", &star(50));
    // Ports listen and learn for 2 x forward_delay (6 s) before they forward;
    // probing at once would fail every claim, each with a single probe.
    let r = lab.expect("up", &["--verify", "--json"], 0);
    let j = json(&r);
    let ready = &j["readiness"];
    assert_eq!(ready["ready"], true, "{ready}");
    let waited = ready["waited_ms"].as_f64().expect("waited_ms");
    assert!(waited > 3000.0, "did not wait for STP: {waited} ms");
    assert!(waited < 14_000.0, "{waited} ms");
    let outs = j["outcomes"].as_array().expect("outcomes");
    assert_eq!(outs.len(), 51);
    for o in outs {
        assert_eq!(o["ok"], true, "{o}");
    }
    lab.expect("down", &[], 0);
}
