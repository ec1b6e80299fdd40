//! Randomness: one named PRNG, one master seed, per-entity streams.
//!
//! Every random choice in a run comes from a [`SimRng`] (PCG64 MCG, `rand_pcg::Pcg64Mcg`)
//! seeded from the run's master seed and a *stable name* (`"probe/ping-ext"`,
//! `"host/k8s-node-vm-1-cl-02"`). Adding an entity therefore never perturbs the
//! streams of the others (Shadow does the same with `global ^ hash(hostname)`),
//! and the name hash is FNV-1a 64, fixed forever, unlike `DefaultHasher`.

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

/// The seed a run uses when the user gives none. Printed on every run.
pub const DEFAULT_SEED: u64 = 1;

/// The one PRNG type of the simulator.
pub type SimRng = Pcg64Mcg;

/// FNV-1a, 64 bit: a fixed, documented hash (http://www.isthe.com/chongo/tech/comp/fnv/).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// SplitMix64 finaliser: spreads a low-entropy seed over all 64 bits.
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The seed of the stream called `name` under `master`.
pub fn stream_seed(master: u64, name: &str) -> u64 {
    mix64(master ^ fnv1a64(name.as_bytes()))
}

/// A PRNG for the stream called `name` under `master`.
pub fn stream(master: u64, name: &str) -> SimRng {
    SimRng::seed_from_u64(stream_seed(master, name))
}

/// A uniformly random value in `0..bound` (bound > 0), without floats.
/// Lemire's multiply-shift rejection method keeps it unbiased.
pub fn below(rng: &mut SimRng, bound: u64) -> u64 {
    assert!(bound > 0, "below() needs a positive bound");
    loop {
        let x = rng.next_u64();
        let m = u128::from(x) * u128::from(bound);
        let low = m as u64;
        if low >= bound.wrapping_neg() % bound {
            return (m >> 64) as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_is_the_published_function() {
        // Test vectors from the FNV reference page.
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn streams_depend_on_name_and_master_only() {
        let a1 = stream(7, "host/a").next_u64();
        let a2 = stream(7, "host/a").next_u64();
        let b = stream(7, "host/b").next_u64();
        let a_other_master = stream(8, "host/a").next_u64();
        assert_eq!(a1, a2);
        assert_ne!(a1, b);
        assert_ne!(a1, a_other_master);
    }

    #[test]
    fn below_stays_in_range() {
        let mut r = stream(1, "t");
        for bound in [1u64, 2, 3, 10, 1000, u64::MAX] {
            for _ in 0..100 {
                assert!(below(&mut r, bound) < bound);
            }
        }
    }
}
