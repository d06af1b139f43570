//! The `links:` section: veth pairs, each end `node/iface`.
use std::collections::BTreeMap;

use super::decode::{list_of, str_of, suggest, Ctx};
use super::error::Location;
use super::yaml::Yaml;
use crate::model::{IfRef, LinkKind, Node, VethOptions};

/// Decodes every link and sets each veth end's peer; then reports veth ends in no link.
pub fn decode_links(cx: &mut Ctx, y: Option<&Yaml>, nodes: &mut BTreeMap<String, Node>) {
    let mut used: BTreeMap<IfRef, Location> = BTreeMap::new();
    // Ends named in any link, even a broken one, so a mistake in one end is
    // not reported again as "not in any link" for the other.
    let mut named: Vec<String> = Vec::new();
    for (i, item) in y.map(|y| list_of(cx, y)).unwrap_or(&[]).iter().enumerate() {
        let ends = list_of(cx, item);
        named.extend(ends.iter().filter_map(|e| match &e.value {
            crate::spec::yaml::Value::Scalar { text, .. } => Some(text.clone()),
            _ => None,
        }));
        if ends.len() != 2 {
            if !ends.is_empty() {
                cx.err(
                    item.at,
                    format!("a link has exactly two ends, found {}", ends.len()),
                    Some("write `- [node1/iface, node2/iface]`".into()),
                );
            }
            continue;
        }
        let a = end(cx, &ends[0], nodes, &used);
        let b = end(cx, &ends[1], nodes, &used);
        let (Some(a), Some(b)) = (a, b) else { continue };
        if a == b {
            cx.err(ends[1].at, format!("both ends of the link are `{a}`"), None);
            continue;
        }
        cx.locs.insert(format!("links/{i}/0"), ends[0].at);
        cx.locs.insert(format!("links/{i}/1"), ends[1].at);
        used.insert(a.clone(), ends[0].at);
        used.insert(b.clone(), ends[1].at);
        for (me, peer) in [(&a, &b), (&b, &a)] {
            if let Some(l) = nodes
                .get_mut(&me.node)
                .and_then(|n| n.links.get_mut(&me.name))
            {
                l.kind = LinkKind::Veth(VethOptions {
                    peer: Some(peer.clone()),
                });
            }
        }
    }
    for (node, n) in nodes.iter() {
        for (name, l) in &n.links {
            if !matches!(l.kind, LinkKind::Veth(VethOptions { peer: None })) {
                continue;
            }
            let key = format!("{node}/{name}");
            if named.contains(&key) {
                continue;
            }
            if let Some(at) = cx.locs.get(&format!("{key}#kind")).copied() {
                cx.err(
                    at,
                    format!("veth end `{key}` is not in any link"),
                    Some(format!("add `- [{key}, OTHER/IFACE]` under `links:`")),
                );
            } else {
                let at = cx.loc(&key, node);
                cx.err(at, format!("interface `{key}` has no kind and is not in any link"), Some(format!("give it a `kind` (e.g. dummy), or pair it under `links:` as `- [{key}, OTHER/IFACE]`")));
            }
        }
    }
}

fn end(
    cx: &mut Ctx,
    y: &Yaml,
    nodes: &BTreeMap<String, Node>,
    used: &BTreeMap<IfRef, Location>,
) -> Option<IfRef> {
    let t = str_of(cx, y)?;
    let Some((node, name)) = t.split_once('/') else {
        cx.err(
            y.at,
            format!("link end `{t}` must be written NODE/IFACE"),
            None,
        );
        return None;
    };
    let Some(n) = nodes.get(node) else {
        let names: Vec<&str> = nodes.keys().map(String::as_str).collect();
        cx.err(
            y.at,
            format!("unknown node `{node}`"),
            Some(suggest(node, &names, "nodes")),
        );
        return None;
    };
    let Some(l) = n.links.get(name) else {
        let names: Vec<&str> = n.links.keys().map(String::as_str).collect();
        let declare = format!("declare it under node `{node}` as `interfaces: {{ {name}: {{}} }}`");
        let help = match super::decode::closest(name, &names) {
            Some(c) => format!("did you mean `{node}/{c}`? or {declare}"),
            None => declare,
        };
        cx.err(y.at, format!("unknown interface `{t}`"), Some(help));
        return None;
    };
    let r = IfRef {
        node: node.into(),
        name: name.into(),
    };
    match &l.kind {
        LinkKind::Veth(_) => {}
        LinkKind::Other(_) => return None,
        k => {
            let what = k
                .kernel_kind()
                .unwrap_or(if matches!(k, LinkKind::External) {
                    "external"
                } else {
                    "loopback"
                });
            cx.err(
                y.at,
                format!(
                    "`{t}` is {} {what} device, but a link end must be a veth end",
                    if what.starts_with('e') { "an" } else { "a" }
                ),
                Some("remove its `kind`: being in a link makes it a veth end".into()),
            );
            return None;
        }
    }
    if let Some(first) = used.get(&r) {
        cx.err(
            y.at,
            format!("veth end `{t}` is already in a link (line {})", first.line),
            Some("a veth end has one peer; declare another interface for a second link".into()),
        );
        return None;
    }
    Some(r)
}
