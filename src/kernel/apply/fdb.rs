//! Forwarding database entries (RTM_NEWNEIGH / RTM_DELNEIGH, AF_BRIDGE),
//! encoded by [`crate::kernel::fdb`].
use std::collections::HashMap;

use super::{ifindex, invalid};
use crate::kernel::error::KernelError;
use crate::kernel::{fdb, NodeHandle};
use crate::model::FdbEntry;

/// Add `entry` (appended to a vxlan's flood list, else replacing what the
/// device has for its MAC) or delete it.
pub(super) async fn change(
    h: &NodeHandle,
    node: &str,
    entry: &FdbEntry,
    add: bool,
) -> Result<(), KernelError> {
    let mut indexes = HashMap::new();
    let names = std::iter::once(entry.dev.as_str()).chain(entry.refers_to());
    for name in names.filter(|n| !n.starts_with("ifindex ")) {
        indexes.insert(name.to_string(), ifindex(h, node, name).await?);
    }
    let object = format!("{node}/{}", entry.dev);
    let m = fdb::message(entry, &|name| {
        indexes
            .get(name)
            .copied()
            .ok_or_else(|| invalid(&object, format!("no interface {name}")))
    })?;
    let (flags, op) = if add {
        let verb = if entry.floods() { "append" } else { "add" };
        (fdb::add_flags(entry), format!("fdb {verb} {entry}"))
    } else {
        (0, format!("fdb del {entry}"))
    };
    fdb::send(h, m, flags, add, &object, &op).await
}
