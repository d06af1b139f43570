//! dummy: no options of its own.
use rtnetlink::packet_route::link::InfoKind;

use super::{no_names, no_sample, Codec};
use crate::model::LinkKind;

/// The dummy kind.
pub const CODEC: Codec = Codec {
    kind: InfoKind::Dummy,
    parse: |_, _| LinkKind::Dummy(Default::default()),
    emit: |_, _| Ok(None),
    names: no_names,
    stacked: false,
    sample: no_sample,
    port: None,
};
