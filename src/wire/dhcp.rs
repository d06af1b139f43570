//! DHCPv4 messages (RFC 2131) with their options (RFC 2132), as carried in
//! a UDP datagram: the fixed BOOTP header, the magic cookie, then options
//! as code-length-value triples up to `end`. Options this code does not
//! name are kept as they came ([`DhcpOption::Other`]), never dropped.
use std::net::Ipv4Addr;

use super::WireError;
use crate::model::MacAddr;

mod field {
    pub const OP: usize = 0;
    pub const HTYPE: usize = 1;
    pub const HLEN: usize = 2;
    pub const XID: std::ops::Range<usize> = 4..8;
    pub const SECS: std::ops::Range<usize> = 8..10;
    pub const FLAGS: std::ops::Range<usize> = 10..12;
    pub const CIADDR: std::ops::Range<usize> = 12..16;
    pub const YIADDR: std::ops::Range<usize> = 16..20;
    pub const SIADDR: std::ops::Range<usize> = 20..24;
    pub const CHADDR: std::ops::Range<usize> = 28..34;
    pub const COOKIE: std::ops::Range<usize> = 236..240;
    pub const OPTIONS: usize = 240;
}

/// The magic cookie opening the options (RFC 2131 3).
pub const COOKIE: [u8; 4] = [99, 130, 83, 99];
/// The server's UDP port.
pub const SERVER_PORT: u16 = 67;
/// The client's UDP port.
pub const CLIENT_PORT: u16 = 68;
/// The BROADCAST flag: answer to the broadcast address (a client without an
/// address yet receives nothing sent to the address offered).
pub const FLAG_BROADCAST: u16 = 0x8000;
/// A BOOTREQUEST (client to server).
pub const BOOTREQUEST: u8 = 1;
/// A BOOTREPLY (server to client).
pub const BOOTREPLY: u8 = 2;

/// Option 53, the message type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    /// 1.
    Discover,
    /// 2.
    Offer,
    /// 3.
    Request,
    /// 4.
    Decline,
    /// 5.
    Ack,
    /// 6.
    Nak,
    /// 7.
    Release,
    /// 8.
    Inform,
    /// Any other value.
    Other(u8),
}

impl From<u8> for MessageType {
    fn from(v: u8) -> Self {
        use MessageType::*;
        match v {
            1 => Discover,
            2 => Offer,
            3 => Request,
            4 => Decline,
            5 => Ack,
            6 => Nak,
            7 => Release,
            8 => Inform,
            o => Other(o),
        }
    }
}

impl From<MessageType> for u8 {
    fn from(t: MessageType) -> u8 {
        use MessageType::*;
        match t {
            Discover => 1,
            Offer => 2,
            Request => 3,
            Decline => 4,
            Ack => 5,
            Nak => 6,
            Release => 7,
            Inform => 8,
            Other(o) => o,
        }
    }
}

/// One DHCP option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DhcpOption {
    /// 1: subnet mask.
    SubnetMask(Ipv4Addr),
    /// 3: routers, in order of preference.
    Router(Vec<Ipv4Addr>),
    /// 6: name servers.
    DnsServers(Vec<Ipv4Addr>),
    /// 12: the client's host name.
    Hostname(String),
    /// 15: the domain name.
    DomainName(String),
    /// 50: the address the client asks for.
    RequestedIp(Ipv4Addr),
    /// 51: lease time in seconds.
    LeaseTime(u32),
    /// 53: the message type.
    MessageType(MessageType),
    /// 54: the server's identifier (its address).
    ServerId(Ipv4Addr),
    /// 55: the options the client asks for.
    ParameterList(Vec<u8>),
    /// 58: renewal (T1) time in seconds.
    RenewalTime(u32),
    /// 59: rebinding (T2) time in seconds.
    RebindingTime(u32),
    /// 61: the client identifier.
    ClientId(Vec<u8>),
    /// Any other option, kept as it came.
    Other(u8, Vec<u8>),
}

fn addrs(b: &[u8]) -> Option<Vec<Ipv4Addr>> {
    (!b.is_empty() && b.len() % 4 == 0).then(|| {
        b.chunks_exact(4)
            .map(|c| Ipv4Addr::new(c[0], c[1], c[2], c[3]))
            .collect()
    })
}

fn addr(b: &[u8]) -> Option<Ipv4Addr> {
    (b.len() == 4).then(|| Ipv4Addr::new(b[0], b[1], b[2], b[3]))
}

fn secs(b: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(b.try_into().ok()?))
}

