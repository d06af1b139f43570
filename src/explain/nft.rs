//! nftables rulesets (as `nft -j -a list ruleset` prints them), evaluated
//! for one packet at one hook: the base chains of the hook's families in
//! priority order, each rule's matches against the packet, its verdict
//! (nft_do_chain). Matches on the addresses, interfaces, protocol, ports,
//! ICMP type and conntrack state are understood; a rule with anything else
//! is not evaluated and is named as such.
use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::Value;

/// One rule.
#[derive(Debug, Clone, PartialEq)]
pub struct NftRule {
    /// Its handle.
    pub handle: u64,
    /// Its comment, if any.
    pub comment: Option<String>,
    /// Its expressions, as nft's JSON.
    pub expr: Vec<Value>,
}

/// One chain.
#[derive(Debug, Clone, PartialEq)]
pub struct Chain {
    /// Family: ip, ip6, inet, bridge, arp, netdev.
    pub family: String,
    /// Table name.
    pub table: String,
    /// Chain name.
    pub name: String,
    /// Hook of a base chain.
    pub hook: Option<String>,
    /// Priority of a base chain.
    pub prio: i64,
    /// Policy of a base chain (`accept` when unset).
    pub policy: String,
    /// Its rules in order.
    pub rules: Vec<NftRule>,
}

/// A node's ruleset.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ruleset {
    /// Every chain.
    pub chains: Vec<Chain>,
}

/// The packet as nftables sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// `icmp`, `icmpv6`, `tcp`, `udp`.
    pub l4: &'static str,
    /// ICMP type name (`echo-request`, `echo-reply`).
    pub icmp_type: Option<&'static str>,
    /// Destination port.
    pub dport: Option<u16>,
    /// Input interface name.
    pub iif: Option<String>,
    /// Output interface name.
    pub oif: Option<String>,
    /// Conntrack state: `new` or `established`.
    pub ct: &'static str,
}

/// What the hook did with the packet.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// It goes on.
    Accept,
    /// A rule (or a policy) dropped it: `table chain handle N "comment"`.
    Drop(String),
}

impl Ruleset {
    /// Parse `nft -j -a list ruleset`.
    pub fn parse(json: &Value) -> Ruleset {
        let mut rs = Ruleset::default();
        let Some(items) = json.get("nftables").and_then(Value::as_array) else {
            return rs;
        };
        for it in items {
            if let Some(c) = it.get("chain") {
                rs.chains.push(Chain {
                    family: s(c, "family"),
                    table: s(c, "table"),
                    name: s(c, "name"),
                    hook: c.get("hook").and_then(Value::as_str).map(str::to_string),
                    prio: c.get("prio").and_then(Value::as_i64).unwrap_or(0),
                    policy: c
                        .get("policy")
                        .and_then(Value::as_str)
                        .unwrap_or("accept")
                        .to_string(),
                    rules: Vec::new(),
                });
            }
        }
        for it in items {
            let Some(r) = it.get("rule") else { continue };
            let (fam, table, chain) = (s(r, "family"), s(r, "table"), s(r, "chain"));
            if let Some(c) = rs
                .chains
                .iter_mut()
                .find(|c| c.family == fam && c.table == table && c.name == chain)
            {
                c.rules.push(NftRule {
                    handle: r.get("handle").and_then(Value::as_u64).unwrap_or(0),
                    comment: r.get("comment").and_then(Value::as_str).map(str::to_string),
                    expr: r
                        .get("expr")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default(),
                });
            }
        }
        rs
    }

    /// Run `pkt` through the base chains of `hook` for the families in
    /// `families` (priority order); the first drop ends it.
    pub fn eval(&self, families: &[&str], hook: &str, pkt: &Packet) -> Verdict {
        let mut base: Vec<&Chain> = self
            .chains
            .iter()
            .filter(|c| c.hook.as_deref() == Some(hook) && families.contains(&c.family.as_str()))
            .collect();
        base.sort_by_key(|c| c.prio);
        for c in base {
            if let Some(v) = self.run(c, pkt, 0) {
                if let Verdict::Drop(_) = v {
                    return v;
                }
                continue;
            }
            if c.policy == "drop" {
                return Verdict::Drop(format!("{} {} {}: policy drop", c.family, c.table, c.name));
            }
        }
        Verdict::Accept
    }

