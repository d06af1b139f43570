//! A topology being imported, as the lines of YAML it becomes: every field
//! one line, carrying where it came from, so that `netloom validate`'s
//! verdict on a line (see [`super::settle`]) names the imported text that
//! caused it.
use std::fmt::Write as _;

use super::error::Place;
use super::Skip;

/// Where an imported line came from: a place and the text there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct From {
    /// The place; `None` for what the import adds itself.
    pub at: Option<Place>,
    /// The text imported (`bridge_ports eth0 eth1`).
    pub text: String,
}

impl From {
    /// `file:line`, or `-` for what the import adds itself.
    pub fn place(&self) -> String {
        self.at.as_ref().map_or_else(|| "-".into(), Place::short)
    }
}

/// One YAML line (a field, an address, a route...) and its origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The YAML text without indentation (`mtu: 9000`, `10.0.0.1/24`).
    pub yaml: String,
    /// Where it came from.
    pub from: From,
}

/// A port of a bridge or bond, with its options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    /// The port's name.
    pub name: String,
    /// Where the port was named.
    pub from: From,
    /// Per-port options.
    pub fields: Vec<Entry>,
}

/// An interface of the imported node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Iface {
    /// The name.
    pub name: String,
    /// The kind word (`bridge`, `external`...); `None` for a veth end.
    pub kind: Option<String>,
    /// Its definitions, for the comment above it.
    pub from: Vec<From>,
    /// Scalar fields.
    pub fields: Vec<Entry>,
    /// Addresses (each an entry of the `addresses` list).
    pub addresses: Vec<Entry>,
    /// Ports.
    pub ports: Vec<Port>,
    /// A stand-in: a veth end paired with the same name in node `wire`.
    pub stand_in: bool,
}

impl Iface {
    /// An interface without fields.
    pub fn new(name: &str, kind: Option<&str>) -> Iface {
        Iface {
            name: name.to_string(),
            kind: kind.map(str::to_string),
            from: Vec::new(),
            fields: Vec::new(),
            addresses: Vec::new(),
            ports: Vec::new(),
            stand_in: false,
        }
    }
}

/// The whole import: one node of interfaces, routes and sysctls.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Draft {
    /// Topology name.
    pub name: String,
    /// The node the files describe.
    pub node: String,
    /// The node of the stand-ins' peers.
    pub wire: String,
    /// Header comment lines.
    pub header: Vec<String>,
    /// Interfaces in file order.
    pub ifaces: Vec<Iface>,
    /// Routes (each a flow map).
    pub routes: Vec<Entry>,
    /// Sysctls (`key: value`).
    pub sysctls: Vec<Entry>,
    /// What was not imported.
    pub skipped: Vec<Skip>,
    /// What was imported with a remark, or is no loss.
    pub notes: Vec<Skip>,
}

/// What a YAML line stands for, so a complaint about it can drop it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// Structure (`name:`, `nodes:`): nothing to drop.
    Fixed,
    /// A whole interface (its key or `kind:` line).
    Iface(usize),
    /// A field of an interface.
    Field(usize, usize),
    /// An address of an interface.
    Address(usize, usize),
    /// A port of an interface.
    Port(usize, usize),
    /// An option of a port.
    PortField(usize, usize, usize),
    /// A route.
    Route(usize),
    /// A sysctl.
    Sysctl(usize),
}

/// The YAML text of a draft, and what each of its lines stands for.
pub struct Rendered {
    /// The text.
    pub text: String,
    /// One owner per line (index 0 is line 1).
    pub owners: Vec<Owner>,
}

struct Out {
    text: String,
    owners: Vec<Owner>,
}

impl Out {
    fn line(&mut self, indent: usize, body: &str, comment: Option<&str>, owner: Owner) {
        let mut l = format!("{}{body}", " ".repeat(indent));
        if let Some(c) = comment {
            // Comments line up, as far as long values allow.
            let pad = 40usize.saturating_sub(l.chars().count()).max(1);
            let _ = write!(l, "{}# {c}", " ".repeat(pad));
        }
        self.text.push_str(&l);
        self.text.push('\n');
        self.owners.push(owner);
    }

    fn comment(&mut self, indent: usize, c: &str) {
        self.line(indent, &format!("# {c}"), None, Owner::Fixed);
    }
}

fn tag(f: &From) -> String {
    format!("{}: {}", f.place(), f.text)
}

