//! examples/09-team-activebackup.yaml through the full life cycle: teamd is
//! started by `up`, fails over when the active port loses its link, shows its
//! state in `status`, restarts for a port option change, and is gone after
//! `down`. Needs the team driver and teamd: runs in the VM.
#[path = "support/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::Lab;
use serde_json::Value;

const TEAMD_PID: &str = "/run/netloom/teamd/netloom-team-ab.a/team0.pid";

/// teamd's view of a/team0 from `netloom status --json`.
fn team_state(lab: &Lab) -> Value {
    let st = lab.verb("status", &["--json"]);
    assert!(st.code == 0 || st.code == 2, "{}", st.text());
    let v: Value = serde_json::from_str(&st.out).expect("status json");
    v["teams"]["a/team0"].clone()
}

/// Poll status until `ok` holds for team0's state, at most 15 s.
fn wait_team(lab: &Lab, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let t = team_state(lab);
        if ok(&t) || Instant::now() > deadline {
            return t;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn port_up(t: &Value, port: &str) -> Option<bool> {
    t["ports"].as_array()?.iter().find(|p| p["name"] == port)?["link_up"].as_bool()
}

fn teamd_alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "teamd")
}

#[test]
#[ignore = "needs a kernel with team and teamd: runs in the VM"]
fn team_activebackup_fails_over_and_leaves_no_teamd() {
    let lab = Lab::new("09-team-activebackup.yaml");
    let pid = std::cell::RefCell::new(String::new());
    common::life_cycle(
        &lab,
        ("eth1: { prio: 0 }", "eth1: { prio: 5 }"),
        "prio 5",
        |lab| {
            let r = lab.sh(&format!("cat {TEAMD_PID}"));
            assert_eq!(r.code, 0, "no teamd pid file: {}", r.text());
            *pid.borrow_mut() = r.out.trim().to_string();
            let t = wait_team(lab, |t| t["active_port"] == "eth0");
            assert_eq!(t["runner"], "activebackup", "{t}");
            assert_eq!(t["active_port"], "eth0", "{t}");
            assert_eq!(port_up(&t, "eth0"), Some(true), "{t}");
            assert_eq!(port_up(&t, "eth1"), Some(true), "{t}");
            let table = lab.expect("status", &[], 0);
            assert!(
                table.out.contains("runner activebackup, active port eth0"),
                "{}",
                table.out
            );

            // Cut the active port's link: its peer on the switch goes down.
            let cut = lab.exec("sw", &["ip", "link", "set", "p0", "down"]);
            assert_eq!(cut.code, 0, "{}", cut.text());
            let t = wait_team(lab, |t| t["active_port"] == "eth1");
            assert_eq!(t["active_port"], "eth1", "no failover: {t}");
            assert_eq!(port_up(&t, "eth0"), Some(false), "{t}");
            let ping = lab.exec("a", &["ping", "-c", "2", "-W", "2", "10.19.0.2"]);
            assert_eq!(
                ping.code,
                0,
                "traffic stopped after failover: {}",
                ping.text()
            );
            // The cut is drift netloom sees and repairs.
            let pending = lab.pending();
            assert_eq!(pending.len(), 1, "{pending:?}");
            assert!(pending[0].contains("p0 up"), "{pending:?}");
            lab.expect("up", &[], 0);
            let t = wait_team(lab, |t| port_up(t, "eth0") == Some(true));
            assert_eq!(port_up(&t, "eth0"), Some(true), "{t}");
        },
    );
    let pid = pid.into_inner();
    assert!(!pid.is_empty());
    // down stopped teamd (and life_cycle checked /run/netloom is empty).
    assert!(!teamd_alive(&pid), "teamd {pid} survived down");
    assert_eq!(
        teamds(&lab),
        Vec::<String>::new(),
        "a teamd process remains"
    );

    // A failure after teamd started rolls back to nothing: teamd stopped too.
    let steps = lab.pending().len();
    let file = lab.file.to_string_lossy().into_owned();
    let bin = common::netloom_bin().to_string_lossy().into_owned();
    let r = lab.sh(&format!("NETLOOM_FAULT_AT={} {bin} up {file}", steps - 1));
    assert_eq!(r.code, 1, "{}", r.text());
    assert!(r.err.contains("rolled back"), "{}", r.text());
    lab.assert_no_residue();
    assert_eq!(teamds(&lab), Vec::<String>::new(), "rollback left a teamd");

    // `down --name`, without the file, finds teamd through its directory.
    lab.expect("up", &[], 0);
    assert_eq!(teamds(&lab).len(), 1, "{:?}", teamds(&lab));
    let r = lab.netloom(&["down", "--name", "team-ab"]);
    assert_eq!(r.code, 0, "{}", r.text());
    lab.assert_no_residue();
    assert_eq!(
        teamds(&lab),
        Vec::<String>::new(),
        "down --name left a teamd"
    );
}

/// The live teamd processes of this lab, as "pid cmdline" so that a
/// failure says which one was left. Other test binaries run team labs at
/// the same time (in the VM too), so a teamd counts only when it sees this
/// sandbox's /run: a file made there shows through /proc/PID/root.
fn teamds(lab: &Lab) -> Vec<String> {
    let mark = format!("/run/teamd-probe-{}", std::process::id());
    let ps = lab.sh(&format!(
        "touch {mark}; for d in /proc/[0-9]*; do [ \"$(cat $d/comm 2>/dev/null)\" = teamd ] && \
         [ -e $d/root{mark} ] && echo \"${{d#/proc/}} $(tr '\\0' ' ' < $d/cmdline)\"; done; true"
    ));
    ps.out.lines().map(str::to_string).collect()
}
