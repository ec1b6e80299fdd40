//! The UI's state and its key handling, with no terminal and no simulator
//! inside: `handle_key` is a pure function of the state and a key, so every
//! binding is unit-tested. The driver (`lib.rs`) copies what the keys need to
//! know about the running scenario (device names, power states, event and step
//! times) into [`App`] after each run.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use sim_core::sim::trace::{LogEntry, LogKind};
use sim_core::time::{SimDuration, SimTime};

/// The panes, in Tab order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pane {
    Topology,
    Tables,
    Inspector,
    Log,
    Probes,
    Trace,
}

impl Pane {
    pub const ALL: [Pane; 6] = [
        Pane::Topology,
        Pane::Tables,
        Pane::Inspector,
        Pane::Log,
        Pane::Probes,
        Pane::Trace,
    ];
    pub fn title(self) -> &'static str {
        match self {
            Pane::Topology => "Topology",
            Pane::Tables => "Tables",
            Pane::Inspector => "Inspector",
            Pane::Log => "Events",
            Pane::Probes => "Probes",
            Pane::Trace => "Trace",
        }
    }
    fn next(self) -> Pane {
        let i = Pane::ALL.iter().position(|p| *p == self).unwrap_or(0);
        Pane::ALL[(i + 1) % Pane::ALL.len()]
    }
    fn prev(self) -> Pane {
        let i = Pane::ALL.iter().position(|p| *p == self).unwrap_or(0);
        Pane::ALL[(i + Pane::ALL.len() - 1) % Pane::ALL.len()]
    }
}

/// Which event-log entries the Events pane shows (`f` cycles).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFilter {
    /// What `antlab run` prints: the story without per-packet noise.
    Story,
    /// Agents joining and leaving, memberlist views, power.
    Membership,
    Arp,
    /// Egress/external IP allocation and assignment.
    Assignment,
    Probe,
    /// Every entry except single frames.
    All,
}

impl LogFilter {
    pub const ALL: [LogFilter; 6] = [
        LogFilter::Story,
        LogFilter::Membership,
        LogFilter::Arp,
        LogFilter::Assignment,
        LogFilter::Probe,
        LogFilter::All,
    ];
    pub fn name(self) -> &'static str {
        match self {
            LogFilter::Story => "story",
            LogFilter::Membership => "membership",
            LogFilter::Arp => "arp",
            LogFilter::Assignment => "assignment",
            LogFilter::Probe => "probe",
            LogFilter::All => "all",
        }
    }
    /// This filter's bit in [`App::events`] masks.
    pub fn bit(self) -> u8 {
        let i = LogFilter::ALL.iter().position(|f| *f == self).unwrap_or(0);
        1 << i
    }
    /// The mask of every filter that keeps `e`.
    pub fn mask(e: &LogEntry) -> u8 {
        LogFilter::ALL
            .iter()
            .filter(|f| f.keeps(e))
            .fold(0, |m, f| m | f.bit())
    }
    fn next(self) -> LogFilter {
        let i = LogFilter::ALL.iter().position(|f| *f == self).unwrap_or(0);
        LogFilter::ALL[(i + 1) % LogFilter::ALL.len()]
    }

    /// Whether `e` passes this filter.
    pub fn keeps(self, e: &LogEntry) -> bool {
        let membership = e.message.contains("memberlist") || e.message.contains("antrea-agent");
        match self {
            LogFilter::Story => match e.kind {
                LogKind::Frame | LogKind::Drop | LogKind::Mac => false,
                // Per-attempt lines; the UP/DOWN transitions stay.
                LogKind::Probe => {
                    !(e.message.contains(" ok rtt ") || e.message.contains(" FAILED: "))
                }
                LogKind::Arp => e.message.contains("gratuitous") || e.message.ends_with("FAILED"),
                _ => true,
            },
            LogFilter::Membership => {
                membership || matches!(e.kind, LogKind::Power) || e.message.contains("NotReady")
            }
            LogFilter::Arp => e.kind == LogKind::Arp,
            LogFilter::Assignment => {
                !membership
                    && (e.device == "antrea-controller"
                        || e.message.contains("Egress")
                        || e.message.contains("egress")
                        || e.message.contains("external IP")
                        || e.message.contains("assign"))
            }
            LogFilter::Probe => e.kind == LogKind::Probe,
            LogFilter::All => e.kind != LogKind::Frame,
        }
    }
}

