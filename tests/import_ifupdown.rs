//! `netloom import ifupdown` against a corpus of interfaces(5) files
//! (tests/ifupdown/corpus/CASE/etc/network/interfaces, read with `--root
//! CASE`), each imported both ways, validated, brought up in a sandbox and
//! read back from the kernel against what the file says: expectation lines
//! `#> ...` in each file, written from the grammar, not from the importer.
//!
//! - `#> phys NAME...`: the machine's ports. With `external` ports they are
//!   made beforehand in the sandbox (veth ends) and must come out unchanged;
//!   with `--stand-ins` netloom makes them.
//! - `#> link NAME key=value...`: `ip -d -j link` of NAME (see [`pointer`]);
//!   `addr=CIDR` (repeatable) from `ip -j addr`; `vlans=1P,2,3` from
//!   `bridge -j vlan` (P: PVID untagged).
//! - `#> route DST [via GW] dev DEV [metric M]`: in `ip -j route` / `-6`.
//! - `#> sysctl KEY VALUE`: /proc/sys of the sandbox.
//! - `#> skipped [FILE:]LINE TEXT`: listed as not imported (both ways).
//! - `#> absent NAME`: not imported (a file not read, a mapping's name).
//! - `#> standin link ...`: checked only with `--stand-ins` (it needs a port).
//! - `#> vm`: needs bond, 8021q, dummy or bridge VLAN filtering: the VM.
#[path = "support/common/mod.rs"]
mod common;
#[path = "support/ifupdown_util/mod.rs"]
mod ifupdown_util;

/// In a module so `vm/test.sh import_ifupdown` selects these tests.
mod import_ifupdown {
    use std::path::{Path, PathBuf};

    use serde_json::Value;

    use super::common::{self, Lab};
    use super::ifupdown_util::{read_kernel, text, Kernel};
    use netloom::import::ifupdown::{import, Options};

    /// A `#> link` line: name, key=value pairs, checked only with stand-ins.
    type LinkCheck = (String, Vec<(String, String)>, bool);

    /// One corpus file and what it says the kernel must show.
    struct Case {
        name: String,
        root: PathBuf,
        vm: bool,
        phys: Vec<String>,
        links: Vec<LinkCheck>,
        absent: Vec<String>,
        routes: Vec<Vec<String>>,
        sysctls: Vec<(String, String)>,
        skipped: Vec<(String, String)>,
    }

    fn corpus() -> Vec<Case> {
        let dir = common::root().join("tests/ifupdown/corpus");
        let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
            .expect("tests/ifupdown/corpus")
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        names.sort();
        names.into_iter().map(|root| case(&root)).collect()
    }

    fn case(root: &Path) -> Case {
        let main = root.join("etc/network/interfaces");
        let text =
            std::fs::read_to_string(&main).unwrap_or_else(|e| panic!("{}: {e}", main.display()));
        let mut c = Case {
            name: root.file_name().unwrap().to_string_lossy().into_owned(),
            root: root.to_path_buf(),
            vm: false,
            phys: Vec::new(),
            links: Vec::new(),
            absent: Vec::new(),
            routes: Vec::new(),
            sysctls: Vec::new(),
            skipped: Vec::new(),
        };
        for l in text.lines().filter_map(|l| l.trim().strip_prefix("#>")) {
            let mut w: Vec<String> = l.split_whitespace().map(String::from).collect();
            let only_stand_ins = w.first().is_some_and(|x| x == "standin");
            if only_stand_ins {
                w.remove(0);
            }
            match w.first().map(String::as_str) {
                Some("absent") => c.absent.extend(w[1..].iter().cloned()),
                Some("vm") => c.vm = true,
                Some("phys") => c.phys.extend(w[1..].iter().cloned()),
                Some("link") => {
                    let kv = w[2..]
                        .iter()
                        .map(|p| {
                            let (k, v) = p.split_once('=').expect("key=value");
                            (k.to_string(), v.to_string())
                        })
                        .collect();
                    c.links.push((w[1].clone(), kv, only_stand_ins));
                }
                Some("route") => c.routes.push(w[1..].to_vec()),
                Some("sysctl") => c.sysctls.push((w[1].clone(), w[2].clone())),
                Some("skipped") => c.skipped.push((w[1].clone(), w[2..].join(" "))),
                other => panic!("{}: unknown expectation {other:?}", c.name),
            }
        }
        c
    }

    fn options(c: &Case, stand_ins: bool) -> Options {
        Options {
            root: Some(c.root.clone()),
            name: "imp".into(),
            stand_ins,
            ..Options::default()
        }
    }

