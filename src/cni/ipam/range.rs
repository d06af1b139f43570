//! One IPAM range: a subnet, its gateway and the span addresses are taken
//! from, with the arithmetic to walk it.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// A range to allocate from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    /// The subnet; addresses are given with its prefix length.
    pub subnet: IpNet,
    /// The gateway (never given out); by default the subnet's first host.
    pub gateway: Option<IpAddr>,
    /// First address given out.
    pub start: IpAddr,
    /// Last address given out.
    pub end: IpAddr,
}

/// An address as a number, for arithmetic.
pub fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u32::from(a) as u128,
        IpAddr::V6(a) => u128::from(a),
    }
}

/// The address of family `like` with number `n`.
pub fn from_u128(like: IpAddr, n: u128) -> IpAddr {
    match like {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(n as u32)),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(n)),
    }
}

impl Range {
    /// A checked range: start and end inside the subnet, start before end;
    /// by default from the first host (the network address of IPv4 and
    /// IPv6 and the IPv4 broadcast address are never given out) to the last.
    pub fn new(
        subnet: IpNet,
        gateway: Option<IpAddr>,
        start: Option<IpAddr>,
        end: Option<IpAddr>,
    ) -> Result<Range, String> {
        let subnet = subnet.trunc();
        let net = to_u128(subnet.network());
        let last = to_u128(subnet.broadcast());
        let v4 = subnet.addr().is_ipv4();
        // /31 and /32 (RFC 3021) and /127, /128 have no network or broadcast address to spare.
        let small = last - net < 2;
        let (first_host, last_host) = if small {
            (net, last)
        } else if v4 {
            (net + 1, last - 1)
        } else {
            (net + 1, last)
        };
        let inside = |a: IpAddr, what: &str| {
            let n = to_u128(a);
            if a.is_ipv4() != v4 || n < first_host || n > last_host {
                Err(format!("{what} {a} is not a host address of {subnet}"))
            } else {
                Ok(n)
            }
        };
        let gateway = match gateway {
            Some(g) => {
                inside(g, "gateway")?;
                Some(g)
            }
            None if !small => Some(from_u128(subnet.addr(), first_host)),
            None => None,
        };
        let s = match start {
            Some(a) => inside(a, "rangeStart")?,
            None => first_host,
        };
        let e = match end {
            Some(a) => inside(a, "rangeEnd")?,
            None => last_host,
        };
        if s > e {
            return Err(format!(
                "rangeStart {} is after rangeEnd {}",
                from_u128(subnet.addr(), s),
                from_u128(subnet.addr(), e)
            ));
        }
        let r = Range {
            subnet,
            gateway,
            start: from_u128(subnet.addr(), s),
            end: from_u128(subnet.addr(), e),
        };
        if r.size() == 0 {
            return Err(format!(
                "{subnet} has no address to give out besides its gateway"
            ));
        }
        Ok(r)
    }

    /// How many addresses can be given out.
    pub fn size(&self) -> u128 {
        let span = to_u128(self.end) - to_u128(self.start) + 1;
        let gw_inside = self.gateway.is_some_and(|g| self.contains(g));
        span - u128::from(gw_inside)
    }

    /// Whether `ip` is in the span given out from.
    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.start.is_ipv4()
            && (to_u128(self.start)..=to_u128(self.end)).contains(&to_u128(ip))
    }

    /// The candidates after `last` (wrapping round), at most `size` of them,
    /// the gateway left out.
    pub fn after(&self, last: Option<IpAddr>) -> impl Iterator<Item = IpAddr> + '_ {
        let (s, e) = (to_u128(self.start), to_u128(self.end));
        let span = e - s + 1;
        let from = match last.filter(|l| self.contains(*l)) {
            Some(l) => to_u128(l) - s + 1,
            None => 0,
        };
        (0..span)
            .map(move |i| from_u128(self.start, s + (from + i) % span))
            .filter(move |ip| Some(*ip) != self.gateway)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn defaults_skip_network_broadcast_and_gateway() {
        let r = Range::new("10.0.0.0/29".parse().unwrap(), None, None, None).unwrap();
        assert_eq!((r.start, r.end), (ip("10.0.0.1"), ip("10.0.0.6")));
        assert_eq!(r.gateway, Some(ip("10.0.0.1")));
        assert_eq!(r.size(), 5);
        let all: Vec<IpAddr> = r.after(None).collect();
        assert_eq!(all.first(), Some(&ip("10.0.0.2")));
        assert_eq!(all.len(), 5);
        let wrapped: Vec<IpAddr> = r.after(Some(ip("10.0.0.5"))).collect();
        assert_eq!(wrapped[0], ip("10.0.0.6"));
        assert_eq!(wrapped[1], ip("10.0.0.2"));
    }

    #[test]
    fn bounds_are_checked() {
        let net = || "10.0.0.0/24".parse().unwrap();
        assert!(Range::new(net(), Some(ip("10.0.1.1")), None, None).is_err());
        assert!(Range::new(net(), None, Some(ip("10.0.0.9")), Some(ip("10.0.0.3"))).is_err());
        assert!(Range::new(net(), None, Some(ip("10.0.0.255")), None).is_err());
        assert!(Range::new(
            "10.0.0.0/30".parse().unwrap(),
            None,
            Some(ip("10.0.0.1")),
            Some(ip("10.0.0.1"))
        )
        .is_err());
        let v6 = Range::new("fd00::/120".parse().unwrap(), None, None, None).unwrap();
        assert_eq!(v6.end, ip("fd00::ff"));
    }
}
