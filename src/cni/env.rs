//! The CNI_* environment of one invocation, checked per verb against what
//! the spec requires (SPEC.md "Parameters" and each verb's "Input").
use std::collections::BTreeMap;
use std::path::PathBuf;

use super::error::{CniError, INVALID_ENV};

/// The verbs of CNI 1.1.0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// Add a container to the network.
    Add,
    /// Remove it.
    Del,
    /// Check it is as ADD left it.
    Check,
    /// Is the plugin ready for ADD?
    Status,
    /// Which versions the plugin speaks.
    Version,
    /// Remove what belongs to attachments no longer valid.
    Gc,
}

impl Verb {
    /// The verb as CNI_COMMAND spells it.
    pub fn word(self) -> &'static str {
        match self {
            Verb::Add => "ADD",
            Verb::Del => "DEL",
            Verb::Check => "CHECK",
            Verb::Status => "STATUS",
            Verb::Version => "VERSION",
            Verb::Gc => "GC",
        }
    }

    fn parse(s: &str) -> Option<Verb> {
        Some(match s {
            "ADD" => Verb::Add,
            "DEL" => Verb::Del,
            "CHECK" => Verb::Check,
            "STATUS" => Verb::Status,
            "VERSION" => Verb::Version,
            "GC" => Verb::Gc,
            _ => return None,
        })
    }
}

/// One invocation's parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// CNI_COMMAND.
    pub verb: Verb,
    /// CNI_CONTAINERID (empty for STATUS, VERSION and GC).
    pub container_id: String,
    /// CNI_NETNS, when given.
    pub netns: Option<PathBuf>,
    /// CNI_IFNAME (empty for STATUS, VERSION and GC).
    pub ifname: String,
    /// CNI_ARGS as key/value pairs.
    pub args: Vec<(String, String)>,
    /// CNI_PATH's directories.
    pub path: Vec<PathBuf>,
}

/// Whether `id` is a container ID as the spec defines it: an alphanumeric
/// first character, then alphanumerics, `_`, `.` or `-`.
pub fn container_id_ok(id: &str) -> bool {
    let mut b = id.bytes();
    b.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// Whether `name` is an interface name the spec (and the kernel's
/// dev_valid_name) accepts: 1 to 15 bytes, not `.` or `..`, no `/`, `:`
/// or whitespace.
pub fn ifname_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() < 16
        && name != "."
        && name != ".."
        && !name
            .bytes()
            .any(|c| c == b'/' || c == b':' || c.is_ascii_whitespace() || c == 0)
}

