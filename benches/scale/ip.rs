//! The two iproute2 baselines, as generated shell scripts run by one `sh`
//! inside the sandbox: "naive" (one `ip` process per step, as a person would
//! type it) and "ip-batch" (the fewest processes iproute2 allows).
use std::fmt::Write as _;
use std::io;
use std::path::Path;

use crate::topo::{self, GATEWAY, PREFIX};

/// Host-side commands shared by both layouts: the bridge, its address, up.
fn bridge_lines() -> Vec<String> {
    vec![
        "link add br0 type bridge stp_state 0".into(),
        format!("addr add {GATEWAY}/{PREFIX} dev br0"),
        "link set br0 up".into(),
    ]
}

/// Commands run inside container `i` (relative to its netns).
fn container_lines(i: usize) -> Vec<String> {
    vec![
        "link set lo up".into(),
        format!("addr add {}/{PREFIX} dev eth0", topo::addr(i)),
        "link set eth0 up".into(),
        format!("route add default via {GATEWAY}"),
    ]
}

/// Naive build: one `ip` per step; the sysctls through `ip netns exec ... sysctl`.
pub fn naive_up(n: usize) -> String {
    let mut s = String::from("set -e\n");
    for l in bridge_lines() {
        let _ = writeln!(s, "ip {l}");
    }
    let sysctls: Vec<String> = topo::SYSCTLS.iter().map(|k| format!("{k}=1")).collect();
    for i in 1..=n {
        let (c, h) = (topo::container(i), topo::host_end(i));
        let _ = writeln!(s, "ip netns add {c}");
        let _ = writeln!(s, "ip netns exec {c} sysctl -q -w {}", sysctls.join(" "));
        let _ = writeln!(s, "ip link add {h} type veth peer name eth0 netns {c}");
        let _ = writeln!(s, "ip link set {h} master br0");
        let _ = writeln!(s, "ip link set {h} up");
        for l in container_lines(i) {
            let _ = writeln!(s, "ip -n {c} {l}");
        }
    }
    s
}

/// Naive teardown: one `ip netns del` per container (the kernel then removes
/// each veth pair with its netns), then the bridge.
pub fn naive_down(n: usize) -> String {
    let mut s = String::from("set -e\n");
    for i in 1..=n {
        let _ = writeln!(s, "ip netns del {}", topo::container(i));
    }
    s.push_str("ip link del br0\n");
    s
}

/// ip-batch build: one `ip -batch` for the whole host side (netns, bridge,
/// veths created with their peer directly in the container's netns), then
/// one process per container: `nsenter` into the netns, the two sysctls as
/// shell builtins, and `exec ip -batch` for the in-container steps. N+2
/// processes in all (sh, host ip, N x nsenter->sh->ip).
///
/// Writes the batch files into `dir` and returns the script.
pub fn batch_up(n: usize, dir: &Path) -> io::Result<String> {
    let mut host = String::new();
    for i in 1..=n {
        let _ = writeln!(host, "netns add {}", topo::container(i));
    }
    for l in bridge_lines() {
        let _ = writeln!(host, "{l}");
    }
    for i in 1..=n {
        let (c, h) = (topo::container(i), topo::host_end(i));
        let _ = writeln!(host, "link add {h} type veth peer name eth0 netns {c}");
        let _ = writeln!(host, "link set {h} master br0 up");
    }
    let host_file = dir.join("host.batch");
    std::fs::write(&host_file, host)?;
    let mut s = String::from("set -e\n");
    let _ = writeln!(s, "ip -batch {}", host_file.display());
    let v6off = topo::ipv6_off_sh();
    for i in 1..=n {
        let c = topo::container(i);
        let f = dir.join(format!("{c}.batch"));
        std::fs::write(&f, container_lines(i).join("\n") + "\n")?;
        let _ = writeln!(
            s,
            "nsenter --net=/run/netns/{c} sh -c '{v6off}; exec ip -batch {}'",
            f.display()
        );
    }
    Ok(s)
}

/// ip-batch teardown: one batch deleting every netns and the bridge.
pub fn batch_down(n: usize, dir: &Path) -> io::Result<String> {
    let mut b = String::new();
    for i in 1..=n {
        let _ = writeln!(b, "netns del {}", topo::container(i));
    }
    b.push_str("link del br0\n");
    let f = dir.join("down.batch");
    std::fs::write(&f, b)?;
    Ok(format!("set -e\nip -batch {}\n", f.display()))
}
