//! SVG pictures: a sweep as a heat map (failures × probes, colour = the
//! outage) and a run's probe timelines with its failures marked. Drawn
//! with `plotters`' primitives into a string; text is SVG `<text>`, so no
//! font is needed and names stay searchable in the file.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use sim_core::sim::probe::{Attempt, Verdict};
use sim_core::sweep::Row;
use sim_core::sweep::measure::human;

const ROW_H: i32 = 24;
const COL_W: i32 = 150;
const CHAR_W: i32 = 7;
const FONT: (&str, u32) = ("sans-serif", 13);

/// No outage.
const CALM: RGBColor = RGBColor(0xe8, 0xf5, 0xe9);
/// The shortest and the longest outage; others in between.
const LOW: RGBColor = RGBColor(0xff, 0xe0, 0x82);
const HIGH: RGBColor = RGBColor(0xb7, 0x1c, 0x1c);
const OK: RGBColor = RGBColor(0x2e, 0x7d, 0x32);
const FAIL: RGBColor = RGBColor(0xc6, 0x28, 0x28);

fn mix(a: RGBColor, b: RGBColor, t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0);
    let c = |x: u8, y: u8| (f64::from(x) + (f64::from(y) - f64::from(x)) * t).round() as u8;
    RGBColor(c(a.0, b.0), c(a.1, b.1), c(a.2, b.2))
}

fn text<'a>(s: &'a str, at: (i32, i32), anchor: HPos) -> Text<'a, (i32, i32), &'a str> {
    let style = TextStyle::from(FONT.into_font()).pos(Pos::new(anchor, VPos::Center));
    Text::new(s, at, style)
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

fn draw_err<E: std::error::Error + Send + Sync>(e: DrawingAreaErrorKind<E>) -> String {
    format!("drawing the SVG: {e}")
}

/// An SVG of `width` x `height` with `title` at the top left and what
/// `draw` adds.
fn canvas(
    width: i32,
    height: i32,
    title: &str,
    draw: impl FnOnce(&Area) -> Result<(), String>,
) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root: Area =
            SVGBackend::with_string(&mut svg, (width as u32, height as u32)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        root.draw(&text(title, (10, 18), HPos::Left))
            .map_err(draw_err)?;
        draw(&root)?;
        root.present().map_err(draw_err)?;
    }
    Ok(svg)
}

/// The heat map of a sweep's rows (in their order): a row per failure, a
/// column per probe, each cell coloured by that probe's outage (pale green
/// for none, yellow to dark red up to the longest, black for a black hole)
/// and labelled with it.
pub fn sweep_heat_map(title: &str, rows: &[Row]) -> Result<String, String> {
    let mut probes: Vec<String> = Vec::new();
    for r in rows {
        for p in &r.probes {
            if !probes.contains(&p.name) {
                probes.push(p.name.clone());
            }
        }
    }
    let label_w = rows
        .iter()
        .map(|r| r.failure.len() as i32)
        .max()
        .unwrap_or(8)
        * CHAR_W
        + 20;
    let longest = rows
        .iter()
        .flat_map(|r| &r.probes)
        .filter(|p| !p.black_hole)
        .map(|p| p.outage_ns)
        .max()
        .unwrap_or(0)
        .max(1);
    let legend = format!(
        "outage from the failure until the probe's traffic is back: up to {}",
        human(longest)
    );
    let steps = 20;
    let cols = probes.len().max(1) as i32;
    let width = (label_w + cols * COL_W + 20)
        .max(title.len() as i32 * CHAR_W + 20)
        .max(label_w + steps * 8 + 20 + legend.len() as i32 * CHAR_W);
    let top = 70;
    let height = top + rows.len() as i32 * ROW_H + 60;
    canvas(width, height, title, |root| {
        for (c, name) in probes.iter().enumerate() {
            let x = label_w + c as i32 * COL_W + COL_W / 2;
            root.draw(&text(name, (x, top - 14), HPos::Center))
                .map_err(draw_err)?;
        }
        for (i, r) in rows.iter().enumerate() {
            let y = top + i as i32 * ROW_H;
            root.draw(&text(&r.failure, (10, y + ROW_H / 2), HPos::Left))
                .map_err(draw_err)?;
            for (c, name) in probes.iter().enumerate() {
                let x = label_w + c as i32 * COL_W;
                let cell = r.probes.iter().find(|p| &p.name == name);
                let (fill, label, ink) = match cell {
                    None => (WHITE, String::new(), BLACK),
                    Some(p) if p.black_hole => (BLACK, "black hole".to_string(), WHITE),
                    Some(p) if p.outage_ns == 0 => (CALM, "0".to_string(), BLACK),
                    Some(p) => {
                        let t = p.outage_ns as f64 / longest as f64;
                        let ink = if t > 0.5 { WHITE } else { BLACK };
                        (mix(LOW, HIGH, t), human(p.outage_ns), ink)
                    }
                };
                root.draw(&Rectangle::new(
                    [(x + 1, y + 1), (x + COL_W - 1, y + ROW_H - 1)],
                    fill.filled(),
                ))
                .map_err(draw_err)?;
                let style = TextStyle::from(FONT.into_font())
                    .color(&ink)
                    .pos(Pos::new(HPos::Center, VPos::Center));
                root.draw(&Text::new(label, (x + COL_W / 2, y + ROW_H / 2), style))
                    .map_err(draw_err)?;
            }
        }
        // The scale: none, the shortest shade, the longest.
        let y = top + rows.len() as i32 * ROW_H + 20;
        for s in 0..steps {
            let x = label_w + s * 8;
            root.draw(&Rectangle::new(
                [(x, y), (x + 8, y + 12)],
                mix(LOW, HIGH, f64::from(s) / f64::from(steps - 1)).filled(),
            ))
            .map_err(draw_err)?;
        }
        root.draw(&text(
            &legend,
            (label_w + steps * 8 + 10, y + 6),
            HPos::Left,
        ))
        .map_err(draw_err)?;
        Ok(())
    })
}

