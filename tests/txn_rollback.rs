//! Rollback is complete at every step: `up` with a fault injected inside
//! netloom (NETLOOM_FAULT_AT=k, the k-th launched step fails instead of
//! running) exits 1 naming the step, undoes what was done, and the machine's
//! normalized state equals the state before — for every k, from an empty
//! machine and from an applied topology towards an edited one.
#[path = "support/common/mod.rs"]
mod common;
#[path = "support/txn_support/mod.rs"]
mod txn_support;

use common::Lab;
use txn_support::{edited, every_step_rolls_back, topology};

const CONTAINERS: usize = 4;

/// After the rollbacks the edit applies in one `up`, and `down` leaves
/// nothing behind.
fn applies_then_leaves_nothing(lab: &Lab) {
    lab.expect("up", &[], 0);
    lab.expect("plan", &[], 0);
    lab.expect("down", &[], 0);
    lab.assert_no_residue();
}

#[test]
fn rollback_at_every_step_from_empty_and_towards_an_edit() {
    let lab = Lab::from_text("txn.yaml", &topology("txn", CONTAINERS));
    lab.expect("validate", &[], 0);

    let n = every_step_rolls_back(&lab, "from empty");
    assert!(n >= 30, "only {n} operations: the topology is too small");
    lab.assert_no_residue();

    lab.expect("up", &[], 0);
    lab.expect("plan", &[], 0);
    std::fs::write(&lab.file, edited("txn", CONTAINERS)).unwrap();
    lab.expect("validate", &[], 0);
    let plan = lab.verb("plan", &[]);
    // The edit exercises the undo of every kind of change.
    for needle in [
        "link set up0 mtu 1300",
        "addr del fd00:9::1/64 dev br0",
        "netns delete",
        "link del x0",
        "route del 10.97.0.0/24",
        "ageing_time",
        "cost 20",
        "sysctl net.ipv4.ip_default_ttl=99 (was 61)",
        "nft masquerade 10.9.0.0/25",
    ] {
        assert!(
            plan.out.contains(needle),
            "plan lacks `{needle}`:\n{}",
            plan.out
        );
    }
    let m = every_step_rolls_back(&lab, "towards the edit");
    assert!(m >= 9, "only {m} operations in the edit");

    applies_then_leaves_nothing(&lab);
}

/// A bridge removed from the file while its ports stay, or renamed with
/// the same ports: a fault at any step rolls back to the bridge with its
/// ports enslaved again, port options and all (making the bridge anew
/// alone left them masterless; a port moved to the new bridge before the
/// old one went was released by its undo after the old one took it back).
/// The bridge has a fixed MAC: a bridge without one takes its ports' and
/// keeps the IPv6 link-local address of the MAC it went up with, which a
/// bridge made anew cannot have again.
#[test]
fn rollback_of_a_removed_or_renamed_bridge_takes_its_ports_back() {
    let bridge = "      br0: { kind: bridge, stp: false, mac: \"02:00:00:00:08:01\", addresses: [10.8.0.1/24], ports: { p1: { cost: 20 }, p2: {} } }\n";
    let text = format!(
        "name: rbr
nodes:
  host:
    interfaces:
{bridge}      p1: {{}}
      p2: {{}}
  c1:
    interfaces:
      eth0: {{ addresses: [10.8.0.2/24] }}
  c2:
    interfaces:
      eth0: {{ addresses: [10.8.0.3/24] }}
links:
  - [host/p1, c1/eth0]
  - [host/p2, c2/eth0]
"
    );
    let removed = text
        .replace(bridge, "")
        .replace("      p1: {}", "      p1: { addresses: [10.8.0.1/24] }");
    let renamed = text.replace("br0:", "br1:");
    for (what, edit, needle) in [
        ("bridge removed", removed, "link del br0"),
        ("bridge renamed", renamed, "link set p1 master br1"),
    ] {
        let lab = Lab::from_text("rbr.yaml", &text);
        lab.expect("up", &[], 0);
        std::fs::write(&lab.file, edit).unwrap();
        let plan = lab.verb("plan", &[]);
        assert!(plan.out.contains(needle), "{what}: {}", plan.text());
        every_step_rolls_back(&lab, what);
        lab.expect("up", &[], 0);
        lab.expect("down", &[], 0);
        lab.assert_no_residue();
    }
}

/// A link set down while routes through it go (added by hand inside a
/// namespace of netloom's, where every route is netloom's to manage): the
/// kernel takes them and the link's IPv6 addresses along with the down, so
/// the routes are deleted before it and the address the file keeps is
/// added again after; a fault at any step puts everything back, and the
/// edit then applies in one `up`. Before, the route deletion after the down
/// failed (ESRCH) and a second `up` re-added the address. The routes are
/// `proto static`, as netloom writes them back (its model has no protocol;
/// iproute2's default is `boot`).
#[test]
fn rollback_of_a_link_set_down_puts_back_its_routes() {
    let text = "name: rdn
nodes:
  host:
    interfaces:
      h1: { addresses: [10.6.0.1/24] }
  c1:
    interfaces:
      eth0: { addresses: [10.6.0.2/24, fd00:6::2/64] }
      eth1: { addresses: [10.7.0.2/24] }
  c2:
    interfaces:
      eth0: { addresses: [10.7.0.3/24] }
links:
  - [host/h1, c1/eth0]
  - [c1/eth1, c2/eth0]
";
    // With keep_addr_on_down on, the kernel keeps the IPv6 address: the
    // same plan holds either way.
    for keep in ["0", "1"] {
        set_link_down_with_routes(text, keep);
    }
}

