//! The one fixed hasher of sim-core's hashed tables and keys. Fixed, so
//! no value depends on a random seed; hashed tables are `IndexMap`s, whose
//! iteration follows insertion, never the hash.

use std::hash::BuildHasherDefault;

/// A word-at-a-time [`std::hash::Hasher`] (rustc's FxHash step): fast and
/// deterministic (the same value on every run and machine). Not for keys
/// an adversary picks: it keys OpenFlow flows and text lines, conntrack's
/// tuples and the world's device names, always with an equality check
/// behind it.
pub(crate) struct WordHasher(u64);

impl Default for WordHasher {
    fn default() -> WordHasher {
        WordHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl WordHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl std::hash::Hasher for WordHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
    }
    fn write_u8(&mut self, v: u8) {
        self.add(u64::from(v));
    }
    fn write_u16(&mut self, v: u16) {
        self.add(u64::from(v));
    }
    fn write_u32(&mut self, v: u32) {
        self.add(u64::from(v));
    }
    fn write_u64(&mut self, v: u64) {
        self.add(v);
    }
    fn write_u128(&mut self, v: u128) {
        self.add(v as u64);
        self.add((v >> 64) as u64);
    }
    fn write_usize(&mut self, v: usize) {
        self.add(v as u64);
    }
}

/// Builds [`WordHasher`]s for `IndexMap`s.
pub(crate) type KeyBuild = BuildHasherDefault<WordHasher>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{BuildHasher, Hash};

    fn hash<T: Hash + ?Sized>(v: &T) -> u64 {
        KeyBuild::default().hash_one(v)
    }

    #[test]
    fn names_that_differ_hash_apart_and_equal_names_alike() {
        let names = [
            "a",
            "a\0",
            "node-1",
            "node-10",
            "default/pod-1",
            "default/pod-10",
        ];
        for (i, a) in names.iter().enumerate() {
            assert_eq!(hash(*a), hash(&a.to_string()));
            for b in &names[i + 1..] {
                assert_ne!(hash(*a), hash(*b), "{a:?} and {b:?}");
            }
        }
        // Every bit of a long name counts, its last bytes too.
        assert_ne!(hash("abcdefgh-ijklmnop-1"), hash("abcdefgh-ijklmnop-2"));
    }
}
