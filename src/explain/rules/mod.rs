//! The rule catalogue: every reason the kernel has for not carrying a
//! packet that explain can name, one file per subject, each rule with the
//! kernel function that enforces it and the field of the file that
//! changes it. The device kinds' files also hold how their device passes a
//! frame on ([`super::frame`] calls them), so a kind's behaviour and the
//! rules it can break sit together.
pub mod bond;
pub mod bridge;
pub mod ipvlan;
pub mod l3;
pub mod link;
pub mod macvlan;
pub mod nat;
pub mod nft;
pub mod vlan;
pub mod vxlan;

use std::collections::BTreeMap;

use serde::Serialize;

use super::Disposition;
use crate::spec::Location;

/// One rule of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Stable id, `subject.name` (e.g. `macvlan.private`).
    pub id: &'static str,
    /// The disposition a flow stopped by it gets.
    pub disposition: Disposition,
    /// The kernel function enforcing it (and its source file).
    pub kernel: &'static str,
    /// What the rule says, in one sentence.
    pub summary: &'static str,
    /// The field of the file to change (`mode`, `hairpin`, `routes`, ...).
    pub field: &'static str,
}

/// A rule that stopped a flow: which, why here, and what to change where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleHit {
    /// The rule's id.
    pub id: &'static str,
    /// The kernel function enforcing it.
    pub kernel: &'static str,
    /// What happened, with the names of this network.
    pub message: String,
    /// What to change to allow it.
    pub fix: String,
    /// Where in the file (`lab.yaml:12:20`), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
}

impl RuleHit {
    /// The disposition of the rule hit.
    pub fn disposition(&self) -> Disposition {
        get(self.id).map_or(Disposition::InsufficientInfo, |r| r.disposition)
    }

    /// The hit in one sentence: message, fix and place.
    pub fn sentence(&self) -> String {
        match &self.at {
            Some(at) => format!("{}; {} at {at}", self.message, self.fix),
            None => format!("{}; {}", self.message, self.fix),
        }
    }
}

impl Rule {
    /// A hit of this rule.
    pub fn hit(
        &'static self,
        message: impl Into<String>,
        fix: impl Into<String>,
        at: Option<String>,
    ) -> RuleHit {
        RuleHit {
            id: self.id,
            kernel: self.kernel,
            message: message.into(),
            fix: fix.into(),
            at,
        }
    }
}

/// Every rule, by subject.
pub fn all() -> Vec<&'static Rule> {
    let mut v: Vec<&'static Rule> = Vec::new();
    for list in [
        l3::RULES,
        link::RULES,
        bridge::RULES,
        macvlan::RULES,
        ipvlan::RULES,
        vlan::RULES,
        vxlan::RULES,
        bond::RULES,
        nat::RULES,
        nft::RULES,
    ] {
        v.extend_from_slice(list);
    }
    v
}

/// The rule with this id.
pub fn get(id: &str) -> Option<&'static Rule> {
    all().into_iter().find(|r| r.id == id)
}

/// Where things are in the file, to point a fix at.
#[derive(Debug, Clone, Copy)]
pub struct Place<'a> {
    /// The file as the user named it.
    pub file: &'a str,
    /// `node`, `node/iface` and `node/iface#field` locations.
    pub locations: &'a BTreeMap<String, Location>,
}

impl Place<'_> {
    /// `file:line:col` of the most precise of `node/iface#field`,
    /// `node/iface`, `node` that the file locates.
    pub fn at(&self, node: &str, iface: Option<&str>, field: Option<&str>) -> Option<String> {
        let mut keys = Vec::new();
        if let (Some(i), Some(f)) = (iface, field) {
            keys.push(format!("{node}/{i}#{f}"));
        }
        if let Some(i) = iface {
            keys.push(format!("{node}/{i}"));
        }
        keys.push(node.to_string());
        keys.iter()
            .find_map(|k| self.locations.get(k))
            .map(|l| format!("{}:{}:{}", self.file, l.line, l.column))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_every_rule_names_a_kernel_function() {
        let rules = all();
        let mut ids: Vec<&str> = rules.iter().map(|r| r.id).collect();
        ids.sort();
        let n = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), n, "duplicate rule ids");
        for r in rules {
            assert!(
                r.kernel.contains('('),
                "{}: kernel function with its file",
                r.id
            );
            assert!(r.id.contains('.'), "{}", r.id);
            assert!(!r.summary.is_empty() && !r.field.is_empty(), "{}", r.id);
        }
    }
}
