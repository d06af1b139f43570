//! `export` reads the kernel back into the file that makes it: for every
//! example, up -> export -> down -> up of the exported file -> export gives
//! the same file, and the example's own expectations hold on the network
//! the exported file made. Exporting the host or a namespace netloom did
//! not make reads and changes nothing.
#[path = "support/common/mod.rs"]
mod common;

use std::path::Path;

use common::Lab;

/// The examples this kernel runs (the others need drivers of the VM).
const HOST: &[&str] = &[
    "01-veth-pair.yaml",
    "02-macvlan-modes.yaml",
    "03-lxc-nat.yaml",
    "04-vxlan.yaml",
    "05-stp-loop.yaml",
    "06-macvtap.yaml",
    "15-macvlan-vepa.yaml",
    "17-ifb.yaml",
    "18-vxlan-her.yaml",
    "19-lxc-dhcp.yaml",
    "20-lif.yaml",
];

/// The examples that need the VM's drivers.
const VM: &[&str] = &[
    "07-bond-active-backup.yaml",
    "08-bond-lacp.yaml",
    "09-team-activebackup.yaml",
    "10-ipvlan-l3.yaml",
    "11-ipvlan-l2.yaml",
    "12-vlan.yaml",
    "13-logical-switch.yaml",
    "14-ipvtap-macvtap.yaml",
    "16-vrf.yaml",
];

/// Examples the export cannot make whole on this kernel, with the note it
/// writes instead: their own claims are not proved on the re-creation.
const GAPS: &[(&str, &str)] = &[(
    "14-ipvtap-macvtap.yaml",
    "`ipt0` (ipvtap): the kernel does not name its lower device",
)];

/// The `name:` of a topology file.
fn name_of(text: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix("name: "))
        .expect("a name line")
        .trim()
        .to_string()
}

fn export(lab: &Lab, args: &[&str]) -> String {
    let mut all = vec!["export"];
    all.extend_from_slice(args);
    let r = lab.netloom(&all);
    assert_eq!(r.code, 0, "export {args:?}:\n{}", r.text());
    r.out
}

/// The round trip of one example (see the module docs).
fn round_trip(example: &str) {
    let lab = Lab::new(example);
    let text = std::fs::read_to_string(&lab.file).unwrap();
    let name = name_of(&text);
    lab.expect("up", &[], 0);
    let first = export(&lab, &["--topology", &name]);
    let again = lab.file.with_file_name("exported.yaml");
    std::fs::write(&again, &first).unwrap();
    let again_s = again.to_string_lossy().into_owned();
    let v = lab.netloom(&["validate", &again_s]);
    assert_eq!(
        v.code,
        0,
        "{example}: the exported file:\n{first}\n{}",
        v.text()
    );
    lab.expect("down", &[], 0);
    lab.assert_no_residue();
    let up = lab.netloom(&["up", &again_s]);
    assert_eq!(
        up.code,
        0,
        "{example}: up of the exported file:\n{first}\n{}",
        up.text()
    );
    let second = export(&lab, &["--topology", &name]);
    if let Some((_, note)) = GAPS.iter().find(|(e, _)| *e == example) {
        // The second export is the first without what it could not write.
        let kept: Vec<&str> = first.lines().filter(|l| !l.contains(note)).collect();
        assert_eq!(kept, second.lines().collect::<Vec<_>>(), "{example}");
        assert!(
            first.contains(note),
            "{example}: no note `{note}`:\n{first}"
        );
        let down = lab.netloom(&["down", &again_s]);
        assert_eq!(down.code, 0, "{}", down.text());
        println!("{example}: same twice; not whole on this kernel ({note})");
        return;
    }
    assert_eq!(
        first, second,
        "{example}: the second export differs from the first"
    );
    // The example's own claims hold on what the exported file made.
    let proof = lab.verb("verify", &[]);
    assert_eq!(
        proof.code,
        0,
        "{example}: verify on the re-created network:\n{first}\n{}",
        proof.text()
    );
    let down = lab.netloom(&["down", &again_s]);
    assert_eq!(down.code, 0, "{}", down.text());
    lab.assert_no_residue();
    println!(
        "{example}: {} lines, same twice, verified",
        first.lines().count()
    );
}

#[test]
fn every_host_example_round_trips() {
    for example in HOST {
        round_trip(example);
    }
}

#[test]
#[ignore = "needs a kernel with bonding, team, 8021q, ipvlan and vrf: runs in the VM"]
fn every_vm_example_round_trips() {
    for example in VM {
        round_trip(example);
    }
}

/// Every example is in one of the two lists.
#[test]
fn every_example_is_round_tripped() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let f = e.file_name().to_string_lossy().into_owned();
        if f.ends_with(".yaml") {
            assert!(
                HOST.contains(&f.as_str()) || VM.contains(&f.as_str()),
                "{f} is in no list"
            );
        }
    }
}

/// Everything the sandbox's host shows of itself, as iproute2, nft and
/// /proc/sys show it, one object a line, without what time alone changes
/// (timers, duplicate address detection in progress, learned entries).
const SNAPSHOT: &str = "ip -d -o link show | sed -E 's/ [a-z_]*timer +[0-9.]+//g'; \
    ip -o addr show | sed 's/ tentative//'; ip -o route show table all; ip -6 -o route show table all; \
    bridge fdb show | grep -E 'permanent|static'; bridge link show; nft list ruleset; \
    ip netns list; ls -A /run/netloom 2>/dev/null; \
    for k in net.ipv4.ip_forward net.ipv6.conf.all.forwarding net.ipv4.conf.all.rp_filter; do echo $k $(cat /proc/sys/$(echo $k | tr . /)); done";

