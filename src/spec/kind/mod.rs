//! One decoder per device kind: its fields (iproute2's names), how they map
//! onto the model, the MTUs the kernel lets it have, its ports' options and
//! the rules across devices it needs. Adding a kind means adding one file
//! here and one row in [`KINDS`].
pub mod bond;
pub mod bridge;
pub mod dummy;
pub mod ifb;
pub mod ipvlan;
pub mod macvlan;
pub mod team;
pub mod tun;
pub mod veth;
pub mod vlan;
pub mod vrf;
pub mod vxlan;

use std::collections::BTreeMap;

use super::decode::{Ctx, Fields};
use super::emit;
use crate::model::{LinkKind, Node, PortOptions};

/// A rule across the devices of every node: errors go to the context.
pub type Check = fn(&mut Ctx, &BTreeMap<String, Node>);

/// A kind as the file writes it.
pub struct KindSpec {
    /// The `kind:` word.
    pub word: &'static str,
    /// Fields it adds to the common interface fields.
    pub fields: &'static [&'static str],
    /// Decodes its options: the fields, the node the interface is declared
    /// in, and the `kind:` word written.
    pub decode: fn(&mut Ctx, &Fields, &str, &str) -> LinkKind,
    /// The MTUs the kernel lets a new device of the kind have (its
    /// dev->min_mtu..=max_mtu as the driver's setup sets them, checked by
    /// dev_validate_mtu), and where that is, for the error's help.
    pub mtu: ((u64, u64), &'static str),
    /// For a kind that takes ports: its ports' options.
    pub ports: Option<PortSpec>,
    /// Rules across the devices of every node, run once all is decoded.
    pub check: Option<Check>,
    /// The decoder's mirror, for `export`: the fields that give these
    /// options back (those at the kernel's default left out), for a device
    /// of the node named by the `&str`.
    pub encode: fn(&LinkKind, &str) -> emit::Fields,
}

/// The per-port options of a kind that takes ports.
pub struct PortSpec {
    /// Per-port option fields.
    pub fields: &'static [&'static str],
    /// Decodes them (`None`: the kind keeps no options per port).
    pub decode: fn(&mut Ctx, &Fields) -> Option<PortOptions>,
    /// The decoder's mirror (defaults left out), for `export`.
    pub encode: fn(&PortOptions) -> emit::Fields,
}

/// Every kind the file can make: one row per kind.
pub const KINDS: &[KindSpec] = &[
    veth::SPEC,
    bridge::SPEC,
    bond::SPEC,
    team::SPEC,
    vlan::SPEC,
    vxlan::SPEC,
    macvlan::MACVLAN,
    macvlan::MACVTAP,
    ipvlan::IPVLAN,
    ipvlan::IPVTAP,
    tun::TUN,
    tun::TAP,
    dummy::SPEC,
    vrf::SPEC,
    ifb::SPEC,
];

/// The kind written `word`, if the file knows it.
pub fn find(word: &str) -> Option<&'static KindSpec> {
    KINDS.iter().find(|k| k.word == word)
}

/// Every `kind` word the file accepts (`external` names a device netloom
/// does not make).
pub fn words() -> impl Iterator<Item = &'static str> {
    KINDS.iter().map(|k| k.word).chain(["external"])
}

/// Fields a kind adds to the common interface fields.
pub fn fields(kind: &str) -> &'static [&'static str] {
    find(kind).map_or(&[], |k| k.fields)
}

/// Whether interfaces of this kind take `ports`.
pub fn is_master(kind: &str) -> bool {
    find(kind).is_some_and(|k| k.ports.is_some())
}

/// Decodes a kind's options; `node` is where the interface is declared.
/// An unknown word (reported already) decodes as a veth.
pub fn decode(cx: &mut Ctx, kind: &str, f: &Fields, node: &str) -> LinkKind {
    if kind == "external" {
        return LinkKind::External;
    }
    let spec = find(kind).unwrap_or(&veth::SPEC);
    (spec.decode)(cx, f, node, kind)
}

/// Per-port option fields for ports of a master of kind `kind`.
pub fn port_fields(kind: &str) -> &'static [&'static str] {
    find(kind)
        .and_then(|k| k.ports.as_ref())
        .map_or(&[], |p| p.fields)
}

/// Decodes per-port options for a master of kind `kind`.
pub fn decode_port(cx: &mut Ctx, kind: &str, f: &Fields) -> Option<PortOptions> {
    (find(kind)?.ports.as_ref()?.decode)(cx, f)
}

/// The `kind:` word a device of `kind` is written with (`tap` for a tun
/// in tap mode), and its spec.
pub fn spec_of(kind: &LinkKind) -> Option<(&'static str, &'static KindSpec)> {
    let word = match kind {
        LinkKind::Tun(o) if o.mode == "tap" => "tap",
        other => other.kernel_kind()?,
    };
    find(word).map(|k| (k.word, k))
}

