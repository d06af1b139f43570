//! bond: `kind: bond` with every bonding option, enumerations in iproute2's
//! words, each within what the bonding driver takes (bond_options.c).
use std::collections::BTreeMap;
use std::net::IpAddr;

use super::{KindSpec, PortSpec};
use crate::model::{BondOptions, BondPort, LinkKind, Node, PortOptions};
use crate::spec::decode::{ip_of, Ctx, Fields};

/// Modes that may use ARP monitoring (bond_mode_uses_arp); the others run
/// the MII monitor, every 100 ms unless `miimon` says otherwise.
const ARP_MODES: &[&str] = &["balance-rr", "active-backup", "balance-xor", "broadcast"];
/// Modes with a primary and per-port priorities.
const PRIMARY_MODES: &[&str] = &["active-backup", "balance-tlb", "balance-alb"];
/// A bond's transmit queues (BOND_DEFAULT_TX_QUEUES, the `tx_queues`
/// module parameter's default): a port's `queue_id` is at most this.
const TX_QUEUES: u64 = 16;
/// ARP targets a bond holds (BOND_MAX_ARP_TARGETS).
const MAX_ARP_TARGETS: usize = 16;
/// Where the options' limits come from, for the errors' help.
const INTMAX: &str =
    "the bonding driver takes 0..=2147483647 (bond_intmax_tbl, checked by bond_opt_check_range)";

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
            Some(IpAddr::V4(a)) if a.is_unspecified() || a.is_broadcast() => cx.err(
                y.at,
                format!("`arp_ip_target` {a} is not a target the kernel takes"),
                Some("0.0.0.0 and 255.255.255.255 are refused (bond_is_ip_target_ok: EINVAL)".into()),
            ),
            Some(IpAddr::V4(a)) if targets.contains(&a) => cx.err(
                y.at,
                format!("`arp_ip_target` {a} is listed twice"),
                Some("the kernel refuses a target it holds already (EINVAL)".into()),
            ),
            Some(IpAddr::V4(a)) if targets.len() == MAX_ARP_TARGETS => cx.err(
                y.at,
                format!("more than {MAX_ARP_TARGETS} ARP targets"),
                Some(format!("a bond holds at most {MAX_ARP_TARGETS} (BOND_MAX_ARP_TARGETS: \"ARP target table is full\", EINVAL); drop {a}")),
            ),
            Some(IpAddr::V4(a)) => targets.push(a),
            Some(IpAddr::V6(_)) => cx.err(y.at, "`arp_ip_target` takes IPv4 addresses", None),
            None => {}
        }
    }
    let int = |cx: &mut Ctx, key: &str| {
        f.kernel_range(cx, key, (0, i32::MAX as u64), INTMAX)
            .and_then(|v| u32::try_from(v).ok())
    };
    let o = BondOptions {
        mode: f.word(cx, "mode", MODES),
        miimon: int(cx, "miimon"),
        updelay: int(cx, "updelay"),
        downdelay: int(cx, "downdelay"),
        use_carrier: f.bool(cx, "use_carrier"),
        arp_interval: int(cx, "arp_interval"),
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
        min_links: int(cx, "min_links"),
        all_slaves_active: f.bool(cx, "all_slaves_active"),
    };
    modes(cx, f, &o);
    monitors(cx, f, &o);
    o
}

/// Options the driver refuses in some modes (the `unsuppmodes` of their
/// bond_option: EACCES), whatever their value.
fn modes(cx: &mut Ctx, f: &Fields, o: &BondOptions) {
    let mode = o.mode.as_deref().unwrap_or("balance-rr");
    for (key, only) in [
        ("arp_interval", ARP_MODES),
        ("arp_validate", ARP_MODES),
        ("lacp_rate", &["802.3ad"][..]),
        ("primary", PRIMARY_MODES),
    ] {
        if let (Some(e), false) = (f.entry(key), only.contains(&mode)) {
            cx.err(
                e.key_at,
                format!("`{key}` does not apply to mode {mode}"),
                Some(format!(
                    "the kernel takes it only in mode {} (EACCES): drop it, or change `mode`",
                    only.join(", ")
                )),
            );
        }
    }
}

