//! The command line fits the shell: an example per verb in `--help`,
//! completions and man pages generated from the command's definition and
//! installed under a prefix, `list`, tables that colour only a terminal
//! and never under NO_COLOR, and a YAML error that names the bracket left
//! open. Host only (vm/test.sh leaves it out): no kernel difference shows.
#[path = "support/common/mod.rs"]
mod common;

use std::process::Command;

use common::{netloom_bin, Lab};

fn run(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(netloom_bin()).args(args).output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The verbs `--help` lists under `Commands:`.
fn verbs(help: &str) -> Vec<String> {
    help.split("Commands:")
        .nth(1)
        .expect("a Commands section")
        .split("\n\n")
        .next()
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|v| v != "help")
        .collect()
}

#[test]
fn help_shows_an_example_for_every_verb() {
    let (code, help, _) = run(&["--help"]);
    assert_eq!(code, 0);
    let examples = help.split("Examples:").nth(1).expect("an Examples section");
    let verbs = verbs(&help);
    assert!(verbs.len() >= 11, "{verbs:?}");
    for v in &verbs {
        assert!(
            examples.contains(&format!("netloom {v} "))
                || examples.contains(&format!("netloom {v}\n")),
            "no example of `{v}` in --help:\n{help}"
        );
    }
}

#[test]
fn install_writes_completions_and_man_pages_that_work() {
    let prefix = std::env::temp_dir().join(format!("netloom-install-{}", std::process::id()));
    let p = prefix.to_string_lossy().into_owned();
    let (code, out, err) = run(&["install", "--prefix", &p]);
    assert_eq!(code, 0, "{out}{err}");
    let file = |rel: &str| {
        let f = prefix.join(rel);
        assert!(
            out.contains(&f.to_string_lossy().into_owned()),
            "{rel} not listed:\n{out}"
        );
        std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{rel}: {e}"))
    };
    // The installed binary runs.
    let bin = prefix.join("bin/netloom");
    let v = Command::new(&bin).arg("--version").output().unwrap();
    assert!(
        String::from_utf8_lossy(&v.stdout).starts_with("netloom "),
        "{v:?}"
    );
    // bash completes verbs and options from the completion function.
    let bash = prefix.join("share/bash-completion/completions/netloom");
    file("share/bash-completion/completions/netloom");
    let complete = |line: &str| {
        let words: Vec<&str> = line.split(' ').collect();
        let script = format!(
            "source {}; COMP_WORDS=({}); COMP_CWORD={}; COMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}; _netloom netloom '{}' '{}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            bash.display(),
            line,
            words.len() - 1,
            words[words.len() - 1],
            words[words.len().saturating_sub(2)],
        );
        let o = Command::new("bash").args(["-c", &script]).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let got = complete("netloom ex");
    assert!(
        got.lines().any(|l| l == "exec") && got.lines().any(|l| l == "export"),
        "{got}"
    );
    let got = complete("netloom export --to");
    assert!(got.lines().any(|l| l == "--topology"), "{got}");
    assert!(file("share/zsh/site-functions/_netloom").starts_with("#compdef netloom"));
    assert!(file("share/fish/vendor_completions.d/netloom.fish").contains("complete -c netloom"));
    let man = file("share/man/man1/netloom.1");
    assert!(man.contains(".TH netloom 1"), "{man}");
    let export = file("share/man/man1/netloom-export.1");
    assert!(
        export.contains(".TH netloom-export 1") && export.contains("topology"),
        "{export}"
    );
    let _ = std::fs::remove_dir_all(&prefix);
}

#[test]
fn list_names_every_topology_up_with_its_nodes() {
    let lab = Lab::new("01-veth-pair.yaml");
    let r = lab.netloom(&["list"]);
    assert!(r.out.contains("no topology is up"), "{}", r.text());
    lab.expect("up", &[], 0);
    let r = lab.netloom(&["list", "--json"]);
    assert_eq!(r.code, 0, "{}", r.text());
    let v: serde_json::Value = serde_json::from_str(&r.out).unwrap();
    let t = &v[0];
    assert_eq!(t["name"], "veth-pair", "{v}");
    assert_eq!(t["state"], "up", "{v}");
    assert_eq!(t["nodes"], serde_json::json!(["a", "b"]), "{v}");
    assert!(t["age_seconds"].as_u64().is_some_and(|a| a < 60), "{v}");
    assert!(
        t["file"]
            .as_str()
            .is_some_and(|f| f.ends_with("01-veth-pair.yaml")),
        "{v}"
    );
    let table = lab.netloom(&["list"]);
    assert!(
        table
            .out
            .lines()
            .any(|l| l.starts_with("veth-pair ") && l.contains("up") && l.contains("a,b")),
        "{}",
        table.out
    );
    // A namespace gone by hand shows.
    lab.sh("ip netns del netloom-veth-pair.b");
    let v: serde_json::Value = serde_json::from_str(&lab.netloom(&["list", "--json"]).out).unwrap();
    assert_eq!(v[0]["state"], "partial (1 of 2 namespaces)", "{v}");
    lab.expect("down", &[], 0);
    assert!(lab.netloom(&["list"]).out.contains("no topology is up"));
}

/// Colour on a terminal, none through a pipe, none under NO_COLOR.
#[test]
fn tables_colour_only_a_terminal_without_no_color() {
    let lab = Lab::new("01-veth-pair.yaml");
    lab.expect("up", &[], 0);
    let piped = lab.expect("status", &[], 0);
    assert!(
        !piped.out.contains('\u{1b}'),
        "escape codes in a pipe:\n{}",
        piped.out
    );
    assert!(piped.out.starts_with("OBJECT"), "{}", piped.out);
    let status = format!("{} status {}", netloom_bin().display(), lab.file.display());
    let tty = lab.sh(&format!("script -qec '{status}' /dev/null"));
    assert!(
        tty.out.contains("\u{1b}["),
        "no colour on a terminal:\n{}",
        tty.out
    );
    let plain = lab.sh(&format!("NO_COLOR=1 script -qec '{status}' /dev/null"));
    assert!(
        !plain.out.contains("\u{1b}["),
        "colour under NO_COLOR:\n{}",
        plain.out
    );
    assert!(plain.out.contains("in sync"), "{}", plain.out);
    lab.expect("down", &[], 0);
}

#[test]
fn a_yaml_error_names_the_bracket_left_open() {
    let lab = Lab::from_text("open.yaml", "name: x\nnodes:\n  a: {interfaces: [\n");
    let r = lab.verb("validate", &[]);
    assert_eq!(r.code, 1, "{}", r.text());
    assert!(
        r.err
            .contains("the `[` opened at line 3, column 19 is not closed"),
        "{}",
        r.text()
    );
    let r = lab.verb("validate", &["--json"]);
    assert!(
        r.out.contains("opened at line 3, column 19"),
        "{}",
        r.text()
    );
}
