//! import: another tool's network configuration becomes a netloom topology
//! file, each object carrying where it came from, and what netloom cannot
//! express listed with its place, never silently dropped.
//!
//! Reading the source never changes the machine. The file written is
//! checked by [`crate::spec`] before it is handed out: what `netloom
//! validate` refuses in it (say a bond `updelay` that is no multiple of
//! `miimon`, which the kernel rounds) is taken out and listed with the
//! validator's reason (see [`settle`]), so the result always validates.
pub mod draft;
pub mod error;
pub mod ifupdown;
pub mod settle;

pub use draft::From;
pub use error::{ImportError, ImportErrors, Place};

/// Something of the source that the topology does not carry (or carries
/// with a remark), with where it stands and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    /// The source text and its place.
    pub from: From,
    /// Why it is not imported (or the remark).
    pub reason: String,
}

impl Skip {
    /// The skip as a located problem (for `--strict`).
    pub fn to_error(&self) -> ImportError {
        let message = format!("`{}` cannot be imported: {}", self.from.text, self.reason);
        match &self.from.at {
            Some(p) => ImportError::at(p.clone(), message, None),
            None => ImportError::nowhere(message),
        }
    }
}

/// The result of an import.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The topology file's text (it validates).
    pub yaml: String,
    /// The topology as netloom reads that text.
    pub topology: crate::spec::Topology,
    /// What was not imported, in source order.
    pub skipped: Vec<Skip>,
    /// Remarks that lose nothing (merged stanzas, templates, ignored timing options).
    pub notes: Vec<Skip>,
}

/// An interface name as a YAML key or list item.
pub fn yaml_name(name: &str) -> String {
    ifupdown::values::yaml_str(name)
}
