//! Progress of a long simulation, on stderr only.
//!
//! Nothing shows for the first two seconds of wall time (most runs are over
//! by then). After that, if stderr is a terminal, an `indicatif` bar with
//! the sim time reached, the events simulated and an estimate of the time
//! left; if stderr is not a terminal (CI logs, `2> file`), one plain line
//! every ten seconds. Stdout never sees any of it: a timeline streaming to
//! the same terminal goes out through [`StdoutOut`], which lifts the bar
//! while its lines are written.
//!
//! The wall clock is read here, in the CLI; the simulation never sees it.
#![allow(clippy::disallowed_methods)]

use std::io::{self, IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sim_core::time::SimTime;

/// Wall time before anything is shown.
const QUIET_FOR: Duration = Duration::from_secs(2);
/// Between plain lines when stderr is not a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(10);
/// The bar's resolution: positions per run.
const STEPS: u64 = 1000;

pub struct Progress {
    started: Instant,
    end: SimTime,
    /// The bar (hidden until `QUIET_FOR` has passed) when stderr is a terminal.
    bar: Option<ProgressBar>,
    /// When the last plain line went out (stderr not a terminal).
    last_line: Option<Instant>,
}

/// A bar of `len` positions drawn with `template`, hidden until shown,
/// when stderr is a terminal.
fn hidden_bar(len: u64, template: &str) -> Option<ProgressBar> {
    io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden());
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        bar
    })
}

impl Progress {
    /// Progress of a run from time zero to `end`.
    pub fn new(end: SimTime) -> Progress {
        let bar = hidden_bar(
            STEPS,
            "{spinner} simulating {msg} [{wide_bar}] {percent:>3}% ({elapsed}, about {eta} left)",
        );
        Progress {
            started: Instant::now(),
            end,
            bar,
            last_line: None,
        }
    }

    /// The bar, for [`StdoutOut`] to lift while it writes to the terminal.
    pub fn bar(&self) -> Option<ProgressBar> {
        self.bar.clone()
    }

    /// The run has reached `now` after `events` events.
    pub fn update(&mut self, now: SimTime, events: u64) {
        let elapsed = self.started.elapsed();
        if elapsed < QUIET_FOR {
            return;
        }
        let end = self.end.as_nanos().max(1);
        let done = now.as_nanos().min(end);
        let what = format!(
            "{} of {}, {events} events",
            now.since(SimTime::ZERO).human(),
            self.end.since(SimTime::ZERO)
        );
        match &self.bar {
            Some(bar) => {
                if bar.is_hidden() {
                    bar.set_draw_target(ProgressDrawTarget::stderr());
                    bar.enable_steady_tick(Duration::from_millis(200));
                }
                bar.set_position(
                    u64::try_from(u128::from(done) * u128::from(STEPS) / u128::from(end))
                        .unwrap_or(STEPS),
                );
                bar.set_message(what);
            }
            None => {
                if self.last_line.is_some_and(|t| t.elapsed() < PLAIN_EVERY) {
                    return;
                }
                self.last_line = Some(Instant::now());
                let pct = u128::from(done) * 100 / u128::from(end);
                // Nothing to do if stderr is gone.
                let _ = writeln!(
                    io::stderr(),
                    "antlab: simulated {what} ({pct}%) in {} s",
                    elapsed.as_secs()
                );
            }
        }
    }

    /// Removes the bar (before the run's last lines are printed).
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Stdout for a streaming run: bytes are held and written out in batches
/// (at 64 KiB or on `flush`), with the progress bar lifted around each
/// batch when both go to the terminal, so the bar never lands in the
/// middle of the timeline.
pub struct StdoutOut {
    held: Vec<u8>,
    bar: Option<ProgressBar>,
}

const BATCH: usize = 64 * 1024;

impl StdoutOut {
    pub fn new(progress: &Progress) -> StdoutOut {
        StdoutOut {
            held: Vec::with_capacity(BATCH),
            bar: if io::stdout().is_terminal() {
                progress.bar()
            } else {
                None
            },
        }
    }

    fn write_out(&mut self) -> io::Result<()> {
        if self.held.is_empty() {
            return Ok(());
        }
        let bytes = &self.held;
        let put = || -> io::Result<()> {
            let mut out = io::stdout().lock();
            out.write_all(bytes)?;
            out.flush()
        };
        let r = match &self.bar {
            Some(bar) if !bar.is_hidden() => bar.suspend(put),
            _ => put(),
        };
        self.held.clear();
        r
    }
}

impl Write for StdoutOut {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.held.extend_from_slice(buf);
        if self.held.len() >= BATCH {
            self.write_out()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.write_out()
    }
}

/// Progress of many runs (a sweep), on stderr: after [`QUIET_FOR`], a bar
/// with runs done, the rate and the time left on a terminal, else a plain
/// line every [`PLAIN_EVERY`].
pub struct RunCount {
    started: Instant,
    total: u64,
    bar: Option<ProgressBar>,
    last_line: Option<Instant>,
}

impl RunCount {
    pub fn new(total: u64) -> RunCount {
        let bar = hidden_bar(
            total,
            "{spinner} sweeping [{wide_bar}] {pos}/{len} runs ({per_sec}, about {eta} left)",
        );
        RunCount {
            started: Instant::now(),
            total,
            bar,
            last_line: None,
        }
    }

    /// `done` runs have finished.
    pub fn update(&mut self, done: u64) {
        let elapsed = self.started.elapsed();
        if let Some(bar) = &self.bar {
            bar.set_position(done);
        }
        if elapsed < QUIET_FOR {
            return;
        }
        match &self.bar {
            Some(bar) => {
                if bar.is_hidden() {
                    bar.set_draw_target(ProgressDrawTarget::stderr());
                    bar.enable_steady_tick(Duration::from_millis(200));
                }
            }
            None => {
                if self.last_line.is_some_and(|t| t.elapsed() < PLAIN_EVERY) {
                    return;
                }
                self.last_line = Some(Instant::now());
                let _ = writeln!(
                    io::stderr(),
                    "antlab: {done} of {} runs in {} s",
                    self.total,
                    elapsed.as_secs()
                );
            }
        }
    }
}

impl Drop for RunCount {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
