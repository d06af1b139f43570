//! Services: processes netloom starts inside a node and supervises (besides
//! teamd, which belongs to its team device): dnsmasq serving DHCP and DNS on
//! an interface, netloom's own DHCP client keeping a lease on one, and the
//! watcher moving a node's logical interfaces (LIFs) between its ports.
//!
//! A desired node lists the services it wants by name; an observed node
//! lists those that run (their process alive and identified), each with
//! the setup it was started with and what it reports. Planning compares
//! setups only: a service whose setup differs is restarted.
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::{IpNet, Ipv4Net};
use serde::{Deserialize, Serialize};

use super::MacAddr;

/// A service of a node: what it runs with, and (observed only) its process
/// and report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Service {
    /// What the process runs with; a change restarts it.
    pub setup: ServiceSetup,
    /// Observed only: the pid of the running process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// Observed only: what the running process reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<ServiceReport>,
}

impl Service {
    /// A desired service: its setup alone.
    pub fn new(setup: ServiceSetup) -> Service {
        Service {
            setup,
            pid: None,
            report: None,
        }
    }
}

/// What a service process runs with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ServiceSetup {
    /// dnsmasq serving DHCP and DNS on one interface of the node.
    Dnsmasq(DnsmasqSetup),
    /// netloom's DHCP client keeping a lease on one interface of the node.
    DhcpClient(DhcpClientSetup),
    /// netloom's watcher of the node's logical interfaces.
    LifWatch(LifSetup),
}

impl ServiceSetup {
    /// The service's name in its node (also the stem of its files):
    /// `dnsmasq-IFACE`, `dhcp-IFACE` or `lif`.
    pub fn name(&self) -> String {
        match self {
            ServiceSetup::Dnsmasq(d) => format!("dnsmasq-{}", d.iface),
            ServiceSetup::DhcpClient(c) => format!("dhcp-{}", c.iface),
            ServiceSetup::LifWatch(_) => "lif".to_string(),
        }
    }

    /// The interfaces the service needs to exist and be up before it starts.
    pub fn interfaces(&self) -> Vec<&str> {
        match self {
            ServiceSetup::Dnsmasq(d) => vec![d.iface.as_str()],
            ServiceSetup::DhcpClient(c) => vec![c.iface.as_str()],
            ServiceSetup::LifWatch(l) => l
                .lifs
                .iter()
                .flat_map(|f| {
                    std::iter::once(f.home.as_str()).chain(f.failover.iter().map(String::as_str))
                })
                .collect(),
        }
    }

    /// What the service serves, in a few words (for `plan` and `status`).
    pub fn serves(&self) -> String {
        match self {
            ServiceSetup::Dnsmasq(d) => format!(
                "DHCP {}-{} and DNS .{} on {} ({})",
                d.range.0, d.range.1, d.domain, d.iface, d.address
            ),
            ServiceSetup::DhcpClient(c) => {
                format!("DHCP client on {} as {}", c.iface, c.hostname)
            }
            ServiceSetup::LifWatch(l) => {
                let names: Vec<&str> = l.lifs.iter().map(|f| f.name.as_str()).collect();
                format!("LIF watcher for {}", names.join(", "))
            }
        }
    }
}

/// dnsmasq on one interface: DHCP from a range of its subnet, DNS for the
/// topology's names, the interface address as router and name server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsmasqSetup {
    /// The interface served (dnsmasq `--interface`, with `--bind-interfaces`).
    pub iface: String,
    /// The interface's address: listen address, router and name server.
    pub address: Ipv4Net,
    /// First and last address handed out (`--dhcp-range`).
    pub range: (Ipv4Addr, Ipv4Addr),
    /// Lease time in seconds (at least 120: dnsmasq raises shorter ones).
    pub lease_time: u32,
    /// DHCP option 58, the renewal (T1) time in seconds, when set.
    pub renew_time: Option<u32>,
    /// DHCP option 59, the rebinding (T2) time in seconds, when set.
    pub rebind_time: Option<u32>,
    /// Fixed addresses by client host name (`--dhcp-host=NAME,ADDR`).
    pub hosts: BTreeMap<String, Ipv4Addr>,
    /// The DNS domain of the names it answers (`--domain`, `--local`).
    pub domain: String,
    /// Names it answers from the topology (`--host-record=NAME.DOMAIN,ADDR`):
    /// nodes with a static address in the served subnet.
    pub records: BTreeMap<String, Ipv4Addr>,
}

