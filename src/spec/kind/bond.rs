//! bond: `kind: bond` with every bonding option, enumerations in iproute2's words.
use crate::model::{BondOptions, BondPort};
use crate::spec::decode::{ip_of, Ctx, Fields};
use std::net::IpAddr;

/// Bond fields.
pub const FIELDS: &[&str] = &[
    "mode",
    "miimon",
    "updelay",
    "downdelay",
    "use_carrier",
    "arp_interval",
    "arp_ip_target",
    "arp_validate",
    "arp_all_targets",
    "primary",
    "primary_reselect",
    "fail_over_mac",
    "xmit_hash_policy",
    "lacp_rate",
    "ad_select",
    "min_links",
    "all_slaves_active",
];

/// Bond port fields.
pub const PORT_FIELDS: &[&str] = &["prio", "queue_id"];

/// `mode` words, as `ip link add type bond mode` takes them.
pub const MODES: &[&str] = &[
    "balance-rr",
    "active-backup",
    "balance-xor",
    "broadcast",
    "802.3ad",
    "balance-tlb",
    "balance-alb",
];

/// Decodes a bond's options (`primary` is checked against the ports later).
pub fn decode(cx: &mut Ctx, f: &Fields) -> BondOptions {
    let mut targets = Vec::new();
    for y in f.list(cx, "arp_ip_target") {
        match ip_of(cx, y) {
            Some(IpAddr::V4(a)) => targets.push(a),
            Some(IpAddr::V6(_)) => cx.err(y.at, "`arp_ip_target` takes IPv4 addresses", None),
            None => {}
        }
    }
    BondOptions {
        mode: f.word(cx, "mode", MODES),
        miimon: f.u32(cx, "miimon"),
        updelay: f.u32(cx, "updelay"),
        downdelay: f.u32(cx, "downdelay"),
        use_carrier: f.bool(cx, "use_carrier"),
        arp_interval: f.u32(cx, "arp_interval"),
        arp_ip_target: targets,
        arp_validate: f.word(
            cx,
            "arp_validate",
            &[
                "none",
                "active",
                "backup",
                "all",
                "filter",
                "filter_active",
                "filter_backup",
            ],
        ),
        arp_all_targets: f.word(cx, "arp_all_targets", &["any", "all"]),
        primary: f.str(cx, "primary"),
        primary_reselect: f.word(cx, "primary_reselect", &["always", "better", "failure"]),
        fail_over_mac: f.word(cx, "fail_over_mac", &["none", "active", "follow"]),
        xmit_hash_policy: f.word(
            cx,
            "xmit_hash_policy",
            &[
                "layer2",
                "layer3+4",
                "layer2+3",
                "encap2+3",
                "encap3+4",
                "vlan+srcmac",
            ],
        ),
        lacp_rate: f.word(cx, "lacp_rate", &["slow", "fast"]),
        ad_select: f.word(cx, "ad_select", &["stable", "bandwidth", "count"]),
        min_links: f.u32(cx, "min_links"),
        all_slaves_active: f.bool(cx, "all_slaves_active"),
    }
}

/// Decodes a bond port's options.
pub fn decode_port(cx: &mut Ctx, f: &Fields) -> BondPort {
    BondPort {
        prio: f.i32(cx, "prio"),
        queue_id: f.u16(cx, "queue_id", 0, u16::MAX),
    }
}

#[cfg(test)]
mod tests {
    use crate::model::LinkKind;
    use crate::spec::kind::test_util::decode;

    #[test]
    fn bond_words_and_numbers() {
        let (k, e) = decode("bond", "{ mode: 802.3ad, miimon: 100, lacp_rate: fast, xmit_hash_policy: layer3+4, arp_ip_target: [10.0.0.1] }");
        assert!(e.is_empty(), "{e:?}");
        let LinkKind::Bond(b) = k else {
            panic!("{k:?}")
        };
        assert_eq!(b.mode.as_deref(), Some("802.3ad"));
        assert_eq!(b.miimon, Some(100));
        assert_eq!(b.arp_ip_target.len(), 1);
        let (_, e) = decode("bond", "{ mode: lacp, arp_ip_target: [2001:db8::1] }");
        assert_eq!(e.len(), 2, "{e:?}");
    }
}
