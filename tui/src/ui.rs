//! Rendering: one frame from the UI state and a simulated outcome.
//!
//! [`View`] holds what is costly to derive (the topology tree, Egress holders,
//! the tables) and is built once per simulated time, not per frame; the
//! br-int walk the Trace pane shows with `o` compiles the node's program, so
//! the view keeps each probe's walk once drawn ([`View::br_int_walk`]). Every
//! pane renders only the rows it has room for, so a huge topology costs what
//! fits on the screen. Indices from [`App`] are never trusted: lists are read
//! with `get` and offsets are clamped.
//!
//! Two layouts: below 120x36 one pane at a time under a tab bar (the Topology
//! tab also shows the newest events); at 120x36 and above every pane at once.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Tabs};
use sim_core::engine::holders;
use sim_core::model::{DeviceKind, HostRole};
use sim_core::report;
use sim_core::scenario::Scenario;
use sim_core::scenario::run::Outcome;
use sim_core::sim::DeviceRt;
use sim_core::sim::probe::{Probe, Verdict};
use sim_core::sim::trace::LogKind;
use sim_core::time::SimTime;

use crate::app::{App, DeviceEntry, HELP, Pane};

/// One row of the topology tree; `device` is the index into
/// [`View::devices`] when the row is a selectable device.
pub struct TopoRow {
    pub line: Line<'static>,
    pub device: Option<usize>,
    /// The span holding a name that may be shortened (with a `…` in its
    /// middle) when the row is wider than the pane, so that the values
    /// after it (addresses, states) stay whole.
    pub shrink: Option<usize>,
}

/// What a frame shows that is worth computing once per sim time.
pub struct View {
    pub scenario: String,
    pub now: SimTime,
    pub end: SimTime,
    pub seed: u64,
    pub topo: Vec<TopoRow>,
    /// Selectable devices, in tree order (the order `j`/`k` walk).
    pub devices: Vec<DeviceEntry>,
    pub tables: Vec<Line<'static>>,
    pub passed: usize,
    pub failed: usize,
    /// Each probe's br-int walk (or why there is none), by the sim time
    /// and the probe's name: filled when a frame first draws it.
    walks: RefCell<BTreeMap<(SimTime, String), String>>,
    /// How many walks this view computed (each compiles a program).
    walks_computed: Cell<usize>,
}

const OFF: Style = Style::new().fg(Color::Red).add_modifier(Modifier::BOLD);
const ON: Style = Style::new().fg(Color::Green);
const DIM: Style = Style::new().fg(Color::DarkGray);
const HEAD: Style = Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD);
const EGRESS: Style = Style::new().fg(Color::Yellow);

/// `12.400s`: sim time to the millisecond, what a person reads.
pub fn fmt_time(t: SimTime) -> String {
    let ns = t.as_nanos();
    format!("{}.{:03}s", ns / 1_000_000_000, (ns / 1_000_000) % 1000)
}

