//! Shell wildcards in `source` and `source-directory` paths (ifupdown
//! expands them with wordexp(3)): `*`, `?` and `[...]` per path component,
//! a leading `.` matched only by a literal `.`, results sorted.
use std::path::{Path, PathBuf};

/// Whether `pattern` holds a wildcard.
pub fn has_wildcard(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}

/// The paths matching `pattern` (a path as shown, with its on-disk form
/// given by `disk`), sorted; a pattern without wildcards gives itself
/// when it exists. Returns (path to read, path to show) pairs.
pub fn expand(shown: &str, disk: impl Fn(&str) -> PathBuf) -> Vec<(PathBuf, String)> {
    let absolute = shown.starts_with('/');
    let parts: Vec<&str> = shown.split('/').filter(|p| !p.is_empty()).collect();
    let mut found: Vec<String> = vec![if absolute { "/".into() } else { String::new() }];
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let mut next = Vec::new();
        for base in &found {
            let join = |name: &str| {
                if base.is_empty() {
                    name.to_string()
                } else if base.ends_with('/') {
                    format!("{base}{name}")
                } else {
                    format!("{base}/{name}")
                }
            };
            if !has_wildcard(part) {
                let p = join(part);
                if last || disk(&p).is_dir() {
                    next.push(p);
                }
                continue;
            }
            let dir = disk(if base.is_empty() { "." } else { base });
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut names: Vec<String> = entries
                .flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| matches(part, n))
                .collect();
            names.sort();
            for n in names {
                let p = join(&n);
                if last || disk(&p).is_dir() {
                    next.push(p);
                }
            }
        }
        found = next;
    }
    found
        .into_iter()
        .filter(|s| !s.is_empty() && s != "/")
        .map(|s| (disk(&s), s))
        .filter(|(d, _)| d.exists())
        .collect()
}

/// Whether `name` matches the shell pattern `pat` (one path component).
pub fn matches(pat: &str, name: &str) -> bool {
    if name.starts_with('.') && !pat.starts_with('.') {
        return false;
    }
    let p: Vec<char> = pat.chars().collect();
    let n: Vec<char> = name.chars().collect();
    fnmatch(&p, &n)
}

fn fnmatch(p: &[char], n: &[char]) -> bool {
    match p.first() {
        None => n.is_empty(),
        Some('*') => (0..=n.len()).any(|k| fnmatch(&p[1..], &n[k..])),
        Some('?') => !n.is_empty() && fnmatch(&p[1..], &n[1..]),
        Some('[') => match class(&p[1..]) {
            Some((set, used)) => !n.is_empty() && set(n[0]) && fnmatch(&p[1 + used..], &n[1..]),
            // An unclosed `[` is a plain character.
            None => n.first() == Some(&'[') && fnmatch(&p[1..], &n[1..]),
        },
        Some('\\') if p.len() > 1 => n.first() == Some(&p[1]) && fnmatch(&p[2..], &n[1..]),
        Some(c) => n.first() == Some(c) && fnmatch(&p[1..], &n[1..]),
    }
}

/// A bracket expression after its `[`: the test and how many characters it
/// took (through the closing `]`).
#[allow(clippy::type_complexity)]
fn class(p: &[char]) -> Option<(Box<dyn Fn(char) -> bool>, usize)> {
    let mut i = 0;
    let negate = matches!(p.first(), Some('!' | '^'));
    if negate {
        i += 1;
    }
    let mut ranges: Vec<(char, char)> = Vec::new();
    let mut first = true;
    while i < p.len() {
        let c = p[i];
        if c == ']' && !first {
            let set = move |x: char| ranges.iter().any(|&(a, b)| a <= x && x <= b) != negate;
            return Some((Box::new(set), i + 1));
        }
        first = false;
        if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
            ranges.push((c, p[i + 2]));
            i += 3;
        } else {
            ranges.push((c, c));
            i += 1;
        }
    }
    None
}

/// The files of directory `dir` that `source-directory` reads: names made
/// only of ASCII letters, digits, `_` and `-` (interfaces(5); ifupdown's
/// `directory_filter`), sorted.
pub fn directory_files(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| {
            !n.is_empty()
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        })
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_patterns_match_as_the_shell_does() {
        assert!(matches("*", "eth0"));
        assert!(!matches("*", ".hidden"));
        assert!(matches(".*", ".hidden"));
        assert!(matches("eth?", "eth1"));
        assert!(!matches("eth?", "eth10"));
        assert!(matches("[a-c]x", "bx"));
        assert!(!matches("[!a-c]x", "bx"));
        assert!(matches("[]]", "]"));
        assert!(matches("*.cfg", "a.cfg"));
        assert!(!matches("*.cfg", "a.cfgx"));
        assert!(matches("a\\*", "a*"));
    }

    #[test]
    fn directories_expand_sorted_and_filtered() {
        let dir = std::env::temp_dir().join(format!("netloom-glob-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("d")).unwrap();
        for n in ["b", "a", "c.bak", "x~", "_ok-1"] {
            std::fs::write(dir.join("d").join(n), "").unwrap();
        }
        assert_eq!(directory_files(&dir.join("d")), vec!["_ok-1", "a", "b"]);
        let shown = format!("{}/d/*", dir.display());
        let got: Vec<String> = expand(&shown, |s| PathBuf::from(s))
            .into_iter()
            .map(|(_, s)| s.rsplit('/').next().unwrap().to_string())
            .collect();
        assert_eq!(got, vec!["_ok-1", "a", "b", "c.bak", "x~"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
