//! NAT through nftables: netloom owns one `inet` table per node (named by
//! [`model::nft_table`]) and drives the `nft` binary inside the node's
//! namespace, feeding scripts on stdin so a replacement is one transaction.
use std::io::Write;
use std::net::IpAddr;
use std::process::{Command, Output, Stdio};

use ipnet::IpNet;
use serde_json::Value;

use crate::kernel::error::KernelError;
use crate::kernel::netns::Netns;
use crate::kernel::sys::{self, Step};
use crate::model::{self, Masquerade};

/// Run `nft ARGS` inside `ns`, with `stdin` as its input when given.
fn nft(ns: &Netns, args: &[&str], stdin: Option<&str>) -> Result<Output, KernelError> {
    let object = format!("{} nft", ns.label());
    let enter = Step::enter(ns.fd(), nix::sched::CloneFlags::CLONE_NEWNET)
        .map_err(|e| KernelError::io(&object, e))?;
    let mut cmd = Command::new("nft");
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    sys::pre_exec(&mut cmd, vec![enter]);
    let mut child = cmd.spawn().map_err(|e| {
        KernelError::io(format!("{object} (is the nftables package installed?)"), e)
    })?;
    if let (Some(text), Some(mut input)) = (stdin, child.stdin.take()) {
        input
            .write_all(text.as_bytes())
            .map_err(|e| KernelError::io(&object, e))?;
        // Dropping `input` closes the pipe so nft sees the end of the script.
    }
    child
        .wait_with_output()
        .map_err(|e| KernelError::io(&object, e))
}

/// A failed nft run as an error carrying nft's own message.
fn failed(ns: &Netns, op: &str, out: &Output) -> KernelError {
    KernelError::Netlink {
        object: format!("{} nft", ns.label()),
        op: op.to_string(),
        errno: 0,
        message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    }
}

/// True when nft's failure says the table is not there.
fn is_missing(out: &Output) -> bool {
    String::from_utf8_lossy(&out.stderr).contains("No such file or directory")
}

/// The nft match on the source prefix of `source`.
fn saddr(source: &IpNet) -> String {
    let family = match source {
        IpNet::V4(_) => "ip",
        IpNet::V6(_) => "ip6",
    };
    format!("{family} saddr {source}")
}

/// The script that atomically replaces the table with one serving `rules`.
pub fn script(topo: &str, rules: &[Masquerade]) -> String {
    let t = model::nft_table(topo);
    let mut s = String::new();
    // Declaring the table first makes the delete succeed when it is absent.
    s.push_str(&format!("table inet {t} {{}}\ndelete table inet {t}\n"));
    s.push_str(&format!("table inet {t} {{\n"));
    s.push_str(
        "  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n",
    );
    for r in rules {
        s.push_str(&format!(
            "    {} oifname \"{}\" masquerade\n",
            saddr(&r.source),
            r.out
        ));
    }
    s.push_str("  }\n");
    s.push_str("  chain forward {\n    type filter hook forward priority filter; policy accept;\n");
    s.push_str("    ct state established,related accept\n");
    for r in rules {
        s.push_str(&format!(
            "    {} oifname \"{}\" accept\n",
            saddr(&r.source),
            r.out
        ));
    }
    s.push_str("  }\n}\n");
    s
}

/// Create or replace the node's netloom table with these masquerade rules, in one transaction.
pub fn set_nat(ns: &Netns, topo: &str, rules: &[Masquerade]) -> Result<(), KernelError> {
    let out = nft(ns, &["-f", "-"], Some(&script(topo, rules)))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(failed(ns, "set nat table", &out))
    }
}

/// Delete the node's netloom table if it exists.
pub fn del_nat(ns: &Netns, topo: &str) -> Result<(), KernelError> {
    let t = model::nft_table(topo);
    let out = nft(ns, &["delete", "table", "inet", &t], None)?;
    if out.status.success() || is_missing(&out) {
        Ok(())
    } else {
        Err(failed(ns, "delete nat table", &out))
    }
}