impl View {
    pub fn build(outcome: &Outcome, scn: &Scenario) -> View {
        let world = &outcome.world;
        let cluster = &outcome.cluster;
        let topo = &scn.topology;
        let links = world.links();
        // Link i of the topology is link i of the world (pods' links come after).
        let link_up = |i: usize| links.get(i).is_none_or(|l| l.up);
        let powered = |i: usize| world.devices().get(i).is_none_or(DeviceRt::powered);

        // What each node holds: Egress IPs and Service external IPs.
        // Each holding is its label and the address, kept apart so that a
        // narrow pane shortens the label, never the address.
        let mut holds: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        for (name, e) in &cluster.egress.egresses {
            for h in holders::egress_holders(cluster, name) {
                let ip = e.ip.map_or(String::new(), |ip| format!(" {ip}"));
                holds
                    .entry(h)
                    .or_default()
                    .push((format!("egress {name}"), ip));
            }
        }
        for (key, s) in cluster.services.iter() {
            if s.external_ip_pool().is_none() {
                continue;
            }
            for h in holders::external_ip_owners(cluster, key) {
                let ip = s.lb_ip.map_or(String::new(), |ip| format!(" {ip}"));
                holds.entry(h).or_default().push((format!("svc {key}"), ip));
            }
        }
        let mut pods: BTreeMap<&str, Vec<&sim_core::engine::PodState>> = BTreeMap::new();
        for p in cluster.pods() {
            pods.entry(cluster.node(p.node).name.as_str())
                .or_default()
                .push(p);
        }

        // Each host hangs under the first switch it is linked to; the rest
        // (hosts linked only to hosts) are listed after the switches.
        let n = topo.devices.len();
        let mut parent: Vec<Option<usize>> = vec![None; n];
        for l in &topo.links {
            let (a, b) = (l.a.device.0 as usize, l.b.device.0 as usize);
            let is_switch = |i: usize| {
                matches!(
                    topo.devices.get(i).map(|d| &d.kind),
                    Some(DeviceKind::Switch(_))
                )
            };
            if is_switch(a) && !is_switch(b) && b < n && parent[b].is_none() {
                parent[b] = Some(a);
            }
            if is_switch(b) && !is_switch(a) && a < n && parent[a].is_none() {
                parent[a] = Some(b);
            }
        }

        let mut rows: Vec<TopoRow> = Vec::new();
        let mut devices: Vec<DeviceEntry> = Vec::new();
        let entry = |i: usize, devices: &mut Vec<DeviceEntry>| -> usize {
            let d = &topo.devices[i];
            let link = topo
                .links
                .iter()
                .enumerate()
                .find(|(_, l)| l.a.device.0 as usize == i || l.b.device.0 as usize == i)
                .map(|(li, l)| {
                    let p = if l.a.device.0 as usize == i { l.a } else { l.b };
                    (world.port_name(p), link_up(li))
                });
            devices.push(DeviceEntry {
                name: d.name.clone(),
                powered: powered(i),
                link,
            });
            devices.len() - 1
        };
        let host_row = |i: usize, prefix: &str, link: Option<bool>, idx: usize| -> Vec<TopoRow> {
            let d = &topo.devices[i];
            let on = powered(i);
            let mut spans = vec![Span::raw(prefix.to_string())];
            match link {
                Some(false) => spans.push(Span::styled("╳ ", OFF)),
                Some(true) => spans.push(Span::raw("─ ")),
                None => {}
            }
            spans.push(if on {
                Span::styled("● ", ON)
            } else {
                Span::styled("○ ", OFF)
            });
            let name_span = spans.len();
            spans.push(Span::styled(
                d.name.clone(),
                if on { Style::new() } else { OFF },
            ));
            let role = match &d.kind {
                DeviceKind::Host(h) => match &h.role {
                    HostRole::Node(ns) if ns.control_plane => "cp",
                    HostRole::Node(_) => "worker",
                    HostRole::Pod { .. } => "pod",
                    HostRole::Router => "router",
                    HostRole::External => "host",
                },
                DeviceKind::Switch(_) => "switch",
            };
            spans.push(Span::styled(format!(" {role}"), DIM));
            if !on {
                spans.push(Span::styled(" OFF", OFF));
            } else if cluster.node_by_name(&d.name).is_some_and(|n| !n.ready) {
                spans.push(Span::styled(" NotReady", OFF));
            }
            if link == Some(false) {
                spans.push(Span::styled(" LINK DOWN", OFF));
            }
            let mut out = vec![TopoRow {
                line: Line::from(spans),
                device: Some(idx),
                shrink: Some(name_span),
            }];
            // Rows under a device continue the tree's bar unless it ended here.
            let cont = match prefix {
                "├" => "│   ",
                "└" => "    ",
                _ => "  ",
            }
            .to_string();
            for (label, ip) in holds.get(&d.name).into_iter().flatten() {
                out.push(TopoRow {
                    line: Line::from(vec![
                        Span::raw(cont.clone()),
                        Span::styled(format!("⇄ {label}"), EGRESS),
                        Span::styled(ip.clone(), EGRESS),
                    ]),
                    device: None,
                    shrink: Some(1),
                });
            }
            for p in pods.get(d.name.as_str()).into_iter().flatten() {
                let up = world
                    .device_id(&format!("{}/{}", p.namespace, p.name))
                    .is_some_and(|id| world.device(id).powered());
                out.push(TopoRow {
                    line: Line::from(vec![
                        Span::raw(cont.clone()),
                        Span::styled(if up { "◦ " } else { "✗ " }, if up { DIM } else { OFF }),
                        Span::styled(format!("{}/{}", p.namespace, p.name), DIM),
                        Span::styled(format!(" {}", p.ip), DIM),
                    ]),
                    device: None,
                    shrink: Some(2),
                });
            }
            out
        };

        for (si, d) in topo.devices.iter().enumerate() {
            let DeviceKind::Switch(sw) = &d.kind else {
                continue;
            };
            let idx = entry(si, &mut devices);
            let on = powered(si);
            let mut vlans: Vec<u16> = sw.ports.iter().flat_map(|p| p.vlan.vlans()).collect();
            vlans.sort_unstable();
            vlans.dedup();
            let vlans: Vec<String> = vlans.iter().map(u16::to_string).collect();
            let mut spans = vec![
                Span::styled(if on { "▣ " } else { "□ " }, if on { HEAD } else { OFF }),
                Span::styled(d.name.clone(), if on { HEAD } else { OFF }),
                Span::styled(format!(" vlans {}", vlans.join(",")), DIM),
            ];
            if !sw.svis.is_empty() {
                spans.push(Span::styled(format!(" +{} SVI", sw.svis.len()), DIM));
            }
            if !on {
                spans.push(Span::styled(" OFF", OFF));
            }
            rows.push(TopoRow {
                line: Line::from(spans),
                device: Some(idx),
                shrink: Some(1),
            });
            // This switch's links, in topology order.
            let attached: Vec<(usize, usize, String)> = topo
                .links
                .iter()
                .enumerate()
                .filter_map(|(li, l)| {
                    let (me, other) = if l.a.device.0 as usize == si {
                        (l.a, l.b)
                    } else if l.b.device.0 as usize == si {
                        (l.b, l.a)
                    } else {
                        return None;
                    };
                    let port = match sw.ports.get(me.port as usize) {
                        Some(p) => p.name.clone(),
                        None => "?".into(),
                    };
                    Some((li, other.device.0 as usize, port))
                })
                .collect();
            for (k, (li, other, port)) in attached.iter().enumerate() {
                let last = k + 1 == attached.len();
                let prefix = if last { "└" } else { "├" };
                let up = link_up(*li);
                let Some(od) = topo.devices.get(*other) else {
                    continue;
                };
                if parent.get(*other).copied().flatten() == Some(si) {
                    let idx = entry(*other, &mut devices);
                    rows.extend(host_row(*other, prefix, Some(up), idx));
                } else {
                    // Another switch, or a host listed elsewhere: a reference.
                    rows.push(TopoRow {
                        line: Line::from(vec![
                            Span::raw(prefix.to_string()),
                            if up {
                                Span::raw("═ ")
                            } else {
                                Span::styled("╳ ", OFF)
                            },
                            Span::styled(format!("{} via {port}", od.name), DIM),
                            if up {
                                Span::raw("")
                            } else {
                                Span::styled(" LINK DOWN", OFF)
                            },
                        ]),
                        device: None,
                        shrink: Some(2),
                    });
                }
            }
        }
        // Hosts under no switch (and a topology without switches).
        for (i, d) in topo.devices.iter().enumerate() {
            if matches!(d.kind, DeviceKind::Switch(_)) || parent[i].is_some() {
                continue;
            }
            let idx = entry(i, &mut devices);
            let mut r = host_row(i, "", None, idx);
            let peers: Vec<&str> = topo
                .links
                .iter()
                .filter_map(|l| {
                    if l.a.device.0 as usize == i {
                        Some(l.b.device.0 as usize)
                    } else if l.b.device.0 as usize == i {
                        Some(l.a.device.0 as usize)
                    } else {
                        None
                    }
                })
                .filter_map(|j| topo.devices.get(j).map(|d| d.name.as_str()))
                .collect();
            if let Some(first) = r.first_mut()
                && !peers.is_empty()
            {
                first
                    .line
                    .spans
                    .push(Span::styled(format!(" ↔ {}", peers.join(",")), DIM));
            }
            rows.extend(r);
        }

        let now_secs = world.now().as_nanos() / 1_000_000_000;
        let mut tables: Vec<Line<'static>> = Vec::new();
        let mut section = |title: &str, text: String| {
            tables.push(Line::styled(title.to_string(), HEAD));
            tables.extend(text.lines().map(|l| Line::raw(l.to_string())));
            tables.push(Line::raw(""));
        };
        section("Egresses", report::egresses(cluster, now_secs));
        section(
            "ExternalIPPools",
            report::external_ip_pools(cluster, now_secs),
        );
        if !cluster.services.is_empty() {
            section("Services", report::services(cluster, now_secs));
            section(
                "Service external IPs",
                report::service_external_ips(cluster),
            );
        }
        section(
            "Memberlist",
            report::memberlist(world, cluster, None).unwrap_or_else(|e| e + "\n"),
        );
        section("Nodes", report::nodes(cluster));

        let passed = outcome.expectations.iter().filter(|e| e.passed).count();
        View {
            scenario: scn.name.clone(),
            now: world.now(),
            end: scn.until,
            seed: outcome.seed,
            topo: rows,
            devices,
            tables,
            passed,
            failed: outcome.expectations.len() - passed,
            walks: RefCell::new(BTreeMap::new()),
            walks_computed: Cell::new(0),
        }
    }

