//! Mermaid flowchart (renders in GitHub and GitLab Markdown): nodes as
//! subgraphs, interfaces as boxes, the same colours as the DOT picture.
use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::model::{Graph, Relation};
use super::style::{self, Health};

/// Text inside a Mermaid `["..."]` label.
fn text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "#quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The Mermaid text of `g`.
pub fn render(g: &Graph) -> String {
    let mut o = String::from("flowchart LR\n");
    let mut ids: BTreeMap<&str, String> = BTreeMap::new();
    let mut kinds: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut borders: Vec<(String, &'static str)> = Vec::new();
    for (ci, c) in g.nodes.iter().enumerate() {
        let label = if c.host {
            format!("{} (the machine)", c.name)
        } else {
            c.name.clone()
        };
        let _ = writeln!(o, "  subgraph n{ci}[\"{}\"]", text(&label));
        if c.interfaces.is_empty() {
            let _ = writeln!(o, "    n{ci}_empty[\" \"]");
        }
        for i in &c.interfaces {
            let id = format!("i{}", ids.len());
            let mut lines = vec![format!("<b>{}</b>", text(&i.name))];
            lines.extend(i.detail.iter().map(|d| text(d)));
            let h = style::health(i);
            if let Some(d) = i.state.as_ref().and_then(|s| s.drift.as_ref()) {
                lines.push(format!("drift: {}", text(d)));
            }
            if h == Health::Missing {
                lines.push("missing".into());
            }
            let _ = writeln!(o, "    {id}[\"{}\"]", lines.join("<br/>"));
            kinds.entry(i.kind.clone()).or_default().push(id.clone());
            if h != Health::Unknown {
                borders.push((id.clone(), style::border(h).0));
            }
            ids.insert(&i.id, id);
        }
        o.push_str("  end\n");
    }
    for (k, r) in g.remotes.iter().enumerate() {
        let id = format!("r{k}");
        let _ = writeln!(o, "  {id}([\"{}\"])", text(&r.id));
        ids.insert(&r.id, id);
    }
    let mut links = Vec::new();
    for e in &g.edges {
        let (Some(a), Some(b)) = (ids.get(e.from.as_str()), ids.get(e.to.as_str())) else {
            continue;
        };
        let (colour, dashed, label) = style::edge(e);
        let arrow = match (e.relation, dashed) {
            (Relation::Veth, _) => "---",
            (Relation::Tunnel, _) => "<-.->",
            (_, true) => "-.->",
            (_, false) => "-->",
        };
        match label {
            Some(l) => {
                let _ = writeln!(o, "  {a} {arrow}|\"{}\"| {b}", text(&l));
            }
            None => {
                let _ = writeln!(o, "  {a} {arrow} {b}");
            }
        }
        links.push(colour);
    }
    for (k, f) in g.failed.iter().enumerate() {
        let Some(a) = ids.get(f.from.as_str()).cloned() else {
            continue;
        };
        let b = match f.to.as_ref().and_then(|t| ids.get(t.as_str())) {
            Some(b) => b.clone(),
            None => {
                let id = format!("f{k}");
                let _ = writeln!(o, "  {id}>\"{}\"]", text(&f.reason));
                id
            }
        };
        let _ = writeln!(o, "  {a} -.-x|\"✗ {}\"| {b}", text(&f.text));
        links.push(style::FAILED);
    }
    for (kind, members) in &kinds {
        let class = format!(
            "k_{}",
            kind.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
        );
        let _ = writeln!(
            o,
            "  classDef {class} fill:{},stroke:#555555",
            style::fill(kind)
        );
        let _ = writeln!(o, "  class {} {class}", members.join(","));
    }
    for (id, colour) in borders {
        let _ = writeln!(o, "  style {id} stroke:{colour},stroke-width:2px");
    }
    for (k, colour) in links.iter().enumerate() {
        let _ = writeln!(o, "  linkStyle {k} stroke:{colour}");
    }
    o
}
