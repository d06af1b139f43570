//! services: what runs is read from each node's service directory (see
//! [`crate::kernel::service`]), never from a pid alone.
use crate::kernel::{service, Kernel, KernelError};
use crate::model::Node;

/// Fill the running services of `node` (called `name`) from its service directory.
pub(super) fn fill(k: &Kernel, name: &str, node: &mut Node) -> Result<(), KernelError> {
    node.services = service::observe(&k.service_dir(name))?;
    Ok(())
}
