//! The built-in allocator's store: one file per address given out, named
//! after the address and holding its owner (container ID and interface),
//! as the reference host-local plugin keeps it, in a directory of the
//! network's own. Callers hold the network's lock (see `super::super::lock`).
//!
//! Crash safety: a reservation is made by writing the owner into a private
//! file, syncing it, and hard-linking it under the address's name; link(2)
//! either makes the whole reservation appear or fails with EEXIST when the
//! address is taken, so no reader ever sees a half-written one, and a
//! process killed at any moment leaves either no reservation or a complete
//! one (and at most a private file, which nothing reads and GC removes).
use std::fs::{self, File};
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use super::range::Range;

/// Whose an address is: the attachment's primary key within a network.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Owner {
    /// CNI_CONTAINERID.
    pub container_id: String,
    /// CNI_IFNAME.
    pub ifname: String,
}

impl Owner {
    fn text(&self) -> String {
        format!("{}\n{}\n", self.container_id, self.ifname)
    }

    fn parse(text: &str) -> Option<Owner> {
        let mut l = text.lines();
        Some(Owner {
            container_id: l.next()?.to_string(),
            ifname: l.next()?.to_string(),
        })
    }
}

/// The store of one network.
#[derive(Debug, Clone)]
pub struct IpamStore {
    dir: PathBuf,
}

/// Prefix of the files that are not reservations.
const PRIVATE: &str = ".";

impl IpamStore {
    /// The store in `dir` (made on first reservation).
    pub fn at(dir: impl Into<PathBuf>) -> IpamStore {
        IpamStore { dir: dir.into() }
    }

    fn path(&self, ip: IpAddr) -> PathBuf {
        self.dir.join(ip.to_string())
    }

    fn last_path(&self, range: usize) -> PathBuf {
        self.dir.join(format!("{PRIVATE}last-{range}"))
    }

    /// Reserve an address of `range` (the `index`-th of the network) for
    /// `owner`: the first free one after the last given out, round the
    /// range; `None` when every one is taken.
    pub fn reserve(
        &self,
        index: usize,
        range: &Range,
        owner: &Owner,
    ) -> io::Result<Option<IpAddr>> {
        fs::create_dir_all(&self.dir)?;
        let tmp = self
            .dir
            .join(format!("{PRIVATE}new-{}", std::process::id()));
        let _ = fs::remove_file(&tmp);
        let mut f = File::create(&tmp)?;
        f.write_all(owner.text().as_bytes())?;
        f.sync_all()?;
        drop(f);
        let last = fs::read_to_string(self.last_path(index))
            .ok()
            .and_then(|s| s.trim().parse::<IpAddr>().ok());
        let mut got = None;
        for ip in range.after(last) {
            match fs::hard_link(&tmp, self.path(ip)) {
                Ok(()) => {
                    got = Some(ip);
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    let _ = fs::remove_file(&tmp);
                    return Err(e);
                }
            }
        }
        fs::remove_file(&tmp)?;
        if let Some(ip) = got {
            // Only a hint where to start next time: written whole (rename),
            // and a lost one costs a longer walk, nothing more.
            let t = self.dir.join(format!("{PRIVATE}last-{index}.new"));
            fs::write(&t, ip.to_string())?;
            fs::rename(&t, self.last_path(index))?;
            sync_dir(&self.dir)?;
        }
        Ok(got)
    }

