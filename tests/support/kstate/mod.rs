//! The kernel's state read independently of netloom's own observer: iproute2
//! and nft JSON and /proc/sys, run inside a lab's sandbox, and normalized so
//! that what the kernel adds by itself is left out (link-local addresses,
//! lo's own addresses, connected and local routes, IPv6 multicast routes).
//! A test compares the result with what a topology file says.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

use ipnet::IpNet;
use serde_json::Value;

use crate::common::Lab;

/// Everything read from one sandbox.
#[derive(Debug, Default)]
pub struct World {
    /// Names under /run/netns.
    pub netns: BTreeSet<String>,
    /// The sandbox's own namespace (netloom's `host`).
    pub host: Ns,
    /// Each namespace under /run/netns by name.
    pub ns: BTreeMap<String, Ns>,
}

/// One network namespace.
#[derive(Debug, Default)]
pub struct Ns {
    /// Links by name, lo included.
    pub links: BTreeMap<String, Link>,
    /// Routes, without those the kernel makes and manages itself.
    pub routes: Vec<Route>,
    /// Sysctls read, by dotted key.
    pub sysctl: BTreeMap<String, String>,
    /// Masquerade rules (source prefix, output interface) by nft table name.
    pub nat: BTreeMap<String, BTreeSet<(String, String)>>,
    /// Peer namespace ids (IFLA_LINK_NETNSID) to their /run/netns names.
    pub nsids: BTreeMap<i64, String>,
}

/// One link as iproute2 shows it.
#[derive(Debug, Clone, Default)]
pub struct Link {
    /// The kernel's ifindex.
    pub ifindex: u64,
    /// IFLA_INFO_KIND (empty for lo).
    pub kind: String,
    /// IFF_UP.
    pub up: bool,
    /// MTU.
    pub mtu: u64,
    /// Master device's name.
    pub master: Option<String>,
    /// Lower or peer in the same namespace, by name.
    pub link: Option<String>,
    /// Lower or peer's ifindex in another namespace.
    pub link_index: Option<u64>,
    /// Namespace id of the lower or peer.
    pub link_netnsid: Option<i64>,
    /// Kind-specific data (IFLA_INFO_DATA).
    pub info: Value,
    /// Port data (IFLA_INFO_SLAVE_DATA).
    pub slave: Value,
    /// Addresses as `ip/prefix`, without link-local ones and lo's own.
    pub addrs: BTreeSet<String>,
    /// Addresses whose duplicate address detection failed.
    pub dadfailed: Vec<String>,
    /// IPv4 addresses the kernel holds as secondaries of another in their subnet.
    pub secondaries: BTreeSet<String>,
}

/// One route, normalized.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Route {
    /// IPv6.
    pub v6: bool,
    /// Destination as a CIDR (`0.0.0.0/0`, `::/0` for default).
    pub dst: String,
    /// Gateway.
    pub gateway: Option<String>,
    /// Output device.
    pub dev: Option<String>,
    /// Metric (0 when iproute2 prints none).
    pub metric: u64,
    /// Table id (main = 254).
    pub table: u32,
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.dst)?;
        if let Some(g) = &self.gateway {
            write!(f, " via {g}")?;
        }
        if let Some(d) = &self.dev {
            write!(f, " dev {d}")?;
        }
        write!(f, " metric {} table {}", self.metric, self.table)
    }
}

/// A CIDR in its canonical text (`fd00::1/64`, host bits kept).
pub fn cidr(s: &str) -> String {
    s.parse::<IpNet>()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| s.to_string())
}

fn json(text: &str) -> Value {
    let t = text.trim();
    if t.is_empty() {
        return Value::Array(vec![]);
    }
    serde_json::from_str(t).unwrap_or_else(|e| panic!("bad JSON ({e}): {t}"))
}

