//! The JSON netloom writes is what the real teamd understands: each runner
//! and watcher config is started under teamd and read back from its state
//! dump. Needs the team driver: runs in the VM (vm/run.sh).
use std::path::Path;
use std::process::Command;

use netloom::kernel::netns;
use netloom::kernel::teamd::{self, usock};
use netloom::model::team::{LinkWatch, PingWatch, TeamOptions, TeamPort};
use serde_json::{json, Value};

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Start teamd for a fresh team `dev` with two ports under `opts`, return its
/// raw state dump, and stop it.
fn dump_of(
    ns_name: &str,
    ns: &netns::Netns,
    dev: &str,
    opts: &TeamOptions,
    port: TeamPort,
) -> Value {
    ip(&["-n", ns_name, "link", "add", dev, "type", "team"]);
    let mut ports = Vec::new();
    for i in 0..2 {
        let (p, q) = (format!("{dev}p{i}"), format!("{dev}q{i}"));
        ip(&[
            "-n", ns_name, "link", "add", &p, "type", "veth", "peer", "name", &q,
        ]);
        ip(&["-n", ns_name, "link", "set", &q, "up"]);
        ports.push((p, port.clone()));
    }
    let dir = Path::new("/run/netloom/teamd").join(ns_name);
    let cfg = teamd::config(dev, opts, &ports);
    teamd::start(ns, &dir, dev, &cfg).unwrap_or_else(|e| panic!("{cfg}: {e}"));
    // Watchers and runners register their per-port state as ports appear.
    let mut dump = Value::Null;
    for _ in 0..100 {
        let text = usock::call(&teamd::socket_path(&dir, dev), "StateDump", &[]).expect("dump");
        dump = serde_json::from_str(&text).expect("json");
        if dump["ports"].as_object().is_some_and(|m| m.len() == 2) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(teamd::stop(&dir, dev).expect("stop"));
    dump
}

fn opts(runner: &str) -> TeamOptions {
    TeamOptions {
        runner: runner.into(),
        ..TeamOptions::default()
    }
}

/// The first port's watcher `n` in a dump.
fn watcher<'a>(dump: &'a Value, dev: &str, n: usize) -> &'a Value {
    &dump["ports"][format!("{dev}p0")]["link_watches"]["list"][format!("link_watch_{n}")]
}

#[test]
#[ignore = "needs a kernel with team: runs in the VM"]
fn teamd_understands_every_runner_and_watcher() {
    netloom::sandboxed!("teamd_understands_every_runner_and_watcher");
    let ns = netns::create("tcfg").expect("netns");

    for (i, r) in ["broadcast", "roundrobin", "random"].iter().enumerate() {
        let dev = format!("s{i}");
        let d = dump_of("tcfg", &ns, &dev, &opts(r), TeamPort::default());
        assert_eq!(d["setup"]["runner_name"], json!(r), "{d}");
        assert_eq!(d["ports"].as_object().map(|m| m.len()), Some(2), "{d}");
    }

    // activebackup: hwaddr policy, two watchers as a list, per-port options.
    let mut ab = opts("activebackup");
    ab.hwaddr_policy = Some("by_active".into());
    ab.link_watch = vec![
        LinkWatch::Ethtool {
            delay_up: Some(100),
            delay_down: Some(200),
        },
        LinkWatch::ArpPing(PingWatch {
            interval: Some(300),
            init_wait: Some(50),
            missed_max: Some(4),
            source_host: Some("192.0.2.1".into()),
            target_host: Some("192.0.2.2".into()),
            validate_active: Some(true),
            validate_inactive: Some(true),
        }),
    ];
    let port = TeamPort {
        prio: Some(-10),
        sticky: Some(true),
        queue_id: Some(1),
        ..TeamPort::default()
    };
    let d = dump_of("tcfg", &ns, "ab", &ab, port);
    assert_eq!(d["setup"]["runner_name"], json!("activebackup"), "{d}");
    let eth = watcher(&d, "ab", 0);
    assert_eq!(eth["name"], json!("ethtool"), "{d}");
    assert_eq!(
        (&eth["delay_up"], &eth["delay_down"]),
        (&json!(100), &json!(200)),
        "{d}"
    );
    let arp = watcher(&d, "ab", 1);
    assert_eq!(arp["name"], json!("arp_ping"), "{d}");
    assert_eq!(arp["target_host"], json!("192.0.2.2"), "{d}");
    assert_eq!(arp["source_host"], json!("192.0.2.1"), "{d}");
    assert_eq!(arp["interval"], json!(300), "{d}");
    assert_eq!(arp["init_wait"], json!(50), "{d}");
    assert_eq!(arp["missed_max"], json!(4), "{d}");
    assert_eq!(arp["validate_active"], json!(true), "{d}");
    assert_eq!(arp["validate_inactive"], json!(true), "{d}");

    // nsna_ping alone is written as one object.
    let mut ns_ping = opts("activebackup");
    ns_ping.link_watch = vec![LinkWatch::NsnaPing(PingWatch {
        interval: Some(250),
        init_wait: Some(20),
        missed_max: Some(6),
        target_host: Some("fe80::1".into()),
        ..PingWatch::default()
    })];
    let d = dump_of("tcfg", &ns, "na", &ns_ping, TeamPort::default());
    let na = watcher(&d, "na", 0);
    assert_eq!(na["name"], json!("nsna_ping"), "{d}");
    assert_eq!(na["target_host"], json!("fe80::1"), "{d}");
    assert_eq!(
        (&na["interval"], &na["init_wait"], &na["missed_max"]),
        (&json!(250), &json!(20), &json!(6)),
        "{d}"
    );

    // loadbalance: teamd refuses unknown tx_hash names, so starting proves them.
    let mut lb = opts("loadbalance");
    lb.tx_hash = vec!["eth".into(), "ipv4".into(), "ipv6".into(), "l4".into()];
    lb.tx_balancer = Some("basic".into());
    lb.balancing_interval = Some(50);
    let d = dump_of("tcfg", &ns, "lb", &lb, TeamPort::default());
    assert_eq!(d["setup"]["runner_name"], json!("loadbalance"), "{d}");

    // lacp: runner options come back in the runner state.
    let mut lacp = opts("lacp");
    lacp.active = Some(true);
    lacp.fast_rate = Some(true);
    lacp.sys_prio = Some(100);
    lacp.min_ports = Some(1);
    lacp.agg_select_policy = Some("bandwidth".into());
    lacp.tx_hash = vec!["l3".into()];
    let port = TeamPort {
        lacp_prio: Some(10),
        lacp_key: Some(3),
        ..TeamPort::default()
    };
    let d = dump_of("tcfg", &ns, "la", &lacp, port);
    assert_eq!(d["setup"]["runner_name"], json!("lacp"), "{d}");
    assert_eq!(d["runner"]["active"], json!(true), "{d}");
    assert_eq!(d["runner"]["fast_rate"], json!(true), "{d}");
    assert_eq!(d["runner"]["sys_prio"], json!(100), "{d}");
    assert_eq!(d["runner"]["select_policy"], json!("bandwidth"), "{d}");
}
