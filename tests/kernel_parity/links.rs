//! Trials of options every kernel here has: bridge, veth, MTUs, MAC
//! addresses, macvlan and macvtap.
use crate::parity_util::{ip, topo, Trial};

/// One interface in node `a`.
pub fn one(iface: &str) -> String {
    topo(&[iface], &[])
}

pub fn bridge() -> Vec<Trial> {
    let mut v = Vec::new();
    // (option, values, iproute2's words, whether STP is on)
    for (opt, values, stp) in [
        ("hello_time", &[99u64, 100, 101, 1000, 1002][..], None),
        ("max_age", &[598, 600, 4000, 4002][..], None),
        ("forward_delay", &[198, 200, 3000, 3002][..], Some(true)),
        ("forward_delay", &[0, 4_294_967_294][..], Some(false)),
        (
            "ageing_time",
            &[0, 1, 4_294_967_294, 4_294_967_295][..],
            None,
        ),
        ("priority", &[0, 65535][..], None),
    ] {
        for &x in values {
            let (stp_yaml, stp_ip, name) = match stp {
                Some(s) => (
                    format!("stp: {s}, "),
                    format!("stp_state {} ", u8::from(s)),
                    format!("bridge {opt} (stp {s})"),
                ),
                None => (String::new(), String::new(), format!("bridge {opt}")),
            };
            let file = one(&format!("br0: {{ kind: bridge, {stp_yaml}{opt}: {x} }}"));
            let cmd = format!("link add br0 type bridge {stp_ip}{opt} {x}");
            v.push(Trial::new(&name, x, opt, file, ip(&[&cmd])).reads(
                "br0",
                &format!("linkinfo.info_data.{opt}"),
                x,
            ));
        }
    }
    for (opt, values) in [
        ("cost", &[0, 1, 65535, 65536][..]),
        ("priority", &[63, 64][..]),
    ] {
        for &x in values {
            let file = topo(
                &[
                    &format!("br0: {{ kind: bridge, ports: {{ p0: {{ {opt}: {x} }} }} }}"),
                    "p0: {}",
                ],
                &["p0"],
            );
            let act = ip(&[&format!("link set p0 type bridge_slave {opt} {x}")]);
            v.push(
                Trial::new(&format!("bridge port {opt}"), x, opt, file, act)
                    .setup(&[
                        "link add br0 type bridge",
                        "link add p0 type veth peer name p0x",
                        "link set p0 master br0",
                    ])
                    .reads("p0", &format!("linkinfo.info_slave_data.{opt}"), x),
            );
        }
    }
    v
}

