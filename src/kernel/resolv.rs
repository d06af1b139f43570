//! A node's name servers: /etc/netns/NETNS/resolv.conf, which `ip netns
//! exec` (iproute2's netns_exec: bind_etc) and `netloom exec` bind over
//! /etc/resolv.conf for programs run in the namespace. The DHCP client
//! writes it from its lease; netloom removes only a file it wrote (marked
//! on its first line).
use std::fs;
use std::io;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use super::error::KernelError;

/// Where iproute2 keeps per-namespace files.
pub const ETC_NETNS: &str = "/etc/netns";

/// The first line of every resolv.conf netloom writes.
pub const MARK: &str = "# written by netloom's DHCP client";

fn check(netns: &str) -> Result<(), KernelError> {
    if netns.is_empty() || netns.contains(['/', '\0']) || netns == "." || netns == ".." {
        return Err(KernelError::Invalid {
            object: format!("resolv.conf of {netns:?}"),
            message: "not a namespace name".into(),
        });
    }
    Ok(())
}

/// /etc/netns/NETNS/resolv.conf.
pub fn path(netns: &str) -> PathBuf {
    PathBuf::from(ETC_NETNS).join(netns).join("resolv.conf")
}

/// The text of a resolv.conf naming `servers` and searching `domain`.
pub fn text(servers: &[Ipv4Addr], domain: Option<&str>) -> String {
    let mut out = format!("{MARK}\n");
    if let Some(d) = domain {
        out.push_str(&format!("search {d}\n"));
    }
    for s in servers {
        out.push_str(&format!("nameserver {s}\n"));
    }
    out
}

/// Write the resolv.conf of `netns` (its directory made if missing).
pub fn write(netns: &str, servers: &[Ipv4Addr], domain: Option<&str>) -> Result<(), KernelError> {
    check(netns)?;
    let path = path(netns);
    let dir = path.parent().unwrap_or(ETC_NETNS.as_ref());
    fs::create_dir_all(dir).map_err(|e| KernelError::io(dir.display().to_string(), e))?;
    super::service::write_atomic(&path, &text(servers, domain))
}

/// The resolv.conf of `netns`, if there is one.
pub fn read(netns: &str) -> Option<String> {
    fs::read_to_string(path(netns)).ok()
}

/// Remove the resolv.conf of `netns` if netloom wrote it, and its
/// directory once empty; anything else there is left alone.
pub fn forget(netns: &str) -> Result<(), KernelError> {
    check(netns)?;
    let path = path(netns);
    match fs::read_to_string(&path) {
        Ok(t) if t.starts_with(MARK) => match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(KernelError::io(path.display().to_string(), e)),
        },
        _ => return Ok(()),
    }
    if let Some(dir) = path.parent() {
        // Fails (and stays) while the directory holds other files.
        let _ = fs::remove_dir(dir);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_names_the_domain_and_servers_under_the_mark() {
        let t = text(&["10.0.3.1".parse().unwrap()], Some("lxc"));
        assert_eq!(t, format!("{MARK}\nsearch lxc\nnameserver 10.0.3.1\n"));
        assert!(check("../etc").is_err() && check("netloom-lxc.c1").is_ok());
    }
}