impl DhcpOption {
    /// Read option `code` with value `v`; a value of the wrong length is
    /// kept as [`DhcpOption::Other`].
    fn parse(code: u8, v: &[u8]) -> DhcpOption {
        let text = || {
            String::from_utf8_lossy(v)
                .trim_end_matches('\0')
                .to_string()
        };
        let known = match code {
            1 => addr(v).map(DhcpOption::SubnetMask),
            3 => addrs(v).map(DhcpOption::Router),
            6 => addrs(v).map(DhcpOption::DnsServers),
            12 => Some(DhcpOption::Hostname(text())),
            15 => Some(DhcpOption::DomainName(text())),
            50 => addr(v).map(DhcpOption::RequestedIp),
            51 => secs(v).map(DhcpOption::LeaseTime),
            53 if v.len() == 1 => Some(DhcpOption::MessageType(v[0].into())),
            54 => addr(v).map(DhcpOption::ServerId),
            55 => Some(DhcpOption::ParameterList(v.to_vec())),
            58 => secs(v).map(DhcpOption::RenewalTime),
            59 => secs(v).map(DhcpOption::RebindingTime),
            61 => Some(DhcpOption::ClientId(v.to_vec())),
            _ => None,
        };
        known.unwrap_or_else(|| DhcpOption::Other(code, v.to_vec()))
    }

    /// The option's code and value bytes.
    fn code_value(&self) -> (u8, Vec<u8>) {
        let list = |l: &[Ipv4Addr]| l.iter().flat_map(|a| a.octets()).collect();
        match self {
            DhcpOption::SubnetMask(a) => (1, a.octets().to_vec()),
            DhcpOption::Router(l) => (3, list(l)),
            DhcpOption::DnsServers(l) => (6, list(l)),
            DhcpOption::Hostname(s) => (12, s.as_bytes().to_vec()),
            DhcpOption::DomainName(s) => (15, s.as_bytes().to_vec()),
            DhcpOption::RequestedIp(a) => (50, a.octets().to_vec()),
            DhcpOption::LeaseTime(s) => (51, s.to_be_bytes().to_vec()),
            DhcpOption::MessageType(t) => (53, vec![u8::from(*t)]),
            DhcpOption::ServerId(a) => (54, a.octets().to_vec()),
            DhcpOption::ParameterList(l) => (55, l.clone()),
            DhcpOption::RenewalTime(s) => (58, s.to_be_bytes().to_vec()),
            DhcpOption::RebindingTime(s) => (59, s.to_be_bytes().to_vec()),
            DhcpOption::ClientId(b) => (61, b.clone()),
            DhcpOption::Other(c, b) => (*c, b.clone()),
        }
    }
}

/// A DHCP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repr {
    /// BOOTREQUEST or BOOTREPLY.
    pub op: u8,
    /// Transaction id, chosen by the client.
    pub xid: u32,
    /// Seconds since the client began.
    pub secs: u16,
    /// Flags (only [`FLAG_BROADCAST`] is defined).
    pub flags: u16,
    /// The client's address, when it has one (renewing, rebinding, releasing).
    pub ciaddr: Ipv4Addr,
    /// "Your" address: the one offered or acknowledged.
    pub yiaddr: Ipv4Addr,
    /// The next server's address.
    pub siaddr: Ipv4Addr,
    /// The client's hardware address (Ethernet).
    pub chaddr: MacAddr,
    /// Options, in order.
    pub options: Vec<DhcpOption>,
}

impl Repr {
    /// Read a message; the header must be Ethernet's and the cookie right.
    pub fn parse(b: &[u8]) -> Result<Repr, WireError> {
        if b.len() < field::OPTIONS {
            return Err(WireError::Truncated);
        }
        if b[field::HTYPE] != 1 || b[field::HLEN] != 6 {
            return Err(WireError::Malformed("not an Ethernet DHCP message"));
        }
        if b[field::COOKIE] != COOKIE {
            return Err(WireError::Malformed("no DHCP magic cookie"));
        }
        let ip = |r: std::ops::Range<usize>| addr(&b[r]).unwrap_or(Ipv4Addr::UNSPECIFIED);
        let mut chaddr = [0u8; 6];
        chaddr.copy_from_slice(&b[field::CHADDR]);
        let mut options = Vec::new();
        let mut i = field::OPTIONS;
        while i < b.len() {
            match b[i] {
                0 => i += 1,
                255 => break,
                code => {
                    let len = usize::from(*b.get(i + 1).ok_or(WireError::Truncated)?);
                    let v = b.get(i + 2..i + 2 + len).ok_or(WireError::Truncated)?;
                    options.push(DhcpOption::parse(code, v));
                    i += 2 + len;
                }
            }
        }
        Ok(Repr {
            op: b[field::OP],
            xid: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            secs: super::be16(&b[field::SECS]),
            flags: super::be16(&b[field::FLAGS]),
            ciaddr: ip(field::CIADDR),
            yiaddr: ip(field::YIADDR),
            siaddr: ip(field::SIADDR),
            chaddr: MacAddr(chaddr),
            options,
        })
    }

