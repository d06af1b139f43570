//! Operations: the steps of a plan, each one kernel change the apply layer performs.
use serde::{Deserialize, Serialize};

use super::{
    Address, FdbEntry, IfRef, Link, LinkKind, MacAddr, Masquerade, PortOptions, Route,
    ServiceSetup, TeamdSetup,
};

/// One change to the kernel. Every op names the node it acts in.
// AddLink carries whole links; plans hold tens of ops, so size does not matter
// and unboxed fields keep apply's pattern matches plain.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Op {
    /// Create the network namespace of a node.
    AddNetns {
        /// Node name.
        node: String,
    },
    /// Delete a node's namespace (and with it every device inside).
    DelNetns {
        /// Node name.
        node: String,
    },
    /// Write a sysctl in a node; `prior` is the value before, for rollback.
    SetSysctl {
        /// Node name.
        node: String,
        /// Dotted key, e.g. `net.ipv4.ip_forward`.
        key: String,
        /// New value.
        value: String,
        /// Value before the change (`None` when unknown).
        prior: Option<String>,
    },
    /// Create a link with its kind options, MTU, MAC and ownership mark. Not
    /// its master, state or addresses: those follow as separate ops. A veth
    /// carries its `peer` end, created at once inside the peer's node. A
    /// macvlan/ipvlan/vlan whose lower lives in another node is created there
    /// and moved into `node`. The planner passes links with `up`, `master`,
    /// `port`, `addresses` and the observed-only fields cleared.
    AddLink {
        /// Node the link ends up in.
        node: String,
        /// The link as desired.
        link: Link,
        /// For veth: the other end, created in the same request.
        peer: Option<Box<Link>>,
    },
    /// Delete a link netloom owns (for veth this removes both ends).
    DelLink {
        /// Node name.
        node: String,
        /// Interface name.
        name: String,
    },
    /// Change settings of an existing link; `prior` holds the old values of the changed fields.
    SetLink {
        /// Node name.
        node: String,
        /// Interface name.
        name: String,
        /// New values; `None` fields stay as they are.
        change: LinkChange,
        /// Old values of the fields in `change`, for rollback.
        prior: LinkChange,
    },
    /// Add an address to a link.
    AddAddress {
        /// Node name.
        node: String,
        /// Interface name.
        link: String,
        /// The address.
        addr: Address,
    },
    /// Remove an address from a link.
    DelAddress {
        /// Node name.
        node: String,
        /// Interface name.
        link: String,
        /// The address.
        addr: Address,
    },
    /// Add a route.
    AddRoute {
        /// Node name.
        node: String,
        /// The route.
        route: Route,
    },
    /// Remove a route.
    DelRoute {
        /// Node name.
        node: String,
        /// The route.
        route: Route,
    },
    /// Create or replace the node's netloom nftables table with these masquerade rules.
    SetNat {
        /// Node name.
        node: String,
        /// Rules, in order.
        rules: Vec<Masquerade>,
    },
    /// Delete the node's netloom nftables table.
    DelNat {
        /// Node name.
        node: String,
    },
    /// (Re)start the teamd of team device `dev` with `setup`. A teamd that
    /// runs for `dev` is stopped first, and every port is set down and
    /// released, because the team driver refuses an up port and a runner
    /// change with ports present; teamd then enslaves the ports, which the
    /// driver brings up. `prior` is what teamd ran with before (`None`: no
    /// teamd ran), for rollback.
    StartTeamd {
        /// Node name.
        node: String,
        /// The team device.
        dev: String,
        /// Options and ports teamd runs with.
        setup: TeamdSetup,
        /// What teamd ran with before, if it ran.
        prior: Option<TeamdSetup>,
    },
    /// Stop the teamd of team device `dev` (the device stays; teamd 1.31
    /// releases its ports). `prior` is what it ran with, for rollback.
    StopTeamd {
        /// Node name.
        node: String,
        /// The team device.
        dev: String,
        /// What teamd ran with, if known.
        prior: Option<TeamdSetup>,
    },
    /// (Re)start service `name` of `node` (see [`super::service`]) with
    /// `setup`: one that runs is stopped first (a setup change is a
    /// restart). Done once the process runs and is ready (dnsmasq has
    /// written its pid file, the DHCP client holds and applied a lease,
    /// the LIF watcher placed every LIF). `prior` is what it ran with
    /// before (`None`: it did not run), for rollback.
    StartService {
        /// Node name.
        node: String,
        /// The service's name in the node.
        name: String,
        /// What it runs with.
        setup: ServiceSetup,
        /// What it ran with before, if it ran.
        prior: Option<ServiceSetup>,
    },
    /// Stop service `name` of `node` (SIGTERM, then SIGKILL) and remove its
    /// files. `prior` is what it ran with, for rollback.
    StopService {
        /// Node name.
        node: String,
        /// The service's name in the node.
        name: String,
        /// What it ran with, if known.
        prior: Option<ServiceSetup>,
    },
    /// Add a static entry to a bridge's or a vxlan's forwarding database
    /// (replacing one the device learned for that MAC; a vxlan's flood
    /// entry is appended beside the others).
    AddFdb {
        /// Node name.
        node: String,
        /// The entry.
        entry: FdbEntry,
    },
    /// Remove a static entry from a forwarding database.
    DelFdb {
        /// Node name.
        node: String,
        /// The entry.
        entry: FdbEntry,
    },
}