/// The links of `ip -d -j addr show`.
pub fn links_of(v: &Value) -> BTreeMap<String, Link> {
    let mut out = BTreeMap::new();
    for l in v.as_array().into_iter().flatten() {
        let name = l["ifname"].as_str().unwrap_or_default().to_string();
        let flags: Vec<&str> = l["flags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let mut link = Link {
            ifindex: l["ifindex"].as_u64().unwrap_or(0),
            kind: l["linkinfo"]["info_kind"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            up: flags.contains(&"UP"),
            mtu: l["mtu"].as_u64().unwrap_or(0),
            master: l["master"].as_str().map(String::from),
            link: l["link"].as_str().map(String::from),
            link_index: l["link_index"].as_u64(),
            link_netnsid: l["link_netnsid"].as_i64(),
            info: l["linkinfo"]["info_data"].clone(),
            slave: l["linkinfo"]["info_slave_data"].clone(),
            ..Default::default()
        };
        for a in l["addr_info"].as_array().into_iter().flatten() {
            let (Some(local), Some(len)) = (a["local"].as_str(), a["prefixlen"].as_u64()) else {
                continue;
            };
            let text = cidr(&format!("{local}/{len}"));
            let ip: std::net::IpAddr = match local.parse() {
                Ok(ip) => ip,
                Err(_) => continue,
            };
            let link_local = matches!(ip, std::net::IpAddr::V6(v6) if v6.is_unicast_link_local());
            let lo_own = name == "lo" && (text == "127.0.0.1/8" || text == "::1/128");
            if link_local || lo_own {
                continue;
            }
            if a["dadfailed"].as_bool() == Some(true) {
                link.dadfailed.push(text.clone());
            }
            if a["secondary"].as_bool() == Some(true) {
                link.secondaries.insert(text.clone());
            }
            link.addrs.insert(text);
        }
        out.insert(name, link);
    }
    out
}

/// The routes of `ip -j route show table all` that someone added: not the
/// local table, not those the kernel makes for addresses (proto kernel) or
/// router advertisements (proto ra), not multicast.
pub fn routes_of(v: &Value, v6: bool) -> Vec<Route> {
    let mut out = Vec::new();
    for r in v.as_array().into_iter().flatten() {
        let proto = r["protocol"].as_str().unwrap_or("");
        let kind = r["type"].as_str().unwrap_or("unicast");
        let table = match r["table"].as_str() {
            None | Some("main") => 254,
            Some("default") => 253,
            Some("local") => 255,
            Some(n) => n.parse().unwrap_or(0),
        };
        if table == 255 || proto == "kernel" || proto == "ra" || kind == "multicast" {
            continue;
        }
        let dst = match r["dst"].as_str().unwrap_or("") {
            "default" if v6 => "::/0".to_string(),
            "default" => "0.0.0.0/0".to_string(),
            d if d.contains('/') => cidr(d),
            d if v6 => cidr(&format!("{d}/128")),
            d => cidr(&format!("{d}/32")),
        };
        out.push(Route {
            v6,
            dst,
            gateway: r["gateway"].as_str().map(String::from),
            dev: r["dev"].as_str().map(String::from),
            metric: r["metric"].as_u64().unwrap_or(0),
            table,
        });
    }
    out.sort();
    out
}

/// Masquerade rules per inet table of `nft -j list ruleset`.
fn nat_of(v: &Value) -> BTreeMap<String, BTreeSet<(String, String)>> {
    let mut out: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
    for item in v["nftables"].as_array().into_iter().flatten() {
        if let Some(t) = item.get("table") {
            out.entry(t["name"].as_str().unwrap_or_default().to_string())
                .or_default();
        }
        let Some(rule) = item.get("rule") else {
            continue;
        };
        let exprs = rule["expr"].as_array().cloned().unwrap_or_default();
        if !exprs.iter().any(|e| e.get("masquerade").is_some()) {
            continue;
        }
        let (mut source, mut out_if) = (String::new(), String::new());
        for e in &exprs {
            let m = &e["match"];
            if m["left"]["payload"]["field"] == "saddr" {
                let p = &m["right"]["prefix"];
                source = match (p["addr"].as_str(), p["len"].as_u64()) {
                    (Some(a), Some(l)) => cidr(&format!("{a}/{l}")),
                    _ => m["right"].to_string(),
                };
            }
            if m["left"]["meta"]["key"] == "oifname" {
                out_if = m["right"].as_str().unwrap_or_default().to_string();
            }
        }
        out.entry(rule["table"].as_str().unwrap_or_default().to_string())
            .or_default()
            .insert((source, out_if));
    }
    out
}

/// Dotted sysctl keys and values from `grep -H . /proc/sys/...` lines.
fn sysctls_of(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| {
            let (path, value) = l.split_once(':')?;
            let key = path.strip_prefix("/proc/sys/")?.replace('/', ".");
            Some((key, value.trim().to_string()))
        })
        .collect()
}