/// A device as the keys see it: its name, whether it is powered, and the
/// first port with a link (`device/port`) with that link's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceEntry {
    pub name: String,
    pub powered: bool,
    pub link: Option<(String, bool)>,
}

/// A change made from the UI, replayed as a scenario step at `at`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserStep {
    Power { device: String, on: bool },
    Link { port: String, up: bool },
}

/// Speed multipliers `+`/`-` move through (sim seconds per wall second).
pub const SPEEDS: [f64; 9] = [0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0];
const DEFAULT_SPEED: usize = 3;

/// What the driver must do after a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing beyond redrawing.
    None,
    Quit,
    /// The sim time changed: run to `App::time` and redraw.
    Seek,
    /// The user added a step: rebuild the scenario, re-run and redraw.
    Rerun,
}

/// Everything the UI shows or steers, besides the simulation itself.
#[derive(Clone, Debug)]
pub struct App {
    /// The sim time on screen.
    pub time: SimTime,
    /// The scenario's end (`until`).
    pub end: SimTime,
    pub playing: bool,
    /// Index into [`SPEEDS`].
    pub speed: usize,
    pub pane: Pane,
    /// Selected device (index into `devices`), clamped by [`App::clamp`].
    pub device: usize,
    pub probe: usize,
    pub filter: LogFilter,
    /// Show only the selected device's entries in the Events pane.
    pub device_filter: bool,
    /// The focused pane's scroll: in the Events pane, lines up from the
    /// newest entry (the pane ends with the newest at the bottom); in the
    /// Tables, Inspector and Trace panes, lines down from the top of their
    /// text. Either way Down/PgDn move the view down the text (see
    /// `App::scroll_down`).
    pub scroll: usize,
    pub help: bool,
    pub devices: Vec<DeviceEntry>,
    pub probes: Vec<String>,
    /// Every event-log entry of the whole run: its time and a bit per
    /// [`LogFilter::ALL`] entry that keeps it, sorted by time (for `n`).
    pub events: Vec<(SimTime, u8)>,
    /// Times of the scenario's steps, sorted (for `]`).
    pub step_times: Vec<SimTime>,
    /// Steps added from the UI.
    pub user_steps: Vec<(SimTime, UserStep)>,
    /// A one-line message for the status bar (what the last key did).
    pub message: String,
    /// The Trace pane shows the probe's first packet through br-int
    /// (table by table) instead of its hops.
    pub trace_br_int: bool,
}

impl App {
    pub fn new(end: SimTime) -> App {
        App {
            time: SimTime::ZERO,
            end,
            playing: false,
            speed: DEFAULT_SPEED,
            pane: Pane::Topology,
            device: 0,
            probe: 0,
            filter: LogFilter::Story,
            device_filter: false,
            scroll: 0,
            help: false,
            devices: Vec::new(),
            probes: Vec::new(),
            events: Vec::new(),
            step_times: Vec::new(),
            user_steps: Vec::new(),
            message: String::new(),
            trace_br_int: false,
        }
    }

    pub fn speed_factor(&self) -> f64 {
        SPEEDS[self.speed.min(SPEEDS.len() - 1)]
    }

    /// Keeps every index inside its list (lists shrink when a re-run has
    /// fewer probes, or on an empty topology).
    pub fn clamp(&mut self) {
        self.device = self.device.min(self.devices.len().saturating_sub(1));
        self.probe = self.probe.min(self.probes.len().saturating_sub(1));
        self.speed = self.speed.min(SPEEDS.len() - 1);
        if self.time > self.end {
            self.time = self.end;
        }
    }

    pub fn selected_device(&self) -> Option<&DeviceEntry> {
        self.devices.get(self.device)
    }
    pub fn selected_probe(&self) -> Option<&str> {
        self.probes.get(self.probe).map(String::as_str)
    }

    /// Moves the clock by `d` while playing; stops at the end.
    pub fn advance(&mut self, d: SimDuration) {
        self.time = (self.time + d).min(self.end);
        if self.time >= self.end {
            self.playing = false;
        }
    }

    fn seek_to(&mut self, t: SimTime) -> Action {
        let t = t.min(self.end);
        if t == self.time {
            return Action::None;
        }
        self.time = t;
        self.scroll = 0;
        Action::Seek
    }

