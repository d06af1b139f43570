//! Writing a topology file: a [`Network`] (as `export` read it from the
//! kernel) becomes the file that makes it, each device kind's options
//! written by its own `encode` (spec/kind/), and what the file cannot say
//! written as comments beside the node it concerns, never left out.
//!
//! The text depends on the network alone (no date, sorted everywhere), so
//! exporting what an exported file made gives the same file.
use std::collections::BTreeMap;

use super::emit::{scalar, Fields, Out};
use super::kind;
use crate::model::service::{DnsmasqSetup, Lif};
use crate::model::{Link, LinkKind, Network, Node, Route, ServiceSetup, HOST};

/// What `export` read but cannot write as a field, by node (`""`: the
/// topology as a whole).
pub type Notes = BTreeMap<String, Vec<String>>;

/// The topology file for `net`, with a header naming `source`.
pub fn write(net: &Network, notes: &Notes, source: &str) -> String {
    let mut out = format!(
        "# Exported by `netloom export` from {source}.\n# What netloom cannot write in a topology file is listed in comments\n# starting `# not expressed:`, where it was found.\n"
    );
    for n in notes.get("").into_iter().flatten() {
        out += &format!("# not expressed: {n}\n");
    }
    out += &format!("name: {}\nnodes:\n", scalar(&net.name));
    for (name, node) in &net.nodes {
        out += &format!("  {}:\n", scalar(name));
        out += &node_text(name, node, notes.get(name).map_or(&[][..], Vec::as_slice));
    }
    let pairs = veth_pairs(net);
    if !pairs.is_empty() {
        out += "links:\n";
        for (a, b) in pairs {
            out += &format!("  - [{}, {}]\n", scalar(&a), scalar(&b));
        }
    }
    out += &lifs(net);
    out
}

fn node_text(name: &str, n: &Node, notes: &[String]) -> String {
    let mut out = String::new();
    let mut sysctls = n.sysctls.clone();
    let fwd = ["net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"];
    if fwd
        .iter()
        .all(|k| sysctls.get(*k).map(String::as_str) == Some("1"))
    {
        for k in fwd {
            sysctls.remove(k);
        }
        out += "    forwarding: true\n";
    }
    let links: Vec<&Link> = n
        .links
        .values()
        .filter(|l| l.kind != LinkKind::Loopback)
        .collect();
    if !links.is_empty() {
        out += "    interfaces:\n";
        for l in links {
            out += &format!(
                "      {}: {}\n",
                scalar(&l.name),
                Out::Map(interface(name, n, l)).flow()
            );
        }
    }
    if !n.routes.is_empty() {
        out += "    routes:\n";
        for r in &n.routes {
            out += &format!("      - {}\n", Out::Map(route(r)).flow());
        }
    }
    if !sysctls.is_empty() {
        out += "    sysctl:\n";
        for (k, v) in &sysctls {
            out += &format!("      {}: {}\n", scalar(k), scalar(v));
        }
    }
    if !n.nat.is_empty() {
        out += "    nat:\n";
        for m in &n.nat {
            let rule = Out::Map(vec![
                ("source".into(), Out::of(m.source)),
                ("out".into(), Out::of(&m.out)),
            ]);
            out += &format!("      - masquerade: {}\n", rule.flow());
        }
    }
    if out.is_empty() {
        // A node with nothing in it is still a node.
        out += "    interfaces: {}\n";
    }
    for note in notes {
        out += &format!("    # not expressed: {note}\n");
    }
    out
}

