//! memberlist's `util.go` helpers the agent uses: how many times a rumour
//! is retransmitted, how push/pull slows down in large clusters, and the
//! random choice of `k` members (`kRandomNodes`).

use crate::rng::{SimRng, below};
use crate::time::SimDuration;

/// `util.go retransmitLimit`: `mult × ceil(log10(n + 1))`; the ceiling is the
/// number of decimal digits of n, so this stays in integers.
pub fn retransmit_limit(mult: u32, n: usize) -> u32 {
    let mut digits = 0;
    let mut v = n;
    while v > 0 {
        digits += 1;
        v /= 10;
    }
    mult * digits
}

/// `util.go pushPullScale`: the interval grows with log2(n) above 32 members.
pub fn push_pull_scale(interval: SimDuration, n: usize) -> SimDuration {
    const THRESHOLD: usize = 32;
    if n <= THRESHOLD {
        return interval;
    }
    let mult = ((n as f64).log2() - (THRESHOLD as f64).log2()).ceil() as u64 + 1;
    SimDuration(interval.0 * mult)
}

/// The random draws of `kRandomNodes`: a partial Fisher-Yates shuffle of the
/// positions `0..count`, kept sparse (only swapped positions are stored).
/// Returns `min(k, count)` distinct positions in pick order, with one draw
/// per pick.
pub(super) fn k_random_positions(rng: &mut SimRng, count: usize, k: usize) -> Vec<usize> {
    let take = k.min(count);
    let mut swapped: Vec<(usize, usize)> = Vec::with_capacity(2 * take);
    let at = |sw: &[(usize, usize)], p: usize| {
        sw.iter()
            .rev()
            .find(|(q, _)| *q == p)
            .map_or(p, |(_, v)| *v)
    };
    let mut picks = Vec::with_capacity(take);
    for i in 0..take {
        let j = i + below(rng, (count - i) as u64) as usize;
        let (vi, vj) = (at(&swapped, i), at(&swapped, j));
        swapped.push((i, vj));
        swapped.push((j, vi));
        picks.push(vj);
    }
    picks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;

    #[test]
    fn formulas_match_memberlist() {
        let s = SimDuration::from_secs;
        assert_eq!(retransmit_limit(2, 6), 2);
        assert_eq!(retransmit_limit(2, 9), 2);
        assert_eq!(retransmit_limit(2, 10), 4);
        assert_eq!(retransmit_limit(2, 100), 6);
        assert_eq!(push_pull_scale(s(15), 32), s(15));
        assert_eq!(push_pull_scale(s(15), 64), s(30));
        assert_eq!(push_pull_scale(s(15), 65), s(45));
    }

    #[test]
    fn k_random_positions_are_distinct_and_in_range() {
        let mut rng = stream(3, "k-random");
        for count in 0..12 {
            for k in 0..14 {
                let picks = k_random_positions(&mut rng, count, k);
                assert_eq!(picks.len(), k.min(count));
                let mut sorted = picks.clone();
                sorted.sort();
                sorted.dedup();
                assert_eq!(sorted.len(), picks.len(), "{picks:?}");
                assert!(picks.iter().all(|p| *p < count));
            }
        }
    }

    #[test]
    fn picking_everyone_is_a_permutation_drawn_once_per_pick() {
        let mut a = stream(9, "k-random");
        let mut b = a.clone();
        let mut picks = k_random_positions(&mut a, 5, 5);
        // One draw per pick, from 5, 4, 3, 2 and 1 positions left.
        for left in (1..=5).rev() {
            below(&mut b, left);
        }
        assert_eq!(below(&mut a, 1 << 30), below(&mut b, 1 << 30));
        picks.sort();
        assert_eq!(picks, vec![0, 1, 2, 3, 4]);
    }
}
