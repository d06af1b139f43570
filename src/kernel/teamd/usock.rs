//! teamd's UNIX-socket control interface, spoken directly (no teamdctl).
//!
//! Wire protocol, as libteam's teamd/teamd_usock.c and libteamdctl/cli_usock.c
//! implement it: a SOCK_SEQPACKET socket bound to `<TEAMD_RUN_DIR><dev>.sock`;
//! one request is one packet `REQUEST\n<Method>\n` followed by one line per
//! string argument (with `\n` and `\` escaped as `\\n` and `\\\\`); the answer
//! is one packet, either `REPLY_SUCCESS\n<payload>` or
//! `REPLY_ERROR\n<code>\n<message>\n`. `StateDump` takes no argument and
//! answers with the state as JSON.
//!
//! Talking to the socket directly needs no second process and no namespace
//! entry: a path-bound UNIX socket is reachable through any path to its inode,
//! and the per-node directory teamd sees as its run dir is a plain directory
//! here, whatever network namespace the caller is in.
use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{
    connect, recv, send, socket, AddressFamily, MsgFlags, SockFlag, SockType, UnixAddr,
};
use serde::Serialize;
use serde_json::Value;

use crate::kernel::KernelError;

/// How long to wait for teamd's answer (libteamdctl waits 5 s as well).
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// What teamd reports about a team device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TeamState {
    /// The runner teamd runs (`setup.runner_name`).
    pub runner: String,
    /// activebackup's active port (`runner.active_port`); `None` when no port
    /// is active or the runner has no such notion.
    pub active_port: Option<String>,
    /// The ports teamd manages, sorted by name.
    pub ports: Vec<TeamPortState>,
}

/// One team port as teamd sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TeamPortState {
    /// The port's interface name.
    pub name: String,
    /// The link watchers' verdict (`link_watches.up`): what the runner acts on.
    pub link_up: bool,
}

fn io_err(object: &str, e: Errno) -> KernelError {
    KernelError::io(object, std::io::Error::from_raw_os_error(e as i32))
}

/// Escape one request argument as libteamdctl's `__strencode` does.
fn encode_arg(arg: &str) -> String {
    arg.replace('\\', "\\\\").replace('\n', "\\n")
}

/// The request packet for `method` with string `args`.
pub fn request(method: &str, args: &[&str]) -> String {
    let mut msg = format!("REQUEST\n{method}\n");
    for a in args {
        msg.push_str(&encode_arg(a));
        msg.push('\n');
    }
    msg
}

/// Split a reply packet into the success payload or a typed error.
pub fn parse_reply(object: &str, reply: &str) -> Result<String, KernelError> {
    // teamd's reader skips empty lines before the first one: do the same.
    let reply = reply.trim_start_matches('\n');
    let (kind, rest) = reply.split_once('\n').unwrap_or((reply, ""));
    match kind {
        "REPLY_SUCCESS" => Ok(rest.to_string()),
        "REPLY_ERROR" => {
            let mut lines = rest.lines().filter(|l| !l.is_empty());
            let code = lines.next().unwrap_or("unknown error");
            let message = lines.next().unwrap_or("");
            Err(KernelError::Decode {
                object: object.to_string(),
                message: format!("teamd answered {code}: {message}"),
            })
        }
        other => Err(KernelError::Decode {
            object: object.to_string(),
            message: format!("teamd sent a reply of unknown kind {other:?}"),
        }),
    }
}

/// Send `method(args)` to the teamd socket at `sock` and return the success payload.
pub fn call(sock: &Path, method: &str, args: &[&str]) -> Result<String, KernelError> {
    let object = format!("teamd socket {}", sock.display());
    let fd = socket(
        AddressFamily::Unix,
        SockType::SeqPacket,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| io_err(&object, e))?;
    let addr = UnixAddr::new(sock).map_err(|e| io_err(&object, e))?;
    connect(fd.as_raw_fd(), &addr).map_err(|e| io_err(&object, e))?;
    send(
        fd.as_raw_fd(),
        request(method, args).as_bytes(),
        MsgFlags::MSG_NOSIGNAL,
    )
    .map_err(|e| io_err(&object, e))?;
    let timeout = PollTimeout::try_from(REPLY_TIMEOUT).unwrap_or(PollTimeout::MAX);
    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
    loop {
        match poll(&mut fds, timeout) {
            Ok(0) => return Err(io_err(&object, Errno::ETIMEDOUT)),
            Ok(_) => break,
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(io_err(&object, e)),
        }
    }
    // A SEQPACKET recv returns one whole packet; SIOCINQ (FIONREAD) gives its
    // length, as teamd's own reader uses it.
    let pending =
        crate::kernel::sys::pending(fd.as_fd()).map_err(|e| KernelError::io(&object, e))?;
    let mut buf = vec![0u8; pending.max(1)];
    let n = recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty()).map_err(|e| io_err(&object, e))?;
    if n == 0 {
        return Err(KernelError::Decode {
            object,
            message: "teamd closed the connection without answering".into(),
        });
    }
    let text = String::from_utf8_lossy(&buf[..n]);
    parse_reply(&object, &text)
}

