//! activebackup's first choice: after a teamd start, the active port is the
//! highest-`prio` port that has carrier, whatever order the carriers came
//! up in; `sticky` applies from then on.
//!
//! Why netloom has to choose (libteam's teamd/teamd_runner_activebackup.c):
//! `ab_link_watch_handler` re-selects at every port link change, taking the
//! best port whose link watchers say up (`ab_best_port_check_set`), but it
//! leaves an active port that is `sticky` for nothing better. So whichever
//! port's link comes up first becomes active, and a sticky one stays there
//! when the higher-prio port comes up a moment later. At a start the order
//! is open: the ports' veth peers come up in steps of their own that run
//! concurrently with the teamd start, and a port enslaved before the kernel
//! has computed its operstate reads as up for a moment (`netif_oper_up` is
//! true for IF_OPER_UNKNOWN; the team driver takes a port's link from it),
//! then goes down and takes the active role with it.
//!
//! So netloom waits, bounded, until every port has carrier and teamd sees it
//! up, then sets `runner.active_port` (teamdctl's `state item set`) to the
//! highest-prio port with carrier and teamd's verdict up, and waits until
//! teamd reports it active. teamd applies the set through
//! `ab_change_active_port`, which ignores `sticky` (it is the user's choice),
//! and its own later re-selections start from that port.
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use rtnetlink::packet_route::RouteNetlinkMessage;
use serde_json::Value;

use super::usock::{self, TeamState};
use crate::kernel::netns::{self, Netns};
use crate::kernel::observe::link_request;
use crate::kernel::rtnl::Rtnl;
use crate::kernel::KernelError;

/// How long a start waits for every port's carrier (and teamd's verdict on
/// it) before choosing among the ports that have it. Added to it: the
/// longest delay the link watchers put before saying up.
pub const CARRIER_WAIT: Duration = Duration::from_secs(2);

/// How long teamd gets to report the chosen port active.
pub const CONFIRM_TIMEOUT: Duration = Duration::from_secs(5);

/// How often the kernel and teamd are asked again while waiting (each look
/// is a link dump and a teamd state dump, which teamd builds as JSON).
const POLL: Duration = Duration::from_millis(50);

/// One port of the team at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortView {
    /// The port's name.
    pub name: String,
    /// Its `prio` (teamd's default, 0, when the file sets none).
    pub prio: i32,
    /// The kernel's carrier: IFF_LOWER_UP, which dev_get_flags reports only
    /// for a running device with carrier.
    pub carrier: bool,
    /// teamd lists the port and its link watchers say up.
    pub teamd_up: bool,
}

/// True when waiting longer can change nothing: every port has carrier and
/// teamd sees it up.
pub fn complete(ports: &[PortView]) -> bool {
    ports.iter().all(|p| p.carrier && p.teamd_up)
}

/// The port to make active: the highest `prio` among the ports with carrier
/// that teamd sees up (a port it sees down it would leave at once). Among
/// equals the first of `ports`, which come in name order: the order of the
/// config's `ports`, in which teamd enslaves them and, when it selects with
/// no port active, prefers them. `None` when no port qualifies.
pub fn choose(ports: &[PortView]) -> Option<&str> {
    ports
        .iter()
        .filter(|p| p.carrier && p.teamd_up)
        // max_by_key keeps the last of equals: walk backwards for the first.
        .rev()
        .max_by_key(|p| p.prio)
        .map(|p| p.name.as_str())
}

/// What the choice needs from teamd's config: each port's `prio` and how
/// long to wait for carrier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// Every port of the config with its `prio` (teamd's default 0 when
    /// unset), in name order.
    pub prios: Vec<(String, i32)>,
    /// How long to wait for every port's carrier: [`CARRIER_WAIT`] plus the
    /// longest a link watcher waits before it says up (ethtool's
    /// `delay_up`; a ping watcher's `init_wait` plus one `interval`, teamd's
    /// default 1000 ms in teamd_lw_psr.c, when the first reply can come).
    pub wait: Duration,
}

/// The rules for the teamd `config` (as [`super::config`] writes it, which
/// is what teamd reads); `None` unless its runner is activebackup.
pub fn rules(config: &Value) -> Option<Rules> {
    if config.pointer("/runner/name").and_then(Value::as_str) != Some("activebackup") {
        return None;
    }
    let ms = |w: &Value, key: &str| w.get(key).and_then(Value::as_u64);
    let watchers = match config.get("link_watch") {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(one) => vec![one],
        None => Vec::new(),
    };
    let delay = watchers
        .into_iter()
        .map(|w| match w.get("name").and_then(Value::as_str) {
            Some("ethtool") => ms(w, "delay_up").unwrap_or(0),
            _ => ms(w, "init_wait").unwrap_or(0) + ms(w, "interval").unwrap_or(1000),
        })
        .max()
        .unwrap_or(0);
    let mut prios: Vec<(String, i32)> = config
        .get("ports")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(name, p)| {
            let prio = p.get("prio").and_then(Value::as_i64).unwrap_or(0);
            (name.clone(), i32::try_from(prio).unwrap_or(0))
        })
        .collect();
    prios.sort();
    Some(Rules {
        prios,
        wait: CARRIER_WAIT + Duration::from_millis(delay),
    })
}

