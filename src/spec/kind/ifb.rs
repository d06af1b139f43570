//! ifb: no options of its own.
use super::KindSpec;
use crate::model::LinkKind;

/// The ifb kind in the file.
pub const SPEC: KindSpec = KindSpec {
    word: "ifb",
    fields: &[],
    decode: |_, _, _, _| LinkKind::Ifb(Default::default()),
    mtu: (
        (0, i32::MAX as u64),
        "an ifb has no MTU limits of its own (ifb_setup leaves min_mtu and max_mtu 0), only dev_validate_mtu's: a positive int",
    ),
    ports: None,
    check: None,
    encode: super::no_fields,
};

#[cfg(test)]
mod tests {
    use crate::spec::kind::test_util::file_errors;

    /// An ifb takes no lower: it is fed by tc, not stacked on a device.
    #[test]
    fn an_ifb_takes_no_lower() {
        let e = file_errors(&["ifb0: { kind: ifb, lower: eth0 }"]);
        assert!(e.iter().any(|m| m.contains("`lower`")), "{e:?}");
    }
}
