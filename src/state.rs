//! netloom's own records: what each topology created, kept in a state
//! directory (default /run/netloom, or $NETLOOM_STATE_DIR), plus the
//! machine-wide lock that serializes netloom processes.
//!
//! Records are written before the change they describe (write-ahead), so a
//! crash at any moment leaves records that name at least everything created.
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use fs2::FileExt;
use serde::{Deserialize, Serialize};

use crate::model::IfRef;

/// Errors reading or writing records, or taking the lock.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Filesystem trouble with the state directory.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A records file that does not parse.
    #[error("{path}: damaged records: {message}")]
    Damaged {
        /// The records file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Another netloom process holds the machine-wide lock.
    #[error("another netloom is running ({holder}); try again when it has finished")]
    Locked {
        /// Who holds it, as that process wrote it.
        holder: String,
    },
}

/// The records of one topology.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Records {
    /// Topology name.
    pub name: String,
    /// Path of the file last applied (for `down` by name).
    pub file: Option<String>,
    /// Nodes whose namespace netloom created (or was about to create).
    pub namespaces: BTreeSet<String>,
    /// Nodes where netloom made its nftables table.
    pub nat: BTreeSet<String>,
    /// Sysctl values before netloom first changed them: node -> key -> value.
    pub sysctls: BTreeMap<String, BTreeMap<String, String>>,
    /// Processes netloom started (teamd, dnsmasq), to stop on `down`.
    pub processes: Vec<Process>,
    /// Links netloom is about to create, written before the create request
    /// and forgotten once the link carries its ownership mark: a link found
    /// unmarked under one of these names was made by a netloom killed between
    /// creating and marking it (docs/safety.md, "crash windows").
    #[serde(default)]
    pub links: BTreeSet<IfRef>,
    /// Bridges built with multicast snooping off, to get it on once their
    /// ports are up (see plan::kind::bridge): written ahead with the plan and
    /// forgotten once it is on, so that a netloom killed in between leaves
    /// the next `up` a reason to turn it on.
    #[serde(default)]
    pub quiet_bridges: BTreeSet<IfRef>,
    /// Nodes where netloom added forwarding entries (written ahead of
    /// each), so that their entries are read, and deleted once the file no
    /// longer lists them: reading them costs a dump quadratic in a bridge's
    /// ports, so it is made only where the file or these records put some.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub fdb: BTreeSet<String>,
}

/// A process netloom started and supervises.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Process {
    /// Node it runs in.
    pub node: String,
    /// What it is for, e.g. `teamd team0`.
    pub what: String,
    /// Its pid.
    pub pid: u32,
}

impl Records {
    /// Whether these records, read as topology `topo`'s, name only what the
    /// file's grammar allows: node names become namespace names and teamd
    /// directories, so a damaged or planted records file must not lead
    /// `down` outside netloom's own (`../x`).
    fn check_names(&self, topo: &str) -> Result<(), String> {
        if self.name != topo {
            return Err(format!("they are named {:?}, not {topo:?}", self.name));
        }
        let nodes = self
            .namespaces
            .iter()
            .chain(&self.nat)
            .chain(self.sysctls.keys())
            .chain(self.processes.iter().map(|p| &p.node))
            .chain(&self.fdb)
            .chain(
                self.links
                    .iter()
                    .chain(&self.quiet_bridges)
                    .map(|l| &l.node),
            );
        for node in nodes {
            if node != crate::model::HOST && !crate::spec::node::node_name_ok(node) {
                return Err(format!("{node:?} is not a node name"));
            }
        }
        Ok(())
    }

    /// True when the records name nothing left to clean.
    pub fn is_empty(&self) -> bool {
        self.namespaces.is_empty()
            && self.nat.is_empty()
            && self.sysctls.values().all(|m| m.is_empty())
            && self.processes.is_empty()
            && self.links.is_empty()
            && self.quiet_bridges.is_empty()
            && self.fdb.is_empty()
    }
}

/// The state directory and the records in it.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Store {
    /// The store at $NETLOOM_STATE_DIR, else /run/netloom.
    pub fn from_env() -> Store {
        let dir = std::env::var_os("NETLOOM_STATE_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/run/netloom"));
        Store { dir }
    }

    /// A store in a given directory.
    pub fn at(dir: impl Into<PathBuf>) -> Store {
        Store { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, topo: &str) -> PathBuf {
        self.dir.join(format!("{topo}.json"))
    }

    /// Read a topology's records; empty records when there are none.
    pub fn load(&self, topo: &str) -> Result<Records, StateError> {
        let path = self.path(topo);
        match fs::read_to_string(&path) {
            Ok(text) => {
                let rec: Records =
                    serde_json::from_str(&text).map_err(|e| StateError::Damaged {
                        path: path.clone(),
                        message: e.to_string(),
                    })?;
                rec.check_names(topo)
                    .map_err(|message| StateError::Damaged { path, message })?;
                Ok(rec)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Records {
                name: topo.to_string(),
                ..Records::default()
            }),
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    /// Write records atomically (temp file, fsync, rename); empty records remove the file.
    pub fn save(&self, rec: &Records) -> Result<(), StateError> {
        let path = self.path(&rec.name);
        if rec.is_empty() {
            return match fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err(&path)(e)),
                _ => Ok(()),
            };
        }
        fs::create_dir_all(&self.dir).map_err(io_err(&self.dir))?;
        let tmp = self.dir.join(format!(".{}.json.tmp", rec.name));
        let text = serde_json::to_string_pretty(rec).map_err(|e| StateError::Damaged {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
        f.write_all(text.as_bytes()).map_err(io_err(&tmp))?;
        f.sync_all().map_err(io_err(&tmp))?;
        fs::rename(&tmp, &path).map_err(io_err(&path))
    }

    /// Remove a topology's records and any temp file a process killed in
    /// the middle of [`Store::save`] left beside them.
    pub fn remove(&self, topo: &str) -> Result<(), StateError> {
        for path in [self.path(topo), self.dir.join(format!(".{topo}.json.tmp"))] {
            match fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io_err(&path)(e)),
                _ => {}
            }
        }
        Ok(())
    }

    /// Names of every topology with records.
    pub fn topologies(&self) -> Result<Vec<String>, StateError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err(&self.dir)(e)),
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.'))
            .filter_map(|n| n.strip_suffix(".json").map(str::to_string))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Take the machine-wide lock without waiting; on failure name the holder.
    /// `what` describes this process for others to read (e.g. `netloom up lab.yaml`).
    pub fn lock(&self, what: &str) -> Result<Lock, StateError> {
        fs::create_dir_all(&self.dir).map_err(io_err(&self.dir))?;
        let path = self.dir.join("lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err(&path))?;
        if file.try_lock_exclusive().is_err() {
            return Err(StateError::Locked {
                holder: holder(&mut file),
            });
        }
        // Ours now: say who we are, for the message another process will show.
        // The stamp is one line written over the start of the file, then the
        // file is cut to it: a reader at any moment sees a whole first line.
        let stamp = format!("pid {}: {what}\n", std::process::id());
        file.seek(SeekFrom::Start(0)).map_err(io_err(&path))?;
        file.write_all(stamp.as_bytes()).map_err(io_err(&path))?;
        file.set_len(stamp.len() as u64).map_err(io_err(&path))?;
        Ok(Lock { _file: file })
    }
}

