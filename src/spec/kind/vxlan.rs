//! vxlan: `kind: vxlan`, a tunnel endpoint with exactly one of remote, group
//! or remotes (the flood list, see spec::fdb), checked as vxlan_validate and
//! vxlan_config_validate check it.
use std::collections::BTreeMap;
use std::net::IpAddr;

use super::KindSpec;
use crate::model::{LinkKind, Node, VxlanOptions};
use crate::spec::decode::{ifref_of, Ctx, Fields};

/// VXLAN fields.
pub const FIELDS: &[&str] = &[
    "vni", "local", "remote", "group", "remotes", "dev", "dstport", "ttl", "learning", "fdb",
];

/// The IANA VXLAN port, netloom's default (the kernel's own default is 8472).
pub const DSTPORT: u16 = 4789;

/// Decodes a VXLAN's options.
pub fn decode(cx: &mut Ctx, f: &Fields, node: &str) -> VxlanOptions {
    let vni = f
        .need(cx, "vni")
        .and_then(|_| {
            f.kernel_range(
                cx,
                "vni",
                (0, 16_777_215),
                "a VNI has 24 bits (vxlan_validate: ERANGE from VXLAN_N_VID)",
            )
        })
        .and_then(|v| u32::try_from(v).ok())
        .unwrap_or(0);
    let remote = f.ip(cx, "remote");
    let group = f.ip(cx, "group");
    // `remotes` (the flood list, decoded by spec::fdb) replaces both.
    let peers: Vec<&str> = ["remote", "group", "remotes"]
        .into_iter()
        .filter(|k| f.get(k).is_some())
        .collect();
    match peers.as_slice() {
        [] => cx.err(
            f.at,
            "a vxlan needs `remote`, `group` or `remotes`",
            Some("give the peer's underlay address as `remote`, a multicast `group`, or every other VTEP under `remotes` (head-end replication)".into()),
        ),
        [_] => {}
        [a, b, ..] => {
            let at = f.get(b).map_or(f.at, |y| y.at);
            cx.err(
                at,
                format!("a vxlan takes one of `remote`, `group` and `remotes`, not `{a}` and `{b}`"),
                Some("`remotes` lists every remote VTEP itself; a multicast `group` floods to all".into()),
            );
        }
    }
    if let (Some(g), Some(y)) = (group, f.get("group")) {
        if !g.is_multicast() {
            cx.err(
                y.at,
                format!("group `{g}` is not a multicast address"),
                Some("use `remote` for a unicast peer".into()),
            );
        }
    }
    let local = f.ip(cx, "local");
    if let (Some(r), Some(y)) = (remote.filter(|r| Some(*r) == local), f.get("remote")) {
        cx.err(
            y.at,
            format!("remote {r} is the vxlan's own `local` address"),
            Some("give the other VTEP's underlay address: frames sent to itself go nowhere".into()),
        );
    }
    let dev = f.get("dev").and_then(|y| ifref_of(cx, y, node, false));
    addresses(cx, f, local, remote.or(group), dev.is_some());
    VxlanOptions {
        vni,
        local,
        remote,
        group,
        dev,
        dstport: Some(f.u16(cx, "dstport", 1, u16::MAX).unwrap_or(DSTPORT)),
        ttl: f.uint(cx, "ttl", 0, 255).and_then(|v| u8::try_from(v).ok()),
        // Head-end replication floods to the listed VTEPs; what is behind
        // them is told by static entries, not learned (Documentation/
        // networking/vxlan.rst: `nolearning` with `bridge fdb append`).
        learning: f.bool(cx, "learning").or(f.get("remotes").map(|_| false)),
    }
}

/// What vxlan_config_validate refuses (EINVAL) in the addresses: `local`
/// and the peer (`remote` or `group`) of two families, a multicast `local`,
/// a multicast `group` without `dev`, and IPv6 link-local addresses unless
/// both ends are link-local and `dev` names the link.
fn addresses(cx: &mut Ctx, f: &Fields, local: Option<IpAddr>, peer: Option<IpAddr>, dev: bool) {
    let at = |key: &str| f.get(key).map_or(f.at, |y| y.at);
    let peer_key = if f.get("group").is_some() {
        "group"
    } else {
        "remote"
    };
    let help = Some("the kernel refuses it (vxlan_config_validate: EINVAL)".to_string());
    if let (Some(l), Some(p)) = (local, peer) {
        if l.is_ipv6() != p.is_ipv6() {
            cx.err(
                at(peer_key),
                format!("`local` {l} and `{peer_key}` {p} are of two families"),
                help.clone(),
            );
            return;
        }
    }
    if let Some(l) = local.filter(IpAddr::is_multicast) {
        cx.err(
            at("local"),
            format!("`local` {l} is a multicast address"),
            help.clone(),
        );
    }
    if let (Some(g), false) = (peer.filter(IpAddr::is_multicast), dev) {
        cx.err(
            at(peer_key),
            format!("multicast `{peer_key}` {g} needs `dev`, the device to join it on"),
            help.clone(),
        );
    }
    let unicast_ll = |a: IpAddr| matches!(a, IpAddr::V6(v) if v.segments()[0] & 0xffc0 == 0xfe80);
    let any_ll = |a: IpAddr| {
        unicast_ll(a) || matches!(a, IpAddr::V6(v) if v.segments()[0] & 0xff0f == 0xff02)
    };
    match (local, peer) {
        (Some(l), _) if unicast_ll(l) && !dev => cx.err(
            at("local"),
            format!("link-local `local` {l} needs `dev`, the link it is on"),
            help,
        ),
        (Some(l), Some(p)) if unicast_ll(l) && !any_ll(p) => cx.err(
            at(peer_key),
            format!("`{peer_key}` {p} is not link-local, but `local` {l} is"),
            help,
        ),
        (l, Some(p)) if !l.is_some_and(unicast_ll) && unicast_ll(p) => cx.err(
            at(peer_key),
            format!("link-local `{peer_key}` {p} needs a link-local `local` and `dev`"),
            help,
        ),
        _ => {}
    }
}