fn set_link_down_with_routes(text: &str, keep_addr_on_down: &str) {
    let lab = Lab::from_text("rdn.yaml", text);
    lab.expect("up", &[], 0);
    let r = lab.sh(&format!(
        "ip -n netloom-rdn.c1 route add 10.66.0.0/16 via 10.6.0.1 proto static && \
         ip -n netloom-rdn.c1 -6 route add fd00:66::/48 dev eth0 proto static && \
         ip netns exec netloom-rdn.c1 sysctl -qw net.ipv6.conf.eth0.keep_addr_on_down={keep_addr_on_down}"
    ));
    assert_eq!(r.code, 0, "{}", r.text());
    // eth0 goes down, and other changes give the fault steps after it.
    let edit = text
        .replace(
            "eth0: { addresses: [10.6.0.2/24, fd00:6::2/64] }",
            "eth0: { addresses: [10.6.0.2/24, fd00:6::2/64], state: down }",
        )
        .replace("10.7.0.2/24]", "10.7.0.2/24, 10.7.1.2/24], mtu: 1400")
        .replace("10.7.0.3/24]", "10.7.0.3/24, 10.7.1.3/24]");
    std::fs::write(&lab.file, edit).unwrap();
    let plan = lab.verb("plan", &[]);
    assert!(plan.out.contains("eth0 down"), "{}", plan.text());
    let n = every_step_rolls_back(&lab, "link set down");
    assert!(n >= 4, "only {n} operations");
    applies_then_leaves_nothing(&lab);
}

/// The MTUs of a stack (a veth end carrying a macvlan) raised and then
/// lowered together: each `up` applies in one go, and a fault at any step
/// rolls back to the old MTUs. The macvlan may never be larger than its
/// lower, so raising goes lower first, lowering macvlan first, and their
/// undo the other way round (the macvlan sorts after its lower by name, so
/// name order alone would get the lowering and its undo wrong). A second
/// macvlan declares no MTU: the kernel shrinks it with its lower, and a
/// rollback must grow it back (the falling edit adds a third macvlan, made
/// after the lower's change, so that faults come after that change too).
#[test]
fn mtus_along_a_stack_rise_and_fall_and_roll_back() {
    let text = |mtu: u32| {
        let late = match mtu {
            1400 => "      up0late: { kind: macvlan, lower: up0, mode: bridge }\n",
            _ => "",
        };
        format!(
            "name: rmtu
nodes:
  host:
    interfaces:
      up0: {{ mtu: {mtu}, addresses: [10.7.0.1/24] }}
      up0mv: {{ kind: macvlan, lower: up0, mode: bridge, mtu: {mtu} }}
      up0free: {{ kind: macvlan, lower: up0, mode: bridge }}
{late}  c1:
    interfaces:
      eth0: {{ mtu: {mtu}, addresses: [10.7.0.2/24] }}
links:
  - [host/up0, c1/eth0]
"
        )
    };
    let lab = Lab::from_text("rmtu.yaml", &text(1500));
    lab.expect("up", &[], 0);
    for (what, mtu) in [("rising", 9000), ("falling", 1400)] {
        std::fs::write(&lab.file, text(mtu)).unwrap();
        let plan = lab.verb("plan", &[]);
        assert!(
            plan.out.contains(&format!("link set up0mv mtu {mtu}")),
            "{what}: {}",
            plan.text()
        );
        every_step_rolls_back(&lab, what);
        lab.expect("up", &[], 0);
        lab.expect("plan", &[], 0);
    }
    lab.expect("down", &[], 0);
    lab.assert_no_residue();
}

/// A bridge declared with an MTU above its ports' keeps it: the kernel
/// sets a bridge to its ports' smallest MTU when one joins unless the MTU
/// was changed after creation, so one `up` used to leave it at 1500 and the
/// next one set it. Rolled back at every step; a port joining later leaves
/// it alone.
#[test]
fn a_bridge_keeps_its_mtu_when_ports_join() {
    let one = "name: brmtu
nodes:
  host:
    interfaces:
      br0: { kind: bridge, stp: false, mtu: 9000, ports: [p1] }
      p1: {}
  c1:
    interfaces:
      eth0: { addresses: [10.8.0.2/24] }
links:
  - [host/p1, c1/eth0]
";
    let lab = Lab::from_text("brmtu.yaml", one);
    let n = every_step_rolls_back(&lab, "from empty");
    assert!(n >= 5, "only {n} steps");
    let mtu = || lab.sh("cat /sys/class/net/br0/mtu").out.trim().to_string();
    lab.expect("up", &[], 0);
    assert_eq!(mtu(), "9000");
    lab.expect("plan", &[], 0);
    let two = one
        .replace("ports: [p1] }", "ports: [p1, p2] }")
        .replace("      p1: {}\n", "      p1: {}\n      p2: {}\n")
        .replace(
            "links:\n",
            "  c2:\n    interfaces:\n      eth0: { addresses: [10.8.0.3/24] }\nlinks:\n  - [host/p2, c2/eth0]\n",
        );
    std::fs::write(&lab.file, two).unwrap();
    lab.expect("up", &[], 0);
    assert_eq!(mtu(), "9000");
    lab.expect("plan", &[], 0);
    lab.expect("down", &[], 0);
    lab.assert_no_residue();
}
