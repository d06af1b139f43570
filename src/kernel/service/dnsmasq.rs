//! dnsmasq's command line and lease file.
//!
//! The flags are those of LXC's lxc-net and libvirt's network driver, made
//! hermetic: `--conf-file=/dev/null` (no /etc/dnsmasq.conf), `--no-resolv`
//! and `--no-hosts` (dnsmasq would read the machine's /etc/resolv.conf and
//! /etc/hosts even inside a namespace), `--no-ping` (its default ping
//! check delays every offer by 3 s), bound to one interface only
//! (`--bind-interfaces --interface --except-interface=lo
//! --listen-address`), its pid file, lease file and log in the service's
//! own directory. It answers the names of the domain from its own data
//! alone (`--local=/DOMAIN/`): the topology's nodes (`--host-record`) and
//! its DHCP clients by the host name they send.
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use crate::model::service::{DnsmasqSetup, ServerLease};

/// The program (Debian package dnsmasq-base).
pub const DNSMASQ: &str = "dnsmasq";

/// The `--pid-file=` argument for the service in `dir`: what identifies
/// its process's command line.
pub fn pid_arg(dir: &Path) -> PathBuf {
    PathBuf::from(format!("--pid-file={}", super::pid_path(dir).display()))
}

/// dnsmasq's arguments for `setup`, with its files in `dir`.
pub fn args(setup: &DnsmasqSetup, dir: &Path) -> Vec<String> {
    let d = setup;
    let mask = d.address.netmask();
    let size = u32::from(d.range.1).saturating_sub(u32::from(d.range.0)) + 1;
    let mut a = vec![
        "--conf-file=/dev/null".to_string(),
        "--no-resolv".into(),
        "--no-hosts".into(),
        "--no-ping".into(),
        "--strict-order".into(),
        "--bind-interfaces".into(),
        format!("--interface={}", d.iface),
        "--except-interface=lo".into(),
        format!("--listen-address={}", d.address.addr()),
        format!(
            "--dhcp-range={},{},{mask},{}",
            d.range.0, d.range.1, d.lease_time
        ),
        format!("--dhcp-lease-max={size}"),
        "--dhcp-authoritative".into(),
        "--dhcp-no-override".into(),
        format!("--dhcp-option=option:router,{}", d.address.addr()),
        format!("--dhcp-option=option:dns-server,{}", d.address.addr()),
        format!("--domain={}", d.domain),
        format!("--local=/{}/", d.domain),
        format!("{}", pid_arg(dir).display()),
        format!("--dhcp-leasefile={}", super::leases_path(dir).display()),
        format!("--log-facility={}", super::log_path(dir).display()),
    ];
    if let Some(t1) = d.renew_time {
        a.push(format!("--dhcp-option=option:T1,{t1}"));
    }
    if let Some(t2) = d.rebind_time {
        a.push(format!("--dhcp-option=option:T2,{t2}"));
    }
    for (name, addr) in &d.hosts {
        a.push(format!("--dhcp-host={name},{addr}"));
    }
    for (name, addr) in &d.records {
        a.push(format!("--host-record={name}.{},{name},{addr}", d.domain));
    }
    a
}

/// The leases in dnsmasq's lease file in `dir`: lines of `EXPIRY MAC IP
/// HOSTNAME CLIENT-ID` (`*` for none); lines that do not parse are skipped.
pub fn leases(dir: &Path) -> Vec<ServerLease> {
    let text = std::fs::read_to_string(super::leases_path(dir)).unwrap_or_default();
    parse_leases(&text)
}

/// The leases of a lease file's text.
pub fn parse_leases(text: &str) -> Vec<ServerLease> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 4 {
                return None;
            }
            Some(ServerLease {
                expires: f[0].parse().ok()?,
                mac: f[1].parse().ok()?,
                address: f[2].parse::<Ipv4Addr>().ok()?,
                hostname: (f[3] != "*").then(|| f[3].to_string()),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_lines_parse_as_dnsmasq_writes_them() {
        let text = "1796681037 9e:90:61:e6:7a:e3 10.0.3.175 c1 01:9e:90:61:e6:7a:e3\n\
                    0 02:00:00:00:00:01 10.0.3.78 * *\nduid 00:01\n";
        let l = parse_leases(text);
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].address.to_string(), "10.0.3.175");
        assert_eq!(l[0].hostname.as_deref(), Some("c1"));
        assert_eq!(l[1].hostname, None);
    }

    #[test]
    fn the_command_line_is_hermetic_and_bound_to_one_interface() {
        let setup = DnsmasqSetup {
            iface: "lxcbr0".into(),
            address: "10.0.3.1/24".parse().unwrap(),
            range: ("10.0.3.100".parse().unwrap(), "10.0.3.200".parse().unwrap()),
            lease_time: 3600,
            renew_time: Some(5),
            rebind_time: None,
            hosts: [("c1".to_string(), "10.0.3.78".parse().unwrap())].into(),
            domain: "lxc".into(),
            records: [("gw".to_string(), "10.0.3.1".parse().unwrap())].into(),
        };
        let a = args(&setup, Path::new("/run/netloom/services/x/dnsmasq-lxcbr0"));
        for want in [
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--no-ping",
            "--bind-interfaces",
            "--interface=lxcbr0",
            "--listen-address=10.0.3.1",
            "--dhcp-range=10.0.3.100,10.0.3.200,255.255.255.0,3600",
            "--dhcp-lease-max=101",
            "--dhcp-option=option:T1,5",
            "--dhcp-host=c1,10.0.3.78",
            "--host-record=gw.lxc,gw,10.0.3.1",
            "--pid-file=/run/netloom/services/x/dnsmasq-lxcbr0/pid",
        ] {
            assert!(a.iter().any(|x| x == want), "{want} missing from {a:?}");
        }
    }
}
