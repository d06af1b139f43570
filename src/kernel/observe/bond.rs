//! bond: IFLA_BOND_* of a bond and IFLA_BOND_SLAVE_* of its ports, with the
//! enumerated values turned back into iproute2's words.
use std::collections::HashMap;

use rtnetlink::packet_route::link::{
    BondAdSelect, BondAllPortActive, BondArpAllTargets, BondArpValidate, BondFailOverMac,
    BondLacpRate, BondMode, BondPrimaryReselect, BondXmitHashPolicy, InfoBond, InfoBondPort,
};

use crate::model::{BondOptions, BondPort};

/// Bond options; `primary` is resolved from its ifindex through `names`.
pub(super) fn options(data: &[InfoBond], names: &HashMap<u32, String>) -> BondOptions {
    let mut o = BondOptions::default();
    for a in data {
        match a {
            InfoBond::Mode(m) => o.mode = Some(mode_word(m)),
            InfoBond::MiiMon(v) => o.miimon = Some(*v),
            InfoBond::UpDelay(v) => o.updelay = Some(*v),
            InfoBond::DownDelay(v) => o.downdelay = Some(*v),
            InfoBond::UseCarrier(v) => o.use_carrier = Some(*v),
            InfoBond::ArpInterval(v) => o.arp_interval = Some(*v),
            InfoBond::ArpIpTarget(t) => o.arp_ip_target = t.clone(),
            InfoBond::ArpValidate(v) => o.arp_validate = Some(arp_validate_word(v)),
            InfoBond::ArpAllTargets(v) => o.arp_all_targets = Some(arp_all_targets_word(v)),
            InfoBond::Primary(i) => o.primary = names.get(i).cloned(),
            InfoBond::PrimaryReselect(v) => o.primary_reselect = Some(primary_reselect_word(v)),
            InfoBond::FailOverMac(v) => o.fail_over_mac = Some(fail_over_mac_word(v)),
            InfoBond::XmitHashPolicy(v) => o.xmit_hash_policy = Some(xmit_hash_word(v)),
            InfoBond::AdLacpRate(v) => o.lacp_rate = Some(lacp_rate_word(v)),
            InfoBond::AdSelect(v) => o.ad_select = Some(ad_select_word(v)),
            InfoBond::MinLinks(v) => o.min_links = Some(*v),
            InfoBond::AllPortsActive(v) => {
                o.all_slaves_active = match v {
                    BondAllPortActive::Dropped => Some(false),
                    BondAllPortActive::Delivered => Some(true),
                    _ => None,
                }
            }
            _ => {}
        }
    }
    o
}

/// iproute2's word for arp_all_targets.
fn arp_all_targets_word(v: &BondArpAllTargets) -> String {
    match v {
        BondArpAllTargets::Any => "any".into(),
        BondArpAllTargets::All => "all".into(),
        BondArpAllTargets::Other(n) => n.to_string(),
        _ => format!("{v:?}"),
    }
}

/// iproute2's word for primary_reselect.
fn primary_reselect_word(v: &BondPrimaryReselect) -> String {
    match v {
        BondPrimaryReselect::Always => "always".into(),
        BondPrimaryReselect::Better => "better".into(),
        BondPrimaryReselect::Failure => "failure".into(),
        BondPrimaryReselect::Other(n) => n.to_string(),
        _ => format!("{v:?}"),
    }
}

/// iproute2's word for fail_over_mac.
fn fail_over_mac_word(v: &BondFailOverMac) -> String {
    match v {
        BondFailOverMac::None => "none".into(),
        BondFailOverMac::Active => "active".into(),
        BondFailOverMac::Follow => "follow".into(),
        BondFailOverMac::Other(n) => n.to_string(),
        _ => format!("{v:?}"),
    }
}

/// iproute2's word for lacp_rate.
fn lacp_rate_word(v: &BondLacpRate) -> String {
    match v {
        BondLacpRate::Slow => "slow".into(),
        BondLacpRate::Fast => "fast".into(),
        BondLacpRate::Other(n) => n.to_string(),
    }
}

/// iproute2's word for ad_select.
fn ad_select_word(v: &BondAdSelect) -> String {
    match v {
        BondAdSelect::Stable => "stable".into(),
        BondAdSelect::Bandwidth => "bandwidth".into(),
        BondAdSelect::Count => "count".into(),
        BondAdSelect::ActorPortPrio => "actor_port_prio".into(),
        BondAdSelect::Other(n) => n.to_string(),
        _ => format!("{v:?}"),
    }
}