/// Render `d` as a topology file.
pub fn render(d: &Draft) -> Rendered {
    let mut o = Out {
        text: String::new(),
        owners: Vec::new(),
    };
    for h in &d.header {
        o.comment(0, h);
    }
    o.line(0, &format!("name: {}", d.name), None, Owner::Fixed);
    o.line(0, "nodes:", None, Owner::Fixed);
    o.line(2, &format!("{}:", d.node), None, Owner::Fixed);
    if d.ifaces.is_empty() && d.routes.is_empty() && d.sysctls.is_empty() {
        o.line(4, "interfaces: {}", None, Owner::Fixed);
    }
    if !d.ifaces.is_empty() {
        o.line(4, "interfaces:", None, Owner::Fixed);
    }
    for (i, f) in d.ifaces.iter().enumerate() {
        iface(&mut o, i, f);
    }
    if !d.routes.is_empty() {
        o.line(4, "routes:", None, Owner::Fixed);
        for (r, e) in d.routes.iter().enumerate() {
            o.line(
                6,
                &format!("- {}", e.yaml),
                Some(&tag(&e.from)),
                Owner::Route(r),
            );
        }
    }
    if !d.sysctls.is_empty() {
        o.line(4, "sysctl:", None, Owner::Fixed);
        for (s, e) in d.sysctls.iter().enumerate() {
            o.line(6, &e.yaml, Some(&tag(&e.from)), Owner::Sysctl(s));
        }
    }
    let stand_ins: Vec<(usize, &Iface)> = d
        .ifaces
        .iter()
        .enumerate()
        .filter(|(_, f)| f.stand_in)
        .collect();
    if !stand_ins.is_empty() {
        o.comment(
            2,
            "Stand-ins for the machine's ports: each is a veth end whose peer waits here.",
        );
        o.line(2, &format!("{}:", d.wire), None, Owner::Fixed);
        o.line(4, "interfaces:", None, Owner::Fixed);
        for (i, f) in &stand_ins {
            o.line(
                6,
                &format!("{}: {{}}", super::yaml_name(&f.name)),
                None,
                Owner::Iface(*i),
            );
        }
        o.line(0, "links:", None, Owner::Fixed);
        for (i, f) in &stand_ins {
            let n = super::yaml_name(&f.name);
            o.line(
                2,
                &format!("- [{}/{n}, {}/{n}]", d.node, d.wire),
                None,
                Owner::Iface(*i),
            );
        }
    }
    list(&mut o, "Not imported", &d.skipped);
    list(&mut o, "Notes", &d.notes);
    Rendered {
        text: o.text,
        owners: o.owners,
    }
}

fn iface(o: &mut Out, i: usize, f: &Iface) {
    let name = super::yaml_name(&f.name);
    let what = f.kind.as_deref().unwrap_or(if f.stand_in {
        "veth (a stand-in for the machine's port)"
    } else {
        "veth"
    });
    let origin: Vec<String> = f.from.iter().map(tag).collect();
    let mut head = format!("{}: {what}", f.name);
    if !origin.is_empty() {
        let _ = write!(head, ", from {}", origin.join("; "));
    }
    o.comment(6, &head);
    let empty = f.fields.is_empty() && f.addresses.is_empty() && f.ports.is_empty();
    if empty {
        let body = match &f.kind {
            Some(k) => format!("{name}: {{ kind: {k} }}"),
            None => format!("{name}: {{}}"),
        };
        o.line(6, &body, None, Owner::Iface(i));
        return;
    }
    o.line(6, &format!("{name}:"), None, Owner::Iface(i));
    if let Some(k) = &f.kind {
        o.line(8, &format!("kind: {k}"), None, Owner::Iface(i));
    }
    for (j, e) in f.fields.iter().enumerate() {
        o.line(8, &e.yaml, Some(&tag(&e.from)), Owner::Field(i, j));
    }
    if !f.addresses.is_empty() {
        o.line(8, "addresses:", None, Owner::Iface(i));
        for (j, e) in f.addresses.iter().enumerate() {
            o.line(
                10,
                &format!("- {}", e.yaml),
                Some(&tag(&e.from)),
                Owner::Address(i, j),
            );
        }
    }
    if !f.ports.is_empty() {
        o.line(8, "ports:", None, Owner::Iface(i));
        for (p, port) in f.ports.iter().enumerate() {
            let pname = super::yaml_name(&port.name);
            if port.fields.is_empty() {
                o.line(
                    10,
                    &format!("{pname}: {{}}"),
                    Some(&tag(&port.from)),
                    Owner::Port(i, p),
                );
                continue;
            }
            o.line(
                10,
                &format!("{pname}:"),
                Some(&tag(&port.from)),
                Owner::Port(i, p),
            );
            for (j, e) in port.fields.iter().enumerate() {
                o.line(12, &e.yaml, Some(&tag(&e.from)), Owner::PortField(i, p, j));
            }
        }
    }
}

fn list(o: &mut Out, title: &str, items: &[Skip]) {
    if items.is_empty() {
        return;
    }
    o.comment(0, &format!("{title} ({}):", items.len()));
    for s in items {
        o.comment(
            0,
            &format!("  {}: `{}`: {}", s.from.place(), s.from.text, s.reason),
        );
    }
}

/// Remove what `owner` stands for from `d`; the origins of what went
/// (an interface takes its fields, addresses and ports along), empty when
/// the line is structure.
pub fn drop(d: &mut Draft, owner: Owner) -> Vec<From> {
    let port = |p: Port| std::iter::once(p.from).chain(p.fields.into_iter().map(|e| e.from));
    match owner {
        Owner::Fixed => Vec::new(),
        Owner::Iface(i) => {
            let f = d.ifaces.remove(i);
            let head = f.from.into_iter().next().unwrap_or(From {
                at: None,
                text: f.name,
            });
            std::iter::once(head)
                .chain(f.fields.into_iter().map(|e| e.from))
                .chain(f.addresses.into_iter().map(|e| e.from))
                .chain(f.ports.into_iter().flat_map(port))
                .collect()
        }
        Owner::Field(i, j) => vec![d.ifaces[i].fields.remove(j).from],
        Owner::Address(i, j) => vec![d.ifaces[i].addresses.remove(j).from],
        Owner::Port(i, p) => port(d.ifaces[i].ports.remove(p)).collect(),
        Owner::PortField(i, p, j) => vec![d.ifaces[i].ports[p].fields.remove(j).from],
        Owner::Route(r) => vec![d.routes.remove(r).from],
        Owner::Sysctl(s) => vec![d.sysctls.remove(s).from],
    }
}
