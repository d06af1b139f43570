//! A fast hasher for the walk's own maps (FxHash's multiply-rotate): the
//! keys are interface numbers, names and small tuples made by netloom
//! itself, so SipHash's protection against chosen keys buys nothing, and
//! `--all` over ten thousand pairs spent a sixth of its time in it.
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// The hasher.
#[derive(Debug, Default, Clone, Copy)]
pub struct Fx(u64);

const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl Fx {
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(K);
    }
}

impl Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    fn write_u16(&mut self, i: u16) {
        self.add(u64::from(i));
    }
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// A map with the fast hasher.
pub type Map<K, V> = HashMap<K, V, BuildHasherDefault<Fx>>;
/// A set with the fast hasher.
pub type Set<K> = HashSet<K, BuildHasherDefault<Fx>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_keys_hash_alike_and_the_map_works() {
        let mut m: Map<(usize, &str), u8> = Map::default();
        m.insert((1, "eth0"), 1);
        m.insert((2, "eth0"), 2);
        m.insert((1, "eth1"), 3);
        assert_eq!(m.get(&(1, "eth0")), Some(&1));
        assert_eq!(m.get(&(1, "eth1")), Some(&3));
        assert_eq!(m.len(), 3);
    }
}