    /// What the Trace pane shows with `o`: `probe`'s first packet through
    /// its node's br-int ([`report::br_int::probe_walk`], or the reason
    /// there is none, as a line). The walk depends on the outcome's cluster
    /// at its sim time and on the probe, so it is computed once per sim time
    /// and probe and reused by every later frame (a view belongs to one
    /// outcome: the session builds a new one when the time moves or the
    /// scenario changes).
    pub fn br_int_walk(&self, outcome: &Outcome, probe: &Probe) -> String {
        let key = (outcome.world.now(), probe.spec().name.clone());
        if let Some(w) = self.walks.borrow().get(&key) {
            return w.clone();
        }
        let walk = report::br_int::probe_walk(&outcome.world, &outcome.cluster, probe)
            .unwrap_or_else(|e| e + "\n");
        self.walks_computed.set(self.walks_computed.get() + 1);
        self.walks.borrow_mut().insert(key, walk.clone());
        walk
    }

    /// How many br-int walks [`View::br_int_walk`] computed (not taken from
    /// what it kept) for this view.
    pub fn walks_computed(&self) -> usize {
        self.walks_computed.get()
    }
}

/// Draws a frame straight from an outcome (builds the [`View`] first; the
/// driver caches the view instead).
pub fn draw(frame: &mut Frame, app: &App, outcome: &Outcome, scn: &Scenario) {
    let view = View::build(outcome, scn);
    draw_view(frame, app, &view, outcome);
}