/// The /proc/sys paths of dotted keys; `*` stays a shell glob.
fn paths(keys: &[String]) -> String {
    keys.iter()
        .map(|k| format!("/proc/sys/{}", k.replace('.', "/")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The shell commands printing one namespace's sections (`$IP` is `ip` or
/// `ip -n NS`, `$EX` is empty or `ip netns exec NS`).
fn dump_script(keys: &[String]) -> String {
    format!(
        "dump() {{ \
           echo @@link; $IP -d -j addr show; \
           echo @@route4; $IP -j -4 route show table all; \
           echo @@route6; $IP -j -6 route show table all; \
           echo @@nsid; $IP -j netns list-id; \
           echo @@nft; $EX nft -j list ruleset; \
           echo @@sysctl; $EX sh -c 'grep -H . {} 2>/dev/null; true'; }}\n",
        paths(keys)
    )
}

fn parse_ns(sections: &BTreeMap<String, String>) -> Ns {
    let get = |k: &str| sections.get(k).map(String::as_str).unwrap_or("");
    let nsids = json(get("nsid"))
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| Some((e["nsid"].as_i64()?, e["name"].as_str()?.to_string())))
        .collect();
    let mut routes = routes_of(&json(get("route4")), false);
    routes.extend(routes_of(&json(get("route6")), true));
    let nft = get("nft").trim();
    Ns {
        links: links_of(&json(get("link"))),
        routes,
        sysctl: sysctls_of(get("sysctl")),
        nat: if nft.is_empty() {
            BTreeMap::new()
        } else {
            nat_of(&json(nft))
        },
        nsids,
    }
}

/// Reads the sandbox: every namespace under /run/netns and the sandbox's
/// own, with the sysctls `keys` (dotted, `*` allowed as a glob) in each.
pub fn read(lab: &Lab, keys: &[String]) -> World {
    let script = format!(
        "{}echo '@@ns '; IP=ip EX= dump\n\
         for ns in $(ls /run/netns 2>/dev/null); do echo \"@@ns $ns\"; \
         IP=\"ip -n $ns\" EX=\"ip netns exec $ns\" dump; done\n",
        dump_script(keys)
    );
    let r = lab.sh(&script);
    assert_eq!(r.code, 0, "reading the kernel failed:\n{}", r.text());
    let mut world = World::default();
    let mut current: Option<String> = None;
    let mut sections: BTreeMap<String, String> = BTreeMap::new();
    let mut section = String::new();
    let mut finish = |ns: Option<String>, sections: &mut BTreeMap<String, String>| {
        if let Some(ns) = ns {
            let parsed = parse_ns(sections);
            if ns.is_empty() {
                world.host = parsed;
            } else {
                world.netns.insert(ns.clone());
                world.ns.insert(ns, parsed);
            }
        }
        sections.clear();
    };
    for line in r.out.lines() {
        if let Some(ns) = line.strip_prefix("@@ns ") {
            finish(current.take(), &mut sections);
            current = Some(ns.trim().to_string());
        } else if let Some(s) = line.strip_prefix("@@") {
            section = s.trim().to_string();
            sections.entry(section.clone()).or_default();
        } else {
            let buf = sections.entry(section.clone()).or_default();
            buf.push_str(line);
            buf.push('\n');
        }
    }
    finish(current.take(), &mut sections);
    world
}

/// The sysctls `keys` in a namespace freshly made inside the sandbox (what
/// every node starts with), the namespace removed again.
pub fn fresh_defaults(lab: &Lab, keys: &[String]) -> BTreeMap<String, String> {
    let r = lab.sh(&format!(
        "ip netns add kstate-probe && ip netns exec kstate-probe sh -c 'grep -H . {} 2>/dev/null; true'; \
         ip netns del kstate-probe",
        paths(keys)
    ));
    assert_eq!(r.code, 0, "probe namespace:\n{}", r.text());
    sysctls_of(&r.out)
}

/// The namespace name of `node` in topology `topo` (format.md: `netloom-NAME.NODE`).
pub fn netns(topo: &str, node: &str) -> String {
    format!("netloom-{topo}.{node}")
}
