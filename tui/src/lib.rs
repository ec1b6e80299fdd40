//! # tui: the terminal UI that plays a scenario (ratatui + crossterm)
//!
//! `antlab tui SCENARIO` shows a scenario happen and lets the user steer it.
//! The simulator has no pause button and needs none: it is deterministic, so
//! any sim time is "run the scenario from its seed, stopped at that time".
//! Play, step and seek all choose a time and re-run to it ([`Session`]).
//!
//! ## Module map
//! - [`app`]: the UI state and `handle_key` (pure; unit-tested without a terminal).
//! - [`ui`]: one frame from the state and an `Outcome` (panes, compact and
//!   large layouts; snapshot-tested with ratatui's `TestBackend`).
//! - this file: [`Session`] (the scenario plus the steps added from the UI,
//!   re-run on demand and cached) and [`run`], the terminal loop. Only
//!   [`run`] touches the terminal and the wall clock.

#![forbid(unsafe_code)]

pub mod app;
pub mod ui;

use std::path::Path;
use std::time::Duration;

use crossterm::event::{self, Event};
use sim_core::rng::DEFAULT_SEED;
use sim_core::scenario::run::{Outcome, RunOptions, Runner};
use sim_core::scenario::{self, Action as StepAction, Scenario, Step};
use sim_core::time::{SimDuration, SimTime};

use app::{Action, App, LogFilter, UserStep};
use ui::View;

/// A scenario being watched: the file's steps plus the steps added from the
/// UI, and the run at the shown time. Playing forward advances the same run;
/// seeking back starts a new one from the seed (same seed, same world).
pub struct Session {
    base: Scenario,
    seed: u64,
    /// `base` with the UI's steps merged in, in time order.
    scenario: Scenario,
    cache: Option<(Playing, View)>,
}

/// A run still going (it can move forward), or one that reached the end.
enum Playing {
    Live(Box<Runner>),
    Done(Box<Outcome>),
}

impl Playing {
    fn outcome(&self) -> &Outcome {
        match self {
            Playing::Live(r) => r.outcome(),
            Playing::Done(o) => o,
        }
    }
}

impl Session {
    pub fn new(base: Scenario, seed: u64) -> Session {
        let scenario = base.clone();
        Session {
            base,
            seed,
            scenario,
            cache: None,
        }
    }

    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// Merges the UI's steps into the scenario and runs it to its end once,
    /// to learn every event's time (for `n`) and the step times (for `]`).
    pub fn rebuild(&mut self, app: &mut App) -> Result<(), String> {
        let mut scn = self.base.clone();
        for (at, s) in &app.user_steps {
            let action = match s {
                UserStep::Power { device, on } => StepAction::Power {
                    device: device.clone(),
                    on: *on,
                },
                UserStep::Link { port, up } => StepAction::Link {
                    port: port.clone(),
                    up: *up,
                },
            };
            std::sync::Arc::make_mut(&mut scn.steps).push(Step {
                at: *at,
                line: 0,
                column: 0,
                action,
            });
        }
        // Stable: a UI step runs after the file's steps at the same time.
        std::sync::Arc::make_mut(&mut scn.steps).sort_by_key(|s| s.at);
        let full = run_to(&scn, self.seed, None)?;
        app.end = scn.until;
        app.events = full
            .world
            .log()
            .iter()
            .map(|e| (e.time, LogFilter::mask(e)))
            .collect();
        app.step_times = scn.steps.iter().map(|s| s.at).collect();
        app.step_times.dedup();
        self.scenario = scn;
        self.cache = None;
        app.clamp();
        Ok(())
    }

    /// The outcome at `app.time` (re-run only when the time moved), with the
    /// device and probe lists copied into `app` for the keys.
    pub fn at(&mut self, app: &mut App) -> Result<(&Outcome, &View), String> {
        app.clamp();
        let shown = self.cache.as_ref().map(|(p, _)| p.outcome().world.now());
        if shown != Some(app.time) {
            // Forward: keep playing the live run. Back (or after the end): replay.
            let mut runner = match self.cache.take() {
                Some((Playing::Live(r), _)) if r.now() <= app.time => r,
                _ => Box::new(
                    Runner::start(self.scenario.clone(), self.seed, false)
                        .map_err(|e| e.to_string())?,
                ),
            };
            runner.advance_to(app.time).map_err(|e| e.to_string())?;
            let playing = if app.time >= self.scenario.until {
                Playing::Done(Box::new((*runner).finish()))
            } else {
                Playing::Live(runner)
            };
            let outcome = playing.outcome();
            let view = View::build(outcome, &self.scenario);
            app.devices = view.devices.clone();
            app.probes = outcome
                .world
                .probes()
                .iter()
                .map(|p| p.spec().name.clone())
                .collect();
            app.clamp();
            self.cache = Some((playing, view));
        }
        let (p, v) = self.cache.as_ref().expect("filled above");
        Ok((p.outcome(), v))
    }
}

fn run_to(scn: &Scenario, seed: u64, stop_at: Option<SimTime>) -> Result<Outcome, String> {
    scenario::run::run(
        scn,
        seed,
        &RunOptions {
            capture: false,
            stop_at,
        },
    )
    .map_err(|e| e.to_string())
}