/// The sandbox's own namespace, with what people make by hand: a bridge,
/// a veth into a named namespace, a vxlan with flood entries, addresses,
/// routes, forwarding and a masquerade rule. Exporting it (and the named
/// namespace) changes none of it; the files validate, name what they
/// cannot say, and `up` of the host's export in a fresh sandbox makes a
/// host that exports to the same file.
#[test]
fn exporting_changes_nothing_and_says_what_it_leaves_out() {
    let lab = Lab::from_text("x.yaml", "name: x\nnodes: {}\n");
    let setup = lab.sh("set -e
         ip link set lo up
         ip link add br0 type bridge
         ip link add v1 type veth peer name eth0
         ip netns add box
         ip link set eth0 netns box
         ip link set v1 master br0
         ip addr add 10.7.0.1/24 dev br0
         ip link set br0 up; ip link set v1 up
         ip -n box link set lo up; ip -n box link set eth0 up
         ip -n box addr add 10.7.0.2/24 dev eth0
         ip -n box route add default via 10.7.0.1
         ip link add up0 type veth peer name up1
         ip addr add 100.64.0.1/30 dev up0
         ip link set up0 up; ip link set up1 up
         ip link add vx0 type vxlan id 42 dstport 4789 local 100.64.0.1 dev up0 nolearning
         bridge fdb append 00:00:00:00:00:00 dev vx0 dst 100.64.0.2
         ip route add 10.99.0.0/16 via 100.64.0.2
         sysctl -qw net.ipv4.ip_forward=1
         nft add table ip mynat
         nft 'add chain ip mynat postrouting { type nat hook postrouting priority srcnat; }'
         nft add rule ip mynat postrouting ip saddr 10.7.0.0/24 oifname up0 masquerade
         nft add rule ip mynat postrouting tcp dport 22 accept");
    assert_eq!(setup.code, 0, "{}", setup.text());
    let before = lab.sh(SNAPSHOT);
    let host = export(&lab, &["--node", "host"]);
    let boxed = export(&lab, &["--netns", "box"]);
    let after = lab.sh(SNAPSHOT);
    let lines = |t: &str| {
        t.lines()
            .filter(|l| !l.contains("fe80::"))
            .map(str::to_string)
            .collect::<std::collections::BTreeSet<_>>()
    };
    let (b, a) = (lines(&before.out), lines(&after.out));
    assert!(b.len() > 20, "{}", before.text());
    assert_eq!(
        b.difference(&a).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "gone by exporting"
    );
    assert_eq!(
        a.difference(&b).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "made by exporting"
    );
    for part in [
        "name: host",
        "br0: { kind: bridge, ports: [v1], addresses: [10.7.0.1/24]",
        "vx0: { kind: vxlan, vni: 42, local: 100.64.0.1, dev: up0, learning: false, remotes: [100.64.0.2]",
        "- { to: 10.99.0.0/16, via: 100.64.0.2, dev: up0 }",
        "net.ipv4.ip_forward: 1",
        "- masquerade: { source: 10.7.0.0/24, out: up0 }",
        "# not expressed: `v1`'s other end is in a namespace not exported: it stands in as peers/p-v1",
        "# not expressed: nft table ip mynat: 1 rule(s) other than a masquerade",
        "  - [host/v1, peers/p-v1]",
    ] {
        assert!(host.contains(part), "no `{part}` in:\n{host}");
    }
    for part in [
        "name: box",
        "eth0: { addresses: [10.7.0.2/24]",
        "- { to: default, via: 10.7.0.1, dev: eth0 }",
        "  - [box/eth0, peers/p-eth0]",
    ] {
        assert!(boxed.contains(part), "no `{part}` in:\n{boxed}");
    }
    // Both files are valid topologies.
    for (f, text) in [("host.yaml", &host), ("box.yaml", &boxed)] {
        let path = lab.file.with_file_name(f);
        std::fs::write(&path, text).unwrap();
        let r = lab.netloom(&["validate", &path.to_string_lossy()]);
        assert_eq!(r.code, 0, "{f}:\n{text}\n{}", r.text());
    }
    // `up` of the box's export elsewhere makes what exports to the same file.
    let other = Lab::from_text("box.yaml", &boxed);
    other.expect("up", &[], 0);
    let r = other.netloom(&["export", "--topology", "box"]);
    assert_eq!(r.code, 0, "{}", r.text());
    let body = |t: &str| t.lines().skip(3).map(str::to_string).collect::<Vec<_>>();
    let mut want = body(&boxed);
    // Made by netloom now, the stand-in end is part of the topology.
    want.retain(|l| !l.contains("# not expressed: `eth0`'s other end"));
    let got = body(&r.out);
    assert!(
        got.iter()
            .all(|l| want.contains(l) || l.starts_with("  peers:") || l.contains("p-eth0")),
        "export of the box's re-creation:\n{}\nfirst export:\n{boxed}",
        r.out
    );
    other.expect("down", &[], 0);
}
