//! vrf: IFLA_VRF_TABLE. Its ports carry IFLA_VRF_PORT_TABLE, the same table,
//! which the model does not keep.
use rtnetlink::packet_route::link::{InfoData, InfoKind, InfoVrf};

use super::{invalid, no_names, Codec};
use crate::model::vrf::VrfOptions;
use crate::model::LinkKind;

/// The vrf kind.
pub const CODEC: Codec = Codec {
    kind: InfoKind::Vrf,
    parse: |data, _| {
        let mut o = VrfOptions::default();
        if let Some(InfoData::Vrf(d)) = data {
            for a in d {
                if let InfoVrf::TableId(t) = a {
                    o.table = *t;
                }
            }
        }
        LinkKind::Vrf(o)
    },
    emit: |kind, w| match (kind, w.create) {
        (LinkKind::Vrf(o), true) => Ok(Some(InfoData::Vrf(vec![InfoVrf::TableId(o.table)]))),
        // The driver has no changelink: a new table means a new device.
        (LinkKind::Vrf(_), false) => Err(invalid(w.obj, "a vrf's table cannot change")),
        _ => Err(invalid(w.obj, "not a vrf")),
    },
    names: no_names,
    stacked: false,
    sample: || Some(InfoData::Vrf(vec![InfoVrf::TableId(10)])),
    port: None,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_emitted_parses_back() {
        let kind = LinkKind::Vrf(VrfOptions { table: 4242 });
        assert_eq!(super::super::round_trip::kind(&kind), kind);
    }
}
