//! bridge: `kind: bridge` and its ports' options.
use super::{KindSpec, PortSpec};
use crate::model::{BridgeOptions, BridgePort, BridgeVlan};
use crate::model::{LinkKind, PortOptions};
use crate::spec::decode::{uint_of, Ctx, Fields as In};
use crate::spec::emit::{put, Fields, Out};
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
    "fdb",
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

/// Decodes a bridge's options, within the kernel's limits (see `time`).
pub fn decode(cx: &mut Ctx, f: &In) -> BridgeOptions {
    let stp = f.bool(cx, "stp");
    // br_set_forward_delay refuses 2..30 s only while STP runs; at creation
    // the delay is set before STP starts, and br_stp_start clamps it then.
    let fd_range = match stp {
        Some(true) => (200, 3000),
        _ => (0, u64::from(u32::MAX)),
    };
    BridgeOptions {
        stp,
        forward_delay: time(cx, f, "forward_delay", fd_range, "with `stp: true` the forward delay is 2 to 30 s (br_set_forward_delay, BR_MIN/MAX_FORWARD_DELAY; br_stp_start clamps one set before STP starts)"),
        hello_time: time(cx, f, "hello_time", (100, 1000), "the hello time is 1 to 10 s (br_set_hello_time, BR_MIN/MAX_HELLO_TIME)"),
        max_age: time(cx, f, "max_age", (600, 4000), "the max age is 6 to 40 s (br_set_max_age, BR_MIN/MAX_MAX_AGE)"),
        priority: f.u16(cx, "priority", 0, u16::MAX),
        ageing_time: time(cx, f, "ageing_time", (0, u64::from(u32::MAX)), "the ageing time is a 32-bit number of centiseconds"),
        mcast_snooping: f.bool(cx, "mcast_snooping"),
        vlan_filtering: f.bool(cx, "vlan_filtering"),
        vlan_protocol: f
            .word(cx, "vlan_protocol", &["802.1Q", "802.1ad"])
            .map(|w| vlan_protocol(&w)),
        default_pvid: f.u16(cx, "default_pvid", 0, 4094),
        vlans: vlans(cx, f),
    }
}

/// A bridge time in centiseconds, within `range`. The kernel keeps these
/// times in jiffies and reports them rounded down to centiseconds
/// (clock_t_to_jiffies, jiffies_to_clock_t): at CONFIG_HZ=250, the Debian
/// kernels' (the VM's 6.1 and the host's 6.18), a jiffy is 0.4 cs, so an odd
/// value reads back one less and `status` would never call it in sync.
fn time(cx: &mut Ctx, f: &In, key: &str, range: (u64, u64), why: &str) -> Option<u32> {
    let v = f.kernel_range(cx, key, range, why)?;
    if v % 2 == 1 {
        let at = f.get(key).map_or(f.at, |y| y.at);
        cx.err(
            at,
            format!("`{key}` {v} would read back as {}: the kernel keeps bridge times in clock ticks of 4 ms (CONFIG_HZ=250) and rounds them down to centiseconds", v - 1),
            Some(format!("use an even number of centiseconds, e.g. {}", v - 1)),
        );
        return None;
    }
    u32::try_from(v).ok()
}

/// Decodes a bridge port's options.
pub fn decode_port(cx: &mut Ctx, f: &In) -> BridgePort {
    BridgePort {
        cost: f
            .kernel_range(cx, "cost", (1, 65535), "a port's path cost is 1..=65535 (br_stp_set_path_cost, BR_MIN/MAX_PATH_COST)")
            .and_then(|v| u32::try_from(v).ok()),
        priority: f
            .kernel_range(cx, "priority", (0, 63), "a port's priority is 0..=63: the top 6 bits of its 16-bit port id (br_stp_set_port_priority, BR_MAX_PORT_PRIORITY)")
            .and_then(|v| u16::try_from(v).ok()),
        learning: f.bool(cx, "learning"),
        flood: f.bool(cx, "flood"),
        hairpin: f.bool(cx, "hairpin"),
        isolated: f.bool(cx, "isolated"),
        vlans: vlans(cx, f),
    }
}

/// `vlans: [10, { vid: 20, pvid: true, untagged: true }]`, in VLAN order, as
/// the kernel lists them (so a file listing them otherwise is in sync).
fn vlans(cx: &mut Ctx, f: &In) -> Vec<BridgeVlan> {
    let mut out = Vec::new();
    for item in f.list(cx, "vlans") {
        if let Some(v) = vlan(cx, item) {
            out.push(v);
        }
    }
    out.sort();
    out
}

