//! net_failover in a real guest (vm/failover.sh boots one: an e1000e
//! primary and a virtio-net standby sharing a MAC, a QMP socket): netloom
//! uses the failover master the kernel made as an `external` lower, a
//! continuous ping from a macvlan on it leaves by the primary, goes on by
//! the standby when the primary is set down and when the hypervisor
//! unplugs it (QMP device_del), and `netloom status` reports each change.
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use netloom::kernel::{failover, netns};

fn netloom() -> String {
    std::env::var("NETLOOM_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_netloom").to_string())
}

fn sh(script: &str) -> String {
    let o = Command::new("sh").args(["-c", script]).output().unwrap();
    assert!(
        o.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The failover masters of the guest, as netloom reads them.
fn masters() -> Vec<failover::Failover> {
    failover::read(&netns::current().unwrap()).unwrap()
}

/// Wait until `f` holds of the one failover master, at most `secs`.
fn wait_for(secs: u64, what: &str, f: impl Fn(&failover::Failover) -> bool) -> failover::Failover {
    let t = Instant::now();
    loop {
        if let Some(m) = masters().into_iter().find(|m| f(m)) {
            return m;
        }
        assert!(
            t.elapsed() < Duration::from_secs(secs),
            "{what} not seen in {secs} s: {:?}",
            masters()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `netloom status --json`'s failover entry of the master.
fn status(file: &str, master: &str) -> serde_json::Value {
    let o = Command::new(netloom())
        .args(["status", file, "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("status --json: {e}: {}", String::from_utf8_lossy(&o.stderr)));
    v["failover"][format!("host/{master}")].clone()
}

fn tx(m: &failover::Failover, slave: &str) -> u64 {
    [&m.primary, &m.standby]
        .into_iter()
        .flatten()
        .find(|s| s.name == slave)
        .map_or(0, |s| s.tx_packets)
}

/// Replies the background ping has printed so far.
fn replies(log: &str) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .matches("bytes from")
        .count()
}

/// Wait for `n` more replies than `from`, at most 10 s.
fn more_replies(log: &str, from: usize, n: usize, what: &str) -> usize {
    let t = Instant::now();
    loop {
        let now = replies(log);
        if now >= from + n {
            return now;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "{what}: ping stalled at {now} replies (from {from})"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
#[ignore = "needs a VM with a net_failover NIC pair: runs under vm/failover.sh"]
fn failover_carries_a_ping_by_primary_then_standby() {
    let Ok(mods) = std::env::var("NETLOOM_FAILOVER_MODULES") else {
        eprintln!("skipped: runs only in vm/failover.sh's guest");
        return;
    };
    let order = std::fs::read_to_string(format!("{mods}/order")).unwrap();
    for m in order.split_whitespace() {
        // busybox insmod; a module the kernel has already is fine.
        let _ = Command::new("insmod")
            .arg(format!("{mods}/{m}.ko"))
            .status();
    }
    let m = wait_for(60, "a failover master with both slaves", |m| {
        m.primary.is_some() && m.standby.is_some()
    });
    let (master, primary, standby) = (
        m.master.clone(),
        m.primary.as_ref().unwrap().name.clone(),
        m.standby.as_ref().unwrap().name.clone(),
    );
    eprintln!("failover master {master}: primary {primary}, standby {standby}");
    // What the guest's own init would do with its NIC; netloom never
    // changes an external device.
    sh(&format!("ip link set {master} up"));
    let dir = std::env::temp_dir().join("netloom-failover");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("fo.yaml").display().to_string();
    std::fs::write(
        &file,
        format!(
            "name: fo\nnodes:\n  host:\n    interfaces:\n      {master}: {{ kind: external }}\n  c:\n    interfaces:\n      mv0: {{ kind: macvlan, lower: host/{master}, mode: bridge, addresses: [10.0.2.20/24] }}\n"
        ),
    )
    .unwrap();
    let up = Command::new(netloom())
        .args(["up", &file])
        .output()
        .unwrap();
    assert!(
        up.status.success(),
        "up: {}",
        String::from_utf8_lossy(&up.stderr)
    );
    let st = status(&file, &master);
    assert_eq!(st["primary"]["name"], primary.as_str(), "{st}");
    assert_eq!(st["standby"]["name"], standby.as_str(), "{st}");
    wait_for(20, "the primary carrying", |m| {
        m.active.as_deref() == Some(primary.as_str())
    });
    let text = Command::new(netloom())
        .args(["status", &file])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(text.contains(&format!("active {primary}")), "{text}");
    eprintln!("status:\n{text}");
    // export writes the master as external and says what it is.
    let export = Command::new(netloom())
        .args(["export", "--node", "host"])
        .output()
        .unwrap();
    let export = String::from_utf8_lossy(&export.stdout).into_owned();
    assert!(
        export.contains(&format!("{master}: {{ kind: external }}")),
        "{export}"
    );
    assert!(
        export.contains(&format!(
            "`{master}`: the kernel's net_failover: primary {primary} ready"
        )),
        "{export}"
    );
    eprintln!("export:\n{export}");

    let log = dir.join("ping.log").display().to_string();
    let mut ping: Child = Command::new(netloom())
        .args(["exec", &file, "c", "--", "ping", "-i", "0.2", "10.0.2.2"])
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // 1. By the primary.
    let before = wait_for(5, "counters", |_| true);
    let r0 = more_replies(&log, 0, 5, "by the primary");
    let after = wait_for(5, "counters", |_| true);
    let (dp, ds) = (
        tx(&after, &primary) - tx(&before, &primary),
        tx(&after, &standby) - tx(&before, &standby),
    );
    eprintln!("by the primary: {r0} replies, tx primary +{dp}, standby +{ds}");
    // The pings leave by the primary; the standby, up in its own right,
    // may send a frame of its own meanwhile (seen once: +1, with +7 on the
    // primary), never the pings.
    assert!(
        dp >= 5 && ds * 4 <= dp,
        "frames must leave by the primary: +{dp} / +{ds}"
    );

    // 2. Primary set down: frames leave by the standby, status says so.
    // Replies do not come back while the primary is registered, even down:
    // net_failover_handle_frame returns RX_HANDLER_EXACT for frames the
    // standby receives whenever a primary exists, so they never reach the
    // master. (Measured here; the driver expects a primary to go by unplug.)
    sh(&format!("ip link set {primary} down"));
    let down = wait_for(10, "the standby carrying", |m| {
        m.active.as_deref() == Some(standby.as_str())
    });
    assert_eq!(status(&file, &master)["active"], standby.as_str());
    let r1 = replies(&log);
    std::thread::sleep(Duration::from_secs(3));
    let now = wait_for(5, "counters", |_| true);
    let ds = tx(&now, &standby) - tx(&down, &standby);
    let dp = tx(&now, &primary) - tx(&down, &primary);
    let r1 = replies(&log) - r1;
    eprintln!("primary down: tx standby +{ds}, primary +{dp}, {r1} replies back");
    assert!(
        ds >= 5 && dp == 0,
        "frames must leave by the standby: +{ds} / primary +{dp}"
    );
    assert!(
        r1 <= 1,
        "replies reached the master past RX_HANDLER_EXACT: {r1}"
    );
    sh(&format!("ip link set {primary} up"));
    wait_for(20, "the primary carrying again", |m| {
        m.active.as_deref() == Some(primary.as_str())
    });

    // 3. The hypervisor unplugs the primary (QMP device_del, relayed from
    // this console line by vm/qmp-relay.py).
    // Straight to the console: libtest holds a test's printed output back.
    let line =
        "\nNETLOOM-VM-QMP {\"execute\": \"device_del\", \"arguments\": {\"id\": \"primary0\"}}\n";
    let mut console = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/console")
        .unwrap();
    console.write_all(line.as_bytes()).unwrap();
    let gone = wait_for(30, "the primary unplugged", |m| m.primary.is_none());
    assert_eq!(gone.active.as_deref(), Some(standby.as_str()));
    let st = status(&file, &master);
    assert!(
        st["primary"].is_null() && st["active"] == standby.as_str(),
        "{st}"
    );
    let r2 = more_replies(&log, replies(&log), 5, "by the standby (primary unplugged)");
    let now = wait_for(5, "counters", |_| true);
    let ds = tx(&now, &standby) - tx(&gone, &standby);
    eprintln!("primary unplugged: {r2} replies in all, tx standby +{ds}");
    assert!(ds >= 5, "frames must leave by the standby: +{ds}");
    let _ = ping.kill();
    let _ = ping.wait();
    let down = Command::new(netloom())
        .args(["down", &file])
        .output()
        .unwrap();
    assert!(
        down.status.success(),
        "down: {}",
        String::from_utf8_lossy(&down.stderr)
    );
    // netloom left the kernel's device as it found it.
    assert!(sh(&format!("ip link show {master}")).contains("UP"));
}