pub fn mtus() -> Vec<Trial> {
    let mut v = Vec::new();
    for &x in &[67, 68, 65535, 65536] {
        let file = topo(&[&format!("v0: {{ mtu: {x} }}")], &["v0"]);
        let act = ip(&[&format!("link add v0 mtu {x} type veth peer name v0x")]);
        v.push(Trial::new("veth mtu", x, "mtu", file, act));
        let file = one(&format!("br0: {{ kind: bridge, mtu: {x} }}"));
        let act = ip(&[&format!("link add br0 mtu {x} type bridge")]);
        v.push(Trial::new("bridge mtu", x, "mtu", file, act));
        let file = one(&format!(
            "vx0: {{ kind: vxlan, vni: 1, remote: 10.0.0.1, mtu: {x} }}"
        ));
        let act = ip(&[&format!(
            "link add vx0 mtu {x} type vxlan id 1 remote 10.0.0.1 dstport 4789"
        )]);
        v.push(Trial::new("vxlan mtu", x, "mtu", file, act).reads("vx0", "mtu", x));
    }
    for (kind, values) in [
        ("tap", &[67, 68, 65521, 65522][..]),
        ("tun", &[68, 65535, 65536][..]),
    ] {
        for &x in values {
            let file = one(&format!("t0: {{ kind: {kind}, mtu: {x} }}"));
            let act = ip(&[&format!("link set t0 mtu {x}")]);
            v.push(
                Trial::new(&format!("{kind} mtu"), x, "mtu", file, act)
                    .setup(&[&format!("tuntap add t0 mode {kind}")]),
            );
        }
    }
    // Over a dev of 1500 a vxlan has 50 bytes less; at creation the
    // kernel clamps a larger one (vxlan_config_apply).
    for &x in &[1450, 1451] {
        let file = topo(
            &[
                "d0: {}",
                &format!("vx0: {{ kind: vxlan, vni: 1, remote: 10.0.0.1, dev: d0, mtu: {x} }}"),
            ],
            &["d0"],
        );
        let act = ip(&[&format!(
            "link add vx0 mtu {x} type vxlan id 1 remote 10.0.0.1 dstport 4789 dev d0"
        )]);
        v.push(
            Trial::new("vxlan mtu over a 1500 dev", x, "mtu", file, act)
                .setup(&["link add d0 type veth peer name d0x"])
                .reads("vx0", "mtu", x),
        );
    }
    for (kind, values) in [
        ("macvlan", &[67, 68, 65535][..]),
        ("macvtap", &[67, 68][..]),
    ] {
        for &x in values {
            let file = topo(
                &[
                    "d0: { mtu: 65535 }",
                    &format!("m0: {{ kind: {kind}, lower: d0, mtu: {x} }}"),
                ],
                &["d0"],
            );
            let act = ip(&[&format!("link add m0 mtu {x} link d0 type {kind}")]);
            v.push(
                Trial::new(&format!("{kind} mtu"), x, "mtu", file, act)
                    .setup(&["link add d0 mtu 65535 type veth peer name d0x"]),
            );
        }
    }
    for &x in &[1279, 1280] {
        let file = topo(
            &[&format!(
                "v0: {{ mtu: {x}, addresses: ['2001:db8::1/64'] }}"
            )],
            &["v0"],
        );
        let act = ip(&["addr add 2001:db8::1/64 dev v0 nodad"]);
        v.push(
            Trial::new("IPv6 address at mtu", x, "IPv6", file, act)
                .setup(&[&format!("link add v0 mtu {x} type veth peer name v0x")]),
        );
    }
    v
}

pub fn macs() -> Vec<Trial> {
    let mut v = Vec::new();
    let macs = [
        "01:00:5e:00:00:01",
        "ff:ff:ff:ff:ff:ff",
        "00:00:00:00:00:00",
        "02:00:00:00:00:01",
        "00:00:00:00:00:01",
    ];
    for m in macs {
        let file = topo(&[&format!("v0: {{ mac: '{m}' }}")], &["v0"]);
        let act = ip(&[
            &format!("link add v0 address {m} type veth peer name v0x"),
            "link set v0 up",
        ]);
        v.push(Trial::new("veth mac", m, "MAC", file, act));
    }
    for m in &macs[..2] {
        let file = one(&format!("br0: {{ kind: bridge, mac: '{m}' }}"));
        v.push(Trial::new(
            "bridge mac",
            m,
            "MAC",
            file,
            ip(&[&format!("link add br0 address {m} type bridge")]),
        ));
        let file = one(&format!("t0: {{ kind: tap, mac: '{m}' }}"));
        let act = ip(&[&format!("link set t0 address {m}")]);
        v.push(Trial::new("tap mac", m, "MAC", file, act).setup(&["tuntap add t0 mode tap"]));
        let file = one(&format!(
            "vx0: {{ kind: vxlan, vni: 1, remote: 10.0.0.1, mac: '{m}' }}"
        ));
        let act = ip(&[&format!(
            "link add vx0 address {m} type vxlan id 1 remote 10.0.0.1 dstport 4789"
        )]);
        v.push(Trial::new("vxlan mac", m, "MAC", file, act));
        let file = topo(
            &[
                "d0: {}",
                &format!("m0: {{ kind: macvlan, lower: d0, mac: '{m}' }}"),
            ],
            &["d0"],
        );
        let act = ip(&[&format!("link add m0 link d0 address {m} type macvlan")]);
        v.push(
            Trial::new("macvlan mac", m, "MAC", file, act)
                .setup(&["link add d0 type veth peer name d0x"]),
        );
    }
    let file = one("t0: { kind: tun, mac: '02:00:00:00:00:01' }");
    let act = ip(&["link set t0 address 02:00:00:00:00:01"]);
    v.push(
        Trial::new("tun mac", "02:00:00:00:00:01", "MAC", file, act)
            .setup(&["tuntap add t0 mode tun"]),
    );
    for m in ["01:00:5e:00:00:01", "02:00:00:00:00:07"] {
        let file = topo(
            &[
                "d0: {}",
                &format!("m0: {{ kind: macvlan, lower: d0, mode: source, source_macs: ['{m}'] }}"),
            ],
            &["d0"],
        );
        let act = ip(&[&format!(
            "link add m0 link d0 type macvlan mode source macaddr add {m}"
        )]);
        v.push(
            Trial::new("macvlan source_macs", m, "MAC", file, act)
                .setup(&["link add d0 type veth peer name d0x"]),
        );
    }
    v
}