/// The ports of `prios` that exist in the kernel, in the order given, with
/// their carrier from `links` and teamd's verdict from `state`. A port that
/// does not exist is one teamd skipped: it cannot be chosen nor waited for.
pub fn view(
    prios: &[(String, i32)],
    links: &HashMap<String, bool>,
    state: &TeamState,
) -> Vec<PortView> {
    prios
        .iter()
        .filter_map(|(name, prio)| {
            let carrier = *links.get(name)?;
            let teamd_up = state.ports.iter().any(|p| p.name == *name && p.link_up);
            Some(PortView {
                name: name.clone(),
                prio: *prio,
                carrier,
                teamd_up,
            })
        })
        .collect()
}

/// Every link of the namespace `rtnl` reads, by name: whether it has carrier.
fn carriers(rtnl: &mut Rtnl, object: &str) -> Result<HashMap<String, bool>, KernelError> {
    let msgs = rtnl.dump(link_request, object, "dump links")?;
    Ok(msgs
        .into_iter()
        .filter_map(|m| match m {
            RouteNetlinkMessage::NewLink(l) => Some(l),
            _ => None,
        })
        .filter_map(|l: LinkMessage| {
            let carrier = l.header.flags.contains(LinkFlags::LowerUp);
            l.attributes.into_iter().find_map(|a| match a {
                LinkAttribute::IfName(n) => Some((n, carrier)),
                _ => None,
            })
        })
        .collect())
}

/// After [`super::start`] of the teamd of `dev` in `ns` with `config`
/// (socket in `node_dir`): make the highest-prio port with carrier active
/// (see the module doc). Other runners have no active port: nothing to do.
/// When no port has carrier once the wait is over, nothing is set: teamd
/// takes the first port that comes up.
pub fn settle(ns: &Netns, node_dir: &Path, dev: &str, config: &Value) -> Result<(), KernelError> {
    let Some(rules) = rules(config) else {
        return Ok(());
    };
    let start = Instant::now();
    let chosen = choose_and_confirm(ns, node_dir, dev, &rules);
    crate::timing::record("teamd first choice", start.elapsed());
    chosen
}

