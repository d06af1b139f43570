//! Every invalid file of tests/invalid is refused by `netloom up` with a
//! located message (file:line:column), and the machine is left untouched.
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
        let first = std::fs::read_to_string(f).unwrap();
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
