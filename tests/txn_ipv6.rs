//! Addresses are usable when `up` returns: IPv6 addresses skip duplicate
//! address detection unless the file asks for it, so they are never
//! tentative and a ping6 works at once, with no sleep.
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
