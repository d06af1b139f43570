//! Trials of the drivers only the VM's kernel has: dummy, vlan, ipvlan,
//! bond and team.
use super::links::one;
use crate::parity_util::{ip, topo, Act, Trial};

pub fn dummy_and_vlan() -> Vec<Trial> {
    let mut v = Vec::new();
    // Sent raw: iproute2 takes an MTU up to 2^31-1 only.
    for x in [0u32, 2_147_483_647, 2_147_483_648] {
        let file = one(&format!("d0: {{ kind: dummy, mtu: {x} }}"));
        v.push(
            Trial::new("dummy mtu", x, "mtu", file, Act::Mtu("d0".into(), x))
                .setup(&["link add d0 type dummy"])
                .reads("d0", "mtu", x),
        );
    }
    for (family, addr, values) in [
        ("IPv4", "10.0.0.1/24", [67, 68]),
        ("IPv6", "2001:db8::1/64", [1279, 1280]),
    ] {
        for x in values {
            let file = one(&format!(
                "d0: {{ kind: dummy, mtu: {x}, addresses: ['{addr}'] }}"
            ));
            let act = ip(&[&format!("addr add {addr} dev d0")]);
            v.push(
                Trial::new(
                    &format!("{family} address at dummy mtu"),
                    x,
                    family,
                    file,
                    act,
                )
                .setup(&["link add d0 type dummy", &format!("link set d0 mtu {x}")]),
            );
        }
    }
    for m in [
        "01:00:5e:00:00:01",
        "00:00:00:00:00:00",
        "02:00:00:00:00:01",
    ] {
        let file = one(&format!("d0: {{ kind: dummy, mac: '{m}' }}"));
        let act = ip(&[
            &format!("link add d0 address {m} type dummy"),
            "link set d0 up",
        ]);
        v.push(Trial::new("dummy mac", m, "MAC", file, act));
    }
    let vlan = |fields: &str| {
        topo(
            &[
                "d0: { kind: dummy }",
                &format!("v0: {{ kind: vlan, lower: d0, {fields} }}"),
            ],
            &[],
        )
    };
    for x in [0, 4094, 4095] {
        let act = ip(&[&format!("link add link d0 name v0 type vlan id {x}")]);
        v.push(
            Trial::new("vlan id", x, "id", vlan(&format!("id: {x}")), act)
                .setup(&["link add d0 type dummy"]),
        );
    }
    for x in [0, 1500, 1501] {
        let act = ip(&[&format!("link add link d0 name v0 mtu {x} type vlan id 5")]);
        v.push(
            Trial::new(
                "vlan mtu over a 1500 lower",
                x,
                "mtu",
                vlan(&format!("id: 5, mtu: {x}")),
                act,
            )
            .setup(&["link add d0 type dummy"]),
        );
    }
    for (value, fields, args) in [
        ("same id and protocol", "id: 5", "id 5"),
        (
            "same id, 802.1ad",
            "id: 5, protocol: 802.1ad",
            "id 5 protocol 802.1ad",
        ),
        ("another id", "id: 6", "id 6"),
    ] {
        let file = vlan("id: 5") + &format!("      v1: {{ kind: vlan, lower: d0, {fields} }}\n");
        let act = ip(&[&format!("link add link d0 name v1 type vlan {args}")]);
        v.push(
            Trial::new("two vlans on a lower", value, "vlan", file, act).setup(&[
                "link add d0 type dummy",
                "link add link d0 name v0 type vlan id 5",
            ]),
        );
    }
    v
}

