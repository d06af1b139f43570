//! From merged interfaces to a draft topology: each interface's kind is
//! told from its options (bridge-utils' `bridge_ports`, ifenslave's
//! `bond-slaves`/`bond-master`, the vlan package's `vlan-raw-device` and
//! dotted names, ifupdown2's `vxlan-id` and `link-type`), names that are
//! only referenced become the machine's ports, and every option becomes a
//! field or a listed skip.
mod bond;
mod bridge;
mod finish;
mod link;
mod stack;

use std::collections::{BTreeMap, BTreeSet};

use super::merge::{Def, Merged};
use super::read::{Files, Span};
use super::stanza::Opt;
use crate::import::draft::{Draft, Entry, From, Iface, Port};
use crate::import::error::ImportError;
use crate::import::Skip;

/// Why the settings of a machine's port are not imported.
pub const EXTERNAL: &str = "a setting of one of the machine's own ports, which netloom never changes (`kind: external`); `--stand-ins` imports it on a stand-in";

/// What an interface is, told from its options and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// `lo`.
    Loopback,
    /// A kind netloom does not model (why, and where that shows).
    Unsupported(String, Span),
    /// A bridge (`bridge-ports`, `bridge-vlan-aware`).
    Bridge,
    /// A bond (`bond-slaves`, or named by a `bond-master`).
    Bond,
    /// A VLAN on `lower` with `id`.
    Vlan {
        /// The lower device.
        lower: String,
        /// The VLAN id.
        id: u16,
    },
    /// A VXLAN (`vxlan-id`).
    Vxlan,
    /// A dummy (`link-type dummy`).
    Dummy,
    /// A VRF (`vrf-table`) with its routing table.
    Vrf {
        /// The table (`auto`: ifupdown2's first free one from 1001).
        table: u32,
    },
    /// One of the machine's ports.
    Physical,
}

/// The state of one conversion.
pub struct Cx<'a> {
    /// The files read.
    pub files: &'a Files,
    /// Physical ports become stand-ins instead of `external`.
    pub stand_ins: bool,
    /// The draft being built.
    pub d: Draft,
    /// Problems of the files.
    pub errors: Vec<ImportError>,
    /// Options of ports given away from their master's stanza (a port's
    /// own `bridge-access`, a bridge's `bridge_portprio PORT N`).
    pub port_fields: BTreeMap<String, Vec<Entry>>,
    /// Kinds by name.
    pub kinds: BTreeMap<String, Kind>,
    /// Ports of bonds named by `bond-master` on the ports' stanzas, by bond.
    pub bond_ports: BTreeMap<String, Vec<Port>>,
    /// Ports' own VLAN settings, by port (see [`bridge::PortVlans`]).
    pub port_vlans: BTreeMap<String, bridge::PortVlans>,
    /// Members of each VRF, named by the `vrf` line on their own stanza.
    pub vrf_members: BTreeMap<String, Vec<(String, Opt)>>,
    /// The table the next `vrf-table auto` gets.
    pub auto_table: u32,
}

impl Cx<'_> {
    /// The origin of `opt`.
    pub fn from(&self, opt: &Opt) -> From {
        From {
            at: Some(self.files.place(opt.span())),
            text: opt.text(),
        }
    }

    /// An origin at `span` with `text`.
    pub fn from_at(&self, span: Span, text: &str) -> From {
        From {
            at: Some(self.files.place(span)),
            text: text.to_string(),
        }
    }

    /// An entry `yaml` from `opt`.
    pub fn entry(&self, yaml: String, opt: &Opt) -> Entry {
        Entry {
            yaml,
            from: self.from(opt),
        }
    }

    /// List `opt` as not imported.
    pub fn skip(&mut self, opt: &Opt, reason: &str) {
        let from = self.from(opt);
        self.d.skipped.push(Skip {
            from,
            reason: reason.to_string(),
        });
    }

    /// A remark about `opt` that loses nothing.
    pub fn note(&mut self, from: From, reason: &str) {
        self.d.notes.push(Skip {
            from,
            reason: reason.to_string(),
        });
    }

    /// A problem with the value of `opt`.
    pub fn bad(&mut self, opt: &Opt, what: &str, help: Option<&str>) {
        let e = self.files.error(
            opt.value_span,
            format!("`{}`: `{}` is not {what}", opt.name.text, opt.value),
            help,
        );
        self.errors.push(e);
    }
}

