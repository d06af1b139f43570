//! `--trace`: one real probe with nftables tracing on, in every node the
//! explanation crosses. A table of netloom's own (`inet netloom-trace`)
//! marks the flow's packets with `meta nftrace set 1` at prerouting and
//! output in each node (the mark does not survive leaving a namespace:
//! skb_scrub_packet -> nf_reset_trace), a listener on NFNLGRP_NFTRACE in
//! each node collects the kernel's NFT_MSG_TRACE events, and the table is
//! removed again, whatever happened.
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::nft::Ruleset;
use super::{ExplainError, Explanation};
use crate::kernel::nfnl::{TraceEvent, TraceListener};
use crate::kernel::{ask as query, netns, Kernel, KernelError, Netns};
use crate::spec::Topology;

/// The trace table's name.
pub const TABLE: &str = "netloom-trace";

/// One traced verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Traced {
    /// The node whose kernel reported it.
    pub node: String,
    /// The event.
    #[serde(flatten)]
    pub event: TraceEvent,
    /// The rule's comment, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// What the traced probe showed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceReport {
    /// Whether the probe was answered.
    pub answered: bool,
    /// The probe's own words.
    pub probe: String,
    /// Which rule dropped it, or that every hook let it through.
    pub verdict: String,
    /// The verdicts, node by node, in the order the kernels reported them.
    pub events: Vec<Traced>,
}

/// The text of a trace report.
pub fn render(t: &TraceReport, indent: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{indent}trace: {} ({})", t.verdict, t.probe);
    for e in &t.events {
        let handle = e
            .event
            .handle
            .map(|h| format!(" handle {h}"))
            .unwrap_or_default();
        let comment = e
            .comment
            .as_deref()
            .map(|c| format!(" comment {c:?}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{indent}  {}: {} {} {}{handle}{comment}: {} {}",
            e.node, e.event.family, e.event.table, e.event.chain, e.event.kind, e.event.verdict
        );
    }
    out
}

fn script(v6: bool, addr: std::net::IpAddr) -> String {
    let fam = if v6 { "ip6" } else { "ip" };
    let rules =
        format!("{fam} daddr {addr} meta nftrace set 1\n    {fam} saddr {addr} meta nftrace set 1");
    format!(
        "table inet {TABLE} {{}}\ndelete table inet {TABLE}\ntable inet {TABLE} {{\n  chain pre {{\n    type filter hook prerouting priority -350; policy accept;\n    {rules}\n  }}\n  chain out {{\n    type filter hook output priority -350; policy accept;\n    {rules}\n  }}\n}}\n"
    )
}

/// Run `nft -f -` with `text` in the calling thread's namespace.
fn nft_here(text: &str, object: &str) -> Result<(), KernelError> {
    let mut child = std::process::Command::new("nft")
        .args(["-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| {
            KernelError::io(format!("{object} (is the nftables package installed?)"), e)
        })?;
    if let Some(mut input) = child.stdin.take() {
        input
            .write_all(text.as_bytes())
            .map_err(|e| KernelError::io(object, e))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| KernelError::io(object, e))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(KernelError::Netlink {
            object: object.to_string(),
            op: "nft -f".into(),
            errno: 0,
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// Send one probe of `ex`'s flow under nftrace and report the verdicts.
pub async fn run(
    k: &Kernel,
    topo: &Topology,
    ex: &Explanation,
) -> Result<TraceReport, ExplainError> {
    let mut nodes: BTreeSet<String> = BTreeSet::new();
    nodes.insert(ex.flow.src.clone());
    for t in std::iter::once(&ex.forward).chain(ex.reply.iter()) {
        nodes.extend(t.hops.iter().map(|h| h.node.clone()));
    }
    let mut nss: BTreeMap<String, Arc<Netns>> = BTreeMap::new();
    for n in &nodes {
        if let Some(ns) = k.netns_of(n)? {
            nss.insert(n.clone(), ns);
        }
    }
    let (dst, v6) = (ex.flow.dst, ex.flow.dst.is_ipv6());
    let flow = ex.flow.clone();
    let topo_name = topo.network.name.clone();
    let task = tokio::task::spawn_blocking(move || -> Result<TraceReport, ExplainError> {
        let mut listeners = Vec::new();
        let mut armed = Vec::new();
        let mut failure = None;
        for (n, ns) in &nss {
            let text = script(v6, dst);
            let object = format!("{} trace table", ns.label());
            match netns::run_in(ns, || -> Result<TraceListener, KernelError> {
                let l = TraceListener::open().map_err(|e| KernelError::io(object.clone(), e))?;
                nft_here(&text, &object)?;
                Ok(l)
            }) {
                Ok(Ok(l)) => {
                    armed.push(ns.clone());
                    listeners.push((n.clone(), l));
                }
                Ok(Err(e)) | Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let probe = if failure.is_none() {
            Some(crate::verify::probe(
                &topo_name,
                &flow.src,
                flow.src_iface.as_deref(),
                dst,
                flow.probe,
                1,
                Duration::from_secs(1),
            ))
        } else {
            None
        };
        let until = Instant::now() + Duration::from_millis(300);
        let mut events = Vec::new();
        for (n, l) in &listeners {
            for e in l.collect(until) {
                if e.table != TABLE {
                    events.push((n.clone(), e));
                }
            }
        }
        // Remove the trace tables in every node armed, whatever happened.
        for ns in &armed {
            let object = format!("{} trace table", ns.label());
            let _ = netns::run_in(ns, || {
                nft_here(
                    &format!("table inet {TABLE} {{}}\ndelete table inet {TABLE}\n"),
                    &object,
                )
            });
        }
        if let Some(e) = failure {
            return Err(e.into());
        }
        let mut comments: BTreeMap<String, Ruleset> = BTreeMap::new();
        for (n, ns) in &nss {
            if let Ok(Some(json)) = query::ruleset(ns) {
                comments.insert(n.clone(), Ruleset::parse(&json));
            }
        }
        let events: Vec<Traced> = events
            .into_iter()
            .map(|(node, event)| {
                let comment = comments.get(&node).and_then(|rs| {
                    rs.chains
                        .iter()
                        .find(|c| {
                            c.family == event.family
                                && c.table == event.table
                                && c.name == event.chain
                        })
                        .and_then(|c| c.rules.iter().find(|r| Some(r.handle) == event.handle))
                        .and_then(|r| r.comment.clone())
                });
                Traced {
                    node,
                    event,
                    comment,
                }
            })
            .collect();
        let verdict = events
            .iter()
            .find(|e| e.event.verdict.starts_with("drop"))
            .map(|e| {
                let handle = e
                    .event
                    .handle
                    .map(|h| format!(" handle {h}"))
                    .unwrap_or_default();
                let comment = e
                    .comment
                    .as_deref()
                    .map(|c| format!(" comment {c:?}"))
                    .unwrap_or_default();
                format!(
                    "dropped in {} by {} {} {}{handle}{comment} ({})",
                    e.node, e.event.family, e.event.table, e.event.chain, e.event.kind
                )
            })
            .unwrap_or_else(|| {
                if events.is_empty() {
                    "no nftables rule saw it".to_string()
                } else {
                    "every nftables hook it met let it through".to_string()
                }
            });
        let probe = probe.expect("probe ran when nothing failed");
        Ok(TraceReport {
            answered: probe.answered,
            probe: probe.reason,
            verdict,
            events,
        })
    });
    task.await.map_err(|e| ExplainError::Task(e.to_string()))?
}
