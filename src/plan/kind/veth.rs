//! veth: the only option is the peer, and a pair cannot be re-paired.
use super::Diffs;
use crate::model::VethOptions;

/// Compare veth options; a different peer means a new pair.
pub(super) fn compare(want: &VethOptions, have: &VethOptions, d: &mut Diffs) -> VethOptions {
    d.device("peer", &want.peer, &have.peer);
    VethOptions { peer: None }
}
