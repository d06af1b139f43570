//! dummy: no options of its own.
use super::KindSpec;
use crate::model::LinkKind;

/// The dummy kind in the file.
pub const SPEC: KindSpec = KindSpec {
    word: "dummy",
    fields: &[],
    decode: |_, _, _, _| LinkKind::Dummy(Default::default()),
    mtu: ((0, i32::MAX as u64), "a dummy has no MTU limits of its own (dummy_setup sets min_mtu and max_mtu to 0), only dev_validate_mtu's: a positive int"),
    ports: None,
    check: None,
    encode: super::no_fields,
};
