//! The discrete-event benchmark, shaped like ns-3's `utils/bench-scheduler.cc`
//! (the "hold" model): fill the queue with `population` events at exponential
//! times (mean 100 ns), then repeatedly pop the earliest event and, for each one
//! executed, push a successor at `now + exponential gap`, until `events` events have
//! executed. The population stays constant, so the cost measured is one pop plus
//! one push at a fixed queue size.
//!
//! Pure and deterministic: no clock is read here (the CLI times the call) and all
//! randomness comes from `rng::stream(seed, "bench/des")`.
//!
//! The gaps come from a table of [`GAP_TABLE_LEN`] exponential samples computed once
//! before the run (`-mean * ln(u)` in f64, rounded to whole ns, at least 1 ns) and
//! indexed by the PRNG. This keeps `ln` and float work out of the measured loop,
//! so the loop measures the queue and not libm, while the times still follow the
//! exponential shape ns-3 uses. The float math happens once per table entry and is
//! the same on every IEEE-754 platform with a correctly behaving `ln`; the
//! determinism tests compare queue kinds within one build, never against constants.

use rand::Rng;

use super::{CalendarScheduler, HeapScheduler, MapScheduler, Scheduler, SchedulerKind};
use crate::rng::{SimRng, stream};
use crate::time::{SimDuration, SimTime};

/// Number of precomputed exponential gaps; a power of two so 12 PRNG bits index it.
pub const GAP_TABLE_LEN: usize = 4096;
/// Mean of the exponential inter-event gap, in nanoseconds (ns-3's default is 100).
pub const MEAN_GAP_NS: f64 = 100.0;

/// What to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DesBenchParams {
    /// Events pending in the queue at every moment of the hold phase.
    pub population: usize,
    /// Events to execute (pop) in total.
    pub events: u64,
    /// Master seed; the stream used is `"bench/des"` under it.
    pub seed: u64,
}

/// What happened; equal for every queue kind given equal params.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DesBenchOutcome {
    /// Events executed; equals `events` unless `population` is 0 (nothing to pop).
    pub executed: u64,
    /// Time of the last executed event.
    pub final_time: SimTime,
    /// Order-sensitive fold of every executed `(time, event id)`, so two queues
    /// agree only if they executed the same events in the same order.
    pub checksum: u64,
}

/// The exponential gap table, drawn from `rng`.
fn gap_table(rng: &mut SimRng) -> Vec<u64> {
    (0..GAP_TABLE_LEN)
        .map(|_| {
            // u in (0, 1]: 53 random bits, shifted by one so ln(u) is finite.
            let u = ((rng.next_u64() >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64);
            let gap = (-MEAN_GAP_NS * u.ln()).round();
            (gap as u64).max(1)
        })
        .collect()
}

/// A random table entry: the top 12 bits of one PRNG output.
#[inline(always)]
fn draw(rng: &mut SimRng, table: &[u64]) -> u64 {
    table[(rng.next_u64() >> (64 - GAP_TABLE_LEN.trailing_zeros())) as usize]
}

/// Runs the benchmark on `sched` (which should start empty; its old events would
/// be executed too). Event payloads are the `u32` index of the initial event.
pub fn run_des_bench<S: Scheduler<u32>>(sched: &mut S, p: &DesBenchParams) -> DesBenchOutcome {
    let mut rng = stream(p.seed, "bench/des");
    let table = gap_table(&mut rng);

    for i in 0..p.population {
        sched.push(SimTime(draw(&mut rng, &table)), i as u32);
    }

    let mut executed = 0u64;
    let mut now = SimTime::ZERO;
    let mut checksum: u64 = 0xcbf2_9ce4_8422_2325;
    while executed < p.events {
        let Some((at, id)) = sched.pop() else { break };
        now = at;
        executed += 1;
        checksum = (checksum.rotate_left(7) ^ at.0 ^ (u64::from(id) << 40))
            .wrapping_mul(0x0000_0100_0000_01b3);
        sched.push(now + SimDuration(draw(&mut rng, &table)), id);
    }
    DesBenchOutcome {
        executed,
        final_time: now,
        checksum,
    }
}

/// Runs the benchmark on a fresh queue of `kind` (static dispatch per kind).
pub fn run_des_bench_kind(kind: SchedulerKind, p: &DesBenchParams) -> DesBenchOutcome {
    match kind {
        SchedulerKind::Heap => run_des_bench(&mut HeapScheduler::with_capacity(p.population), p),
        SchedulerKind::Map => run_des_bench(&mut MapScheduler::new(), p),
        SchedulerKind::Calendar => run_des_bench(&mut CalendarScheduler::new(), p),
    }
}
