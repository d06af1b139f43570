//! Graphviz DOT: nodes as clusters, interfaces as rounded boxes, a legend
//! when the kernel's state is drawn.
use std::fmt::Write as _;

use super::model::{Graph, Relation};
use super::style::{self, Health};

/// A DOT string literal.
fn q(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Text for an HTML-like label.
fn html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The DOT text of `g`.
pub fn render(g: &Graph) -> String {
    let mut o = String::new();
    let title = if g.live {
        format!("{} (live)", g.name)
    } else {
        g.name.clone()
    };
    let _ = writeln!(o, "digraph {} {{", q(&g.name));
    let _ = writeln!(
        o,
        "  graph [rankdir=LR, compound=true, newrank=true, nodesep=0.25, ranksep=0.55, fontname=\"Helvetica,Arial,sans-serif\", fontsize=13, labelloc=t, label={}];",
        q(&format!("netloom: {title}"))
    );
    o.push_str("  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica,Arial,sans-serif\", fontsize=10, margin=\"0.12,0.05\"];\n");
    o.push_str("  edge [fontname=\"Helvetica,Arial,sans-serif\", fontsize=9, arrowsize=0.6];\n");
    for (ci, c) in g.nodes.iter().enumerate() {
        let label = if c.host {
            format!("{} (the machine)", c.name)
        } else {
            c.name.clone()
        };
        let _ = writeln!(o, "  subgraph cluster_{ci} {{");
        let _ = writeln!(
            o,
            "    label={}; style=\"rounded,filled\"; fillcolor=\"{}\"; color=\"#90a4ae\"; fontsize=12;",
            q(&label),
            if c.host { "#f3f6f8" } else { "#fafafa" }
        );
        if c.interfaces.is_empty() {
            // An empty node still shows, as an empty box.
            let _ = writeln!(
                o,
                "    {} [label=\"\", shape=point, style=invis];",
                q(&format!("{}/", c.name))
            );
        }
        for i in &c.interfaces {
            let mut lines = vec![i.name.clone()];
            lines.extend(i.detail.iter().cloned());
            let h = style::health(i);
            if let Some(d) = i.state.as_ref().and_then(|s| s.drift.as_ref()) {
                lines.push(format!("drift: {d}"));
            }
            if h == Health::Missing {
                lines.push("missing".into());
            }
            let (border, _) = style::border(h);
            let mut attrs = format!(
                "label={}, fillcolor=\"{}\", color=\"{border}\"",
                q(&lines.join("\n")),
                style::fill(&i.kind)
            );
            if h != Health::Unknown {
                attrs.push_str(", penwidth=2");
            }
            if i.kind == "external" || h == Health::Down {
                attrs.push_str(", style=\"rounded,filled,dashed\"");
            }
            let _ = writeln!(o, "    {} [{attrs}];", q(&i.id));
        }
        o.push_str("  }\n");
    }
    for r in &g.remotes {
        let _ = writeln!(
            o,
            "  {} [label={}, shape=ellipse, style=dashed, fillcolor=white];",
            q(&r.id),
            q(&r.id)
        );
    }
    for e in &g.edges {
        let (colour, dashed, label) = style::edge(e);
        let mut attrs = format!("color=\"{colour}\", fontcolor=\"{colour}\"");
        match e.relation {
            Relation::Veth => attrs.push_str(", dir=none, penwidth=2"),
            Relation::Port => attrs.push_str(", arrowhead=empty"),
            Relation::Lower => attrs.push_str(", arrowhead=vee"),
            Relation::Tunnel => {
                attrs.push_str(", dir=both, arrowhead=vee, arrowtail=vee, penwidth=1.5")
            }
        }
        if dashed {
            attrs.push_str(", style=dashed");
        }
        if e.active == Some(true) {
            attrs.push_str(", penwidth=2.5");
        }
        if let Some(l) = label {
            let _ = write!(attrs, ", label={}", q(&l));
        }
        let _ = writeln!(o, "  {} -> {} [{attrs}];", q(&e.from), q(&e.to));
    }
    for (k, f) in g.failed.iter().enumerate() {
        let label = format!("✗ {}\n{}", f.text, f.reason);
        let to = match &f.to {
            Some(t) => t.clone(),
            None => {
                let id = format!("failed {k}");
                let _ = writeln!(
                    o,
                    "  {} [label={}, shape=note, color=\"{}\", fontcolor=\"{}\", fillcolor=white];",
                    q(&id),
                    q(&label),
                    style::FAILED,
                    style::FAILED
                );
                id
            }
        };
        let _ = writeln!(
            o,
            "  {} -> {} [color=\"{c}\", fontcolor=\"{c}\", style=dotted, penwidth=2, constraint=false, label={}];",
            q(&f.from),
            q(&to),
            q(&format!("✗ {}", f.text)),
            c = style::FAILED
        );
    }
    if g.live {
        legend(&mut o);
    }
    o.push_str("}\n");
    o
}

/// A table of what the colours mean.
fn legend(o: &mut String) {
    let (borders, edges) = style::legend();
    let mut rows = String::new();
    rows.push_str("<tr><td colspan=\"2\"><b>legend</b></td></tr>");
    for (colour, words) in borders {
        let _ = write!(
            rows,
            "<tr><td border=\"2\" color=\"{colour}\" bgcolor=\"white\" width=\"24\"></td><td align=\"left\">interface: {}</td></tr>",
            html(words)
        );
    }
    for (colour, dashed, words) in edges {
        let line = if dashed { "- - -" } else { "——" };
        let _ = write!(
            rows,
            "<tr><td><font color=\"{colour}\">{line}</font></td><td align=\"left\">{}</td></tr>",
            html(words)
        );
    }
    let _ = writeln!(
        o,
        "  subgraph cluster_legend {{ label=\"\"; style=invis; legend [shape=plaintext, style=\"\", label=<<table border=\"0\" cellborder=\"0\" cellspacing=\"2\">{rows}</table>>]; }}"
    );
}
