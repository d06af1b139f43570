//! `netloom explain` as a person runs it: the text and JSON shapes, the
//! matrix, exit codes, mistakes (each located, exit 1, nothing touched),
//! `--trace` (one probe under nftrace, the rule that dropped it named), and
//! `verify` saying why each failed claim failed.
#[path = "support/common/mod.rs"]
mod common;

use common::Lab;
use serde_json::Value;

const PAIR: &str = "name: xc
nodes:
  a:
    interfaces:
      eth0: { addresses: [10.0.0.1/24] }
  b:
    interfaces:
      eth0: { addresses: [10.0.0.2/24] }
  c:
    interfaces:
      mv0: { kind: macvlan, lower: w/eth0, mode: private, addresses: [10.3.0.1/24] }
  d:
    interfaces:
      mv0: { kind: macvlan, lower: w/eth0, mode: private, addresses: [10.3.0.2/24] }
  w:
    interfaces:
      eth0: {}
  s:
    interfaces:
      up0: { addresses: [10.3.0.254/24] }
links:
  - [a/eth0, b/eth0]
  - [w/eth0, s/up0]
expect:
  - reach: a -> b
  - reach: c -> d
";

/// In a module so `vm/test.sh explain` selects these tests.
mod explain_cli {
    use super::*;

    /// Nothing netloom makes exists in the lab's sandbox.
    fn untouched(lab: &Lab) {
        let r = lab.sh(
            "ls -A /run/netns 2>/dev/null; ls -A /run/netloom 2>/dev/null | grep -v '^lock$'; true",
        );
        assert_eq!(r.out.trim(), "", "something was made:\n{}", r.text());
    }

    #[test]
    fn static_text_json_and_matrix() {
        let lab = Lab::from_text("xc.yaml", PAIR);
        let ok = lab.expect("explain", &["a", "b", "--static"], 0);
        assert!(
            ok.out
                .starts_with("a -> 10.0.0.2 (b/eth0) icmp [static]: delivered"),
            "{}",
            ok.text()
        );
        let no = lab.expect("explain", &["c", "d", "--static"], 2);
        assert!(
            no.out.contains("denied_by_device_mode") && no.out.contains("rule macvlan.private"),
            "{}",
            no.text()
        );
        assert!(
            no.out.contains("set `mode: bridge` on both at "),
            "{}",
            no.text()
        );
        let j = lab.expect("explain", &["c", "d/mv0", "--static", "--json"], 2);
        let v: Value = serde_json::from_str(&j.out).expect("JSON");
        assert_eq!(v["flow"]["src"], "c");
        assert_eq!(v["flow"]["dst"], "10.3.0.2");
        assert_eq!(v["mode"], "static");
        assert_eq!(v["disposition"], "denied_by_device_mode");
        assert_eq!(v["rule"]["id"], "macvlan.private");
        assert!(v["rule"]["kernel"].as_str().unwrap().contains("macvlan"));
        let step = &v["forward"]["hops"][0]["steps"][0];
        for k in ["type", "detail", "action", "evidence"] {
            assert!(step.get(k).is_some(), "step without {k}: {step}");
        }
        assert_eq!(step["evidence"], "model");
        let m = lab.expect("explain", &["--all", "--static", "--json"], 0);
        let v: Value = serde_json::from_str(&m.out).expect("JSON");
        let cells = v["cells"].as_array().unwrap();
        assert_eq!(cells.len(), 6 * 5, "every node to every address");
        let cell = |from: &str, to: &str| {
            cells
                .iter()
                .find(|c| c["from"] == from && c["to"] == to)
                .map(|c| c["disposition"].as_str().unwrap().to_string())
        };
        assert_eq!(cell("a", "10.0.0.2").as_deref(), Some("delivered"));
        assert_eq!(
            cell("c", "10.3.0.2").as_deref(),
            Some("denied_by_device_mode")
        );
        assert_eq!(cell("c", "10.3.0.254").as_deref(), Some("delivered"));
        let t = lab.expect("explain", &["--all", "--static"], 0);
        assert!(
            t.out.contains("pairs delivered (icmp, static)"),
            "{}",
            t.text()
        );
        untouched(&lab);
    }

    #[test]
    fn mistakes_are_located_and_touch_nothing() {
        let lab = Lab::from_text("xc.yaml", PAIR);
        for (args, says) in [
            (vec!["zz", "b"], "SRC `zz`: "),
            (vec!["10.0.0.1", "b"], "SRC `10.0.0.1`: "),
            (vec!["a", "bb"], "did you mean `b`?"),
            (
                vec!["a/eth9", "b"],
                "has no interface `eth9` (it has: eth0)",
            ),
            (vec!["a", "w"], "DST `w`: node w has no address"),
            (vec!["a", "b", "--proto", "sctp/1"], "--proto `sctp/1`"),
            (
                vec!["a", "b", "--static", "--trace"],
                "cannot go with --static",
            ),
        ] {
            let r = lab.expect("explain", &args, 1);
            assert!(r.err.contains(says), "{args:?}: {}", r.text());
        }
        let r = lab.expect("explain", &["a/eth9", "b"], 1);
        assert!(
            r.err.contains("xc.yaml:3:3"),
            "the node's place in the file: {}",
            r.text()
        );
        // Live on a network that is not up: said so, nothing made.
        let r = lab.expect("explain", &["a", "b"], 1);
        assert!(r.err.contains("is not up"), "{}", r.text());
        untouched(&lab);
    }

