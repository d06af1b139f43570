//! ifb: the kernel reports the kind alone (no IFLA_INFO_DATA).
use rtnetlink::packet_route::link::InfoKind;

use super::{no_names, no_sample, Codec};
use crate::model::LinkKind;

/// The ifb kind.
pub const CODEC: Codec = Codec {
    kind: InfoKind::Ifb,
    parse: |_, _| LinkKind::Ifb(Default::default()),
    emit: |_, _| Ok(None),
    names: no_names,
    stacked: false,
    sample: no_sample,
    port: None,
};

#[cfg(test)]
mod tests {
    use crate::model::LinkKind;

    #[test]
    fn what_is_emitted_parses_back() {
        let kind = LinkKind::Ifb(Default::default());
        assert_eq!(super::super::round_trip::kind(&kind), kind);
    }
}