    /// Each `#> skipped` item is listed, at its place.
    fn check_skipped(c: &Case, got: &[netloom::import::Skip]) {
        for (at, text) in &c.skipped {
            let (file, line) = match at.rsplit_once(':') {
                Some((f, l)) => (format!("/etc/network/{f}"), l),
                None => ("/etc/network/interfaces".to_string(), at.as_str()),
            };
            let found = got.iter().any(|s| {
                s.from
                    .at
                    .as_ref()
                    .is_some_and(|p| p.source.path == file && p.at.line.to_string() == line)
                    && s.from.text.starts_with(text.as_str())
            });
            let listed: Vec<String> = got
                .iter()
                .map(|s| format!("{} {}", s.from.place(), s.from.text))
                .collect();
            assert!(
                found,
                "{}: `{text}` at {file}:{line} is not listed as skipped: {listed:#?}",
                c.name
            );
        }
    }

    #[test]
    fn the_corpus_imports_both_ways_and_validates() {
        let cases = corpus();
        assert!(cases.len() >= 30, "only {} corpus files", cases.len());
        for c in &cases {
            for stand_ins in [false, true] {
                let got = import(&options(c, stand_ins)).unwrap_or_else(|e| {
                    panic!("{} (stand-ins {stand_ins}): {e}: {:#?}", c.name, e.errors)
                });
                // The library checked it; the text itself must read the same.
                let again = netloom::spec::parse_str("x", &got.yaml)
                    .unwrap_or_else(|e| panic!("{}: {e:?}\n{}", c.name, got.yaml));
                assert_eq!(again, got.topology, "{}", c.name);
                check_skipped(c, &got.skipped);
                // Every object names its place; every skip its reason.
                for s in got.skipped.iter().chain(&got.notes) {
                    assert!(!s.reason.is_empty(), "{}: {s:?}", c.name);
                }
                let host = &got.topology.network.nodes["host"];
                for name in &c.absent {
                    assert!(
                        !host.links.contains_key(name),
                        "{}: {name} imported",
                        c.name
                    );
                }
                for (name, _, _) in &c.links {
                    let phys = c.phys.contains(name);
                    if !phys || stand_ins {
                        assert!(
                            host.links.contains_key(name),
                            "{}: {name} not imported:\n{}",
                            c.name,
                            got.yaml
                        );
                    }
                }
            }
        }
    }

