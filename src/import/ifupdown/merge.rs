//! From stanzas to interfaces: `inherits` resolved (config.c's
//! `copy_variables`: the template is the first stanza of that name read
//! before, of the same family when the line names one), every stanza of one
//! name gathered (interfaces(5): "all of the configured addresses and
//! options for that interface will be applied"), `NAME:LABEL` aliases
//! folded into NAME, and the `auto`/`allow-*` classes noted.
use std::collections::BTreeMap;

use super::read::{Files, Span};
use super::stanza::{Item, Opt, Stanza};
use crate::import::error::ImportError;

/// Options that may be given many times, each adding (ifupdown runs every
/// command line; ifupdown2 keeps every value of a list option).
pub fn repeatable(key: &str) -> bool {
    matches!(
        key,
        "pre-up"
            | "up"
            | "post-up"
            | "down"
            | "pre-down"
            | "post-down"
            | "address"
            | "netmask"
            | "gateway"
            | "bridge-ports"
            | "bond-slaves"
            | "bond-ports"
            | "bridge-vids"
            | "bridge-trunk"
            | "bridge-portprio"
            | "bridge-portprios"
            | "bridge-pathcost"
            | "bridge-pathcosts"
            | "bond-arp-ip-target"
            | "vxlan-remoteip"
            | "dns-nameservers"
            | "dns-search"
    ) || key.starts_with("wireless-")
        || key.starts_with("wpa-")
}

/// One interface: every stanza naming it, in reading order.
#[derive(Debug, Clone)]
pub struct Def {
    /// The name.
    pub name: String,
    /// Its stanzas (inherited options first in each), with the label of an
    /// alias stanza (`eth0:1`).
    pub stanzas: Vec<(Stanza, Option<String>)>,
    /// The first `auto`/`allow-*` line naming it, and its class.
    pub allow: Option<(String, Span)>,
    /// Another stanza inherits from this one.
    pub template: bool,
}

/// What merging gives: interfaces in the order first read, the names
/// `auto` lists without a stanza, and the lines that stand alone.
pub struct Merged {
    /// Interfaces.
    pub defs: Vec<Def>,
    /// `auto`/`allow-*` names with no stanza (name, where).
    pub unknown_auto: Vec<(String, Span)>,
    /// Mapping stanzas and other lines netloom has no use for (keyword, line).
    pub others: Vec<(String, Span)>,
    /// Logical names a mapping chooses among (their stanzas name no device).
    pub mapped: Vec<String>,
}

/// Merge `items`; problems go to `errors`.
pub fn merge(files: &Files, items: &[Item], errors: &mut Vec<ImportError>) -> Merged {
    let mut resolved: Vec<Stanza> = Vec::new();
    let mut allow: BTreeMap<String, (String, Span)> = BTreeMap::new();
    let mut others = Vec::new();
    let mut templates: Vec<String> = Vec::new();
    let mut mapped: Vec<String> = Vec::new();
    for item in items {
        match item {
            Item::Iface(s) => {
                let mut s = s.clone();
                if let Some(t) = s.inherits.clone() {
                    let family = s.family.as_ref().map(|f| f.text.clone());
                    let base = resolved.iter().find(|r| {
                        r.name.text == t.text
                            && (family.is_none()
                                || r.family.as_ref().map(|f| &f.text) == family.as_ref())
                    });
                    let Some(base) = base else {
                        errors.push(files.error(
                            t.span,
                            format!(
                                "no stanza `iface {}{}` is read before this line to inherit from",
                                t.text,
                                family.map(|f| format!(" {f}")).unwrap_or_default()
                            ),
                            Some("`inherits` sees only stanzas read before it (of the same family when the line names one)"),
                        ));
                        continue;
                    };
                    templates.push(t.text.clone());
                    s = inherit(base, s);
                }
                check_repeats(files, &mut s, errors);
                resolved.push(s);
            }
            Item::Allow {
                keyword,
                class,
                names,
            } => {
                for n in names {
                    allow
                        .entry(n.text.clone())
                        .or_insert((class.clone(), keyword.span));
                }
            }
            Item::Mapping {
                keyword,
                line,
                names,
            } => {
                others.push((keyword.text.clone(), *line));
                mapped.extend(names.iter().cloned());
            }
            Item::Other { keyword, line, .. } => others.push((keyword.text.clone(), *line)),
        }
    }
    let mut defs: Vec<Def> = Vec::new();
    for s in resolved {
        let (name, label) = match s.name.text.split_once(':') {
            Some((n, l)) => (n.to_string(), Some(l.to_string())),
            None => (s.name.text.clone(), None),
        };
        match defs.iter_mut().find(|d| d.name == name) {
            Some(d) => d.stanzas.push((s, label)),
            None => defs.push(Def {
                name: name.clone(),
                stanzas: vec![(s, label)],
                allow: None,
                template: false,
            }),
        }
    }
    for d in &mut defs {
        d.template = templates.contains(&d.name);
        d.allow = allow.remove(&d.name).or_else(|| {
            // `auto eth0:1` brings up the alias of eth0.
            d.stanzas
                .iter()
                .find_map(|(s, _)| allow.get(&s.name.text).cloned())
        });
    }
    let unknown_auto = allow
        .into_iter()
        .filter(|(n, _)| !n.contains(':'))
        .map(|(n, (_, s))| (n, s))
        .collect();
    Merged {
        defs,
        unknown_auto,
        others,
        mapped,
    }
}

