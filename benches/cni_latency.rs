//! The "cni_latency" benchmark: how long one container's ADD and DEL take
//! with many attachments already on the bridge, for netloom-cni and for
//! the reference `bridge` plugin with `host-local` IPAM (Debian's
//! containernetworking-plugins), in the same run, each in a fresh sandbox.
//!
//! Per method: `--present` containers are attached first (untimed), then
//! `--samples` more are added one at a time, each ADD timed from spawn to
//! exit as a runtime waits for it, then those are deleted the same way.
//! Prints p50, p99 and the mean per verb. Figures, not a test.
//!
//! `cargo bench --bench cni_latency -- [--present 1000] [--samples 20]
//!  [--only netloom,bridge] [--ipv6-off]`
//!
//! `--ipv6-off` switches IPv6 off in the host and every container first,
//! as the scale bench does (see `measure`).
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use netloom::sandbox::Sandbox;

const CNI_PATH: &str = "/usr/lib/cni";

/// One method: a plugin and its configuration.
struct Method {
    name: &'static str,
    exe: PathBuf,
    conf: String,
}

fn methods() -> Vec<Method> {
    vec![
        Method {
            name: "netloom",
            exe: PathBuf::from(env!("CARGO_BIN_EXE_netloom-cni")),
            conf: serde_json::json!({
                "cniVersion": "1.0.0", "name": "bench", "type": "netloom-cni",
                "bridge": {"name": "br0", "gateway": true},
                "ipam": {"subnet": "10.200.0.0/16", "routes": [{"dst": "0.0.0.0/0"}]}
            })
            .to_string(),
        },
        Method {
            name: "bridge",
            exe: Path::new(CNI_PATH).join("bridge"),
            conf: serde_json::json!({
                "cniVersion": "1.0.0", "name": "bench", "type": "bridge",
                "bridge": "br0", "isGateway": true, "ipMasq": false,
                "ipam": {"type": "host-local", "subnet": "10.200.0.0/16",
                         "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "/run/cni-ipam"}
            })
            .to_string(),
        },
    ]
}

/// CPU time (user + system) of the children waited for so far: the
/// plugins and what they ran (host-local), the kernel's work on their
/// behalf included. On a shared machine this moves less than wall time.
fn children_cpu() -> Duration {
    let u = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .expect("getrusage");
    let tv =
        |t: nix::sys::time::TimeVal| Duration::new(t.tv_sec() as u64, t.tv_usec() as u32 * 1000);
    tv(u.user_time()) + tv(u.system_time())
}

/// One call's cost: wall time and CPU time.
type Cost = (Duration, Duration);

/// Run the plugin for container `c` with `verb` inside `sb`; its wall and CPU time.
fn call(sb: &Sandbox, m: &Method, verb: &str, c: &str) -> Result<Cost, String> {
    let cpu = children_cpu();
    let start = Instant::now();
    let mut child = sb
        .command(&m.exe)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("CNI_COMMAND", verb)
        .env("CNI_CONTAINERID", c)
        .env("CNI_NETNS", format!("/run/netns/{c}"))
        .env("CNI_IFNAME", "eth0")
        .env("CNI_PATH", CNI_PATH)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", m.exe.display()))?;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(m.conf.as_bytes())
        .map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let took = (start.elapsed(), children_cpu() - cpu);
    if !out.status.success() {
        return Err(format!(
            "{} {verb} {c}: {}{}",
            m.name,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(took)
}

/// The q-quantile (0..1) of `v` in milliseconds, nearest rank.
fn quantile(v: &[Duration], q: f64) -> f64 {
    let mut ms: Vec<f64> = v.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    ms.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    let rank = ((q * ms.len() as f64).ceil() as usize).clamp(1, ms.len());
    ms[rank - 1]
}

fn mean(v: &[Duration]) -> f64 {
    v.iter().map(|d| d.as_secs_f64() * 1e3).sum::<f64>() / v.len() as f64
}

/// Figures of one method: (ADD costs, DEL costs).
fn measure(
    m: &Method,
    present: usize,
    samples: usize,
    ipv6_off: bool,
) -> Result<(Vec<Cost>, Vec<Cost>), String> {
    let sb = Sandbox::new().map_err(|e| e.to_string())?;
    let total = present + samples;
    let batch: String = (1..=total).map(|i| format!("netns add c{i}\n")).collect();
    let mut ip = sb
        .command("ip")
        .args(["-batch", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    ip.stdin
        .take()
        .expect("piped")
        .write_all(batch.as_bytes())
        .map_err(|e| e.to_string())?;
    if !ip.wait().map_err(|e| e.to_string())?.success() {
        return Err("ip -batch netns add failed".into());
    }
    if ipv6_off {
        // As the scale bench does: every new port on a 1000-port bridge
        // otherwise floods IPv6 DAD and MLD frames to 1000 namespaces that
        // process them, a kernel cost either plugin sets off alike.
        let off = "for f in all default; do echo 1 > /proc/sys/net/ipv6/conf/$f/disable_ipv6; done";
        let script = format!(
            "{off}; for i in $(seq 1 {total}); do nsenter --net=/run/netns/c$i sh -c '{off}' || exit 1; done"
        );
        let st = sb
            .command("sh")
            .args(["-c", &script])
            .status()
            .map_err(|e| e.to_string())?;
        if !st.success() {
            return Err("switching IPv6 off failed".into());
        }
    }
    let t = Instant::now();
    for i in 1..=present {
        call(&sb, m, "ADD", &format!("c{i}"))?;
    }
    eprintln!(
        "{}: {present} attachments present after {:.1} s",
        m.name,
        t.elapsed().as_secs_f64()
    );
    let mut adds = Vec::new();
    for i in present + 1..=total {
        adds.push(call(&sb, m, "ADD", &format!("c{i}"))?);
    }
    let mut dels = Vec::new();
    for i in present + 1..=total {
        dels.push(call(&sb, m, "DEL", &format!("c{i}"))?);
    }
    Ok((adds, dels))
}

fn main() -> ExitCode {
    let (mut present, mut samples, mut only) = (1000usize, 20usize, None::<String>);
    let mut ipv6_off = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bench" => {}
            "--present" => present = args.next().and_then(|v| v.parse().ok()).unwrap_or(present),
            "--samples" => samples = args.next().and_then(|v| v.parse().ok()).unwrap_or(samples),
            "--only" => only = args.next(),
            "--ipv6-off" => ipv6_off = true,
            other => {
                eprintln!("unknown argument {other}; usage: cargo bench --bench cni_latency -- [--present N] [--samples N] [--only netloom,bridge] [--ipv6-off]");
                return ExitCode::from(2);
            }
        }
    }
    if samples == 0 {
        eprintln!("--samples must be at least 1");
        return ExitCode::from(2);
    }
    if present + samples > 1023 {
        // br_add_if: a bridge has port numbers for 1023 ports (BR_MAX_PORTS
        // 1024, port 0 unused); the 1024th port gets EXFULL.
        eprintln!("--present + --samples must stay within a bridge's 1023 ports");
        return ExitCode::from(2);
    }
    println!(
        "CNI ADD/DEL per container, {present} attachments present, {samples} samples, IPv6 {} (ms; wall, then CPU user+sys at p50)",
        if ipv6_off { "off" } else { "on" }
    );
    println!(
        "{:<8} {:>8} {:>8} {:>8}   {:>8} {:>8} {:>8}   {:>8} {:>8}",
        "method", "ADD p50", "p99", "mean", "DEL p50", "p99", "mean", "ADD cpu", "DEL cpu"
    );
    let mut p50 = Vec::new();
    for m in methods() {
        if only
            .as_deref()
            .is_some_and(|o| !o.split(',').any(|x| x == m.name))
        {
            continue;
        }
        if !m.exe.exists() {
            eprintln!(
                "{}: {} missing (apt-get install containernetworking-plugins)",
                m.name,
                m.exe.display()
            );
            continue;
        }
        match measure(&m, present, samples, ipv6_off) {
            Ok((adds, dels)) => {
                let wall = |v: &[Cost]| v.iter().map(|c| c.0).collect::<Vec<_>>();
                let cpu = |v: &[Cost]| v.iter().map(|c| c.1).collect::<Vec<_>>();
                let (aw, dw) = (wall(&adds), wall(&dels));
                println!(
                    "{:<8} {:>8.2} {:>8.2} {:>8.2}   {:>8.2} {:>8.2} {:>8.2}   {:>8.2} {:>8.2}",
                    m.name,
                    quantile(&aw, 0.5),
                    quantile(&aw, 0.99),
                    mean(&aw),
                    quantile(&dw, 0.5),
                    quantile(&dw, 0.99),
                    mean(&dw),
                    quantile(&cpu(&adds), 0.5),
                    quantile(&cpu(&dels), 0.5)
                );
                p50.push((m.name, quantile(&aw, 0.5), quantile(&dw, 0.5)));
            }
            Err(e) => {
                eprintln!("{}: {e}", m.name);
                return ExitCode::FAILURE;
            }
        }
    }
    if let [(_, a, d), (_, ra, rd)] = p50.as_slice() {
        println!(
            "netloom/bridge at p50: ADD {:.2}x faster, DEL {:.2}x faster",
            ra / a,
            rd / d
        );
    }
    ExitCode::SUCCESS
}