/// Every option of `def`, with the stanza it stands in.
fn options(def: &Def) -> impl Iterator<Item = &Opt> {
    def.stanzas.iter().flat_map(|(s, _)| s.options.iter())
}

/// The first option of `def` whose key is one of `keys`.
fn find<'d>(def: &'d Def, keys: &[&str]) -> Option<&'d Opt> {
    options(def).find(|o| keys.contains(&o.key.as_str()))
}

/// The kind of `def` (bond masters named elsewhere in `masters`).
fn kind(cx: &mut Cx, def: &Def, masters: &BTreeSet<String>) -> Kind {
    if def.name == "lo" {
        return Kind::Loopback;
    }
    for (s, _) in &def.stanzas {
        if let Some(m) = &s.method {
            match m.text.as_str() {
                "loopback" => return Kind::Loopback,
                "tunnel" | "v4tunnel" | "6to4" | "ppp" | "wvdial" => {
                    return Kind::Unsupported(
                        format!(
                            "method {} makes a device of a kind netloom does not model",
                            m.text
                        ),
                        m.span,
                    )
                }
                _ => {}
            }
        }
    }
    if let Some(o) = find(def, &["vrf-table"]) {
        let table = if o.value == "auto" {
            cx.auto_table += 1;
            Some(cx.auto_table - 1)
        } else {
            o.value.parse::<u32>().ok().filter(|t| *t != 0)
        };
        return match table {
            Some(table) => Kind::Vrf { table },
            None => Kind::Unsupported(
                format!(
                    "vrf-table {}: not a routing table netloom can use (a number other than 0, or auto)",
                    o.value
                ),
                o.value_span,
            ),
        };
    }
    let unsupported: &[(&str, &str)] = &[
        (
            "ovs-type",
            "an Open vSwitch object, which netloom does not manage",
        ),
        (
            "ovs-bridge",
            "an Open vSwitch object, which netloom does not manage",
        ),
        (
            "tunnel-mode",
            "a GRE/IPIP/SIT tunnel, which netloom does not model",
        ),
        (
            "batman-ifaces",
            "a batman-adv mesh, which netloom does not model",
        ),
        ("xfrm-id", "an xfrm interface, which netloom does not model"),
        (
            "veth-peer-name",
            "a veth pair of ifupdown2's, whose peer netloom cannot place",
        ),
    ];
    for (key, why) in unsupported {
        if let Some(o) = find(def, &[key]) {
            return Kind::Unsupported(why.to_string(), o.name.span);
        }
    }
    if let Some(o) = find(def, &["link-type"]) {
        return match o.value.as_str() {
            "dummy" => Kind::Dummy,
            other => Kind::Unsupported(
                format!("link-type {other}, which netloom cannot import"),
                o.value_span,
            ),
        };
    }
    let bridge = find(def, &["bridge-ports", "bridge-vlan-aware"]);
    let bond = find(def, &["bond-slaves", "bond-ports", "bond-mode"]);
    let vxlan = find(def, &["vxlan-id"]);
    let vlan = find(def, &["vlan-raw-device", "vlan-id"]);
    let found: Vec<&Opt> = [bridge, bond, vxlan, vlan].into_iter().flatten().collect();
    if found.len() > 1 {
        let (a, b) = (found[0], found[1]);
        let e = cx.files.error(
            b.name.span,
            format!(
                "{} cannot be made by both `{}` ({}) and `{}`",
                def.name,
                a.name.text,
                cx.files.short(a.name.span),
                b.name.text
            ),
            Some("an interface has one kind: keep the options of one"),
        );
        cx.errors.push(e);
    }
    if bridge.is_some() {
        return Kind::Bridge;
    }
    if bond.is_some() || masters.contains(&def.name) {
        return Kind::Bond;
    }
    if vxlan.is_some() {
        return Kind::Vxlan;
    }
    if vlan.is_some() || def.name.contains('.') {
        return stack::vlan_kind(cx, def);
    }
    Kind::Physical
}

