//! The CNI baseline: the reference `bridge` plugin with `host-local` IPAM
//! (Debian containernetworking-plugins), called once per container with
//! CNI_COMMAND=ADD and later DEL, as a container runtime does (CNI spec:
//! parameters in CNI_* variables, the network config on stdin, the result
//! on stdout).
use std::fmt::Write as _;
use std::io;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use crate::topo::{self, GATEWAY, PREFIX};

/// Where Debian installs the plugins.
pub const CNI_PATH: &str = "/usr/lib/cni";
/// The IPAM store: inside the sandbox's private /run, gone with it.
const IPAM_DIR: &str = "/run/cni-ipam";

/// The network config: bridge br0 holding the gateway address, host-local
/// allocating from 10.200.0.0/16, a default route via the gateway.
fn conf() -> String {
    let subnet = format!("10.200.0.0/{PREFIX}");
    serde_json::json!({
        "cniVersion": "1.0.0",
        "name": topo::NAME,
        "type": "bridge",
        "bridge": "br0",
        "isGateway": true,
        "ipMasq": false,
        "hairpinMode": false,
        "ipam": {
            "type": "host-local",
            "ranges": [[{ "subnet": subnet, "gateway": GATEWAY.to_string() }]],
            "routes": [{ "dst": "0.0.0.0/0" }],
            "dataDir": IPAM_DIR,
        }
    })
    .to_string()
}

/// File of the ADD result of container `i` inside `dir`.
pub fn result_file(dir: &Path, i: usize) -> PathBuf {
    dir.join(format!("{}.result.json", topo::container(i)))
}

/// One plugin call for container `i` with `command` (ADD or DEL).
fn call(s: &mut String, command: &str, i: usize, conf: &Path, out: &str) {
    let c = topo::container(i);
    let _ = writeln!(
        s,
        "CNI_COMMAND={command} CNI_CONTAINERID=scale-{c} CNI_NETNS=/run/netns/{c} \
         CNI_IFNAME=eth0 CNI_PATH={CNI_PATH} {CNI_PATH}/bridge < {} > {out}",
        conf.display()
    );
}

/// Build: the netns files (one `ip -batch`, standing in for the runtime),
/// then per container the two IPv6 sysctls (nsenter + shell builtins, before
/// any link exists in it) and the plugin's ADD.
///
/// Writes the config and the netns batch into `dir`; returns the script.
pub fn up(n: usize, dir: &Path) -> io::Result<String> {
    let conf_file = dir.join("net.conf");
    std::fs::write(&conf_file, conf())?;
    let mut ns = String::new();
    for i in 1..=n {
        let _ = writeln!(ns, "netns add {}", topo::container(i));
    }
    let ns_file = dir.join("netns.batch");
    std::fs::write(&ns_file, ns)?;
    let mut s = String::from("set -e\n");
    let _ = writeln!(s, "ip -batch {}", ns_file.display());
    let v6off = topo::ipv6_off_sh();
    for i in 1..=n {
        let c = topo::container(i);
        let _ = writeln!(s, "nsenter --net=/run/netns/{c} sh -c '{v6off}'");
        let out = result_file(dir, i).display().to_string();
        call(&mut s, "ADD", i, &conf_file, &out);
    }
    Ok(s)
}

/// Teardown: DEL per container (the plugin deletes eth0 and frees the
/// address), then one `ip -batch` removing the netns files and the bridge
/// (the plugin never deletes its bridge).
pub fn down(n: usize, dir: &Path) -> io::Result<String> {
    let conf_file = dir.join("net.conf");
    let mut s = String::from("set -e\n");
    for i in 1..=n {
        call(&mut s, "DEL", i, &conf_file, "/dev/null");
    }
    let mut b = String::new();
    for i in 1..=n {
        let _ = writeln!(b, "netns del {}", topo::container(i));
    }
    b.push_str("link del br0\n");
    let f = dir.join("down.batch");
    std::fs::write(&f, b)?;
    let _ = writeln!(s, "ip -batch {}", f.display());
    Ok(s)
}

/// The IPv4 address host-local gave container `i`, read from its ADD result.
pub fn allocated(dir: &Path, i: usize) -> Result<Ipv4Addr, String> {
    let f = result_file(dir, i);
    let text = std::fs::read_to_string(&f).map_err(|e| format!("{}: {e}", f.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", f.display()))?;
    let cidr = v["ips"][0]["address"]
        .as_str()
        .ok_or_else(|| format!("{}: no ips[0].address", f.display()))?;
    let ip = cidr.split('/').next().unwrap_or(cidr);
    ip.parse()
        .map_err(|e| format!("{}: bad address {cidr}: {e}", f.display()))
}
