//! team: `kind: team`, turned into teamd's config (runner and link watchers).
use super::{KindSpec, PortSpec};
use crate::model::team::{LinkWatch, PingWatch};
use crate::model::{LinkKind, PortOptions};
use crate::model::{TeamOptions, TeamPort};
use crate::spec::decode::{list_of, str_of, word_of, Ctx, Fields};
use crate::spec::yaml::{Value, Yaml};

/// Team fields.
pub const FIELDS: &[&str] = &["runner", "link_watch"];

/// Team port fields (teamd per-port options).
pub const PORT_FIELDS: &[&str] = &["prio", "sticky", "queue_id", "lacp_prio", "lacp_key"];

/// Runner names teamd knows.
pub const RUNNERS: &[&str] = &[
    "broadcast",
    "roundrobin",
    "random",
    "activebackup",
    "loadbalance",
    "lacp",
];

const RUNNER_FIELDS: &[&str] = &[
    "name",
    "hwaddr_policy",
    "tx_hash",
    "tx_balancer",
    "active",
    "fast_rate",
    "sys_prio",
    "min_ports",
    "agg_select_policy",
];

const TX_HASH: &[&str] = &[
    "eth", "vlan", "ipv4", "ipv6", "ip", "l3", "tcp", "udp", "sctp", "l4",
];

/// Decodes a team's options; the runner defaults to teamd's `roundrobin`.
pub fn decode(cx: &mut Ctx, f: &Fields) -> TeamOptions {
    let mut o = TeamOptions {
        runner: "roundrobin".into(),
        ..TeamOptions::default()
    };
    if let Some(y) = f.get("runner") {
        runner(cx, y, &mut o);
    }
    if let Some(y) = f.get("link_watch") {
        match &y.value {
            Value::Seq(_) => {
                for w in list_of(cx, y) {
                    o.link_watch.extend(watch(cx, w));
                }
            }
            _ => o.link_watch.extend(watch(cx, y)),
        }
    }
    o
}

fn runner(cx: &mut Ctx, y: &Yaml, o: &mut TeamOptions) {
    if let Value::Scalar { .. } = y.value {
        if let Some(n) = word_of(cx, y, "runner", RUNNERS) {
            o.runner = n;
        }
        return;
    }
    let Some(f) = Fields::new(cx, y, "a team runner", RUNNER_FIELDS) else {
        return;
    };
    if let Some(n) = f.need(cx, "name").and_then(|_| f.word(cx, "name", RUNNERS)) {
        o.runner = n;
    }
    o.hwaddr_policy = f.word(
        cx,
        "hwaddr_policy",
        &["same_all", "by_active", "only_active"],
    );
    for h in f.list(cx, "tx_hash") {
        o.tx_hash.extend(word_of(cx, h, "tx_hash", TX_HASH));
    }
    if let Some(b) = f.get("tx_balancer") {
        if let Some(bf) = Fields::new(cx, b, "a team tx_balancer", &["name", "balancing_interval"])
        {
            o.tx_balancer = bf.word(cx, "name", &["basic"]);
            o.balancing_interval = bf.u32(cx, "balancing_interval");
        }
    }
    o.active = f.bool(cx, "active");
    o.fast_rate = f.bool(cx, "fast_rate");
    o.sys_prio = f.u32(cx, "sys_prio");
    o.min_ports = f.u32(cx, "min_ports");
    o.agg_select_policy = f.word(
        cx,
        "agg_select_policy",
        &[
            "lacp_prio",
            "lacp_prio_stable",
            "bandwidth",
            "count",
            "port_config",
        ],
    );
}

const WATCHERS: &[&str] = &["ethtool", "arp_ping", "nsna_ping"];
const ETHTOOL_FIELDS: &[&str] = &["name", "delay_up", "delay_down"];
const ARP_FIELDS: &[&str] = &[
    "name",
    "interval",
    "init_wait",
    "missed_max",
    "source_host",
    "target_host",
    "validate_active",
    "validate_inactive",
];
const NSNA_FIELDS: &[&str] = &["name", "interval", "init_wait", "missed_max", "target_host"];