/// The MII and ARP monitors exclude each other (bond_changelink: EINVAL),
/// and `updelay`/`downdelay` count in MII intervals: the kernel refuses them
/// without the MII monitor (EPERM) and rounds them down to a multiple of
/// `miimon` (_bond_option_delay_set), which `status` would never match.
fn monitors(cx: &mut Ctx, f: &Fields, o: &BondOptions) {
    let mode = o.mode.as_deref().unwrap_or("balance-rr");
    let miimon = o
        .miimon
        .unwrap_or(if ARP_MODES.contains(&mode) { 0 } else { 100 });
    let arp = o.arp_interval.unwrap_or(0) > 0;
    let validate = o.arp_validate.as_deref().is_some_and(|v| v != "none");
    if o.miimon.unwrap_or(0) > 0 && (arp || validate) {
        let key = if arp { "arp_interval" } else { "arp_validate" };
        let at = f.get(key).map_or(f.at, |y| y.at);
        cx.err(
            at,
            format!("`{key}` turns on the ARP monitor, but `miimon` turns on the MII monitor"),
            Some("a bond runs one monitor (bond_changelink: EINVAL): drop `miimon`, or the ARP options".into()),
        );
    }
    for key in ["updelay", "downdelay"] {
        let (Some(y), Some(v)) = (
            f.get(key),
            if key == "updelay" {
                o.updelay
            } else {
                o.downdelay
            },
        ) else {
            continue;
        };
        if miimon == 0 {
            cx.err(
                y.at,
                format!("`{key}` needs the MII monitor, which is off"),
                Some(format!("set `miimon` (the kernel refuses `{key}` without it: EPERM; in mode {mode} it is off unless set)")),
            );
        } else if v % miimon != 0 {
            cx.err(
                y.at,
                format!("`{key}` {v} is not a multiple of `miimon` {miimon}: the kernel would round it down to {}", v / miimon * miimon),
                Some(format!("use a multiple of {miimon}")),
            );
        }
    }
}

/// Decodes a bond port's options.
pub fn decode_port(cx: &mut Ctx, f: &Fields) -> BondPort {
    BondPort {
        prio: f.i32(cx, "prio"),
        queue_id: f
            .kernel_range(cx, "queue_id", (0, TX_QUEUES), "a bond has 16 transmit queues (BOND_DEFAULT_TX_QUEUES); bond_option_queue_id_set refuses a larger id (EPERM)")
            .and_then(|v| u16::try_from(v).ok()),
    }
}

/// Port options that depend on the bond: `prio` only in the modes with a
/// primary (bond_opt_check_deps: EACCES), and a non-zero `queue_id` used by
/// one port only (bond_option_queue_id_set: EPERM).
pub fn check(cx: &mut Ctx, nodes: &BTreeMap<String, Node>) {
    for (node, n) in nodes {
        for (name, l) in &n.links {
            let LinkKind::Bond(b) = &l.kind else { continue };
            let mode = b.mode.as_deref().unwrap_or("balance-rr");
            let mut queues: BTreeMap<u16, &str> = BTreeMap::new();
            for (port, p) in n
                .links
                .iter()
                .filter(|(_, p)| p.master.as_deref() == Some(name))
            {
                let Some(PortOptions::Bond(o)) = &p.port else {
                    continue;
                };
                let me = format!("{node}/{port}");
                let at = cx.loc(&format!("{me}#master"), &me);
                if o.prio.is_some() && !PRIMARY_MODES.contains(&mode) {
                    cx.err(
                        at,
                        format!("port `{me}` has `prio`, which does not apply to mode {mode}"),
                        Some(format!(
                            "the kernel takes `prio` only in mode {} (EACCES)",
                            PRIMARY_MODES.join(", ")
                        )),
                    );
                }
                let Some(q) = o.queue_id.filter(|q| *q > 0) else {
                    continue;
                };
                if let Some(first) = queues.insert(q, port) {
                    cx.err(
                        at,
                        format!("port `{me}` has queue_id {q}, as `{first}` has"),
                        Some("the kernel gives a non-zero queue id to one port of a bond only (EPERM)".into()),
                    );
                }
            }
        }
    }
}

/// The bond kind in the file.
pub const SPEC: KindSpec = KindSpec {
    word: "bond",
    fields: FIELDS,
    decode: |cx, f, _, _| LinkKind::Bond(decode(cx, f)),
    mtu: ((68, 65535), "a bond's MTU is 68..=65535 (bond_setup)"),
    ports: Some(PortSpec {
        fields: PORT_FIELDS,
        decode: |cx, f| Some(PortOptions::Bond(decode_port(cx, f))),
        encode: encode_port,
    }),
    check: Some(check),
    encode,
};

