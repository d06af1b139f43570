//! tun and tap: IFLA_TUN_* as the kernel reports them (the crate leaves
//! them raw). netloom creates and changes these devices with the TUNSETIFF
//! family of ioctls (kernel::tun), never over rtnetlink, which refuses it.
use rtnetlink::packet_core::Nla;
use rtnetlink::packet_route::link::{InfoData, InfoKind, InfoTun};

use super::{invalid, no_names, no_sample, Codec};
use crate::model::{LinkKind, TunOptions};

/// The tun kind (tun and tap).
pub const CODEC: Codec = Codec {
    kind: InfoKind::Tun,
    parse: |data, seen| LinkKind::Tun(options(&raw_attrs(data), seen.ether)),
    emit: |_, w| {
        Err(invalid(
            w.obj,
            "tun/tap devices are made with TUNSETIFF, not rtnetlink",
        ))
    },
    names: no_names,
    stacked: false,
    sample: no_sample,
    port: None,
};

const IFLA_TUN_OWNER: u16 = 1;
const IFLA_TUN_GROUP: u16 = 2;
const IFLA_TUN_TYPE: u16 = 3;
const IFLA_TUN_PERSIST: u16 = 6;
const IFLA_TUN_MULTI_QUEUE: u16 = 7;
/// IFF_TUN and IFF_TAP as IFLA_TUN_TYPE carries them.
const IFF_TUN: u8 = 0x1;
const IFF_TAP: u8 = 0x2;

/// Raw (type, value) pairs of the IFLA_TUN_* attributes in `data`.
pub fn raw_attrs(data: Option<&InfoData>) -> Vec<(u16, Vec<u8>)> {
    let nlas: Vec<&dyn Nla> = match data {
        Some(InfoData::Tun(v)) => v.iter().map(|a: &InfoTun| a as &dyn Nla).collect(),
        _ => Vec::new(),
    };
    let mut out: Vec<(u16, Vec<u8>)> = nlas
        .into_iter()
        .map(|n| {
            let mut v = vec![0u8; n.value_len()];
            n.emit_value(&mut v);
            (n.kind(), v)
        })
        .collect();
    // The crate may leave IFLA_INFO_DATA of a kind it does not parse as raw bytes.
    if let Some(InfoData::Other(bytes)) = data {
        out.extend(parse_nlas(bytes));
    }
    out
}

/// Split a buffer of netlink attributes into (type, value) pairs.
pub fn parse_nlas(mut rest: &[u8]) -> Vec<(u16, Vec<u8>)> {
    let mut out = Vec::new();
    while rest.len() >= 4 {
        let len = u16::from_ne_bytes([rest[0], rest[1]]) as usize;
        let kind = u16::from_ne_bytes([rest[2], rest[3]]) & 0x3fff;
        if len < 4 || len > rest.len() {
            break;
        }
        out.push((kind, rest[4..len].to_vec()));
        rest = rest.get((len + 3) & !3..).unwrap_or_default();
    }
    out
}

/// tun options. `mode` comes from IFLA_TUN_TYPE; when the kernel does not
/// send it, `is_ether` (ARPHRD_ETHER link type) tells a tap from a tun.
pub fn options(attrs: &[(u16, Vec<u8>)], is_ether: bool) -> TunOptions {
    let mut o = TunOptions {
        mode: if is_ether { "tap" } else { "tun" }.to_string(),
        ..TunOptions::default()
    };
    let u32_of = |v: &[u8]| {
        v.get(..4)
            .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    };
    let u8_of = |v: &[u8]| v.first().copied();
    for (kind, v) in attrs {
        match *kind {
            IFLA_TUN_OWNER => o.owner = u32_of(v),
            IFLA_TUN_GROUP => o.group = u32_of(v),
            IFLA_TUN_TYPE => match u8_of(v) {
                Some(IFF_TUN) => o.mode = "tun".into(),
                Some(IFF_TAP) => o.mode = "tap".into(),
                _ => {}
            },
            IFLA_TUN_PERSIST => o.persist = u8_of(v).map(|b| b != 0),
            IFLA_TUN_MULTI_QUEUE => o.multi_queue = u8_of(v).map(|b| b != 0),
            _ => {}
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tun_attributes_map_to_options() {
        let attrs = vec![
            (IFLA_TUN_OWNER, 1000u32.to_ne_bytes().to_vec()),
            (IFLA_TUN_TYPE, vec![IFF_TAP]),
            (IFLA_TUN_PERSIST, vec![1]),
            (IFLA_TUN_MULTI_QUEUE, vec![0]),
        ];
        let o = options(&attrs, false);
        assert_eq!(o.mode, "tap");
        assert_eq!(o.owner, Some(1000));
        assert_eq!(o.group, None);
        assert_eq!(o.persist, Some(true));
        assert_eq!(o.multi_queue, Some(false));
        assert_eq!(options(&[], false).mode, "tun");
        assert_eq!(options(&[], true).mode, "tap");
    }

    #[test]
    fn raw_attribute_buffers_split() {
        let mut buf = Vec::new();
        buf.extend_from_slice(&5u16.to_ne_bytes());
        buf.extend_from_slice(&IFLA_TUN_TYPE.to_ne_bytes());
        buf.extend_from_slice(&[IFF_TUN, 0, 0, 0]);
        buf.extend_from_slice(&8u16.to_ne_bytes());
        buf.extend_from_slice(&IFLA_TUN_GROUP.to_ne_bytes());
        buf.extend_from_slice(&7u32.to_ne_bytes());
        assert_eq!(
            parse_nlas(&buf),
            vec![
                (IFLA_TUN_TYPE, vec![IFF_TUN]),
                (IFLA_TUN_GROUP, 7u32.to_ne_bytes().to_vec())
            ]
        );
    }
}