    /// Where a key of `#> link` is in `ip -d -j link`.
    fn pointer(key: &str) -> &'static str {
        match key {
            "kind" => "/linkinfo/info_kind",
            "master" => "/master",
            "mtu" => "/mtu",
            "mac" => "/address",
            "lower" => "/link",
            "port_priority" => "/linkinfo/info_slave_data/priority",
            "port_cost" => "/linkinfo/info_slave_data/cost",
            "port_learning" => "/linkinfo/info_slave_data/learning",
            "port_flood" => "/linkinfo/info_slave_data/flood",
            "dev" => "/linkinfo/info_data/link",
            "stp_state" | "forward_delay" | "hello_time" | "max_age" | "ageing_time"
            | "priority" | "vlan_filtering" | "mcast_snooping" | "vlan_protocol" | "mode"
            | "miimon" | "updelay" | "downdelay" | "xmit_hash_policy" | "ad_lacp_rate"
            | "primary" | "min_links" | "id" | "protocol" | "remote" | "local" | "group"
            | "port" | "learning" | "ttl" | "arp_ip_target" | "use_carrier" => {
                Box::leak(format!("/linkinfo/info_data/{key}").into_boxed_str())
            }
            other => panic!("unknown link key {other}"),
        }
    }

    fn check_links(c: &Case, k: &Kernel, stand_ins: bool) {
        for (name, kv, only_stand_ins) in &c.links {
            if (c.phys.contains(name) || *only_stand_ins) && !stand_ins {
                continue; // checked as unchanged below
            }
            let l = k.link(name);
            for (key, want) in kv {
                let got = match key.as_str() {
                    "addr" => {
                        let have = k.addrs(name);
                        assert!(
                            have.contains(want),
                            "{} ({stand_ins}): {name} lacks {want}: {have:?}",
                            c.name
                        );
                        continue;
                    }
                    "vlans" => k.vlans(name),
                    "up" => u8::from(text(&l["flags"]).split(',').any(|f| f == "UP")).to_string(),
                    _ => text(l.pointer(pointer(key)).unwrap_or(&Value::Null)),
                };
                assert_eq!(
                    &got, want,
                    "{} (stand-ins {stand_ins}): {name} {key}:\n{l:#}",
                    c.name
                );
            }
        }
        if stand_ins {
            return;
        }
        for p in &c.phys {
            let l = k.link(p);
            assert!(
                l.get("master").is_none(),
                "{}: {p} got a master: {l:#}",
                c.name
            );
            assert_eq!(l["mtu"], 1500, "{}: {p} mtu changed", c.name);
            assert!(k.addrs(p).is_empty(), "{}: {p} got addresses", c.name);
        }
    }

    fn check_routes(c: &Case, k: &Kernel, stand_ins: bool) {
        for r in &c.routes {
            let dev = r.iter().position(|w| w == "dev").map(|i| r[i + 1].clone());
            let want_via = r.iter().position(|w| w == "via").map(|i| r[i + 1].clone());
            let want_metric = r
                .iter()
                .position(|w| w == "metric")
                .map(|i| r[i + 1].clone());
            let found = k.routes.iter().any(|e| {
                text(&e["dst"]) == r[0]
                    && want_via.as_ref().is_none_or(|g| text(&e["gateway"]) == *g)
                    && dev.as_ref().is_none_or(|d| text(&e["dev"]) == *d)
                    && want_metric
                        .as_ref()
                        .is_none_or(|m| text(&e["metric"]) == *m)
            });
            let through_phys = dev.as_ref().is_some_and(|d| c.phys.contains(d));
            if through_phys && !stand_ins {
                assert!(
                    !found,
                    "{}: a route through the machine's port {r:?} was made",
                    c.name
                );
            } else {
                assert!(
                    found,
                    "{} ({stand_ins}): route {r:?} missing in {:#?}",
                    c.name, k.routes
                );
            }
        }
        for (i, (key, v)) in c.sysctls.iter().enumerate() {
            let iface = key.split('.').nth(3).unwrap_or("");
            if c.phys.iter().any(|p| p.replace('.', "/") == iface) && !stand_ins {
                continue;
            }
            assert_eq!(k.sysctls[i], *v, "{}: {key}", c.name);
        }
    }

    /// Import `c` one way, bring it up in a sandbox, check it, take it down.
    fn bring_up(c: &Case, stand_ins: bool) {
        let got = import(&options(c, stand_ins)).unwrap();
        let lab = Lab::from_text(&format!("{}.yaml", c.name), &got.yaml);
        if !stand_ins {
            for (i, p) in c.phys.iter().enumerate() {
                let r = lab.sh(&format!(
                    "ip link add {p} type veth peer name sx{i} && ip link set {p} up"
                ));
                assert_eq!(r.code, 0, "{}", r.text());
            }
        }
        let up = lab.verb("up", &[]);
        assert_eq!(
            up.code,
            0,
            "{} (stand-ins {stand_ins}): up failed:\n{}\n{}",
            c.name,
            up.text(),
            got.yaml
        );
        let keys: Vec<String> = c.sysctls.iter().map(|(k, _)| k.clone()).collect();
        let k = read_kernel(&lab, &keys);
        check_links(c, &k, stand_ins);
        check_routes(c, &k, stand_ins);
        let again = lab.expect("up", &[], 0);
        assert!(
            again.out.contains(": 0 operation"),
            "{}: second up:\n{}",
            c.name,
            again.text()
        );
        lab.expect("down", &[], 0);
        let left = lab.sh("ls -A /run/netns; ip -o link show | grep -v ': lo:' | grep -v '@sx' | grep -v ': sx'; true");
        assert_eq!(left.out.trim(), "", "{}: residue after down", c.name);
    }

    /// Every case both ways; all failures reported together, so one case
    /// going wrong hides none of the others.
    fn run_all(vm: bool) {
        let cases: Vec<Case> = corpus().into_iter().filter(|c| c.vm == vm).collect();
        assert!(!cases.is_empty());
        let mut failed = Vec::new();
        for c in &cases {
            for stand_ins in [false, true] {
                let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    bring_up(c, stand_ins)
                }));
                if let Err(e) = run {
                    let msg = e
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    failed.push(format!(
                        "{} (stand-ins {stand_ins}): {}",
                        c.name,
                        msg.lines().take(8).collect::<Vec<_>>().join("\n")
                    ));
                }
            }
            println!("{}: done both ways", c.name);
        }
        println!(
            "{} corpus files brought up both ways, {} failures",
            cases.len(),
            failed.len()
        );
        assert!(failed.is_empty(), "{}", failed.join("\n\n"));
    }

    #[test]
    fn the_corpus_comes_up_in_a_sandbox() {
        // Under the VM (vm/init provides /netloom-vm) only the files that
        // need its drivers come up: the others ran on the host already, and
        // under TCG they cost five minutes.
        if std::path::Path::new("/netloom-vm").exists() {
            eprintln!("in the VM: the host corpus is the host's (see the VM test below)");
            return;
        }
        run_all(false);
    }

    #[test]
    #[ignore = "needs a kernel with bonding, 8021q, dummy and bridge VLAN filtering: runs in the VM"]
    fn the_corpus_files_of_bonds_and_vlans_come_up_in_the_vm() {
        run_all(true);
    }
}

