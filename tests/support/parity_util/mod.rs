//! The harness of the kernel-parity test: one trial is one option at one
//! value, judged twice, by `netloom validate` on a topology file and by the
//! running kernel, which must agree: validate refuses exactly what the
//! kernel refuses, or takes but keeps otherwise than asked (a value the
//! kernel alters never reads back as in the file, so `up` would never
//! converge on it).
//!
//! How the kernel is asked: with iproute2 (`ip link add ...`) wherever it
//! passes the value on, because it is an implementation of the netlink
//! requests independent of netloom's (a differential test compares two
//! implementations, and netloom's kernel layer is what `up` runs, so its
//! mistakes would cancel out). Where iproute2 refuses a value itself before
//! the kernel sees it (an MTU above 2^31-1, mixed vxlan families, a
//! multicast `local`, a group without `dev`, names with ASCII spaces, owner
//! (uid_t)-1), the request is sent raw: an RTM_NEWLINK through the
//! rtnetlink crate, or the tun ioctls. Trials run in one sandbox, one after
//! the other, each starting from a namespace with nothing but `lo`; each
//! trial's `ip` lines go to one `ip -batch` (a process start costs a
//! quarter of a second under the VM's emulation).
//!
//! `validate`'s verdict is `netloom::spec::load`, called here: it is all
//! that `netloom validate FILE` does before printing the result (main.rs),
//! and the binary's exit codes on refused files are tested on their own
//! (tests/invalid_touch_nothing.rs); a process per trial would double the
//! test's time in the VM.
#![allow(dead_code)]

mod kernel;

use std::net::IpAddr;
use std::path::Path;

/// A request the kernel judges.
pub enum Act {
    /// `ip` command lines (split at spaces), run in turn; all must succeed.
    Ip(Vec<String>),
    /// A vxlan `vx0` (port 4789) with this VNI, these addresses and `dev`,
    /// sent raw: iproute2 refuses some of them itself.
    Vxlan {
        /// The VNI.
        vni: u32,
        /// `local`.
        local: Option<IpAddr>,
        /// `remote` or `group`.
        peer: Option<IpAddr>,
        /// The underlay, by name.
        dev: Option<String>,
    },
    /// `dev`'s MTU set raw (iproute2 takes only an int).
    Mtu(String, u32),
    /// A bond `b0` in mode balance-xor with these ARP targets, sent raw:
    /// iproute2 sends the first 16 only.
    BondTargets(Vec<std::net::Ipv4Addr>),
    /// A non-persistent tap made with the tun ioctls: its name, owner, group.
    Tap(Vec<u8>, Option<u32>, Option<u32>),
}

/// What the kernel did with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kernel {
    /// Took it and keeps it as asked.
    Accepts,
    /// Refused it, with its words.
    Refuses(String),
    /// Took it but reads back something else.
    Alters(String),
}

/// One option at one value.
pub struct Trial {
    /// The option, e.g. `bridge hello_time`.
    pub option: String,
    /// The value tried.
    pub value: String,
    /// The topology file `validate` judges.
    pub file: String,
    /// A word validate's refusal must contain, so that it refuses for this
    /// option and not for a slip in the trial's file.
    pub about: String,
    /// `ip` command lines preparing the kernel; each must succeed.
    pub setup: Vec<String>,
    /// The request judged.
    pub act: Act,
    /// After success: `ip -d -j link show dev DEV`, a dotted path in it,
    /// and the value it must read as.
    pub readback: Option<(String, String, String)>,
}

impl Trial {
    /// A trial of `option` at `value`, judged on `file` and by `act`.
    pub fn new(option: &str, value: impl ToString, about: &str, file: String, act: Act) -> Trial {
        Trial {
            option: option.to_string(),
            value: value.to_string(),
            file,
            about: about.to_string(),
            setup: Vec::new(),
            act,
            readback: None,
        }
    }

    /// With `ip` command lines run first.
    pub fn setup(mut self, lines: &[&str]) -> Trial {
        self.setup.extend(lines.iter().map(|l| l.to_string()));
        self
    }

    /// With a value that must read back: `path` in `ip -d -j link show dev DEV`.
    pub fn reads(mut self, dev: &str, path: &str, want: impl ToString) -> Trial {
        self.readback = Some((dev.to_string(), path.to_string(), want.to_string()));
        self
    }
}

/// `ip` lines as an act.
pub fn ip(lines: &[&str]) -> Act {
    Act::Ip(lines.iter().map(|l| l.to_string()).collect())
}

