//! Routing, forwarding and neighbours: the decisions each node's IP stack
//! makes (the walk in [`crate::explain::walk`] applies them).
use super::Rule;
use crate::explain::Disposition;

/// No route.
pub const NO_ROUTE: Rule = Rule {
    id: "l3.no_route",
    disposition: Disposition::NoRoute,
    kernel: "fib_table_lookup via ip_route_output_key_hash_rcu / ip_route_input_slow (net/ipv4/route.c, fib_trie.c): ENETUNREACH",
    summary: "no route in the node's tables (local, main, default) matches the destination",
    field: "routes",
};

/// No route back for the answer.
pub const NO_RETURN: Rule = Rule {
    id: "l3.no_return",
    disposition: Disposition::NoReturnPath,
    kernel: "ip_route_output_key_hash_rcu (net/ipv4/route.c) at the answering node",
    summary: "the request arrives, but the answering node (or one on the way back) has no route to the request's source",
    field: "routes",
};

/// A transit node that does not forward.
pub const FORWARDING_OFF: Rule = Rule {
    id: "l3.forwarding_off",
    disposition: Disposition::ForwardingDisabled,
    kernel: "ip_route_input_slow: IN_DEV_FORWARD (net/ipv4/route.c); ip6_forward: devconf_all->forwarding (net/ipv6/ip6_output.c)",
    summary: "a packet for another address is forwarded only when forwarding is on for the interface it came in by (ip_forward / net.ipv6.conf.all.forwarding)",
    field: "forwarding",
};

/// rp_filter.
pub const RP_FILTER: Rule = Rule {
    id: "l3.rp_filter",
    disposition: Disposition::ReversePathFilter,
    kernel: "fib_validate_source -> __fib_validate_source (net/ipv4/fib_frontend.c)",
    summary: "with rp_filter 1 a packet is dropped unless the route back to its source leaves by the interface it came in by (2: unless any route back exists)",
    field: "sysctl",
};

/// A source that is one of the node's own addresses.
pub const MARTIAN: Rule = Rule {
    id: "l3.martian_source",
    disposition: Disposition::ReversePathFilter,
    kernel: "fib_validate_source: inet_lookup_ifaddr_rcu (net/ipv4/fib_frontend.c)",
    summary: "a packet arriving with one of the node's own addresses as source is a martian and dropped (unless accept_local)",
    field: "addresses",
};

/// A routing loop.
pub const LOOP: Rule = Rule {
    id: "l3.loop",
    disposition: Disposition::Loop,
    kernel: "ip_forward: ip_hdr(skb)->ttl <= 1 -> ICMP time exceeded (net/ipv4/ip_forward.c)",
    summary: "the packet comes back to a node it already left: it circles until its TTL runs out",
    field: "routes",
};

/// No source address to send from.
pub const NO_SOURCE: Rule = Rule {
    id: "l3.no_source",
    disposition: Disposition::NoReturnPath,
    kernel: "inet_select_addr (net/ipv4/devinet.c)",
    summary: "the node has no address to send from, so nothing can answer",
    field: "addresses",
};

/// ARP / ND unanswered.
pub const NEIGH: Rule = Rule {
    id: "neigh.unanswered",
    disposition: Disposition::NeighbourUnreachable,
    kernel:
        "arp_solicit / neigh_timer_handler -> NUD_FAILED (net/ipv4/arp.c, net/core/neighbour.c)",
    summary: "nothing that the next hop's ARP request reaches holds the next hop's address",
    field: "addresses",
};

/// arp_ignore.
pub const ARP_IGNORE: Rule = Rule {
    id: "neigh.arp_ignore",
    disposition: Disposition::NeighbourUnreachable,
    kernel: "arp_ignore (net/ipv4/arp.c)",
    summary: "with arp_ignore >= 1 a node answers ARP only for addresses of the interface the request came in by",
    field: "sysctl",
};

/// Not ready: a node's namespace is missing.
pub const NOT_READY: Rule = Rule {
    id: "l3.not_ready",
    disposition: Disposition::NotReady,
    kernel: "setns(2) on /run/netns/NAME (the namespace is looked up by name)",
    summary: "a node's namespace does not exist (yet): the network is not (fully) up",
    field: "nodes",
};

/// The l3 rules.
pub const RULES: &[&Rule] = &[
    &NO_ROUTE,
    &NO_RETURN,
    &FORWARDING_OFF,
    &RP_FILTER,
    &MARTIAN,
    &LOOP,
    &NO_SOURCE,
    &NEIGH,
    &ARP_IGNORE,
    &NOT_READY,
];