/// Whether the terminal is big enough for every pane at once.
pub fn is_large(area: Rect) -> bool {
    area.width >= 120 && area.height >= 36
}

pub fn draw_view(frame: &mut Frame, app: &App, view: &View, outcome: &Outcome) {
    let area = frame.area();
    if area.width < 30 || area.height < 8 {
        frame.render_widget(
            Paragraph::new("antlab tui: the terminal is too small (30x8 at least)"),
            area,
        );
        return;
    }
    let [status, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_status(frame, status, app, view);
    draw_footer(frame, footer, app);

    if is_large(area) {
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(40), Constraint::Percentage(60)])
                .areas(body);
        let probe_h = (outcome.world.probes().len() as u16 * 2 + 2).clamp(4, 12);
        let [topo, probes] =
            Layout::vertical([Constraint::Fill(1), Constraint::Length(probe_h)]).areas(left);
        let [tables, mid, log] = Layout::vertical([
            Constraint::Percentage(30),
            Constraint::Percentage(35),
            Constraint::Fill(1),
        ])
        .areas(right);
        let [inspector, trace] =
            Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(mid);
        draw_pane(frame, topo, Pane::Topology, app, view, outcome);
        draw_pane(frame, probes, Pane::Probes, app, view, outcome);
        draw_pane(frame, tables, Pane::Tables, app, view, outcome);
        draw_pane(frame, inspector, Pane::Inspector, app, view, outcome);
        draw_pane(frame, trace, Pane::Trace, app, view, outcome);
        draw_pane(frame, log, Pane::Log, app, view, outcome);
    } else {
        let [tabs, main] =
            Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(body);
        let titles: Vec<String> = Pane::ALL
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{}:{}", i + 1, p.title()))
            .collect();
        let selected = Pane::ALL.iter().position(|p| *p == app.pane).unwrap_or(0);
        frame.render_widget(
            Tabs::new(titles)
                .select(selected)
                .divider("│")
                .padding("", "")
                .highlight_style(Style::new().fg(Color::Black).bg(Color::Yellow)),
            tabs,
        );
        if app.pane == Pane::Topology && main.height >= 14 {
            let [topo, log] =
                Layout::vertical([Constraint::Fill(1), Constraint::Length(6)]).areas(main);
            draw_pane(frame, topo, Pane::Topology, app, view, outcome);
            draw_pane(frame, log, Pane::Log, app, view, outcome);
        } else {
            draw_pane(frame, main, app.pane, app, view, outcome);
        }
    }
    if app.help {
        draw_help(frame, area);
    }
}

