//! Sysctls of a namespace, read and written through /proc/sys from inside it.
//!
//! Key rule: a key is dotted (`net.ipv4.ip_forward`) and every `.` becomes a
//! `/` in the path, except that a `/` in the key is kept as a literal `.` in
//! the path. So an interface named `eth0.10` is written
//! `net.ipv6.conf.eth0/10.forwarding` (the same convention as sysctl(8)).
//! A key may also be given in path form (`net/ipv4/ip_forward`); it is then
//! used as is.
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::fcntl::{open, openat, OFlag};
use nix::sys::stat::Mode;

use super::error::KernelError;
use super::netns::{run_in, run_in_each, Netns};

/// The /proc/sys path for `key`, following the module's key rule.
pub fn key_path(key: &str) -> Result<PathBuf, KernelError> {
    let invalid = |message: &str| KernelError::Invalid {
        object: format!("sysctl {key}"),
        message: message.to_string(),
    };
    if key.is_empty() || key.starts_with(['.', '/']) || key.ends_with(['.', '/']) {
        return Err(invalid("not a sysctl key like net.ipv4.ip_forward"));
    }
    let rel: String = if key.contains('.') {
        key.chars()
            .map(|c| match c {
                '.' => '/',
                '/' => '.',
                c => c,
            })
            .collect()
    } else {
        key.to_string()
    };
    if rel.split('/').any(|seg| seg.is_empty() || seg == "..") || rel.contains('\0') {
        return Err(invalid("not a sysctl key like net.ipv4.ip_forward"));
    }
    Ok(PathBuf::from("/proc/sys").join(rel))
}

/// Opens /proc/sys files from inside one namespace, looking each
/// `/proc/sys/<a>/<b>` directory (`net/ipv6`, `net/ipv4`, ...) up once.
///
/// Why: the `net` directory dentries of every namespace share one parent and
/// one name, so they hang in one hash chain of the dcache, and every lookup
/// walks it, one entry per namespace that has used /proc/sys/net (each
/// compared under a global lock): over 1000 containers, quadratic, a third
/// of a no-op `up`. So the lookups are made in a procfs instance of this
/// thread's own (see [`PrivateProc`]), whose chains only hold the few
/// namespaces looked up through it; below the directory every namespace has
/// its own dentries, so the rest of the path is looked up cheaply relative
/// to it.
#[derive(Default)]
struct Opener {
    dirs: HashMap<PathBuf, OwnedFd>,
}

/// How many namespaces one private procfs instance serves before a fresh
/// one replaces it: its hash chains grow by one entry per namespace, and a
/// new instance costs about as much as 30 lookups in a short chain
/// (measured: 16-64 are equally good at 1000 namespaces).
const PRIVATE_PROC_USES: usize = 32;

/// A procfs instance mounted nowhere (fsopen(2)/fsmount(2): a detached
/// mount, gone when its fd is closed), or `None` where the kernel or a
/// security policy refuses one: /proc is used then.
struct PrivateProc {
    root: Option<OwnedFd>,
    uses: usize,
}

thread_local! {
    /// This thread's private procfs instance (created on first use).
    static PRIVATE_PROC: std::cell::RefCell<Option<PrivateProc>> =
        const { std::cell::RefCell::new(None) };
}

/// Open directory `rel` (below /proc) for one more namespace: through this
/// thread's private procfs instance, or /proc where there is none.
fn open_proc_dir(rel: &Path) -> io::Result<OwnedFd> {
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    PRIVATE_PROC.with_borrow_mut(|p| {
        let p = p.get_or_insert_with(|| PrivateProc {
            root: super::sys::detached_proc().ok(),
            uses: 0,
        });
        if p.root.is_some() && p.uses >= PRIVATE_PROC_USES {
            // Keep the old instance should a new one be refused.
            if let Ok(fresh) = super::sys::detached_proc() {
                p.root = Some(fresh);
            }
            p.uses = 0;
        }
        p.uses += 1;
        Ok(match &p.root {
            Some(root) => openat(root, rel, flags, Mode::empty())?,
            None => open(&Path::new("/proc").join(rel), flags, Mode::empty())?,
        })
    })
}

