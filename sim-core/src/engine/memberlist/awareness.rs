//! The agent's own health score (`awareness.go`): 0 is healthy, at most
//! `awareness_max_multiplier − 1`. It grows by one per missing Nack or
//! refutation (or by one per failed probe without Nack helpers) and shrinks
//! by one per successful probe; the probe interval is scaled by score + 1,
//! so a struggling agent probes, and so suspects, more slowly.

use crate::time::SimDuration;

#[derive(Clone, Debug)]
pub(super) struct Awareness {
    score: u32,
    /// The highest score (`max − 1` of `awareness_max_multiplier`).
    max: u32,
}

impl Awareness {
    pub(super) fn new(max_multiplier: u32) -> Awareness {
        Awareness {
            score: 0,
            max: max_multiplier.max(1) - 1,
        }
    }

    /// `ApplyDelta`: moves the score, kept within 0..=max.
    pub(super) fn apply_delta(&mut self, delta: i64) {
        self.score = (i64::from(self.score) + delta).clamp(0, i64::from(self.max)) as u32;
    }

    pub(super) fn score(&self) -> u32 {
        self.score
    }

    /// `ScaleTimeout`: `interval × (score + 1)`.
    pub(super) fn scale(&self, interval: SimDuration) -> SimDuration {
        SimDuration(interval.0 * (u64::from(self.score) + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_stays_between_zero_and_max() {
        let mut a = Awareness::new(8);
        a.apply_delta(-1);
        assert_eq!(a.score(), 0);
        a.apply_delta(3);
        assert_eq!(a.score(), 3);
        a.apply_delta(100);
        assert_eq!(a.score(), 7);
        a.apply_delta(-2);
        assert_eq!(a.score(), 5);
    }

    #[test]
    fn probe_interval_grows_with_the_score() {
        let mut a = Awareness::new(8);
        let second = SimDuration::from_secs(1);
        assert_eq!(a.scale(second), second);
        a.apply_delta(2);
        assert_eq!(a.scale(second), SimDuration::from_secs(3));
        // A multiplier of 0 or 1 leaves no room: always healthy.
        let mut flat = Awareness::new(0);
        flat.apply_delta(5);
        assert_eq!(flat.scale(second), second);
    }
}