fn draw_status(frame: &mut Frame, area: Rect, app: &App, view: &View) {
    let state = if app.playing {
        "▶ playing"
    } else {
        "⏸ paused"
    };
    let mut spans = vec![
        Span::styled(
            format!(" {} ", view.scenario),
            Style::new().add_modifier(Modifier::BOLD),
        ),
        Span::raw(format!(
            "t={} / {}  {state} x{}  seed {}",
            fmt_time(view.now),
            fmt_time(view.end),
            app.speed_factor(),
            view.seed
        )),
    ];
    if view.passed + view.failed > 0 {
        spans.push(Span::styled(format!("  ✓{}", view.passed), ON));
        spans.push(Span::styled(
            format!(" ✗{}", view.failed),
            if view.failed > 0 { OFF } else { DIM },
        ));
    }
    if !app.user_steps.is_empty() {
        spans.push(Span::styled(
            format!("  +{} step(s) from the UI", app.user_steps.len()),
            EGRESS,
        ));
    }
    frame.render_widget(
        Paragraph::new(Line::from(spans)).style(Style::new().bg(Color::Indexed(236))),
        area,
    );
}

fn draw_footer(frame: &mut Frame, area: Rect, app: &App) {
    let text = if app.message.is_empty() {
        "space play  n/s/] step  b back  +/- speed  Tab pane  f filter  p power  ? help  q quit"
            .to_string()
    } else {
        app.message.clone()
    };
    frame.render_widget(Paragraph::new(Span::styled(text, DIM)), area);
}

fn block(title: String, focused: bool) -> Block<'static> {
    let style = if focused {
        Style::new().fg(Color::Yellow)
    } else {
        Style::new().fg(Color::Gray)
    };
    Block::bordered().border_style(style).title(title)
}