/// An interface's fields, in the file's order: kind, its options, the
/// forwarding entries it holds, ports, addresses, mtu, mac, state.
fn interface(node: &str, n: &Node, l: &Link) -> Fields {
    let mut f: Fields = Vec::new();
    if l.kind == LinkKind::External {
        f.push(("kind".into(), Out::of("external")));
        return f;
    }
    let spec = kind::spec_of(&l.kind);
    if let Some((word, spec)) = spec {
        if word != "veth" {
            f.push(("kind".into(), Out::of(word)));
        }
        f.extend((spec.encode)(&l.kind, node));
    }
    let entries = n.fdb.iter().filter(|e| e.dev == l.name);
    let (flood, rest): (Vec<_>, Vec<_>) = entries.partition(|e| e.floods());
    if !flood.is_empty() {
        f.push((
            "remotes".into(),
            Out::list(flood.iter().filter_map(|e| e.dst)),
        ));
    }
    if !rest.is_empty() {
        let items = rest
            .iter()
            .map(|e| {
                let mut m = vec![("mac".to_string(), Out::of(e.mac))];
                let opt = |m: &mut Fields, k: &str, v: Option<String>| {
                    if let Some(v) = v {
                        m.push((k.into(), Out::Scalar(v)));
                    }
                };
                opt(&mut m, "port", e.port.clone());
                opt(&mut m, "vlan", e.vlan.map(|v| v.to_string()));
                opt(&mut m, "dst", e.dst.map(|v| v.to_string()));
                opt(&mut m, "vni", e.vni.map(|v| v.to_string()));
                opt(&mut m, "port", e.dstport.map(|v| v.to_string()));
                opt(&mut m, "via", e.via.clone());
                Out::Map(m)
            })
            .collect();
        f.push(("fdb".into(), Out::Seq(items)));
    }
    if let Some(ports) = spec.and_then(|(_, s)| s.ports.as_ref()) {
        let mine: Vec<&Link> = n
            .links
            .values()
            .filter(|p| p.master.as_deref() == Some(l.name.as_str()))
            .collect();
        if !mine.is_empty() {
            let opts: Vec<(String, Fields)> = mine
                .iter()
                .map(|p| {
                    let o = p
                        .port
                        .as_ref()
                        .map(|o| (ports.encode)(o))
                        .unwrap_or_default();
                    (p.name.clone(), o)
                })
                .collect();
            let value = if opts.iter().all(|(_, o)| o.is_empty()) {
                Out::list(opts.iter().map(|(p, _)| p))
            } else {
                Out::Map(opts.into_iter().map(|(p, o)| (p, Out::Map(o))).collect())
            };
            f.push(("ports".into(), value));
        }
    }
    let client = n
        .services
        .values()
        .any(|s| matches!(&s.setup, ServiceSetup::DhcpClient(c) if c.iface == l.name));
    if !l.addresses.is_empty() || client {
        let mut a: Vec<String> = l.addresses.iter().map(|a| a.net.to_string()).collect();
        a.sort();
        if client {
            a.insert(0, "dhcp".into());
        }
        f.push(("addresses".into(), Out::list(a)));
    }
    for s in n.services.values() {
        if let ServiceSetup::Dnsmasq(d) = &s.setup {
            if d.iface == l.name {
                f.push(("dhcp".into(), Out::Map(dhcp_server(d))));
            }
        }
    }
    if let Some(m) = l.mtu {
        f.push(("mtu".into(), Out::of(m)));
    }
    if let Some(m) = l.mac.filter(|_| writes_mac(n, l)) {
        f.push(("mac".into(), Out::of(m)));
    }
    if l.up == Some(false) {
        f.push(("state".into(), Out::of("down")));
    }
    f
}

fn route(r: &Route) -> Fields {
    let mut f: Fields = vec![(
        "to".into(),
        if r.to.prefix_len() == 0 {
            Out::of("default")
        } else {
            Out::of(r.to)
        },
    )];
    if let Some(v) = r.via {
        f.push(("via".into(), Out::of(v)));
    }
    if let Some(d) = &r.dev {
        f.push(("dev".into(), Out::of(d)));
    }
    if let Some(m) = r.metric {
        f.push(("metric".into(), Out::of(m)));
    }
    if let Some(t) = r.table.filter(|t| *t != crate::model::RT_TABLE_MAIN) {
        f.push(("table".into(), Out::of(t)));
    }
    if let Some(s) = r.src {
        f.push(("src".into(), Out::of(s)));
    }
    f
}

/// A `dhcp:` server's fields, as spec::dhcp reads them (the domain always
/// written: its default is the topology's name, which a file may change).
fn dhcp_server(d: &DnsmasqSetup) -> Fields {
    let mut f: Fields = vec![
        (
            "range".into(),
            Out::of(format!("{}-{}", d.range.0, d.range.1)),
        ),
        ("lease_time".into(), Out::of(format!("{}s", d.lease_time))),
    ];
    if let Some(t) = d.renew_time {
        f.push(("renew_time".into(), Out::of(format!("{t}s"))));
    }
    if let Some(t) = d.rebind_time {
        f.push(("rebind_time".into(), Out::of(format!("{t}s"))));
    }
    if !d.hosts.is_empty() {
        let hosts = d.hosts.iter().map(|(h, a)| (h.clone(), Out::of(a)));
        f.push(("hosts".into(), Out::Map(hosts.collect())));
    }
    f.push(("domain".into(), Out::of(&d.domain)));
    f
}

