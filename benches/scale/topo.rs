//! The "scale" topology: one bridge with an address in the host node, and N
//! containers, each a netns with a veth into the bridge, eth0 with an IPv4
//! address, a default route via the bridge and IPv6 off. Every method builds
//! exactly this, so the addressing lives here once.
use std::fmt::Write as _;
use std::net::Ipv4Addr;

/// Topology name: netloom derives its netns names from it.
pub const NAME: &str = "scale";
/// The bridge's address, every container's default gateway.
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 1);
/// Prefix length of the one subnet 10.200.0.0/16.
pub const PREFIX: u8 = 16;
/// Largest N the /16 can address (gateway + containers, no broadcast).
pub const MAX_N: usize = 65_000;
/// The sysctls written inside each container before its links come up.
pub const SYSCTLS: [&str; 2] = [
    "net.ipv6.conf.all.disable_ipv6",
    "net.ipv6.conf.default.disable_ipv6",
];

/// IPv4 address of container `i` (1-based): 10.200.0.2, 10.200.0.3, ...
pub fn addr(i: usize) -> Ipv4Addr {
    // The gateway is .0.1; container i follows it. i <= MAX_N keeps it inside the /16.
    Ipv4Addr::from(u32::from(GATEWAY) + i as u32)
}

/// Name of container `i` as a topology node and, for the baselines, as its netns.
pub fn container(i: usize) -> String {
    format!("c{i}")
}

/// Name of the host-side veth end of container `i` (at most 6 bytes, well under 15).
pub fn host_end(i: usize) -> String {
    format!("h{i}")
}

/// Path under /proc/sys of a dotted sysctl name (net.ipv6.conf.all.disable_ipv6).
pub fn sysctl_path(name: &str) -> String {
    format!("/proc/sys/{}", name.replace('.', "/"))
}

/// Shell commands that switch IPv6 off in the current netns, without forking
/// (`echo` is a shell builtin): used by the ip-batch and CNI baselines.
pub fn ipv6_off_sh() -> String {
    SYSCTLS
        .iter()
        .map(|s| format!("echo 1 > {}", sysctl_path(s)))
        .collect::<Vec<_>>()
        .join("; ")
}

/// netloom's topology file for N containers, with one reach expectation per container.
pub fn netloom_yaml(n: usize) -> String {
    let mut y = String::with_capacity(200 * n + 300);
    let _ = writeln!(y, "name: {NAME}");
    let _ = writeln!(y, "nodes:");
    let _ = writeln!(y, "  host:");
    let _ = writeln!(y, "    interfaces:");
    let ports: Vec<String> = (1..=n).map(host_end).collect();
    let _ = writeln!(
        y,
        "      br0: {{ kind: bridge, stp: false, addresses: [{GATEWAY}/{PREFIX}], ports: [{}] }}",
        ports.join(", ")
    );
    for p in &ports {
        let _ = writeln!(y, "      {p}: {{}}");
    }
    let sysctl = SYSCTLS
        .iter()
        .map(|s| format!("{s}: 1"))
        .collect::<Vec<_>>()
        .join(", ");
    for i in 1..=n {
        let _ = writeln!(y, "  {}:", container(i));
        let _ = writeln!(y, "    sysctl: {{ {sysctl} }}");
        let _ = writeln!(y, "    interfaces:");
        let _ = writeln!(y, "      eth0: {{ addresses: [{}/{PREFIX}] }}", addr(i));
        let _ = writeln!(y, "    routes:");
        let _ = writeln!(y, "      - {{ to: default, via: {GATEWAY} }}");
    }
    let _ = writeln!(y, "links:");
    for i in 1..=n {
        let _ = writeln!(y, "  - [host/{}, {}/eth0]", host_end(i), container(i));
    }
    let _ = writeln!(y, "expect:");
    for i in 1..=n {
        let _ = writeln!(y, "  - reach: {} -> {GATEWAY}", container(i));
    }
    y
}
