//! How long a suspected member has before it is declared Dead
//! (`suspicion.go`, and `util.go suspicionTimeout`).
//!
//! `min = mult × max(1, log10(max(1, n))) × probe_interval` with n the
//! members known (self and not yet forgotten dead included), `max =
//! max_mult × min`, and `k = mult − 2` independent confirmations expected
//! (0 when `n − 2 < k`). The timer starts at `max` (`min` when k = 0); each
//! new confirmation (a Suspect about the same node from another member, the
//! originator excluded) shortens it to `max − ln(c+1)/ln(k+1) × (max − min)`,
//! floored to whole milliseconds and never below `min`, counted from the
//! start.

use super::config::MemberConfig;
use super::names::MemberId;
use crate::time::{SimDuration, SimTime};

/// `util.go suspicionTimeout`: `mult × max(1, log10(max(1, n))) × interval`,
/// with the scale kept to three decimals as memberlist does.
pub fn suspicion_timeout(mult: u32, n: usize, interval: SimDuration) -> SimDuration {
    let scale = (n.max(1) as f64).log10().max(1.0);
    let scale_milli = (scale * 1000.0) as u64;
    SimDuration(u64::from(mult) * scale_milli * interval.0 / 1000)
}

/// `suspicion.go remainingSuspicionTime`: time left after `elapsed` with `c`
/// confirmations out of `k` expected. Negative (as `None`) means "now".
pub fn remaining_suspicion_time(
    c: u32,
    k: u32,
    elapsed: SimDuration,
    min: SimDuration,
    max: SimDuration,
) -> Option<SimDuration> {
    let frac = ((c as f64) + 1.0).ln() / ((k as f64) + 1.0).ln();
    let max_s = max.0 as f64 / 1e9;
    let min_s = min.0 as f64 / 1e9;
    let raw = max_s - frac * (max_s - min_s);
    let ms = (1000.0 * raw).floor();
    let timeout = if ms <= 0.0 {
        SimDuration::ZERO
    } else {
        SimDuration::from_millis(ms as u64)
    };
    let timeout = timeout.max(min);
    (timeout.0 > elapsed.0).then(|| SimDuration(timeout.0 - elapsed.0))
}

/// What a Suspect about an already suspected member did to its timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Confirmation {
    /// Not an independent confirmation (the originator, a repeat, or all
    /// expected confirmations already came): nothing changes.
    Ignored,
    /// The timer now ends this long from now.
    Remaining(SimDuration),
    /// The shortened timer has already run out: Dead now.
    Expired,
}

/// One running suspicion (`suspicion.go` `suspicion`).
#[derive(Clone, Debug)]
pub(super) struct Suspicion {
    /// Who said so: the originator first, then each confirmation.
    confirmations: Vec<MemberId>,
    /// Confirmations counted so far.
    n: u32,
    /// Confirmations expected.
    k: u32,
    min: SimDuration,
    max: SimDuration,
    start: SimTime,
    /// Which of the timers the agent asked for is the live one.
    generation: u64,
}

impl Suspicion {
    /// A suspicion raised by `from` at `start` in a cluster of `members`
    /// known members; its timer is `generation`.
    pub(super) fn new(
        from: MemberId,
        members: usize,
        cfg: &MemberConfig,
        start: SimTime,
        generation: u64,
    ) -> Suspicion {
        let mut k = cfg.suspicion_mult.saturating_sub(2);
        if (members as i64 - 2) < i64::from(k) {
            k = 0;
        }
        let min = suspicion_timeout(cfg.suspicion_mult, members, cfg.probe_interval);
        let max = SimDuration(min.0 * u64::from(cfg.suspicion_max_timeout_mult));
        Suspicion {
            confirmations: vec![from],
            n: 0,
            k,
            min,
            max,
            start,
            generation,
        }
    }

    /// The timer's length from the start, before any confirmation.
    pub(super) fn initial_timeout(&self) -> SimDuration {
        if self.k < 1 { self.min } else { self.max }
    }

    /// The live timer's generation.
    pub(super) fn generation(&self) -> u64 {
        self.generation
    }

    /// `Confirm`: a Suspect from `from` at `now`. A counted confirmation
    /// needs a new timer: give it with [`Suspicion::renew`].
    pub(super) fn confirm(&mut self, from: MemberId, now: SimTime) -> Confirmation {
        if self.n >= self.k || self.confirmations.contains(&from) {
            return Confirmation::Ignored;
        }
        self.confirmations.push(from);
        self.n += 1;
        match remaining_suspicion_time(self.n, self.k, now.since(self.start), self.min, self.max) {
            Some(d) => Confirmation::Remaining(d),
            None => Confirmation::Expired,
        }
    }

