//! Reading ifupdown2's test suite: which input files each test compares
//! with which expected output, and its port placeholders.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One state of a test: the files in /etc/network, the expected outputs.
pub struct State {
    /// The test function (`test_NAME`'s NAME).
    pub test: String,
    /// The interfaces file.
    pub eni: PathBuf,
    /// Files copied into /etc/network/interfaces.d.
    pub extra: Vec<PathBuf>,
    /// The expected `ifquery -ac -o json` (in tests/output).
    pub ifquery: String,
    /// The expected `bridge -c -j vlan show`, when the test has one.
    pub vlans: Option<String>,
}

/// The states ifupdown2's tests compare: per `test_NAME`, the base file
/// tests/eni/NAME.eni with the first `get_json` compared; and after each
/// `ssh.scp(FILE, ENI_D)` (or `ENI`), the next `get_json`.
pub fn states(dir: &Path) -> Vec<State> {
    let mut out = Vec::new();
    let mut pys: Vec<PathBuf> = std::fs::read_dir(dir.join("tests"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("test_")
        })
        .collect();
    pys.sort();
    for py in pys {
        let text = std::fs::read_to_string(&py).unwrap();
        for func in text.split("\ndef test_").skip(1) {
            let name: String = func.chars().take_while(|c| *c != '(').collect();
            let eni = dir.join(format!("tests/eni/{name}.eni"));
            if !eni.exists() {
                continue;
            }
            let mut base = eni.clone();
            let mut extra: Vec<PathBuf> = Vec::new();
            let mut pending = true;
            let mut rest = func;
            loop {
                let scp = rest.find("ssh.scp(");
                let get = rest.find("get_json(\"");
                match (scp, get) {
                    (Some(s), g) if g.is_none_or(|g| s < g) => {
                        let args = &rest[s + 9..];
                        let file = &args[..args.find('"').unwrap()];
                        let to_dir = args[..args.find(')').unwrap()].contains("ENI_D");
                        if to_dir {
                            extra = vec![dir.join(file)];
                        } else {
                            base = dir.join(file);
                            extra.clear();
                        }
                        pending = true;
                        rest = &args[file.len()..];
                    }
                    (_, Some(g)) => {
                        let args = &rest[g + 10..];
                        let json = &args[..args.find('"').unwrap()];
                        rest = &args[json.len()..];
                        if json.contains(".vlan.show.") {
                            if let Some(last) = out
                                .last_mut()
                                .filter(|s: &&mut State| s.test == name && s.vlans.is_none())
                            {
                                last.vlans = Some(json.to_string());
                            }
                            continue;
                        }
                        if pending {
                            out.push(State {
                                test: name.clone(),
                                eni: base.clone(),
                                extra: extra.clone(),
                                ifquery: json.to_string(),
                                vlans: None,
                            });
                            pending = false;
                        }
                    }
                    _ => break,
                }
            }
        }
    }
    out
}

/// Replace ifupdown2's port placeholders (`swp_AA_`) as its test harness
/// does: each new one by the next port name.
pub fn translate(text: &str, map: &mut BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("swp_") {
        out.push_str(&rest[..i]);
        let cand = &rest[i..];
        let b = cand.as_bytes();
        if b.len() >= 7 && b[4].is_ascii_uppercase() && b[5].is_ascii_uppercase() && b[6] == b'_' {
            let key = cand[..7].to_string();
            let n = map.len() + 1;
            let name = map.entry(key).or_insert_with(|| format!("swp{n}")).clone();
            out.push_str(&name);
            rest = &cand[7..];
        } else {
            out.push_str("swp_");
            rest = &cand[4..];
        }
    }
    out.push_str(rest);
    out
}