    #[test]
    fn trace_needs_root() {
        let lab = Lab::from_text("xc.yaml", PAIR);
        let file = lab.file.to_string_lossy().into_owned();
        // The lab's copy of the file must be readable by nobody.
        let _ = std::fs::set_permissions(
            lab.file.parent().unwrap(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        );
        let _ = std::fs::set_permissions(
            &lab.file,
            std::os::unix::fs::PermissionsExt::from_mode(0o644),
        );
        // Root is dropped after the sandbox is entered (entering needs it):
        // this runs after the sandbox's own pre_exec, which did the setns.
        let mut cmd = lab.sb.command(common::netloom_bin());
        cmd.args(["explain", &file, "a", "b", "--trace"]);
        // SAFETY: only async-signal-safe syscalls between fork and exec.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                let none: [libc::gid_t; 0] = [];
                if libc::setgroups(0, none.as_ptr()) != 0
                    || libc::setgid(65534) != 0
                    || libc::setuid(65534) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let out = cmd.output().expect("run netloom as nobody");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("--trace needs root"), "{err}");
        untouched(&lab);
    }

    #[test]
    fn trace_names_the_rule_that_dropped_the_probe() {
        let lab = Lab::from_text("xc.yaml", PAIR);
        lab.expect("up", &[], 0);
        for cmd in [
            "nft add table inet guard",
            "nft add chain inet guard in { type filter hook input priority 0 ; policy accept ; }",
            "nft add rule inet guard in icmp type echo-request counter drop comment \"no ping\"",
        ] {
            let mut args = vec!["nft"];
            let words: Vec<String> = shell_words(&cmd[4..]);
            args.extend(words.iter().map(String::as_str));
            let r = lab.exec("b", &args);
            assert_eq!(r.code, 0, "{cmd}: {}", r.text());
        }
        let r = lab.expect("explain", &["a", "b", "--trace"], 2);
        assert!(r.out.contains("rule nft.drop"), "{}", r.text());
        assert!(
            r.out
                .contains("trace: dropped in b by inet guard in handle"),
            "{}",
            r.text()
        );
        assert!(r.out.contains("comment \"no ping\" (rule)"), "{}", r.text());
        let j = lab.expect("explain", &["a", "b", "--trace", "--json"], 2);
        let v: Value = serde_json::from_str(&j.out).expect("JSON");
        assert_eq!(v["trace"]["answered"], false);
        let ev = v["trace"]["events"].as_array().unwrap();
        assert!(
            ev.iter().any(|e| e["node"] == "b"
                && e["table"] == "guard"
                && e["verdict"] == "drop"
                && e["comment"] == "no ping"),
            "{}",
            j.out
        );
        // The trace table is gone again everywhere.
        for n in ["a", "b"] {
            let t = lab.exec(n, &["nft", "list", "tables"]);
            assert!(!t.out.contains("netloom-trace"), "{n}: {}", t.text());
        }
        // A flow every hook lets through: answered, the trace says so.
        let ok = lab.expect("explain", &["b", "a", "--trace"], 0);
        assert!(ok.out.contains("trace: "), "{}", ok.text());
        lab.expect("down", &[], 0);
    }

    #[test]
    fn verify_says_why_a_claim_failed() {
        let lab = Lab::from_text("xc.yaml", PAIR);
        lab.expect("up", &[], 0);
        let r = lab.expect("verify", &[], 1);
        assert!(r.out.contains("why `reach c -> d`:"), "{}", r.text());
        assert!(r.out.contains("rule macvlan.private"), "{}", r.text());
        assert!(
            r.out.contains("[live]: denied_by_device_mode"),
            "{}",
            r.text()
        );
        let j = lab.expect("verify", &["--json"], 1);
        let v: Value = serde_json::from_str(&j.out).expect("JSON");
        let x = &v["explanations"][0];
        assert_eq!(x["index"], 1);
        assert_eq!(x["explanation"]["rule"]["id"], "macvlan.private");
        assert_eq!(v["outcomes"][0]["ok"], true);
        lab.expect("down", &[], 0);
    }
}

/// Words of a command, "quoted" ones kept whole with their quotes.
fn shell_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut q = false;
    for c in s.chars() {
        if c == '"' {
            q = !q;
            cur.push(c);
        } else if c.is_whitespace() && !q {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
        } else {
            cur.push(c);
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}
