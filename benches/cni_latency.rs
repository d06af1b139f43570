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
//! `cargo bench --bench cni_latency -- [--present 1000] [--samples 100]
//!  [--only netloom,bridge]`
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

/// Run the plugin for container `c` with `verb` inside `sb`; its wall time.
fn call(sb: &Sandbox, m: &Method, verb: &str, c: &str) -> Result<Duration, String> {
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
    let took = start.elapsed();
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

/// Figures of one method: (ADD times, DEL times).
fn measure(
    m: &Method,
    present: usize,
    samples: usize,
) -> Result<(Vec<Duration>, Vec<Duration>), String> {
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
    let (mut present, mut samples, mut only) = (1000usize, 100usize, None::<String>);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bench" => {}
            "--present" => present = args.next().and_then(|v| v.parse().ok()).unwrap_or(present),
            "--samples" => samples = args.next().and_then(|v| v.parse().ok()).unwrap_or(samples),
            "--only" => only = args.next(),
            other => {
                eprintln!("unknown argument {other}; usage: cargo bench --bench cni_latency -- [--present N] [--samples N] [--only netloom,bridge]");
                return ExitCode::from(2);
            }
        }
    }
    if samples == 0 {
        eprintln!("--samples must be at least 1");
        return ExitCode::from(2);
    }
    println!(
        "CNI ADD/DEL latency per container, {present} attachments present, {samples} samples (ms)"
    );
    println!(
        "{:<8} {:>8} {:>8} {:>8}   {:>8} {:>8} {:>8}",
        "method", "ADD p50", "p99", "mean", "DEL p50", "p99", "mean"
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
        match measure(&m, present, samples) {
            Ok((adds, dels)) => {
                println!(
                    "{:<8} {:>8.2} {:>8.2} {:>8.2}   {:>8.2} {:>8.2} {:>8.2}",
                    m.name,
                    quantile(&adds, 0.5),
                    quantile(&adds, 0.99),
                    mean(&adds),
                    quantile(&dels, 0.5),
                    quantile(&dels, 0.99),
                    mean(&dels)
                );
                p50.push((m.name, quantile(&adds, 0.5), quantile(&dels, 0.5)));
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