fn vlan(cx: &mut Ctx, y: &Yaml) -> Option<BridgeVlan> {
    if let Value::Map(_) = y.value {
        let f = In::new(cx, y, "a bridge vlan", &["vid", "pvid", "untagged"])?;
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

/// The bridge kind in the file.
pub const SPEC: KindSpec = KindSpec {
    word: "bridge",
    fields: FIELDS,
    decode: |cx, f, _, _| LinkKind::Bridge(decode(cx, f)),
    mtu: ((68, 65535), "a bridge's MTU is 68..=65535 (br_dev_setup)"),
    ports: Some(PortSpec {
        fields: PORT_FIELDS,
        decode: |cx, f| Some(PortOptions::Bridge(decode_port(cx, f))),
        encode: encode_port,
    }),
    check: None,
    encode,
};

/// A bridge's fields: those not at br_dev_setup's and br_stp's defaults
/// (`fdb` is written from the node's entries).
pub fn encode(kind: &LinkKind, _: &str) -> Fields {
    let LinkKind::Bridge(o) = kind else {
        return Vec::new();
    };
    let mut out = Vec::new();
    put(&mut out, "stp", &o.stp, Some(false));
    put(&mut out, "forward_delay", &o.forward_delay, Some(1500));
    put(&mut out, "hello_time", &o.hello_time, Some(200));
    put(&mut out, "max_age", &o.max_age, Some(2000));
    put(&mut out, "ageing_time", &o.ageing_time, Some(30000));
    put(&mut out, "priority", &o.priority, Some(0x8000));
    put(&mut out, "mcast_snooping", &o.mcast_snooping, Some(true));
    put(&mut out, "vlan_filtering", &o.vlan_filtering, Some(false));
    if o.vlan_protocol == Some(0x88a8) {
        out.push(("vlan_protocol".into(), Out::of("802.1ad")));
    }
    put(&mut out, "default_pvid", &o.default_pvid, Some(1));
    vlans_out(&mut out, &o.vlans, o.default_pvid.unwrap_or(1));
    out
}

/// A bridge port's fields: those not at new_nbp's defaults. The path cost
/// the kernel derives from the port's speed (port_cost: 2 at 10 Gb/s, a
/// veth's, 100 when unknown) is left out.
pub fn encode_port(p: &PortOptions) -> Fields {
    let PortOptions::Bridge(p) = p else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(c) = p.cost.filter(|c| ![2, 100].contains(c)) {
        out.push(("cost".into(), Out::of(c)));
    }
    put(&mut out, "priority", &p.priority, Some(32));
    put(&mut out, "learning", &p.learning, Some(true));
    put(&mut out, "flood", &p.flood, Some(true));
    put(&mut out, "hairpin", &p.hairpin, Some(false));
    put(&mut out, "isolated", &p.isolated, Some(false));
    vlans_out(&mut out, &p.vlans, 1);
    out
}

/// `vlans`, unless just the default PVID the kernel gives a bridge and
/// each new port (untagged).
fn vlans_out(out: &mut Fields, vlans: &[BridgeVlan], pvid: u16) {
    let default = [BridgeVlan {
        vid: pvid,
        pvid: true,
        untagged: true,
    }];
    if vlans.is_empty() || vlans == default {
        return;
    }
    let items = vlans
        .iter()
        .map(|v| {
            if !v.pvid && !v.untagged {
                return Out::of(v.vid);
            }
            let mut m = vec![("vid".to_string(), Out::of(v.vid))];
            if v.pvid {
                m.push(("pvid".into(), Out::of(true)));
            }
            if v.untagged {
                m.push(("untagged".into(), Out::of(true)));
            }
            Out::Map(m)
        })
        .collect();
    out.push(("vlans".into(), Out::Seq(items)));
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

    #[test]
    fn bridge_times_follow_the_kernel() {
        let ok = "{ stp: true, forward_delay: 3000, hello_time: 100, max_age: 4000, ageing_time: 4294967294 }";
        assert!(decode("bridge", ok).1.is_empty());
        // Without STP the kernel takes any forward delay.
        assert!(decode("bridge", "{ forward_delay: 0 }").1.is_empty());
        for (text, part) in [
            (
                "{ hello_time: 50 }",
                "`hello_time` 50 is out of range: the kernel takes 100..=1000",
            ),
            ("{ hello_time: 1002 }", "100..=1000"),
            ("{ max_age: 598 }", "600..=4000"),
            ("{ stp: true, forward_delay: 100 }", "200..=3000"),
            ("{ hello_time: 101 }", "would read back as 100"),
            (
                "{ ageing_time: 4294967295 }",
                "would read back as 4294967294",
            ),
        ] {
            let (_, e) = decode("bridge", text);
            assert_eq!(e.len(), 1, "{text}: {e:?}");
            assert!(e[0].contains(part), "{text}: {e:?}");
        }
    }
}
