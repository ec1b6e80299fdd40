//! A fixed hasher for the simulator's own keys (flow tuples, device
//! names): a multiply-rotate mix of 8-byte words with a final avalanche.
//! Fixed, so no table depends on a random seed; fast, because the keys are
//! the lab's own, not an adversary's. Tables hashed with it are never
//! iterated for output in hash order.

use std::hash::{BuildHasherDefault, Hasher};

#[derive(Default)]
pub(crate) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^ (h >> 33)
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            self.write_u64(u64::from_le_bytes(w.try_into().expect("an 8-byte chunk")));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            // The length keeps "a" and "a\0" apart.
            self.write_u64(u64::from_le_bytes(last) ^ ((rest.len() as u64) << 59));
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(23) ^ v).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// Builds [`KeyHasher`]s for `IndexMap`s.
pub(crate) type KeyBuild = BuildHasherDefault<KeyHasher>;

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
