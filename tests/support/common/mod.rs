//! Shared test helpers: a lab is one sandbox plus one topology file, driven
//! through the real `netloom` binary the way a person would.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

use netloom::sandbox::Sandbox;

/// The netloom binary under test.
pub fn netloom_bin() -> PathBuf {
    std::env::var_os("NETLOOM_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_netloom")))
}

/// The project root (examples live there).
pub fn root() -> PathBuf {
    std::env::var_os("NETLOOM_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// A sandbox with a working copy of one topology file.
pub struct Lab {
    /// The sandbox every command runs in.
    pub sb: Sandbox,
    /// The working copy of the topology file (tests edit it).
    pub file: PathBuf,
    dir: PathBuf,
}

/// A finished command.
pub struct Run {
    /// Exit code.
    pub code: i32,
    /// Standard output.
    pub out: String,
    /// Standard error.
    pub err: String,
}

impl Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            out: String::from_utf8_lossy(&o.stdout).into_owned(),
            err: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// Both streams, for assertion messages.
    pub fn text(&self) -> String {
        format!(
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.out, self.err
        )
    }
}

impl Lab {
    /// A lab around a copy of `examples/<name>` (or any path).
    pub fn new(example: &str) -> Lab {
        let src = root().join("examples").join(example);
        let text =
            std::fs::read_to_string(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
        Lab::from_text(example, &text)
    }

    /// A lab around a topology given as text.
    pub fn from_text(name: &str, text: &str) -> Lab {
        let dir = std::env::temp_dir().join(format!(
            "netloom-lab-{}-{}-{}",
            std::process::id(),
            name.replace('/', "_"),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(Path::new(name).file_name().unwrap());
        std::fs::write(&file, text).unwrap();
        Lab {
            sb: Sandbox::new().expect("sandbox"),
            file,
            dir,
        }
    }

    /// Run `netloom ARGS...` inside the sandbox.
    pub fn netloom(&self, args: &[&str]) -> Run {
        self.netloom_with(args, &[])
    }

    /// Run `netloom ARGS...` inside the sandbox with environment `env`.
    pub fn netloom_with(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let out = self
            .sb
            .command(netloom_bin())
            .args(args)
            .envs(env.iter().copied())
            .output()
            .expect("run netloom");
        Run::from(out)
    }

    /// Run `netloom VERB FILE EXTRA...`.
    pub fn verb(&self, verb: &str, extra: &[&str]) -> Run {
        let file = self.file.to_string_lossy().into_owned();
        let mut args = vec![verb, file.as_str()];
        args.extend_from_slice(extra);
        self.netloom(&args)
    }

    /// Run `netloom VERB FILE` and insist on exit code `code`.
    pub fn expect(&self, verb: &str, extra: &[&str], code: i32) -> Run {
        let r = self.verb(verb, extra);
        assert_eq!(r.code, code, "netloom {verb} {extra:?}:\n{}", r.text());
        r
    }

    /// Run a command inside node `node` via `netloom exec`.
    pub fn exec(&self, node: &str, cmd: &[&str]) -> Run {
        let file = self.file.to_string_lossy().into_owned();
        let mut args = vec!["exec", file.as_str(), node, "--"];
        args.extend_from_slice(cmd);
        self.netloom(&args)
    }

    /// Run a shell command in the sandbox itself (the `host` node).
    pub fn sh(&self, script: &str) -> Run {
        Run::from(
            self.sb
                .command("sh")
                .args(["-c", script])
                .output()
                .expect("run sh"),
        )
    }

    /// Whether process `pid` is alive and not a zombie.
    pub fn alive(&self, pid: u32) -> bool {
        let r = self.sh(&format!("awk '{{print $3}}' /proc/{pid}/stat 2>/dev/null"));
        let state = r.out.trim();
        !state.is_empty() && state != "Z"
    }

    /// SIGKILL process `pid` and wait until it is gone (a killed process
    /// is still listed for a moment while it exits).
    pub fn kill9(&self, pid: u32) {
        self.sh(&format!("kill -9 {pid}"));
        let t = std::time::Instant::now();
        while self.alive(pid) {
            assert!(
                t.elapsed() < std::time::Duration::from_secs(5),
                "{pid} survived SIGKILL"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// Replace `from` with `to` in the topology file (exactly once).
    pub fn edit(&self, from: &str, to: &str) {
        let text = std::fs::read_to_string(&self.file).unwrap();
        assert_eq!(
            text.matches(from).count(),
            1,
            "`{from}` must occur once in the file"
        );
        std::fs::write(&self.file, text.replacen(from, to, 1)).unwrap();
    }

    /// Number of operations `up` would perform, from `plan --json`.
    pub fn pending(&self) -> Vec<String> {
        let r = self.verb("plan", &[]);
        assert!(r.code == 0 || r.code == 2, "plan failed:\n{}", r.text());
        r.out
            .lines()
            .filter(|l| {
                l.trim_start()
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_digit())
            })
            .filter(|l| !l.ends_with("pending"))
            .map(|l| l.trim().to_string())
            .collect()
    }

    /// Assert nothing netloom made is left in the sandbox: no namespaces,
    /// no links but lo, no nft tables, no records, no per-namespace files
    /// (a DHCP client's resolv.conf).
    pub fn assert_no_residue(&self) {
        let r = self.sh(
            "ls -A /run/netns 2>/dev/null; ip -o link show | grep -v ': lo:' ; \
             nft list tables 2>/dev/null; ls -A /run/netloom 2>/dev/null | grep -v '^lock$'; \
             ls -A /etc/netns 2>/dev/null; true",
        );
        assert_eq!(r.out.trim(), "", "residue after down:\n{}", r.text());
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The full life cycle every example gets: up -> proof by traffic -> up again
/// performs 0 operations -> status all in sync -> change one field -> plan
/// shows exactly that change -> up -> down -> no residue.
pub fn life_cycle(lab: &Lab, edit: (&str, &str), change_mentions: &str, proof: impl Fn(&Lab)) {
    lab.expect("validate", &[], 0);
    let first = lab.expect("up", &[], 0);
    assert!(
        !first.out.contains(": 0 operation"),
        "first up did nothing:\n{}",
        first.text()
    );
    lab.expect("verify", &[], 0);
    proof(lab);
    let again = lab.expect("up", &[], 0);
    assert!(
        again.out.contains(": 0 operation"),
        "second up was not a no-op:\n{}",
        again.text()
    );
    lab.expect("plan", &[], 0);
    let st = lab.expect("status", &["--json"], 0);
    assert!(
        !st.out.contains("Missing") && !st.out.contains("Drifted"),
        "status:\n{}",
        st.out
    );
    lab.edit(edit.0, edit.1);
    let pending = lab.pending();
    assert_eq!(
        pending.len(),
        1,
        "expected exactly one pending change, got {pending:#?}"
    );
    assert!(
        pending[0].contains(change_mentions),
        "change `{}` does not mention `{change_mentions}`",
        pending[0]
    );
    lab.expect("up", &[], 0);
    assert!(lab.pending().is_empty(), "not converged after the change");
    lab.expect("down", &[], 0);
    lab.assert_no_residue();
    let again = lab.expect("down", &[], 0);
    assert!(
        again.out.contains(": 0 operation"),
        "second down was not a no-op:\n{}",
        again.text()
    );
}

/// `ip -d -j link show dev IFACE` inside a node, as JSON.
pub fn link(lab: &Lab, node: &str, iface: &str) -> serde_json::Value {
    let r = lab.exec(node, &["ip", "-d", "-j", "link", "show", "dev", iface]);
    assert_eq!(r.code, 0, "{}", r.text());
    let v: serde_json::Value = serde_json::from_str(&r.out).expect("ip -j output");
    v[0].clone()
}

/// `up` a topology, then hand it to `check`; afterwards the second `up`
/// does nothing, `status` is in sync and `plan` is empty, and `down`
/// leaves nothing behind.
pub fn round_trip(name: &str, text: &str, check: impl Fn(&Lab)) {
    let lab = Lab::from_text(name, text);
    lab.expect("up", &[], 0);
    check(&lab);
    let st = lab.expect("status", &["--json"], 0);
    assert!(
        !st.out.contains("Missing") && !st.out.contains("Drifted"),
        "status:\n{}",
        st.out
    );
    let pending = lab.pending();
    assert!(pending.is_empty(), "plan after up: {pending:#?}");
    let again = lab.expect("up", &[], 0);
    if !again.out.contains(": 0 operation") {
        // What changed since the empty plan above, for the failure message.
        let status = lab.verb("status", &[]);
        let plan = lab.verb("plan", &[]);
        panic!(
            "second up was not a no-op:\n{}\nstatus now:\n{}\nplan now:\n{}",
            again.text(),
            status.text(),
            plan.text()
        );
    }
    lab.expect("down", &[], 0);
    lab.assert_no_residue();
}

/// A topology `name` whose node `a` has bridge br0 with `n` ports p0.. (all
/// up), each a veth to q0.. in node `b`.
pub fn many_ports(name: &str, n: usize) -> String {
    let ports: Vec<String> = (0..n).map(|i| format!("p{i}")).collect();
    let mut text = format!(
        "name: {name}\nnodes:\n  a:\n    interfaces:\n      br0: {{ kind: bridge, ports: [{}] }}\n",
        ports.join(", ")
    );
    for p in &ports {
        text.push_str(&format!("      {p}: {{}}\n"));
    }
    text.push_str("  b:\n    interfaces:\n");
    for i in 0..n {
        text.push_str(&format!("      q{i}: {{}}\n"));
    }
    text.push_str("links:\n");
    for i in 0..n {
        text.push_str(&format!("  - [a/p{i}, b/q{i}]\n"));
    }
    text
}
