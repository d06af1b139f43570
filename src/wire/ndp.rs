//! IPv6 neighbour discovery (RFC 4861), the one message a moved address
//! needs: an unsolicited Neighbor Advertisement (4.4, 7.2.6) with the
//! Override flag and the new target link-layer address, sent to all nodes.
//! The checksum is left zero: the kernel fills it in for an ICMPv6 raw socket.
use std::net::Ipv6Addr;

use crate::model::MacAddr;

/// ICMPv6 type of a Neighbor Advertisement.
pub const NEIGHBOR_ADVERT: u8 = 136;
/// The Override flag (in the first byte after the checksum).
const OVERRIDE: u8 = 0x20;
/// Option 2: target link-layer address.
const TARGET_LLADDR: u8 = 2;
/// Length of an advertisement with its one option.
pub const LEN: usize = 32;

/// An unsolicited advertisement: `target` is now at `mac`.
pub fn unsolicited_advert(target: Ipv6Addr, mac: MacAddr) -> [u8; LEN] {
    let mut b = [0u8; LEN];
    b[0] = NEIGHBOR_ADVERT;
    b[4] = OVERRIDE;
    b[8..24].copy_from_slice(&target.octets());
    b[24] = TARGET_LLADDR;
    b[25] = 1; // in units of 8 bytes
    b[26..32].copy_from_slice(&mac.0);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_advertisement_overrides_and_names_the_new_address() {
        let t: Ipv6Addr = "2001:db8:5::10".parse().unwrap();
        let b = unsolicited_advert(t, MacAddr([2, 0, 0, 0, 0, 9]));
        assert_eq!((b[0], b[1], b[4]), (136, 0, 0x20));
        assert_eq!(&b[8..24], &t.octets());
        assert_eq!(&b[24..32], &[2, 1, 2, 0, 0, 0, 0, 9]);
    }
}
