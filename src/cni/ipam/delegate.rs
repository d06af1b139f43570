//! Delegating address management to an IPAM plugin (SPEC.md section 4):
//! found by name in CNI_PATH, run with the same environment and the whole
//! configuration, its stderr passed through, its result or error read
//! from stdout.
//!
//! One liberty, for plugins older than the request: a plugin that does not
//! speak the request's version (Debian's reference plugins stop at 1.0.0)
//! is asked in the highest version both speak, as its VERSION answer says,
//! and its result is read in that version; without this no 1.1.0
//! configuration could use them at all.
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Map, Value};

use super::super::error::{CniError, DELEGATE, IO_FAILURE};
use super::super::result::CniResult;
use super::super::version;

/// A plugin to delegate to.
pub struct Delegate<'a> {
    /// Its executable.
    pub exe: PathBuf,
    /// The environment of this invocation.
    pub vars: &'a BTreeMap<String, String>,
}

impl<'a> Delegate<'a> {
    /// Find `plugin` in the directories of CNI_PATH.
    pub fn find(
        plugin: &str,
        path: &[PathBuf],
        vars: &'a BTreeMap<String, String>,
    ) -> Result<Delegate<'a>, CniError> {
        path.iter()
            .map(|d| d.join(plugin))
            .find(|p| is_executable(p))
            .map(|exe| Delegate { exe, vars })
            .ok_or_else(|| {
                CniError::new(DELEGATE, format!("IPAM plugin {plugin} not found")).with(format!(
                    "no executable {plugin} in CNI_PATH ({})",
                    path.iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(":")
                ))
            })
    }

    /// The versions the plugin speaks (its VERSION answer).
    pub fn versions(&self) -> Result<Vec<String>, CniError> {
        let out = self.call("VERSION", br#"{"cniVersion":"1.1.0"}"#)?;
        let v: Value = serde_json::from_str(&out).map_err(|e| self.garbled(&e.to_string()))?;
        Ok(v["supportedVersions"]
            .as_array()
            .map(|l| {
                l.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// The version to ask the plugin in, for a request of version `want`:
    /// `want` when it speaks it, else the newest both speak; `None` when
    /// there is none.
    pub fn version_for(&self, want: &str) -> Result<Option<String>, CniError> {
        // Every reference plugin speaks up to 1.0.0: ask only when newer.
        if version::parse(want) <= Some((1, 0, 0)) {
            return Ok(Some(want.to_string()));
        }
        let theirs = self.versions()?;
        if theirs.iter().any(|v| v == want) {
            return Ok(Some(want.to_string()));
        }
        Ok(theirs
            .into_iter()
            .filter(|v| version::supported(v) && version::parse(v) <= version::parse(want))
            .max_by_key(|v| version::parse(v)))
    }

    /// Run `verb` with configuration `conf` written in version `v`; the
    /// stdout of a successful run.
    pub fn run(&self, verb: &str, conf: &Map<String, Value>, v: &str) -> Result<String, CniError> {
        let mut conf = conf.clone();
        conf.insert("cniVersion".into(), Value::String(v.to_string()));
        conf.remove("cniVersions");
        let text = serde_json::to_vec(&conf).map_err(|e| self.garbled(&e.to_string()))?;
        self.call(verb, &text)
    }

    /// ADD: the IPAM result, read in the version it was asked in.
    pub fn add(&self, conf: &Map<String, Value>, v: &str) -> Result<CniResult, CniError> {
        let out = self.run("ADD", conf, v)?;
        serde_json::from_str(&out).map_err(|e| self.garbled(&format!("{e}: {out}")))
    }

    fn call(&self, verb: &str, stdin: &[u8]) -> Result<String, CniError> {
        let mut child = Command::new(&self.exe)
            .env_clear()
            .envs(self.vars)
            .env("CNI_COMMAND", verb)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| {
                CniError::new(IO_FAILURE, format!("cannot run {}", self.exe.display()))
                    .with(e.to_string())
            })?;
        if let Some(mut i) = child.stdin.take() {
            // A plugin that exits without reading is judged by its answer.
            let _ = i.write_all(stdin);
        }
        let out = child.wait_with_output().map_err(|e| {
            CniError::new(IO_FAILURE, format!("waiting for {}", self.exe.display()))
                .with(e.to_string())
        })?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            return Ok(text);
        }
        // Its own error, passed on with its code (a "try again later"
        // stays one), its name put in front.
        let name = self.exe.file_name().unwrap_or_default().to_string_lossy();
        Err(match serde_json::from_str::<Value>(&text) {
            Ok(v) if v["code"].is_u64() => CniError::new(
                v["code"].as_u64().unwrap_or(DELEGATE as u64) as u32,
                format!(
                    "IPAM plugin {name}: {}",
                    v["msg"].as_str().unwrap_or("failed")
                ),
            )
            .with(v["details"].as_str().unwrap_or("").to_string()),
            _ => CniError::new(
                DELEGATE,
                format!("IPAM plugin {name} failed ({})", out.status),
            )
            .with(text.trim().to_string()),
        })
    }

    fn garbled(&self, why: &str) -> CniError {
        CniError::new(
            DELEGATE,
            format!(
                "IPAM plugin {} answered something unreadable",
                self.exe.display()
            ),
        )
        .with(why.to_string())
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
