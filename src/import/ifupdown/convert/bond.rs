//! Bonds: ifenslave's `bond-*` options (`bond-slaves LIST|none` on the
//! bond, or `bond-master BOND` on each port), values by name or by the
//! kernel's number (`bond-mode 4`), as ifupdown2's bond.py lists them.
use super::{bridge, field, options, port, Cx};
use crate::import::draft::Iface;
use crate::import::ifupdown::merge::Def;
use crate::import::ifupdown::values::{self, *};

/// Options a port's own stanza carries for its bond.
pub const PORT_KEYS: &[&str] = &["bond-master"];

/// The ports `def`'s `bond-slaves` lines name (globs expanded).
pub fn port_names(def: &Def) -> Vec<(String, crate::import::ifupdown::stanza::Opt)> {
    let mut out: Vec<(String, crate::import::ifupdown::stanza::Opt)> = Vec::new();
    for o in options(def).filter(|o| matches!(o.key.as_str(), "bond-slaves" | "bond-ports")) {
        for (name, _) in bridge::port_words(o) {
            if let Some(n) = name {
                if !out.iter().any(|(x, _)| *x == n) {
                    out.push((n, o.clone()));
                }
            }
        }
    }
    out
}

/// The bond `def` into `f`; `ports` are the stanzas naming it by `bond-master`.
pub fn bond(cx: &mut Cx, def: &Def, f: &mut Iface) {
    let words: &[(&str, &str, &[&str])] = &[
        ("bond-mode", "mode", BOND_MODES),
        ("bond-xmit-hash-policy", "xmit_hash_policy", XMIT_HASH),
        ("bond-lacp-rate", "lacp_rate", LACP_RATE),
        (
            "bond-primary-reselect",
            "primary_reselect",
            PRIMARY_RESELECT,
        ),
        ("bond-ad-select", "ad_select", AD_SELECT),
        ("bond-arp-validate", "arp_validate", ARP_VALIDATE),
        ("bond-fail-over-mac", "fail_over_mac", FAIL_OVER_MAC),
        ("bond-arp-all-targets", "arp_all_targets", ARP_ALL_TARGETS),
    ];
    for o in options(def).filter(|o| o.key.starts_with("bond-")) {
        let k = o.key.as_str();
        if let Some((_, key, names)) = words.iter().find(|(w, _, _)| *w == k) {
            match values::bond_word(&o.value, names) {
                Some(v) => field(cx, f, key, &v, o),
                None => cx.bad(
                    o,
                    &format!("one of {} (or its number)", names.join(", ")),
                    None,
                ),
            }
            continue;
        }
        match k {
            "bond-slaves" | "bond-ports" => {
                for (name, why) in bridge::port_words(o) {
                    match (name, why) {
                        (Some(n), _) => {
                            if !f.ports.iter().any(|p| p.name == n) {
                                let from = cx.from(o);
                                f.ports.push(port(&n, from));
                            }
                        }
                        (None, Some(why)) => cx.skip(o, why),
                        (None, None) => {}
                    }
                }
            }
            "bond-miimon" | "bond-updelay" | "bond-downdelay" | "bond-arp-interval"
            | "bond-min-links" => {
                let key = &k["bond-".len()..].replace('-', "_");
                match o.value.parse::<u32>() {
                    Ok(v) => field(cx, f, key, &v.to_string(), o),
                    Err(_) => cx.bad(o, "a number", None),
                }
            }
            "bond-use-carrier" | "bond-all-slaves-active" => {
                let key = &k["bond-".len()..].replace('-', "_");
                match values::boolean(&o.value) {
                    Some(b) => field(cx, f, key, &b.to_string(), o),
                    None => cx.bad(o, "yes or no (1 or 0)", None),
                }
            }
            "bond-primary" => match o.args.first() {
                Some(w) => field(cx, f, "primary", &crate::import::yaml_name(&w.text), o),
                None => cx.bad(o, "a port name", None),
            },
            "bond-arp-ip-target" => {
                let mut list = Vec::new();
                for w in o.value.split([' ', '\t', ',']).filter(|w| !w.is_empty()) {
                    match w.trim_start_matches('+').parse::<std::net::Ipv4Addr>() {
                        Ok(ip) => list.push(ip.to_string()),
                        Err(_) => {
                            cx.bad(o, "a list of IPv4 addresses", None);
                            list.clear();
                            break;
                        }
                    }
                }
                if !list.is_empty() {
                    field(cx, f, "arp_ip_target", &format!("[{}]", list.join(", ")), o);
                }
            }
            "bond-master" => {} // on the bond itself: nothing to do
            _ => cx.skip(o, "a bonding setting netloom does not model"),
        }
    }
    if let Some(extra) = cx.bond_ports.remove(&def.name) {
        for p in extra {
            if !f.ports.iter().any(|q| q.name == p.name) {
                f.ports.push(p);
            }
        }
    }
}

/// Collect `bond-master` lines of every stanza, by bond.
pub fn masters(cx: &mut Cx, defs: &[Def]) {
    for def in defs {
        for o in options(def).filter(|o| o.key == "bond-master") {
            let Some(bond) = o.args.first() else { continue };
            if bond.text == def.name {
                continue;
            }
            let from = cx.from(o);
            cx.bond_ports
                .entry(bond.text.clone())
                .or_default()
                .push(port(&def.name, from));
        }
    }
}