/// `child` with the options of `base` first; a single-valued option the
/// child sets again replaces the inherited one (ifupdown2's reading;
/// classic ifupdown joins both values with a newline, which no command
/// takes).
fn inherit(base: &Stanza, mut child: Stanza) -> Stanza {
    let mut options: Vec<Opt> = base
        .options
        .iter()
        .filter(|o| repeatable(&o.key) || !child.options.iter().any(|c| c.key == o.key))
        .cloned()
        .collect();
    options.append(&mut child.options);
    child.options = options;
    if child.family.is_none() {
        child.family = base.family.clone();
        child.method = base.method.clone();
    }
    child
}

/// A single-valued option given twice in one stanza is refused: ifupdown
/// would hand the command both values joined by a newline. The repeat is
/// dropped after being reported, so it causes no second complaint.
fn check_repeats(files: &Files, s: &mut Stanza, errors: &mut Vec<ImportError>) {
    let mut keep = vec![true; s.options.len()];
    for (i, o) in s.options.iter().enumerate() {
        if repeatable(&o.key) {
            continue;
        }
        if let Some(first) = s.options[..i].iter().find(|p| p.key == o.key) {
            keep[i] = false;
            // An inherited value was already replaced by `inherit`; two own
            // lines remain an error.
            errors.push(files.error(
                o.name.span,
                format!(
                    "`{}` is given twice in the stanza of {} (first at {})",
                    o.name.text,
                    s.name.text,
                    files.short(first.name.span)
                ),
                Some(
                    "ifupdown would pass both values to one command, joined by a newline: keep one",
                ),
            ));
        }
    }
    let mut k = keep.into_iter();
    s.options.retain(|_| k.next().unwrap_or(true));
}

#[cfg(test)]
mod tests {
    use super::super::stanza::Reader;
    use super::*;

    fn merged(text: &str) -> (Merged, Vec<ImportError>, Files) {
        let dir = std::env::temp_dir().join(format!(
            "netloom-merge-{}-{}",
            std::process::id(),
            text.len()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("interfaces");
        std::fs::write(&f, text).unwrap();
        let mut r = Reader::new(None);
        r.read(&f, "interfaces", None);
        std::fs::remove_dir_all(&dir).unwrap();
        let mut errors = r.errors;
        let m = merge(&r.files, &r.items, &mut errors);
        (m, errors, r.files)
    }

    #[test]
    fn stanzas_merge_and_templates_are_inherited() {
        let (m, errors, _) = merged(
            "iface ethernet inet static\n mtu 1500\n hwaddress 02:00:00:00:00:01\nauto eth0\niface eth0 inet static inherits ethernet\n address 10.0.0.1/24\n mtu 9000\niface eth0 inet6 static\n address 2001:db8::1/64\niface eth0:1 inet static\n address 10.0.1.1/24\n",
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(m.defs.len(), 2);
        assert!(m.defs[0].template);
        let eth0 = &m.defs[1];
        assert_eq!(eth0.stanzas.len(), 3);
        let keys: Vec<(&str, &str)> = eth0.stanzas[0]
            .0
            .options
            .iter()
            .map(|o| (o.key.as_str(), o.value.as_str()))
            .collect();
        assert_eq!(
            keys,
            vec![
                ("hwaddress", "02:00:00:00:00:01"),
                ("address", "10.0.0.1/24"),
                ("mtu", "9000")
            ]
        );
        assert_eq!(eth0.stanzas[2].1.as_deref(), Some("1"));
        assert!(eth0.allow.is_some());
    }

    #[test]
    fn unknown_templates_and_repeated_options_are_located() {
        let (_, errors, _) = merged(
            "iface eth0 inet static inherits base\niface eth1 inet static\n mtu 1500\n mtu 9000\n",
        );
        let at: Vec<String> = errors
            .iter()
            .map(|e| e.place.as_ref().unwrap().to_string())
            .collect();
        assert_eq!(at, vec!["interfaces:1:33", "interfaces:4:2"]);
        assert!(errors[1].message.contains("first at interfaces:3"));
    }
}
