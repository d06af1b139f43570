//! veth: one end of a pair, written `kind: veth` or implied by `links`;
//! the peer is filled in from `links`.
use super::KindSpec;
use crate::model::{LinkKind, VethOptions};

/// The veth kind in the file.
pub const SPEC: KindSpec = KindSpec {
    word: "veth",
    fields: &[],
    decode: |_, _, _, _| LinkKind::Veth(VethOptions { peer: None }),
    mtu: ((68, 65535), "a veth's MTU is 68..=65535 (veth_setup)"),
    ports: None,
    check: None,
    encode: super::no_fields,
};