impl Opener {
    /// Open `path` (a [`key_path`]) for reading or for writing.
    fn open(&mut self, path: &Path, write: bool) -> io::Result<File> {
        let mode = if write {
            OFlag::O_WRONLY
        } else {
            OFlag::O_RDONLY
        };
        let parts: Vec<_> = path.components().collect();
        if parts.len() <= 6 {
            return Ok(File::from(open(
                path,
                mode | OFlag::O_CLOEXEC,
                Mode::empty(),
            )?));
        }
        // parts: "/", "proc", "sys", <a>, <b>, rest...
        let dir: PathBuf = parts[2..5].iter().collect();
        let rest: PathBuf = parts[5..].iter().collect();
        if !self.dirs.contains_key(&dir) {
            let fd = open_proc_dir(&dir)?;
            self.dirs.insert(dir.clone(), fd);
        }
        let fd = &self.dirs[&dir];
        Ok(File::from(openat(
            fd,
            &rest,
            mode | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?))
    }

    /// Read the value at `path`, without its trailing newline.
    fn read(&mut self, path: &Path) -> io::Result<String> {
        let mut text = String::new();
        self.open(path, false)?.read_to_string(&mut text)?;
        Ok(text.trim_end_matches('\n').to_string())
    }
}

/// Read a sysctl in `ns`; `None` when the key does not exist there.
/// The value is trimmed of its trailing newline.
pub fn read(ns: &Netns, key: &str) -> Result<Option<String>, KernelError> {
    Ok(read_many(ns, &[key.to_string()])?.pop().map(|(_, v)| v))
}

/// Write a sysctl in `ns`.
pub fn write(ns: &Netns, key: &str, value: &str) -> Result<(), KernelError> {
    let path = key_path(key)?;
    run_in(ns, || Opener::default().open(&path, true))?
        .and_then(|mut f| f.write_all(value.as_bytes()))
        .map_err(|e| KernelError::io(format!("{}: sysctl {key}", ns.label()), e))
}

/// Read many sysctls in `ns` on one helper thread; absent keys are left out.
pub fn read_many(ns: &Netns, keys: &[String]) -> Result<Vec<(String, String)>, KernelError> {
    Ok(read_in(&[ns], &[keys])?.pop().unwrap_or_default())
}

/// [`read_many`] for several namespaces, on helper threads that enter each
/// in turn; results in the order asked.
pub fn read_each(
    asked: &[(std::sync::Arc<Netns>, Vec<String>)],
) -> Result<Vec<Vec<(String, String)>>, KernelError> {
    let nss: Vec<&Netns> = asked.iter().map(|(ns, _)| ns.as_ref()).collect();
    let keys: Vec<&[String]> = asked.iter().map(|(_, k)| k.as_slice()).collect();
    read_in(&nss, &keys)
}

/// Read `keys[i]` in `nss[i]`, for every i.
fn read_in(nss: &[&Netns], keys: &[&[String]]) -> Result<Vec<Vec<(String, String)>>, KernelError> {
    run_in_each(nss, |i, ns| read_here(keys[i], &ns.label()))?
        .into_iter()
        .map(|r| r?)
        .collect()
}

/// Read `keys` in the calling thread's namespace (named `label` in errors);
/// absent keys are left out.
pub fn read_here(keys: &[String], label: &str) -> Result<Vec<(String, String)>, KernelError> {
    let mut opener = Opener::default();
    let mut values = Vec::with_capacity(keys.len());
    for k in keys {
        match opener.read(&key_path(k)?) {
            Ok(v) => values.push((k.clone(), v)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(KernelError::io(format!("{label}: sysctl {k}"), e)),
        }
    }
    Ok(values)
}

/// The values `keys` have in a namespace made now: read on a dedicated
/// thread in a throwaway network namespace of its own (gone with the
/// thread). A per-interface key is read as its `default` key, which a new
/// link takes. Absent keys are left out.
pub fn fresh(keys: &[String]) -> Result<std::collections::BTreeMap<String, String>, KernelError> {
    if keys.is_empty() {
        return Ok(Default::default());
    }
    let asked: Vec<(String, String)> = keys
        .iter()
        .map(|k| {
            (
                k.clone(),
                crate::effects::sysctl::default_of(k).unwrap_or(k.clone()),
            )
        })
        .collect();
    let object = "fresh namespace".to_string();
    let thread = std::thread::Builder::new()
        .name("netloom-fresh".into())
        .spawn(move || {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(|e| KernelError::io("fresh namespace: unshare", e.into()))?;
            let read: Vec<String> = asked.iter().map(|(_, r)| r.clone()).collect();
            let values: std::collections::BTreeMap<String, String> =
                read_here(&read, "fresh namespace")?.into_iter().collect();
            Ok(asked
                .into_iter()
                .filter_map(|(k, r)| values.get(&r).map(|v| (k, v.clone())))
                .collect())
        })
        .map_err(|e| KernelError::io(object.clone(), e))?;
    thread.join().map_err(|_| KernelError::Thread { object })?
}

/// Open the files of many sysctl keys for writing, each inside its
/// namespace, on helper threads (see [`run_in_each`]); results in the order
/// asked. Opening is the costly part of a write (the lookup, see `Opener`)
/// and takes no lock, so it is done apart from the writes themselves, which
/// [`write_file`] makes.
pub fn open_each(
    asked: &[(std::sync::Arc<Netns>, String)],
) -> Result<Vec<Result<File, KernelError>>, KernelError> {
    // Keys of one namespace share its opener: group them, keeping order.
    let mut groups: Vec<(std::sync::Arc<Netns>, Vec<usize>)> = Vec::new();
    for (i, (ns, _)) in asked.iter().enumerate() {
        match groups
            .iter_mut()
            .find(|(g, _)| std::sync::Arc::ptr_eq(g, ns))
        {
            Some((_, members)) => members.push(i),
            None => groups.push((ns.clone(), vec![i])),
        }
    }
    let nss: Vec<&Netns> = groups.iter().map(|(ns, _)| ns.as_ref()).collect();
    let opened = run_in_each(&nss, |g, _| {
        let mut opener = Opener::default();
        groups[g]
            .1
            .iter()
            .map(|&i| {
                let key = &asked[i].1;
                let object = || format!("{}: sysctl {key}", asked[i].0.label());
                let path = key_path(key)?;
                opener
                    .open(&path, true)
                    .map_err(|e| KernelError::io(object(), e))
            })
            .collect::<Vec<_>>()
    })?;
    let mut out: Vec<Option<Result<File, KernelError>>> = (0..asked.len()).map(|_| None).collect();
    for ((_, members), files) in groups.iter().zip(opened) {
        match files {
            Ok(files) => {
                for (&i, f) in members.iter().zip(files) {
                    out[i] = Some(f);
                }
            }
            Err(e) => {
                for &i in members {
                    out[i] = Some(Err(KernelError::Decode {
                        object: format!("sysctl {}", asked[i].1),
                        message: e.to_string(),
                    }));
                }
            }
        }
    }
    Ok(out
        .into_iter()
        .map(|f| f.expect("every key opened"))
        .collect())
}

/// Write `value` to a sysctl file opened by [`open_each`] (one write, as
/// the kernel's sysctl handlers expect).
pub fn write_file(file: &mut File, value: &str) -> io::Result<()> {
    file.write_all(value.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_keys_map_to_paths_and_slash_keeps_a_dot() {
        assert_eq!(
            key_path("net.ipv4.ip_forward").unwrap(),
            PathBuf::from("/proc/sys/net/ipv4/ip_forward")
        );
        assert_eq!(
            key_path("net.ipv6.conf.eth0/10.forwarding").unwrap(),
            PathBuf::from("/proc/sys/net/ipv6/conf/eth0.10/forwarding")
        );
        assert_eq!(
            key_path("net/ipv4/ip_forward").unwrap(),
            PathBuf::from("/proc/sys/net/ipv4/ip_forward")
        );
    }

    #[test]
    fn bad_keys_are_refused() {
        for k in [
            "",
            ".net",
            "net.",
            "net..ipv4",
            "net/../../etc",
            "net.ipv4..x",
        ] {
            assert!(key_path(k).is_err(), "{k}");
        }
    }
}