/// iproute2's word for a bonding mode.
pub(super) fn mode_word(m: &BondMode) -> String {
    match m {
        BondMode::BalanceRr => "balance-rr".into(),
        BondMode::ActiveBackup => "active-backup".into(),
        BondMode::BalanceXor => "balance-xor".into(),
        BondMode::Broadcast => "broadcast".into(),
        BondMode::Ieee8023Ad => "802.3ad".into(),
        BondMode::BalanceTlb => "balance-tlb".into(),
        BondMode::BalanceAlb => "balance-alb".into(),
        BondMode::Other(n) => n.to_string(),
        _ => format!("{m:?}"),
    }
}

/// iproute2's word for an arp_validate value.
pub(super) fn arp_validate_word(v: &BondArpValidate) -> String {
    match v {
        BondArpValidate::None => "none".into(),
        BondArpValidate::Active => "active".into(),
        BondArpValidate::Backup => "backup".into(),
        BondArpValidate::All => "all".into(),
        BondArpValidate::Filter => "filter".into(),
        BondArpValidate::FilterActive => "filter_active".into(),
        BondArpValidate::FilterBackup => "filter_backup".into(),
        BondArpValidate::Other(n) => n.to_string(),
        _ => format!("{v:?}"),
    }
}

/// iproute2's word for a transmit hash policy.
pub(super) fn xmit_hash_word(v: &BondXmitHashPolicy) -> String {
    match v {
        BondXmitHashPolicy::Layer2 => "layer2".into(),
        BondXmitHashPolicy::Layer34 => "layer3+4".into(),
        BondXmitHashPolicy::Layer23 => "layer2+3".into(),
        BondXmitHashPolicy::Encap23 => "encap2+3".into(),
        BondXmitHashPolicy::Encap34 => "encap3+4".into(),
        BondXmitHashPolicy::VlanSrcMac => "vlan+srcmac".into(),
        BondXmitHashPolicy::Other(n) => n.to_string(),
        _ => format!("{v:?}"),
    }
}

/// Options of a bond port from IFLA_INFO_SLAVE_DATA.
pub(super) fn port(data: &[InfoBondPort]) -> BondPort {
    let mut p = BondPort::default();
    for a in data {
        match a {
            InfoBondPort::Prio(v) => p.prio = Some(*v),
            InfoBondPort::QueueId(v) => p.queue_id = Some(*v),
            _ => {}
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enumerations_become_iproute2_words() {
        assert_eq!(mode_word(&BondMode::Ieee8023Ad), "802.3ad");
        assert_eq!(mode_word(&BondMode::ActiveBackup), "active-backup");
        assert_eq!(xmit_hash_word(&BondXmitHashPolicy::Layer34), "layer3+4");
        assert_eq!(
            xmit_hash_word(&BondXmitHashPolicy::VlanSrcMac),
            "vlan+srcmac"
        );
        assert_eq!(
            arp_validate_word(&BondArpValidate::FilterBackup),
            "filter_backup"
        );
    }

    #[test]
    fn bond_attributes_map_to_options() {
        let names = HashMap::from([(4u32, "eth1".to_string())]);
        let o = options(
            &[
                InfoBond::Mode(BondMode::ActiveBackup),
                InfoBond::MiiMon(100),
                InfoBond::Primary(4),
                InfoBond::AdLacpRate(BondLacpRate::Fast),
                InfoBond::AllPortsActive(BondAllPortActive::Delivered),
                InfoBond::ArpIpTarget(vec!["10.0.0.1".parse().unwrap()]),
            ],
            &names,
        );
        assert_eq!(o.mode.as_deref(), Some("active-backup"));
        assert_eq!(o.miimon, Some(100));
        assert_eq!(o.primary.as_deref(), Some("eth1"));
        assert_eq!(o.lacp_rate.as_deref(), Some("fast"));
        assert_eq!(o.all_slaves_active, Some(true));
        assert_eq!(
            o.arp_ip_target,
            vec!["10.0.0.1".parse::<std::net::Ipv4Addr>().unwrap()]
        );
        let p = port(&[InfoBondPort::Prio(-3), InfoBondPort::QueueId(2)]);
        assert_eq!(
            p,
            BondPort {
                prio: Some(-3),
                queue_id: Some(2)
            }
        );
    }
}