fn draw_pane(frame: &mut Frame, area: Rect, pane: Pane, app: &App, view: &View, outcome: &Outcome) {
    let focused = app.pane == pane;
    let inner_h = area.height.saturating_sub(2) as usize;
    let inner_w = area.width.saturating_sub(2) as usize;
    match pane {
        Pane::Topology => {
            let sel_row = view
                .topo
                .iter()
                .position(|r| r.device == Some(app.device))
                .unwrap_or(0);
            // Keep the selected device in sight.
            let offset = (sel_row + 1).saturating_sub(inner_h);
            let lines: Vec<Line> = view
                .topo
                .iter()
                .skip(offset)
                .take(inner_h)
                .map(|r| {
                    let line = fit_row(r, inner_w);
                    if r.device == Some(app.device) {
                        line.patch_style(Style::new().add_modifier(Modifier::REVERSED))
                    } else {
                        line
                    }
                })
                .collect();
            let title = format!(
                " Topology ({} devices, {} pods) ",
                view.devices.len(),
                outcome.cluster.pod_count()
            );
            frame.render_widget(Paragraph::new(lines).block(block(title, focused)), area);
        }
        Pane::Tables => {
            let scroll = if focused { app.scroll } else { 0 };
            let max = view.tables.len().saturating_sub(inner_h);
            let lines: Vec<Line> = view
                .tables
                .iter()
                .skip(scroll.min(max))
                .take(inner_h)
                .cloned()
                .collect();
            frame.render_widget(
                Paragraph::new(lines).block(block(" Tables ".into(), focused)),
                area,
            );
        }
        Pane::Inspector => {
            let name = app
                .devices
                .get(app.device)
                .or_else(|| view.devices.get(app.device))
                .map(|d| d.name.clone())
                .unwrap_or_default();
            let text = inspect(outcome, &name);
            let scroll = if focused { app.scroll } else { 0 };
            let wrapped = wrap_text(&text, inner_w);
            let lines: Vec<Line> = wrapped
                .iter()
                .skip(scroll.min(wrapped.len().saturating_sub(inner_h)))
                .take(inner_h)
                .map(|l| {
                    if l.ends_with(':') && !l.starts_with(' ') {
                        Line::styled(l.to_string(), HEAD)
                    } else {
                        Line::raw(l.to_string())
                    }
                })
                .collect();
            frame.render_widget(
                Paragraph::new(lines).block(block(format!(" Inspector: {name} "), focused)),
                area,
            );
        }
        Pane::Log => {
            let dev = if app.device_filter {
                app.selected_device().map(|d| d.name.as_str())
            } else {
                None
            };
            let scroll = if focused { app.scroll } else { 0 };
            // A run stopped mid-way still logs its closing summary; it
            // belongs to the end of the scenario, not to this moment.
            let stopped_early = view.now < view.end;
            let mut lines: Vec<Line> = outcome
                .world
                .log()
                .iter()
                .rev()
                .filter(|e| app.filter.keeps(e))
                .filter(|e| dev.is_none_or(|d| e.device == d))
                .filter(|e| !(stopped_early && is_run_summary(e)))
                .skip(scroll)
                .take(inner_h)
                .map(|e| {
                    let style = match e.kind {
                        LogKind::Power | LogKind::Link | LogKind::Warn | LogKind::Drop => OFF,
                        LogKind::Step => HEAD,
                        LogKind::Probe if e.message.contains("DOWN") => OFF,
                        LogKind::Probe => ON,
                        LogKind::Engine => Style::new().fg(Color::Magenta),
                        LogKind::Arp => Style::new().fg(Color::Blue),
                        LogKind::Expect if e.message.contains("FAIL") => OFF,
                        LogKind::Expect => ON,
                        _ => Style::new(),
                    };
                    let msg = e.message.lines().next().unwrap_or("");
                    let who = if e.device.is_empty() {
                        String::new()
                    } else {
                        format!("{}: ", e.device)
                    };
                    Line::from(vec![
                        Span::styled(format!("{:>8} ", fmt_time(e.time)), DIM),
                        Span::styled(format!("{:<6} ", e.kind.name()), style),
                        Span::raw(format!("{who}{msg}")),
                    ])
                })
                .collect();
            lines.reverse();
            let dev_note = dev.map_or(String::new(), |d| format!(", {d}"));
            frame.render_widget(
                Paragraph::new(lines).block(block(
                    format!(" Events [f: {}{dev_note}] ", app.filter.name()),
                    focused,
                )),
                area,
            );
        }
        Pane::Probes => {
            let probes = outcome.world.probes();
            let per = 2usize;
            let visible = (inner_h / per).max(1);
            let sel = app.probe.min(probes.len().saturating_sub(1));
            let offset = (sel + 1).saturating_sub(visible);
            let mut lines: Vec<Line> = Vec::new();
            let now = outcome.world.now();
            for (i, p) in probes.iter().enumerate().skip(offset).take(visible) {
                let s = p.stats();
                let outage = match p.down_since() {
                    Some(t) => Span::styled(
                        format!(" DOWN {}", fmt_duration(now.since(t).as_nanos())),
                        OFF,
                    ),
                    None if p.is_running() => Span::styled(" up", ON),
                    None => Span::styled(" stopped", DIM),
                };
                let head = vec![
                    Span::styled(if i == sel { "▶ " } else { "  " }.to_string(), EGRESS),
                    Span::styled(
                        p.spec().name.clone(),
                        Style::new().add_modifier(Modifier::BOLD),
                    ),
                    outage,
                    Span::styled(
                        format!(
                            "  ok {} fail {} longest {}",
                            s.ok,
                            s.failed,
                            fmt_duration(s.longest_outage.as_nanos())
                        ),
                        DIM,
                    ),
                ];
                lines.push(Line::from(head));
                // The history, newest on the right: one cell per attempt.
                let path = format!("  {} → {} ", p.spec().from_label, p.spec().to_label);
                let path = truncate(&path, inner_w / 2);
                let room = inner_w.saturating_sub(path.chars().count());
                let mut spark = vec![Span::styled(path, DIM)];
                let mut cells = String::new();
                let mut last_style = None;
                for (c, st) in history(p.attempts(), room) {
                    if last_style.is_some_and(|l| l != st) {
                        spark.push(Span::styled(
                            std::mem::take(&mut cells),
                            last_style.unwrap_or(DIM),
                        ));
                    }
                    cells.push(c);
                    last_style = Some(st);
                }
                if !cells.is_empty() {
                    spark.push(Span::styled(cells, last_style.unwrap_or(DIM)));
                }
                lines.push(Line::from(spark));
            }
            if probes.is_empty() {
                lines.push(Line::styled("no probe started yet", DIM));
            }
            frame.render_widget(
                Paragraph::new(lines).block(block(
                    format!(" Probes ({}) ▇ ok ▁ fail ", probes.len()),
                    focused,
                )),
                area,
            );
        }
        Pane::Trace => {
            let probes = outcome.world.probes();
            let p = probes.get(app.probe.min(probes.len().saturating_sub(1)));
            let text = match p {
                None => "no probe started yet".to_string(),
                Some(p) if app.trace_br_int => view.br_int_walk(outcome, p),
                Some(p) => trace_text(p),
            };
            let scroll = if focused { app.scroll } else { 0 };
            let wrapped = wrap_text(&text, inner_w);
            let count = wrapped.len();
            let lines: Vec<Line> = wrapped
                .iter()
                .skip(scroll.min(count.saturating_sub(inner_h)))
                .take(inner_h)
                .map(|l| {
                    let t = l.trim_start();
                    if t.starts_with("verdict: FAILED") {
                        Line::styled(l.to_string(), OFF)
                    } else if t.starts_with("verdict") {
                        Line::styled(l.to_string(), ON)
                    } else if t.starts_with("<-") {
                        Line::styled(l.to_string(), Style::new().fg(Color::Blue))
                    } else {
                        Line::raw(l.to_string())
                    }
                })
                .collect();
            let name = p.map_or(String::new(), |p| p.spec().name.clone());
            frame.render_widget(
                Paragraph::new(lines).block(block(
                    format!(
                        " Trace: {name}{} ",
                        if app.trace_br_int { " (br-int)" } else { "" }
                    ),
                    focused,
                )),
                area,
            );
        }
    }
}

