//! Kind options: which differ between desired and observed, and whether the
//! kernel can change them in place or the device must be recreated. One file
//! per device kind.
mod bond;
pub(crate) mod bridge;
mod ipvlan;
mod macvlan;
mod team;
mod tun;
mod veth;
mod vlan;
mod vrf;
mod vxlan;

use serde::Serialize;

use super::status::FieldDiff;
use crate::model::{IfRef, LinkKind, PortOptions};

/// How a link's kind options differ.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum KindDiff {
    /// Nothing the file sets differs.
    Same,
    /// Changeable in place: the kind carrying only the differing fields.
    Change(Box<LinkKind>, Vec<FieldDiff>),
    /// The device must be deleted and created again.
    Recreate(Vec<FieldDiff>),
}

/// Differences found so far while comparing one kind's options.
#[derive(Debug, Default)]
pub(crate) struct Diffs {
    fields: Vec<FieldDiff>,
    recreate: bool,
}

/// Render a value for a field diff: JSON, without quotes around strings.
pub(crate) fn show<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(serde_json::Value::Null) => "unset".to_string(),
        Ok(other) => other.to_string(),
        Err(e) => format!("<{e}>"),
    }
}

impl Diffs {
    fn push<T: Serialize>(&mut self, name: &str, want: &T, have: &T, recreate: bool) {
        self.fields.push(FieldDiff {
            field: name.to_string(),
            want: show(want),
            have: show(have),
        });
        self.recreate |= recreate;
    }

    /// An optional field the file may leave unset: compared only when it is set.
    fn opt<T: PartialEq + Clone + Serialize>(
        &mut self,
        name: &str,
        want: &Option<T>,
        have: &Option<T>,
        recreate: bool,
    ) -> Option<T> {
        let w = want.as_ref()?;
        if have.as_ref() == Some(w) {
            return None;
        }
        self.push(name, want, have, recreate);
        Some(w.clone())
    }

    /// A list field: an empty desired list means "the file does not care".
    fn list<T: PartialEq + Clone + Serialize>(
        &mut self,
        name: &str,
        want: &[T],
        have: &[T],
        recreate: bool,
    ) -> Vec<T> {
        if want.is_empty() || want == have {
            return Vec::new();
        }
        self.push(name, &want, &have, recreate);
        want.to_vec()
    }

    /// A mandatory field: always compared.
    fn value<T: PartialEq + Serialize>(&mut self, name: &str, want: &T, have: &T, recreate: bool) {
        if want != have {
            self.push(name, want, have, recreate);
        }
    }

    /// A device reference (lower, peer, dev). Observed `None` means the
    /// observer could not resolve it (another namespace), not "none": only a
    /// known, different device counts. Changing it always means recreating.
    fn device(&mut self, name: &str, want: &Option<IfRef>, have: &Option<IfRef>) {
        if let (Some(w), Some(h)) = (want, have) {
            if w != h {
                self.push(name, want, have, true);
            }
        }
    }

    fn finish(self, partial: LinkKind) -> KindDiff {
        if self.fields.is_empty() {
            KindDiff::Same
        } else if self.recreate {
            KindDiff::Recreate(self.fields)
        } else {
            KindDiff::Change(Box::new(partial), self.fields)
        }
    }
}

/// Compare desired kind `want` with observed kind `have`.
pub(crate) fn compare(want: &LinkKind, have: &LinkKind) -> KindDiff {
    let mut d = Diffs::default();
    let partial = match (want, have) {
        (LinkKind::Veth(w), LinkKind::Veth(h)) => LinkKind::Veth(veth::compare(w, h, &mut d)),
        (LinkKind::Bridge(w), LinkKind::Bridge(h)) => {
            LinkKind::Bridge(bridge::compare(w, h, &mut d))
        }
        (LinkKind::Bond(w), LinkKind::Bond(h)) => LinkKind::Bond(bond::compare(w, h, &mut d)),
        (LinkKind::Team(w), LinkKind::Team(h)) => LinkKind::Team(team::compare(w, h, &mut d)),
        (LinkKind::Vlan(w), LinkKind::Vlan(h)) => LinkKind::Vlan(vlan::compare(w, h, &mut d)),
        (LinkKind::Vxlan(w), LinkKind::Vxlan(h)) => LinkKind::Vxlan(vxlan::compare(w, h, &mut d)),
        (LinkKind::Macvlan(w), LinkKind::Macvlan(h)) => {
            LinkKind::Macvlan(macvlan::compare(w, h, &mut d))
        }
        (LinkKind::Macvtap(w), LinkKind::Macvtap(h)) => {
            LinkKind::Macvtap(macvlan::compare(w, h, &mut d))
        }
        (LinkKind::Ipvlan(w), LinkKind::Ipvlan(h)) => {
            LinkKind::Ipvlan(ipvlan::compare(w, h, &mut d))
        }
        (LinkKind::Ipvtap(w), LinkKind::Ipvtap(h)) => {
            LinkKind::Ipvtap(ipvlan::compare(w, h, &mut d))
        }
        (LinkKind::Tun(w), LinkKind::Tun(h)) => LinkKind::Tun(tun::compare(w, h, &mut d)),
        (LinkKind::Vrf(w), LinkKind::Vrf(h)) => LinkKind::Vrf(vrf::compare(w, h, &mut d)),
        (LinkKind::Ifb(_), LinkKind::Ifb(_))
        | (LinkKind::Dummy(_), LinkKind::Dummy(_))
        | (LinkKind::Loopback, LinkKind::Loopback)
        | (LinkKind::External, _) => return KindDiff::Same,
        (LinkKind::Other(w), LinkKind::Other(h)) if w == h => return KindDiff::Same,
        _ => {
            d.push("kind", &want.word(), &have.word(), true);
            return d.finish(want.clone());
        }
    };
    d.finish(partial)
}

/// Compare desired port options with observed ones: `None` when nothing the
/// file sets differs, else the options carrying only the differing fields.
pub(crate) fn compare_port(
    want: &PortOptions,
    have: Option<&PortOptions>,
) -> Option<(PortOptions, Vec<FieldDiff>)> {
    let mut d = Diffs::default();
    let partial = match (want, have) {
        (PortOptions::Bridge(w), Some(PortOptions::Bridge(h))) => {
            PortOptions::Bridge(bridge::compare_port(w, h, &mut d))
        }
        (PortOptions::Bond(w), Some(PortOptions::Bond(h))) => {
            PortOptions::Bond(bond::compare_port(w, h, &mut d))
        }
        (PortOptions::Team(w), Some(PortOptions::Team(h))) => {
            PortOptions::Team(team::compare_port(w, h, &mut d))
        }
        // Not a port of that kind yet: every option the file sets is new.
        _ => {
            d.push("port", &Some(want), &have, false);
            want.clone()
        }
    };
    (!d.fields.is_empty()).then_some((partial, d.fields))
}