    /// A chain's verdict, or `None` when it falls through (return).
    fn run(&self, c: &Chain, pkt: &Packet, depth: u8) -> Option<Verdict> {
        if depth > 16 {
            return None;
        }
        for r in &c.rules {
            let mut matched = true;
            let mut verdict = None;
            for e in &r.expr {
                match step(e, pkt) {
                    Step::Match(true) | Step::Nothing => {}
                    Step::Match(false) | Step::Unknown => {
                        matched = false;
                        break;
                    }
                    Step::Verdict(v) => {
                        verdict = Some(v);
                        break;
                    }
                }
            }
            if !matched {
                continue;
            }
            let name = || {
                let mut n = format!("{} {} {} handle {}", c.family, c.table, c.name, r.handle);
                if let Some(cm) = &r.comment {
                    n.push_str(&format!(" comment {cm:?}"));
                }
                n
            };
            match verdict {
                Some(V::Accept) => return Some(Verdict::Accept),
                Some(V::Drop) => return Some(Verdict::Drop(name())),
                Some(V::Return) => return None,
                Some(V::Jump(t)) | Some(V::Goto(t)) => {
                    let goto = matches!(
                        r.expr.iter().rev().find_map(|e| e
                            .as_object()
                            .and_then(|o| o.keys().next())
                            .map(String::as_str)),
                        Some("goto")
                    );
                    if let Some(sub) = self
                        .chains
                        .iter()
                        .find(|x| x.family == c.family && x.table == c.table && x.name == t)
                    {
                        if let Some(v) = self.run(sub, pkt, depth + 1) {
                            return Some(v);
                        }
                        if goto {
                            return None;
                        }
                    }
                }
                None => {}
            }
        }
        None
    }
}