/// Turn a `StateDump` JSON document into a [`TeamState`].
pub fn parse_state(object: &str, dump: &Value) -> Result<TeamState, KernelError> {
    let decode = |message: &str| KernelError::Decode {
        object: object.to_string(),
        message: message.to_string(),
    };
    let runner = dump
        .pointer("/setup/runner_name")
        .and_then(Value::as_str)
        .ok_or_else(|| decode("state dump has no setup.runner_name"))?
        .to_string();
    // activebackup reports "" while no port is active.
    let active_port = dump
        .pointer("/runner/active_port")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let mut ports = Vec::new();
    if let Some(map) = dump.get("ports").and_then(Value::as_object) {
        for (name, p) in map {
            // teamd lists a port as soon as it is added, before its link
            // watchers' first verdict: no verdict yet means not (yet) up.
            let link_up = p
                .pointer("/link_watches/up")
                .or_else(|| p.pointer("/link/up"))
                .and_then(Value::as_bool)
                .unwrap_or(false);
            ports.push(TeamPortState {
                name: name.clone(),
                link_up,
            });
        }
    }
    ports.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(TeamState {
        runner,
        active_port,
        ports,
    })
}

/// Ask the teamd at socket `sock` for its state.
pub fn state_dump(sock: &Path) -> Result<TeamState, KernelError> {
    let object = format!("teamd socket {}", sock.display());
    let text = call(sock, "StateDump", &[])?;
    let dump: Value = serde_json::from_str(&text).map_err(|e| KernelError::Decode {
        object: object.clone(),
        message: format!("state dump is not JSON: {e}"),
    })?;
    parse_state(&object, &dump)
}

