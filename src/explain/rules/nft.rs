//! nftables filters met on the way: the node's base chains at each hook
//! the packet passes (nf_hook_slow -> nft_do_chain), and for bridged IPv4
//! with br_netfilter on (net.bridge.bridge-nf-call-iptables = 1, which new
//! namespaces start with where br_netfilter is built in) the ip/inet
//! forward chains too (br_nf_forward_ip), besides the bridge family's.
use super::super::facts::Facts;
use super::super::frame::{Frame, Kind, Sim};
use super::super::index::If;
use super::super::nft::{Packet, Verdict};
use super::{Rule, RuleHit};
use crate::explain::Disposition;

/// A rule or policy of a chain drops it.
pub const FILTERED: Rule = Rule {
    id: "nft.drop",
    disposition: Disposition::FilteredByNft,
    kernel: "nft_do_chain (net/netfilter/nf_tables_core.c)",
    summary: "an nftables rule (or a base chain's policy) drops the packet",
    field: "the node's nftables ruleset (not in the file)",
};

/// br_netfilter: bridged IPv4 also crosses ip/inet forward chains.
pub const BR_NETFILTER: Rule = Rule {
    id: "nft.br_netfilter",
    disposition: Disposition::FilteredByNft,
    kernel: "br_nf_forward_ip (net/bridge/br_netfilter_hooks.c)",
    summary: "with br_netfilter on, IPv4 bridged between two ports also crosses the node's ip/inet forward chains, whose drops then apply",
    field: "sysctl",
};

/// The nft rules.
pub const RULES: &[&Rule] = &[&FILTERED, &BR_NETFILTER];

/// The families whose chains see a packet of this address family.
pub fn families(v6: bool) -> &'static [&'static str] {
    if v6 {
        &["ip6", "inet"]
    } else {
        &["ip", "inet"]
    }
}

/// The hit when `node`'s ruleset drops `pkt` at `hook`.
pub fn at_hook(facts: &Facts, node: &str, hook: &str, pkt: &Packet) -> Option<RuleHit> {
    let rs = facts.nft.get(node)?;
    match rs.eval(families(pkt.dst.is_ipv6()), hook, pkt) {
        Verdict::Accept => None,
        Verdict::Drop(what) => Some(FILTERED.hit(
            format!("{node}: nft {what} drops it at hook {hook}"),
            format!(
                "change that rule in {node}'s ruleset (netloom manages only its own NAT table)"
            ),
            None,
        )),
    }
}

/// Bridged between ports `i` and `q` of bridge `b`: the bridge family's
/// forward chains, and with br_netfilter the ip/inet ones.
pub fn bridged(sim: &Sim, b: If, i: If, q: If, frame: &Frame) -> Option<RuleHit> {
    if frame.kind != Kind::Ip {
        return None;
    }
    let node = sim.idx.node_of(b);
    let rs = sim.facts.nft.get(node)?;
    let mut pkt = sim.pkt.clone()?;
    pkt.iif = Some(sim.idx.ifs[i].name.to_string());
    pkt.oif = Some(sim.idx.ifs[q].name.to_string());
    if let Verdict::Drop(what) = rs.eval(&["bridge"], "forward", &pkt) {
        return Some(FILTERED.hit(
            format!(
                "{node}: nft {what} drops it between bridge ports {} and {}",
                sim.idx.ifs[i].name, sim.idx.ifs[q].name
            ),
            format!("change that rule in {node}'s ruleset"),
            None,
        ));
    }
    let on = sim
        .idx
        .node(node)
        .and_then(|n| n.sysctls.get("net.bridge.bridge-nf-call-iptables"))
        .is_some_and(|v| v.trim() == "1");
    if on && frame.ip_dst.is_ipv4() {
        let bname = sim.idx.ifs[b].name.to_string();
        pkt.iif = Some(bname.clone());
        pkt.oif = Some(bname);
        if let Verdict::Drop(what) = rs.eval(&["ip", "inet"], "forward", &pkt) {
            return Some(BR_NETFILTER.hit(
                format!("{node}: bridged IPv4 crosses the ip/inet forward hook (br_netfilter), and nft {what} drops it"),
                format!("exempt bridged traffic in that rule (e.g. `iifname != \"{}\"`), or set net.bridge.bridge-nf-call-iptables = 0 in {node}", sim.idx.ifs[b].name),
                None,
            ));
        }
    }
    None
}