/// netloom's DHCP client on one interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DhcpClientSetup {
    /// The interface.
    pub iface: String,
    /// The host name sent (option 12): the node's name.
    pub hostname: String,
    /// The namespace's name, whose /etc/netns/NAME/resolv.conf the client writes.
    pub netns: String,
}

/// The watcher of a node's logical interfaces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifSetup {
    /// The LIFs of the node, in the file's order.
    pub lifs: Vec<Lif>,
}

/// A logical interface: an address with a home port and failover ports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lif {
    /// Its name in the file.
    pub name: String,
    /// The address with its prefix length.
    pub address: IpNet,
    /// The port it lives on while that port is up.
    pub home: String,
    /// Where it goes when its port fails, in order.
    pub failover: Vec<String>,
    /// Whether it returns home by itself once home is up again.
    pub auto_revert: bool,
    /// How long home must have been up before it returns, in milliseconds.
    pub revert_delay_ms: u32,
}

impl Lif {
    /// The ports it may live on: home first, then the failover ports.
    pub fn ports(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.home.as_str()).chain(self.failover.iter().map(String::as_str))
    }
}

/// What a running service reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ServiceReport {
    /// dnsmasq: the leases in its lease file.
    Leases(Vec<ServerLease>),
    /// The DHCP client: the lease it holds (`None` while it has none).
    Lease(Option<Lease>),
    /// The LIF watcher: where each LIF is.
    Lifs(BTreeMap<String, LifState>),
}

/// One line of dnsmasq's lease file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerLease {
    /// When it expires (seconds since the epoch; 0: never).
    pub expires: u64,
    /// The client's hardware address.
    pub mac: MacAddr,
    /// The address handed out.
    pub address: Ipv4Addr,
    /// The host name the client gave, if any.
    pub hostname: Option<String>,
}

/// A lease the DHCP client holds and has applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The address with the subnet's prefix length.
    pub address: Ipv4Net,
    /// The default gateway (option 3), if given.
    pub router: Option<Ipv4Addr>,
    /// Name servers (option 6).
    pub dns: Vec<Ipv4Addr>,
    /// The domain (option 15), if given.
    pub domain: Option<String>,
    /// The server that granted it (option 54).
    pub server: Ipv4Addr,
    /// Lease time in seconds, as last granted.
    pub lease_time: u32,
    /// When it was last granted or renewed (seconds since the epoch).
    pub granted: u64,
    /// When it expires unless renewed (seconds since the epoch).
    pub expires: u64,
    /// How many times it was renewed (or rebound) since it was obtained.
    pub renewals: u32,
}

/// Where a LIF is, as its watcher reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifState {
    /// The port holding its address (`None`: no port was up to take it).
    pub port: Option<String>,
    /// Migrated by hand: stays put until reverted (ONTAP's sticky flag).
    pub sticky: bool,
    /// Moves since the watcher started.
    pub moves: u32,
}

/// The address a service puts on `iface` by itself, if any: the DHCP
/// client's lease.
pub fn leased(service: &Service) -> Option<&Lease> {
    match &service.report {
        Some(ServiceReport::Lease(Some(l))) => Some(l),
        _ => None,
    }
}

/// `addr` as an [`IpAddr`] (for comparisons with model addresses).
pub fn ip(addr: Ipv4Addr) -> IpAddr {
    IpAddr::V4(addr)
}

/// A request to a LIF watcher (`netloom lif migrate` / `lif revert`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifRequest {
    /// The LIF.
    pub lif: String,
    /// Migrate to this port (and stay: sticky); `None`: revert home (and
    /// let auto-revert work again).
    pub to: Option<String>,
}

/// A LIF watcher's answer to a [`LifRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifAnswer {
    /// Whether it was done.
    pub ok: bool,
    /// What was done, or why not.
    pub message: String,
    /// Where the LIF is now.
    pub state: Option<LifState>,
}