/// Convert `m` into a draft; problems of the files go to `cx.errors`.
pub fn convert(
    files: &Files,
    m: &Merged,
    stand_ins: bool,
    node: &str,
) -> (Draft, Vec<ImportError>) {
    let mut cx = Cx {
        files,
        stand_ins,
        d: Draft {
            node: node.to_string(),
            wire: "wire".into(),
            ..Draft::default()
        },
        errors: Vec::new(),
        port_fields: BTreeMap::new(),
        kinds: BTreeMap::new(),
        bond_ports: BTreeMap::new(),
        port_vlans: BTreeMap::new(),
        vrf_members: BTreeMap::new(),
        // ifupdown2 gives `auto` tables from 1001 up, in file order.
        auto_table: 1001,
    };
    let masters: BTreeSet<String> = m
        .defs
        .iter()
        .flat_map(|d| options(d).filter(|o| o.key == "bond-master"))
        .filter_map(|o| o.args.first().map(|w| w.text.clone()))
        .collect();
    for def in &m.defs {
        let k = kind(&mut cx, def, &masters);
        cx.kinds.insert(def.name.clone(), k);
        if let Some(o) = find(def, &["vrf"]) {
            cx.vrf_members
                .entry(o.value.clone())
                .or_default()
                .push((def.name.clone(), o.clone()));
        }
    }
    // Names only referenced (ports, lowers) are the machine's ports, or
    // VLANs by their dotted name (bridge-utils makes `eth0.5` in
    // bridge_ports), whose lower is referenced in turn.
    let defined: BTreeSet<String> = m.defs.iter().map(|d| d.name.clone()).collect();
    bond::masters(&mut cx, &m.defs);
    let mut order: Vec<String> = Vec::new();
    for def in &m.defs {
        for r in references(&cx, def) {
            add_referenced(&mut cx, &defined, &mut order, &r);
        }
        // A bond made only by its ports' `bond-master` lines (ifenslave).
        for o in options(def).filter(|o| o.key == "bond-master") {
            if let Some(b) = o.args.first() {
                if !defined.contains(&b.text) && !cx.kinds.contains_key(&b.text) {
                    cx.kinds.insert(b.text.clone(), Kind::Bond);
                    order.push(b.text.clone());
                }
            }
        }
        order.push(def.name.clone());
    }
    let by_name: BTreeMap<&str, &Def> = m.defs.iter().map(|d| (d.name.as_str(), d)).collect();
    let used: BTreeSet<String> = m.defs.iter().flat_map(|d| references(&cx, d)).collect();
    // Port options given on the ports' own stanzas, before the masters use them.
    for def in &m.defs {
        bridge::port_stanza(&mut cx, def);
    }
    for name in order {
        let k = cx.kinds[&name].clone();
        let Some(def) = by_name.get(name.as_str()).copied() else {
            referenced_only(&mut cx, &name, &k);
            continue;
        };
        if m.mapped.contains(&name) {
            let (s, _) = &def.stanzas[0];
            let from = cx.from_at(s.keyword.span, &format!("iface {}", s.name.text));
            cx.d.skipped.push(Skip {
                from,
                reason: "a logical interface a mapping script chooses at `ifup` time; it names no device".into(),
            });
            continue;
        }
        if def.template && def.allow.is_none() && !used.contains(&name) {
            let (s, _) = &def.stanzas[0];
            let from = cx.from_at(s.keyword.span, &format!("iface {}", s.name.text));
            cx.note(
                from,
                "a template for `inherits`; its options are imported where inherited",
            );
            continue;
        }
        one(&mut cx, def, &k, used.contains(&name));
    }
    finish::leftovers(&mut cx);
    finish::self_vlans(&mut cx);
    for (name, span) in &m.unknown_auto {
        let from = cx.from_at(*span, name);
        // ifup's patterns (`/eth*`, `/mac/...`, `NAME=LOGICAL`) match the
        // interfaces present when it runs.
        let why = if name.starts_with('/') || name.contains('=') {
            "a pattern ifup matches against the interfaces present when it runs"
        } else {
            "listed for bringing up, but no stanza defines it"
        };
        cx.note(from, why);
    }
    for (keyword, span) in &m.others {
        let from = cx.from_at(*span, keyword);
        let reason = match keyword.as_str() {
            "mapping" => "a mapping runs a script to choose the interface's name at `ifup` time",
            "rename" => "renames an interface of the machine, which netloom never changes",
            "vlan" => "ifupdown2's per-VLAN stanza of a VLAN-aware bridge is not modelled",
            _ => "",
        };
        if reason.is_empty() {
            cx.note(
                from,
                "no meaning for netloom (it concerns `ifdown -a` or hook scripts)",
            );
        } else {
            cx.d.skipped.push(Skip {
                from,
                reason: reason.into(),
            });
        }
    }
    let errors = std::mem::take(&mut cx.errors);
    (cx.d, errors)
}