/// Who holds the lock, from the first line of the lock file. The holder
/// writes it just after taking the lock, so a line naming a process that is
/// gone (the previous holder) or no line at all means "not written yet":
/// read again, briefly.
fn holder(file: &mut File) -> String {
    let mut last = String::new();
    for _ in 0..100 {
        let mut text = String::new();
        if file.seek(SeekFrom::Start(0)).is_ok() && file.read_to_string(&mut text).is_ok() {
            last = text.lines().next().unwrap_or("").trim().to_string();
            let pid = last
                .strip_prefix("pid ")
                .and_then(|r| r.split(':').next())
                .and_then(|p| p.parse::<i32>().ok());
            let alive = pid.is_some_and(|p| {
                !matches!(
                    nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), None),
                    Err(nix::errno::Errno::ESRCH)
                )
            });
            if alive {
                return last;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    if last.is_empty() {
        "holder unknown".into()
    } else {
        last
    }
}

/// The machine-wide lock; released when dropped (or when the process dies).
pub struct Lock {
    _file: File,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("netloom-state-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn records_round_trip_and_empty_records_remove_the_file() {
        let store = Store::at(tmpdir("rt"));
        let mut rec = store.load("lab").unwrap();
        assert!(rec.is_empty());
        rec.namespaces.insert("c1".into());
        rec.sysctls
            .entry("host".into())
            .or_default()
            .insert("net.ipv4.ip_forward".into(), "0".into());
        store.save(&rec).unwrap();
        assert_eq!(store.load("lab").unwrap(), rec);
        assert_eq!(store.topologies().unwrap(), vec!["lab".to_string()]);
        rec.namespaces.clear();
        rec.sysctls.clear();
        store.save(&rec).unwrap();
        assert!(store.topologies().unwrap().is_empty());
        let _ = fs::remove_dir_all(store.dir());
    }

    #[test]
    fn damaged_records_are_an_error_not_a_silent_reset() {
        let store = Store::at(tmpdir("dmg"));
        fs::create_dir_all(store.dir()).unwrap();
        fs::write(store.dir().join("lab.json"), "{not json").unwrap();
        assert!(matches!(store.load("lab"), Err(StateError::Damaged { .. })));
        let _ = fs::remove_dir_all(store.dir());
    }

    #[test]
    fn records_naming_what_no_file_can_are_damaged() {
        let store = Store::at(tmpdir("names"));
        fs::create_dir_all(store.dir()).unwrap();
        let planted = [
            r#"{"name":"lab","file":null,"namespaces":["../../x"],"nat":[],"sysctls":{},"processes":[]}"#,
            r#"{"name":"lab","file":null,"namespaces":[],"nat":[],"sysctls":{},"processes":[{"node":"a/../b","what":"teamd t0","pid":1}]}"#,
            r#"{"name":"other","file":null,"namespaces":["a"],"nat":[],"sysctls":{},"processes":[]}"#,
        ];
        for text in planted {
            fs::write(store.dir().join("lab.json"), text).unwrap();
            let e = store.load("lab").unwrap_err();
            assert!(matches!(e, StateError::Damaged { .. }), "{text}: {e}");
        }
        let fine = r#"{"name":"lab","file":null,"namespaces":["a","host"],"nat":[],"sysctls":{},"processes":[]}"#;
        fs::write(store.dir().join("lab.json"), fine).unwrap();
        assert_eq!(store.load("lab").unwrap().namespaces.len(), 2);
        let _ = fs::remove_dir_all(store.dir());
    }

    #[test]
    fn second_lock_names_the_holder() {
        let store = Store::at(tmpdir("lock"));
        let held = store.lock("netloom up a.yaml").unwrap();
        match store.lock("netloom up b.yaml") {
            Err(StateError::Locked { holder }) => {
                assert!(holder.contains("netloom up a.yaml"), "{holder}")
            }
            other => panic!("expected Locked, got {:?}", other.err()),
        }
        drop(held);
        assert!(store.lock("netloom up b.yaml").is_ok());
        let _ = fs::remove_dir_all(store.dir());
    }
}
