//! Bridge ports carry no IPv6 of their own unless the file gives them some.
//!
//! A port hands its frames to the bridge; an IPv6 stack on it only makes
//! noise: a link-local address with duplicate address detection, multicast
//! listener reports and router solicitations per port, and routes the kernel
//! walks at every port change (tearing down 1000 ports walks them a million
//! times). systemd-networkd leaves link-local addressing off on bridge ports
//! for the same reason. Bridged IPv6 traffic is not affected: the bridge
//! takes frames before the port's own IPv6 stack sees them.
//!
//! So every bridge port the file declares gets the sysctl
//! `net.ipv6.conf.<port>.disable_ipv6 = 1`, unless the port has an IPv6
//! address in the file, or the file sets that key, or the node's
//! `net.ipv6.conf.all.disable_ipv6` / `default.disable_ipv6` itself (then the
//! file manages IPv6 there). Like any sysctl it shows in `plan` and is
//! written before the port goes up.
use crate::model::{LinkKind, Node};

/// The sysctl key disabling IPv6 on interface `name` (a `.` in the name is
/// written `/`, see [`crate::kernel::sysctl::key_path`]).
pub fn disable_ipv6_key(name: &str) -> String {
    format!("net.ipv6.conf.{}.disable_ipv6", name.replace('.', "/"))
}

/// Add the implied `disable_ipv6` sysctl of every bridge port of `n` (see
/// the module docs).
pub fn quiet_ports(n: &mut Node) {
    let managed = ["all", "default"]
        .iter()
        .any(|k| n.sysctls.contains_key(&disable_ipv6_key(k)));
    if managed {
        return;
    }
    let mut keys = Vec::new();
    for (name, l) in &n.links {
        let Some(master) = &l.master else { continue };
        let bridged = n
            .links
            .get(master)
            .is_some_and(|m| matches!(m.kind, LinkKind::Bridge(_)));
        let has_v6 = l.addresses.iter().any(|a| a.net.addr().is_ipv6());
        if bridged && !has_v6 {
            keys.push(disable_ipv6_key(name));
        }
    }
    for k in keys {
        n.sysctls.entry(k).or_insert_with(|| "1".into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Link, LinkKind};

    fn node(ports: &[(&str, &str)]) -> Node {
        let mut n = Node::default();
        n.links.insert(
            "br0".into(),
            Link::new("br0", LinkKind::Bridge(Default::default())),
        );
        n.links.insert(
            "bond0".into(),
            Link::new("bond0", LinkKind::Bond(Default::default())),
        );
        for (name, master) in ports {
            let mut l = Link::new(*name, LinkKind::Dummy(Default::default()));
            l.master = Some(master.to_string());
            n.links.insert(name.to_string(), l);
        }
        n
    }

    #[test]
    fn bridge_ports_get_ipv6_off_and_bond_ports_do_not() {
        let mut n = node(&[("p0", "br0"), ("p1.10", "br0"), ("b0", "bond0")]);
        quiet_ports(&mut n);
        let keys: Vec<&str> = n.sysctls.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "net.ipv6.conf.p0.disable_ipv6",
                "net.ipv6.conf.p1/10.disable_ipv6"
            ]
        );
        assert!(n.sysctls.values().all(|v| v == "1"));
    }

    #[test]
    fn the_file_wins_and_ipv6_addresses_keep_ipv6() {
        let mut n = node(&[("p0", "br0"), ("p1", "br0")]);
        n.sysctls.insert(disable_ipv6_key("p0"), "0".into());
        n.links.get_mut("p1").unwrap().addresses = vec![crate::model::Address {
            net: "2001:db8::1/64".parse().unwrap(),
            dad: false,
            secondary: false,
        }];
        quiet_ports(&mut n);
        assert_eq!(n.sysctls.len(), 1);
        assert_eq!(n.sysctls[&disable_ipv6_key("p0")], "0");

        let mut n = node(&[("p0", "br0")]);
        n.sysctls.insert(disable_ipv6_key("default"), "0".into());
        quiet_ports(&mut n);
        assert_eq!(n.sysctls.len(), 1, "the node manages IPv6 itself");
    }
}
