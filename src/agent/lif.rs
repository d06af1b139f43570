//! The LIF watcher (see step 5); a placeholder until written.
use super::{AgentError, Ctx};
use crate::model::service::LifSetup;

/// Run the watcher until asked to stop.
pub fn run(_cx: &mut Ctx, _setup: &LifSetup) -> Result<(), AgentError> {
    Err(AgentError::Setup(
        "the LIF watcher is not written yet".into(),
    ))
}
