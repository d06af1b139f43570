//! team: a team device whose runner and link watchers teamd drives.
use serde::{Deserialize, Serialize};

use super::kind::Kind;

/// Team options: turned into teamd's JSON config. Field names follow teamd.conf(5).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TeamOptions {
    /// `runner.name`: broadcast, roundrobin, random, activebackup, loadbalance, lacp.
    pub runner: String,
    /// activebackup `hwaddr_policy`: same_all, by_active, only_active.
    pub hwaddr_policy: Option<String>,
    /// loadbalance/lacp `tx_hash` list (eth, vlan, ipv4, ipv6, ip, l3, tcp, udp, sctp, l4).
    pub tx_hash: Vec<String>,
    /// loadbalance/lacp `tx_balancer.name` (basic).
    pub tx_balancer: Option<String>,
    /// `tx_balancer.balancing_interval` in tenths of a second.
    pub balancing_interval: Option<u32>,
    /// lacp `active`.
    pub active: Option<bool>,
    /// lacp `fast_rate`.
    pub fast_rate: Option<bool>,
    /// lacp `sys_prio`.
    pub sys_prio: Option<u32>,
    /// lacp `min_ports`.
    pub min_ports: Option<u32>,
    /// lacp `agg_select_policy`: lacp_prio, lacp_prio_stable, bandwidth, count, port_config.
    pub agg_select_policy: Option<String>,
    /// Link watchers (`link_watch`); empty means teamd's default (ethtool).
    pub link_watch: Vec<LinkWatch>,
}

/// A teamd link watcher.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum LinkWatch {
    /// `ethtool` with `delay_up` / `delay_down` in ms.
    Ethtool {
        /// `delay_up`.
        delay_up: Option<u32>,
        /// `delay_down`.
        delay_down: Option<u32>,
    },
    /// `arp_ping`.
    ArpPing(PingWatch),
    /// `nsna_ping` (IPv6 neighbour solicitation).
    NsnaPing(PingWatch),
}

/// Options shared by the arp_ping and nsna_ping watchers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PingWatch {
    /// `interval` in ms.
    pub interval: Option<u32>,
    /// `init_wait` in ms.
    pub init_wait: Option<u32>,
    /// `missed_max`.
    pub missed_max: Option<u32>,
    /// `source_host` (arp_ping only).
    pub source_host: Option<String>,
    /// `target_host`.
    pub target_host: Option<String>,
    /// `validate_active` (arp_ping only).
    pub validate_active: Option<bool>,
    /// `validate_inactive` (arp_ping only).
    pub validate_inactive: Option<bool>,
}

/// Per-port teamd options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamPort {
    /// `prio`.
    pub prio: Option<i32>,
    /// `sticky`.
    pub sticky: Option<bool>,
    /// `queue_id`.
    pub queue_id: Option<u32>,
    /// `lacp_prio`.
    pub lacp_prio: Option<u32>,
    /// `lacp_key`.
    pub lacp_key: Option<u32>,
}

/// What one teamd runs with: the team's options and its ports (by name) with
/// their per-port options. Built by the planner from the links of a node
/// (ports are the links whose `master` is the team), turned into teamd's JSON
/// by the kernel layer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TeamdSetup {
    /// The team's options.
    pub options: TeamOptions,
    /// Ports and their options.
    pub ports: std::collections::BTreeMap<String, TeamPort>,
}

impl TeamdSetup {
    /// The setup of team `name` in `node`: its options and the links whose
    /// master it is. `None` when it is no team, or its runner is empty (an
    /// observed team whose teamd does not run).
    pub fn of(node: &super::Node, name: &str) -> Option<TeamdSetup> {
        let super::LinkKind::Team(options) = &node.links.get(name)?.kind else {
            return None;
        };
        if options.runner.is_empty() {
            return None;
        }
        let ports = node
            .links
            .values()
            .filter(|l| l.master.as_deref() == Some(name))
            .map(|l| {
                let opts = match &l.port {
                    Some(super::PortOptions::Team(p)) => p.clone(),
                    _ => TeamPort::default(),
                };
                (l.name.clone(), opts)
            })
            .collect();
        Some(TeamdSetup {
            options: options.clone(),
            ports,
        })
    }
}

impl Kind for TeamOptions {
    fn takes_ports(&self) -> bool {
        true
    }

    /// team_port_del calls dev_close on the port it releases.
    fn closes_released_port(&self) -> bool {
        true
    }

    /// team_port_add calls dev_open on the port it takes.
    fn opens_enslaved_port(&self) -> bool {
        true
    }

    /// team_port_add: "Device is up. Set it down before adding it as a
    /// team port" (EBUSY).
    fn refuses_up_port(&self) -> bool {
        true
    }

    /// team_port_add and team_change_mtu call dev_set_mtu on each port.
    fn sets_port_mtu(&self) -> bool {
        true
    }
}
