//! teamd supervision against a real kernel: start, state over the control
//! socket, activebackup failover, stop. The team driver is needed for most of
//! it, which this machine lacks: those tests run in the VM (vm/run.sh).
//! `ip` is used here only as an independent cross-check tool.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use netloom::kernel::netns;
use netloom::kernel::teamd::{self, TeamState};
use netloom::model::team::{LinkWatch, TeamOptions, TeamPort};

fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn node_dir(ns: &str) -> PathBuf {
    Path::new("/run/netloom/teamd").join(ns)
}

/// Poll teamd's state until `ok` holds, at most 15 s; the last state otherwise.
fn wait_state(dir: &Path, dev: &str, ok: impl Fn(&TeamState) -> bool) -> TeamState {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let s = teamd::state(dir, dev).expect("teamd state");
        if ok(&s) || Instant::now() >= deadline {
            return s;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn activebackup() -> TeamOptions {
    TeamOptions {
        runner: "activebackup".into(),
        link_watch: vec![LinkWatch::Ethtool {
            delay_up: None,
            delay_down: None,
        }],
        ..TeamOptions::default()
    }
}

/// A namespace with team `dev` and ports p1, p2 (down, as the team driver
/// wants them) whose veth peers q1, q2 are up.
fn team_node(name: &str, dev: &str) -> netns::Netns {
    let ns = netns::create(name).expect("create netns");
    ip(&["-n", name, "link", "add", dev, "type", "team"]);
    for (p, q) in [("p1", "q1"), ("p2", "q2")] {
        ip(&[
            "-n", name, "link", "add", p, "type", "veth", "peer", "name", q,
        ]);
        ip(&["-n", name, "link", "set", q, "up"]);
    }
    ip(&["-n", name, "link", "set", dev, "up"]);
    ns
}

fn both_ports() -> Vec<(String, TeamPort)> {
    vec![
        ("p1".to_string(), TeamPort::default()),
        ("p2".to_string(), TeamPort::default()),
    ]
}

#[test]
#[ignore = "needs a kernel with team: runs in the VM"]
fn activebackup_fails_over_and_stops() {
    netloom::sandboxed!("activebackup_fails_over_and_stops");
    let ns = team_node("tnode", "team0");
    let dir = node_dir("tnode");
    let cfg = teamd::config("team0", &activebackup(), &both_ports());
    let pid = teamd::start(&ns, &dir, "team0", &cfg).expect("start teamd");
    assert_eq!(teamd::running(&dir, "team0").unwrap(), Some(pid));

    let s = wait_state(&dir, "team0", |s| {
        s.active_port.is_some() && s.ports.len() == 2 && s.ports.iter().all(|p| p.link_up)
    });
    assert_eq!(s.runner, "activebackup", "{s:?}");
    assert_eq!(s.ports.len(), 2, "{s:?}");
    assert!(s.ports.iter().all(|p| p.link_up), "{s:?}");
    let active = s.active_port.clone().expect("an active port");
    // Cross-check with the kernel: both ports are enslaved to team0.
    for p in ["p1", "p2"] {
        let line = ip(&["-n", "tnode", "-o", "link", "show", p]);
        assert!(line.contains("master team0"), "{line}");
    }

    // Take the active port's carrier away: its veth peer goes down.
    let (peer, other) = if active == "p1" {
        ("q1", "p2")
    } else {
        ("q2", "p1")
    };
    ip(&["-n", "tnode", "link", "set", peer, "down"]);
    let s = wait_state(&dir, "team0", |s| {
        s.active_port.as_deref() == Some(other)
            && s.ports.iter().any(|p| p.name == active && !p.link_up)
    });
    assert_eq!(s.active_port.as_deref(), Some(other), "no failover: {s:?}");
    assert!(
        s.ports.iter().any(|p| p.name == active && !p.link_up),
        "{s:?}"
    );

    assert!(teamd::stop(&dir, "team0").expect("stop teamd"));
    assert_eq!(teamd::running(&dir, "team0").unwrap(), None);
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "teamd {pid} still exists"
    );
    assert!(!teamd::socket_path(&dir, "team0").exists());
    // -N: the device netloom owns stays after teamd is gone (teamd 1.31
    // releases the ports on exit all the same, 1.32 keeps them: not checked).
    let line = ip(&["-n", "tnode", "-o", "link", "show", "team0"]);
    assert!(line.contains("team0"), "{line}");
    assert!(
        !teamd::stop(&dir, "team0").unwrap(),
        "second stop finds nothing"
    );

    // A restart takes the device over again and manages both ports.
    let pid2 = teamd::start(&ns, &dir, "team0", &cfg).expect("restart teamd");
    let s = wait_state(&dir, "team0", |s| s.ports.len() == 2);
    assert_eq!(s.ports.len(), 2, "{s:?}");
    assert!(teamd::stop(&dir, "team0").unwrap());
    assert!(!Path::new(&format!("/proc/{pid2}")).exists());
}

#[test]
#[ignore = "needs a kernel with team: runs in the VM"]
fn two_nodes_with_the_same_team_name_do_not_collide() {
    netloom::sandboxed!("two_nodes_with_the_same_team_name_do_not_collide");
    let a = team_node("ta", "team0");
    let b = team_node("tb", "team0");
    let cfg = teamd::config("team0", &activebackup(), &both_ports());
    let pa = teamd::start(&a, &node_dir("ta"), "team0", &cfg).expect("start in ta");
    let pb = teamd::start(&b, &node_dir("tb"), "team0", &cfg).expect("start in tb");
    assert_ne!(pa, pb);
    // Each socket answers for its own node: take a port down in tb only.
    ip(&["-n", "tb", "link", "set", "q1", "down"]);
    ip(&["-n", "tb", "link", "set", "q2", "down"]);
    let sb = wait_state(&node_dir("tb"), "team0", |s| {
        s.ports.len() == 2 && s.ports.iter().all(|p| !p.link_up)
    });
    assert!(sb.ports.iter().all(|p| !p.link_up), "{sb:?}");
    let sa = wait_state(&node_dir("ta"), "team0", |s| {
        s.ports.len() == 2 && s.ports.iter().all(|p| p.link_up)
    });
    assert!(sa.ports.iter().all(|p| p.link_up), "{sa:?}");
    // Nothing was bind-mounted in the caller's mount namespace.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains("/run/teamd "), "{mounts}");
    assert!(teamd::stop(&node_dir("ta"), "team0").unwrap());
    assert!(teamd::stop(&node_dir("tb"), "team0").unwrap());
}

/// Runs on any kernel: teamd cannot take over a device that is no team, and
/// start() must say so with teamd's own log instead of hanging.
#[test]
fn start_reports_why_teamd_exited() {
    netloom::sandboxed!("start_reports_why_teamd_exited");
    let ns = netns::create("tfail").expect("create netns");
    ip(&[
        "-n", "tfail", "link", "add", "v0", "type", "veth", "peer", "name", "v1",
    ]);
    let dir = node_dir("tfail");
    let cfg = teamd::config("v0", &activebackup(), &[]);
    let started = Instant::now();
    let err = teamd::start(&ns, &dir, "v0", &cfg).expect_err("v0 is no team device");
    let msg = err.to_string();
    assert!(msg.contains("teamd exited during start"), "{msg}");
    assert!(msg.contains("Failed"), "teamd's log is in the error: {msg}");
    assert!(
        started.elapsed() < teamd::START_TIMEOUT,
        "exit noticed early"
    );
    assert_eq!(teamd::running(&dir, "v0").unwrap(), None);
    // The config netloom wrote is left for inspection, the bind mount is not visible here.
    assert!(teamd::config_path(&dir, "v0").exists());
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains("/run/teamd "), "{mounts}");
    // The veth was not touched (-o: no destroy on a failed start).
    ip(&["-n", "tfail", "link", "show", "v0"]);
}