    /// Scrolls the focused pane by `lines`: `down` shows what is further
    /// down its text. The Events pane counts from its bottom (the newest
    /// entry), so going down there means skipping fewer of the newest
    /// lines; the other panes count lines skipped from the top.
    fn scroll_down(&mut self, down: bool, lines: usize) {
        let counts_from_top = self.pane != Pane::Log;
        self.scroll = if down == counts_from_top {
            self.scroll.saturating_add(lines)
        } else {
            self.scroll.saturating_sub(lines)
        };
    }

    fn select(&mut self, down: bool) {
        let (idx, len) = match self.pane {
            Pane::Probes | Pane::Trace => (&mut self.probe, self.probes.len()),
            Pane::Topology | Pane::Inspector => (&mut self.device, self.devices.len()),
            Pane::Log | Pane::Tables => {
                self.scroll_down(down, 1);
                return;
            }
        };
        if len == 0 {
            *idx = 0;
        } else if down {
            *idx = (*idx + 1).min(len - 1);
        } else {
            *idx = idx.saturating_sub(1);
        }
        self.scroll = 0;
    }
}

/// Applies one key to the state and says what the driver must do.
pub fn handle_key(app: &mut App, key: KeyEvent) -> Action {
    if key.kind == KeyEventKind::Release {
        return Action::None;
    }
    if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
        return Action::Quit;
    }
    if app.help {
        // Any key closes the help; `q` still quits.
        app.help = false;
        return if key.code == KeyCode::Char('q') {
            Action::Quit
        } else {
            Action::None
        };
    }
    match key.code {
        KeyCode::Char('q') | KeyCode::Esc => Action::Quit,
        KeyCode::Char('?') | KeyCode::Char('h') => {
            app.help = true;
            Action::None
        }
        KeyCode::Char(' ') => {
            if app.time >= app.end {
                // Play from the start again rather than doing nothing.
                app.time = SimTime::ZERO;
                app.playing = true;
                return Action::Seek;
            }
            app.playing = !app.playing;
            Action::None
        }
        KeyCode::Char('n') => {
            app.playing = false;
            let bit = app.filter.bit();
            let next = app
                .events
                .iter()
                .find(|&&(t, mask)| t > app.time && mask & bit != 0)
                .map_or(app.end, |&(t, _)| t);
            app.seek_to(next)
        }
        KeyCode::Char('s') => {
            app.playing = false;
            app.seek_to(app.time + SimDuration::from_secs(1))
        }
        KeyCode::Char(']') => {
            app.playing = false;
            let next = app
                .step_times
                .iter()
                .copied()
                .find(|&t| t > app.time)
                .unwrap_or(app.end);
            app.seek_to(next)
        }
        KeyCode::Char('b') => {
            let back = SimTime(
                app.time
                    .as_nanos()
                    .saturating_sub(SimDuration::from_secs(1).as_nanos()),
            );
            app.seek_to(back)
        }
        KeyCode::Char('B') | KeyCode::Home => {
            app.playing = false;
            app.seek_to(SimTime::ZERO)
        }
        KeyCode::End => {
            app.playing = false;
            app.seek_to(app.end)
        }
        KeyCode::Char('+') | KeyCode::Char('=') => {
            app.speed = (app.speed + 1).min(SPEEDS.len() - 1);
            app.message = format!("speed x{}", app.speed_factor());
            Action::None
        }
        KeyCode::Char('-') => {
            app.speed = app.speed.saturating_sub(1);
            app.message = format!("speed x{}", app.speed_factor());
            Action::None
        }
        KeyCode::Tab => {
            app.pane = app.pane.next();
            app.scroll = 0;
            Action::None
        }
        KeyCode::BackTab => {
            app.pane = app.pane.prev();
            app.scroll = 0;
            Action::None
        }
        KeyCode::Char(c @ '1'..='6') => {
            let i = (c as usize) - ('1' as usize);
            app.pane = Pane::ALL[i.min(Pane::ALL.len() - 1)];
            app.scroll = 0;
            Action::None
        }
        KeyCode::Down | KeyCode::Char('j') => {
            app.select(true);
            Action::None
        }
        KeyCode::Up | KeyCode::Char('k') => {
            app.select(false);
            Action::None
        }
        KeyCode::PageUp => {
            app.scroll_down(false, 10);
            Action::None
        }
        KeyCode::PageDown => {
            app.scroll_down(true, 10);
            Action::None
        }
        KeyCode::Char('o') => {
            app.trace_br_int = !app.trace_br_int;
            app.pane = Pane::Trace;
            app.scroll = 0;
            app.message = if app.trace_br_int {
                "Trace: the probe's first packet through br-int".to_string()
            } else {
                "Trace: the probe's hops".to_string()
            };
            Action::None
        }
        KeyCode::Char('f') => {
            app.filter = app.filter.next();
            app.scroll = 0;
            app.message = format!("event filter: {}", app.filter.name());
            Action::None
        }
        KeyCode::Char('d') => {
            app.device_filter = !app.device_filter;
            app.scroll = 0;
            app.message = match (app.device_filter, app.selected_device()) {
                (true, Some(d)) => format!("events of {} only", d.name),
                _ => "events of every device".into(),
            };
            Action::None
        }
        KeyCode::Char('p') => {
            let Some(d) = app.selected_device().cloned() else {
                return Action::None;
            };
            let on = !d.powered;
            app.message = format!(
                "{} powers {} at {}",
                d.name,
                if on { "on" } else { "off" },
                app.time
            );
            app.user_steps
                .push((app.time, UserStep::Power { device: d.name, on }));
            Action::Rerun
        }
        KeyCode::Char('l') => {
            let Some((port, up)) = app.selected_device().and_then(|d| d.link.clone()) else {
                app.message = "the selected device has no link".into();
                return Action::None;
            };
            app.message = format!(
                "link {port} goes {} at {}",
                if up { "down" } else { "up" },
                app.time
            );
            app.user_steps
                .push((app.time, UserStep::Link { port, up: !up }));
            Action::Rerun
        }
        KeyCode::Char('u') => {
            // Undo the last step added from the UI.
            if app.user_steps.pop().is_some() {
                app.message = "removed the last step added here".into();
                Action::Rerun
            } else {
                Action::None
            }
        }
        _ => Action::None,
    }
}

