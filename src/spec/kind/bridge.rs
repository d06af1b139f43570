//! bridge: `kind: bridge` and its ports' options.
use crate::model::{BridgeOptions, BridgePort, BridgeVlan};
use crate::spec::decode::{uint_of, Ctx, Fields};
use crate::spec::yaml::{Value, Yaml};

/// Bridge fields (times in centiseconds, as iproute2 prints them).
pub const FIELDS: &[&str] = &[
    "stp",
    "forward_delay",
    "hello_time",
    "max_age",
    "ageing_time",
    "priority",
    "mcast_snooping",
    "vlan_filtering",
    "vlan_protocol",
    "default_pvid",
    "vlans",
];

/// Bridge port fields.
pub const PORT_FIELDS: &[&str] = &[
    "cost", "priority", "learning", "flood", "hairpin", "isolated", "vlans",
];

/// `vlan_protocol` words and their ethertypes.
pub fn vlan_protocol(word: &str) -> u16 {
    if word == "802.1ad" {
        0x88a8
    } else {
        0x8100
    }
}

/// Decodes a bridge's options.
pub fn decode(cx: &mut Ctx, f: &Fields) -> BridgeOptions {
    BridgeOptions {
        stp: f.bool(cx, "stp"),
        forward_delay: f.u32(cx, "forward_delay"),
        hello_time: f.u32(cx, "hello_time"),
        max_age: f.u32(cx, "max_age"),
        priority: f.u16(cx, "priority", 0, u16::MAX),
        ageing_time: f.u32(cx, "ageing_time"),
        mcast_snooping: f.bool(cx, "mcast_snooping"),
        vlan_filtering: f.bool(cx, "vlan_filtering"),
        vlan_protocol: f
            .word(cx, "vlan_protocol", &["802.1Q", "802.1ad"])
            .map(|w| vlan_protocol(&w)),
        default_pvid: f.u16(cx, "default_pvid", 0, 4094),
        vlans: vlans(cx, f),
    }
}

/// Decodes a bridge port's options.
pub fn decode_port(cx: &mut Ctx, f: &Fields) -> BridgePort {
    BridgePort {
        cost: f.u32(cx, "cost"),
        priority: f.u16(cx, "priority", 0, 63),
        learning: f.bool(cx, "learning"),
        flood: f.bool(cx, "flood"),
        hairpin: f.bool(cx, "hairpin"),
        isolated: f.bool(cx, "isolated"),
        vlans: vlans(cx, f),
    }
}

/// `vlans: [10, { vid: 20, pvid: true, untagged: true }]`.
fn vlans(cx: &mut Ctx, f: &Fields) -> Vec<BridgeVlan> {
    let mut out = Vec::new();
    for item in f.list(cx, "vlans") {
        if let Some(v) = vlan(cx, item) {
            out.push(v);
        }
    }
    out
}

fn vlan(cx: &mut Ctx, y: &Yaml) -> Option<BridgeVlan> {
    if let Value::Map(_) = y.value {
        let f = Fields::new(cx, y, "a bridge vlan", &["vid", "pvid", "untagged"])?;
        let vid = f
            .need(cx, "vid")
            .and_then(|v| uint_of(cx, v, "vid", 1, 4094))?;
        return Some(BridgeVlan {
            vid: u16::try_from(vid).ok()?,
            pvid: f.bool(cx, "pvid").unwrap_or(false),
            untagged: f.bool(cx, "untagged").unwrap_or(false),
        });
    }
    let vid = uint_of(cx, y, "vid", 1, 4094)?;
    Some(BridgeVlan {
        vid: u16::try_from(vid).ok()?,
        pvid: false,
        untagged: false,
    })
}

#[cfg(test)]
mod tests {
    use crate::model::LinkKind;
    use crate::spec::kind::test_util::decode;

    #[test]
    fn bridge_options_and_vlans() {
        let (k, e) = decode("bridge", "{ stp: true, forward_delay: 200, vlan_protocol: 802.1ad, vlans: [10, { vid: 20, pvid: true }] }");
        assert!(e.is_empty(), "{e:?}");
        let LinkKind::Bridge(b) = k else {
            panic!("{k:?}")
        };
        assert_eq!(b.vlan_protocol, Some(0x88a8));
        assert_eq!(b.vlans.len(), 2);
        assert!(b.vlans[1].pvid);
        let (_, e) = decode("bridge", "{ vlans: [0, 4095], priority: 70000 }");
        assert_eq!(e.len(), 3, "{e:?}");
    }
}