fn s(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

enum V {
    Accept,
    Drop,
    Return,
    Jump(String),
    Goto(String),
}

enum Step {
    Match(bool),
    Verdict(V),
    Nothing,
    Unknown,
}

/// One expression against the packet.
fn step(e: &Value, pkt: &Packet) -> Step {
    let Some((k, v)) = e.as_object().and_then(|o| o.iter().next()) else {
        return Step::Unknown;
    };
    match k.as_str() {
        "accept" => Step::Verdict(V::Accept),
        "drop" | "reject" => Step::Verdict(V::Drop),
        "return" => Step::Verdict(V::Return),
        "jump" => Step::Verdict(V::Jump(s(v, "target"))),
        "goto" => Step::Verdict(V::Goto(s(v, "target"))),
        "counter" | "log" | "mangle" | "masquerade" | "snat" | "dnat" | "limit" | "notrack" => {
            Step::Nothing
        }
        "match" => match matches(v, pkt) {
            Some(b) => Step::Match(b),
            None => Step::Unknown,
        },
        _ => Step::Unknown,
    }
}

/// A `match` expression; `None` when not understood.
fn matches(m: &Value, pkt: &Packet) -> Option<bool> {
    let op = m.get("op").and_then(Value::as_str).unwrap_or("==");
    let left = m.get("left")?;
    let right = m.get("right")?;
    let hit = if let Some(p) = left.get("payload") {
        let proto = p.get("protocol").and_then(Value::as_str)?;
        let field = p.get("field").and_then(Value::as_str)?;
        match (proto, field) {
            ("ip" | "ip6", "saddr") => addr_in(pkt.src, right)?,
            ("ip" | "ip6", "daddr") => addr_in(pkt.dst, right)?,
            ("icmp" | "icmpv6", "type") => {
                pkt.l4 == proto && pkt.icmp_type.is_some_and(|t| word_in(t, right))
            }
            ("tcp" | "udp" | "th", "dport") => {
                (proto == "th" || pkt.l4 == proto)
                    && pkt.dport.is_some_and(|d| num_in(d.into(), right))
            }
            _ => return None,
        }
    } else if let Some(meta) = left.get("meta") {
        match meta.get("key").and_then(Value::as_str)? {
            "iifname" => pkt.iif.as_deref().is_some_and(|i| word_in(i, right)),
            "oifname" => pkt.oif.as_deref().is_some_and(|o| word_in(o, right)),
            "l4proto" | "protocol" => word_in(pkt.l4, right),
            "nfproto" => word_in(if pkt.dst.is_ipv4() { "ipv4" } else { "ipv6" }, right),
            _ => return None,
        }
    } else if let Some(ct) = left.get("ct") {
        match ct.get("key").and_then(Value::as_str)? {
            "state" => word_in(pkt.ct, right),
            _ => return None,
        }
    } else {
        return None;
    };
    Some(match op {
        "==" | "in" => hit,
        "!=" => !hit,
        _ => return None,
    })
}

fn items(right: &Value) -> Vec<&Value> {
    match right {
        Value::Object(o) if o.contains_key("set") => o["set"]
            .as_array()
            .map(|a| a.iter().collect())
            .unwrap_or_default(),
        Value::Array(a) => a.iter().collect(),
        v => vec![v],
    }
}

fn word_in(w: &str, right: &Value) -> bool {
    items(right).iter().any(|v| v.as_str() == Some(w))
}

fn num_in(n: u64, right: &Value) -> bool {
    items(right).iter().any(|v| {
        v.as_u64() == Some(n)
            || v.get("range").and_then(Value::as_array).is_some_and(|r| {
                r.len() == 2
                    && r[0].as_u64().is_some_and(|a| a <= n)
                    && r[1].as_u64().is_some_and(|b| n <= b)
            })
    })
}

fn addr_in(a: IpAddr, right: &Value) -> Option<bool> {
    let mut any = false;
    for v in items(right) {
        if let Some(t) = v.as_str() {
            any |= t.parse::<IpAddr>().ok() == Some(a)
                || t.parse::<IpNet>().is_ok_and(|n| n.contains(&a));
        } else if let Some(p) = v.get("prefix") {
            let addr: IpAddr = p.get("addr")?.as_str()?.parse().ok()?;
            let len = u8::try_from(p.get("len")?.as_u64()?).ok()?;
            any |= IpNet::new(addr, len).ok()?.contains(&a);
        } else {
            return None;
        }
    }
    Some(any)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt() -> Packet {
        Packet {
            src: "10.0.0.1".parse().unwrap(),
            dst: "10.0.1.1".parse().unwrap(),
            l4: "icmp",
            icmp_type: Some("echo-request"),
            dport: None,
            iif: Some("eth0".into()),
            oif: Some("eth1".into()),
            ct: "new",
        }
    }

    #[test]
    fn a_matching_drop_rule_is_named_and_others_fall_through() {
        let json: Value = serde_json::from_str(r#"{"nftables":[
          {"table":{"family":"inet","name":"t","handle":1}},
          {"chain":{"family":"inet","table":"t","name":"fwd","handle":1,"type":"filter","hook":"forward","prio":0,"policy":"accept"}},
          {"rule":{"family":"inet","table":"t","chain":"fwd","handle":3,"expr":[
            {"match":{"op":"==","left":{"payload":{"protocol":"tcp","field":"dport"}},"right":80}},{"drop":null}]}},
          {"rule":{"family":"inet","table":"t","chain":"fwd","handle":4,"comment":"block ping","expr":[
            {"match":{"op":"==","left":{"payload":{"protocol":"ip","field":"saddr"}},"right":{"prefix":{"addr":"10.0.0.0","len":24}}}},
            {"match":{"op":"==","left":{"payload":{"protocol":"icmp","field":"type"}},"right":"echo-request"}},
            {"counter":{"packets":0,"bytes":0}},{"drop":null}]}}]}"#).unwrap();
        let rs = Ruleset::parse(&json);
        assert_eq!(
            rs.eval(&["inet", "ip"], "forward", &pkt()),
            Verdict::Drop("inet t fwd handle 4 comment \"block ping\"".into())
        );
        assert_eq!(rs.eval(&["inet"], "input", &pkt()), Verdict::Accept);
        let mut reply = pkt();
        reply.src = "10.0.9.9".parse().unwrap();
        assert_eq!(rs.eval(&["inet"], "forward", &reply), Verdict::Accept);
    }
}