/// Set field `key` of `f` from `opt`; the stanzas of one interface must agree.
pub fn field(cx: &mut Cx, f: &mut Iface, key: &str, value: &str, opt: &Opt) {
    let head = format!("{key}: ");
    if let Some(e) = f.fields.iter().find(|e| e.yaml.starts_with(&head)) {
        if e.yaml[head.len()..] != *value {
            let err = cx.files.error(
                opt.value_span,
                format!(
                    "`{}` here sets {key} {value}, but {} set it to {}",
                    opt.name.text,
                    e.from.place(),
                    &e.yaml[head.len()..]
                ),
                Some("the stanzas of one interface are merged: give each setting once"),
            );
            cx.errors.push(err);
        }
        return;
    }
    let e = cx.entry(format!("{head}{value}"), opt);
    f.fields.push(e);
}

/// The names `def` refers to as ports, lowers and underlays.
fn references(cx: &Cx, def: &Def) -> Vec<String> {
    let mut out = Vec::new();
    match cx.kinds.get(&def.name) {
        Some(Kind::Bridge) => out.extend(bridge::port_names(def).into_iter().map(|(n, _)| n)),
        Some(Kind::Bond) => out.extend(bond::port_names(def).into_iter().map(|(n, _)| n)),
        Some(Kind::Vlan { lower, .. }) => out.push(lower.clone()),
        Some(Kind::Vrf { .. }) => out.extend(
            cx.vrf_members
                .get(&def.name)
                .into_iter()
                .flatten()
                .map(|(n, _)| n.clone()),
        ),
        Some(Kind::Vxlan) => {
            if let Some(o) = find(def, &["vxlan-physdev"]) {
                out.push(o.value.clone());
            }
        }
        _ => {}
    }
    out
}

/// Make `name` known as a referenced-only interface (and its lower).
fn add_referenced(cx: &mut Cx, defined: &BTreeSet<String>, order: &mut Vec<String>, name: &str) {
    if defined.contains(name) || cx.kinds.contains_key(name) {
        return;
    }
    let k = match name.rsplit_once('.') {
        Some((lower, id)) if !lower.is_empty() => match id.parse::<u16>() {
            Ok(id) if id <= 4094 => Kind::Vlan {
                lower: lower.to_string(),
                id,
            },
            _ => Kind::Physical,
        },
        _ => Kind::Physical,
    };
    cx.kinds.insert(name.to_string(), k.clone());
    if let Kind::Vlan { lower, .. } = &k {
        add_referenced(cx, defined, order, lower);
    }
    order.push(name.to_string());
}

/// An interface without a stanza of its own.
fn referenced_only(cx: &mut Cx, name: &str, k: &Kind) {
    let mut f = match k {
        Kind::Vlan { lower, id } => {
            let mut f = Iface::new(name, Some("vlan"));
            f.fields.push(Entry {
                yaml: format!("lower: {}", crate::import::yaml_name(lower)),
                from: From {
                    at: None,
                    text: format!("the name {name}"),
                },
            });
            f.fields.push(Entry {
                yaml: format!("id: {id}"),
                from: From {
                    at: None,
                    text: format!("the name {name}"),
                },
            });
            f
        }
        Kind::Bond => {
            let mut f = Iface::new(name, Some("bond"));
            f.ports = cx.bond_ports.remove(name).unwrap_or_default();
            f
        }
        _ => physical(cx, name),
    };
    f.from.push(From {
        at: None,
        text: "named as a port or lower, no stanza of its own".into(),
    });
    take_port_fields(cx, &mut f);
    cx.d.ifaces.push(f);
}