/// The help overlay's lines.
pub const HELP: &[(&str, &str)] = &[
    ("space", "play / pause (at the end: replay)"),
    ("n", "step to the next event (of the filter)"),
    ("s", "step one second"),
    ("]", "run to the next scenario step"),
    ("b / B", "back one second / to the start"),
    ("End", "jump to the end"),
    ("+ / -", "faster / slower"),
    ("Tab 1-6", "next pane / pick a pane"),
    ("j k ↑ ↓", "select device or probe; scroll"),
    ("PgUp PgDn", "scroll"),
    (
        "o",
        "Trace pane: hops / first packet through br-int (OpenFlow)",
    ),
    ("f", "cycle the event filter"),
    ("d", "events of the selected device only"),
    ("p", "power the selected device off/on now"),
    ("l", "take the selected device's link down/up"),
    ("u", "undo the last p/l"),
    ("? / q", "help / quit"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
    }
    fn secs(s: u64) -> SimTime {
        SimTime::ZERO + SimDuration::from_secs(s)
    }
    fn app() -> App {
        let mut a = App::new(secs(70));
        a.devices = vec![
            DeviceEntry {
                name: "sw".into(),
                powered: true,
                link: None,
            },
            DeviceEntry {
                name: "node-1".into(),
                powered: true,
                link: Some(("node-1/eth0".into(), true)),
            },
        ];
        a.probes = vec!["ping".into()];
        let all = !LogFilter::Arp.bit();
        // At 2 s only an ARP entry: `n` in the story filter skips it.
        a.events = vec![
            (secs(1), all),
            (secs(2), LogFilter::Arp.bit()),
            (secs(3), all),
            (secs(10), all),
        ];
        a.step_times = vec![SimTime::ZERO, secs(2), secs(10), secs(40)];
        a
    }

    #[test]
    fn space_toggles_play_and_q_quits() {
        let mut a = app();
        assert_eq!(handle_key(&mut a, key(' ')), Action::None);
        assert!(a.playing);
        handle_key(&mut a, key(' '));
        assert!(!a.playing);
        assert_eq!(handle_key(&mut a, key('q')), Action::Quit);
        assert_eq!(
            handle_key(
                &mut a,
                KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)
            ),
            Action::Quit
        );
    }

    #[test]
    fn stepping_keys_move_the_clock() {
        let mut a = app();
        assert_eq!(handle_key(&mut a, key('s')), Action::Seek);
        assert_eq!(a.time, secs(1));
        assert_eq!(handle_key(&mut a, key('n')), Action::Seek);
        assert_eq!(a.time, secs(3));
        assert_eq!(handle_key(&mut a, key(']')), Action::Seek);
        assert_eq!(a.time, secs(10));
        assert_eq!(handle_key(&mut a, key(']')), Action::Seek);
        assert_eq!(a.time, secs(40));
        // No later step: to the end; then nothing more to do.
        handle_key(&mut a, key(']'));
        assert_eq!(a.time, secs(70));
        assert_eq!(handle_key(&mut a, key('s')), Action::None);
        assert_eq!(a.time, secs(70));
        assert_eq!(handle_key(&mut a, key('b')), Action::Seek);
        assert_eq!(a.time, secs(69));
        assert_eq!(handle_key(&mut a, key('B')), Action::Seek);
        assert_eq!(a.time, SimTime::ZERO);
        // Back from zero stays at zero.
        assert_eq!(handle_key(&mut a, key('b')), Action::None);
    }

    #[test]
    fn next_event_follows_the_filter() {
        let mut a = app();
        a.time = secs(1);
        handle_key(&mut a, key('n'));
        assert_eq!(a.time, secs(3), "story skips the ARP-only entry");
        a.time = secs(1);
        a.filter = LogFilter::Arp;
        handle_key(&mut a, key('n'));
        assert_eq!(a.time, secs(2));
        // No later ARP entry: to the end.
        handle_key(&mut a, key('n'));
        assert_eq!(a.time, a.end);
    }

    #[test]
    fn space_at_the_end_replays_from_the_start() {
        let mut a = app();
        a.time = a.end;
        assert_eq!(handle_key(&mut a, key(' ')), Action::Seek);
        assert_eq!(a.time, SimTime::ZERO);
        assert!(a.playing);
    }

    #[test]
    fn speed_is_bounded() {
        let mut a = app();
        for _ in 0..20 {
            handle_key(&mut a, key('+'));
        }
        assert_eq!(a.speed_factor(), *SPEEDS.last().unwrap());
        for _ in 0..20 {
            handle_key(&mut a, key('-'));
        }
        assert_eq!(a.speed_factor(), SPEEDS[0]);
    }

    #[test]
    fn tab_cycles_panes_and_arrows_select_within_bounds() {
        let mut a = app();
        assert_eq!(a.pane, Pane::Topology);
        handle_key(&mut a, KeyEvent::new(KeyCode::Down, KeyModifiers::NONE));
        handle_key(&mut a, key('j'));
        handle_key(&mut a, key('j'));
        assert_eq!(a.device, 1, "clamped to the last device");
        handle_key(&mut a, key('k'));
        handle_key(&mut a, key('k'));
        assert_eq!(a.device, 0);
        for _ in 0..4 {
            handle_key(&mut a, KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE));
        }
        assert_eq!(a.pane, Pane::Probes);
        handle_key(&mut a, key('j'));
        assert_eq!(a.probe, 0, "one probe only");
        handle_key(&mut a, KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE));
        handle_key(&mut a, KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE));
        assert_eq!(a.pane, Pane::Topology, "wraps around");
        handle_key(&mut a, KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT));
        assert_eq!(a.pane, Pane::Trace);
        handle_key(&mut a, key('4'));
        assert_eq!(a.pane, Pane::Log);
    }

    #[test]
    fn down_keys_move_every_pane_down_its_text() {
        let down = KeyEvent::new(KeyCode::Down, KeyModifiers::NONE);
        let up = KeyEvent::new(KeyCode::Up, KeyModifiers::NONE);
        let pg_down = KeyEvent::new(KeyCode::PageDown, KeyModifiers::NONE);
        let pg_up = KeyEvent::new(KeyCode::PageUp, KeyModifiers::NONE);
        // Tables, Inspector and Trace count lines skipped from the top:
        // going down skips more.
        for pane in [Pane::Tables, Pane::Inspector, Pane::Trace] {
            let mut a = app();
            a.pane = pane;
            handle_key(&mut a, pg_down);
            assert_eq!(a.scroll, 10, "{pane:?}: PgDn shows lines further down");
            handle_key(&mut a, pg_up);
            assert_eq!(a.scroll, 0, "{pane:?}: PgUp goes back up");
        }
        let mut a = app();
        a.pane = Pane::Tables;
        handle_key(&mut a, down);
        handle_key(&mut a, key('j'));
        assert_eq!(a.scroll, 2, "j/Down scroll the Tables pane down");
        handle_key(&mut a, up);
        assert_eq!(a.scroll, 1);
        // The Events pane counts lines up from the newest entry at its
        // bottom: Up shows older entries, Down comes back to the newest.
        let mut a = app();
        a.pane = Pane::Log;
        handle_key(&mut a, up);
        handle_key(&mut a, pg_up);
        assert_eq!(a.scroll, 11);
        handle_key(&mut a, down);
        assert_eq!(a.scroll, 10);
        handle_key(&mut a, pg_down);
        handle_key(&mut a, pg_down);
        assert_eq!(a.scroll, 0, "stops at the newest entry");
    }

    #[test]
    fn selection_on_empty_lists_does_not_panic() {
        let mut a = App::new(SimTime::ZERO);
        handle_key(&mut a, key('j'));
        handle_key(&mut a, key('k'));
        assert_eq!(handle_key(&mut a, key('p')), Action::None);
        assert_eq!(handle_key(&mut a, key('l')), Action::None);
        assert_eq!(handle_key(&mut a, key('n')), Action::None);
        a.clamp();
        assert_eq!((a.device, a.probe), (0, 0));
    }

    #[test]
    fn filter_cycles_through_every_kind_and_back() {
        let mut a = app();
        let mut seen = vec![a.filter];
        for _ in 0..LogFilter::ALL.len() {
            handle_key(&mut a, key('f'));
            seen.push(a.filter);
        }
        assert_eq!(seen.first(), seen.last());
        assert_eq!(seen.len(), LogFilter::ALL.len() + 1);
    }

    #[test]
    fn help_opens_and_any_key_closes_it() {
        let mut a = app();
        handle_key(&mut a, key('?'));
        assert!(a.help);
        assert_eq!(handle_key(&mut a, key('s')), Action::None);
        assert!(!a.help);
        assert_eq!(a.time, SimTime::ZERO, "the closing key does nothing else");
    }

    #[test]
    fn power_and_link_keys_add_steps_at_the_current_time() {
        let mut a = app();
        a.time = secs(5);
        a.device = 1;
        assert_eq!(handle_key(&mut a, key('p')), Action::Rerun);
        assert_eq!(
            a.user_steps,
            vec![(
                secs(5),
                UserStep::Power {
                    device: "node-1".into(),
                    on: false
                }
            )]
        );
        assert_eq!(handle_key(&mut a, key('l')), Action::Rerun);
        assert_eq!(
            a.user_steps[1],
            (
                secs(5),
                UserStep::Link {
                    port: "node-1/eth0".into(),
                    up: false
                }
            )
        );
        assert_eq!(handle_key(&mut a, key('u')), Action::Rerun);
        assert_eq!(a.user_steps.len(), 1);
        // The switch has no link to toggle.
        a.device = 0;
        assert_eq!(handle_key(&mut a, key('l')), Action::None);
    }

    #[test]
    fn story_filter_hides_per_attempt_probe_lines() {
        let e = |kind, msg: &str| LogEntry {
            time: SimTime::ZERO,
            kind,
            device: String::new(),
            message: msg.into(),
        };
        assert!(!LogFilter::Story.keeps(&e(LogKind::Probe, "ping#3 ok rtt 1ms")));
        assert!(LogFilter::Story.keeps(&e(LogKind::Probe, "ping DOWN")));
        assert!(LogFilter::Probe.keeps(&e(LogKind::Probe, "ping#3 ok rtt 1ms")));
        assert!(!LogFilter::All.keeps(&e(LogKind::Frame, "x")));
        assert!(LogFilter::Arp.keeps(&e(LogKind::Arp, "x")));
        assert!(!LogFilter::Arp.keeps(&e(LogKind::Probe, "x")));
    }
}