/// [`settle`] for an activebackup teamd with `rules`.
fn choose_and_confirm(
    ns: &Netns,
    node_dir: &Path,
    dev: &str,
    rules: &Rules,
) -> Result<(), KernelError> {
    let object = format!("teamd {dev} in {}", ns.label());
    let sock = super::socket_path(node_dir, dev);
    let mut rtnl = netns::run_in(ns, Rtnl::open)?.map_err(|e| KernelError::io(ns.label(), e))?;
    let mut look = || -> Result<(Vec<PortView>, Option<String>), KernelError> {
        let links = carriers(&mut rtnl, &object)?;
        let state = usock::state_dump(&sock)?;
        Ok((view(&rules.prios, &links, &state), state.active_port))
    };
    let wait_until = Instant::now() + rules.wait;
    loop {
        let (ports, _) = look()?;
        if complete(&ports) || Instant::now() >= wait_until {
            break;
        }
        std::thread::sleep(POLL);
    }
    let confirm_until = Instant::now() + CONFIRM_TIMEOUT;
    let mut asked: Option<String> = None;
    loop {
        let (ports, active) = look()?;
        let Some(best) = choose(&ports) else {
            return Ok(());
        };
        if active.as_deref() == Some(best) {
            return Ok(());
        }
        if Instant::now() >= confirm_until {
            return Err(KernelError::io(
                object,
                std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "teamd did not make {best} its active port (it reports {})",
                        active.as_deref().unwrap_or("none")
                    ),
                ),
            ));
        }
        // teamd changes the port in a work item after it answers: ask once
        // per choice, then watch for the change.
        if asked.as_deref() != Some(best) {
            usock::set_active_port(&sock, best)?;
            asked = Some(best.to_string());
        }
        std::thread::sleep(POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::teamd::{config, TeamPortState};
    use crate::model::team::{LinkWatch, PingWatch, TeamOptions, TeamPort};

    fn port(name: &str, prio: i32, carrier: bool, teamd_up: bool) -> PortView {
        PortView {
            name: name.into(),
            prio,
            carrier,
            teamd_up,
        }
    }

    #[test]
    fn the_highest_prio_with_carrier_wins_whatever_is_sticky() {
        let ports = [
            port("eth0", 10, true, true),
            port("eth1", 5, true, true),
            port("eth2", 7, true, true),
        ];
        assert_eq!(choose(&ports), Some("eth0"));
        assert!(complete(&ports));
    }

    #[test]
    fn a_port_without_carrier_or_teamd_verdict_is_passed_over() {
        // eth0: the moment after its enslave, when teamd reads it up on an
        // unknown operstate but it has no carrier; eth2: carrier, but teamd
        // has not seen it up yet.
        let ports = [
            port("eth0", 10, false, true),
            port("eth1", 5, true, true),
            port("eth2", 7, true, false),
        ];
        assert_eq!(choose(&ports), Some("eth1"));
        assert!(!complete(&ports));
    }

    #[test]
    fn equal_prios_take_the_first_in_name_order() {
        let ports = [
            port("a", 3, true, true),
            port("b", 3, true, true),
            port("c", 1, true, true),
        ];
        assert_eq!(choose(&ports), Some("a"));
        let ports = [port("a", 3, false, false), port("b", 3, true, true)];
        assert_eq!(choose(&ports), Some("b"));
    }

    #[test]
    fn no_port_up_means_no_choice() {
        let ports = [port("eth0", 10, false, false), port("eth1", 5, false, true)];
        assert_eq!(choose(&ports), None);
        assert!(!complete(&ports));
        assert_eq!(choose(&[]), None);
        assert!(complete(&[]));
    }

    #[test]
    fn view_joins_kernel_and_teamd_and_skips_missing_ports() {
        let prios = vec![
            ("eth0".to_string(), -3),
            ("eth1".to_string(), 5),
            ("gone".to_string(), 0),
        ];
        let links: HashMap<String, bool> =
            [("eth0".to_string(), true), ("eth1".to_string(), false)]
                .into_iter()
                .collect();
        let state = TeamState {
            runner: "activebackup".into(),
            active_port: None,
            ports: vec![TeamPortState {
                name: "eth0".into(),
                link_up: true,
            }],
        };
        assert_eq!(
            view(&prios, &links, &state),
            vec![port("eth0", -3, true, true), port("eth1", 5, false, false)]
        );
    }

    fn activebackup(link_watch: Vec<LinkWatch>) -> TeamOptions {
        TeamOptions {
            runner: "activebackup".into(),
            link_watch,
            ..TeamOptions::default()
        }
    }

    /// Read back from the config netloom writes: what teamd gets.
    #[test]
    fn rules_come_from_the_config_teamd_gets() {
        let ports = vec![
            (
                "eth1".to_string(),
                TeamPort {
                    prio: Some(5),
                    sticky: Some(true),
                    ..TeamPort::default()
                },
            ),
            (
                "eth0".to_string(),
                TeamPort {
                    prio: Some(10),
                    ..TeamPort::default()
                },
            ),
            ("eth2".to_string(), TeamPort::default()),
        ];
        let c = config("team0", &activebackup(Vec::new()), &ports);
        assert_eq!(
            rules(&c),
            Some(Rules {
                prios: vec![
                    ("eth0".to_string(), 10),
                    ("eth1".to_string(), 5),
                    ("eth2".to_string(), 0)
                ],
                wait: CARRIER_WAIT,
            })
        );
        for r in ["roundrobin", "lacp", "loadbalance", "broadcast", "random"] {
            let mut o = activebackup(Vec::new());
            o.runner = r.into();
            assert_eq!(rules(&config("team0", &o, &ports)), None, "{r}");
        }
    }

    #[test]
    fn the_wait_covers_the_slowest_watcher() {
        let wait = |lw: Vec<LinkWatch>| rules(&config("t", &activebackup(lw), &[])).unwrap().wait;
        let ethtool = |up| LinkWatch::Ethtool {
            delay_up: up,
            delay_down: Some(9000),
        };
        assert_eq!(wait(vec![ethtool(None)]), CARRIER_WAIT);
        assert_eq!(
            wait(vec![ethtool(Some(300))]),
            CARRIER_WAIT + Duration::from_millis(300)
        );
        let arp = LinkWatch::ArpPing(PingWatch {
            init_wait: Some(100),
            target_host: Some("192.0.2.1".into()),
            ..PingWatch::default()
        });
        assert_eq!(
            wait(vec![ethtool(Some(300)), arp]),
            CARRIER_WAIT + Duration::from_millis(1100)
        );
        let nsna = LinkWatch::NsnaPing(PingWatch {
            interval: Some(50),
            target_host: Some("fe80::1".into()),
            ..PingWatch::default()
        });
        assert_eq!(wait(vec![nsna]), CARRIER_WAIT + Duration::from_millis(50));
    }
}