fn watch(cx: &mut Ctx, y: &Yaml) -> Option<LinkWatch> {
    // Read the name first so unknown fields are judged against that watcher's fields.
    let name_y = match &y.value {
        Value::Map(m) => m.iter().find(|e| e.key == "name").map(|e| &e.value),
        _ => {
            cx.expected(y, "a map with the link watcher's `name`");
            return None;
        }
    };
    let Some(name_y) = name_y else {
        cx.err(
            y.at,
            "a team link_watch needs `name`",
            Some(format!("watchers are: {}", WATCHERS.join(", "))),
        );
        return None;
    };
    let name = word_of(cx, name_y, "name", WATCHERS)?;
    let allowed = match name.as_str() {
        "ethtool" => ETHTOOL_FIELDS,
        "arp_ping" => ARP_FIELDS,
        _ => NSNA_FIELDS,
    };
    let f = Fields::new(cx, y, &format!("the {name} link watcher"), allowed)?;
    if name == "ethtool" {
        return Some(LinkWatch::Ethtool {
            delay_up: f.u32(cx, "delay_up"),
            delay_down: f.u32(cx, "delay_down"),
        });
    }
    let host = |cx: &mut Ctx, k: &str| f.get(k).and_then(|v| str_of(cx, v)).map(str::to_string);
    let p = PingWatch {
        interval: f.u32(cx, "interval"),
        init_wait: f.u32(cx, "init_wait"),
        missed_max: f.u32(cx, "missed_max"),
        source_host: host(cx, "source_host"),
        target_host: host(cx, "target_host"),
        validate_active: f.bool(cx, "validate_active"),
        validate_inactive: f.bool(cx, "validate_inactive"),
    };
    if p.target_host.is_none() {
        cx.err(
            f.at,
            format!("the {name} link watcher needs `target_host`"),
            None,
        );
    }
    Some(if name == "arp_ping" {
        LinkWatch::ArpPing(p)
    } else {
        LinkWatch::NsnaPing(p)
    })
}

/// Decodes a team port's options.
pub fn decode_port(cx: &mut Ctx, f: &Fields) -> TeamPort {
    TeamPort {
        prio: f.i32(cx, "prio"),
        sticky: f.bool(cx, "sticky"),
        queue_id: f.u32(cx, "queue_id"),
        lacp_prio: f.u32(cx, "lacp_prio"),
        lacp_key: f.u32(cx, "lacp_key"),
    }
}

/// The team kind in the file.
pub const SPEC: KindSpec = KindSpec {
    word: "team",
    fields: FIELDS,
    decode: |cx, f, _, _| LinkKind::Team(decode(cx, f)),
    mtu: ((68, 65535), "a team's MTU is 68..=65535 (team_setup)"),
    ports: Some(PortSpec {
        fields: PORT_FIELDS,
        decode: |cx, f| Some(PortOptions::Team(decode_port(cx, f))),
        encode: encode_port,
    }),
    check: None,
    encode,
};

