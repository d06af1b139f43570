//! What to explain: a flow from a node (or one of its interfaces) to an
//! address, a node or an interface, written as in the file's `reach:`
//! claims; and the mistakes in asking, each located.
use std::net::IpAddr;

use serde::Serialize;

use super::index::Index;
use crate::model::{Claim, Endpoint, Expectation, Probe, Target};
use crate::spec::Topology;

/// One flow to explain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Flow {
    /// Source node.
    pub src: String,
    /// The interface the probe is bound to, if named.
    pub src_iface: Option<String>,
    /// Destination address.
    pub dst: IpAddr,
    /// Who holds it in the file, `node/iface`.
    pub dst_holder: Option<String>,
    /// Probe protocol in words (`icmp`, `tcp/80`).
    pub proto: String,
    /// The probe.
    #[serde(skip)]
    pub probe: Probe,
}

/// Why a question cannot be explained; nothing was touched.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    /// SRC or DST names no node, or a node's interface that is not there.
    #[error("{arg} `{given}`: {why}")]
    Unknown {
        /// Which argument (`SRC`, `DST`).
        arg: &'static str,
        /// The text given.
        given: String,
        /// What is wrong and what there is, located.
        why: String,
    },
    /// DST names something without an address.
    #[error("DST `{given}`: {why}")]
    NoAddress {
        /// The text given.
        given: String,
        /// Why.
        why: crate::verify::Error,
    },
    /// `--proto` is not a probe.
    #[error("--proto `{0}`: probes are icmp, arp, udp/PORT, tcp/PORT (PORT 1..65535)")]
    BadProbe(String),
    /// `arp` asks for an IPv6 address.
    #[error("--proto arp probes IPv4 addresses only, and {0} is IPv6")]
    ArpV6(IpAddr),
    /// `--trace` needs root.
    #[error("--trace needs root: it adds a trace rule in each node on the path and listens to the kernel's trace events there (run as root, or leave --trace out)")]
    NotRoot,
    /// `--trace` needs the network up and live facts.
    #[error("--trace sends a real probe: it cannot go with --static")]
    TraceStatic,
    /// The network is not up.
    #[error("{file} is not up: none of its namespaces exists (bring it up with `netloom up {file}`, or explain from the file alone with --static)")]
    NotUp {
        /// The file.
        file: String,
    },
    /// Reading the kernel failed.
    #[error(transparent)]
    Kernel(#[from] crate::kernel::KernelError),
    /// A helper task failed.
    #[error("{0}")]
    Task(String),
}

/// A did-you-mean among `names` for `name` (edit distance at most 2).
fn suggest<'a>(name: &str, names: impl Iterator<Item = &'a str>) -> String {
    let d = |a: &str, b: &str| {
        let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
        let mut prev: Vec<usize> = (0..=b.len()).collect();
        for i in 1..=a.len() {
            let mut cur = vec![i; b.len() + 1];
            for j in 1..=b.len() {
                let c = usize::from(a[i - 1] != b[j - 1]);
                cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + c);
            }
            prev = cur;
        }
        prev[b.len()]
    };
    names
        .map(|n| (d(name, n), n))
        .filter(|(k, _)| *k <= 2)
        .min()
        .map(|(_, n)| format!("; did you mean `{n}`?"))
        .unwrap_or_default()
}

fn known_nodes(topo: &Topology) -> String {
    let v: Vec<&str> = topo.network.nodes.keys().map(String::as_str).collect();
    if v.len() > 12 {
        format!("{}, ... ({} in all)", v[..12].join(", "), v.len())
    } else {
        v.join(", ")
    }
}

