//! spec: a topology file becomes a validated, resolved [`model::Network`] plus
//! expectations, or every problem found, each located in the file.
//!
//! Parsing builds a small located tree ([`yaml`]); decoding reads it by hand so
//! every field has its own location, unknown fields get a did-you-mean, and
//! duplicate keys are caught; [`validate`] then checks references across nodes.
pub mod brport;
pub mod claims;
pub mod decode;
pub mod dhcp;
pub mod emit;
pub mod error;
pub mod expect;
pub mod export;
pub mod fdb;
pub mod kind;
pub mod lif;
pub mod link;
pub mod mtu;
pub mod node;
pub mod route;
pub mod segment;
pub mod text;
pub mod validate;
pub mod yaml;

use std::collections::BTreeMap;
use std::path::Path;

pub use error::{Location, SpecError, SpecErrors};

use crate::model;
use decode::{entries, Ctx, Fields};
use yaml::{Value, Yaml};

/// Largest file accepted, in bytes.
pub const MAX_FILE_BYTES: usize = 4 << 20;
/// Most nodes in one file.
pub const MAX_NODES: usize = 4096;
/// Most interfaces in one file, all nodes together.
pub const MAX_INTERFACES: usize = 65536;

/// A validated topology: the desired network, its expectations, and where things were declared.
#[derive(Debug, Clone, PartialEq)]
pub struct Topology {
    /// The resolved network.
    pub network: model::Network,
    /// The `expect:` claims, in file order.
    pub expect: Vec<model::Expectation>,
    /// Where each node (`node`) and interface (`node/iface`) is declared,
    /// and some of their fields (`node/iface#mode`, `node/iface#master`:
    /// the port's entry in its master's `ports`), for messages pointing at
    /// what to change.
    pub locations: BTreeMap<String, Location>,
}

const TOP_FIELDS: &[&str] = &["name", "nodes", "links", "lifs", "expect"];

/// Checks a topology name: `[a-z0-9][a-z0-9_-]{0,23}`.
pub fn topology_name_ok(name: &str) -> bool {
    name.len() <= 24 && node::node_name_ok(name)
}

/// What a topology name must look like, for messages.
const NAME_RULE: &str =
    "names are 1-24 characters: lowercase letters, digits, `_` and `-`, starting with a letter or digit";

/// A topology name given outside a file (`down --name`) that breaks the
/// grammar of the file's `name`: it becomes file and namespace names, so it
/// is refused before anything is read or made with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid topology name {name:?}: {NAME_RULE}")]
pub struct NameError {
    /// The name as given.
    pub name: String,
}

/// `name` when it is a valid topology name (the rule of the file's `name`).
pub fn checked_name(name: String) -> Result<String, NameError> {
    if topology_name_ok(&name) {
        Ok(name)
    } else {
        Err(NameError { name })
    }
}

/// Reads and validates the topology file at `path`.
pub fn load(path: &Path) -> Result<Topology, SpecErrors> {
    let (shown, text) = read(path)?;
    parse_str(&shown, &text)
}

/// The topology name of the file at `path`, read without parsing or
/// validating what follows it: `down` needs nothing else, and a file
/// broken since `up` still names what to remove. When no valid name is
/// found that way, the whole file is loaded, so the errors are located.
pub fn load_name(path: &Path) -> Result<String, SpecErrors> {
    let (shown, text) = read(path)?;
    // A file cut short by a NUL (or otherwise refused) gets its located error.
    match text::check(&text).ok().and_then(yaml::top_level_name) {
        Some(name) if topology_name_ok(&name) => Ok(name),
        _ => parse_str(&shown, &text).map(|t| t.network.name),
    }
}

