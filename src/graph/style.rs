//! Colours and words shared by every format, so a DOT picture and a
//! Mermaid one read alike.
use super::model::{Edge, Iface, Relation};

/// The fill of an interface by kind.
pub fn fill(kind: &str) -> &'static str {
    match kind {
        "bridge" => "#d6e9ff",
        "bond" | "team" => "#fff2c2",
        "vlan" => "#eadffb",
        "vxlan" => "#ffdbe3",
        "macvlan" | "macvtap" | "ipvlan" | "ipvtap" => "#dcf5dc",
        "tun" | "tap" => "#eeeeee",
        "external" => "#d9d9d9",
        "dummy" => "#f5f5f5",
        _ => "#ffffff",
    }
}

/// Live states of an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Not drawn live.
    Unknown,
    /// Up with carrier.
    Up,
    /// Up without carrier.
    NoCarrier,
    /// Administratively down.
    Down,
    /// Not in the kernel.
    Missing,
    /// Differs from the file.
    Drifted,
}

/// The live state of `i`.
pub fn health(i: &Iface) -> Health {
    let Some(s) = &i.state else {
        return Health::Unknown;
    };
    if !s.present {
        Health::Missing
    } else if s.drift.is_some() {
        Health::Drifted
    } else if s.up == Some(false) {
        Health::Down
    } else if s.carrier == Some(false) {
        Health::NoCarrier
    } else {
        Health::Up
    }
}

/// The border colour of a health, and its legend words.
pub fn border(h: Health) -> (&'static str, &'static str) {
    match h {
        Health::Unknown => ("#555555", ""),
        Health::Up => ("#2e7d32", "up, carrier"),
        Health::NoCarrier => ("#ef6c00", "up, no carrier"),
        Health::Down => ("#757575", "down"),
        Health::Missing => ("#c62828", "missing"),
        Health::Drifted => ("#6a1b9a", "drifted from the file"),
    }
}

/// The colour of an edge and whether it is dashed, with its words.
pub fn edge(e: &Edge) -> (&'static str, bool, Option<String>) {
    let mut words: Vec<String> = e.label.iter().cloned().collect();
    let (mut colour, mut dashed) = match e.relation {
        Relation::Veth => ("#37474f", false),
        Relation::Port => ("#1565c0", false),
        Relation::Lower => ("#6d4c41", true),
        Relation::Tunnel => ("#ad1457", true),
    };
    if let Some(s) = &e.stp {
        match s.as_str() {
            "forwarding" => {}
            "blocking" | "disabled" => {
                colour = "#c62828";
                dashed = true;
                words.push(s.clone());
            }
            _ => {
                colour = "#ef6c00";
                dashed = true;
                words.push(s.clone());
            }
        }
    }
    match e.active {
        Some(true) => {
            colour = "#2e7d32";
            words.push("active".into());
        }
        Some(false) => {
            colour = "#9e9e9e";
            dashed = true;
            words.push("backup".into());
        }
        None => {}
    }
    let label = (!words.is_empty()).then(|| words.join(", "));
    (colour, dashed, label)
}

/// Red: a failed expectation.
pub const FAILED: &str = "#c62828";

/// A legend row for an interface border: colour and words.
pub type BorderRow = (&'static str, &'static str);
/// A legend row for an edge: colour, dashed, words.
pub type EdgeRow = (&'static str, bool, &'static str);

/// The legend of a live picture.
pub fn legend() -> (Vec<BorderRow>, Vec<EdgeRow>) {
    let borders = [
        Health::Up,
        Health::NoCarrier,
        Health::Down,
        Health::Missing,
        Health::Drifted,
    ]
    .into_iter()
    .map(border)
    .collect();
    let edges = vec![
        ("#37474f", false, "veth pair"),
        ("#1565c0", false, "port of a bridge, bond or team"),
        ("#6d4c41", true, "stacked on its lower"),
        ("#ad1457", true, "vxlan tunnel to its remote"),
        ("#c62828", true, "STP blocking / disabled port"),
        ("#ef6c00", true, "STP listening / learning port"),
        ("#2e7d32", false, "active port of a bond or team"),
        ("#9e9e9e", true, "backup port"),
        (FAILED, true, "failed expectation"),
    ];
    (borders, edges)
}