/// Ask the teamd at socket `sock` to make `port` its activebackup active
/// port (teamdctl's `state item set runner.active_port PORT`). teamd
/// answers before it makes the change (in a work item): read the state to
/// see it done.
pub fn set_active_port(sock: &Path, port: &str) -> Result<(), KernelError> {
    call(sock, "StateItemValueSet", &["runner.active_port", port]).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn request_escapes_arguments() {
        assert_eq!(request("StateDump", &[]), "REQUEST\nStateDump\n");
        assert_eq!(
            request("StateItemValueSet", &["runner.active_port", "a\\b\nc"]),
            "REQUEST\nStateItemValueSet\nrunner.active_port\na\\\\b\\nc\n"
        );
    }

    #[test]
    fn replies_are_split_into_payload_or_error() {
        assert_eq!(
            parse_reply("t", "REPLY_SUCCESS\n{\"a\": 1}\n").unwrap(),
            "{\"a\": 1}\n"
        );
        assert_eq!(parse_reply("t", "REPLY_SUCCESS\n").unwrap(), "");
        let err = parse_reply("t", "REPLY_ERROR\nStateDumpFail\nFailed to dump state.\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("StateDumpFail: Failed to dump state."),
            "{err}"
        );
        assert!(parse_reply("t", "HELLO\n").is_err());
    }

    /// A trimmed real-shaped activebackup dump (keys as teamd_state.c,
    /// teamd_link_watch.c and teamd_runner_activebackup.c register them).
    fn ab_dump(active: &str, up1: bool) -> Value {
        json!({
            "setup": {"runner_name": "activebackup", "kernel_team_mode_name": "activebackup",
                      "daemonized": false, "pid": 42, "pid_file": "/var/run/teamd/team0.pid"},
            "team_device": {"ifinfo": {"ifindex": 4, "ifname": "team0"}},
            "runner": {"active_port": active},
            "ports": {
                "veth2": {"link": {"up": true, "speed": 10000, "duplex": "full"},
                          "link_watches": {"up": true, "list": {"link_watch_0": {"name": "ethtool", "up": true}}}},
                "veth1": {"link": {"up": up1, "speed": 10000, "duplex": "full"},
                          "link_watches": {"up": up1, "list": {"link_watch_0": {"name": "ethtool", "up": up1}}}}
            }
        })
    }

    #[test]
    fn activebackup_state_is_read() {
        let s = parse_state("t", &ab_dump("veth1", false)).unwrap();
        assert_eq!(s.runner, "activebackup");
        assert_eq!(s.active_port.as_deref(), Some("veth1"));
        assert_eq!(
            s.ports,
            vec![
                TeamPortState {
                    name: "veth1".into(),
                    link_up: false
                },
                TeamPortState {
                    name: "veth2".into(),
                    link_up: true
                },
            ]
        );
        assert_eq!(
            parse_state("t", &ab_dump("", true)).unwrap().active_port,
            None
        );
    }

    /// Serve one connection on a SEQPACKET socket like teamd: read one request
    /// packet, check it, answer `reply` in one packet.
    fn fake_teamd(path: &Path, expect: &'static str, reply: String) -> std::thread::JoinHandle<()> {
        use nix::sys::socket::{accept, bind, listen, Backlog};
        let fd = socket(
            AddressFamily::Unix,
            SockType::SeqPacket,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .unwrap();
        bind(fd.as_raw_fd(), &UnixAddr::new(path).unwrap()).unwrap();
        listen(&fd, Backlog::new(1).unwrap()).unwrap();
        std::thread::spawn(move || {
            let conn = accept(fd.as_raw_fd()).unwrap();
            let mut buf = [0u8; 4096];
            let n = recv(conn, &mut buf, MsgFlags::empty()).unwrap();
            assert_eq!(std::str::from_utf8(&buf[..n]).unwrap(), expect);
            send(conn, reply.as_bytes(), MsgFlags::empty()).unwrap();
            nix::unistd::close(conn).unwrap();
        })
    }

    #[test]
    fn state_dump_over_a_seqpacket_socket() {
        let dir = std::env::temp_dir().join(format!("netloom-usock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("team0.sock");
        let _ = std::fs::remove_file(&sock);
        // Larger than one page, so a short read would show.
        let mut dump = ab_dump("veth2", true);
        dump["padding"] = json!("x".repeat(20000));
        let reply = format!("REPLY_SUCCESS\n{dump}\n");
        let server = fake_teamd(&sock, "REQUEST\nStateDump\n", reply);
        let s = state_dump(&sock).unwrap();
        server.join().unwrap();
        assert_eq!(s.active_port.as_deref(), Some("veth2"));
        assert!(s.ports.iter().all(|p| p.link_up));

        let _ = std::fs::remove_file(&sock);
        let server = fake_teamd(
            &sock,
            "REQUEST\nStateDump\n",
            "REPLY_ERROR\nStateDumpFail\nFailed to dump state.\n".into(),
        );
        let err = state_dump(&sock).unwrap_err().to_string();
        server.join().unwrap();
        assert!(err.contains("StateDumpFail"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn set_active_port_sends_teamdctls_state_item_set() {
        let dir = std::env::temp_dir().join(format!("netloom-usock-set-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("team0.sock");
        let _ = std::fs::remove_file(&sock);
        let expect = "REQUEST\nStateItemValueSet\nrunner.active_port\neth0\n";
        let server = fake_teamd(&sock, expect, "REPLY_SUCCESS\n".into());
        set_active_port(&sock, "eth0").unwrap();
        server.join().unwrap();

        let _ = std::fs::remove_file(&sock);
        let server = fake_teamd(
            &sock,
            expect,
            "REPLY_ERROR\nItemValueSetFail\nFailed to set item value.\n".into(),
        );
        let err = set_active_port(&sock, "eth0").unwrap_err().to_string();
        server.join().unwrap();
        assert!(err.contains("ItemValueSetFail"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn no_socket_is_an_io_error() {
        let err = state_dump(Path::new("/nonexistent-netloom/team0.sock")).unwrap_err();
        assert_eq!(err.errno(), Some(libc::ENOENT));
    }

    #[test]
    fn a_dump_without_runner_name_is_refused() {
        assert!(parse_state("t", &json!({"ports": {}})).is_err());
    }

    #[test]
    fn roundrobin_without_ports_has_no_active_port() {
        let s = parse_state("t", &json!({"setup": {"runner_name": "roundrobin"}})).unwrap();
        assert_eq!(s.active_port, None);
        assert!(s.ports.is_empty());
    }
}