/// The file at `path` as text (refusing one too large or not UTF-8), and
/// its path as shown in messages.
fn read(path: &Path) -> Result<(String, String), SpecErrors> {
    let shown = path.display().to_string();
    let fail = |message: String| SpecErrors {
        path: shown.clone(),
        source: String::new(),
        errors: vec![SpecError::new(Location::START, message, None)],
    };
    let meta = std::fs::metadata(path).map_err(|e| fail(format!("cannot read {shown}: {e}")))?;
    if meta.len() > MAX_FILE_BYTES as u64 {
        return Err(fail(format!(
            "the file is {} bytes; at most {MAX_FILE_BYTES} are accepted",
            meta.len()
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| fail(format!("cannot read {shown}: {e}")))?;
    let text = text::decode(bytes).map_err(|(source, e)| SpecErrors {
        path: shown.clone(),
        source,
        errors: vec![e],
    })?;
    Ok((shown, text))
}

/// Parses and validates a topology given as text; `path` is only used in messages.
pub fn parse_str(path: &str, text: &str) -> Result<Topology, SpecErrors> {
    let text = text::check(text).map_err(|(body, e)| SpecErrors {
        path: path.to_string(),
        source: body.to_string(),
        errors: vec![e],
    })?;
    let mut cx = Ctx::default();
    let topo = if text.len() > MAX_FILE_BYTES {
        cx.err(
            Location::START,
            format!(
                "the file is {} bytes; at most {MAX_FILE_BYTES} are accepted",
                text.len()
            ),
            None,
        );
        None
    } else {
        match yaml::parse(text) {
            Ok(root) => decode_root(&mut cx, &root),
            Err(e) => {
                cx.errors.push(e);
                None
            }
        }
    };
    match topo {
        Some(t) if cx.errors.is_empty() => Ok(t),
        _ => {
            let mut errors = cx.errors;
            if errors.is_empty() {
                // Decoding gave up without saying why: never return an empty list.
                errors.push(SpecError::new(
                    Location::START,
                    "the file is not a valid topology",
                    None,
                ));
            }
            errors.sort_by_key(|e| e.at.offset);
            errors.dedup();
            Err(SpecErrors {
                path: path.to_string(),
                source: text.to_string(),
                errors,
            })
        }
    }
}

/// Refuses files with absurd counts before any decoding work.
fn check_sizes(cx: &mut Ctx, nodes: &Yaml) -> bool {
    let Value::Map(list) = &nodes.value else {
        return true;
    };
    if list.len() > MAX_NODES {
        cx.err(
            nodes.at,
            format!("{} nodes; at most {MAX_NODES} are accepted", list.len()),
            None,
        );
        return false;
    }
    let mut total = 0usize;
    for n in list {
        if let Value::Map(fields) = &n.value.value {
            for f in fields.iter().filter(|f| f.key == "interfaces") {
                if let Value::Map(ifs) = &f.value.value {
                    total += ifs.len();
                }
            }
        }
    }
    if total > MAX_INTERFACES {
        cx.err(
            nodes.at,
            format!("{total} interfaces; at most {MAX_INTERFACES} are accepted"),
            None,
        );
        return false;
    }
    true
}

fn decode_root(cx: &mut Ctx, root: &Yaml) -> Option<Topology> {
    let f = Fields::new(cx, root, "the topology", TOP_FIELDS)?;
    let name = f.need(cx, "name").and_then(|y| {
        let n = decode::str_of(cx, y)?;
        if !topology_name_ok(n) {
            cx.err(
                y.at,
                format!("invalid topology name `{n}`"),
                Some(NAME_RULE.into()),
            );
        }
        Some(n.to_string())
    });
    let nodes_y = f.need(cx, "nodes")?;
    if !check_sizes(cx, nodes_y) {
        return None;
    }
    // `entries` reports duplicate nodes; decode_nodes reads the same map.
    if !matches!(nodes_y.value, Value::Map(_)) {
        entries(cx, nodes_y, "node", "a map of nodes by name");
        return None;
    }
    let mut nodes = node::decode_nodes(cx, nodes_y);
    link::decode_links(cx, f.get("links"), &mut nodes);
    // LIFs first: routes through their subnets are checked with them.
    lif::decode(cx, f.get("lifs"), &mut nodes);
    validate::validate(cx, &nodes);
    if let Some(n) = &name {
        dhcp::finish(cx, n, &mut nodes);
    }
    let expect = expect::decode_expect(cx, f.get("expect"), &nodes);
    let locations = cx
        .locs
        .iter()
        .filter(|(k, _)| !k.starts_with("links/"))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    Some(Topology {
        network: model::Network { name: name?, nodes },
        expect,
        locations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LXC: &str = "name: lxc
nodes:
  gw:
    forwarding: true
    interfaces:
      lxcbr0: { kind: bridge, stp: false, addresses: [10.0.3.1/24], ports: [veth0] }
      veth0: {}
      up0: { addresses: [100.64.0.1/30] }
    nat:
      - masquerade: { source: 10.0.3.0/24, out: up0 }
  c1:
    interfaces:
      eth0: { addresses: [10.0.3.78/24] }
    routes:
      - { to: default, via: 10.0.3.1 }
  isp:
    interfaces:
      eth0: { addresses: [100.64.0.2/30] }
links:
  - [gw/veth0, c1/eth0]
  - [gw/up0, isp/eth0]
expect:
  - reach: c1 -> 10.0.3.1
";

    #[test]
    fn a_full_topology_resolves() {
        let t = parse_str("lxc.yaml", LXC).unwrap();
        let gw = &t.network.nodes["gw"];
        assert_eq!(gw.links["veth0"].master.as_deref(), Some("lxcbr0"));
        assert!(
            matches!(&gw.links["veth0"].kind, model::LinkKind::Veth(v) if v.peer == Some(model::IfRef { node: "c1".into(), name: "eth0".into() }))
        );
        assert_eq!(t.locations["c1/eth0"].line, 13);
        assert_eq!(t.locations["c1"].line, 11);
        assert_eq!(t.expect.len(), 1);
        assert_eq!(t.network.name, "lxc");
    }

    #[test]
    fn all_errors_are_reported_in_file_order() {
        let text = LXC
            .replace("stp: false", "stpp: false")
            .replace("via: 10.0.3.1", "via: 10.9.9.1");
        let e = parse_str("x.yaml", &text).unwrap_err();
        assert_eq!(e.errors.len(), 2, "{:?}", e.errors);
        assert!(e.errors[0].message.contains("unknown field `stpp`"));
        assert!(e.errors[1].message.contains("outside every subnet"));
        assert_eq!(e.errors[1].at.line, 15);
    }

    #[test]
    fn limits_are_enforced() {
        let big = "#".repeat(MAX_FILE_BYTES + 1);
        assert!(parse_str("x", &big).unwrap_err().errors[0]
            .message
            .contains("bytes"));
        let mut many = String::from("name: x\nnodes:\n");
        for i in 0..=MAX_NODES {
            many.push_str(&format!("  n{i}: {{}}\n"));
        }
        assert!(parse_str("x", &many).unwrap_err().errors[0]
            .message
            .contains("nodes; at most"));
    }

    #[test]
    fn names_are_checked() {
        assert!(topology_name_ok("lxc"));
        assert!(!topology_name_ok(&"a".repeat(25)));
        assert!(!topology_name_ok("Lab"));
        assert_eq!(checked_name("lab-1".into()), Ok("lab-1".into()));
        for bad in [
            "",
            "..",
            "../../tmp/x",
            "a/b",
            &"a".repeat(25),
            "läb",
            "lab\n",
        ] {
            let e = checked_name(bad.into()).unwrap_err();
            assert!(e.to_string().contains("1-24 characters"), "{e}");
        }
    }
}
