//! Observe tests: objects built with iproute2 (an independent tool) in
//! sandboxed namespaces, read back through netlink and compared exactly.
use netloom::kernel::Kernel;

// ---- observe: objects built with iproute2 (an independent tool), read back through netlink ----

mod observe {
    use std::collections::BTreeMap;
    use std::process::Command;

    use netloom::kernel::{observe, Kernel};
    use netloom::model::*;

    /// Run `ip` with `args`, failing the test with its stderr.
    pub fn ip(args: &[&str]) {
        let out = Command::new("ip").args(args).output().expect("run ip");
        assert!(
            out.status.success(),
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `ip -j -d link show dev` in namespace `ns` (None: our own).
    fn ipj(ns: Option<&str>, dev: &str) -> serde_json::Value {
        let mut args = vec![];
        if let Some(n) = ns {
            args.extend(["-n", n]);
        }
        args.extend(["-j", "-d", "link", "show", "dev", dev]);
        let out = Command::new("ip").args(&args).output().expect("run ip");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("ip json");
        v[0].clone()
    }

    /// A link as expected, with what only the kernel decides (ifindex, random
    /// MAC, carrier) taken from iproute2's independent view.
    pub fn expect(ns: Option<&str>, dev: &str, kind: LinkKind, up: bool, mtu: u32) -> Link {
        let j = ipj(ns, dev);
        let flags: Vec<String> = serde_json::from_value(j["flags"].clone()).unwrap();
        let mut l = Link::new(dev, kind);
        l.up = Some(up);
        l.mtu = Some(mtu);
        l.ifindex = Some(j["ifindex"].as_u64().unwrap() as u32);
        l.mac = j["address"].as_str().and_then(|a| a.parse().ok());
        l.carrier = Some(flags.iter().any(|f| f == "LOWER_UP"));
        l
    }

    /// Whether iproute2 shows `key` in the link's kind-specific data.
    pub fn has_info(ns: Option<&str>, dev: &str, key: &str) -> bool {
        !ipj(ns, dev)["linkinfo"]["info_data"][key].is_null()
    }

    pub fn lo(ns: Option<&str>) -> Link {
        expect(ns, "lo", LinkKind::Loopback, false, 65536)
    }

    pub fn addr(s: &str, dad: bool) -> Address {
        Address {
            net: s.parse().unwrap(),
            dad,
            secondary: false,
        }
    }

    pub fn ifref(node: &str, name: &str) -> Option<IfRef> {
        Some(IfRef {
            node: node.into(),
            name: name.into(),
        })
    }

    pub fn links(ls: Vec<Link>) -> BTreeMap<String, Link> {
        ls.into_iter().map(|l| (l.name.clone(), l)).collect()
    }

    pub async fn node(k: &Kernel, n: &str, keys: &[&str]) -> Node {
        let keys: Vec<String> = keys.iter().map(|s| s.to_string()).collect();
        observe::node(k, n, &keys)
            .await
            .unwrap()
            .expect("node exists")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observe_bridge_veth_addresses_routes_sysctls() {
    netloom::sandboxed!("observe_bridge_veth_addresses_routes_sysctls");
    use netloom::model::*;
    use observe::*;
    use std::collections::BTreeMap;
    let k = Kernel::new("t", std::env::temp_dir().join("netloom-test-teamd")).unwrap();
    k.create_node("a").await.unwrap();
    k.create_node("b").await.unwrap();
    let (a, b) = ("netloom-t.a", "netloom-t.b");
    ip(&[
        "-n",
        a,
        "link",
        "add",
        "br0",
        "address",
        "02:00:00:00:00:b0",
        "type",
        "bridge",
        "stp_state",
        "1",
        "forward_delay",
        "400",
    ]);
    ip(&[
        "-n",
        a,
        "link",
        "add",
        "va",
        "address",
        "02:00:00:00:00:0a",
        "type",
        "veth",
        "peer",
        "vb",
        "address",
        "02:00:00:00:00:0b",
        "netns",
        b,
    ]);
    ip(&["-n", a, "link", "set", "va", "master", "br0"]);
    ip(&[
        "-n",
        a,
        "link",
        "set",
        "va",
        "type",
        "bridge_slave",
        "cost",
        "7",
        "hairpin",
        "on",
    ]);
    ip(&[
        "-n",
        a,
        "link",
        "set",
        "va",
        "alias",
        "netloom:t",
        "mtu",
        "1400",
        "up",
    ]);
    ip(&["-n", a, "link", "set", "br0", "up"]);
    ip(&["-n", b, "link", "set", "vb", "up"]);
    ip(&["-n", a, "addr", "add", "10.0.0.1/24", "dev", "br0"]);
    ip(&[
        "-n",
        a,
        "addr",
        "add",
        "2001:db8::1/64",
        "dev",
        "br0",
        "nodad",
    ]);
    ip(&["-n", a, "addr", "add", "2001:db8:1::1/64", "dev", "br0"]);
    ip(&["-n", b, "addr", "add", "10.0.0.2/24", "dev", "vb"]);
    ip(&[
        "-n",
        a,
        "route",
        "add",
        "10.9.0.0/16",
        "via",
        "10.0.0.2",
        "metric",
        "5",
    ]);
    ip(&[
        "-n", a, "route", "add", "default", "via", "10.0.0.2", "table", "100",
    ]);
    ip(&[
        "-n",
        a,
        "-6",
        "route",
        "add",
        "2001:db8:9::/48",
        "via",
        "2001:db8::2",
    ]);
    netloom::kernel::sysctl::write(
        &k.node("a").await.unwrap().unwrap().netns,
        "net.ipv4.ip_forward",
        "1",
    )
    .unwrap();

    // Kernels without CONFIG_BRIDGE_VLAN_FILTERING (like this one) do not report the VLAN fields.
    let vlan_aware = observe::has_info(Some(a), "br0", "vlan_protocol");
    let mut br0 = expect(
        Some(a),
        "br0",
        LinkKind::Bridge(BridgeOptions {
            stp: Some(true),
            forward_delay: Some(400),
            hello_time: Some(200),
            max_age: Some(2000),
            priority: Some(0x8000),
            ageing_time: Some(30000),
            mcast_snooping: Some(true),
            vlan_filtering: Some(false),
            vlan_protocol: vlan_aware.then_some(0x8100),
            default_pvid: vlan_aware.then_some(1),
            vlans: vec![],
        }),
        true,
        1400,
    );
    br0.addresses = vec![
        addr("10.0.0.1/24", false),
        addr("2001:db8::1/64", false),
        addr("2001:db8:1::1/64", true),
    ];
    br0.addresses.sort();
    let mut va = expect(
        Some(a),
        "va",
        LinkKind::Veth(VethOptions {
            peer: ifref("b", "vb"),
        }),
        true,
        1400,
    );
    va.master = Some("br0".into());
    va.alias = Some("netloom:t".into());
    va.port = Some(PortOptions::Bridge(BridgePort {
        cost: Some(7),
        priority: Some(32),
        learning: Some(true),
        flood: Some(true),
        hairpin: Some(true),
        isolated: Some(false),
        vlans: vec![],
    }));
    let want_a = Node {
        links: links(vec![lo(Some(a)), br0, va]),
        routes: {
            let mut r = vec![
                Route {
                    to: "10.9.0.0/16".parse().unwrap(),
                    via: Some("10.0.0.2".parse().unwrap()),
                    dev: Some("br0".into()),
                    metric: Some(5),
                    table: None,
                    src: None,
                },
                Route {
                    to: "0.0.0.0/0".parse().unwrap(),
                    via: Some("10.0.0.2".parse().unwrap()),
                    dev: Some("br0".into()),
                    metric: None,
                    table: Some(100),
                    src: None,
                },
                Route {
                    to: "2001:db8:9::/48".parse().unwrap(),
                    via: Some("2001:db8::2".parse().unwrap()),
                    dev: Some("br0".into()),
                    metric: Some(1024),
                    table: None,
                    src: None,
                },
            ];
            r.sort();
            r
        },
        sysctls: BTreeMap::from([
            ("net.ipv4.ip_forward".to_string(), "1".to_string()),
            ("net.ipv6.conf.br0.forwarding".to_string(), "0".to_string()),
        ]),
        nat: vec![],
        services: BTreeMap::new(),
        fdb: vec![],
    };
    let mut vb = expect(
        Some(b),
        "vb",
        LinkKind::Veth(VethOptions {
            peer: ifref("a", "va"),
        }),
        true,
        1500,
    );
    vb.addresses = vec![addr("10.0.0.2/24", false)];
    let want_b = Node {
        links: links(vec![lo(Some(b)), vb]),
        ..Node::default()
    };
    let keys = [
        "net.ipv4.ip_forward",
        "net.ipv6.conf.br0.forwarding",
        "net.ipv4.no_such",
    ];
    // One node at a time (peers resolved by asking the other node)...
    assert_eq!(node(&k, "a", &keys).await, want_a);
    assert_eq!(node(&k, "b", &[]).await, want_b);
    // ...and the whole network at once; absent nodes are left out.
    let sys = BTreeMap::from([(
        "a".to_string(),
        keys.iter().map(|s| s.to_string()).collect(),
    )]);
    let net = netloom::kernel::observe::network(&k, &["a".into(), "b".into(), "gone".into()], &sys)
        .await
        .unwrap();
    assert_eq!(net.name, "t");
    assert_eq!(
        net.nodes,
        BTreeMap::from([("a".to_string(), want_a), ("b".to_string(), want_b)])
    );
    assert_eq!(
        netloom::kernel::observe::node(&k, "gone", &[])
            .await
            .unwrap(),
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observe_macvlan_macvtap_vxlan_tun_and_host_peer() {
    netloom::sandboxed!("observe_macvlan_macvtap_vxlan_tun_and_host_peer");
    use netloom::model::*;
    use observe::*;
    use std::collections::BTreeMap;
    let k = Kernel::new("t", std::env::temp_dir().join("netloom-test-teamd")).unwrap();
    k.create_node("a").await.unwrap();
    k.create_node("b").await.unwrap();
    let (a, b) = ("netloom-t.a", "netloom-t.b");
    // A veth between the host node (this sandbox's namespace) and a.
    ip(&[
        "link", "add", "h0", "type", "veth", "peer", "up0", "netns", a,
    ]);
    ip(&["-n", a, "link", "set", "up0", "up"]);
    ip(&["-n", a, "addr", "add", "192.0.2.1/24", "dev", "up0"]);
    ip(&[
        "-n", a, "link", "add", "mv1", "link", "up0", "type", "macvlan", "mode", "private",
    ]);
    ip(&[
        "-n", a, "link", "add", "mv2", "link", "up0", "type", "macvlan", "mode", "source",
    ]);
    ip(&[
        "-n",
        a,
        "link",
        "set",
        "mv2",
        "type",
        "macvlan",
        "macaddr",
        "add",
        "02:00:00:00:01:01",
    ]);
    ip(&[
        "-n",
        a,
        "link",
        "set",
        "mv2",
        "type",
        "macvlan",
        "macaddr",
        "add",
        "02:00:00:00:01:02",
    ]);
    ip(&[
        "-n", a, "link", "add", "mt1", "link", "up0", "type", "macvtap", "mode", "vepa",
    ]);
    // A macvlan made on a's device, then moved to b: its lower stays in a.
    ip(&[
        "-n", a, "link", "add", "mvx", "link", "up0", "type", "macvlan", "mode", "bridge",
    ]);
    ip(&["-n", a, "link", "set", "mvx", "netns", b]);
    // A veth pair wholly inside b: peers resolved without any nsid.
    ip(&["-n", b, "link", "add", "s0", "type", "veth", "peer", "s1"]);
    ip(&[
        "-n",
        a,
        "link",
        "add",
        "vx0",
        "type",
        "vxlan",
        "id",
        "42",
        "local",
        "192.0.2.1",
        "remote",
        "192.0.2.2",
        "dev",
        "up0",
        "dstport",
        "4789",
        "ttl",
        "5",
        "nolearning",
    ]);
    ip(&[
        "-n",
        a,
        "tuntap",
        "add",
        "dev",
        "tp0",
        "mode",
        "tap",
        "user",
        "1000",
        "group",
        "100",
        "multi_queue",
    ]);
    ip(&["-n", a, "tuntap", "add", "dev", "tn0", "mode", "tun"]);
    // The loopback device up: its kernel-made addresses are not reported.
    ip(&["-n", a, "link", "set", "lo", "up"]);

    let mac_opts = |mode: &str, macs: Vec<MacAddr>, tap: Option<String>| MacvlanOptions {
        lower: ifref("a", "up0"),
        mode: Some(mode.into()),
        source_macs: macs,
        tap_path: tap,
    };
    let mut up0 = expect(
        Some(a),
        "up0",
        LinkKind::Veth(VethOptions {
            peer: ifref("host", "h0"),
        }),
        true,
        1500,
    );
    up0.addresses = vec![addr("192.0.2.1/24", false)];
    let mt1_index = expect(
        Some(a),
        "mt1",
        LinkKind::Dummy(Default::default()),
        false,
        1500,
    )
    .ifindex
    .unwrap();
    let want_a = Node {
        links: links(vec![
            expect(Some(a), "lo", LinkKind::Loopback, true, 65536),
            up0,
            expect(
                Some(a),
                "mv1",
                LinkKind::Macvlan(mac_opts("private", vec![], None)),
                false,
                1500,
            ),
            expect(
                Some(a),
                "mv2",
                LinkKind::Macvlan(mac_opts(
                    "source",
                    vec![
                        "02:00:00:00:01:01".parse().unwrap(),
                        "02:00:00:00:01:02".parse().unwrap(),
                    ],
                    None,
                )),
                false,
                1500,
            ),
            expect(
                Some(a),
                "mt1",
                LinkKind::Macvtap(mac_opts(
                    "vepa",
                    vec![],
                    Some(format!("/dev/tap{mt1_index}")),
                )),
                false,
                1500,
            ),
            expect(
                Some(a),
                "vx0",
                LinkKind::Vxlan(VxlanOptions {
                    vni: 42,
                    local: Some("192.0.2.1".parse().unwrap()),
                    remote: Some("192.0.2.2".parse().unwrap()),
                    group: None,
                    dev: ifref("a", "up0"),
                    dstport: Some(4789),
                    ttl: Some(5),
                    learning: Some(false),
                }),
                false,
                1450,
            ),
            expect(
                Some(a),
                "tp0",
                LinkKind::Tun(TunOptions {
                    mode: "tap".into(),
                    owner: Some(1000),
                    group: Some(100),
                    multi_queue: Some(true),
                    persist: Some(true),
                }),
                false,
                1500,
            ),
            expect(
                Some(a),
                "tn0",
                LinkKind::Tun(TunOptions {
                    mode: "tun".into(),
                    owner: None,
                    group: None,
                    multi_queue: Some(false),
                    persist: Some(true),
                }),
                false,
                1500,
            ),
        ]),
        ..Node::default()
    };
    let want_b = Node {
        links: links(vec![
            lo(Some(b)),
            expect(
                Some(b),
                "mvx",
                LinkKind::Macvlan(mac_opts("bridge", vec![], None)),
                false,
                1500,
            ),
            expect(
                Some(b),
                "s0",
                LinkKind::Veth(VethOptions {
                    peer: ifref("b", "s1"),
                }),
                false,
                1500,
            ),
            expect(
                Some(b),
                "s1",
                LinkKind::Veth(VethOptions {
                    peer: ifref("b", "s0"),
                }),
                false,
                1500,
            ),
        ]),
        ..Node::default()
    };
    assert_eq!(node(&k, "a", &[]).await, want_a);
    assert_eq!(node(&k, "b", &[]).await, want_b);
    let host = node(&k, "host", &[]).await;
    assert_eq!(
        host.links.get("h0"),
        Some(&expect(
            None,
            "h0",
            LinkKind::Veth(VethOptions {
                peer: ifref("a", "up0")
            }),
            false,
            1500
        ))
    );
    let net = netloom::kernel::observe::network(
        &k,
        &["host".into(), "a".into(), "b".into()],
        &BTreeMap::new(),
    )
    .await
    .unwrap();
    assert_eq!(net.nodes.get("a"), Some(&want_a));
    assert_eq!(net.nodes.get("b"), Some(&want_b));
    assert_eq!(net.nodes.get("host"), Some(&host));
}

/// The AF_BRIDGE dump reports each bridge port's state by name: a port whose
/// veth peer is up forwards (STP off), one whose peer is down stays
/// disabled, and links that are no port are left out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_states_name_every_port() {
    netloom::sandboxed!("port_states_name_every_port");
    use observe::ip;
    let k = Kernel::new("t", std::env::temp_dir().join("netloom-test-teamd")).unwrap();
    ip(&["link", "add", "br0", "type", "bridge", "stp_state", "0"]);
    ip(&["link", "add", "a0", "type", "veth", "peer", "name", "a1"]);
    ip(&["link", "add", "b0", "type", "veth", "peer", "name", "b1"]);
    for p in ["a0", "b0"] {
        ip(&["link", "set", p, "master", "br0", "up"]);
    }
    ip(&["link", "set", "br0", "up"]);
    ip(&["link", "set", "a1", "up"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    let states = loop {
        let s = netloom::kernel::bridge::port_states(&k, "host")
            .await
            .unwrap();
        // 3: BR_STATE_FORWARDING, reached once linkwatch saw a0's carrier.
        if s.get("a0") == Some(&3) || std::time::Instant::now() > deadline {
            break s;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(
        states,
        std::collections::HashMap::from([("a0".to_string(), 3), ("b0".to_string(), 0)])
    );
    assert!(netloom::kernel::bridge::port_states(&k, "nowhere")
        .await
        .unwrap()
        .is_empty());
}

/// Nodes only located (as `down` observes the namespaces it deletes whole)
/// are reported without links, and a host veth into one names its node
/// and the peer's ifindex, told by host's nsids of them; a veth into a
/// namespace outside the topology names nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn veths_into_located_nodes_name_their_node() {
    netloom::sandboxed!("veths_into_located_nodes_name_their_node");
    use netloom::model::*;
    use observe::ip;
    use std::collections::{BTreeMap, BTreeSet};
    let k = Kernel::new("t", std::env::temp_dir().join("netloom-test-teamd")).unwrap();
    let nodes: Vec<String> = (1..=3).map(|i| format!("c{i}")).collect();
    for (i, n) in nodes.iter().enumerate() {
        k.create_node(n).await.unwrap();
        let ns = format!("netloom-t.{n}");
        let h = format!("h{}", i + 1);
        ip(&[
            "link", "add", &h, "type", "veth", "peer", "eth0", "netns", &ns,
        ]);
    }
    ip(&["netns", "add", "elsewhere"]);
    ip(&[
        "link",
        "add",
        "hx",
        "type",
        "veth",
        "peer",
        "eth0",
        "netns",
        "elsewhere",
    ]);
    let ifindex = |ns: &str| -> u32 {
        let out = std::process::Command::new("ip")
            .args(["-n", ns, "-j", "link", "show", "dev", "eth0"])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v[0]["ifindex"].as_u64().unwrap() as u32
    };
    let mut asked = nodes.clone();
    asked.push(HOST.to_string());
    let located: BTreeSet<String> = nodes.iter().cloned().collect();
    let net = netloom::kernel::observe::network_with(&k, &asked, &BTreeMap::new(), &located)
        .await
        .unwrap();
    let host = &net.nodes[HOST];
    let peer = |name: &str| match &host.links[name].kind {
        LinkKind::Veth(v) => v.peer.clone(),
        other => panic!("{name}: {other:?}"),
    };
    for (i, n) in nodes.iter().enumerate() {
        let want = IfRef {
            node: n.clone(),
            name: netloom::kernel::observe::unread(ifindex(&format!("netloom-t.{n}"))),
        };
        assert_eq!(peer(&format!("h{}", i + 1)), Some(want));
        assert!(net.nodes[n].links.is_empty(), "{n} was read");
    }
    assert_eq!(peer("hx"), None);
}