/// Settings to change on an existing link; `None` leaves a field alone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LinkChange {
    /// Administrative state.
    pub up: Option<bool>,
    /// MTU.
    pub mtu: Option<u32>,
    /// Ethernet address.
    pub mac: Option<MacAddr>,
    /// `Some(Some(m))` enslave to `m`, `Some(None)` release from its master.
    pub master: Option<Option<String>>,
    /// Port options to set (only the `Some` fields inside; in `prior`, the whole old options).
    pub port: Option<PortOptions>,
    /// Kind options to change in place: only the `Some` (and non-empty list)
    /// fields inside; mandatory identity fields (vxlan `vni`, vlan `id`) carry
    /// the unchanged value. In `prior` this holds the whole old options.
    pub kind: Option<LinkKind>,
}

impl LinkChange {
    /// True when nothing would change.
    pub fn is_empty(&self) -> bool {
        self == &LinkChange::default()
    }

    /// The administrative state alone.
    pub fn only_up(up: Option<bool>) -> LinkChange {
        LinkChange {
            up,
            ..LinkChange::default()
        }
    }

    /// The MTU alone.
    pub fn only_mtu(mtu: Option<u32>) -> LinkChange {
        LinkChange {
            mtu,
            ..LinkChange::default()
        }
    }
}

impl Op {
    /// A short label for the kind of op, to sum operations by kind.
    pub fn label(&self) -> &'static str {
        match self {
            Op::AddNetns { .. } => "op AddNetns",
            Op::DelNetns { .. } => "op DelNetns",
            Op::SetSysctl { .. } => "op SetSysctl",
            Op::AddLink { .. } => "op AddLink",
            Op::DelLink { .. } => "op DelLink",
            Op::SetLink { .. } => "op SetLink",
            Op::AddAddress { .. } => "op AddAddress",
            Op::DelAddress { .. } => "op DelAddress",
            Op::AddRoute { .. } => "op AddRoute",
            Op::DelRoute { .. } => "op DelRoute",
            Op::SetNat { .. } => "op SetNat",
            Op::DelNat { .. } => "op DelNat",
            Op::StartTeamd { .. } => "op StartTeamd",
            Op::StopTeamd { .. } => "op StopTeamd",
            Op::StartService { .. } => "op StartService",
            Op::StopService { .. } => "op StopService",
            Op::AddFdb { .. } => "op AddFdb",
            Op::DelFdb { .. } => "op DelFdb",
        }
    }

    /// The node the op acts in.
    pub fn node(&self) -> &str {
        match self {
            Op::AddNetns { node }
            | Op::DelNetns { node }
            | Op::SetSysctl { node, .. }
            | Op::AddLink { node, .. }
            | Op::DelLink { node, .. }
            | Op::SetLink { node, .. }
            | Op::AddAddress { node, .. }
            | Op::DelAddress { node, .. }
            | Op::AddRoute { node, .. }
            | Op::DelRoute { node, .. }
            | Op::SetNat { node, .. }
            | Op::DelNat { node }
            | Op::StartTeamd { node, .. }
            | Op::StopTeamd { node, .. }
            | Op::StartService { node, .. }
            | Op::StopService { node, .. } => node,
            Op::AddFdb { node, .. } | Op::DelFdb { node, .. } => node,
        }
    }

    /// A SetLink of `link` from `prior` to `change`.
    pub fn set_link(link: &IfRef, change: LinkChange, prior: LinkChange) -> Op {
        Op::SetLink {
            node: link.node.clone(),
            name: link.name.clone(),
            change,
            prior,
        }
    }
}

/// Something a plan needs from the kernel (or the system) before it runs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Need {
    /// Devices of this kernel kind (`bond`, `vlan`, `tun`...).
    Kind(String),
    /// Bridges with VLAN filtering on.
    BridgeVlanFiltering,
    /// The teamd program, which drives team devices.
    Teamd,
    /// The dnsmasq program, which serves DHCP and DNS.
    Dnsmasq,
}

/// An op with its position in the plan's dependency graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// The operation.
    pub op: Op,
    /// Indexes of steps that must finish before this one starts.
    pub after: Vec<usize>,
}

/// An ordered plan: steps in a valid serial order, with dependencies for parallel apply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Steps; `after` indexes always point to earlier steps.
    pub steps: Vec<Step>,
}

