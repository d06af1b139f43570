//! NAT masquerade (nft `masquerade` in netloom's table, postrouting hook):
//! the source of a packet leaving by the rule's `out` interface becomes
//! that interface's address (nft_masq_eval -> nf_nat_masquerade_ipv4), and
//! conntrack turns the answer's destination back (nf_nat_ipv4_pre_routing).
use super::Rule;
use crate::explain::Disposition;

/// Masquerade applies only by its `out` interface.
pub const OUT_ONLY: Rule = Rule {
    id: "nat.masquerade_out",
    disposition: Disposition::NoReturnPath,
    kernel: "nft_masq_eval via the postrouting rule `oifname OUT` (net/netfilter/nft_masq.c)",
    summary: "masquerade rewrites only packets leaving by its `out` interface; others keep a source the far side may have no route back to",
    field: "nat",
};

/// The NAT rules.
pub const RULES: &[&Rule] = &[&OUT_ONLY];