/// Files with one mistake each (tests/ifupdown/invalid/*.interfaces): the
/// first line says where the error must be and part of its message,
/// `# expect: [FILE:]LINE:COL text`.
mod import_ifupdown_invalid {
    use std::path::PathBuf;

    use super::common;
    use netloom::import::ifupdown::{import, Options};

    #[test]
    fn each_bad_file_gets_one_located_error() {
        let dir = common::root().join("tests/ifupdown/invalid");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "interfaces"))
            .collect();
        files.sort();
        assert!(files.len() >= 20, "only {} invalid files", files.len());
        let mut failures = Vec::new();
        for f in &files {
            let text = String::from_utf8_lossy(&std::fs::read(f).unwrap()).into_owned();
            let first = text.lines().next().unwrap();
            let spec = first.strip_prefix("# expect: ").expect("# expect: line");
            let (pos, msg) = spec.split_once(' ').unwrap();
            let (file, pos) = match pos.rsplit_once(':').and_then(|(a, _)| a.rsplit_once(':')) {
                Some((file, _)) => (Some(file), &pos[file.len() + 1..]),
                None => (None, pos),
            };
            let opts = Options {
                file: Some(f.clone()),
                ..Options::default()
            };
            let errs = match import(&opts) {
                Ok(_) => {
                    failures.push(format!("{}: imported, but should not", f.display()));
                    continue;
                }
                Err(e) => e,
            };
            if errs.errors.len() != 1 {
                failures.push(format!(
                    "{}: {} errors: {:#?}",
                    f.display(),
                    errs.errors.len(),
                    errs.errors
                ));
                continue;
            }
            let e = &errs.errors[0];
            let p = e.place.as_ref().expect("a place");
            let at = format!("{}:{}", p.at.line, p.at.column);
            let in_file = file.is_none_or(|want| p.source.path.ends_with(want));
            if at != pos || !in_file || !e.message.contains(msg) {
                failures.push(format!(
                    "{}: want {}{pos} `{msg}`, got {p} `{}`",
                    f.display(),
                    file.map(|f| format!("{f}:")).unwrap_or_default(),
                    e.message
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn the_command_renders_located_errors_and_strict_refuses_what_is_not_imported() {
        let bin = common::netloom_bin();
        let bad = common::root().join("tests/ifupdown/invalid/unknown-method.interfaces");
        let out = std::process::Command::new(&bin)
            .args(["import", "ifupdown"])
            .arg(&bad)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("unknown-method.interfaces:3:17"), "{err}");
        assert!(err.contains("unknown method `statik`"), "{err}");

        let root = common::root().join("tests/ifupdown/corpus/02-debian-static");
        let run = |extra: &[&str]| {
            std::process::Command::new(&bin)
                .args(["import", "ifupdown", "--root"])
                .arg(&root)
                .args(extra)
                .env("NO_COLOR", "1")
                .output()
                .unwrap()
        };
        let strict = run(&["--strict"]);
        let err = String::from_utf8_lossy(&strict.stderr);
        assert_eq!(strict.status.code(), Some(1), "{err}");
        assert!(strict.stdout.is_empty(), "--strict wrote a topology");
        assert!(err.contains("/etc/network/interfaces:10:"), "{err}");
        assert!(err.contains("dns-nameservers"), "{err}");

        let dir = std::env::temp_dir().join(format!("netloom-import-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("out.yaml");
        let ok = run(&["--stand-ins", "-o", file.to_str().unwrap()]);
        assert_eq!(
            ok.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&ok.stderr)
        );
        assert!(ok.stdout.is_empty());
        let written = std::fs::read_to_string(&file).unwrap();
        assert!(written.contains("- [host/eth0, wire/eth0]"), "{written}");
        let v = std::process::Command::new(&bin)
            .arg("validate")
            .arg(&file)
            .output()
            .unwrap();
        assert_eq!(v.status.code(), Some(0));
        std::fs::remove_dir_all(&dir).unwrap();

        let empty =
            std::env::temp_dir().join(format!("netloom-import-empty-{}", std::process::id()));
        std::fs::create_dir_all(&empty).unwrap();
        let none = std::process::Command::new(&bin)
            .args(["import", "ifupdown", "--root"])
            .arg(&empty)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&none.stderr);
        assert_eq!(none.status.code(), Some(1));
        assert!(err.contains("cannot read /etc/network/interfaces"), "{err}");
        std::fs::remove_dir_all(&empty).unwrap();
    }
}
