//! Progress of a long simulation, on stderr only. Long pieces of work
//! that report nothing as they go (admitting every step, applying the 0 s
//! manifests of a large lab) run under a [`Heartbeat`]; sweeps count runs
//! ([`RunCount`]).
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

/// A sign of life while one long piece of work runs that reports nothing
/// itself (admitting every step of a large lab, applying its 0 s
/// manifests): from [`QUIET_FOR`] on, a spinner with `what` and the time
/// so far on a terminal, else a plain line every [`PLAIN_EVERY`], until
/// dropped. A thread of its own keeps time, so the work need not call in.
pub struct Heartbeat {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Where a heartbeat's plain lines go (stderr, or a test's buffer).
type Sink = Box<dyn Write + Send>;

impl Heartbeat {
    pub fn start(what: &str) -> Heartbeat {
        let terminal = io::stderr().is_terminal();
        Heartbeat::start_with(
            what,
            QUIET_FOR,
            PLAIN_EVERY,
            terminal,
            Box::new(io::stderr()),
        )
    }

    fn start_with(
        what: &str,
        quiet: Duration,
        every: Duration,
        terminal: bool,
        mut sink: Sink,
    ) -> Heartbeat {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let what = what.to_string();
        let thread = std::thread::Builder::new()
            .name("antlab-heartbeat".into())
            .spawn(move || {
                let started = Instant::now();
                let mut next = started + quiet;
                let mut spinner: Option<ProgressBar> = None;
                loop {
                    let wait = next.saturating_duration_since(Instant::now());
                    match rx.recv_timeout(wait) {
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                        _ => break,
                    }
                    let secs = started.elapsed().as_secs();
                    if terminal {
                        let bar = spinner.get_or_insert_with(|| {
                            let bar = ProgressBar::new_spinner();
                            bar.enable_steady_tick(Duration::from_millis(200));
                            bar
                        });
                        bar.set_message(format!("{what} ({secs} s)"));
                        next = Instant::now() + Duration::from_millis(500);
                    } else {
                        // Nothing to do if the sink is gone.
                        let _ = writeln!(sink, "antlab: {what} ({secs} s so far)");
                        next = Instant::now() + every;
                    }
                }
                if let Some(bar) = spinner {
                    bar.finish_and_clear();
                }
            })
            .ok();
        Heartbeat {
            stop: Some(tx),
            thread,
        }
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        // Closing the channel wakes the thread, which clears its spinner.
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A buffer the heartbeat's thread writes into.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("not poisoned").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Shared {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().expect("not poisoned").clone()).expect("utf-8")
        }
    }

    #[test]
    fn a_heartbeat_speaks_after_its_quiet_time_and_stops_when_dropped() {
        let out = Shared::default();
        let beat = Heartbeat::start_with(
            "admitting every step",
            Duration::from_millis(20),
            Duration::from_millis(20),
            false,
            Box::new(out.clone()),
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while out.text().lines().count() < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        drop(beat);
        let said = out.text();
        assert!(said.lines().count() >= 2, "{said:?}");
        assert!(said.starts_with("antlab: admitting every step ("), "{said}");
        // Dropped: nothing more.
        let after = said.len();
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(out.text().len(), after);
    }

    #[test]
    fn a_short_piece_of_work_says_nothing() {
        let out = Shared::default();
        let beat = Heartbeat::start_with(
            "quick",
            Duration::from_secs(5),
            Duration::from_secs(5),
            false,
            Box::new(out.clone()),
        );
        drop(beat);
        assert_eq!(out.text(), "");
    }
}
