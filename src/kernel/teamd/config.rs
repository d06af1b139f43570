//! teamd's JSON configuration (teamd.conf(5)) built from the team model.
//!
//! Only options the topology sets are written: everything else keeps teamd's
//! own defaults, so what netloom hands teamd reads like the YAML it came from.
use serde_json::{json, Map, Value};

use crate::model::team::{LinkWatch, PingWatch, TeamOptions, TeamPort};

/// Insert `key: value` when the option is set.
fn put<T: Into<Value>>(obj: &mut Map<String, Value>, key: &str, value: Option<T>) {
    if let Some(v) = value {
        obj.insert(key.to_string(), v.into());
    }
}

/// The `runner` object: name plus the runner options that are set.
fn runner(opts: &TeamOptions) -> Value {
    let mut r = Map::new();
    r.insert("name".into(), json!(opts.runner));
    put(&mut r, "hwaddr_policy", opts.hwaddr_policy.clone());
    if !opts.tx_hash.is_empty() {
        r.insert("tx_hash".into(), json!(opts.tx_hash));
    }
    let mut balancer = Map::new();
    put(&mut balancer, "name", opts.tx_balancer.clone());
    put(&mut balancer, "balancing_interval", opts.balancing_interval);
    if !balancer.is_empty() {
        r.insert("tx_balancer".into(), Value::Object(balancer));
    }
    put(&mut r, "active", opts.active);
    put(&mut r, "fast_rate", opts.fast_rate);
    put(&mut r, "sys_prio", opts.sys_prio);
    put(&mut r, "min_ports", opts.min_ports);
    put(&mut r, "agg_select_policy", opts.agg_select_policy.clone());
    Value::Object(r)
}

/// The options both ping watchers share.
fn ping_common(name: &str, p: &PingWatch) -> Map<String, Value> {
    let mut w = Map::new();
    w.insert("name".into(), json!(name));
    put(&mut w, "interval", p.interval);
    put(&mut w, "init_wait", p.init_wait);
    put(&mut w, "missed_max", p.missed_max);
    put(&mut w, "target_host", p.target_host.clone());
    w
}

/// One `link_watch` object.
fn watcher(lw: &LinkWatch) -> Value {
    match lw {
        LinkWatch::Ethtool {
            delay_up,
            delay_down,
        } => {
            let mut w = Map::new();
            w.insert("name".into(), json!("ethtool"));
            put(&mut w, "delay_up", *delay_up);
            put(&mut w, "delay_down", *delay_down);
            Value::Object(w)
        }
        LinkWatch::ArpPing(p) => {
            let mut w = ping_common("arp_ping", p);
            put(&mut w, "source_host", p.source_host.clone());
            put(&mut w, "validate_active", p.validate_active);
            put(&mut w, "validate_inactive", p.validate_inactive);
            Value::Object(w)
        }
        // nsna_ping has no source_host nor validation (teamd.conf(5)): the
        // spec layer rejects them, and they are never written here.
        LinkWatch::NsnaPing(p) => Value::Object(ping_common("nsna_ping", p)),
    }
}

/// One `ports.<name>` object (empty when no per-port option is set: the key
/// alone tells teamd to enslave the port).
fn port(p: &TeamPort) -> Value {
    let mut o = Map::new();
    put(&mut o, "prio", p.prio);
    put(&mut o, "sticky", p.sticky);
    put(&mut o, "queue_id", p.queue_id);
    put(&mut o, "lacp_prio", p.lacp_prio);
    put(&mut o, "lacp_key", p.lacp_key);
    Value::Object(o)
}

