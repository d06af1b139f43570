//! Helpers of the transactional tests: a generated topology of host-kernel
//! kinds, and a normalized dump of everything netloom could have touched.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;

use crate::common::{netloom_bin, Lab, Run};

/// A topology: bridge `br0` in `host` with NAT and forwarding, `n` containers
/// on veths into it (addresses v4+v6, default routes, a sysctl), an `isp`
/// node behind the uplink, and a container-to-container veth with a route.
pub fn topology(name: &str, n: usize) -> String {
    let ports: Vec<String> = (1..=n)
        .map(|i| {
            if i == 1 {
                "p1: { cost: 10 }".to_string()
            } else {
                format!("p{i}: {{}}")
            }
        })
        .collect();
    let mut t = format!(
        "name: {name}
nodes:
  host:
    forwarding: true
    interfaces:
      br0: {{ kind: bridge, stp: false, ageing_time: 300, addresses: [10.9.0.1/24, fd00:9::1/64], ports: {{ {} }} }}
",
        ports.join(", ")
    );
    for i in 1..=n {
        t += &format!("      p{i}: {{}}\n");
    }
    t += "      up0: { mtu: 1400, addresses: [100.64.9.1/30] }
    nat:
      - masquerade: { source: 10.9.0.0/24, out: up0 }
  isp:
    interfaces:
      eth0: { addresses: [100.64.9.2/30] }
";
    for i in 1..=n {
        t += &format!(
            "  c{i}:
    sysctl: {{ net.ipv4.ip_default_ttl: {} }}
    interfaces:
      eth0: {{ addresses: [10.9.0.{}/24, fd00:9::{}/64] }}
",
            60 + i,
            10 + i,
            10 + i
        );
        if i == 1 || i == 2 {
            t += &format!("      x0: {{ addresses: [10.99.0.{i}/30] }}\n",);
        }
        t += "    routes:\n      - { to: default, via: 10.9.0.1 }\n";
        if i == 1 {
            t += "      - { to: 10.97.0.0/24, via: 10.9.0.1 }\n";
        }
        if i == 2 {
            t += "      - { to: 10.98.0.0/24, via: 10.99.0.1 }\n";
        }
    }
    t += "links:\n  - [host/up0, isp/eth0]\n";
    for i in 1..=n {
        t += &format!("  - [host/p{i}, c{i}/eth0]\n");
    }
    t += "  - [c1/x0, c2/x0]\n";
    t
}

/// The edit of `topology`: an MTU, an address, a whole container, a veth
/// between two containers (with its addresses and route), a route, a bridge option,
/// a port option, a sysctl and the NAT rule change.
pub fn edited(name: &str, n: usize) -> String {
    let t = topology(name, n);
    let last = n;
    let mut out = t
        .replace("up0: { mtu: 1400,", "up0: { mtu: 1300,")
        .replace("ageing_time: 300", "ageing_time: 600")
        .replace("p1: { cost: 10 }", "p1: { cost: 20 }")
        .replace("source: 10.9.0.0/24", "source: 10.9.0.0/25")
        .replace("net.ipv4.ip_default_ttl: 61", "net.ipv4.ip_default_ttl: 99")
        .replace(
            "addresses: [10.9.0.1/24, fd00:9::1/64]",
            "addresses: [10.9.0.1/24]",
        )
        .replace(&format!(", p{last}: {{}}"), "")
        .replace(&format!("      p{last}: {{}}\n"), "")
        .replace(&format!("  - [host/p{last}, c{last}/eth0]\n"), "")
        .replace("  - [c1/x0, c2/x0]\n", "")
        .replace("      x0: { addresses: [10.99.0.1/30] }\n", "")
        .replace("      x0: { addresses: [10.99.0.2/30] }\n", "")
        .replace("      - { to: 10.98.0.0/24, via: 10.99.0.1 }\n", "")
        .replace("      - { to: 10.97.0.0/24, via: 10.9.0.1 }\n", "");
    // Drop the last container's node block.
    let start = out
        .find(&format!("  c{last}:\n"))
        .expect("last container in the file");
    let end = out[start..].find("links:").map(|e| start + e).unwrap();
    out.replace_range(start..end, "");
    out
}