    /// Write the message (options ended by `end`, padded to the 300 bytes
    /// of a BOOTP message that some servers expect at least).
    pub fn emit(&self) -> Vec<u8> {
        let mut b = vec![0u8; field::OPTIONS];
        b[field::OP] = self.op;
        b[field::HTYPE] = 1;
        b[field::HLEN] = 6;
        b[field::XID].copy_from_slice(&self.xid.to_be_bytes());
        b[field::SECS].copy_from_slice(&self.secs.to_be_bytes());
        b[field::FLAGS].copy_from_slice(&self.flags.to_be_bytes());
        b[field::CIADDR].copy_from_slice(&self.ciaddr.octets());
        b[field::YIADDR].copy_from_slice(&self.yiaddr.octets());
        b[field::SIADDR].copy_from_slice(&self.siaddr.octets());
        b[field::CHADDR].copy_from_slice(&self.chaddr.0);
        b[field::COOKIE].copy_from_slice(&COOKIE);
        for o in &self.options {
            let (code, v) = o.code_value();
            // Values above 255 bytes would need RFC 3396 splitting: not sent.
            let Ok(len) = u8::try_from(v.len()) else {
                continue;
            };
            b.push(code);
            b.push(len);
            b.extend_from_slice(&v);
        }
        b.push(255);
        if b.len() < 300 {
            b.resize(300, 0);
        }
        b
    }

    /// The message type (option 53), if present.
    pub fn message_type(&self) -> Option<MessageType> {
        self.options.iter().find_map(|o| match o {
            DhcpOption::MessageType(t) => Some(*t),
            _ => None,
        })
    }

    /// The first option `pick` accepts.
    pub fn option<T>(&self, pick: impl Fn(&DhcpOption) -> Option<T>) -> Option<T> {
        self.options.iter().find_map(pick)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer() -> Repr {
        Repr {
            op: BOOTREPLY,
            xid: 0x1234_5678,
            secs: 0,
            flags: FLAG_BROADCAST,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            yiaddr: "10.0.3.175".parse().unwrap(),
            siaddr: "10.0.3.1".parse().unwrap(),
            chaddr: MacAddr([0x9e, 0x90, 0x61, 0xe6, 0x7a, 0xe3]),
            options: vec![
                DhcpOption::MessageType(MessageType::Offer),
                DhcpOption::ServerId("10.0.3.1".parse().unwrap()),
                DhcpOption::LeaseTime(120),
                DhcpOption::RenewalTime(5),
                DhcpOption::SubnetMask("255.255.255.0".parse().unwrap()),
                DhcpOption::Router(vec!["10.0.3.1".parse().unwrap()]),
                DhcpOption::DnsServers(vec!["10.0.3.1".parse().unwrap()]),
                DhcpOption::DomainName("lxc".into()),
                DhcpOption::Hostname("c1".into()),
                DhcpOption::Other(28, vec![10, 0, 3, 255]),
            ],
        }
    }

    #[test]
    fn a_message_round_trips() {
        let m = offer();
        let bytes = m.emit();
        assert_eq!(bytes.len(), 300);
        assert_eq!(&bytes[236..240], &COOKIE);
        assert_eq!(Repr::parse(&bytes).unwrap(), m);
        assert_eq!(m.message_type(), Some(MessageType::Offer));
    }

    #[test]
    fn broken_messages_are_refused_not_panicked_on() {
        let bytes = offer().emit();
        assert_eq!(Repr::parse(&bytes[..200]), Err(WireError::Truncated));
        let mut bad = bytes.clone();
        bad[236] = 0;
        assert!(matches!(Repr::parse(&bad), Err(WireError::Malformed(_))));
        // An option whose length runs past the end.
        let mut cut = bytes[..241].to_vec();
        cut[240] = 51;
        assert_eq!(Repr::parse(&cut), Err(WireError::Truncated));
        // A known option of the wrong length is kept as it came.
        let mut odd = bytes[..240].to_vec();
        odd.extend_from_slice(&[51, 2, 0, 1, 255]);
        let r = Repr::parse(&odd).unwrap();
        assert_eq!(r.options, vec![DhcpOption::Other(51, vec![0, 1])]);
    }

    #[test]
    fn every_byte_string_parses_or_is_refused() {
        // A cheap fuzz: truncations and flips of a valid message.
        let bytes = offer().emit();
        for cut in 0..bytes.len() {
            let _ = Repr::parse(&bytes[..cut]);
        }
        for i in 240..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0xff;
            let _ = Repr::parse(&b);
        }
    }
}
