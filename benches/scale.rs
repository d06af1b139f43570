//! The "scale" benchmark: build one bridge + N containers with netloom and
//! with three baselines (naive `ip`, `ip -batch`, the CNI bridge plugin),
//! each in a fresh sandbox, timed until container 1 really reaches container
//! N, then torn down and timed until nothing is left. See docs/bench.md.
//!
//! `cargo bench --bench scale -- [--n 10,100,1000] [--reps 3]
//!  [--only netloom,ip-batch,cni,naive] [--keep] [--netloom PATH]`
#[path = "scale/cni.rs"]
mod cni;
#[path = "scale/ip.rs"]
mod ip;
#[path = "scale/method.rs"]
mod method;
#[path = "scale/report.rs"]
mod report;
#[path = "scale/run.rs"]
mod run;
#[path = "scale/topo.rs"]
mod topo;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use method::{Method, Prepared};

/// What the command line asked for.
struct Args {
    ns: Vec<usize>,
    reps: usize,
    methods: Vec<Method>,
    keep: bool,
    netloom: Option<PathBuf>,
}

const USAGE: &str = "usage: cargo bench --bench scale -- [--n 10,100,1000] [--reps 3] \
                     [--only netloom,ip-batch,cni,naive] [--keep] [--netloom PATH]";

/// Parse the arguments after `--` (cargo adds `--bench`, ignored).
fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        ns: vec![10, 100, 1000],
        reps: 3,
        methods: Method::ALL.to_vec(),
        keep: false,
        netloom: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| format!("{arg} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--bench" => {}
            "--keep" => a.keep = true,
            "--netloom" => a.netloom = Some(PathBuf::from(value()?)),
            "--n" => {
                a.ns = value()?
                    .split(',')
                    .map(|x| match x.trim().parse::<usize>() {
                        Ok(n) if (2..=topo::MAX_N).contains(&n) => Ok(n),
                        _ => Err(format!("--n: {x:?} is not a number in 2..={}", topo::MAX_N)),
                    })
                    .collect::<Result<_, _>>()?
            }
            "--reps" => {
                a.reps = match value()?.parse() {
                    Ok(r) if r >= 1 => r,
                    _ => return Err(format!("--reps needs a number >= 1\n{USAGE}")),
                }
            }
            "--only" => {
                a.methods = value()?
                    .split(',')
                    .map(|x| {
                        Method::parse(x.trim())
                            .ok_or_else(|| format!("--only: unknown method {x:?}\n{USAGE}"))
                    })
                    .collect::<Result<_, _>>()?
            }
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(a)
}

/// Whether `prog` is an executable file on PATH (or an absolute path).
fn found(prog: &str) -> bool {
    let p = Path::new(prog);
    if p.is_absolute() {
        return p.is_file();
    }
    std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).any(|d| d.join(prog).is_file()))
        .unwrap_or(false)
}

/// Refuse to start, with the install command, when a needed tool is missing.
fn check_setup(methods: &[Method], netloom: &Path) -> Result<(), String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("the scale bench creates network namespaces: run it as root".into());
    }
    let mut need = vec![
        ("sh", "dash"),
        ("nsenter", "util-linux"),
        ("ping", "iputils-ping"),
    ];
    if methods.iter().any(|m| *m != Method::Netloom) {
        need.push(("ip", "iproute2"));
    }
    let bridge = format!("{}/bridge", cni::CNI_PATH);
    let host_local = format!("{}/host-local", cni::CNI_PATH);
    if methods.contains(&Method::Cni) {
        need.push((&bridge, "containernetworking-plugins"));
        need.push((&host_local, "containernetworking-plugins"));
    }
    let missing: Vec<_> = need.iter().filter(|(p, _)| !found(p)).collect();
    if !missing.is_empty() {
        let progs: Vec<&str> = missing.iter().map(|(p, _)| *p).collect();
        let mut pkgs: Vec<&str> = missing.iter().map(|(_, k)| *k).collect();
        pkgs.dedup();
        return Err(format!(
            "missing {}: install with `apt-get install {}`",
            progs.join(", "),
            pkgs.join(" ")
        ));
    }
    if methods.contains(&Method::Netloom) && !netloom.is_file() {
        return Err(format!("netloom binary {} not built", netloom.display()));
    }
    Ok(())
}

