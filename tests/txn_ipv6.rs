//! Addresses are usable when `up` returns: IPv6 addresses skip duplicate
//! address detection unless the file asks for it, so they are never
//! tentative and a ping6 works at once, with no sleep.
#[path = "support/common/mod.rs"]
mod common;

use common::Lab;

const FILE: &str = "name: v6
nodes:
  a:
    interfaces:
      eth0: { addresses: [fd00:66::1/64] }
  b:
    interfaces:
      eth0: { addresses: [fd00:66::2/64, { address: fd00:67::2/64, dad: true }] }
links:
  - [a/eth0, b/eth0]
";

#[test]
fn ipv6_addresses_are_usable_when_up_returns() {
    let lab = Lab::from_text("v6.yaml", FILE);
    lab.expect("up", &[], 0);
    // Immediately: no sleep between up and these.
    let ping = lab.exec("a", &["ping", "-6", "-c", "1", "-W", "2", "fd00:66::2"]);
    let a = lab.exec("a", &["ip", "-6", "addr", "show", "dev", "eth0"]);
    let b = lab.exec("b", &["ip", "-6", "addr", "show", "dev", "eth0"]);
    assert_eq!(ping.code, 0, "{}\n{}\n{}", ping.text(), a.out, b.out);
    for (node, r, addr) in [("a", &a, "fd00:66::1/64"), ("b", &b, "fd00:66::2/64")] {
        let line = r
            .out
            .lines()
            .find(|l| l.contains(addr))
            .unwrap_or_else(|| panic!("{node}: {addr} missing:\n{}", r.out));
        assert!(!line.contains("tentative"), "{node}: {line}");
        assert!(line.contains("nodad"), "{node}: {line}");
    }
    // The one that asked for DAD gets it (tentative at first, no `nodad`).
    let line = b
        .out
        .lines()
        .find(|l| l.contains("fd00:67::2/64"))
        .unwrap_or("");
    assert!(!line.is_empty() && !line.contains("nodad"), "{}", b.out);
    lab.expect("down", &[], 0);
    lab.assert_no_residue();
}

/// Bridge ports have no IPv6 of their own unless the file gives them some
/// (docs/format.md); giving a port an address later turns IPv6 back on
/// before the address is added, and `down` leaves nothing behind (the
/// value recorded for restoring dies with the link).
#[test]
fn bridge_ports_have_ipv6_off_until_the_file_gives_them_an_address() {
    const PORTS: &str = "name: brv6
nodes:
  host:
    interfaces:
      br0: { kind: bridge, stp: false, ports: [p0, q0] }
      p0: {}
      q0: {}
  a:
    interfaces:
      eth0: { addresses: [fd00:68::1/64] }
  b:
    interfaces:
      eth0: { addresses: [fd00:68::2/64] }
links:
  - [host/p0, a/eth0]
  - [host/q0, b/eth0]
";
    let lab = Lab::from_text("brv6.yaml", PORTS);
    lab.expect("up", &[], 0);
    let flag = |port: &str| {
        lab.sh(&format!("cat /proc/sys/net/ipv6/conf/{port}/disable_ipv6"))
            .out
            .trim()
            .to_string()
    };
    assert_eq!(flag("p0"), "1");
    assert_eq!(flag("q0"), "1");
    let v6 = lab.sh("ip -6 -o addr show dev p0");
    assert_eq!(v6.out.trim(), "", "no link-local on a port: {}", v6.text());
    // Bridged IPv6 between the containers is unaffected.
    let ping = lab.exec("a", &["ping", "-6", "-c", "1", "-W", "2", "fd00:68::2"]);
    assert_eq!(ping.code, 0, "{}", ping.text());
    assert!(lab.pending().is_empty(), "second up: {:?}", lab.pending());

    lab.edit("p0: {}", "p0: { addresses: [fd00:69::1/64] }");
    lab.expect("up", &[], 0);
    assert_eq!(flag("p0"), "0", "IPv6 back on the port that has an address");
    assert_eq!(flag("q0"), "1");
    let v6 = lab.sh("ip -6 -o addr show dev p0");
    assert!(v6.out.contains("fd00:69::1/64"), "{}", v6.text());
    assert!(lab.pending().is_empty(), "second up: {:?}", lab.pending());

    lab.expect("down", &[], 0);
    lab.assert_no_residue();
}

/// Gateways the kernel takes without an address in their subnet: IPv6
/// link-local (with `dev`), and one a device route puts on link (written
/// after the route through it; `up` adds it first).
#[test]
fn link_local_and_device_route_gateways_apply_and_carry_traffic() {
    const GATEWAYS: &str = "name: gw6
nodes:
  a:
    sysctl: { net.ipv6.conf.default.accept_dad: 0 }
    interfaces:
      eth0: { addresses: [10.0.0.1/24, fd00:70::1/64] }
    routes:
      - { to: 2001:db8:9::/48, via: fe80::ff:fe00:2, dev: eth0 }
      - { to: 10.50.0.0/16, via: 10.20.0.2 }
      - { to: 10.20.0.0/16, dev: eth0 }
  b:
    # Otherwise the kernel's own link-local addresses are tentative for a
    # second (neighbour discovery through the gateway would wait for them).
    sysctl: { net.ipv6.conf.default.accept_dad: 0 }
    interfaces:
      eth0:
        mac: 02:00:00:00:00:02
        addresses: [10.0.0.2/24, 10.20.0.2/16, 10.50.0.1/24, fd00:70::2/64, 2001:db8:9::1/64]
links:
  - [a/eth0, b/eth0]
";
    let lab = Lab::from_text("gw6.yaml", GATEWAYS);
    lab.expect("validate", &[], 0);
    lab.expect("up", &[], 0);
    let routes = lab.exec("a", &["ip", "route", "show", "table", "all"]);
    for to in [
        "10.50.0.0/16 via 10.20.0.2",
        "2001:db8:9::/48 via fe80::ff:fe00:2",
    ] {
        assert!(routes.out.contains(to), "{to}:\n{}", routes.text());
    }
    // The first neighbour solicitation for b's link-local address may go
    // out before b has that address (the kernel adds it once the veth has
    // carrier); the kernel solicits again a second later.
    for (flag, to) in [("-4", "10.50.0.1"), ("-6", "2001:db8:9::1")] {
        let ping = lab.exec("a", &["ping", flag, "-c", "1", "-W", "5", to]);
        assert_eq!(ping.code, 0, "{to}: {}", ping.text());
    }
    assert!(lab.pending().is_empty(), "second up: {:?}", lab.pending());
    lab.expect("down", &[], 0);
    lab.assert_no_residue();
}