/// A bond's fields: those not at the driver's defaults (bond_opts'
/// `defval`s), so that none the mode refuses is written.
pub fn encode(kind: &LinkKind, _: &str) -> crate::spec::emit::Fields {
    use crate::spec::emit::{put, Out};
    let LinkKind::Bond(o) = kind else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let s = |v: &str| Some(v.to_string());
    put(&mut out, "mode", &o.mode, s("balance-rr"));
    put(&mut out, "miimon", &o.miimon, Some(0));
    put(&mut out, "updelay", &o.updelay, Some(0));
    put(&mut out, "downdelay", &o.downdelay, Some(0));
    put(&mut out, "use_carrier", &o.use_carrier, Some(true));
    put(&mut out, "arp_interval", &o.arp_interval, Some(0));
    if !o.arp_ip_target.is_empty() {
        out.push(("arp_ip_target".into(), Out::list(&o.arp_ip_target)));
    }
    put(&mut out, "arp_validate", &o.arp_validate, s("none"));
    put(&mut out, "arp_all_targets", &o.arp_all_targets, s("any"));
    put(&mut out, "primary", &o.primary, None);
    put(
        &mut out,
        "primary_reselect",
        &o.primary_reselect,
        s("always"),
    );
    put(&mut out, "fail_over_mac", &o.fail_over_mac, s("none"));
    put(
        &mut out,
        "xmit_hash_policy",
        &o.xmit_hash_policy,
        s("layer2"),
    );
    put(&mut out, "lacp_rate", &o.lacp_rate, s("slow"));
    put(&mut out, "ad_select", &o.ad_select, s("stable"));
    put(&mut out, "min_links", &o.min_links, Some(0));
    put(
        &mut out,
        "all_slaves_active",
        &o.all_slaves_active,
        Some(false),
    );
    out
}

/// A bond port's fields (`prio` and `queue_id` 0 are the defaults).
pub fn encode_port(p: &PortOptions) -> crate::spec::emit::Fields {
    use crate::spec::emit::put;
    let PortOptions::Bond(p) = p else {
        return Vec::new();
    };
    let mut out = Vec::new();
    put(&mut out, "prio", &p.prio, Some(0));
    put(&mut out, "queue_id", &p.queue_id, Some(0));
    out
}

#[cfg(test)]
mod tests {
    use crate::model::LinkKind;
    use crate::spec::kind::test_util::{decode, file_errors};

    #[test]
    fn bond_options_follow_the_driver() {
        for ok in [
            "{ mode: active-backup, miimon: 2147483647 }",
            "{ mode: 802.3ad, updelay: 200, lacp_rate: slow }", // miimon 100 by default
            "{ mode: balance-xor, arp_interval: 100, arp_validate: all, arp_ip_target: [10.0.0.1] }",
            "{ mode: active-backup, miimon: 100, updelay: 300, downdelay: 0 }",
            "{ arp_ip_target: [0.1.2.3] }", // 0/8 is no longer refused (since 5.3)
        ] {
            assert!(decode("bond", ok).1.is_empty(), "{ok}: {:?}", decode("bond", ok).1);
        }
        for (bad, part) in [
            ("{ miimon: 2147483648 }", "the kernel takes 0..=2147483647"),
            (
                "{ mode: active-backup, updelay: 100 }",
                "needs the MII monitor",
            ),
            (
                "{ miimon: 100, arp_interval: 100 }",
                "turns on the ARP monitor",
            ),
            (
                "{ mode: 802.3ad, arp_interval: 100 }",
                "does not apply to mode 802.3ad",
            ),
            (
                "{ mode: balance-rr, primary: eth0 }",
                "does not apply to mode balance-rr",
            ),
            (
                "{ arp_ip_target: [0.0.0.0] }",
                "not a target the kernel takes",
            ),
            ("{ arp_ip_target: [10.0.0.1, 10.0.0.1] }", "listed twice"),
        ] {
            let (_, e) = decode("bond", bad);
            assert_eq!(e.len(), 1, "{bad}: {e:?}");
            assert!(e[0].contains(part), "{bad}: {e:?}");
        }
        let many: Vec<String> = (1..=17).map(|i| format!("10.0.0.{i}")).collect();
        let (_, e) = decode(
            "bond",
            &format!("{{ arp_ip_target: [{}] }}", many.join(", ")),
        );
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].contains("more than 16"), "{e:?}");
    }

    #[test]
    fn bond_port_options_depend_on_the_bond() {
        let e = file_errors(&[
            "bond0: { kind: bond, mode: balance-rr, ports: { d0: { prio: 1, queue_id: 16 }, d1: { queue_id: 0 }, d2: { queue_id: 0 } } }",
            "d0: { kind: dummy }",
            "d1: { kind: dummy }",
            "d2: { kind: dummy }",
        ]);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].contains("has `prio`, which does not apply to mode balance-rr"),
            "{e:?}"
        );
        let e = file_errors(&[
            "bond0: { kind: bond, ports: { d0: { queue_id: 17 } } }",
            "d0: { kind: dummy }",
        ]);
        assert!(
            e.len() == 1 && e[0].contains("the kernel takes 0..=16"),
            "{e:?}"
        );
    }

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