/// The first line of `prog args` output, or `?`.
fn first_line(prog: &str, args: &[&str]) -> String {
    Command::new(prog)
        .args(args)
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "?".into())
}

/// nproc, kernel, CPU model, iproute2 version.
fn machine() -> String {
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "?".into());
    format!(
        "machine: nproc={nproc} kernel={} cpu=\"{cpu}\" {}",
        kernel.trim(),
        first_line("ip", &["-V"])
    )
}

/// The 1/5/15-minute load averages.
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// What `cargo test --all-targets` runs (cargo passes `--bench` only under
/// `cargo bench`): check the generated inputs, touch no kernel, time nothing.
fn self_check() -> Result<(), String> {
    let want = [
        (1, "10.200.0.2"),
        (254, "10.200.0.255"),
        (255, "10.200.1.0"),
        (1000, "10.200.3.233"),
    ];
    for (i, a) in want {
        if topo::addr(i).to_string() != a {
            return Err(format!(
                "container {i} got {} instead of {a}",
                topo::addr(i)
            ));
        }
    }
    if topo::host_end(topo::MAX_N).len() > 15 || topo::addr(topo::MAX_N).octets()[..2] != [10, 200]
    {
        return Err("MAX_N does not fit the names or the /16".into());
    }
    let n = 7;
    let yaml = topo::netloom_yaml(n);
    let count = |pat: &str| yaml.matches(pat).count();
    if count("  - reach: c") != n || count("/eth0]") != n || count("disable_ipv6: 1") != 2 * n {
        return Err(format!("netloom file for N={n} is wrong:\n{yaml}"));
    }
    let naive = ip::naive_up(n);
    if naive.lines().filter(|l| l.starts_with("ip ")).count() != 3 + 9 * n {
        return Err(format!("naive script for N={n} is wrong:\n{naive}"));
    }
    Ok(())
}

fn main() -> ExitCode {
    if !std::env::args().any(|a| a == "--bench") {
        return match self_check() {
            Ok(()) => {
                println!("scale bench: inputs check out; measure with `cargo bench --bench scale`");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("scale bench self-check: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    // The binary cargo built with this bench, unless another build is named.
    let netloom = args
        .netloom
        .clone()
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_netloom")));
    if let Err(e) = check_setup(&args.methods, &netloom) {
        eprintln!("scale bench: {e}");
        return ExitCode::from(2);
    }
    let work = std::env::temp_dir().join(format!("netloom-scale-{}", std::process::id()));
    println!("{}", machine());
    if args.methods.contains(&Method::Netloom) {
        println!("netloom: {}", netloom.display());
    }
    println!("load at start: {}", load());
    let mut trials = Vec::new();
    for &n in &args.ns {
        let mut prepared = Vec::new();
        for &m in &args.methods {
            match Prepared::new(m, n, &work, &netloom) {
                Ok(p) => prepared.push(p),
                Err(e) => {
                    eprintln!(
                        "scale bench: cannot write inputs under {}: {e}",
                        work.display()
                    );
                    return ExitCode::FAILURE;
                }
            }
        }
        // Methods interleaved within each repetition, so drifting load from
        // other work on the machine hits all of them alike.
        for rep in 1..=args.reps {
            for p in &prepared {
                if !run::wait_quiet(Duration::from_secs(60)).unwrap_or(true) {
                    eprintln!("  (the machine was still busy after 60 s; trial starts anyway)");
                }
                match p.trial(rep) {
                    Ok(t) => {
                        eprintln!(
                            "  {} N={n} rep {rep}: return {:?} reach {:?} down {:?} {}",
                            t.method.name(),
                            t.up_return,
                            t.reach,
                            t.down,
                            t.errors.join("; ")
                        );
                        trials.push(t);
                    }
                    Err(e) => {
                        eprintln!("scale bench: sandbox trouble: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            }
        }
    }
    println!(
        "{}",
        report::render(&trials, &args.ns, &args.methods, args.reps)
    );
    println!("load at end: {}", load());
    if args.keep {
        println!("inputs and logs kept in {}", work.display());
    } else {
        let _ = std::fs::remove_dir_all(&work);
    }
    println!("{}", report::summary(&trials, &args.ns, &args.methods));
    ExitCode::SUCCESS
}