/// Whether the node's netloom table exists.
pub fn table_exists(ns: &Netns, topo: &str) -> Result<bool, KernelError> {
    let t = model::nft_table(topo);
    let out = nft(ns, &["list", "table", "inet", &t], None)?;
    if out.status.success() {
        Ok(true)
    } else if is_missing(&out) {
        Ok(false)
    } else {
        Err(failed(ns, "list nat table", &out))
    }
}

/// The masquerade rules in the node's netloom table (`None` when the table does not exist).
pub fn read_nat(ns: &Netns, topo: &str) -> Result<Option<Vec<Masquerade>>, KernelError> {
    let t = model::nft_table(topo);
    let out = nft(ns, &["-j", "list", "table", "inet", &t], None)?;
    if !out.status.success() {
        return if is_missing(&out) {
            Ok(None)
        } else {
            Err(failed(ns, "list nat table", &out))
        };
    }
    let object = format!("{} nft table {t}", ns.label());
    let json: Value = serde_json::from_slice(&out.stdout).map_err(|e| KernelError::Decode {
        object: object.clone(),
        message: format!("nft -j output is not JSON: {e}"),
    })?;
    parse_rules(&json)
        .map(Some)
        .map_err(|message| KernelError::Decode { object, message })
}

/// The masquerade rules of every table in `ns` that netloom can write (a
/// source prefix and an output interface), and one line per table holding
/// rules it cannot (netloom's own tables' forward chain is its own
/// scaffolding and not counted).
pub fn masquerades(ns: &Netns) -> Result<(Vec<Masquerade>, Vec<String>), KernelError> {
    let out = nft(ns, &["-j", "list", "ruleset"], None)?;
    if !out.status.success() {
        return Err(failed(ns, "list ruleset", &out));
    }
    let object = format!("{} nft ruleset", ns.label());
    let json: Value = serde_json::from_slice(&out.stdout).map_err(|e| KernelError::Decode {
        object,
        message: format!("nft -j output is not JSON: {e}"),
    })?;
    Ok(sort_ruleset(&json))
}

/// [`masquerades`] from `nft -j list ruleset` output.
pub fn sort_ruleset(json: &Value) -> (Vec<Masquerade>, Vec<String>) {
    let items = json
        .get("nftables")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut rules = Vec::new();
    let mut other: std::collections::BTreeMap<(String, String), usize> = Default::default();
    for item in &items {
        let Some(rule) = item.get("rule") else {
            continue;
        };
        let table = (
            rule["family"].as_str().unwrap_or_default().to_string(),
            rule["table"].as_str().unwrap_or_default().to_string(),
        );
        let ours = table.1.starts_with("netloom-");
        let one = serde_json::json!({ "nftables": [item] });
        match parse_rules(&one) {
            Ok(found) if !found.is_empty() => rules.extend(found),
            _ if ours && rule["chain"] == "forward" => {}
            _ => *other.entry(table).or_default() += 1,
        }
    }
    let notes = other
        .into_iter()
        .map(|((family, name), n)| {
            format!("nft table {family} {name}: {n} rule(s) other than a masquerade of a source prefix out of an interface")
        })
        .collect();
    (rules, notes)
}