/// The `lifs:` section: every LIF of every node's watcher, by name.
fn lifs(net: &Network) -> String {
    let mut all: BTreeMap<&str, (&str, &Lif)> = BTreeMap::new();
    for (node, n) in &net.nodes {
        for s in n.services.values() {
            if let ServiceSetup::LifWatch(w) = &s.setup {
                for lif in &w.lifs {
                    all.insert(&lif.name, (node, lif));
                }
            }
        }
    }
    if all.is_empty() {
        return String::new();
    }
    let mut out = "lifs:\n".to_string();
    for (name, (node, lif)) in all {
        let port = |p: &str| format!("{node}/{p}");
        let mut f: Fields = vec![
            ("address".into(), Out::of(lif.address)),
            ("home".into(), Out::of(port(&lif.home))),
        ];
        if !lif.failover.is_empty() {
            f.push((
                "failover".into(),
                Out::list(lif.failover.iter().map(|p| port(p))),
            ));
        }
        f.push(("auto_revert".into(), Out::of(lif.auto_revert)));
        if lif.revert_delay_ms > 0 {
            f.push((
                "revert_delay".into(),
                Out::of(format!("{}ms", lif.revert_delay_ms)),
            ));
        }
        out += &format!("  {}: {}\n", scalar(name), Out::Map(f).flow());
    }
    out
}

/// Every veth pair once, as `node/name` ends, the smaller first.
fn veth_pairs(net: &Network) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (node, n) in &net.nodes {
        for l in n.links.values() {
            let LinkKind::Veth(v) = &l.kind else { continue };
            let Some(p) = &v.peer else { continue };
            let me = format!("{node}/{}", l.name);
            let other = p.to_string();
            if me < other {
                out.push((me, other));
            }
        }
    }
    out
}

/// Whether a link's MAC is one the file may set and worth writing: not
/// for kinds whose address the kernel gives (an ipvlan its lower's, a
/// passthru macvlan its lower's, a tun none) and not for masters whose
/// address follows their ports (bridge, bond, team) nor ports of a bond or
/// team (their master gives them its own).
pub fn writes_mac(n: &Node, l: &Link) -> bool {
    let master_kind = l
        .master
        .as_ref()
        .and_then(|m| n.links.get(m))
        .map(|m| &m.kind);
    let port_of_aggregate = matches!(master_kind, Some(LinkKind::Bond(_) | LinkKind::Team(_)));
    let own = match &l.kind {
        LinkKind::Ipvlan(_) | LinkKind::Ipvtap(_) => false,
        LinkKind::Macvlan(o) | LinkKind::Macvtap(o) => o.mode.as_deref() != Some("passthru"),
        LinkKind::Tun(o) => o.mode == "tap",
        LinkKind::Bridge(_) | LinkKind::Bond(_) | LinkKind::Team(_) => false,
        LinkKind::Vlan(o) => {
            // A vlan has its lower's address unless one was set.
            let lower = o
                .lower
                .as_ref()
                .filter(|r| r.node == HOST || n.links.contains_key(&r.name))
                .and_then(|r| n.links.get(&r.name));
            lower.is_none_or(|low| low.mac != l.mac)
        }
        LinkKind::Loopback | LinkKind::External | LinkKind::Other(_) => false,
        _ => true,
    };
    own && !port_of_aggregate
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file written from what a file made reads back as that network.
    #[test]
    fn written_files_read_back() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/18-vxlan-her.yaml"
        ))
        .unwrap();
        let t = crate::spec::parse_str("x.yaml", &text).unwrap();
        let written = write(&t.network, &Notes::new(), "a test");
        let back = crate::spec::parse_str("y.yaml", &written)
            .unwrap_or_else(|e| panic!("{written}\n{:?}", e.errors));
        assert_eq!(
            back.network.nodes["h1"].fdb, t.network.nodes["h1"].fdb,
            "{written}"
        );
        assert_eq!(write(&back.network, &Notes::new(), "a test"), written);
        let mac = |node: &str| back.network.nodes[node].links["eth0"].mac;
        assert_eq!(mac("c1"), t.network.nodes["c1"].links["eth0"].mac);
        assert!(
            written.contains("remotes: [10.9.0.2, 10.9.0.3]"),
            "{written}"
        );
    }
}
