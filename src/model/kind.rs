//! Device kinds: [`Kind`] is what every layer may ask of a kind of device,
//! answered in the kind's own model file (model/<kind>.rs) with the kernel
//! function behind each answer; [`link_kinds!`] turns the table of kinds in
//! model/mod.rs into [`super::LinkKind`]. Every answer defaults to "no", so
//! a new kind states only what is true of it.
use super::IfRef;

/// What the kernel does with a device of one kind. The effects model
/// (crate::effects) turns these facts into what vanishes, follows and
/// flushes; the planner and the validation ask them too.
pub trait Kind {
    /// The device this one is stacked on, if any (its lower; a vxlan's `dev`).
    fn lower(&self) -> Option<&IfRef> {
        None
    }

    /// The slot the kernel's IFLA_LINK fills when the device is read back
    /// (a veth's peer, a stacked device's lower), for kinds that report one.
    fn link_ref_mut(&mut self) -> Option<&mut Option<IfRef>> {
        None
    }

    /// The device's IFLA_LINK names its lower in the create request (a
    /// vxlan names its `dev` in its own attributes instead).
    fn lower_by_ifla_link(&self) -> bool {
        self.lower().is_some()
    }

    /// Devices of this kind take ports (`master:`).
    fn takes_ports(&self) -> bool {
        false
    }

    /// A master of this kind closes a port it releases.
    fn closes_released_port(&self) -> bool {
        false
    }

    /// A master of this kind opens a port it takes.
    fn opens_enslaved_port(&self) -> bool {
        false
    }

    /// A master of this kind refuses a port that is up.
    fn refuses_up_port(&self) -> bool {
        false
    }

    /// A master of this kind gives each port its own MTU, on enslave and on
    /// every change of its own.
    fn sets_port_mtu(&self) -> bool {
        false
    }

    /// A master of this kind takes a port down and up again when it
    /// enslaves or releases it, which flushes the port's routes and IPv6
    /// addresses.
    fn cycles_ports(&self) -> bool {
        false
    }

    /// The MTU of a master of this kind follows its ports' (the smallest),
    /// unless set.
    fn mtu_follows_ports(&self) -> bool {
        false
    }

    /// The device takes its lower's MTU on every change of the lower's.
    fn takes_lower_mtu(&self) -> bool {
        false
    }

    /// The device shrinks when its lower's MTU falls below its own, and may
    /// not be larger than its lower.
    fn shrinks_with_lower(&self) -> bool {
        false
    }

    /// The device opens only while its lower is up, closes when its lower
    /// goes down and opens again when it comes up.
    fn follows_lower_state(&self) -> bool {
        false
    }

    /// Bytes of encapsulation the device needs below its lower's MTU.
    fn headroom(&self) -> Option<u32> {
        None
    }

    /// The character device of a tap-like device (`/dev/tapN`), when known.
    fn tap_path(&self) -> Option<&str> {
        None
    }
}

/// The facts of devices that are not of a kind netloom makes (the loopback
/// device, external and unknown devices): none.
pub struct NoFacts;

impl Kind for NoFacts {}

/// Defines [`super::LinkKind`] from a table of `Variant(Options) = "kernel
/// kind"` rows, with the variants every network also has (`Loopback`,
/// `External`, `Other`), `kernel_kind()` and `facts()`.
#[macro_export]
macro_rules! link_kinds {
    ($( $(#[$doc:meta])* $variant:ident($options:ty) = $word:literal, )*) => {
        /// A device kind and its options (one row per kind in model/mod.rs).
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
        pub enum LinkKind {
            $( $(#[$doc])* $variant($options), )*
            /// The loopback device of a namespace.
            Loopback,
            /// A device netloom did not create and never changes; only referenced.
            External,
            /// Observed only: a kind netloom does not model, by its kernel name.
            Other(String),
        }

        impl LinkKind {
            /// Every kernel kind word netloom makes devices of.
            pub const WORDS: &'static [&'static str] = &[$($word),*];

            /// The kernel's IFLA_INFO_KIND string for this kind (`None` for
            /// the loopback device and external devices).
            pub fn kernel_kind(&self) -> Option<&str> {
                Some(match self {
                    $( LinkKind::$variant(_) => $word, )*
                    LinkKind::Other(k) => k.as_str(),
                    LinkKind::Loopback | LinkKind::External => return None,
                })
            }

            /// What the kernel does with devices of this kind.
            pub fn facts(&self) -> &dyn $crate::model::kind::Kind {
                match self {
                    $( LinkKind::$variant(o) => o, )*
                    LinkKind::Loopback | LinkKind::External | LinkKind::Other(_) => {
                        &$crate::model::kind::NoFacts
                    }
                }
            }

            /// [`LinkKind::facts`], to change what the kernel reported.
            pub fn facts_mut(&mut self) -> Option<&mut dyn $crate::model::kind::Kind> {
                match self {
                    $( LinkKind::$variant(o) => Some(o), )*
                    LinkKind::Loopback | LinkKind::External | LinkKind::Other(_) => None,
                }
            }
        }
    };
}