    /// The owner of `ip`, if reserved.
    pub fn owner(&self, ip: IpAddr) -> io::Result<Option<Owner>> {
        match fs::read_to_string(self.path(ip)) {
            Ok(t) => Ok(Owner::parse(&t)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Release what `owner` holds: the addresses in `known` when they are
    /// its (no walk), else every reservation of it (a walk of the store).
    /// Returns the addresses released; releasing nothing is no error.
    pub fn release(&self, owner: &Owner, known: &[IpAddr]) -> io::Result<Vec<IpAddr>> {
        let mut out = Vec::new();
        let candidates: Vec<IpAddr> = if known.is_empty() {
            self.all()?
                .into_iter()
                .filter(|(_, o)| o == owner)
                .map(|(ip, _)| ip)
                .collect()
        } else {
            known.to_vec()
        };
        for ip in candidates {
            if self.owner(ip)?.as_ref() == Some(owner) {
                match fs::remove_file(self.path(ip)) {
                    Ok(()) => out.push(ip),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
        }
        if !out.is_empty() {
            sync_dir(&self.dir)?;
        }
        Ok(out)
    }

    /// Every reservation with its owner.
    pub fn all(&self) -> io::Result<Vec<(IpAddr, Owner)>> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for e in entries {
            let e = e?;
            let Some(ip) = e
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<IpAddr>().ok())
            else {
                continue;
            };
            if let Some(o) = self.owner(ip)? {
                out.push((ip, o));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Remove private files a killed process left: those of a process that
    /// is gone (callers hold the lock, so only a dead one can have left one
    /// mid-write; the pid check keeps this true without the lock too).
    pub fn sweep(&self) -> io::Result<usize> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let mut n = 0;
        for e in entries {
            let name = e?.file_name();
            let pid = name
                .to_str()
                .and_then(|s| s.strip_prefix(&format!("{PRIVATE}new-")))
                .and_then(|p| p.parse::<i32>().ok());
            let Some(pid) = pid else { continue };
            let alive = !matches!(
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
                Err(nix::errno::Errno::ESRCH)
            );
            if !alive {
                match fs::remove_file(self.dir.join(&name)) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => n += 1,
                }
            }
        }
        Ok(n)
    }

    /// How many addresses of `range` are free.
    pub fn free(&self, range: &Range) -> io::Result<u128> {
        let taken = self
            .all()?
            .iter()
            .filter(|(ip, _)| range.contains(*ip) && Some(*ip) != range.gateway)
            .count() as u128;
        Ok(range.size().saturating_sub(taken))
    }
}

/// fsync a directory, so the names made or removed in it last.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(tag: &str) -> IpamStore {
        let d = std::env::temp_dir().join(format!("netloom-ipam-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        IpamStore::at(d)
    }

    fn owner(c: &str) -> Owner {
        Owner {
            container_id: c.into(),
            ifname: "eth0".into(),
        }
    }

    #[test]
    fn reserve_release_and_exhaustion() {
        let s = store("rr");
        let r = Range::new("10.0.0.0/29".parse().unwrap(), None, None, None).unwrap();
        let mut got = Vec::new();
        for i in 0..5 {
            got.push(s.reserve(0, &r, &owner(&format!("c{i}"))).unwrap().unwrap());
        }
        assert_eq!(got[0].to_string(), "10.0.0.2");
        assert_eq!(s.reserve(0, &r, &owner("c9")).unwrap(), None, "full");
        assert_eq!(s.free(&r).unwrap(), 0);
        assert_eq!(s.owner(got[2]).unwrap(), Some(owner("c2")));
        // Releasing someone else's address does nothing; one's own frees it.
        assert!(s.release(&owner("c1"), &[got[2]]).unwrap().is_empty());
        assert_eq!(s.release(&owner("c2"), &[]).unwrap(), vec![got[2]]);
        assert_eq!(s.reserve(0, &r, &owner("c9")).unwrap(), Some(got[2]));
        assert!(s.release(&owner("nobody"), &[]).unwrap().is_empty());
        assert_eq!(s.all().unwrap().len(), 5);
        let _ = fs::remove_dir_all(&s.dir);
    }

    #[test]
    fn a_private_file_left_by_a_killed_process_is_no_reservation() {
        let s = store("sweep");
        fs::create_dir_all(&s.dir).unwrap();
        fs::write(s.dir.join(".new-999999"), "c1\neth0\n").unwrap();
        assert!(s.all().unwrap().is_empty());
        assert_eq!(s.sweep().unwrap(), 1);
        let _ = fs::remove_dir_all(&s.dir);
    }
}