/// Reads a scenario file and the files it names (relative to it) through
/// `read_file` (the CLI's checked reader; tests may pass their own).
pub fn load(
    path: &Path,
    read_file: &dyn Fn(&Path) -> Result<String, String>,
) -> Result<Scenario, String> {
    let text = read_file(path)?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut read = |rel: &str| -> Result<(String, String), String> {
        let p = dir.join(rel);
        let text = read_file(&p)?;
        Ok((p.display().to_string(), text))
    };
    scenario::load(&path.display().to_string(), &text, &mut read).map_err(|e| e.to_string())
}

/// Makes a session and its UI state for `scn`, ready to draw at time zero.
pub fn start(scn: Scenario, seed: Option<u64>) -> Result<(Session, App), String> {
    let seed = seed.or(scn.seed).unwrap_or(DEFAULT_SEED);
    let mut app = App::new(scn.until);
    let mut session = Session::new(scn, seed);
    session.rebuild(&mut app)?;
    session.at(&mut app)?;
    Ok((session, app))
}

/// Restores the terminal when dropped, so every way out of [`run`] (return,
/// `?`, unwinding) leaves a usable shell. A panic is covered too: ratatui's
/// `try_init` installs a hook that restores before the message prints.
struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// `antlab tui SCENARIO [--seed N]`: plays the (loaded) scenario in the terminal
/// until `q`.
pub fn run(scn: Scenario, seed: Option<u64>) -> Result<(), String> {
    // Simulate before touching the terminal, so input errors print normally.
    let (mut session, mut app) = start(scn, seed)?;
    let mut terminal = ratatui::try_init().map_err(|e| format!("terminal: {e}"))?;
    let _guard = TerminalGuard;
    let io = |e: std::io::Error| format!("terminal: {e}");

    // The wall clock is read here and only here: it paces playback
    // (sim time advances by speed x wall time); the simulation never sees it.
    #[allow(clippy::disallowed_methods)]
    let mut last = std::time::Instant::now();
    let mut dirty = true;
    loop {
        if dirty {
            let (outcome, view) = session.at(&mut app)?;
            terminal
                .draw(|f| ui::draw_view(f, &app, view, outcome))
                .map_err(io)?;
            dirty = false;
        }
        let timeout = if app.playing {
            Duration::from_millis(33)
        } else {
            Duration::from_millis(500)
        };
        if event::poll(timeout).map_err(io)? {
            match event::read().map_err(io)? {
                Event::Key(k) => {
                    match app::handle_key(&mut app, k) {
                        Action::Quit => break,
                        Action::Rerun => {
                            if let Err(e) = session.rebuild(&mut app) {
                                // A step the simulator refused: drop it, say why.
                                app.user_steps.pop();
                                app.message = format!("refused: {e}");
                                session.rebuild(&mut app)?;
                            }
                        }
                        Action::Seek | Action::None => {}
                    }
                    dirty = true;
                }
                Event::Resize(..) => dirty = true,
                _ => {}
            }
        }
        #[allow(clippy::disallowed_methods)]
        let now = std::time::Instant::now();
        let wall = now.duration_since(last);
        last = now;
        if app.playing {
            let ns = wall.as_secs_f64() * app.speed_factor() * 1e9;
            // Whole milliseconds keep re-runs to sensible times.
            let ms = (ns / 1e6).round().max(1.0) as u64;
            app.advance(SimDuration::from_millis(ms));
            dirty = true;
        }
    }
    drop(terminal);
    Ok(())
}

/// Draws the frame at `app.time` into an off-screen `w`x`h` buffer (what the
/// terminal would show), for benchmarks and tests.
pub fn render_offscreen(
    session: &mut Session,
    app: &mut App,
    w: u16,
    h: u16,
) -> Result<ratatui::buffer::Buffer, String> {
    let mut term = ratatui::Terminal::new(ratatui::backend::TestBackend::new(w, h))
        .map_err(|e| e.to_string())?;
    let (outcome, view) = session.at(app)?;
    term.draw(|f| ui::draw_view(f, app, view, outcome))
        .map_err(|e| e.to_string())?;
    Ok(term.backend().buffer().clone())
}

/// A generated lab for scale checks: one switch, `n` worker nodes on one
/// access VLAN, node-3 (if any) powered off at `power_off_at`, run until `until`.
pub fn generated_lab(n: usize, power_off_at: SimTime, until: SimTime) -> Result<Scenario, String> {
    let mut topo = String::from("name: generated\ncluster:\n  podCIDR: 10.128.0.0/9\nnodes:\n");
    for i in 0..n {
        topo.push_str(&format!(
            "  - name: node-{i}\n    role: worker\n    podCIDR: 10.{}.{}.0/24\n    interfaces:\n      - name: eth0\n        addresses: [10.0.{}.{}/16]\n",
            128 + i / 256,
            i % 256,
            i / 250,
            i % 250 + 2
        ));
    }
    topo.push_str("switches:\n  - name: sw\n    ports:\n");
    for i in 0..n {
        topo.push_str(&format!(
            "      - name: p{i}\n        connect: node-{i}/eth0\n        access: 10\n"
        ));
    }
    let ns = |t: SimTime| format!("{}ns", t.as_nanos());
    let mut scn = format!(
        "name: generated-{n}\ntopology: generated.yaml\nuntil: {}\nsteps:\n",
        ns(until)
    );
    if n > 3 {
        scn.push_str(&format!(
            "  - at: {}\n    power: {{device: node-3, state: off}}\n",
            ns(power_off_at)
        ));
    }
    let mut read = |_: &str| Ok(("generated.yaml".to_string(), topo.clone()));
    scenario::load("generated-scenario.yaml", &scn, &mut read).map_err(|e| e.to_string())
}