/// `key value` pairs of the set fields of a serialized option struct, iproute2 style.
fn option_words<T: Serialize>(v: &T) -> String {
    let value = serde_json::to_value(v).unwrap_or(serde_json::Value::Null);
    // Enums serialize as {"Variant": {...}}; look inside the one variant.
    let inner = match &value {
        serde_json::Value::Object(m) if m.len() == 1 => {
            m.values().next().cloned().unwrap_or_default()
        }
        other => other.clone(),
    };
    let serde_json::Value::Object(fields) = inner else {
        return String::new();
    };
    let mut out = String::new();
    for (k, v) in fields {
        let word = match v {
            serde_json::Value::Null => continue,
            serde_json::Value::Array(a) if a.is_empty() => continue,
            serde_json::Value::String(s) => s,
            serde_json::Value::Object(o) if o.len() == 2 && o.contains_key("node") => format!(
                "{}/{}",
                o["node"].as_str().unwrap_or_default(),
                o["name"].as_str().unwrap_or_default()
            ),
            other => other.to_string(),
        };
        out += &format!(" {k} {word}");
    }
    out
}

fn route_line(
    f: &mut std::fmt::Formatter<'_>,
    node: &str,
    verb: &str,
    route: &Route,
) -> std::fmt::Result {
    write!(f, "{node}: route {verb} {route}")
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Op::AddNetns { node } => write!(f, "{node}: netns add"),
            Op::DelNetns { node } => write!(f, "{node}: netns delete"),
            Op::SetSysctl {
                node,
                key,
                value,
                prior,
            } => {
                write!(f, "{node}: sysctl {key}={value}")?;
                match prior {
                    Some(p) => write!(f, " (was {p})"),
                    None => Ok(()),
                }
            }
            Op::AddLink { node, link, peer } => {
                write!(
                    f,
                    "{node}: link add {} type {}",
                    link.name,
                    link.kind.word()
                )?;
                match (&link.kind, peer) {
                    (LinkKind::Veth(v), _) => {
                        if let Some(p) = &v.peer {
                            write!(f, " peer {p}")?;
                        }
                    }
                    (kind, _) => write!(f, "{}", option_words(kind))?,
                }
                if let Some(m) = link.mtu {
                    write!(f, " mtu {m}")?;
                }
                if let Some(m) = link.mac {
                    write!(f, " address {m}")?;
                }
                Ok(())
            }
            Op::DelLink { node, name } => write!(f, "{node}: link del {name}"),
            Op::SetLink {
                node, name, change, ..
            } => {
                write!(f, "{node}: link set {name}")?;
                if let Some(m) = &change.master {
                    match m {
                        Some(m) => write!(f, " master {m}")?,
                        None => write!(f, " nomaster")?,
                    }
                }
                if let Some(p) = &change.port {
                    let words = option_words(p);
                    if !words.is_empty() {
                        write!(f, " port{words}")?;
                    }
                }
                if let Some(m) = change.mtu {
                    write!(f, " mtu {m}")?;
                }
                if let Some(m) = change.mac {
                    write!(f, " address {m}")?;
                }
                if let Some(k) = &change.kind {
                    write!(f, " type {}{}", k.word(), option_words(k))?;
                }
                match change.up {
                    Some(true) => write!(f, " up"),
                    Some(false) => write!(f, " down"),
                    None => Ok(()),
                }
            }
            Op::AddAddress { node, link, addr } => {
                write!(f, "{node}: addr add {} dev {link}", addr.net)
            }
            Op::DelAddress { node, link, addr } => {
                write!(f, "{node}: addr del {} dev {link}", addr.net)
            }
            Op::AddRoute { node, route } => route_line(f, node, "add", route),
            Op::DelRoute { node, route } => route_line(f, node, "del", route),
            Op::SetNat { node, rules } => {
                let rules: Vec<String> = rules
                    .iter()
                    .map(|r| format!("{} out {}", r.source, r.out))
                    .collect();
                write!(f, "{node}: nft masquerade {}", rules.join(", "))
            }
            Op::DelNat { node } => write!(f, "{node}: nft delete table"),
            Op::StartTeamd {
                node,
                dev,
                setup,
                prior,
            } => {
                let verb = if prior.is_some() { "restart" } else { "start" };
                write!(
                    f,
                    "{node}: teamd {verb} {dev} runner {}",
                    setup.options.runner
                )?;
                for (port, opts) in &setup.ports {
                    write!(f, " port {port}{}", option_words(opts))?;
                }
                Ok(())
            }
            Op::StopTeamd { node, dev, .. } => write!(f, "{node}: teamd stop {dev}"),
            Op::StartService {
                node,
                name,
                setup,
                prior,
            } => {
                let verb = if prior.is_some() { "restart" } else { "start" };
                write!(f, "{node}: service {verb} {name}: {}", setup.serves())
            }
            Op::StopService { node, name, .. } => write!(f, "{node}: service stop {name}"),
            Op::AddFdb { node, entry } => {
                let verb = if entry.floods() { "append" } else { "add" };
                write!(f, "{node}: fdb {verb} {entry}")
            }
            Op::DelFdb { node, entry } => write!(f, "{node}: fdb del {entry}"),
        }
    }
}

impl std::fmt::Display for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, s) in self.steps.iter().enumerate() {
            writeln!(f, "{i:>3}. {}", s.op)?;
        }
        Ok(())
    }
}
