//! Trials of vxlan, tun/tap and interface names.
use super::links::one;
use crate::parity_util::{ip, topo, yaml_key, Act, Trial};

pub fn vxlan() -> Vec<Trial> {
    let mut v = Vec::new();
    // Sent raw: iproute2 refuses a VNI of 2^24 itself.
    for x in [0u32, 16_777_215, 16_777_216] {
        let file = one(&format!(
            "vx0: {{ kind: vxlan, vni: {x}, remote: 10.0.0.1 }}"
        ));
        let act = Act::Vxlan {
            vni: x,
            local: None,
            peer: "10.0.0.1".parse().ok(),
            dev: None,
        };
        v.push(Trial::new("vxlan vni", x, "vni", file, act).reads(
            "vx0",
            "linkinfo.info_data.id",
            x,
        ));
    }
    for &x in &[0, 1, 65535] {
        let file = one(&format!(
            "vx0: {{ kind: vxlan, vni: 1, remote: 10.0.0.1, dstport: {x} }}"
        ));
        let act = ip(&[&format!(
            "link add vx0 type vxlan id 1 remote 10.0.0.1 dstport {x}"
        )]);
        v.push(Trial::new("vxlan dstport", x, "dstport", file, act).reads(
            "vx0",
            "linkinfo.info_data.port",
            x,
        ));
    }
    for &x in &[0, 255] {
        let file = one(&format!(
            "vx0: {{ kind: vxlan, vni: 1, remote: 10.0.0.1, ttl: {x} }}"
        ));
        let act = ip(&[&format!(
            "link add vx0 type vxlan id 1 remote 10.0.0.1 dstport 4789 ttl {x}"
        )]);
        v.push(Trial::new("vxlan ttl", x, "ttl", file, act));
    }
    for (value, vni, port) in [
        ("same VNI and port", 7, 4789),
        ("same VNI, other port", 7, 4790),
        ("other VNI", 8, 4789),
    ] {
        let file = topo(
            &[
                "vx0: { kind: vxlan, vni: 7, remote: 10.0.0.1 }",
                &format!("vx1: {{ kind: vxlan, vni: {vni}, remote: 10.0.0.2, dstport: {port} }}"),
            ],
            &[],
        );
        let act = ip(&[&format!(
            "link add vx1 type vxlan id {vni} dstport {port} remote 10.0.0.2"
        )]);
        v.push(
            Trial::new("two vxlans in a node", value, "vni", file, act)
                .setup(&["link add vx0 type vxlan id 7 dstport 4789 remote 10.0.0.1"]),
        );
    }
    let a = |s: &str| s.parse().ok();
    for (value, local, peer, dev, about) in [
        (
            "local 10.0.0.2, remote 2001:db8::1",
            "10.0.0.2",
            "2001:db8::1",
            false,
            "families",
        ),
        (
            "local 239.1.1.2, remote 10.0.0.1",
            "239.1.1.2",
            "10.0.0.1",
            false,
            "multicast",
        ),
        (
            "group 239.1.1.1 without dev",
            "",
            "239.1.1.1",
            false,
            "needs `dev`",
        ),
        ("group 239.1.1.1 with dev", "", "239.1.1.1", true, ""),
        (
            "local fe80::1, remote 2001:db8::1",
            "fe80::1",
            "2001:db8::1",
            true,
            "link-local",
        ),
        ("remote fe80::2", "", "fe80::2", true, "link-local"),
        (
            "local fe80::1, remote fe80::2, no dev",
            "fe80::1",
            "fe80::2",
            false,
            "needs `dev`",
        ),
        (
            "local fe80::1, remote fe80::2",
            "fe80::1",
            "fe80::2",
            true,
            "",
        ),
    ] {
        let key = if peer
            .parse::<std::net::IpAddr>()
            .is_ok_and(|p| p.is_multicast())
        {
            "group"
        } else {
            "remote"
        };
        let mut fields = format!("kind: vxlan, vni: 1, {key}: '{peer}'");
        if !local.is_empty() {
            fields.push_str(&format!(", local: '{local}'"));
        }
        if dev {
            fields.push_str(", dev: d0");
        }
        let file = topo(&["d0: {}", &format!("vx0: {{ {fields} }}")], &["d0"]);
        let act = Act::Vxlan {
            vni: 1,
            local: a(local),
            peer: a(peer),
            dev: dev.then(|| "d0".to_string()),
        };
        v.push(
            Trial::new("vxlan addresses", value, about, file, act)
                .setup(&["link add d0 type veth peer name d0x", "link set d0 up"]),
        );
    }
    v
}

pub fn tap_and_names() -> Vec<Trial> {
    let mut v = Vec::new();
    for (key, x) in [
        ("owner", 0u32),
        ("owner", u32::MAX - 1),
        ("owner", u32::MAX),
        ("group", u32::MAX - 1),
        ("group", u32::MAX),
    ] {
        let file = one(&format!("t0: {{ kind: tap, {key}: {x} }}"));
        let (o, g) = if key == "owner" {
            (Some(x), None)
        } else {
            (None, Some(x))
        };
        v.push(Trial::new(
            &format!("tap {key}"),
            x,
            key,
            file,
            Act::Tap(b"t0".to_vec(), o, g),
        ));
    }
    let long = "abcdefghijklmnop";
    for name in [
        "eth0.2",
        "a b",
        "a\tb",
        "a:b",
        "a/b",
        ".",
        "..",
        "eth\u{e0}",
        "a\u{a0}b",
        "a\u{2003}b",
        "a\u{85}b",
        &long[..15],
        long,
    ] {
        let file = one(&format!("{}: {{ kind: tap }}", yaml_key(name)));
        let act = Act::Tap(name.as_bytes().to_vec(), None, None);
        v.push(Trial::new(
            "interface name",
            name.escape_debug(),
            "interface name",
            file,
            act,
        ));
    }
    v
}
