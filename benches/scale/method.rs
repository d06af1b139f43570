//! The four ways of building the topology, and one timed trial of each in a
//! fresh sandbox: build, reach, (netloom: no-op up, verify), teardown.
use std::io;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use netloom::sandbox::Sandbox;

use crate::run::{reach, run, Anchor};
use crate::{cni, ip, topo};

/// A way of building the topology.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `netloom up` on the generated YAML file.
    Netloom,
    /// `ip -batch`, N+2 processes.
    IpBatch,
    /// The CNI reference bridge plugin with host-local IPAM.
    Cni,
    /// One `ip` process per step.
    Naive,
}

impl Method {
    /// Every method, in table order.
    pub const ALL: [Method; 4] = [Method::Netloom, Method::IpBatch, Method::Cni, Method::Naive];

    /// The name used on the command line and in the table.
    pub fn name(self) -> &'static str {
        match self {
            Method::Netloom => "netloom",
            Method::IpBatch => "ip-batch",
            Method::Cni => "cni",
            Method::Naive => "naive",
        }
    }

    /// The method called `s`, if any.
    pub fn parse(s: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.name() == s)
    }
}

/// What one trial measured; `None` where a step failed or does not apply.
#[derive(Debug, Clone)]
pub struct Trial {
    /// The method.
    pub method: Method,
    /// Number of containers.
    pub n: usize,
    /// Build command's wall time until it returned, s.
    pub up_return: Option<f64>,
    /// From build start until c1 first got a reply from cN, s.
    pub reach: Option<f64>,
    /// netloom only: second `up` on the unchanged topology, s.
    pub noop: Option<f64>,
    /// netloom only: `verify` with one reach expectation per container, s.
    pub verify: Option<f64>,
    /// From teardown start until no link and no netns is left, s.
    pub down: Option<f64>,
    /// netloom only: peak RSS of an `up` that made c1 reach cN, KiB.
    pub rss_kb: Option<i64>,
    /// What failed, in order.
    pub errors: Vec<String>,
}

/// Inputs of one method at one N, generated once, outside any timing.
pub struct Prepared {
    method: Method,
    n: usize,
    dir: PathBuf,
    netloom: PathBuf,
}

impl Prepared {
    /// Write the file or scripts of `method` for `n` containers under `work`.
    pub fn new(method: Method, n: usize, work: &Path, netloom: &Path) -> io::Result<Prepared> {
        let dir = work.join(format!("{}-{n}", method.name()));
        std::fs::create_dir_all(&dir)?;
        let (up, down) = match method {
            Method::Netloom => {
                std::fs::write(dir.join("scale.yaml"), topo::netloom_yaml(n))?;
                (String::new(), String::new())
            }
            Method::IpBatch => (ip::batch_up(n, &dir)?, ip::batch_down(n, &dir)?),
            Method::Cni => (cni::up(n, &dir)?, cni::down(n, &dir)?),
            Method::Naive => (ip::naive_up(n), ip::naive_down(n)),
        };
        if method != Method::Netloom {
            std::fs::write(dir.join("up.sh"), up)?;
            std::fs::write(dir.join("down.sh"), down)?;
        }
        Ok(Prepared {
            method,
            n,
            dir,
            netloom: netloom.to_path_buf(),
        })
    }

    /// The command of `step` ("up", "verify", "down") inside `sb`.
    fn command(&self, sb: &Sandbox, step: &str) -> Command {
        if self.method == Method::Netloom {
            let mut c = sb.command(&self.netloom);
            c.arg(step).arg(self.dir.join("scale.yaml"));
            c
        } else {
            let mut c = sb.command("sh");
            c.arg(self.dir.join(format!("{step}.sh")));
            c
        }
    }

    /// netns name of container 1 and the address of container N.
    fn endpoints(&self) -> Result<(String, Ipv4Addr), String> {
        let c1 = topo::container(1);
        match self.method {
            Method::Netloom => {
                let ns = netloom::model::netns_name(topo::NAME, &c1)
                    .ok_or("netloom gives no netns name for c1")?;
                Ok((ns, topo::addr(self.n)))
            }
            // host-local chose the address: ask the plugin's own result.
            Method::Cni => Ok((c1, cni::allocated(&self.dir, self.n)?)),
            Method::IpBatch | Method::Naive => Ok((c1, topo::addr(self.n))),
        }
    }

    /// One full trial in a fresh sandbox; `rep` names its log.
    pub fn trial(&self, rep: usize) -> io::Result<Trial> {
        let n = self.n;
        let mut t = Trial {
            method: self.method,
            n,
            up_return: None,
            reach: None,
            noop: None,
            verify: None,
            down: None,
            rss_kb: None,
            errors: Vec::new(),
        };
        let log = self.dir.join(format!("rep{rep}.log"));
        let _ = std::fs::remove_file(&log);
        let step_timeout = Duration::from_secs_f64(120.0 + 0.3 * n as f64);
        let sb = Sandbox::new()?;
        let anchor = Anchor::start(&sb)?;

        let start = Instant::now();
        let up = run(self.command(&sb, "up"), &log, step_timeout)?;
        if !up.ok {
            t.errors.push(format!("up: {}", up.detail));
            return Ok(t);
        }
        t.up_return = Some(up.elapsed.as_secs_f64());
        let (c1, cn) = match self.endpoints() {
            Ok(e) => e,
            Err(e) => {
                t.errors.push(format!("after up: {e}"));
                return Ok(t);
            }
        };
        match reach(&sb, &c1, cn, 30, &log)? {
            Ok(_) => {
                t.reach = Some(start.elapsed().as_secs_f64());
                // Only an `up` that really built the network has a peak worth reporting.
                if self.method == Method::Netloom {
                    t.rss_kb = Some(up.maxrss_kb);
                }
            }
            Err(e) => {
                t.errors.push(format!("reach: {e}"));
                return Ok(t);
            }
        }

        if self.method == Method::Netloom {
            let noop = run(self.command(&sb, "up"), &log, step_timeout)?;
            match noop.ok {
                true => t.noop = Some(noop.elapsed.as_secs_f64()),
                false => t.errors.push(format!("no-op up: {}", noop.detail)),
            }
            let verify = run(self.command(&sb, "verify"), &log, step_timeout)?;
            match verify.ok {
                true => t.verify = Some(verify.elapsed.as_secs_f64()),
                false => t.errors.push(format!("verify: {}", verify.detail)),
            }
        }

        let d0 = Instant::now();
        let down = run(self.command(&sb, "down"), &log, step_timeout)?;
        if !down.ok {
            t.errors.push(format!("down: {}", down.detail));
            return Ok(t);
        }
        match anchor.wait_empty(Duration::from_secs(120))? {
            Ok(()) => t.down = Some(d0.elapsed().as_secs_f64()),
            Err(e) => t.errors.push(format!("down: {e}")),
        }
        Ok(t)
    }
}