/// Whether `e` is one of the lines a run logs when it stops (the outage
/// breakdown and the expectation count).
fn is_run_summary(e: &sim_core::sim::trace::LogEntry) -> bool {
    e.kind == LogKind::Step
        && (e.message.starts_with("end of scenario")
            || e.message.starts_with("failover of Egress "))
}

/// The probe history in `room` cells, oldest first: when there are more
/// attempts than cells, each cell covers several, so the whole history
/// (and an outage long past) stays visible. Mixed cells are half high.
fn history(attempts: &[sim_core::sim::probe::Attempt], room: usize) -> Vec<(char, Style)> {
    if room == 0 || attempts.is_empty() {
        return Vec::new();
    }
    let per = attempts.len().div_ceil(room);
    attempts
        .chunks(per)
        .map(|chunk| {
            let ok = chunk.iter().filter(|a| a.ok()).count();
            let fail = chunk
                .iter()
                .filter(|a| matches!(a.verdict, Verdict::Fail { .. }))
                .count();
            match (ok, fail) {
                (0, 0) => ('·', DIM),
                (_, 0) => ('▇', ON),
                (0, _) => ('▁', OFF),
                _ => ('▄', EGRESS),
            }
        })
        .collect()
}

/// A probe's last finished attempt hop by hop, times relative to the send
/// so the lines fit a narrow pane.
fn trace_text(p: &sim_core::sim::probe::Probe) -> String {
    let Some(a) = p.last_finished() else {
        return format!("{} has no finished attempt yet\n", p.spec().name);
    };
    let mut out = format!("#{} sent at {}\n", a.seq, fmt_time(a.sent));
    for h in &a.path {
        let dir = if h.reply { "<-" } else { "->" };
        let us = h.time.since(a.sent).as_nanos() / 1000;
        out.push_str(&format!("{dir} +{us:>4}us {} {}\n", h.device, h.text));
    }
    match &a.verdict {
        Verdict::Ok { rtt_ns } => out.push_str(&format!("verdict: ok, rtt {}us\n", rtt_ns / 1000)),
        Verdict::Fail { reason } => out.push_str(&format!("verdict: FAILED: {reason}\n")),
        Verdict::Pending => out.push_str("verdict: pending\n"),
    }
    out
}

/// ARP, MAC and routing tables of one device, as text.
fn inspect(outcome: &Outcome, name: &str) -> String {
    let world = &outcome.world;
    let Some(id) = world.device_id(name) else {
        return "no device selected".into();
    };
    let dev = world.device(id);
    let mut out = String::new();
    if !dev.powered() {
        out.push_str("POWERED OFF (tables as they were)\n");
    }
    if dev.stack().is_some() {
        let arp = report::arp(world, name).unwrap_or_else(|e| e + "\n");
        out.push_str(&arp.replacen(&format!("ARP cache of {name}"), "ARP:", 1));
        out.push('\n');
    }
    if let DeviceRt::Switch(_) = dev {
        let macs = report::mac(world, name).unwrap_or_else(|e| e + "\n");
        out.push_str(&macs.replacen(&format!("MAC table of {name}"), "MAC:", 1));
        out.push('\n');
    }
    if dev.stack().is_some() {
        let routes = report::routes(world, name).unwrap_or_else(|e| e + "\n");
        out.push_str(&routes.replacen(&format!("routing of {name}"), "Routes and rules:", 1));
    }
    out
}

fn fmt_duration(ns: u64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    format!("{}.{:01}s", ns / 1_000_000_000, (ns / 100_000_000) % 10)
}