/// Check that `node` (and `iface`) exist.
fn check_node(
    topo: &Topology,
    file: &str,
    arg: &'static str,
    given: &str,
) -> Result<(String, Option<String>), ExplainError> {
    let (node, iface) = match given.split_once('/') {
        Some((n, i)) => (n, Some(i)),
        None => (given, None),
    };
    let Some(n) = topo.network.nodes.get(node) else {
        return Err(ExplainError::Unknown {
            arg,
            given: given.to_string(),
            why: format!(
                "{file} has no node `{node}`{} (nodes: {})",
                suggest(node, topo.network.nodes.keys().map(String::as_str)),
                known_nodes(topo)
            ),
        });
    };
    if let Some(i) = iface {
        if !n.links.contains_key(i) {
            let at = topo.locations.get(node).map_or_else(
                || file.to_string(),
                |l| format!("{file}:{}:{}", l.line, l.column),
            );
            let known: Vec<&str> = n
                .links
                .values()
                .filter(|l| l.kind != crate::model::LinkKind::Loopback)
                .map(|l| l.name.as_str())
                .collect();
            return Err(ExplainError::Unknown {
                arg,
                given: given.to_string(),
                why: format!(
                    "node `{node}` ({at}) has no interface `{i}` (it has: {})",
                    known.join(", ")
                ),
            });
        }
    }
    Ok((node.to_string(), iface.map(str::to_string)))
}

/// The flow `SRC -> DST` of `topo` (read from `file`): SRC a node or
/// `node/iface`; DST an address, a node (its address the way `verify`
/// picks it) or `node/iface` (its first address).
pub fn flow(
    topo: &Topology,
    file: &str,
    src: &str,
    dst: &str,
    probe: Probe,
) -> Result<Flow, ExplainError> {
    let (node, iface) = check_node(topo, file, "SRC", src)?;
    let to = match dst.parse::<IpAddr>() {
        Ok(a) => Target::Addr(a),
        Err(_) => {
            let (n, i) = check_node(topo, file, "DST", dst)?;
            match i {
                Some(i) => Target::Iface(crate::model::IfRef { node: n, name: i }),
                None => Target::Node(n),
            }
        }
    };
    let e = Expectation {
        claim: Claim::Reach,
        from: Endpoint {
            node: node.clone(),
            iface: iface.clone(),
        },
        to,
        probe,
        count: 1,
        timeout_ms: 1000,
        text: format!("{src} -> {dst}"),
    };
    let addr = crate::verify::resolve_target(&topo.network, &e).map_err(|why| {
        ExplainError::NoAddress {
            given: dst.to_string(),
            why,
        }
    })?;
    if probe == Probe::Arp && addr.is_ipv6() {
        return Err(ExplainError::ArpV6(addr));
    }
    let idx = Index::new(&topo.network);
    Ok(Flow {
        src: node,
        src_iface: iface,
        dst: addr,
        dst_holder: idx.holders(addr).first().map(|&i| idx.label(i)),
        proto: super::probe_word(probe),
        probe,
    })
}

/// The flow an expectation of the file asks about (`verify` explains failed ones).
pub fn of_expectation(topo: &Topology, e: &Expectation) -> Option<Flow> {
    let addr = crate::verify::resolve_target(&topo.network, e).ok()?;
    let idx = Index::new(&topo.network);
    Some(Flow {
        src: e.from.node.clone(),
        src_iface: e.from.iface.clone(),
        dst: addr,
        dst_holder: idx.holders(addr).first().map(|&i| idx.label(i)),
        proto: super::probe_word(e.probe),
        probe: e.probe,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "name: t\nnodes:\n  a:\n    interfaces:\n      eth0: { addresses: [10.0.0.1/24] }\n  b:\n    interfaces:\n      eth0: { addresses: [10.0.0.2/24] }\nlinks:\n  - [a/eth0, b/eth0]\n";

    #[test]
    fn flows_resolve_and_mistakes_are_named() {
        let topo = crate::spec::parse_str("t.yaml", T).unwrap();
        let f = flow(&topo, "t.yaml", "a", "b", Probe::Icmp).unwrap();
        assert_eq!(f.dst, "10.0.0.2".parse::<IpAddr>().unwrap());
        assert_eq!(f.dst_holder.as_deref(), Some("b/eth0"));
        let e = flow(&topo, "t.yaml", "c", "b", Probe::Icmp)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("SRC `c`: t.yaml has no node `c`; did you mean `a`?"),
            "{e}"
        );
        let e = flow(&topo, "t.yaml", "a/eth9", "b", Probe::Icmp)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("node `a` (t.yaml:3:3) has no interface `eth9`"),
            "{e}"
        );
        let e = flow(&topo, "t.yaml", "a", "zz", Probe::Icmp)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("DST `zz`"), "{e}");
        assert!(flow(&topo, "t.yaml", "a", "192.0.2.1", Probe::Icmp).is_ok());
    }
}
