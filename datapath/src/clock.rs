//! The wall clock, in one place. Real mode lives in real time (probe
//! intervals, agent timers, the scenario's `at:` in seconds since start);
//! clippy.toml bans reading the clock everywhere else, so that the
//! simulator's pure logic can never depend on it by accident.

use std::time::Instant;

#[allow(clippy::disallowed_methods)]
pub fn now() -> Instant {
    Instant::now()
}