/// No options to write.
pub(crate) fn no_fields(_: &LinkKind, _: &str) -> emit::Fields {
    Vec::new()
}

/// Runs every kind's rules across devices.
pub fn check(cx: &mut Ctx, nodes: &BTreeMap<String, Node>) {
    for c in KINDS.iter().filter_map(|k| k.check) {
        c(cx, nodes);
    }
}

#[cfg(test)]
pub(crate) mod test_util {
    use crate::model::LinkKind;
    use crate::spec::decode::{Ctx, Fields};
    use crate::spec::yaml::parse;

    /// Decodes `text` (a flow map of kind options) as kind `kind` in node `n`.
    pub fn decode(kind: &str, text: &str) -> (LinkKind, Vec<String>) {
        let y = parse(text).expect("test YAML parses");
        let mut cx = Ctx::default();
        let f = Fields::new(&mut cx, &y, kind, super::fields(kind)).expect("a map");
        let k = super::decode(&mut cx, kind, &f, "n");
        (k, cx.errors.into_iter().map(|e| e.message).collect())
    }

    /// The errors of a whole file whose node `a` has these interfaces (one
    /// `name: { ... }` per line), for rules across interfaces.
    pub fn file_errors(interfaces: &[&str]) -> Vec<String> {
        let mut text = String::from("name: t\nnodes:\n  a:\n    interfaces:\n");
        for i in interfaces {
            text.push_str(&format!("      {i}\n"));
        }
        match crate::spec::parse_str("t.yaml", &text) {
            Ok(_) => Vec::new(),
            Err(e) => e.errors.into_iter().map(|e| e.message).collect(),
        }
    }
}

#[cfg(test)]
mod encode_tests {
    use super::test_util::decode;
    use crate::spec::emit::Out;

    /// Each kind's `encode` is its decoder's mirror: what it writes decodes
    /// to the options it was given, defaults left out or not.
    #[test]
    fn encoded_options_decode_to_themselves() {
        for (kind, text) in [
            ("bridge", "{ stp: true, forward_delay: 400, hello_time: 100, max_age: 1000, ageing_time: 600, priority: 4096, mcast_snooping: false, vlan_filtering: true, vlan_protocol: 802.1ad, default_pvid: 5, vlans: [10, { vid: 20, pvid: true, untagged: true }] }"),
            ("bridge", "{}"),
            ("bond", "{ mode: 802.3ad, miimon: 100, updelay: 200, lacp_rate: fast, xmit_hash_policy: layer3+4, min_links: 1, ad_select: count }"),
            ("bond", "{ mode: active-backup, arp_interval: 100, arp_ip_target: [10.0.0.1, 10.0.0.2], arp_validate: all, fail_over_mac: active }"),
            ("team", "{ runner: { name: lacp, tx_hash: [eth, l4], tx_balancer: { name: basic, balancing_interval: 50 }, active: true, fast_rate: true }, link_watch: [{ name: ethtool, delay_up: 5 }, { name: arp_ping, target_host: 10.0.0.1, interval: 100 }] }"),
            ("team", "{ runner: activebackup }"),
            ("vlan", "{ lower: eth0, id: 7, protocol: 802.1ad, reorder_hdr: false, gvrp: true, loose_binding: true, egress_qos_map: ['1:2'] }"),
            ("vxlan", "{ vni: 7, local: 10.0.0.1, remote: 10.0.0.2, dev: eth0, dstport: 8472, ttl: 64, learning: false }"),
            ("vxlan", "{ vni: 7, group: 239.1.1.1, dev: eth0 }"),
            ("macvlan", "{ lower: w/eth0, mode: private }"),
            ("macvtap", "{ lower: eth0, mode: source, source_macs: [02:00:00:00:00:01] }"),
            ("ipvlan", "{ lower: eth0, mode: l2, flag: vepa }"),
            ("tap", "{ owner: 1000, group: 100, multi_queue: true }"),
            ("vrf", "{ table: 10 }"),
            ("dummy", "{}"),
        ] {
            let (k, e) = decode(kind, text);
            assert!(e.is_empty(), "{kind} {text}: {e:?}");
            let (word, spec) = super::spec_of(&k).expect("a kind of the file");
            assert_eq!(word, kind);
            let written = Out::Map((spec.encode)(&k, "n")).flow();
            let (back, e) = decode(kind, &written);
            assert!(e.is_empty(), "{kind} {written}: {e:?}");
            assert_eq!(back, k, "{kind}: {text} -> {written}");
        }
    }
}