/// `netloom up` with the fault-injection hook set.
pub fn up_with_fault(lab: &Lab, k: usize) -> Run {
    let out = lab
        .sb
        .command(netloom_bin())
        .env("NETLOOM_FAULT_AT", k.to_string())
        .arg("up")
        .arg(&lab.file)
        .output()
        .expect("run netloom");
    Run {
        code: out.status.code().unwrap_or(-1),
        out: String::from_utf8_lossy(&out.stdout).into_owned(),
        err: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Keys whose values change with no change of configuration: indexes,
/// counters, timers, lifetimes, nft handles.
fn volatile(key: &str) -> bool {
    matches!(
        key,
        "ifindex"
            | "link_index"
            | "stats"
            | "stats64"
            | "handle"
            | "preferred_life_time"
            | "valid_life_time"
            | "expires"
            | "tentative"
            // Derived by the kernel's linkwatch, asynchronously, from the
            // flags (which stay in the dump).
            | "operstate"
    ) || key.ends_with("_timer")
}

/// Remove volatile keys and sort lists whose order is not configuration
/// (the kernel lists links by ifindex, which a re-created device changes).
fn normalize(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, _| !volatile(k));
            // A bridge numbers its ports in the order they join (its port
            // ids hold the number): like an ifindex, not configuration, and
            // netloom's `up` enslaves ports concurrently anyway.
            if m.get("info_slave_kind").and_then(Value::as_str) == Some("bridge") {
                if let Some(Value::Object(d)) = m.get_mut("info_slave_data") {
                    d.retain(|k, _| !matches!(k.as_str(), "no" | "id" | "designated_port"));
                }
            }
            for x in m.values_mut() {
                normalize(x);
            }
        }
        Value::Array(a) => {
            for x in a.iter_mut() {
                normalize(x);
            }
            a.sort_by_key(|x| x.to_string());
        }
        _ => {}
    }
}

/// One line per object kind and node: links with details, addresses, routes
/// (v4 and v6, every table), the nft ruleset, the namespaces, netloom's
/// records and the processes its records name.
pub fn dump(lab: &Lab) -> String {
    let script = r#"
set -u
# iproute2's ip (a busybox ip, first in the VM guest's PATH, has no JSON).
IP=ip
for c in /usr/sbin/ip /sbin/ip /usr/bin/ip /bin/ip; do
  if [ -x $c ] && $c -j link show >/dev/null 2>&1; then IP=$c; break; fi
done
each() {
  echo "link $1 $(nsenter $2 $IP -d -j link show)"
  echo "addr $1 $(nsenter $2 $IP -j addr show)"
  echo "route4 $1 $(nsenter $2 $IP -d -j -4 route show table all)"
  echo "route6 $1 $(nsenter $2 $IP -d -j -6 route show table all)"
  echo "nft $1 $(nsenter $2 nft -j list ruleset)"
}
each host --net=/proc/self/ns/net
for ns in $(ls /run/netns 2>/dev/null); do each "$ns" --net=/run/netns/$ns; done
echo "netns - \"$(ls -A /run/netns 2>/dev/null | tr '\n' ' ')\""
for f in $(ls /run/netloom 2>/dev/null | grep -v '^lock$'); do
  [ -f /run/netloom/$f ] || continue
  echo "records $f $(tr -d '\n ' < /run/netloom/$f)"
done
# teamd's runtime files per node (not its log, which grows), and the setup
# each teamd was started with.
for d in $(ls /run/netloom/teamd 2>/dev/null); do
  echo "teamdfiles $d \"$(ls /run/netloom/teamd/$d | grep -v '\.log$' | tr '\n' ' ')\""
  for f in $(ls /run/netloom/teamd/$d | grep '\.setup\.json$'); do
    echo "teamdsetup $d/$f $(tr -d '\n ' < /run/netloom/teamd/$d/$f)"
  done
done
"#;
    let r = lab.sh(script);
    assert!(r.err.trim().is_empty(), "dump failed:\n{}", r.text());
    let mut lines = Vec::new();
    for line in r.out.lines() {
        let mut parts = line.splitn(3, ' ');
        let (what, node, json) = (
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
        );
        let mut v: Value = serde_json::from_str(json)
            .unwrap_or_else(|e| panic!("dump line `{line}` is not JSON: {e}"));
        // Local-table routes of link-local addresses appear when their
        // duplicate address detection ends, a second or so after the link
        // goes up: timing, not configuration (the addresses stay compared).
        if what == "route6" {
            if let Value::Array(a) = &mut v {
                a.retain(|r| {
                    !(r["table"] == "local"
                        && r["dst"].as_str().is_some_and(|d| d.starts_with("fe80:")))
                });
            }
        }
        normalize(&mut v);
        lines.push(format!("{what} {node} {v}"));
    }
    lines.join("\n")
}

