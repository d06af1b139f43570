//! One decoder per device kind: its fields (iproute2's names) and how they map
//! onto the model. Adding a kind means adding one file here and one row below.
pub mod bond;
pub mod bridge;
pub mod ipvlan;
pub mod macvlan;
pub mod team;
pub mod tun;
pub mod vlan;
pub mod vxlan;

use super::decode::{Ctx, Fields};
use crate::model::{LinkKind, PortOptions, VethOptions};

/// Every `kind` word the file accepts.
pub const KINDS: &[&str] = &[
    "veth", "bridge", "bond", "team", "vlan", "vxlan", "macvlan", "macvtap", "ipvlan", "ipvtap",
    "tun", "tap", "dummy", "external",
];

/// Fields a kind adds to the common interface fields.
pub fn fields(kind: &str) -> &'static [&'static str] {
    match kind {
        "bridge" => bridge::FIELDS,
        "bond" => bond::FIELDS,
        "team" => team::FIELDS,
        "vlan" => vlan::FIELDS,
        "vxlan" => vxlan::FIELDS,
        "macvlan" | "macvtap" => macvlan::FIELDS,
        "ipvlan" | "ipvtap" => ipvlan::FIELDS,
        "tun" | "tap" => tun::FIELDS,
        _ => &[],
    }
}

/// Whether interfaces of this kind take `ports`.
pub fn is_master(kind: &str) -> bool {
    matches!(kind, "bridge" | "bond" | "team")
}

/// Decodes a kind's options; `node` is where the interface is declared.
pub fn decode(cx: &mut Ctx, kind: &str, f: &Fields, node: &str) -> LinkKind {
    match kind {
        "bridge" => LinkKind::Bridge(bridge::decode(cx, f)),
        "bond" => LinkKind::Bond(bond::decode(cx, f)),
        "team" => LinkKind::Team(team::decode(cx, f)),
        "vlan" => LinkKind::Vlan(vlan::decode(cx, f, node)),
        "vxlan" => LinkKind::Vxlan(vxlan::decode(cx, f, node)),
        "macvlan" => LinkKind::Macvlan(macvlan::decode(cx, f, node)),
        "macvtap" => LinkKind::Macvtap(macvlan::decode(cx, f, node)),
        "ipvlan" => LinkKind::Ipvlan(ipvlan::decode(cx, f, node)),
        "ipvtap" => LinkKind::Ipvtap(ipvlan::decode(cx, f, node)),
        "tun" | "tap" => LinkKind::Tun(tun::decode(cx, f, kind)),
        "dummy" => LinkKind::Dummy(Default::default()),
        "external" => LinkKind::External,
        // veth (written or implied): the peer is filled in from `links`.
        _ => LinkKind::Veth(VethOptions { peer: None }),
    }
}

/// Per-port option fields for ports of a master of kind `kind`.
pub fn port_fields(kind: &str) -> &'static [&'static str] {
    match kind {
        "bridge" => bridge::PORT_FIELDS,
        "bond" => bond::PORT_FIELDS,
        _ => team::PORT_FIELDS,
    }
}

/// Decodes per-port options for a master of kind `kind`.
pub fn decode_port(cx: &mut Ctx, kind: &str, f: &Fields) -> PortOptions {
    match kind {
        "bridge" => PortOptions::Bridge(bridge::decode_port(cx, f)),
        "bond" => PortOptions::Bond(bond::decode_port(cx, f)),
        _ => PortOptions::Team(team::decode_port(cx, f)),
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
