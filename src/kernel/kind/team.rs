//! team: the kernel reports the kind only; teamd holds the runner, the
//! link watchers and the ports' options (kernel::teamd), which it gives the
//! driver over generic netlink. Nothing of a team goes over rtnetlink but
//! its creation.
use rtnetlink::packet_route::link::{InfoKind, InfoPortKind};

use super::{invalid, no_names, no_sample, Codec, PortCodec};
use crate::model::{LinkKind, PortOptions, TeamOptions};

/// The team kind.
pub const CODEC: Codec = Codec {
    kind: InfoKind::Team,
    parse: |_, _| LinkKind::Team(TeamOptions::default()),
    emit: |kind, w| match (kind, w.create) {
        (LinkKind::Team(_), true) => Ok(None),
        (LinkKind::Team(_), false) => Err(invalid(
            w.obj,
            "team options are applied through teamd, not rtnetlink",
        )),
        _ => Err(invalid(w.obj, "not a team")),
    },
    names: no_names,
    stacked: false,
    sample: no_sample,
    port: Some(PortCodec {
        kind: InfoPortKind::Team,
        owns: |p| matches!(p, PortOptions::Team(_)),
        parse: |_| None,
        emit: |p| match p {
            PortOptions::Team(_) => Err(invalid(
                "team port",
                "team port options are applied through teamd, not rtnetlink",
            )),
            _ => Ok(None),
        },
    }),
};
