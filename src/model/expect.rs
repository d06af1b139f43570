//! Expectations: claims about the network that `verify` proves with real packets.
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::IfRef;

/// One expectation from the file's `expect:` list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Expectation {
    /// What is claimed.
    pub claim: Claim,
    /// Source node, and optionally the interface probes leave from.
    pub from: Endpoint,
    /// Destination.
    pub to: Target,
    /// Probe protocol.
    pub probe: Probe,
    /// Probes sent.
    pub count: u32,
    /// How long to wait for an answer, per probe, in milliseconds.
    pub timeout_ms: u32,
    /// The file's text for this expectation (for tables and messages), e.g. `c1 -> 10.0.3.1`.
    pub text: String,
}

/// The kind of claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Claim {
    /// The destination answers.
    Reach,
    /// The destination must not answer.
    Isolated,
    /// With `cut` set down, the destination still answers within `within_ms`; `cut` is restored after.
    Failover {
        /// The port or link set down.
        cut: IfRef,
        /// Bound for traffic to recover, in milliseconds.
        within_ms: u32,
    },
    /// The source interface holds a DHCP lease in `first..=last`: on the
    /// interface in the kernel, held by its client, listed by the server.
    Lease {
        /// First address of the range.
        first: std::net::Ipv4Addr,
        /// Last address of the range.
        last: std::net::Ipv4Addr,
    },
    /// `name` resolves, asked from the source node of the name server its
    /// lease gave (a dnsmasq of the topology), to the target node's address.
    Resolve {
        /// The name asked.
        name: String,
    },
    /// With `cut` (a LIF's home port) set down, the destination (the LIF's
    /// address) answers through a failover port; once `cut` is up again,
    /// the address is back on `cut` and answers, within `within_ms`.
    Revert {
        /// The home port set down and up again.
        cut: IfRef,
        /// Bound for the return home after `cut` is up, in milliseconds.
        within_ms: u32,
    },
}

/// The source of probes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// Node name.
    pub node: String,
    /// Interface to send from (SO_BINDTODEVICE), if named.
    pub iface: Option<String>,
}

/// The destination of probes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Target {
    /// A literal address.
    Addr(IpAddr),
    /// A node: its first address reachable from the source (resolved before probing).
    Node(String),
    /// A specific interface's first address.
    Iface(IfRef),
}

/// The probe protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Probe {
    /// ICMP / ICMPv6 echo.
    Icmp,
    /// ARP request (IPv4 only), answered by the target's neighbour.
    Arp,
    /// UDP datagram to a port; "reached" means the host answered: a datagram back, or an
    /// ICMP port unreachable (host up, port closed). Silence or another ICMP error is not reached.
    Udp(u16),
    /// TCP connect to a port; "reached" means SYN-ACK or RST (the host answered).
    Tcp(u16),
}
