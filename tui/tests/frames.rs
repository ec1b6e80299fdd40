//! Frames of the blog's Egress failover at chosen sim times, rendered with
//! ratatui's `TestBackend` at 80x24 (tabs) and 120x40 (every pane), and what
//! the keys do to a real session (seek, power a node off from the UI).

use std::path::{Path, PathBuf};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use sim_core::time::{SimDuration, SimTime};
use tui::app::{self, Action, Pane};

fn scenario_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/egress-vlan-failover.yaml")
}

fn secs(s: u64) -> SimTime {
    SimTime::ZERO + SimDuration::from_secs(s)
}

/// The screen as text, one line per row (styles left out: the snapshot is
/// about what is written where).
fn render(session: &mut tui::Session, app: &mut app::App, w: u16, h: u16) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("test backend");
    let (outcome, view) = session.at(app).expect("runs");
    term.draw(|f| tui::ui::draw_view(f, app, view, outcome))
        .expect("draws");
    let buf = term.backend().buffer();
    let mut out = String::new();
    for y in 0..buf.area.height {
        let mut line = String::new();
        for x in 0..buf.area.width {
            line.push_str(buf[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn session() -> (tui::Session, app::App) {
    let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()));
    let scn = tui::load(&scenario_path(), &read).expect("scenario loads");
    tui::start(scn, None).expect("scenario runs")
}

#[test]
fn failover_frames() {
    let (mut s, mut a) = session();
    for t in [5, 20] {
        a.time = secs(t);
        a.pane = Pane::Topology;
        let small = render(&mut s, &mut a, 80, 24);
        insta::assert_snapshot!(format!("t{t}s_80x24"), small);
        let large = render(&mut s, &mut a, 120, 40);
        insta::assert_snapshot!(format!("t{t}s_120x40"), large);
    }
}

#[test]
fn frames_show_the_story() {
    let (mut s, mut a) = session();
    a.time = secs(5);
    let before = render(&mut s, &mut a, 120, 40);
    assert!(
        before.contains("⇄ egress egress-vlan 172.18.181.40"),
        "{before}"
    );
    // The Egress sits on vm-2 at 5 s: its row is followed by the Egress line.
    let vm2 = before
        .lines()
        .position(|l| l.contains("● k8s-node-vm-2-cl-02"))
        .expect("vm-2 listed");
    assert!(before.lines().nth(vm2 + 1).unwrap().contains("egress-vlan"));
    a.time = secs(20);
    let after = render(&mut s, &mut a, 120, 40);
    assert!(
        after.contains("○ k8s-node-vm-2-cl-02 worker OFF"),
        "{after}"
    );
    let vm1 = after
        .lines()
        .position(|l| l.contains("● k8s-node-vm-1-cl-02"))
        .expect("vm-1 listed");
    assert!(after.lines().nth(vm1 + 1).unwrap().contains("egress-vlan"));
    for title in [
        "Topology",
        "Tables",
        "Inspector",
        "Events",
        "Probes",
        "Trace",
    ] {
        assert!(after.contains(title), "{title} missing");
    }
}

#[test]
fn every_pane_renders_at_every_size_without_panicking() {
    let (mut s, mut a) = session();
    a.time = secs(12);
    a.device = 10_000;
    a.probe = 10_000;
    a.scroll = 10_000;
    for pane in Pane::ALL {
        a.pane = pane;
        for (w, h) in [(80, 24), (120, 40), (200, 60), (30, 8), (10, 3), (1, 1)] {
            render(&mut s, &mut a, w, h);
        }
    }
    a.help = true;
    let help = render(&mut s, &mut a, 80, 24);
    assert!(help.contains("Help"), "{help}");
}

#[test]
fn keys_drive_a_real_session() {
    let (mut s, mut a) = session();
    let key = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
    // `]` walks the scenario's steps: 0 s -> 1 s -> 2 s -> 3 s.
    assert_eq!(app::handle_key(&mut a, key(']')), Action::Seek);
    assert_eq!(a.time, secs(1));
    app::handle_key(&mut a, key(']'));
    app::handle_key(&mut a, key(']'));
    assert_eq!(a.time, secs(3));
    // Select vm-3 in the tree and power it off at 3 s from the UI.
    s.at(&mut a).expect("runs");
    let vm3 = a
        .devices
        .iter()
        .position(|d| d.name == "k8s-node-vm-3-cl-02")
        .expect("vm-3 is selectable");
    a.device = vm3;
    assert_eq!(app::handle_key(&mut a, key('p')), Action::Rerun);
    s.rebuild(&mut a).expect("the added step runs");
    a.time = secs(5);
    let (outcome, _) = s.at(&mut a).expect("runs");
    let id = outcome.world.device_id("k8s-node-vm-3-cl-02").unwrap();
    assert!(!outcome.world.device(id).powered(), "the UI's step ran");
    assert!(!a.devices[vm3].powered);
    // Seeking back before the step: vm-3 is on again.
    app::handle_key(&mut a, key('B'));
    let (outcome, _) = s.at(&mut a).expect("runs");
    assert!(outcome.world.device(id).powered());
}

/// 40 nodes: enough to overflow every pane at 80x24 and 120x40 while staying
/// quick in a debug build (`antlab bench tui` times 200).
#[test]
fn a_lab_larger_than_the_screen_scrolls_to_the_selection() {
    let (mut s, mut a) = tui::start(
        tui::generated_lab(
            40,
            SimTime::ZERO,
            SimTime::ZERO + SimDuration::from_millis(10),
        )
        .expect("generated lab loads"),
        None,
    )
    .expect("runs");
    a.time = SimTime::ZERO + SimDuration::from_millis(10);
    let screen = render(&mut s, &mut a, 120, 40);
    assert!(screen.contains("Topology (41 devices"), "{screen}");
    assert!(
        !screen.contains("● node-39 worker"),
        "the tree is longer than the pane"
    );
    // Select the last node: the tree scrolls to keep it in sight.
    a.device = 40;
    let screen = render(&mut s, &mut a, 80, 24);
    assert!(screen.contains("● node-39 worker"), "{screen}");
    a.device = 4;
    let screen = render(&mut s, &mut a, 80, 24);
    assert!(screen.contains("○ node-3 worker OFF"), "{screen}");
}

/// `]` walks every shipped scenario step by step and stops exactly at each
/// power and link change, the moments a failover starts, with the change
/// already on screen.
#[test]
fn the_step_key_stops_at_every_power_and_link_change() {
    use sim_core::scenario::Action as StepAction;
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let key = KeyEvent::new(KeyCode::Char(']'), KeyModifiers::NONE);
    let mut checked = 0;
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("scenarios/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    for path in files {
        let read =
            |p: &Path| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()));
        let scn = tui::load(&path, &read).expect("scenario loads");
        let changes: Vec<(SimTime, String)> = scn
            .steps
            .iter()
            .filter_map(|s| match &s.action {
                StepAction::Power { device, on: false } => Some((s.at, device.clone())),
                _ => None,
            })
            .collect();
        if changes.is_empty() {
            continue;
        }
        let (mut s, mut a) = tui::start(scn, None).expect("runs");
        let mut stops = Vec::new();
        while a.time < a.end {
            assert_eq!(app::handle_key(&mut a, key), Action::Seek);
            stops.push(a.time);
        }
        for (at, device) in changes {
            assert!(
                stops.contains(&at),
                "{}: `]` skipped the power-off of {device} at {at}: {stops:?}",
                path.display()
            );
            a.time = at;
            let (outcome, _) = s.at(&mut a).expect("runs");
            let id = outcome.world.device_id(&device).expect("device exists");
            assert!(
                !outcome.world.device(id).powered(),
                "{}: at {at} {device} is off on screen",
                path.display()
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 5,
        "only {checked} power-offs in the shipped scenarios"
    );
}

#[test]
fn values_stay_whole_at_120x40() {
    let (mut s, mut a) = session();
    a.time = secs(20);
    let screen = render(&mut s, &mut a, 120, 40);
    // The Pod's address, not "10.", even though its name does not fit.
    assert!(screen.contains(" 10.30.67.5"), "{screen}");
    assert!(
        screen.contains("⇄ egress egress-vlan 172.18.181.40"),
        "{screen}"
    );
}

#[test]
fn the_o_key_shows_the_probe_s_first_packet_through_br_int() {
    let (mut s, mut a) = session();
    a.time = secs(20);
    let key = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
    let hops = render(&mut s, &mut a, 120, 40);
    assert!(!hops.contains("(br-int)"), "{hops}");
    assert_eq!(app::handle_key(&mut a, key('o')), Action::None);
    assert_eq!(a.pane, Pane::Trace);
    let walk = render(&mut s, &mut a, 120, 40);
    assert!(walk.contains("(br-int)"), "{walk}");
    assert!(walk.contains("br-int of k8s-node-vm-1-cl-02"), "{walk}");
    // The walk was computed once for this sim time; drawing the same frame
    // again takes the kept one (no second compile) and shows the same.
    assert_eq!(s.at(&mut a).expect("runs").1.walks_computed(), 1);
    assert_eq!(render(&mut s, &mut a, 120, 40), walk);
    assert_eq!(s.at(&mut a).expect("runs").1.walks_computed(), 1);
    // Scrolled down, the walk goes table by table.
    let (outcome, view) = s.at(&mut a).expect("runs");
    let probe = &outcome.world.probes()[a.probe];
    let text =
        sim_core::report::br_int::probe_walk(&outcome.world, &outcome.cluster, probe).unwrap();
    assert!(text.contains("PipelineRootClassifier"), "{text}");
    assert!(text.contains("EgressMark"), "{text}");
    assert_eq!(view.br_int_walk(outcome, probe), text, "the kept walk");
    assert_eq!(view.walks_computed(), 1);
    // Another sim time is another view: its walk is computed afresh.
    a.time = secs(21);
    let later = render(&mut s, &mut a, 120, 40);
    assert!(later.contains("br-int of k8s-node-vm-1-cl-02"), "{later}");
    assert_eq!(s.at(&mut a).expect("runs").1.walks_computed(), 1);
    app::handle_key(&mut a, key('o'));
    assert!(!render(&mut s, &mut a, 120, 40).contains("(br-int)"));
    assert_eq!(s.at(&mut a).expect("runs").1.walks_computed(), 1);
}
