//! Sysctls of a namespace, read and written through /proc/sys from inside it.
//!
//! Key rule: a key is dotted (`net.ipv4.ip_forward`) and every `.` becomes a
//! `/` in the path, except that a `/` in the key is kept as a literal `.` in
//! the path. So an interface named `eth0.10` is written
//! `net.ipv6.conf.eth0/10.forwarding` (the same convention as sysctl(8)).
//! A key may also be given in path form (`net/ipv4/ip_forward`); it is then
//! used as is.
use std::io;
use std::path::PathBuf;

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

/// Read a sysctl in `ns`; `None` when the key does not exist there.
/// The value is trimmed of its trailing newline.
pub fn read(ns: &Netns, key: &str) -> Result<Option<String>, KernelError> {
    let path = key_path(key)?;
    let got = run_in(ns, || std::fs::read_to_string(&path))?;
    match got {
        Ok(v) => Ok(Some(v.trim_end_matches('\n').to_string())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(KernelError::io(format!("{}: sysctl {key}", ns.label()), e)),
    }
}

/// Write a sysctl in `ns`.
pub fn write(ns: &Netns, key: &str, value: &str) -> Result<(), KernelError> {
    let path = key_path(key)?;
    run_in(ns, || std::fs::write(&path, value))?
        .map_err(|e| KernelError::io(format!("{}: sysctl {key}", ns.label()), e))
}

/// Read many sysctls in `ns` on one helper thread; absent keys are left out.
pub fn read_many(ns: &Netns, keys: &[String]) -> Result<Vec<(String, String)>, KernelError> {
    let paths = keys
        .iter()
        .map(|k| Ok((k.clone(), key_path(k)?)))
        .collect::<Result<Vec<_>, KernelError>>()?;
    let results = run_in(ns, || {
        paths
            .into_iter()
            .map(|(k, p)| (k, std::fs::read_to_string(p)))
            .collect::<Vec<_>>()
    })?;
    let mut out = Vec::new();
    for (k, r) in results {
        match r {
            Ok(v) => out.push((k, v.trim_end_matches('\n').to_string())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(KernelError::io(format!("{}: sysctl {k}", ns.label()), e)),
        }
    }
    Ok(out)
}

/// [`read_many`] for several namespaces, on one helper thread that enters
/// each in turn; results in the order asked.
pub fn read_each(
    asked: &[(std::sync::Arc<Netns>, Vec<String>)],
) -> Result<Vec<Vec<(String, String)>>, KernelError> {
    let mut paths = Vec::with_capacity(asked.len());
    for (_, keys) in asked {
        let p = keys
            .iter()
            .map(|k| Ok((k.clone(), key_path(k)?)))
            .collect::<Result<Vec<_>, KernelError>>()?;
        paths.push(p);
    }
    let nss: Vec<&Netns> = asked.iter().map(|(ns, _)| ns.as_ref()).collect();
    let mut next = paths.into_iter();
    let results = run_in_each(&nss, |_| {
        next.next()
            .unwrap_or_default()
            .into_iter()
            .map(|(k, p)| (k, std::fs::read_to_string(p)))
            .collect::<Vec<_>>()
    })?;
    let mut out = Vec::with_capacity(results.len());
    for (r, ns) in results.into_iter().zip(&nss) {
        let mut values = Vec::new();
        for (k, v) in r? {
            match v {
                Ok(v) => values.push((k, v.trim_end_matches('\n').to_string())),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(KernelError::io(format!("{}: sysctl {k}", ns.label()), e)),
            }
        }
        out.push(values);
    }
    Ok(out)
}

/// One write for [`write_each`]: where, what, and who to tell the result.
pub struct Write {
    /// The namespace.
    pub netns: std::sync::Arc<Netns>,
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
    /// Called with the result.
    pub done: Box<dyn FnOnce(Result<(), KernelError>) + Send>,
}

/// Do `writes` on one helper thread that enters each namespace in turn.
pub fn write_each(writes: Vec<Write>) {
    let mut todo = Vec::with_capacity(writes.len());
    let mut nss = Vec::with_capacity(writes.len());
    for w in writes {
        match key_path(&w.key) {
            Ok(p) => {
                nss.push(w.netns.clone());
                todo.push((p, w));
            }
            Err(e) => (w.done)(Err(e)),
        }
    }
    let refs: Vec<&Netns> = nss.iter().map(|n| n.as_ref()).collect();
    let jobs: Vec<(PathBuf, String)> = todo
        .iter()
        .map(|(p, w)| (p.clone(), w.value.clone()))
        .collect();
    let mut next = jobs.iter();
    let results = run_in_each(&refs, |_| {
        next.next()
            .map(|(p, v)| std::fs::write(p, v))
            .unwrap_or(Ok(()))
    });
    match results {
        Ok(rs) => {
            for (r, (_, w)) in rs.into_iter().zip(todo) {
                let object = format!("{}: sysctl {}", w.netns.label(), w.key);
                (w.done)(r.and_then(|r| r.map_err(|e| KernelError::io(object, e))));
            }
        }
        Err(e) => {
            let message = e.to_string();
            for (_, w) in todo {
                (w.done)(Err(KernelError::Decode {
                    object: format!("sysctl {}", w.key),
                    message: message.clone(),
                }));
            }
        }
    }
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