pub fn ipvlan() -> Vec<Trial> {
    let mut v = Vec::new();
    let file = |fields: &str| {
        topo(
            &[
                "d0: { kind: dummy, mtu: 65535 }",
                &format!("i0: {{ kind: ipvlan, lower: d0, {fields} }}"),
            ],
            &[],
        )
    };
    let lower = "link add d0 mtu 65535 type dummy";
    for x in [67, 68, 65535, 65536] {
        let act = ip(&[&format!("link add i0 mtu {x} link d0 type ipvlan")]);
        v.push(Trial::new("ipvlan mtu", x, "mtu", file(&format!("mtu: {x}")), act).setup(&[lower]));
    }
    let act = ip(&["link add i0 link d0 address 02:00:00:00:00:09 type ipvlan"]);
    v.push(
        Trial::new(
            "ipvlan mac",
            "02:00:00:00:00:09",
            "MAC",
            file("mac: '02:00:00:00:00:09'"),
            act,
        )
        .setup(&[lower])
        .reads("i0", "address", "02:00:00:00:00:09"),
    );
    for (value, mode) in [("l2, then l3", "l3"), ("l2, then l2", "l2")] {
        let f =
            file("mode: l2") + &format!("      i1: {{ kind: ipvtap, lower: d0, mode: {mode} }}\n");
        let act = ip(&[&format!("link add i1 link d0 type ipvtap mode {mode}")]);
        v.push(
            Trial::new("ipvlan modes on a lower", value, "mode", f, act)
                .setup(&[lower, "link add i0 link d0 type ipvlan mode l2"])
                .reads("i0", "linkinfo.info_data.mode", "l2"),
        );
    }
    for kind in ["ipvlan", "ipvtap", "vlan"] {
        let fields = if kind == "vlan" { ", id: 5" } else { "" };
        let f = topo(
            &[
                "t0: { kind: tun }",
                &format!("x0: {{ kind: {kind}, lower: t0{fields} }}"),
            ],
            &[],
        );
        let args = if kind == "vlan" { " id 5" } else { "" };
        let act = ip(&[&format!("link add x0 link t0 type {kind}{args}")]);
        v.push(
            Trial::new(&format!("{kind} lower"), "a tun", "tun", f, act)
                .setup(&["tuntap add t0 mode tun"]),
        );
    }
    v
}