/// The kernel lets one vxlan per node have a VNI on a UDP port and address
/// family (vxlan_vni_in_use: EEXIST), whatever their devices.
pub fn check(cx: &mut Ctx, nodes: &BTreeMap<String, Node>) {
    for (node, n) in nodes {
        let mut seen: BTreeMap<(u32, Option<u16>, bool), &str> = BTreeMap::new();
        for (name, l) in &n.links {
            let LinkKind::Vxlan(o) = &l.kind else {
                continue;
            };
            let v6 = [o.local, o.remote, o.group]
                .iter()
                .flatten()
                .any(IpAddr::is_ipv6);
            let Some(first) = seen.insert((o.vni, o.dstport, v6), name) else {
                continue;
            };
            let me = format!("{node}/{name}");
            let at = cx.loc(&format!("{me}#vni"), &me);
            cx.err(
                at,
                format!("vni {} on port {} is already `{node}/{first}`'s; the kernel allows one vxlan per VNI, port and address family in a node (EEXIST)", o.vni, o.dstport.unwrap_or(DSTPORT)),
                Some("give one of them another `vni` or `dstport`".into()),
            );
            seen.insert((o.vni, o.dstport, v6), first);
        }
    }
}

/// The vxlan kind in the file.
pub const SPEC: KindSpec = KindSpec {
    word: "vxlan",
    fields: FIELDS,
    decode: |cx, f, node, _| LinkKind::Vxlan(decode(cx, f, node)),
    mtu: (
        (68, 65535),
        "a vxlan's MTU is 68..=65535 (vxlan_setup, vxlan_validate)",
    ),
    ports: None,
    check: Some(check),
    encode,
};

/// A vxlan's fields (`dstport` 4789, `ttl` 0 and `learning` on are the
/// defaults; `remotes` and `fdb` are written from the node's entries).
pub fn encode(kind: &LinkKind, node: &str) -> crate::spec::emit::Fields {
    use crate::spec::emit::{ifref, put, Out};
    let LinkKind::Vxlan(o) = kind else {
        return Vec::new();
    };
    let mut out = vec![("vni".to_string(), Out::of(o.vni))];
    put(&mut out, "local", &o.local, None);
    put(&mut out, "remote", &o.remote, None);
    put(&mut out, "group", &o.group, None);
    if let Some(d) = &o.dev {
        out.push(("dev".into(), ifref(d, node)));
    }
    put(&mut out, "dstport", &o.dstport, Some(DSTPORT));
    put(&mut out, "ttl", &o.ttl, Some(0));
    put(&mut out, "learning", &o.learning, Some(true));
    out
}

#[cfg(test)]
mod tests {
    use crate::model::LinkKind;
    use crate::spec::kind::test_util::decode;

    #[test]
    fn vxlan_defaults_and_exclusive_peer() {
        let (k, e) = decode("vxlan", "{ vni: 100, remote: 10.9.0.2 }");
        assert!(e.is_empty(), "{e:?}");
        assert!(matches!(k, LinkKind::Vxlan(v) if v.dstport == Some(4789) && v.vni == 100));
        let (_, e) = decode("vxlan", "{ vni: 1, remote: 10.9.0.2, group: 239.1.1.1 }");
        assert!(e[0].contains("not `remote` and `group`"), "{e:?}");
        let (_, e) = decode("vxlan", "{ vni: 1, group: 239.1.1.1, dev: eth0 }");
        assert!(e.is_empty(), "{e:?}");
        let (_, e) = decode("vxlan", "{ remote: 10.0.0.1/24 }");
        assert_eq!(e.len(), 2, "{e:?}");
    }

    #[test]
    fn vxlan_addresses_follow_the_kernel() {
        for ok in [
            "{ vni: 0, remote: 10.0.0.1 }",
            "{ vni: 16777215, local: 10.0.0.2, remote: 10.0.0.1 }",
            "{ vni: 1, group: 239.1.1.1, dev: eth0 }",
            "{ vni: 1, local: 'fe80::1', remote: 'fe80::2', dev: eth0 }",
        ] {
            assert!(decode("vxlan", ok).1.is_empty(), "{ok}");
        }
        for (bad, part) in [
            (
                "{ vni: 16777216, remote: 10.0.0.1 }",
                "the kernel takes 0..=16777215",
            ),
            (
                "{ vni: 1, local: 10.0.0.2, remote: '2001:db8::1' }",
                "two families",
            ),
            (
                "{ vni: 1, local: 239.1.1.2, remote: 10.0.0.1 }",
                "`local` 239.1.1.2 is a multicast",
            ),
            ("{ vni: 1, group: 239.1.1.1 }", "needs `dev`"),
            (
                "{ vni: 1, local: 'fe80::1', remote: '2001:db8::1', dev: eth0 }",
                "is not link-local",
            ),
            (
                "{ vni: 1, remote: 'fe80::2', dev: eth0 }",
                "needs a link-local `local`",
            ),
        ] {
            let (_, e) = decode("vxlan", bad);
            assert_eq!(e.len(), 1, "{bad}: {e:?}");
            assert!(e[0].contains(part), "{bad}: {e:?}");
        }
    }
}