/// A topology whose node `a` has `ifaces` (one `name: {...}` each); every
/// name in `veths` is an `a` veth end, paired with `b/<name>x`.
pub fn topo(ifaces: &[&str], veths: &[&str]) -> String {
    let mut t = String::from("name: kp\nnodes:\n  a:\n    interfaces:\n");
    for i in ifaces {
        t.push_str(&format!("      {i}\n"));
    }
    if !veths.is_empty() {
        t.push_str("  b:\n    interfaces:\n");
        for v in veths {
            t.push_str(&format!("      {v}x: {{}}\n"));
        }
        t.push_str("links:\n");
        for v in veths {
            t.push_str(&format!("  - [a/{v}, b/{v}x]\n"));
        }
    }
    t
}

/// A name as a YAML double-quoted key, every non-ASCII or control
/// character escaped (raw, U+0085 would be a YAML line break).
pub fn yaml_key(name: &str) -> String {
    let mut out = String::from("\"");
    for c in name.chars() {
        match c {
            '"' | '\\' => out.extend(['\\', c]),
            ' '..='~' => out.push(c),
            c => out.push_str(&format!("\\u{:04x}", u32::from(c))),
        }
    }
    out.push('"');
    out
}

/// `netloom validate`'s verdict on `file`: `None` when valid, else its
/// first error.
fn validate(dir: &Path, i: usize, file: &str) -> Option<String> {
    let path = dir.join(format!("trial-{i}.yaml"));
    std::fs::write(&path, file).expect("write trial");
    netloom::spec::load(&path)
        .err()
        .map(|e| e.errors[0].message.clone())
}

/// Runs every trial (inside a sandbox: the caller's), then prints the
/// table and returns it with the disagreements.
pub fn run(trials: &[Trial]) -> (String, Vec<String>) {
    let dir = std::env::temp_dir().join(format!("netloom-parity-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("trial dir");
    let mut rows = vec![(
        "option".to_string(),
        "value".to_string(),
        "validate".to_string(),
        "kernel".to_string(),
        "agree".to_string(),
    )];
    let mut bad = Vec::new();
    let verdicts: Vec<Option<String>> = trials
        .iter()
        .enumerate()
        .map(|(i, t)| validate(&dir, i, &t.file))
        .collect();
    let kernels = kernel::judge(trials);
    for ((t, v), k) in trials.iter().zip(verdicts).zip(kernels) {
        let agree = match (&v, &k) {
            (None, Kernel::Accepts) => true,
            (Some(msg), Kernel::Refuses(_) | Kernel::Alters(_)) => {
                if !msg.contains(&t.about) {
                    bad.push(format!(
                        "{} {}: validate refused for another reason: {msg}",
                        t.option, t.value
                    ));
                }
                true
            }
            _ => false,
        };
        if !agree {
            bad.push(format!(
                "{} {}: validate {}, kernel {k:?}",
                t.option,
                t.value,
                v.as_deref()
                    .map_or("accepts".into(), |m| format!("refuses ({m})"))
            ));
        }
        let kernel = match k {
            Kernel::Accepts => "accepts".to_string(),
            Kernel::Refuses(e) => format!("refuses: {e}"),
            Kernel::Alters(e) => format!("alters: {e}"),
        };
        rows.push((
            t.option.clone(),
            t.value.clone(),
            if v.is_none() { "accepts" } else { "refuses" }.to_string(),
            kernel,
            if agree { "yes" } else { "NO" }.to_string(),
        ));
    }
    kernel::clean();
    let _ = std::fs::remove_dir_all(&dir);
    let w = |f: fn(&(String, String, String, String, String)) -> &String| {
        rows.iter().map(|r| f(r).chars().count()).max().unwrap_or(0)
    };
    let (w0, w1, w3) = (w(|r| &r.0), w(|r| &r.1), w(|r| &r.3));
    let mut table = String::new();
    for r in &rows {
        table.push_str(&format!(
            "{:w0$}  {:w1$}  {:8}  {:w3$}  {}\n",
            r.0, r.1, r.2, r.3, r.4
        ));
    }
    (table, bad)
}

/// Runs `trials` in a fresh sandbox (re-running this test there) and
/// prints the table here, in the caller, so `--nocapture` shows it.
pub fn sandboxed(test: &str, trials: impl FnOnce() -> Vec<Trial>) {
    let table = |pid: u32| std::env::temp_dir().join(format!("netloom-parity-{test}-{pid}.txt"));
    if !netloom::sandbox::reexec_test(test) {
        let path = table(std::process::id());
        if let Ok(t) = std::fs::read_to_string(&path) {
            print!("{t}");
        }
        let _ = std::fs::remove_file(path);
        return;
    }
    let (text, bad) = run(&trials());
    // The caller (outside the sandbox) prints it; /tmp is shared with it.
    let _ = std::fs::write(table(std::os::unix::process::parent_id()), &text);
    assert!(bad.is_empty(), "\n{text}\n{}", bad.join("\n"));
}
