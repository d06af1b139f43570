//! Helpers shared by the apply tests: build ops, run them, read the kernel
//! back independently with iproute2 JSON.
#![allow(dead_code)]
use std::process::Command;

use netloom::kernel::{apply, Kernel};
use netloom::model::{BridgeOptions, IfRef, Link, LinkKind, MacAddr, MacvlanOptions, VethOptions};
use netloom::model::{LinkChange, Op};
use serde_json::Value;

/// Topology name of every test.
pub const TOPO: &str = "t";
/// Ownership mark of topology `t`.
pub const MARK: &str = "netloom:t";

/// A kernel handle for topology `t` with these nodes created.
pub async fn lab(nodes: &[&str]) -> Kernel {
    let k = Kernel::new(TOPO, std::env::temp_dir().join("netloom-test-teamd")).unwrap();
    for n in nodes {
        run(
            &k,
            Op::AddNetns {
                node: n.to_string(),
            },
        )
        .await;
    }
    k
}

/// Run one op that must succeed.
pub async fn run(k: &Kernel, op: Op) {
    if let Err(e) = apply::run(k, &op).await {
        panic!("{op:?} failed: {e}");
    }
}

/// The iproute2 namespace arguments for a node.
pub fn ns_args(node: &str) -> Vec<String> {
    match netloom::model::netns_name(TOPO, node) {
        Some(n) => vec!["-n".into(), n],
        None => vec![],
    }
}

/// `ip -j ARGS` in a node, parsed.
pub fn ip(node: &str, args: &[&str]) -> Value {
    let out = Command::new("ip")
        .args(ns_args(node))
        .arg("-j")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `ip -d -j link show dev NAME` in a node, or None when absent.
pub fn link(node: &str, name: &str) -> Option<Value> {
    let out = Command::new("ip")
        .args(ns_args(node))
        .args(["-d", "-j", "link", "show", "dev", name])
        .output()
        .unwrap();
    if !out.status.success() {
        return None;
    }
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    Some(v[0].clone())
}

/// Like [`link`] but the link must exist.
pub fn must(node: &str, name: &str) -> Value {
    link(node, name).unwrap_or_else(|| panic!("{node}/{name} does not exist"))
}

/// A veth end `node/name` whose peer is `peer_node/peer`.
pub fn veth(name: &str, peer_node: &str, peer: &str) -> Link {
    Link::new(
        name,
        LinkKind::Veth(VethOptions {
            peer: Some(IfRef {
                node: peer_node.into(),
                name: peer.into(),
            }),
        }),
    )
}

/// Create a veth pair `node/a` - `peer_node/b`.
pub async fn add_veth(k: &Kernel, node: &str, a: &str, peer_node: &str, b: &str) {
    run(
        k,
        Op::AddLink {
            node: node.into(),
            link: veth(a, peer_node, b),
            peer: Some(Box::new(veth(b, node, a))),
        },
    )
    .await;
}

/// Add a link with no peer.
pub async fn add(k: &Kernel, node: &str, l: Link) {
    run(
        k,
        Op::AddLink {
            node: node.into(),
            link: l,
            peer: None,
        },
    )
    .await;
}

/// A SetLink op.
pub async fn set(k: &Kernel, node: &str, name: &str, change: LinkChange) {
    run(
        k,
        Op::SetLink {
            node: node.into(),
            name: name.into(),
            change,
            prior: LinkChange::default(),
        },
    )
    .await;
}

/// In node a: a veth p0-p1 and a default bridge br0 with p0 as its port.
pub async fn bridge_with_port_p0(k: &Kernel) {
    add_veth(k, "a", "p0", "a", "p1").await;
    add(
        k,
        "a",
        Link::new("br0", LinkKind::Bridge(BridgeOptions::default())),
    )
    .await;
    set(
        k,
        "a",
        "p0",
        LinkChange {
            master: Some(Some("br0".into())),
            ..Default::default()
        },
    )
    .await;
}

/// A MAC address from its text.
pub fn mac(s: &str) -> MacAddr {
    s.parse().unwrap()
}

/// A macvlan or macvtap on `lower`.
pub fn macvlan(name: &str, lower: IfRef, mode: &str, macs: Vec<MacAddr>, tap: bool) -> Link {
    let o = MacvlanOptions {
        lower: Some(lower),
        mode: Some(mode.into()),
        source_macs: macs,
        tap_path: None,
    };
    Link::new(
        name,
        if tap {
            LinkKind::Macvtap(o)
        } else {
            LinkKind::Macvlan(o)
        },
    )
}

/// The interface `node/name`.
pub fn at(node: &str, name: &str) -> IfRef {
    IfRef {
        node: node.into(),
        name: name.into(),
    }
}

/// Run a program inside a node's namespace (tests only cross-check with it).
pub fn in_node(node: &str, prog: &[&str]) -> std::process::Output {
    let ns = netloom::model::netns_name(TOPO, node).unwrap();
    let out = Command::new("nsenter")
        .arg(format!("--net=/run/netns/{ns}"))
        .args(prog)
        .output()
        .unwrap();
    out
}