/// teamd's JSON config for team device `dev` with options `opts` and `ports`
/// (port name, per-port options), as teamd.conf(5) describes it.
///
/// `link_watch` is one object for one watcher and a list for several; it is
/// left out when the model has none, so teamd uses its default (ethtool).
pub fn config(dev: &str, opts: &TeamOptions, ports: &[(String, TeamPort)]) -> Value {
    let mut c = Map::new();
    c.insert("device".into(), json!(dev));
    c.insert("runner".into(), runner(opts));
    match opts.link_watch.as_slice() {
        [] => {}
        [one] => {
            c.insert("link_watch".into(), watcher(one));
        }
        many => {
            c.insert(
                "link_watch".into(),
                Value::Array(many.iter().map(watcher).collect()),
            );
        }
    }
    let ports: Map<String, Value> = ports
        .iter()
        .map(|(name, p)| (name.clone(), port(p)))
        .collect();
    c.insert("ports".into(), Value::Object(ports));
    Value::Object(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(runner: &str) -> TeamOptions {
        TeamOptions {
            runner: runner.into(),
            ..TeamOptions::default()
        }
    }

    #[test]
    fn activebackup_with_ethtool_and_port_options() {
        let mut o = opts("activebackup");
        o.hwaddr_policy = Some("by_active".into());
        o.link_watch = vec![LinkWatch::Ethtool {
            delay_up: Some(100),
            delay_down: None,
        }];
        let ports = vec![
            (
                "eth1".to_string(),
                TeamPort {
                    prio: Some(-10),
                    sticky: Some(true),
                    ..TeamPort::default()
                },
            ),
            ("eth2".to_string(), TeamPort::default()),
        ];
        assert_eq!(
            config("team0", &o, &ports),
            json!({
                "device": "team0",
                "runner": {"name": "activebackup", "hwaddr_policy": "by_active"},
                "link_watch": {"name": "ethtool", "delay_up": 100},
                "ports": {"eth1": {"prio": -10, "sticky": true}, "eth2": {}}
            })
        );
    }

    #[test]
    fn minimal_roundrobin_has_no_link_watch() {
        let c = config("team1", &opts("roundrobin"), &[]);
        assert_eq!(
            c,
            json!({"device": "team1", "runner": {"name": "roundrobin"}, "ports": {}})
        );
    }

    #[test]
    fn loadbalance_tx_hash_and_balancer() {
        let mut o = opts("loadbalance");
        o.tx_hash = vec!["eth".into(), "ipv4".into(), "l4".into()];
        o.tx_balancer = Some("basic".into());
        o.balancing_interval = Some(50);
        let c = config("t", &o, &[("p".into(), TeamPort::default())]);
        assert_eq!(
            c["runner"],
            json!({
                "name": "loadbalance",
                "tx_hash": ["eth", "ipv4", "l4"],
                "tx_balancer": {"name": "basic", "balancing_interval": 50}
            })
        );
    }

    #[test]
    fn balancing_interval_alone_is_written_alone() {
        let mut o = opts("loadbalance");
        o.balancing_interval = Some(10);
        let c = config("t", &o, &[]);
        assert_eq!(
            c["runner"]["tx_balancer"],
            json!({"balancing_interval": 10})
        );
    }

    #[test]
    fn lacp_options_and_port_keys() {
        let mut o = opts("lacp");
        o.active = Some(true);
        o.fast_rate = Some(false);
        o.sys_prio = Some(65535);
        o.min_ports = Some(2);
        o.agg_select_policy = Some("lacp_prio_stable".into());
        o.tx_hash = vec!["l3".into()];
        let ports = vec![(
            "eth1".to_string(),
            TeamPort {
                lacp_prio: Some(10),
                lacp_key: Some(3),
                queue_id: Some(1),
                ..TeamPort::default()
            },
        )];
        let c = config("bond0", &o, &ports);
        assert_eq!(
            c["runner"],
            json!({
                "name": "lacp", "tx_hash": ["l3"], "active": true, "fast_rate": false,
                "sys_prio": 65535, "min_ports": 2, "agg_select_policy": "lacp_prio_stable"
            })
        );
        assert_eq!(
            c["ports"],
            json!({"eth1": {"queue_id": 1, "lacp_prio": 10, "lacp_key": 3}})
        );
    }

    #[test]
    fn broadcast_and_random_are_just_a_name() {
        for r in ["broadcast", "random"] {
            assert_eq!(config("t", &opts(r), &[])["runner"], json!({ "name": r }));
        }
    }

    #[test]
    fn arp_ping_writes_every_set_option() {
        let mut o = opts("activebackup");
        o.link_watch = vec![LinkWatch::ArpPing(PingWatch {
            interval: Some(100),
            init_wait: Some(1000),
            missed_max: Some(3),
            source_host: Some("192.0.2.1".into()),
            target_host: Some("192.0.2.2".into()),
            validate_active: Some(true),
            validate_inactive: Some(false),
        })];
        assert_eq!(
            config("t", &o, &[])["link_watch"],
            json!({
                "name": "arp_ping", "interval": 100, "init_wait": 1000, "missed_max": 3,
                "source_host": "192.0.2.1", "target_host": "192.0.2.2",
                "validate_active": true, "validate_inactive": false
            })
        );
    }

    #[test]
    fn nsna_ping_never_writes_arp_only_options() {
        let mut o = opts("activebackup");
        o.link_watch = vec![LinkWatch::NsnaPing(PingWatch {
            interval: Some(200),
            missed_max: Some(5),
            target_host: Some("fe80::1".into()),
            source_host: Some("fe80::2".into()),
            validate_active: Some(true),
            ..PingWatch::default()
        })];
        assert_eq!(
            config("t", &o, &[])["link_watch"],
            json!({"name": "nsna_ping", "interval": 200, "missed_max": 5, "target_host": "fe80::1"})
        );
    }

    #[test]
    fn several_watchers_become_a_list() {
        let mut o = opts("activebackup");
        o.link_watch = vec![
            LinkWatch::Ethtool {
                delay_up: None,
                delay_down: Some(200),
            },
            LinkWatch::ArpPing(PingWatch {
                target_host: Some("192.0.2.9".into()),
                ..PingWatch::default()
            }),
        ];
        assert_eq!(
            config("t", &o, &[])["link_watch"],
            json!([
                {"name": "ethtool", "delay_down": 200},
                {"name": "arp_ping", "target_host": "192.0.2.9"}
            ])
        );
    }
}
