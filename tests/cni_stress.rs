//! netloom-cni under load and abuse: twenty runtimes' calls at once on one
//! bridge, and kill -9 in the middle of ADD followed by DEL or GC. These
//! exercise netloom-cni's locking, records and journal, not drivers: they
//! run on the host only (vm/test.sh skips this binary).
#[path = "support/cni_util/mod.rs"]
mod cni_util;

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use cni_util::{bridge_conf, first_ip, Runtime, CNI_PATH};
use serde_json::json;

/// Twenty runtimes' ADD and DEL at once on one bridge: every ADD gets its
/// own address and works, every DEL cleans up, the store stays consistent.
#[test]
fn twenty_parallel_add_and_del_on_one_bridge() {
    let rt = Runtime::new();
    let conf = bridge_conf("1.1.0", "10.32.0.0/24");
    let names: Vec<String> = (1..=20).map(|i| format!("c{i}")).collect();
    for c in &names {
        rt.container(c);
    }
    let ips: Vec<String> = std::thread::scope(|s| {
        let hs: Vec<_> = names
            .iter()
            .map(|c| {
                let (rt, conf) = (&rt, &conf);
                s.spawn(move || first_ip(&rt.add(conf, c, &format!("/run/netns/{c}"))))
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let distinct: std::collections::BTreeSet<&String> = ips.iter().collect();
    assert_eq!(distinct.len(), 20, "{ips:?}");
    for (c, _) in names.iter().zip(&ips).step_by(5) {
        assert!(rt.pings(c, "10.32.0.1"), "{c} -> gateway");
    }
    assert!(rt.pings("c1", &ips[19]), "c1 -> c20");
    let ports = rt.sh_ok("ls /sys/class/net/nl0/brif | wc -l");
    assert_eq!(ports.trim(), "20");
    std::thread::scope(|s| {
        for c in &names {
            let (rt, conf) = (&rt, &conf);
            s.spawn(move || rt.del(conf, c, Some(&format!("/run/netns/{c}"))));
        }
    });
    assert_eq!(rt.host_links().trim(), "nl0");
    assert_eq!(rt.kept("cni-lab"), "");
}

/// kill -9 at moments spread over ADD, then DEL (or GC with no valid
/// attachment): nothing is left, neither device nor record, reservation
/// or journal. The test insists that some kills landed mid-way.
#[test]
fn kill_during_add_then_del_or_gc_leaves_nothing() {
    let rt = Runtime::new();
    let conf = bridge_conf("1.1.0", "10.33.0.0/24");
    let n = rt.container("c1");
    // A first ADD and DEL make the bridge, so the kills land in the
    // attachment's own steps rather than the engine's; a second ADD, timed
    // from spawn to exit, tells over what span to spread the kills.
    rt.add(&conf, "c1", &n);
    rt.del(&conf, "c1", Some(&n));
    // (The shortest of three: the machine is shared and its speed drifts.)
    let span = (0..3)
        .map(|_| {
            let t = std::time::Instant::now();
            rt.add(&conf, "c1", &n);
            let d = t.elapsed().as_micros() as u64;
            rt.del(&conf, "c1", Some(&n));
            d
        })
        .min()
        .unwrap();
    let mut mid_way = 0;
    let mut tries = 0;
    // 40 kills spread over the span, more (up to 160) while fewer than 8
    // landed mid-way, for a machine slower now than when timed.
    for i in 0..160u64 {
        if i >= 40 && mid_way >= 8 {
            break;
        }
        tries += 1;
        let delay_us = span * ((i * 7) % 40) / 40 * (1 + i / 40);
        let mut cmd = rt.sb.command(cni_util::plugin());
        cmd.env_clear()
            .envs([
                ("CNI_COMMAND", "ADD"),
                ("CNI_CONTAINERID", "c1"),
                ("CNI_NETNS", n.as_str()),
                ("CNI_IFNAME", "eth0"),
                ("CNI_PATH", CNI_PATH),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(conf.to_string().as_bytes())
            .unwrap();
        std::thread::sleep(Duration::from_micros(delay_us));
        let _ = child.kill();
        let finished = child.wait().unwrap().success();
        let left = format!("{}{}", rt.kept("cni-lab"), rt.links_in("c1"));
        if !finished && !left.trim().is_empty() {
            mid_way += 1;
        }
        if i % 2 == 0 {
            rt.del(&conf, "c1", Some(&n));
        } else {
            let mut gc = conf.clone();
            gc["cni.dev/valid-attachments"] = json!([]);
            let r = rt.exec(
                &cni_util::plugin(),
                &[("CNI_COMMAND", "GC"), ("CNI_PATH", CNI_PATH)],
                &gc.to_string(),
            );
            assert_eq!(r.code, 0, "GC after kill at {delay_us} us:\n{}", r.text());
        }
        assert_eq!(
            rt.links_in("c1"),
            "",
            "kill at {delay_us} us: container side left"
        );
        assert_eq!(
            rt.host_links().trim(),
            "nl0",
            "kill at {delay_us} us: host side left"
        );
        assert_eq!(rt.kept("cni-lab"), "", "kill at {delay_us} us: state left");
    }
    eprintln!(
        "{mid_way} of {tries} kills (over {span} us) left a half-made attachment behind for DEL/GC"
    );
    assert!(
        mid_way >= 5,
        "only {mid_way} kills landed mid-way: the sweep missed ADD"
    );
    // And a clean ADD works after all that.
    rt.add(&conf, "c1", &n);
    assert!(rt.pings("c1", "10.33.0.1"));
}