/// The lines of two dumps that differ, for a readable failure.
pub fn diff(before: &str, after: &str) -> String {
    let a: BTreeSet<&str> = before.lines().collect();
    let b: BTreeSet<&str> = after.lines().collect();
    let mut out = String::new();
    for l in a.difference(&b) {
        out += &format!("- {l}\n");
    }
    for l in b.difference(&a) {
        out += &format!("+ {l}\n");
    }
    out
}

/// The operations `up` would perform now.
pub fn pending_ops(lab: &Lab) -> usize {
    let r = lab.verb("plan", &["--json"]);
    assert!(r.code == 0 || r.code == 2, "plan:\n{}", r.text());
    let v: Value = serde_json::from_str(&r.out).expect("plan --json");
    v["steps"].as_array().map_or(0, |s| s.len())
}

/// A `netloom` command in the lab's sandbox, not yet run.
pub fn command(lab: &Lab, args: &[&str]) -> Command {
    let mut c = lab.sb.command(netloom_bin());
    c.args(args);
    c
}

/// Like `Lab::assert_no_residue`, with the leftover records shown and `what`
/// (the iteration, the seed) in the message.
pub fn assert_clean(lab: &Lab, what: &str) {
    let r = lab.sh(
        "ls -A /run/netns 2>/dev/null; ip -o link show | grep -v ': lo:' ; \
         nft list tables 2>/dev/null; ls -A /run/netloom 2>/dev/null | grep -v '^lock$'; true",
    );
    if !r.out.trim().is_empty() {
        let rec = lab.sh("cat /run/netloom/*.json 2>/dev/null; true");
        panic!("{what}: residue:\n{}\nrecords:\n{}", r.out, rec.out);
    }
}

/// A dump taken once the kernel's asynchronous follow-ups (linkwatch's
/// carrier and operstate events, link-local addresses made on carrier) are
/// done: the dumps agree for 1.2 s. linkwatch may put an event off for up
/// to a second, and a stacked device's carrier follows its lower's only
/// after the lower's event ran (a macvlan was seen without carrier across
/// two dumps 150 ms apart, and with it after the rollback).
pub fn settled_dump(lab: &Lab) -> String {
    let start = std::time::Instant::now();
    let mut last = dump(lab);
    let mut since = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_secs(6) {
        std::thread::sleep(std::time::Duration::from_millis(150));
        let now = dump(lab);
        if now != last {
            last = now;
            since = std::time::Instant::now();
        } else if since.elapsed() >= std::time::Duration::from_millis(1200) {
            break;
        }
    }
    last
}

/// Wait (up to 3 s, for the same asynchronous follow-ups) until the dump
/// equals `want`; the last dump either way.
pub fn dump_until(lab: &Lab, want: &str) -> String {
    let start = std::time::Instant::now();
    loop {
        let now = dump(lab);
        if now == want || start.elapsed() > std::time::Duration::from_secs(3) {
            return now;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Inject a fault at each step index of the pending plan; each time the
/// dump must come back unchanged. Returns the number of steps.
pub fn every_step_rolls_back(lab: &Lab, what: &str) -> usize {
    let n = pending_ops(lab);
    let before = settled_dump(lab);
    for k in 0..n {
        let r = up_with_fault(lab, k);
        assert_eq!(r.code, 1, "{what}: fault at {k}:\n{}", r.text());
        assert!(
            r.err
                .contains(&format!("injected fault (NETLOOM_FAULT_AT={k})"))
                && r.err.contains("step "),
            "{what}: fault at {k}: the failing step is not named:\n{}",
            r.text()
        );
        assert!(
            r.err.contains("rolled back:") && r.err.contains("the machine is as before"),
            "{what}: fault at {k}: no complete rollback reported:\n{}",
            r.text()
        );
        let after = dump_until(lab, &before);
        assert!(
            after == before,
            "{what}: fault at step {k}: state differs after rollback:\n{}\n{}",
            diff(&before, &after),
            r.text()
        );
        assert_eq!(pending_ops(lab), n, "{what}: fault at {k}: plan changed");
    }
    n
}
