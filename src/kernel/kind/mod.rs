//! One codec per device kind: how its options are read from the kernel's
//! IFLA_INFO_DATA (parse) and written into it (emit), a symmetric pair with
//! round-trip tests that need no kernel, and the same for the options its
//! ports carry (IFLA_INFO_PORT_DATA) when it takes ports. Adding a kind
//! means one file here and one row in [`CODECS`].
pub mod bond;
pub mod bridge;
pub mod dummy;
pub mod ifb;
pub mod ipvlan;
pub mod macvlan;
pub mod team;
pub mod tun;
pub mod veth;
pub mod vlan;
pub mod vrf;
pub mod vxlan;

use std::collections::HashMap;
use std::os::fd::RawFd;

use rtnetlink::packet_route::link::{InfoData, InfoKind, InfoPortData, InfoPortKind};

use super::error::KernelError;
use crate::model::{Link, LinkKind, PortOptions};

/// What a codec knows of a device it reads.
pub struct Seen<'a> {
    /// The node the device is in.
    pub node: &'a str,
    /// Its ifindex.
    pub ifindex: u32,
    /// ifindex -> name of every device of its namespace.
    pub names: &'a HashMap<u32, String>,
    /// It is an Ethernet device (ARPHRD_ETHER).
    pub ether: bool,
}

/// What a codec is given to write a device's options.
pub struct Write<'a> {
    /// The node the request goes to.
    pub node: &'a str,
    /// The device, for errors: `node/name`.
    pub obj: &'a str,
    /// A create request (identity options, fixed afterwards, go in too);
    /// else a change, carrying only the options to change.
    pub create: bool,
    /// The ifindexes of the devices [`Codec::names`] asked for, those
    /// that exist.
    pub indexes: &'a HashMap<String, u32>,
    /// For a veth: the peer end to create with it, and its namespace when
    /// that is another one.
    pub peer: Option<(&'a Link, Option<RawFd>)>,
}

/// A device kind as the kernel encodes it.
pub struct Codec {
    /// Its IFLA_INFO_KIND.
    pub kind: InfoKind,
    /// The model's options from IFLA_INFO_DATA (absent for some kinds).
    pub parse: fn(Option<&InfoData>, &Seen) -> LinkKind,
    /// IFLA_INFO_DATA for the model's options (`None`: nothing to send).
    pub emit: fn(&LinkKind, &Write) -> Result<Option<InfoData>, KernelError>,
    /// Devices of the same node whose ifindex [`Codec::emit`] needs.
    pub names: fn(&LinkKind) -> Vec<String>,
    /// The device is created over an Ethernet lower named by IFLA_LINK.
    pub stacked: bool,
    /// What a trial device of the kind is created with (preflight).
    pub sample: fn() -> Option<InfoData>,
    /// For a kind that takes ports: their options.
    pub port: Option<PortCodec>,
}

/// The options a kind's ports carry.
pub struct PortCodec {
    /// Their IFLA_INFO_PORT_KIND.
    pub kind: InfoPortKind,
    /// The model's port options are this kind's.
    pub owns: fn(&PortOptions) -> bool,
    /// The model's port options from IFLA_INFO_PORT_DATA.
    pub parse: fn(&InfoPortData) -> Option<PortOptions>,
    /// IFLA_INFO_PORT_DATA for the model's port options (`None`: nothing
    /// to send, or not the kind's port options).
    pub emit: fn(&PortOptions) -> Result<Option<InfoPortData>, KernelError>,
}

/// Every kind netloom makes: one row per kind.
pub const CODECS: &[Codec] = &[
    veth::CODEC,
    bridge::CODEC,
    bond::CODEC,
    team::CODEC,
    vlan::CODEC,
    vxlan::CODEC,
    macvlan::MACVLAN,
    macvlan::MACVTAP,
    ipvlan::IPVLAN,
    ipvlan::IPVTAP,
    tun::CODEC,
    dummy::CODEC,
    vrf::CODEC,
    ifb::CODEC,
];

/// The codec of a kernel kind.
pub fn by_info(kind: &InfoKind) -> Option<&'static Codec> {
    CODECS.iter().find(|c| &c.kind == kind)
}

/// The codec of a model kind (`None` for the loopback device, external and
/// unknown devices).
pub fn of(kind: &LinkKind) -> Option<&'static Codec> {
    if matches!(kind, LinkKind::Other(_)) {
        return None;
    }
    let word = kind.kernel_kind()?;
    CODECS.iter().find(|c| c.kind == InfoKind::from(word))
}

/// The codec for port data of kind `kind`.
pub fn by_port(kind: &InfoPortKind) -> Option<&'static PortCodec> {
    CODECS
        .iter()
        .filter_map(|c| c.port.as_ref())
        .find(|p| &p.kind == kind)
}

/// An [`KernelError::Invalid`] for a value a codec cannot encode.
pub(crate) fn invalid(object: &str, message: impl Into<String>) -> KernelError {
    KernelError::Invalid {
        object: object.to_string(),
        message: message.into(),
    }
}

/// No devices to look up.
pub(crate) fn no_names(_: &LinkKind) -> Vec<String> {
    Vec::new()
}

/// No trial data.
pub(crate) fn no_sample() -> Option<InfoData> {
    None
}

#[cfg(test)]
pub(crate) mod round_trip {
    //! emit -> parse gives back what was emitted: the codecs' symmetry,
    //! checked without a kernel.
    use super::*;

    /// ifindexes for the names the codec asks for (1, 2, ...), both ways.
    fn indexes(kind: &LinkKind, codec: &Codec) -> (HashMap<String, u32>, HashMap<u32, String>) {
        let mut by_name = HashMap::new();
        let mut by_index = HashMap::new();
        for (i, n) in (codec.names)(kind).into_iter().enumerate() {
            by_name.insert(n.clone(), i as u32 + 1);
            by_index.insert(i as u32 + 1, n);
        }
        (by_name, by_index)
    }

    /// Emit `kind` as a create request and parse it back in node `n`.
    pub fn kind(kind: &LinkKind) -> LinkKind {
        let codec = of(kind).expect("a codec");
        let (by_name, by_index) = indexes(kind, codec);
        let w = Write {
            node: "n",
            obj: "n/x",
            create: true,
            indexes: &by_name,
            peer: None,
        };
        let data = (codec.emit)(kind, &w).expect("emit");
        let seen = Seen {
            node: "n",
            ifindex: 7,
            names: &by_index,
            ether: true,
        };
        (codec.parse)(data.as_ref(), &seen)
    }

    /// Emit port options and parse them back.
    pub fn port(opts: &PortOptions, kind: InfoPortKind) -> Option<PortOptions> {
        let codec = by_port(&kind).expect("a port codec");
        let data = (codec.emit)(opts).expect("emit")?;
        (codec.parse)(&data)
    }
}
