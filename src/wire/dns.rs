//! DNS queries and answers (RFC 1035), as much as a `resolve:` claim needs:
//! a query for one name's A or AAAA records, and the addresses an answer
//! gives (names in the answer may be compressed; other records are skipped).
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::WireError;

/// Record type A (an IPv4 address).
pub const TYPE_A: u16 = 1;
/// Record type AAAA (an IPv6 address).
pub const TYPE_AAAA: u16 = 28;
/// Class IN.
const CLASS_IN: u16 = 1;
/// Header length.
const HEADER: usize = 12;
/// The name server port.
pub const PORT: u16 = 53;

/// A query for `name`'s records of `qtype`, with id `id`, recursion desired.
pub fn query(id: u16, name: &str, qtype: u16) -> Result<Vec<u8>, WireError> {
    let mut b = Vec::with_capacity(HEADER + name.len() + 6);
    b.extend_from_slice(&id.to_be_bytes());
    b.extend_from_slice(&0x0100u16.to_be_bytes()); // RD
    b.extend_from_slice(&1u16.to_be_bytes()); // QDCOUNT
    b.extend_from_slice(&[0; 6]);
    for label in name.trim_end_matches('.').split('.') {
        let len = u8::try_from(label.len())
            .ok()
            .filter(|l| (1..=63).contains(l))
            .ok_or(WireError::Malformed("a DNS label has 1 to 63 bytes"))?;
        b.push(len);
        b.extend_from_slice(label.as_bytes());
    }
    b.push(0);
    b.extend_from_slice(&qtype.to_be_bytes());
    b.extend_from_slice(&CLASS_IN.to_be_bytes());
    Ok(b)
}

/// What an answer says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The id of the query it answers.
    pub id: u16,
    /// The response code (0: no error, 3: no such name).
    pub rcode: u8,
    /// Whether the server is an authority for the name (AA).
    pub authoritative: bool,
    /// The addresses of its A and AAAA records, in order.
    pub addresses: Vec<IpAddr>,
}

/// The offset just past the name at `at` (compressed or not).
fn skip_name(b: &[u8], mut at: usize) -> Result<usize, WireError> {
    loop {
        let len = *b.get(at).ok_or(WireError::Truncated)?;
        match len {
            0 => return Ok(at + 1),
            l if l & 0xc0 == 0xc0 => {
                b.get(at + 1).ok_or(WireError::Truncated)?;
                return Ok(at + 2);
            }
            l if l & 0xc0 != 0 => return Err(WireError::Malformed("bad DNS label length")),
            l => at += 1 + usize::from(l),
        }
    }
}

fn be16(b: &[u8], at: usize) -> Result<u16, WireError> {
    let s = b.get(at..at + 2).ok_or(WireError::Truncated)?;
    Ok(u16::from_be_bytes([s[0], s[1]]))
}

/// Read an answer.
pub fn parse(b: &[u8]) -> Result<Answer, WireError> {
    if b.len() < HEADER {
        return Err(WireError::Truncated);
    }
    let flags = be16(b, 2)?;
    if flags & 0x8000 == 0 {
        return Err(WireError::Malformed("a DNS query, not an answer"));
    }
    let questions = be16(b, 4)?;
    let answers = be16(b, 6)?;
    let mut at = HEADER;
    for _ in 0..questions {
        at = skip_name(b, at)? + 4;
    }
    let mut addresses = Vec::new();
    for _ in 0..answers {
        at = skip_name(b, at)?;
        let rtype = be16(b, at)?;
        let rdlen = usize::from(be16(b, at + 8)?);
        let data = b
            .get(at + 10..at + 10 + rdlen)
            .ok_or(WireError::Truncated)?;
        match (rtype, rdlen) {
            (TYPE_A, 4) => addresses.push(IpAddr::V4(Ipv4Addr::new(
                data[0], data[1], data[2], data[3],
            ))),
            (TYPE_AAAA, 16) => {
                let mut o = [0u8; 16];
                o.copy_from_slice(data);
                addresses.push(IpAddr::V6(Ipv6Addr::from(o)));
            }
            _ => {}
        }
        at += 10 + rdlen;
    }
    Ok(Answer {
        id: be16(b, 0)?,
        rcode: (flags & 0x000f) as u8,
        authoritative: flags & 0x0400 != 0,
        addresses,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_and_a_compressed_answer() {
        let q = query(0x1234, "c2.lxc", TYPE_A).unwrap();
        assert_eq!(&q[12..], b"\x02c2\x03lxc\x00\x00\x01\x00\x01");
        // The answer dnsmasq gives: the question, then c2.lxc (a pointer to
        // offset 12) A 10.0.3.50, TTL 0.
        let mut a = q.clone();
        a[2] = 0x85; // QR, AA, RD
        a[3] = 0x80; // RA
        a[7] = 1; // ANCOUNT
        a.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 10, 0, 3, 50]);
        let r = parse(&a).unwrap();
        assert_eq!(r.id, 0x1234);
        assert_eq!((r.rcode, r.authoritative), (0, true));
        assert_eq!(r.addresses, vec![IpAddr::V4(Ipv4Addr::new(10, 0, 3, 50))]);
        // Cut anywhere: refused, never a panic.
        for n in 0..a.len() {
            let _ = parse(&a[..n]);
        }
        assert!(query(1, &"x".repeat(64), TYPE_A).is_err());
    }
}
