//! Every invalid file of tests/invalid is refused by `netloom up` with a
//! located message (file:line:column), and the machine is left untouched.
#[path = "support/common/mod.rs"]
mod common;

use common::{netloom_bin, root};
use netloom::sandbox::Sandbox;

#[test]
fn invalid_files_are_refused_by_up_and_touch_nothing() {
    let sb = Sandbox::new().expect("sandbox");
    let dir = root().join("tests/invalid");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 20, "only {} invalid files", files.len());
    let snapshot = |sb: &Sandbox| {
        let out = sb
            .command("sh")
            .args([
                "-c",
                "ip -d link; ip addr; ip route; ls -A /run; nft list ruleset",
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let before = snapshot(&sb);
    for f in &files {
        let out = sb.command(netloom_bin()).arg("up").arg(f).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}: up did not refuse:\n{err}",
            f.display()
        );
        // The first line of each file says where its mistake is.
        let first = String::from_utf8_lossy(&std::fs::read(f).unwrap()).into_owned();
        let at = first
            .lines()
            .next()
            .unwrap()
            .trim_start_matches("# expect:")
            .trim();
        let (pos, _) = at.split_once(' ').unwrap();
        let located = format!("{}:{pos}", f.display());
        assert!(
            err.contains(&located),
            "{}: message lacks `{located}`:\n{err}",
            f.display()
        );
    }
    assert_eq!(snapshot(&sb), before, "an invalid file changed the machine");
}

/// Files refused for their bytes (a NUL that used to cut the file short, a
/// byte order mark inside, bytes that are not UTF-8) are refused by every
/// verb that reads a file, located, and nothing is made.
#[test]
fn files_with_bad_bytes_are_refused_by_every_verb() {
    let sb = Sandbox::new().expect("sandbox");
    let dir = root().join("tests/invalid");
    for name in [
        "nul-byte.yaml",
        "bom-inside.yaml",
        "not-utf8.yaml",
        "control-character.yaml",
    ] {
        let f = dir.join(name);
        let first = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned();
        let pos = first
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .and_then(|l| l.split(' ').next())
            .unwrap()
            .to_string();
        let located = format!("{}:{pos}", f.display());
        let file = f.to_str().unwrap();
        for args in [
            vec!["validate", file],
            vec!["validate", file, "--json"],
            vec!["plan", file],
            vec!["up", file],
            vec!["status", file],
            vec!["verify", file],
            vec!["down", file],
            vec!["exec", file, "a", "--", "true"],
        ] {
            let out = sb.command(netloom_bin()).args(&args).output().unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(out.status.code(), Some(1), "{args:?}:\n{text}");
            let shown = if args.contains(&"--json") {
                let v: serde_json::Value = serde_json::from_str(&text).expect("JSON errors");
                format!(
                    "{}:{}:{}",
                    v[0]["file"].as_str().unwrap(),
                    v[0]["line"],
                    v[0]["column"]
                )
            } else {
                text.clone()
            };
            assert!(
                shown.contains(&located),
                "{args:?}: not located at {pos}:\n{text}"
            );
        }
    }
    let out = sb
        .command("sh")
        .args([
            "-c",
            "ls -A /run/netns /run/netloom 2>/dev/null; ip -o link | grep -v ': lo:'",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "",
        "something was made"
    );
}
