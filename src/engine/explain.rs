//! `explain`, and explanations of what `verify` found failing.
use serde::Serialize;

use super::{Engine, EngineError};
use crate::explain::{self, ExplainError, Explanation, Flow, Matrix, Mode};
use crate::model::{Claim, Probe};
use crate::spec::Topology;
use crate::verify;

/// How to explain.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExplainOptions {
    /// From the file alone.
    pub static_only: bool,
    /// Send one real probe under nftrace.
    pub trace: bool,
}

/// A proof by traffic with the explanation of every failed claim.
#[derive(Debug, Clone, Serialize)]
pub struct Verified {
    /// The proof.
    #[serde(flatten)]
    pub report: verify::Report,
    /// Why each failed claim failed (or got through, for an isolation claim).
    pub explanations: Vec<Explained>,
}

impl Verified {
    /// Every claim holds.
    pub fn ok(&self) -> bool {
        self.report.ok()
    }
}

/// The explanation of one failed claim.
#[derive(Debug, Clone, Serialize)]
pub struct Explained {
    /// Its index among the outcomes.
    pub index: usize,
    /// The claim as in the table.
    pub text: String,
    /// The explanation, live.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<Explanation>,
    /// Why there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Whether this process may add trace rules and listen to trace events.
fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

impl Engine {
    /// `explain`: why each of `flows` of `topo` (read from `file`) gets
    /// through or not; live unless `static_only`.
    pub async fn explain(
        &self,
        topo: &Topology,
        file: &str,
        flows: &[Flow],
        opts: ExplainOptions,
    ) -> Result<Vec<Explanation>, EngineError> {
        if opts.trace && opts.static_only {
            return Err(ExplainError::TraceStatic.into());
        }
        if opts.trace && !is_root() {
            return Err(ExplainError::NotRoot.into());
        }
        if opts.static_only {
            return Ok(flows
                .iter()
                .map(|f| explain::explain_static(topo, file, f))
                .collect());
        }
        let mut out = explain::live::explain(&self.kernel, topo, file, flows).await?;
        if opts.trace {
            for e in &mut out {
                e.trace = Some(explain::trace::run(&self.kernel, topo, e).await?);
            }
        }
        Ok(out)
    }

    /// `explain --all`: the matrix of every node to every address of the file.
    pub async fn explain_all(
        &self,
        topo: &Topology,
        file: &str,
        probe: Probe,
        static_only: bool,
    ) -> Result<Matrix, EngineError> {
        if static_only {
            return Ok(explain::all_static(topo, file, probe));
        }
        let flows = explain::all_flows(topo, probe);
        let ex = explain::live::explain(&self.kernel, topo, file, &flows).await?;
        Ok(explain::matrix(topo, Mode::Live, probe, &ex))
    }

    /// `verify`, and the live explanation of every failed claim.
    pub async fn verify_explained(
        &self,
        topo: &Topology,
        file: &str,
    ) -> Result<Verified, EngineError> {
        let report = self.verify(topo).await?;
        let mut flows = Vec::new();
        let mut which = Vec::new();
        for (i, (o, e)) in report.outcomes.iter().zip(&topo.expect).enumerate() {
            if o.ok {
                continue;
            }
            // explain walks forwarding paths; a lease, a name or a LIF's
            // return home is a service's doing, which it does not model.
            let (flow, none) = match &e.claim {
                Claim::Reach | Claim::Isolated | Claim::Failover { .. } => (
                    explain::target::of_expectation(topo, e),
                    "the claim's target has no address",
                ),
                Claim::Lease { .. } | Claim::Resolve { .. } | Claim::Revert { .. } => {
                    (None, "explain does not cover DHCP, DNS or LIF claims")
                }
            };
            which.push((i, o.text.clone(), flow.is_some(), none));
            flows.extend(flow);
        }
        let mut explanations = Vec::new();
        if !flows.is_empty() {
            let got = explain::live::explain(&self.kernel, topo, file, &flows).await;
            let mut got = match got {
                Ok(v) => v.into_iter().map(Ok).collect::<Vec<_>>(),
                Err(e) => flows.iter().map(|_| Err(e.to_string())).collect(),
            }
            .into_iter();
            for (index, text, has, none) in which {
                let (explanation, error) = if has {
                    match got.next() {
                        Some(Ok(x)) => (Some(x), None),
                        Some(Err(e)) => (None, Some(e)),
                        None => (None, Some("not explained".into())),
                    }
                } else {
                    (None, Some(none.into()))
                };
                explanations.push(Explained {
                    index,
                    text,
                    explanation,
                    error,
                });
            }
        }
        Ok(Verified {
            report,
            explanations,
        })
    }
}
