//! ARP probes: a who-has broadcast on one interface, answered by an is-at
//! (packets from [`crate::wire::arp`], socket from [`super::packet`]).
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use super::packet::PacketSocket;
use super::{wait_readable, Attempt};
use crate::model::MacAddr;
use crate::wire::arp::{self, Operation, Packet, Repr};

/// Broadcast who-has `target` from (`mac`, `src`) on `ifindex` and wait for its is-at.
pub fn who_has(
    ifindex: u32,
    mac: MacAddr,
    src: Ipv4Addr,
    target: Ipv4Addr,
    timeout: Duration,
) -> Attempt {
    let socket = match PacketSocket::open(ifindex, arp::ETHERTYPE) {
        Ok(s) => s,
        Err(e) => return Attempt::Failed(e.to_string()),
    };
    let req = Repr {
        operation: Operation::Request,
        sha: mac,
        spa: src,
        tha: MacAddr([0; 6]),
        tpa: target,
    };
    let mut buf = [0u8; arp::LEN];
    match Packet::new_checked(&mut buf[..]) {
        Ok(mut p) => req.emit(&mut p),
        Err(e) => return Attempt::Failed(format!("cannot build ARP request: {e}")),
    }
    let sent = Instant::now();
    if let Err(e) = socket.send_to(&buf, MacAddr([0xff; 6])) {
        return Attempt::Failed(format!("send ARP: {e}"));
    }
    let deadline = sent + timeout;
    let mut rbuf = [0u8; 128];
    loop {
        match wait_readable(&socket, deadline) {
            Ok(true) => {}
            Ok(false) => return Attempt::Timeout,
            Err(e) => return Attempt::Failed(format!("poll: {e}")),
        }
        let n = match socket.recv(&mut rbuf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Attempt::Failed(format!("recv ARP: {e}")),
        };
        let Ok(p) = Packet::new_checked(&rbuf[..n]) else {
            continue;
        };
        match Repr::parse(&p) {
            Ok(rep) if rep.operation == Operation::Reply && rep.spa == target => {
                return Attempt::Answer {
                    rtt: sent.elapsed(),
                    note: format!("{target} is-at {}", rep.sha),
                    mac: Some(rep.sha),
                }
            }
            _ => continue,
        }
    }
}