pub fn bond() -> Vec<Trial> {
    let mut v = Vec::new();
    let b = |fields: &str, ports: &[&str]| {
        let mut ifaces = vec![format!("b0: {{ kind: bond, {fields} }}")];
        ifaces.extend(ports.iter().map(|p| format!("{p}: {{ kind: dummy }}")));
        let ifaces: Vec<&str> = ifaces.iter().map(String::as_str).collect();
        topo(&ifaces, &[])
    };
    for (key, extra) in [
        ("miimon", ""),
        ("min_links", ""),
        ("arp_interval", "mode: balance-xor, "),
    ] {
        for x in [2_147_483_647u64, 2_147_483_648] {
            let file = b(&format!("{extra}{key}: {x}"), &[]);
            let args = if extra.is_empty() {
                ""
            } else {
                "mode balance-xor "
            };
            let act = ip(&[&format!("link add b0 type bond {args}{key} {x}")]);
            v.push(Trial::new(&format!("bond {key}"), x, key, file, act).reads(
                "b0",
                &format!("linkinfo.info_data.{key}"),
                x,
            ));
        }
    }
    for (value, fields, args, about) in [
        (
            "updelay 150, miimon 100",
            "mode: active-backup, miimon: 100, updelay: 150",
            "mode active-backup miimon 100 updelay 150",
            "updelay",
        ),
        (
            "updelay 200, miimon 100",
            "mode: active-backup, miimon: 100, updelay: 200",
            "mode active-backup miimon 100 updelay 200",
            "",
        ),
        (
            "updelay 0, no miimon",
            "mode: active-backup, updelay: 0",
            "mode active-backup updelay 0",
            "updelay",
        ),
        (
            "downdelay 200, no miimon",
            "mode: active-backup, downdelay: 200",
            "mode active-backup downdelay 200",
            "downdelay",
        ),
        (
            "updelay 200 in 802.3ad (miimon 100)",
            "mode: 802.3ad, updelay: 200",
            "mode 802.3ad updelay 200",
            "",
        ),
        (
            "miimon 100, arp_interval 100",
            "miimon: 100, arp_interval: 100",
            "miimon 100 arp_interval 100",
            "ARP monitor",
        ),
        (
            "miimon 100, arp_validate all",
            "miimon: 100, arp_validate: all",
            "miimon 100 arp_validate all",
            "ARP monitor",
        ),
        (
            "lacp_rate fast, active-backup",
            "mode: active-backup, lacp_rate: fast",
            "mode active-backup lacp_rate fast",
            "lacp_rate",
        ),
        (
            "lacp_rate fast, 802.3ad",
            "mode: 802.3ad, lacp_rate: fast",
            "mode 802.3ad lacp_rate fast",
            "",
        ),
        (
            "arp_interval 100, 802.3ad",
            "mode: 802.3ad, arp_interval: 100",
            "mode 802.3ad arp_interval 100",
            "arp_interval",
        ),
        (
            "arp_validate all, balance-alb",
            "mode: balance-alb, arp_validate: all",
            "mode balance-alb arp_validate all",
            "arp_validate",
        ),
    ] {
        let act = ip(&[&format!("link add b0 type bond {args}")]);
        let mut t = Trial::new("bond options", value, about, b(fields, &[]), act);
        // Delays the kernel rounds must read back as given.
        if let Some(d) = fields.split(", ").find_map(|f| f.strip_prefix("updelay: ")) {
            t = t.reads("b0", "linkinfo.info_data.updelay", d);
        }
        v.push(t);
    }
    // Sent raw: iproute2 sends the first 16 targets and drops the rest.
    let targets = |n: u8| (1..=n).map(|i| format!("10.0.0.{i}")).collect::<Vec<_>>();
    for (value, list) in [
        ("16 targets", targets(16)),
        ("17 targets", targets(17)),
        ("0.0.0.0", vec!["0.0.0.0".to_string()]),
        ("0.1.2.3", vec!["0.1.2.3".to_string()]),
        ("255.255.255.255", vec!["255.255.255.255".to_string()]),
        (
            "10.0.0.1 twice",
            vec!["10.0.0.1".to_string(), "10.0.0.1".to_string()],
        ),
    ] {
        let file = b(
            &format!(
                "mode: balance-xor, arp_interval: 100, arp_ip_target: [{}]",
                list.join(", ")
            ),
            &[],
        );
        let act = Act::BondTargets(list.iter().map(|a| a.parse().expect("IPv4")).collect());
        v.push(Trial::new("bond arp_ip_target", value, "target", file, act));
    }
    for (value, mode, port, act) in [
        (
            "primary, balance-rr",
            "balance-rr",
            "",
            "link set b0 type bond primary d1",
        ),
        (
            "primary, active-backup",
            "active-backup",
            "",
            "link set b0 type bond primary d1",
        ),
        (
            "port prio, balance-rr",
            "balance-rr",
            "prio: 5",
            "link set d1 type bond_slave prio 5",
        ),
        (
            "port prio, active-backup",
            "active-backup",
            "prio: 5",
            "link set d1 type bond_slave prio 5",
        ),
        (
            "port queue_id 16",
            "balance-rr",
            "queue_id: 16",
            "link set d1 type bond_slave queue_id 16",
        ),
        (
            "port queue_id 17",
            "balance-rr",
            "queue_id: 17",
            "link set d1 type bond_slave queue_id 17",
        ),
    ] {
        let primary = if port.is_empty() { ", primary: d1" } else { "" };
        let file = b(
            &format!("mode: {mode}{primary}, ports: {{ d1: {{ {port} }} }}"),
            &["d1"],
        );
        v.push(
            Trial::new(
                "bond ports",
                value,
                if port.is_empty() {
                    "primary"
                } else {
                    &port[..4]
                },
                file,
                ip(&[act]),
            )
            .setup(&[
                &format!("link add b0 type bond mode {mode}"),
                "link add d1 type dummy",
                "link set d1 master b0",
            ]),
        );
    }
    for (value, q) in [("queue_id 2 on two ports", 2), ("queue_id 2 and 3", 3)] {
        let file = b(
            &format!("ports: {{ d1: {{ queue_id: 2 }}, d2: {{ queue_id: {q} }} }}"),
            &["d1", "d2"],
        );
        let act = ip(&[&format!("link set d2 type bond_slave queue_id {q}")]);
        v.push(
            Trial::new("bond ports", value, "queue_id", file, act).setup(&[
                "link add b0 type bond",
                "link add d1 type dummy",
                "link add d2 type dummy",
                "link set d1 master b0",
                "link set d2 master b0",
                "link set d1 type bond_slave queue_id 2",
            ]),
        );
    }
    for x in [67, 68, 65535, 65536] {
        v.push(Trial::new(
            "bond mtu",
            x,
            "mtu",
            b(&format!("mtu: {x}"), &[]),
            ip(&[&format!("link add b0 mtu {x} type bond")]),
        ));
        let file = one(&format!("t0: {{ kind: team, mtu: {x} }}"));
        v.push(Trial::new(
            "team mtu",
            x,
            "mtu",
            file,
            ip(&[&format!("link add t0 mtu {x} type team")]),
        ));
    }
    v
}
