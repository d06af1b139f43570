//! Tables for people: columns laid out by comfy-table, coloured only on a
//! terminal and never when NO_COLOR is set (https://no-color.org).
use std::io::IsTerminal;

use comfy_table::{Cell, Color, Table};
use netloom::engine::{FdbReport, StatusReport};
use netloom::plan::SyncState;

/// Colours may be used: stdout is a terminal and NO_COLOR is not set.
pub fn colours() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

/// A borderless table of `header`: columns two spaces apart, the first at
/// the start of the line (so `grep ^NAME` finds a row).
pub fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_style(comfy_table::presets::NOTHING);
    t.set_header(header.iter().map(Cell::new).collect::<Vec<_>>());
    if !colours() {
        t.force_no_tty();
    }
    for c in t.column_iter_mut() {
        c.set_padding((0, 2));
    }
    t
}

/// The table as text, each line without trailing blanks, ending in a newline.
pub fn text(t: &Table) -> String {
    let mut out = t.trim_fmt();
    out.push('\n');
    out
}

/// A cell in `colour` (shown only where colours may be).
fn tinted(s: impl Into<String>, colour: Color) -> Cell {
    Cell::new(s.into()).fg(colour)
}

/// `status`: one row per object, its state, and what teamd or a tap adds;
/// then the services and LIFs.
pub fn status(st: &StatusReport) -> String {
    let mut t = table(&["OBJECT", "STATE"]);
    for o in &st.objects {
        let (state, colour) = match &o.state {
            SyncState::InSync => ("in sync".to_string(), Color::Green),
            SyncState::Missing => ("missing".to_string(), Color::Red),
            SyncState::Orphaned => (
                "orphaned (no longer in the file; `up` removes it)".to_string(),
                Color::Yellow,
            ),
            SyncState::Drifted { fields } => (
                format!(
                    "drifted: {}",
                    fields
                        .iter()
                        .map(|f| format!("{} {} (want {})", f.field, f.have, f.want))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                Color::Yellow,
            ),
        };
        let mut extra = st
            .devices
            .get(&o.object)
            .map(|d| format!("  [{d}]"))
            .unwrap_or_default();
        if let Some(tm) = st.teams.get(&o.object) {
            let ports: Vec<String> = tm
                .ports
                .iter()
                .map(|p| format!("{} {}", p.name, if p.link_up { "up" } else { "down" }))
                .collect();
            extra.push_str(&format!(
                "  [teamd: runner {}, active port {}, ports: {}]",
                tm.runner,
                tm.active_port.as_deref().unwrap_or("none"),
                ports.join(", ")
            ));
        }
        if let Some(f) = st.failover.get(&o.object) {
            extra.push_str(&format!("  [{f}]"));
        }
        t.add_row(vec![
            Cell::new(&o.object),
            tinted(format!("{state}{extra}"), colour),
        ]);
    }
    // Failover masters the file does not name are shown too: the kernel
    // made them, and a file's external lower may sit on one.
    for (name, f) in &st.failover {
        if !st.objects.iter().any(|o| &o.object == name) {
            t.add_row(vec![Cell::new(name), Cell::new(format!("observed  [{f}]"))]);
        }
    }
    let mut out = text(&t);
    out.push_str(&services(st));
    out
}

/// The services (dnsmasq, DHCP clients, LIF watchers) and where each LIF
/// is, one line each after the objects.
fn services(st: &StatusReport) -> String {
    let mut out = String::new();
    for v in &st.services {
        let run = match v.pid {
            Some(pid) if v.running => format!("running, pid {pid}"),
            _ => "NOT RUNNING".to_string(),
        };
        let report = if v.report.is_empty() {
            String::new()
        } else {
            format!("; {}", v.report)
        };
        out.push_str(&format!(
            "service {} {}: {run}: {}{report}\n",
            v.node, v.name, v.serves
        ));
    }
    for l in &st.lifs {
        let at = l.port.as_deref().unwrap_or("no port");
        let home = if l.at_home { "home" } else { "not home" };
        let sticky = if l.sticky { ", sticky" } else { "" };
        out.push_str(&format!(
            "lif {}: on {}/{at} ({home}: {}/{}{sticky})\n",
            l.name, l.node, l.node, l.home
        ));
    }
    out
}

/// `fdb`: the MAC table, then the spanning tree per port.
pub fn fdb(r: &FdbReport) -> String {
    let mut out = format!(
        "{}/{}: {} MAC table entr{}\n",
        r.node,
        r.bridge,
        r.entries.len(),
        if r.entries.len() == 1 { "y" } else { "ies" }
    );
    let mut t = table(&["MAC", "PORT", "VLAN", "TYPE", "AGE", "FLAGS"]);
    for e in &r.entries {
        let kind = serde_json::to_value(e.origin)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        t.add_row(vec![
            e.mac.clone(),
            e.port.clone(),
            e.vlan.map_or("-".into(), |v| v.to_string()),
            kind,
            e.age.map_or("-".into(), |a| format!("{a}s")),
            e.flags.join(","),
        ]);
    }
    out += &text(&t);
    let s = &r.stp;
    if !s.enabled {
        out += "\nspanning tree: off (every port forwards once it has carrier)\n";
    } else {
        let root = if s.root_port == 0 {
            "this bridge is the root".to_string()
        } else {
            format!("root port {}, path cost {}", s.root_port, s.root_path_cost)
        };
        out += &format!(
            "\nspanning tree: bridge {}, root {} ({root})\n",
            s.bridge_id, s.root_id
        );
    }
    let mut t = table(&[
        "PORT",
        "ROLE",
        "STATE",
        "COST",
        "PRIO",
        "DESIGNATED ROOT",
        "DESIGNATED BRIDGE",
        "DESIGNATED PORT",
    ]);
    for p in &s.ports {
        let colour = match p.state.as_str() {
            "forwarding" => Color::Green,
            "blocking" | "disabled" => Color::Red,
            _ => Color::Yellow,
        };
        t.add_row(vec![
            Cell::new(&p.name),
            Cell::new(&p.role),
            tinted(p.state.clone(), colour),
            Cell::new(p.cost),
            Cell::new(p.priority),
            Cell::new(&p.designated_root),
            Cell::new(&p.designated_bridge),
            Cell::new(format!("{:#06x}", p.designated_port)),
        ]);
    }
    out += &text(&t);
    out
}

/// `list`: one row per topology.
pub fn list(listed: &[netloom::engine::Listed]) -> String {
    let mut t = table(&["NAME", "STATE", "AGE", "NODES", "FILE"]);
    for l in listed {
        let colour = if l.state == "up" {
            Color::Green
        } else {
            Color::Yellow
        };
        t.add_row(vec![
            Cell::new(&l.name),
            tinted(l.state.clone(), colour),
            Cell::new(l.age_seconds.map_or("-".into(), age)),
            Cell::new(l.nodes.join(",")),
            Cell::new(l.file.as_deref().unwrap_or("-")),
        ]);
    }
    text(&t)
}

/// An age as kubectl shows one: `42s`, `7m`, `3h`, `2d`.
fn age(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 2 * 3600 => format!("{}m", s / 60),
        s if s < 2 * 86400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// Print a proof by traffic, with why each failed claim failed; its exit
/// code (1 when a claim failed).
pub fn verify(v: &netloom::engine::Verified, json: bool) -> u8 {
    if json {
        super::print_json(v);
    } else {
        println!("{}", v.report.readiness);
        print!("{}", netloom::verify::table(&v.report.outcomes));
        for x in &v.explanations {
            println!("\nwhy `{}`:", x.text);
            match (&x.explanation, &x.error) {
                (Some(e), _) => print!("{}", netloom::explain::render::explanation(e, "  ")),
                (None, Some(err)) => println!("  (no explanation: {err})"),
                (None, None) => {}
            }
        }
    }
    u8::from(!v.ok())
}
