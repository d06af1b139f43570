//! graph: a topology drawn. Nodes are clusters holding their interfaces;
//! edges show veth pairs, the ports of bridges, bonds and teams, devices
//! stacked on their lowers (VLAN, MACVLAN, IPVLAN, a VXLAN's `dev`) and
//! VXLAN tunnels to their remotes; labels carry modes, ids and addresses.
//! From the file alone it needs no privilege; with the kernel's state
//! ([`crate::engine::live::Live`]) it colours carrier and admin state, STP
//! port states, the active port of a bond or team, drift and failed
//! expectations, with a legend.
//!
//! SVG comes from Graphviz's `dot`: its layered layout keeps each node a
//! box of its own (clusters) with edges between boxes routed around them,
//! which no Rust layout crate does (see docs/graph.md).
pub mod build;
pub mod dot;
pub mod mermaid;
pub mod model;
pub mod style;

use std::io::Write;
use std::process::{Command, Stdio};

pub use build::build;
pub use model::Graph;

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// SVG, laid out by Graphviz.
    Svg,
    /// Graphviz DOT text.
    Dot,
    /// A Mermaid flowchart.
    Mermaid,
    /// The graph as JSON.
    Json,
}

/// Why a picture could not be made.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// Graphviz is not installed.
    #[error("Graphviz's `dot` is needed for SVG and was not found ({0}); install the Debian package graphviz, or use --format dot|mermaid|json")]
    NoDot(std::io::Error),
    /// `dot` failed.
    #[error("Graphviz's `dot` failed: {0}")]
    Dot(String),
    /// JSON encoding failed.
    #[error("cannot encode JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// `g` in `format`.
pub fn render(g: &Graph, format: Format) -> Result<Vec<u8>, GraphError> {
    match format {
        Format::Dot => Ok(dot::render(g).into_bytes()),
        Format::Mermaid => Ok(mermaid::render(g).into_bytes()),
        Format::Json => {
            let mut s = serde_json::to_string_pretty(g)?;
            s.push('\n');
            Ok(s.into_bytes())
        }
        Format::Svg => svg(&dot::render(g)),
    }
}

/// Lay out DOT text with `dot -Tsvg`.
pub fn svg(dot_text: &str) -> Result<Vec<u8>, GraphError> {
    let mut child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(GraphError::NoDot)?;
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| GraphError::Dot("no standard input".into()))?;
    let text = dot_text.to_string();
    // Written from a thread: `dot` may fill its output before reading all input.
    let writer = std::thread::spawn(move || stdin.write_all(text.as_bytes()));
    let out = child
        .wait_with_output()
        .map_err(|e| GraphError::Dot(e.to_string()))?;
    let _ = writer.join();
    if !out.status.success() {
        return Err(GraphError::Dot(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    Ok(out.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAB: &str = "name: t
nodes:
  a:
    interfaces:
      eth0: { addresses: [10.0.0.1/24] }
      vx0: { kind: vxlan, vni: 7, remote: 10.0.0.2, dev: eth0 }
      br0: { kind: bridge, stp: true, ports: { vx0: { cost: 10 } } }
      eth0.5: { kind: vlan, lower: eth0, id: 5 }
  b:
    interfaces:
      eth0: { addresses: [10.0.0.2/24] }
      mv0: { kind: macvlan, lower: eth0, mode: private }
      vx1: { kind: vxlan, vni: 8, remote: 192.0.2.9, dev: eth0 }
links:
  - [a/eth0, b/eth0]
";

    fn graph() -> Graph {
        build(&crate::spec::parse_str("t.yaml", LAB).unwrap(), None)
    }

    #[test]
    fn every_relation_of_the_file_becomes_an_edge() {
        let g = graph();
        let has = |from: &str, to: &str, r: model::Relation| {
            g.edges
                .iter()
                .any(|e| e.from == from && e.to == to && e.relation == r)
        };
        assert!(has("a/eth0", "b/eth0", model::Relation::Veth));
        assert_eq!(
            g.edges
                .iter()
                .filter(|e| e.relation == model::Relation::Veth)
                .count(),
            1,
            "each veth pair once"
        );
        assert!(has("a/vx0", "a/br0", model::Relation::Port));
        assert!(has("a/eth0.5", "a/eth0", model::Relation::Lower));
        assert!(has("b/mv0", "b/eth0", model::Relation::Lower));
        assert!(has("a/vx0", "b/eth0", model::Relation::Tunnel));
        assert!(has("b/vx1", "remote 192.0.2.9", model::Relation::Tunnel));
        assert_eq!(g.remotes.len(), 1);
        let br = &g.nodes[0]
            .interfaces
            .iter()
            .find(|i| i.name == "br0")
            .unwrap();
        assert_eq!(br.detail[0], "bridge, stp");
        let port = g
            .edges
            .iter()
            .find(|e| e.relation == model::Relation::Port)
            .unwrap();
        assert_eq!(port.label.as_deref(), Some("cost 10"));
    }

    #[test]
    fn dot_and_mermaid_name_every_interface_and_quote_what_needs_it() {
        let g = graph();
        let dot = dot::render(&g);
        let mermaid = mermaid::render(&g);
        for (_, i) in g.interfaces() {
            assert!(dot.contains(&format!("\"{}\"", i.id)), "{}", i.id);
            assert!(
                mermaid.contains(&format!("<b>{}</b>", i.name)),
                "{}",
                i.name
            );
        }
        assert!(dot.contains("subgraph cluster_0"));
        assert!(mermaid.starts_with("flowchart LR\n"));
        assert!(mermaid.contains("subgraph n0[\"a\"]"));
        assert!(dot.contains("label=\"eth0\\nveth\\n10.0.0.1/24\""));
        let json: serde_json::Value =
            serde_json::from_slice(&render(&g, Format::Json).unwrap()).unwrap();
        assert_eq!(json["nodes"][1]["interfaces"][1]["kind"], "macvlan");
    }
}