/// The masquerade rules of the `postrouting` chain in `nft -j` output.
pub fn parse_rules(json: &Value) -> Result<Vec<Masquerade>, String> {
    let items = json
        .get("nftables")
        .and_then(Value::as_array)
        .ok_or("no `nftables` array")?;
    let mut rules = Vec::new();
    for item in items {
        let Some(rule) = item.get("rule") else {
            continue;
        };
        if rule.get("chain").and_then(Value::as_str) != Some("postrouting") {
            continue;
        }
        let exprs = rule
            .get("expr")
            .and_then(Value::as_array)
            .ok_or("a rule without `expr`")?;
        if !exprs.iter().any(|e| e.get("masquerade").is_some()) {
            continue;
        }
        let (mut source, mut out) = (None, None);
        for m in exprs.iter().filter_map(|e| e.get("match")) {
            let left = &m["left"];
            if left["payload"]["field"].as_str() == Some("saddr") {
                source = Some(prefix(&m["right"])?);
            } else if left["meta"]["key"].as_str() == Some("oifname") {
                out = m["right"].as_str().map(str::to_string);
            }
        }
        match (source, out) {
            (Some(source), Some(out)) => rules.push(Masquerade { source, out }),
            _ => return Err(format!("a masquerade rule netloom did not write: {rule}")),
        }
    }
    Ok(rules)
}

/// A prefix as nft prints it: `{"prefix": {"addr", "len"}}` or a bare address.
fn prefix(v: &Value) -> Result<IpNet, String> {
    let bad = || format!("`{v}` is not an address or prefix");
    if let Some(s) = v.as_str() {
        let a: IpAddr = s.parse().map_err(|_| bad())?;
        return Ok(IpNet::from(a));
    }
    let addr: IpAddr = v["prefix"]["addr"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)?;
    let len = v["prefix"]["len"]
        .as_u64()
        .and_then(|l| u8::try_from(l).ok())
        .ok_or_else(bad)?;
    IpNet::new(addr, len).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Vec<Masquerade> {
        vec![
            Masquerade {
                source: "10.0.0.0/24".parse().unwrap(),
                out: "eth0".into(),
            },
            Masquerade {
                source: "fd00::/64".parse().unwrap(),
                out: "up0".into(),
            },
        ]
    }

    #[test]
    fn script_replaces_the_table_in_one_transaction() {
        let s = script("lab", &rules());
        let lines: Vec<&str> = s.lines().map(str::trim).collect();
        assert_eq!(lines[0], "table inet netloom-lab {}");
        assert_eq!(lines[1], "delete table inet netloom-lab");
        assert!(lines.contains(&"ip saddr 10.0.0.0/24 oifname \"eth0\" masquerade"));
        assert!(lines.contains(&"ip6 saddr fd00::/64 oifname \"up0\" masquerade"));
        assert!(lines.contains(&"ct state established,related accept"));
        assert!(lines.contains(&"ip saddr 10.0.0.0/24 oifname \"eth0\" accept"));
    }

    #[test]
    fn parse_reads_prefixes_bare_addresses_and_skips_other_chains() {
        let json: Value = serde_json::from_str(
            r#"{"nftables": [{"metainfo": {}}, {"table": {"family": "inet", "name": "t"}},
            {"rule": {"chain": "postrouting", "expr": [
              {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}},
                         "right": {"prefix": {"addr": "10.0.0.0", "len": 24}}}},
              {"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "eth0"}},
              {"masquerade": null}]}},
            {"rule": {"chain": "postrouting", "expr": [
              {"match": {"op": "==", "left": {"payload": {"protocol": "ip6", "field": "saddr"}},
                         "right": "fd00::7"}},
              {"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "up0"}},
              {"masquerade": null}]}},
            {"rule": {"chain": "forward", "expr": [{"accept": null}]}}]}"#,
        )
        .unwrap();
        let got = parse_rules(&json).unwrap();
        assert_eq!(
            got,
            vec![
                Masquerade {
                    source: "10.0.0.0/24".parse().unwrap(),
                    out: "eth0".into()
                },
                Masquerade {
                    source: "fd00::7/128".parse().unwrap(),
                    out: "up0".into()
                },
            ]
        );
        // A masquerade rule without a source is not one netloom wrote.
        let odd: Value = serde_json::from_str(
            r#"{"nftables": [{"rule": {"chain": "postrouting", "expr": [{"masquerade": null}]}}]}"#,
        )
        .unwrap();
        assert!(parse_rules(&odd).is_err());
    }
}