/// Rules across the macvlan devices of one lower, and lowers that are no Ethernet.
pub fn macvlan_port() -> Vec<Trial> {
    let lower = "link add d0 address 02:00:00:00:00:0d type veth peer name d0x";
    let file = |a: &str, b: &str| {
        topo(
            &[
                "d0: { mac: '02:00:00:00:00:0d' }",
                &format!("m0: {{ kind: macvlan, lower: d0, {a} }}"),
                &format!("m1: {{ kind: macvtap, lower: d0, {b} }}"),
            ],
            &["d0"],
        )
    };
    let mut v = Vec::new();
    for (value, a, b, first, second) in [
        (
            "passthru, then bridge",
            "mode: passthru",
            "mode: bridge",
            "mode passthru",
            "mode bridge",
        ),
        (
            "bridge, then passthru",
            "mode: bridge",
            "mode: passthru",
            "mode bridge",
            "mode passthru",
        ),
        (
            "vepa, then private",
            "mode: vepa",
            "mode: private",
            "mode vepa",
            "mode private",
        ),
    ] {
        let act = ip(&[&format!("link add m1 link d0 type macvtap {second}")]);
        v.push(
            Trial::new(
                "macvlan mode on a shared lower",
                value,
                "passthru",
                file(a, b),
                act,
            )
            .setup(&[lower, &format!("link add m0 link d0 type macvlan {first}")]),
        );
    }
    for (value, mac) in [
        ("another device's", "02:00:00:00:00:05"),
        ("the lower's", "02:00:00:00:00:0d"),
        ("its own", "02:00:00:00:00:06"),
    ] {
        let act = ip(&[
            &format!("link add m1 link d0 address {mac} type macvtap"),
            "link set m1 up",
        ]);
        let f = file("mac: '02:00:00:00:00:05'", &format!("mac: '{mac}'"));
        v.push(
            Trial::new("up macvlan with a MAC", value, "MAC", f, act).setup(&[
                lower,
                "link add m0 link d0 address 02:00:00:00:00:05 type macvlan",
                "link set m0 up",
            ]),
        );
    }
    let f = topo(
        &[
            "d0: {}",
            "m0: { kind: macvlan, lower: d0, mode: passthru, mac: '02:00:00:00:00:09' }",
        ],
        &["d0"],
    );
    let act = ip(&["link add m0 link d0 address 02:00:00:00:00:09 type macvlan mode passthru"]);
    v.push(
        Trial::new(
            "passthru macvlan mac",
            "02:00:00:00:00:09",
            "passthru",
            f,
            act,
        )
        .setup(&["link add d0 type veth peer name d0x"])
        .reads("m0", "address", "02:00:00:00:00:09"),
    );
    for kind in ["macvlan", "macvtap"] {
        let f = topo(
            &[
                "t0: { kind: tun }",
                &format!("m0: {{ kind: {kind}, lower: t0 }}"),
            ],
            &[],
        );
        let act = ip(&[&format!("link add m0 link t0 type {kind}")]);
        v.push(
            Trial::new(&format!("{kind} lower"), "a tun", "tun", f, act)
                .setup(&["tuntap add t0 mode tun"]),
        );
    }
    v
}