/// One of the machine's ports: `external`, or a stand-in veth end.
fn physical(cx: &Cx, name: &str) -> Iface {
    if cx.stand_ins {
        let mut f = Iface::new(name, None);
        f.stand_in = true;
        f
    } else {
        Iface::new(name, Some("external"))
    }
}

/// The port options collected for ports of `f` (its own ports).
fn take_port_fields(cx: &mut Cx, f: &mut Iface) {
    for p in &mut f.ports {
        if let Some(extra) = cx.port_fields.remove(&p.name) {
            p.fields.extend(extra);
        }
    }
}

/// Convert one interface.
fn one(cx: &mut Cx, def: &Def, k: &Kind, used: bool) {
    let (first, _) = &def.stanzas[0];
    let origin: Vec<From> = def
        .stanzas
        .iter()
        .map(|(s, _)| {
            let mut text = format!("iface {}", s.name.text);
            for w in [&s.family, &s.method, &s.inherits].into_iter().flatten() {
                text.push(' ');
                text.push_str(&w.text);
            }
            cx.from_at(s.keyword.span, &text)
        })
        .collect();
    let mut f = match k {
        Kind::Loopback => {
            link::loopback(cx, def, &origin);
            return;
        }
        Kind::Unsupported(why, span) => {
            let from = cx.from_at(*span, &origin[0].text);
            cx.d.skipped.push(Skip {
                from,
                reason: format!("{}: {why}", def.name),
            });
            return;
        }
        Kind::Bridge => Iface::new(&def.name, Some("bridge")),
        Kind::Bond => Iface::new(&def.name, Some("bond")),
        Kind::Vlan { .. } => Iface::new(&def.name, Some("vlan")),
        Kind::Vxlan => Iface::new(&def.name, Some("vxlan")),
        Kind::Dummy => Iface::new(&def.name, Some("dummy")),
        Kind::Vrf { .. } => Iface::new(&def.name, Some("vrf")),
        Kind::Physical => physical(cx, &def.name),
    };
    f.from = origin;
    if def.allow.is_none() && !used {
        let from = cx.from_at(first.keyword.span, &format!("iface {}", def.name));
        cx.note(
            from,
            "not listed in `auto` or `allow-*`: ifupdown brings it up only on `ifup`; netloom makes it up",
        );
    }
    let external = *k == Kind::Physical && !cx.stand_ins;
    match k {
        Kind::Bridge => bridge::bridge(cx, def, &mut f),
        Kind::Bond => bond::bond(cx, def, &mut f),
        Kind::Vlan { lower, id } => stack::vlan(cx, def, &mut f, lower, *id),
        Kind::Vxlan => stack::vxlan(cx, def, &mut f),
        Kind::Vrf { table } => vrf(cx, def, &mut f, *table),
        _ => {}
    }
    link::common(cx, def, &mut f, external);
    take_port_fields(cx, &mut f);
    cx.d.ifaces.push(f);
}

/// A VRF's table, and its members (named on their own stanzas) as ports.
fn vrf(cx: &mut Cx, def: &Def, f: &mut Iface, table: u32) {
    if let Some(o) = find(def, &["vrf-table"]).cloned() {
        field(cx, f, "table", &table.to_string(), &o);
    }
    for (member, o) in cx.vrf_members.get(&def.name).cloned().unwrap_or_default() {
        if !f.ports.iter().any(|p| p.name == member) {
            let from = cx.from(&o);
            f.ports.push(port(&member, from));
        }
    }
}

/// A port entry named at `from`.
pub fn port(name: &str, from: From) -> Port {
    Port {
        name: name.to_string(),
        from,
        fields: Vec::new(),
    }
}