/// Read the invocation from `vars` (the process environment).
pub fn parse(vars: &BTreeMap<String, String>) -> Result<Invocation, CniError> {
    let get = |k: &str| vars.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let bad = |names: Vec<&str>, why: String| {
        CniError::new(
            INVALID_ENV,
            format!("invalid or missing environment: {}", names.join(", ")),
        )
        .with(why)
    };
    let verb = match get("CNI_COMMAND") {
        None => return Err(bad(vec!["CNI_COMMAND"], "CNI_COMMAND is not set".into())),
        Some(c) => Verb::parse(c).ok_or_else(|| {
            bad(
                vec!["CNI_COMMAND"],
                format!("CNI_COMMAND={c:?} is none of ADD, DEL, CHECK, STATUS, VERSION, GC"),
            )
        })?,
    };
    let (need_id, need_netns, need_if) = match verb {
        Verb::Add | Verb::Check => (true, true, true),
        Verb::Del => (true, false, true),
        Verb::Status | Verb::Version | Verb::Gc => (false, false, false),
    };
    let mut missing = Vec::new();
    let mut why = Vec::new();
    for (k, needed) in [
        ("CNI_CONTAINERID", need_id),
        ("CNI_NETNS", need_netns),
        ("CNI_IFNAME", need_if),
    ] {
        if needed && get(k).is_none() {
            missing.push(k);
            why.push(format!("{k} is required for {}", verb.word()));
        }
    }
    if verb == Verb::Gc && get("CNI_PATH").is_none() {
        missing.push("CNI_PATH");
        why.push("CNI_PATH is required for GC".into());
    }
    let container_id = if need_id {
        get("CNI_CONTAINERID").unwrap_or("")
    } else {
        ""
    };
    if !container_id.is_empty() && !container_id_ok(container_id) {
        missing.push("CNI_CONTAINERID");
        why.push(format!(
            "CNI_CONTAINERID={container_id:?} must start with a letter or digit, then letters, digits, `_`, `.` or `-`"
        ));
    }
    let ifname = if need_if {
        get("CNI_IFNAME").unwrap_or("")
    } else {
        ""
    };
    if !ifname.is_empty() && !ifname_ok(ifname) {
        missing.push("CNI_IFNAME");
        why.push(format!(
            "CNI_IFNAME={ifname:?} is not an interface name (1-15 bytes, not . or .., no /, : or space)"
        ));
    }
    let args = match get("CNI_ARGS") {
        None => Vec::new(),
        Some(a) => a
            .split(';')
            .filter(|kv| !kv.is_empty())
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
                _ => Err(kv.to_string()),
            })
            .collect::<Result<Vec<_>, String>>()
            .unwrap_or_else(|kv| {
                missing.push("CNI_ARGS");
                why.push(format!("CNI_ARGS holds {kv:?}, not KEY=VALUE"));
                Vec::new()
            }),
    };
    if !missing.is_empty() {
        return Err(bad(missing, why.join("; ")));
    }
    Ok(Invocation {
        verb,
        container_id: container_id.to_string(),
        netns: if need_netns || verb == Verb::Del {
            get("CNI_NETNS").map(PathBuf::from)
        } else {
            None
        },
        ifname: ifname.to_string(),
        args,
        path: get("CNI_PATH")
            .map(|p| {
                p.split(':')
                    .filter(|d| !d.is_empty())
                    .map(PathBuf::from)
                    .collect()
            })
            .unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn each_verb_requires_what_the_spec_says() {
        let full = [
            ("CNI_CONTAINERID", "c1"),
            ("CNI_NETNS", "/run/netns/c1"),
            ("CNI_IFNAME", "eth0"),
            ("CNI_PATH", "/usr/lib/cni"),
        ];
        for verb in ["ADD", "CHECK", "DEL", "GC", "STATUS", "VERSION"] {
            let mut v = vars(&full);
            v.insert("CNI_COMMAND".into(), verb.into());
            assert!(parse(&v).is_ok(), "{verb} with everything");
        }
        let e = parse(&vars(&[("CNI_COMMAND", "ADD"), ("CNI_IFNAME", "eth0")])).unwrap_err();
        assert_eq!(e.code, INVALID_ENV);
        assert!(
            e.msg.contains("CNI_CONTAINERID") && e.msg.contains("CNI_NETNS"),
            "{e}"
        );
        // DEL without a namespace is fine; GC needs only CNI_PATH.
        assert!(parse(&vars(&[
            ("CNI_COMMAND", "DEL"),
            ("CNI_CONTAINERID", "c1"),
            ("CNI_IFNAME", "eth0")
        ]))
        .is_ok());
        assert!(parse(&vars(&[("CNI_COMMAND", "GC")]))
            .unwrap_err()
            .msg
            .contains("CNI_PATH"));
        assert!(parse(&vars(&[("CNI_COMMAND", "STATUS")])).is_ok());
        assert!(parse(&vars(&[])).unwrap_err().msg.contains("CNI_COMMAND"));
        assert!(parse(&vars(&[("CNI_COMMAND", "FINALIZE")])).is_err());
    }

    #[test]
    fn names_follow_the_spec() {
        for ok in ["a", "0abc", "a_b.c-d"] {
            assert!(container_id_ok(ok), "{ok}");
        }
        for bad in ["", "-a", "_a", "a b", "a/b"] {
            assert!(!container_id_ok(bad), "{bad}");
        }
        for ok in ["eth0", "net1", "a-very-long-nam"] {
            assert!(ifname_ok(ok), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "a:b", "a b", "sixteen-bytes-xx"] {
            assert!(!ifname_ok(bad), "{bad}");
        }
    }

    #[test]
    fn cni_args_and_path_are_split() {
        let v = vars(&[
            ("CNI_COMMAND", "DEL"),
            ("CNI_CONTAINERID", "c1"),
            ("CNI_IFNAME", "eth0"),
            ("CNI_ARGS", "IgnoreUnknown=1;K8S_POD_NAME=x"),
            ("CNI_PATH", "/a:/b"),
        ]);
        let inv = parse(&v).unwrap();
        assert_eq!(inv.args.len(), 2);
        assert_eq!(inv.path, vec![PathBuf::from("/a"), PathBuf::from("/b")]);
        let mut bad = v.clone();
        bad.insert("CNI_ARGS".into(), "novalue".into());
        assert!(parse(&bad).unwrap_err().msg.contains("CNI_ARGS"));
    }
}