    /// Makes `generation` the live timer (older ones are stale).
    pub(super) fn renew(&mut self, generation: u64) {
        self.generation = generation;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::memberlist::names::NameTable;

    fn s(secs: u64) -> SimDuration {
        SimDuration::from_secs(secs)
    }
    fn at(secs: u64) -> SimTime {
        SimTime::ZERO + s(secs)
    }

    #[test]
    fn formulas_match_memberlist() {
        assert_eq!(suspicion_timeout(3, 6, s(1)), s(3));
        assert_eq!(suspicion_timeout(3, 0, s(1)), s(3));
        assert_eq!(suspicion_timeout(3, 100, s(1)), s(6));
        assert_eq!(
            suspicion_timeout(3, 20, s(1)),
            SimDuration::from_millis(3903)
        );
        assert_eq!(
            remaining_suspicion_time(0, 1, s(0), s(3), s(18)),
            Some(s(18))
        );
        assert_eq!(
            remaining_suspicion_time(1, 1, s(1), s(3), s(18)),
            Some(s(2))
        );
        assert_eq!(remaining_suspicion_time(1, 1, s(5), s(3), s(18)), None);
        // k = 3: one of three confirmations = half way on a log scale.
        assert_eq!(
            remaining_suspicion_time(1, 3, s(0), s(3), s(18)),
            Some(SimDuration::from_millis(10_500))
        );
    }

    #[test]
    fn no_confirmation_is_expected_below_k_plus_two_members() {
        let mut names = NameTable::default();
        let a = names.intern("a");
        let cfg = MemberConfig::default(); // mult 3: k = 1
        // Three members: k = 1, the timer starts at max = 6 × 3 s.
        let three = Suspicion::new(a, 3, &cfg, at(0), 1);
        assert_eq!(three.initial_timeout(), s(18));
        // Two members: n − 2 < k, so k = 0 and the timer is min.
        let mut two = Suspicion::new(a, 2, &cfg, at(0), 1);
        assert_eq!(two.initial_timeout(), s(3));
        let b = names.intern("b");
        assert_eq!(two.confirm(b, at(1)), Confirmation::Ignored);
    }

    #[test]
    fn each_independent_confirmation_shortens_the_timer_from_the_start() {
        let mut names = NameTable::default();
        let [a, b, c, d, e] = ["a", "b", "c", "d", "e"].map(|n| names.intern(n));
        // mult 5: k = 3; ten members: min 5 s, max 30 s.
        let cfg = MemberConfig {
            suspicion_mult: 5,
            ..MemberConfig::default()
        };
        let mut sus = Suspicion::new(a, 10, &cfg, at(100), 1);
        assert_eq!(sus.initial_timeout(), s(30));
        // The originator and repeats do not count.
        assert_eq!(sus.confirm(a, at(100)), Confirmation::Ignored);
        // c = 1: ln 2 / ln 4 = 1/2, so 30 − 12.5 = 17.5 s from the start.
        assert_eq!(
            sus.confirm(b, at(100)),
            Confirmation::Remaining(SimDuration::from_millis(17_500))
        );
        assert_eq!(sus.confirm(b, at(101)), Confirmation::Ignored);
        // c = 2: 30 − 25 × ln 3 / ln 4 = 10.187.. s, floored to ms, 1 s in.
        assert_eq!(
            sus.confirm(c, at(101)),
            Confirmation::Remaining(SimDuration::from_millis(9_187))
        );
        // c = 3 = k: min, 5 s from the start, 2 s in.
        assert_eq!(sus.confirm(d, at(102)), Confirmation::Remaining(s(3)));
        // All expected confirmations came: a fourth changes nothing.
        assert_eq!(sus.confirm(e, at(102)), Confirmation::Ignored);
    }

    #[test]
    fn a_confirmation_after_the_shortened_time_expires_at_once() {
        let mut names = NameTable::default();
        let [a, b] = ["a", "b"].map(|n| names.intern(n));
        let mut sus = Suspicion::new(a, 3, &MemberConfig::default(), at(0), 4);
        assert_eq!(sus.generation(), 4);
        // k = 1: one confirmation brings the timer down to min = 3 s.
        assert_eq!(sus.confirm(b, at(5)), Confirmation::Expired);
        sus.renew(9);
        assert_eq!(sus.generation(), 9);
    }
}