/// A mark on a timeline: a failure (red) or its end (green), at ns.
pub struct Mark {
    pub at_ns: u64,
    pub label: String,
    pub failure: bool,
}

/// A run's probes, one lane each over `0..end_ns` of sim time: a tick per
/// attempt at its send time (green answered, red failed, grey no verdict
/// yet) and a dashed line per mark.
pub fn probe_timelines(
    title: &str,
    end_ns: u64,
    probes: &[(String, &[Attempt])],
    marks: &[Mark],
) -> Result<String, String> {
    let label_w = probes
        .iter()
        .map(|(n, _)| n.len() as i32)
        .max()
        .unwrap_or(8)
        * CHAR_W
        + 20;
    let plot_w = 900;
    let width = label_w + plot_w + 30;
    let top = 60;
    let lanes = probes.len().max(1) as i32;
    let bottom = top + lanes * ROW_H;
    let height = bottom + 40 + marks.len() as i32 * 16;
    let end = end_ns.max(1);
    let x_of =
        |ns: u64| label_w + ((u128::from(ns.min(end)) * plot_w as u128) / u128::from(end)) as i32;
    canvas(width, height, title, |root| {
        // Seconds along the top: about ten ticks.
        let secs = (end / 1_000_000_000).max(1);
        let step = [1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600]
            .into_iter()
            .find(|s| secs / s <= 12)
            .unwrap_or(7200);
        let mut t = 0;
        while t <= secs {
            let x = x_of(t * 1_000_000_000);
            root.draw(&PathElement::new(
                vec![(x, top - 6), (x, bottom)],
                BLACK.mix(0.15),
            ))
            .map_err(draw_err)?;
            root.draw(&text(&format!("{t}s"), (x, top - 16), HPos::Center))
                .map_err(draw_err)?;
            t += step;
        }
        for (i, (name, attempts)) in probes.iter().enumerate() {
            let y = top + i as i32 * ROW_H;
            root.draw(&text(name, (10, y + ROW_H / 2), HPos::Left))
                .map_err(draw_err)?;
            for a in attempts.iter() {
                let colour = match a.verdict {
                    Verdict::Ok { .. } => OK,
                    Verdict::Fail { .. } => FAIL,
                    Verdict::Pending => RGBColor(0x9e, 0x9e, 0x9e),
                };
                let x = x_of(a.sent.as_nanos());
                root.draw(&Rectangle::new(
                    [(x, y + 4), (x + 2, y + ROW_H - 4)],
                    colour.filled(),
                ))
                .map_err(draw_err)?;
            }
        }
        for (i, m) in marks.iter().enumerate() {
            let x = x_of(m.at_ns);
            let colour = if m.failure { FAIL } else { OK };
            let mut y = top - 4;
            while y < bottom {
                root.draw(&PathElement::new(
                    vec![(x, y), (x, (y + 6).min(bottom))],
                    colour.stroke_width(2),
                ))
                .map_err(draw_err)?;
                y += 10;
            }
            let label = format!("{} at {}", m.label, human(m.at_ns));
            let style = TextStyle::from(FONT.into_font())
                .color(&colour)
                .pos(Pos::new(HPos::Left, VPos::Center));
            root.draw(&Text::new(label, (x, bottom + 20 + i as i32 * 16), style))
                .map_err(draw_err)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::sweep::measure::ProbeOutage;
    use sim_core::time::SimTime;

    fn row(failure: &str, outages: &[(&str, u64, bool)]) -> Row {
        Row {
            index: 0,
            of: 1,
            sweep: "f".into(),
            scenario: "s".into(),
            failure: failure.into(),
            at_ns: 0,
            seed: 1,
            moved: Vec::new(),
            probes: outages
                .iter()
                .map(|(n, o, hole)| ProbeOutage {
                    name: n.to_string(),
                    outage_ns: *o,
                    detection_ns: None,
                    reassignment_ns: None,
                    convergence_ns: *o,
                    black_hole: *hole,
                })
                .collect(),
            expectations_passed: 0,
            expectations_total: 0,
        }
    }

    #[test]
    fn the_heat_map_has_a_cell_per_failure_and_probe_coloured_by_outage() {
        let rows = [
            row(
                "power a",
                &[("ping", 0, false), ("web", 4_000_000_000, false)],
            ),
            row(
                "power b<&>",
                &[("ping", 2_000_000_000, false), ("web", 9, true)],
            ),
        ];
        let svg = sweep_heat_map("sweep of s", &rows).unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        for name in [
            "power a",
            "power b&lt;&amp;&gt;",
            "ping",
            "web",
            "black hole",
            "4.0s",
            "2.0s",
        ] {
            assert!(svg.contains(name), "{name} missing:\n{svg}");
        }
        // The longest outage is the darkest shade, a black hole black, none pale.
        assert!(svg.contains("fill=\"#B71C1C\""), "{svg}");
        assert!(svg.contains("fill=\"#000000\" stroke=\"none\""), "{svg}");
        assert!(svg.contains("fill=\"#E8F5E9\""), "{svg}");
        // Four cells, twenty scale steps, the background.
        assert_eq!(svg.matches("<rect").count(), 4 + 20 + 1, "{svg}");
    }

    #[test]
    fn a_timeline_has_a_tick_per_attempt_and_the_failure_marked() {
        let at = |s: u64, ok: bool| {
            Attempt::bare(
                s as u32,
                SimTime(s * 1_000_000_000),
                if ok {
                    Verdict::Ok { rtt_ns: 1 }
                } else {
                    Verdict::Fail { reason: "x".into() }
                },
            )
        };
        let attempts = [at(1, true), at(2, false), at(3, false), at(4, true)];
        let marks = [
            Mark {
                at_ns: 2_000_000_000,
                label: "power off n2".into(),
                failure: true,
            },
            Mark {
                at_ns: 4_000_000_000,
                label: "power on n2".into(),
                failure: false,
            },
        ];
        let svg = probe_timelines(
            "run of s",
            5_000_000_000,
            &[("ping".into(), &attempts)],
            &marks,
        )
        .unwrap();
        assert!(
            svg.contains("ping") && svg.contains("power off n2 at 2.0s"),
            "{svg}"
        );
        let ticks = |fill: &str| {
            svg.lines()
                .filter(|l| l.starts_with("<rect") && l.contains(fill))
                .count()
        };
        assert_eq!(ticks("fill=\"#2E7D32\""), 2, "{svg}");
        assert_eq!(ticks("fill=\"#C62828\""), 2, "{svg}");
        assert!(svg.contains("power on n2 at 4.0s"), "{svg}");
    }
}
