//! Explanations and matrices as text for people (JSON is the types' serde).
use std::fmt::Write as _;

use super::{Disposition, Evidence, Explanation, Matrix, Mode, StepType, Trace};

fn kind_word(k: StepType) -> &'static str {
    match k {
        StepType::Originate => "originate",
        StepType::Route => "route",
        StepType::Neighbour => "neighbour",
        StepType::Segment => "segment",
        StepType::Filter => "filter",
        StepType::Transform => "nat",
        StepType::Deliver => "deliver",
        StepType::Drift => "DRIFT",
    }
}

fn trace(out: &mut String, title: &str, t: &Trace, live: bool, indent: &str) {
    let _ = writeln!(out, "{indent}{title}: {}", t.disposition);
    for h in &t.hops {
        let _ = writeln!(out, "{indent}  {}", h.node);
        for s in &h.steps {
            let mark = match (s.action, live && s.evidence == Evidence::Model) {
                (super::Action::Drop, _) => " [drop]",
                (_, true) => " [model]",
                _ => "",
            };
            let _ = writeln!(
                out,
                "{indent}    {:<9}  {}{mark}",
                kind_word(s.kind),
                s.detail
            );
        }
    }
}

/// One explanation, indented by `indent`.
pub fn explanation(e: &Explanation, indent: &str) -> String {
    let mut out = String::new();
    let f = &e.flow;
    let from = match &f.src_iface {
        Some(i) => format!("{}/{i}", f.src),
        None => f.src.clone(),
    };
    let holder = f
        .dst_holder
        .as_deref()
        .map(|h| format!(" ({h})"))
        .unwrap_or_default();
    let mode = match e.mode {
        Mode::Static => "static",
        Mode::Live => "live",
    };
    let _ = writeln!(
        out,
        "{indent}{from} -> {}{holder} {} [{mode}]: {}",
        f.dst, f.proto, e.disposition
    );
    let _ = writeln!(out, "{indent}  {}", e.reason);
    if let Some(r) = &e.rule {
        let _ = writeln!(out, "{indent}  rule {} ({})", r.id, r.kernel);
    }
    let live = e.mode == Mode::Live;
    trace(
        &mut out,
        "request",
        &e.forward,
        live,
        &format!("{indent}  "),
    );
    if let Some(r) = &e.reply {
        trace(&mut out, "answer", r, live, &format!("{indent}  "));
    }
    if !e.drift.is_empty() {
        let _ = writeln!(out, "{indent}  drift (the kernel differs from the file):");
        for d in &e.drift {
            let _ = writeln!(out, "{indent}    {d}");
        }
    }
    if let Some(t) = &e.trace {
        out.push_str(&super::trace::render(t, &format!("{indent}  ")));
    }
    out
}

/// A short code per disposition, for the matrix.
pub fn code(d: Disposition) -> &'static str {
    match d {
        Disposition::Delivered => "ok",
        Disposition::NoRoute => "NR",
        Disposition::NeighbourUnreachable => "NU",
        Disposition::DeniedByDeviceMode => "DM",
        Disposition::PortNotForwarding => "PF",
        Disposition::VlanFiltered => "VF",
        Disposition::FilteredByNft => "NF",
        Disposition::ForwardingDisabled => "FD",
        Disposition::ReversePathFilter => "RP",
        Disposition::NoReturnPath => "RT",
        Disposition::Loop => "LP",
        Disposition::LinkDown => "LD",
        Disposition::NotReady => "NY",
        Disposition::InsufficientInfo => "??",
    }
}

/// The matrix as a table: a row per node, a column per address.
pub fn matrix(m: &Matrix) -> String {
    let mut out = String::new();
    let w = m.nodes.iter().map(String::len).max().unwrap_or(4).max(4);
    let cols: Vec<String> = m.addresses.iter().map(|(a, _)| a.to_string()).collect();
    let cw: Vec<usize> = cols.iter().map(|c| c.len().max(2)).collect();
    let _ = write!(out, "{:<w$}", "");
    for (c, width) in cols.iter().zip(&cw) {
        let _ = write!(out, "  {c:<width$}");
    }
    out.push('\n');
    for (r, node) in m.nodes.iter().enumerate() {
        let _ = write!(out, "{node:<w$}");
        for (c, width) in cw.iter().enumerate() {
            let cell = &m.cells[r * cols.len() + c];
            let _ = write!(out, "  {:<width$}", code(cell.disposition));
        }
        out.push('\n');
    }
    let mut seen: Vec<Disposition> = m.cells.iter().map(|c| c.disposition).collect();
    seen.sort();
    seen.dedup();
    let legend: Vec<String> = seen.iter().map(|d| format!("{} {d}", code(*d))).collect();
    let _ = writeln!(out, "{}", legend.join(", "));
    let _ = writeln!(
        out,
        "{} of {} pairs delivered ({}, {})",
        m.cells.iter().filter(|c| c.disposition.ok()).count(),
        m.cells.len(),
        m.proto,
        if m.mode == Mode::Live {
            "live"
        } else {
            "static"
        }
    );
    for d in &m.drift {
        let _ = writeln!(out, "drift: {d}");
    }
    out
}