/// A topology row made to fit `width` columns: when it is wider, its name
/// span loses characters from its middle (marked `…`) so that the values
/// after the name (addresses, OFF, NotReady) stay whole.
pub fn fit_row(row: &TopoRow, width: usize) -> Line<'static> {
    let mut line = row.line.clone();
    let over = line.width().saturating_sub(width);
    if over == 0 {
        return line;
    }
    if let Some(span) = row.shrink.and_then(|i| line.spans.get_mut(i)) {
        let chars: Vec<char> = span.content.chars().collect();
        // Keep at least a few characters of the name on each side.
        let keep = chars.len().saturating_sub(over + 1).max(4);
        if keep + 1 < chars.len() {
            let head = keep.div_ceil(2);
            let tail = keep - head;
            let mut short: String = chars[..head].iter().collect();
            short.push('…');
            short.extend(&chars[chars.len() - tail..]);
            span.content = short.into();
        }
    }
    line
}

/// `text` with every line longer than `width` columns broken into pieces
/// (at a space where there is one, else mid-word), each continuation
/// indented by two spaces, so that no value is cut off at the pane's edge.
pub fn wrap_text(text: &str, width: usize) -> Vec<String> {
    let width = width.max(8);
    let mut out = Vec::new();
    for line in text.lines() {
        let mut rest: Vec<char> = line.chars().collect();
        let mut room = width;
        let mut first = true;
        while rest.len() > room {
            // Break after the last space that leaves a non-empty piece.
            let cut = rest[..=room]
                .iter()
                .rposition(|c| *c == ' ')
                .filter(|&i| rest[..i].iter().any(|c| *c != ' '))
                .unwrap_or(room);
            let piece: String = rest[..cut].iter().collect();
            out.push(if first { piece } else { format!("  {piece}") });
            rest.drain(..cut);
            while rest.first() == Some(&' ') {
                rest.remove(0);
            }
            first = false;
            room = width - 2;
        }
        let piece: String = rest.iter().collect();
        out.push(if first { piece } else { format!("  {piece}") });
    }
    out
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

fn draw_help(frame: &mut Frame, area: Rect) {
    let w = 60.min(area.width);
    let h = (HELP.len() as u16 + 2).min(area.height);
    let r = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    let lines: Vec<Line> = HELP
        .iter()
        .map(|(k, v)| {
            Line::from(vec![
                Span::styled(format!("{k:>10}  "), EGRESS),
                Span::raw(*v),
            ])
        })
        .collect();
    frame.render_widget(Clear, r);
    frame.render_widget(
        Paragraph::new(lines).block(block(" Help (any key closes) ".into(), true)),
        r,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(spans: Vec<&'static str>, shrink: Option<usize>) -> TopoRow {
        TopoRow {
            line: Line::from(spans.into_iter().map(Span::raw).collect::<Vec<_>>()),
            device: None,
            shrink,
        }
    }

    fn text(l: &Line) -> String {
        l.spans.iter().map(|s| s.content.as_ref()).collect()
    }

    #[test]
    fn a_narrow_row_shortens_the_name_and_keeps_the_address() {
        let r = row(
            vec![
                "│   ",
                "◦ ",
                "egress/ubuntu-20-04-59d474f9df-dv9ms",
                " 10.30.67.5",
            ],
            Some(2),
        );
        let fitted = fit_row(&r, 44);
        assert_eq!(fitted.width(), 44);
        let t = text(&fitted);
        assert!(t.ends_with(" 10.30.67.5"), "{t}");
        assert!(t.contains('…'), "{t}");
        assert!(t.starts_with("│   ◦ egress/"), "{t}");
        assert!(t.contains("dv9ms"), "the name keeps its end: {t}");
        // A row that fits is left alone.
        assert_eq!(text(&fit_row(&r, 80)), text(&r.line));
    }

    #[test]
    fn a_row_without_a_name_to_shrink_is_left_for_the_pane_to_cut() {
        let r = row(vec!["a very long line with nothing to shorten"], None);
        assert_eq!(text(&fit_row(&r, 10)), text(&r.line));
    }

    #[test]
    fn wrapped_text_keeps_every_value_whole() {
        let text = "short\n216    bc:24:11:4a:10:25   node-vm-1-long-port   16.9s";
        let lines = wrap_text(text, 24);
        assert!(lines.iter().all(|l| l.chars().count() <= 24), "{lines:?}");
        assert_eq!(lines[0], "short");
        // Broken at spaces: every word of the line is on one screen line.
        for word in text.lines().nth(1).unwrap().split_whitespace() {
            assert!(
                lines.iter().any(|l| l.contains(word)),
                "{word} cut: {lines:?}"
            );
        }
        // A word longer than the pane is split rather than lost.
        let long = wrap_text("0123456789abcdefghij", 8);
        assert_eq!(long.concat().replace(' ', ""), "0123456789abcdefghij");
    }
}