/// A team's fields, as teamd runs with them (`runner` alone as a word).
pub fn encode(kind: &LinkKind, _: &str) -> crate::spec::emit::Fields {
    use crate::spec::emit::{put, Out};
    let LinkKind::Team(o) = kind else {
        return Vec::new();
    };
    let mut r = vec![("name".to_string(), Out::of(&o.runner))];
    put(&mut r, "hwaddr_policy", &o.hwaddr_policy, None);
    if !o.tx_hash.is_empty() {
        r.push(("tx_hash".into(), Out::list(&o.tx_hash)));
    }
    if o.tx_balancer.is_some() || o.balancing_interval.is_some() {
        let mut b = Vec::new();
        put(&mut b, "name", &o.tx_balancer, None);
        put(&mut b, "balancing_interval", &o.balancing_interval, None);
        r.push(("tx_balancer".into(), Out::Map(b)));
    }
    put(&mut r, "active", &o.active, None);
    put(&mut r, "fast_rate", &o.fast_rate, None);
    put(&mut r, "sys_prio", &o.sys_prio, None);
    put(&mut r, "min_ports", &o.min_ports, None);
    put(&mut r, "agg_select_policy", &o.agg_select_policy, None);
    let runner = if r.len() == 1 {
        Out::of(&o.runner)
    } else {
        Out::Map(r)
    };
    let mut out = vec![("runner".to_string(), runner)];
    if !o.link_watch.is_empty() {
        let watchers = o
            .link_watch
            .iter()
            .map(|w| {
                let mut m = Vec::new();
                match w {
                    LinkWatch::Ethtool {
                        delay_up,
                        delay_down,
                    } => {
                        m.push(("name".to_string(), Out::of("ethtool")));
                        put(&mut m, "delay_up", delay_up, None);
                        put(&mut m, "delay_down", delay_down, None);
                    }
                    LinkWatch::ArpPing(p) | LinkWatch::NsnaPing(p) => {
                        let name = if matches!(w, LinkWatch::ArpPing(_)) {
                            "arp_ping"
                        } else {
                            "nsna_ping"
                        };
                        m.push(("name".to_string(), Out::of(name)));
                        put(&mut m, "interval", &p.interval, None);
                        put(&mut m, "init_wait", &p.init_wait, None);
                        put(&mut m, "missed_max", &p.missed_max, None);
                        put(&mut m, "source_host", &p.source_host, None);
                        put(&mut m, "target_host", &p.target_host, None);
                        put(&mut m, "validate_active", &p.validate_active, None);
                        put(&mut m, "validate_inactive", &p.validate_inactive, None);
                    }
                }
                Out::Map(m)
            })
            .collect();
        out.push(("link_watch".into(), Out::Seq(watchers)));
    }
    out
}

/// A team port's fields, as teamd runs with them.
pub fn encode_port(p: &PortOptions) -> crate::spec::emit::Fields {
    use crate::spec::emit::put;
    let PortOptions::Team(p) = p else {
        return Vec::new();
    };
    let mut out = Vec::new();
    put(&mut out, "prio", &p.prio, None);
    put(&mut out, "sticky", &p.sticky, None);
    put(&mut out, "queue_id", &p.queue_id, None);
    put(&mut out, "lacp_prio", &p.lacp_prio, None);
    put(&mut out, "lacp_key", &p.lacp_key, None);
    out
}

#[cfg(test)]
mod tests {
    use crate::model::team::LinkWatch;
    use crate::model::LinkKind;
    use crate::spec::kind::test_util::decode;

    #[test]
    fn runner_shorthand_map_and_watchers() {
        let (k, e) = decode("team", "{ runner: activebackup }");
        assert!(e.is_empty(), "{e:?}");
        assert!(matches!(k, LinkKind::Team(t) if t.runner == "activebackup"));
        let (k, e) = decode("team", "{ runner: { name: lacp, tx_hash: [eth, l4], tx_balancer: { name: basic, balancing_interval: 50 } }, link_watch: [{ name: ethtool }, { name: arp_ping, target_host: 10.0.0.1, interval: 100 }] }");
        assert!(e.is_empty(), "{e:?}");
        let LinkKind::Team(t) = k else { panic!() };
        assert_eq!(t.tx_hash, ["eth", "l4"]);
        assert_eq!(t.balancing_interval, Some(50));
        assert!(matches!(&t.link_watch[1], LinkWatch::ArpPing(p) if p.interval == Some(100)));
        let (_, e) = decode(
            "team",
            "{ runner: fast, link_watch: { name: nsna_ping, validate_active: true } }",
        );
        assert_eq!(e.len(), 3, "{e:?}");
    }
}
