//! What netloom-cni keeps between invocations, per network, under the
//! state directory (`<state>/cni/<network topology>/`):
//! - `lock`: held (flock) by every ADD, DEL, CHECK and GC of the network for
//!   its whole run, so that concurrent runtimes' calls on one bridge and one
//!   address pool take turns;
//! - `attachments/<id>.json`: one record per (container, interface),
//!   written before anything is changed for it (so that a DEL or GC after
//!   a process killed mid-ADD finds what to remove) and completed with the
//!   result at the end;
//! - `journal/`: the transaction journal of each attachment's kernel changes
//!   (netloom's apply layer writes it ahead of each change);
//! - `ipam/`: the built-in allocator's reservations.
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ipam::store::{IpamStore, Owner};
use super::result::CniResult;
use crate::state::Store;

/// The stable 64-bit FNV-1a hash of `parts`, as 16 hex digits: names
/// derived from it stay the same across netloom versions (unlike std's
/// hasher), so a DEL finds what an older ADD made.
pub fn digest(parts: &[&str]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain(std::iter::once(0)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// The netloom topology a CNI network's shared devices (its bridge, a VLAN
/// lower) belong to: `cni-<name>` when that is a valid topology name, else
/// `cni-` and a digest of the name.
pub fn network_topology(name: &str) -> String {
    let plain = format!("cni-{name}");
    if crate::spec::topology_name_ok(&plain) {
        plain
    } else {
        format!("cni-{}", &digest(&[name])[..12])
    }
}

/// The attachment's id within its network.
pub fn attachment_id(net: &str, container_id: &str, ifname: &str) -> String {
    digest(&[net, container_id, ifname])
}

/// The name of an attachment's host-side veth end: `nl` and 13 digits of
/// its id (15 bytes, IFNAMSIZ - 1).
pub fn host_ifname(id: &str) -> String {
    format!("nl{}", &id[..13])
}

/// The topology name an attachment's devices are marked with (IFLA_IFALIAS
/// `netloom:<this>`): its network's topology, a dot (which no topology
/// file's name has, so no file can claim it) and its id.
pub fn attachment_topology(net_topo: &str, id: &str) -> String {
    format!("{net_topo}.{id}")
}

/// One attachment's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    /// CNI_CONTAINERID.
    #[serde(rename = "containerID")]
    pub container_id: String,
    /// CNI_IFNAME.
    pub ifname: String,
    /// CNI_NETNS of the ADD.
    pub netns: Option<PathBuf>,
    /// The host-side veth end, for a bridge attachment.
    pub host_if: Option<String>,
    /// Addresses the built-in allocator gave it.
    #[serde(default)]
    pub ips: Vec<IpAddr>,
    /// The IPAM plugin it was delegated to, if any.
    pub delegated: Option<String>,
    /// The ADD result, once ADD finished.
    pub result: Option<CniResult>,
}

impl Attachment {
    /// Its IPAM owner key.
    pub fn owner(&self) -> Owner {
        Owner {
            container_id: self.container_id.clone(),
            ifname: self.ifname.clone(),
        }
    }
}

/// One network's state directory.
#[derive(Debug, Clone)]
pub struct NetState {
    /// The network topology (see [`network_topology`]).
    pub topo: String,
    dir: PathBuf,
}

impl NetState {
    /// The state of network `name` under netloom's state directory `root`.
    pub fn new(root: &Path, name: &str) -> NetState {
        let topo = network_topology(name);
        NetState {
            dir: root.join("cni").join(&topo),
            topo,
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Wait for the network's lock and hold it until the file is dropped.
    pub fn lock(&self) -> io::Result<File> {
        use fs2::FileExt;
        fs::create_dir_all(&self.dir)?;
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join("lock"))?;
        f.lock_exclusive()?;
        Ok(f)
    }

    /// The journal of the attachments' kernel changes.
    pub fn journal(&self) -> Store {
        Store::at(self.dir.join("journal"))
    }

    /// The built-in allocator's store.
    pub fn ipam(&self) -> IpamStore {
        IpamStore::at(self.dir.join("ipam"))
    }

    fn record_path(&self, id: &str) -> PathBuf {
        self.dir.join("attachments").join(format!("{id}.json"))
    }

    /// The record of attachment `id`, if any.
    pub fn record(&self, id: &str) -> io::Result<Option<Attachment>> {
        match fs::read_to_string(self.record_path(id)) {
            Ok(t) => serde_json::from_str(&t).map(Some).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {e}", self.record_path(id).display()),
                )
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Write attachment `id`'s record whole (temp file, fsync, rename).
    pub fn save(&self, id: &str, a: &Attachment) -> io::Result<()> {
        let path = self.record_path(id);
        let dir = path.parent().expect("records live in a directory");
        fs::create_dir_all(dir)?;
        let tmp = dir.join(format!(".{id}.tmp"));
        let mut f = File::create(&tmp)?;
        f.write_all(serde_json::to_string_pretty(a)?.as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, &path)?;
        File::open(dir)?.sync_all()
    }

    /// Remove attachment `id`'s record, and a temp file a process killed
    /// while writing it left (nothing to do when there is none).
    pub fn forget(&self, id: &str) -> io::Result<()> {
        let tmp = self.dir.join("attachments").join(format!(".{id}.tmp"));
        for path in [self.record_path(id), tmp] {
            match fs::remove_file(path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// Every attachment record, by id.
    pub fn records(&self) -> io::Result<Vec<(String, Attachment)>> {
        let dir = self.dir.join("attachments");
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for e in entries {
            let name = e?.file_name();
            let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
                continue;
            };
            if id.starts_with('.') {
                continue;
            }
            if let Some(a) = self.record(id)? {
                out.push((id.to_string(), a));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_stable_and_fit_the_kernel() {
        // Pinned: a changed digest would orphan every attachment made before.
        assert_eq!(
            digest(&["lab", "c1", "eth0"]),
            digest(&["lab", "c1", "eth0"])
        );
        assert_ne!(
            digest(&["lab", "c1", "eth0"]),
            digest(&["lab", "c1e", "th0"])
        );
        assert_eq!(digest(&[""]), "af63bd4c8601b7df");
        let id = attachment_id("lab", "c1", "eth0");
        assert_eq!(host_ifname(&id).len(), 15);
        assert_eq!(network_topology("lab"), "cni-lab");
        let odd = network_topology("Mixed.Case-Network-Name-Long");
        assert!(crate::spec::topology_name_ok(&odd), "{odd}");
        assert_eq!(attachment_topology("cni-lab", &id), format!("cni-lab.{id}"));
    }
}
