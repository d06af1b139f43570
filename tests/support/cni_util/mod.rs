//! A container runtime in miniature, for netloom-cni's tests: it makes
//! network namespaces in a sandbox and executes plugins exactly as a
//! runtime does (CNI_* variables, the configuration on stdin, the result
//! or error read from stdout), then looks at what is left.
#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use netloom::sandbox::Sandbox;
use serde_json::Value;

/// Where Debian installs the reference plugins.
pub const CNI_PATH: &str = "/usr/lib/cni";

/// The plugin under test.
pub fn plugin() -> PathBuf {
    std::env::var_os("NETLOOM_CNI_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_netloom-cni")))
}

/// Whether Debian's reference plugins are installed (test.sh installs them).
pub fn reference_plugins() -> bool {
    std::path::Path::new(CNI_PATH).join("bridge").exists()
}

/// One plugin run.
#[derive(Debug)]
pub struct Reply {
    /// Exit code.
    pub code: i32,
    /// stdout, parsed when it is JSON (`Null` when empty).
    pub json: Value,
    /// stdout as text.
    pub out: String,
    /// stderr.
    pub err: String,
}

impl Reply {
    /// The CNI error code, when the reply is an error result.
    pub fn cni_code(&self) -> Option<u64> {
        self.json["code"].as_u64()
    }

    /// Everything, for assertion messages.
    pub fn text(&self) -> String {
        format!(
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.out, self.err
        )
    }
}

/// A sandbox standing in for a machine with a container runtime.
pub struct Runtime {
    /// The sandbox (a private netns and /run).
    pub sb: Sandbox,
}

impl Runtime {
    /// A fresh machine.
    pub fn new() -> Runtime {
        let rt = Runtime {
            sb: Sandbox::new().expect("sandbox"),
        };
        rt.sh_ok("ip link set lo up");
        rt
    }

    /// Run `sh -c script` in the sandbox; (exit code, stdout, stderr).
    pub fn sh(&self, script: &str) -> (i32, String, String) {
        let o = self
            .sb
            .command("sh")
            .args(["-c", script])
            .output()
            .expect("run sh");
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    /// [`Runtime::sh`], insisting on success; its stdout.
    pub fn sh_ok(&self, script: &str) -> String {
        let (code, out, err) = self.sh(script);
        assert_eq!(code, 0, "{script}\n--- stdout\n{out}\n--- stderr\n{err}");
        out
    }

    /// Make container `name`'s namespace, /run/netns/<name>, as runtimes do.
    pub fn container(&self, name: &str) -> String {
        self.sh_ok(&format!(
            "ip netns add {name} && ip -n {name} link set lo up"
        ));
        format!("/run/netns/{name}")
    }

    /// Execute `exe` with `env` (nothing else of ours: a runtime passes
    /// only CNI_* and PATH) and `stdin`.
    pub fn exec(&self, exe: &std::path::Path, env: &[(&str, &str)], stdin: &str) -> Reply {
        let mut cmd: Command = self.sb.command(exe);
        cmd.env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start plugin");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .expect("write stdin");
        let o = child.wait_with_output().expect("wait for plugin");
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        Reply {
            code: o.status.code().unwrap_or(-1),
            json: serde_json::from_str(&out).unwrap_or(Value::Null),
            out,
            err: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// netloom-cni with `verb` for (container, ifname) in `netns`.
    pub fn call(
        &self,
        verb: &str,
        conf: &Value,
        id: &str,
        netns: Option<&str>,
        ifname: &str,
    ) -> Reply {
        self.call_plugin(&plugin(), verb, conf, id, netns, ifname)
    }

    /// Any plugin with `verb`, as a runtime calls it.
    pub fn call_plugin(
        &self,
        exe: &std::path::Path,
        verb: &str,
        conf: &Value,
        id: &str,
        netns: Option<&str>,
        ifname: &str,
    ) -> Reply {
        let mut env = vec![
            ("CNI_COMMAND", verb),
            ("CNI_CONTAINERID", id),
            ("CNI_IFNAME", ifname),
            ("CNI_PATH", CNI_PATH),
        ];
        if let Some(n) = netns {
            env.push(("CNI_NETNS", n));
        }
        self.exec(exe, &env, &conf.to_string())
    }

    /// ADD, insisting on success; the result.
    pub fn add(&self, conf: &Value, id: &str, netns: &str) -> Value {
        let r = self.call("ADD", conf, id, Some(netns), "eth0");
        assert_eq!(r.code, 0, "ADD {id}:\n{}", r.text());
        r.json
    }

    /// DEL, insisting on success.
    pub fn del(&self, conf: &Value, id: &str, netns: Option<&str>) {
        let r = self.call("DEL", conf, id, netns, "eth0");
        assert_eq!(r.code, 0, "DEL {id}:\n{}", r.text());
        assert_eq!(r.out, "", "DEL prints nothing on success");
    }

    /// Whether `ping` from container `c` reaches `ip`.
    pub fn pings(&self, c: &str, ip: &str) -> bool {
        self.sh(&format!("ip netns exec {c} ping -c1 -W2 {ip}")).0 == 0
    }

    /// The host's links other than lo, one `name kind` per line.
    pub fn host_links(&self) -> String {
        self.sh_ok("ip -o link show | awk -F': ' '$2 != \"lo\" { print $2 }'")
    }

    /// Links of container `c` other than lo.
    pub fn links_in(&self, c: &str) -> String {
        self.sh_ok(&format!(
            "ip -n {c} -o link show | awk -F': ' '$2 != \"lo\" {{ print $2 }}'"
        ))
    }

    /// What netloom-cni keeps for `topo` (attachments, reservations,
    /// journals), one path per line.
    pub fn kept(&self, topo: &str) -> String {
        self.sh_ok(&format!(
            "cd /run/netloom/cni/{topo} 2>/dev/null && find attachments ipam journal -type f ! -name '.last-*' 2>/dev/null | sort; true"
        ))
    }
}

/// A configuration: bridge `nl0` holding the gateway, built-in IPAM over
/// `subnet`, a default route, in version `v`.
pub fn bridge_conf(v: &str, subnet: &str) -> Value {
    serde_json::json!({
        "cniVersion": v,
        "name": "lab",
        "type": "netloom-cni",
        "bridge": {"name": "nl0", "gateway": true},
        "ipam": {"subnet": subnet, "routes": [{"dst": "0.0.0.0/0"}]}
    })
}

/// The address (without prefix) of the first ip of a result.
pub fn first_ip(result: &Value) -> String {
    let a = result["ips"][0]["address"].as_str().expect("an address");
    a.split('/').next().unwrap().to_string()
}
