//! A topology name given on the command line (`down --name`) follows the
//! grammar of the file's `name`, and one that does not is refused (exit 1)
//! before anything is read or made with it: it becomes a records path
//! (`<state dir>/NAME.json`) and namespace names.
#[path = "support/common/mod.rs"]
mod common;

use common::netloom_bin;
use netloom::sandbox::Sandbox;

#[test]
fn down_refuses_a_name_outside_the_grammar_before_reading_anything() {
    let sb = Sandbox::new().expect("sandbox");
    // Bait: records that `down --name ../../tmp/<bait>` would read as
    // /run/netloom/../../tmp/<bait>.json. They are damaged on purpose, so a
    // read of them shows in the message ("damaged records").
    let bait = format!("netloom-bait-{}", std::process::id());
    let bait_file = std::env::temp_dir().join(format!("{bait}.json"));
    std::fs::write(&bait_file, "{ not records").unwrap();
    let traversal = format!("../../tmp/{bait}");
    let long = "a".repeat(25);
    for name in [
        "..",
        traversal.as_str(),
        "../../etc/passwd",
        "a/b",
        "",
        long.as_str(),
        "läb",
        "Lab",
        "lab\n",
    ] {
        for json in [false, true] {
            let mut cmd = sb.command(netloom_bin());
            cmd.args(["down", "--name", name]);
            if json {
                cmd.arg("--json");
            }
            let out = cmd.output().unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(out.status.code(), Some(1), "down --name {name:?}:\n{text}");
            assert!(
                text.contains("invalid topology name") && text.contains("1-24 characters"),
                "down --name {name:?}: no clear message:\n{text}"
            );
            assert!(
                !text.contains("damaged") && !text.contains("operation"),
                "down --name {name:?} went on:\n{text}"
            );
        }
    }
    // Nothing was made: no state directory (not even its lock), no namespace.
    let out = sb
        .command("sh")
        .args(["-c", "ls -A /run"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "",
        "/run changed"
    );
    assert_eq!(
        std::fs::read_to_string(&bait_file).unwrap(),
        "{ not records",
        "the bait was changed"
    );
    let _ = std::fs::remove_file(&bait_file);

    // A valid name still works, with nothing to do.
    let out = sb
        .command(netloom_bin())
        .args(["down", "--name", "lab-1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("lab-1: 0 operation(s)"));
}
