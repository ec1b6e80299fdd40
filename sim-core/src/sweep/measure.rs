//! One run of a sweep: the scenario with its marked failure replaced by
//! the sweep's, played to the end, and what it showed as a [`Row`].
//!
//! The scenario's marked failure is its first step that powers a device
//! off or takes a link down. Every power (or link) step on that same
//! device (or port) is the story of that failure, its return included, and
//! is retargeted to the sweep's failure at the same times; the rest of the
//! scenario (probes, expectations, other changes) stays. With an explicit
//! time (`--at`) those steps are dropped and the sweep's failure happens
//! at that time and lasts to the end. A scenario with neither is refused.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::failure::Failure;
use crate::engine::{self, ClusterState};
use crate::scenario::run::Runner;
use crate::scenario::{Action, Scenario, Step};
use crate::sim::probe::{Attempt, Verdict};
use crate::time::{SimDuration, SimTime};

/// One run's results: a row of the sweep's table, a line of its JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    /// Position in the whole sweep (failure-major, then seed): shards and
    /// merges order rows by it.
    pub index: usize,
    /// Rows in the whole sweep.
    pub of: usize,
    /// The sweep's fingerprint: rows of one sweep share it, so a merge
    /// refuses rows of another (other files, failures, seeds or time).
    pub sweep: String,
    pub scenario: String,
    pub failure: String,
    /// When the failure happened, ns of sim time.
    pub at_ns: u64,
    pub seed: u64,
    /// Egress IPs and ServiceExternalIPs whose holders as the step that
    /// undoes the failure finds them (or at the end, if none does) differ
    /// from the holders the failure step found (what the scenario's own
    /// steps change in between shows too).
    pub moved: Vec<Move>,
    pub probes: Vec<ProbeOutage>,
    pub expectations_passed: usize,
    pub expectations_total: usize,
}

/// An Egress IP or a Service's external IP that changed holders.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Move {
    /// `egress` or `service`.
    pub kind: String,
    /// The Egress's name or the Service's `namespace/name`.
    pub name: String,
    pub ip: Option<String>,
    pub from: Vec<String>,
    pub to: Vec<String>,
}

/// A probe's outage after the failure, split into its parts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeOutage {
    pub name: String,
    /// From the failure (or the probe's first attempt, if it started
    /// later) to the first successful attempt after the probe's first
    /// failed one (the end-of-run failover lines' outage), ns; to the end
    /// of the run for a black hole (or a probe stopped while failing); 0
    /// when no attempt failed.
    pub outage_ns: u64,
    /// From the failure to the first memberlist Leave news any agent had,
    /// ns (at most the outage); none when no agent heard of one.
    pub detection_ns: Option<u64>,
    /// From that news to the last Egress IP move before the probe's traffic
    /// came back, ns; none when no Egress IP moved in between.
    pub reassignment_ns: Option<u64>,
    /// The rest of the outage: ARP and route convergence, and the probe's
    /// interval.
    pub convergence_ns: u64,
    /// No attempt succeeded after the first failure, to the end of the run.
    pub black_hole: bool,
}

impl Row {
    /// The longest probe outage (a black hole counts as longer than any).
    pub fn worst(&self) -> (bool, u64) {
        self.probes
            .iter()
            .map(|p| (p.black_hole, p.outage_ns))
            .max()
            .unwrap_or((false, 0))
    }
}

/// The seed of one run: the first 8 bytes of SHA-256 over the sweep's
/// seed, the failure's name and the seed's number, so a run's seed depends
/// on what it is and not on where it falls in the sweep or its shard.
pub fn seed_for(sweep_seed: u64, failure: &Failure, n: u32) -> u64 {
    let mut h = Sha256::new();
    h.update(sweep_seed.to_be_bytes());
    h.update(failure.name().as_bytes());
    h.update(n.to_be_bytes());
    let d = h.finalize();
    u64::from_be_bytes(d[..8].try_into().expect("32 bytes"))
}

/// The scenario's marked failure: its first power-off or link-down step's
/// time and what it breaks.
pub fn marked_failure(scn: &Scenario) -> Option<(SimTime, Failure)> {
    scn.steps.iter().find_map(|s| match &s.action {
        Action::Power { device, on: false } => Some((s.at, Failure::Power(device.clone()))),
        Action::Link { port, up: false } => Some((s.at, Failure::Link(port.clone()))),
        _ => None,
    })
}

/// Whether `action` powers or links `target`, and to which state.
fn acts_on(action: &Action, target: &Failure) -> Option<bool> {
    match (action, target) {
        (Action::Power { device, on }, Failure::Power(d)) if device == d => Some(*on),
        (Action::Link { port, up }, Failure::Link(p)) if port == p => Some(*up),
        _ => None,
    }
}

fn action_for(failure: &Failure, up: bool) -> Action {
    match failure {
        Failure::Power(d) => Action::Power {
            device: d.clone(),
            on: up,
        },
        Failure::Link(p) => Action::Link {
            port: p.clone(),
            up,
        },
    }
}

/// `scn` with its marked failure replaced by `failure` (see the module
/// doc), the failure's time and its step's index. Frames are not logged
/// (nothing reads them).
pub fn rewrite(
    scn: &Scenario,
    failure: &Failure,
    at: Option<SimTime>,
) -> Result<(Scenario, SimTime, usize), String> {
    let marked = marked_failure(scn);
    let mut out = scn.clone();
    out.frame_log = false;
    let when = match (at, &marked) {
        (Some(t), _) => {
            if t > scn.until {
                return Err(format!(
                    "--at {} is after the scenario's end ({})",
                    t.since(SimTime::ZERO),
                    scn.until.since(SimTime::ZERO)
                ));
            }
            if let Some((_, target)) = &marked {
                std::sync::Arc::make_mut(&mut out.steps)
                    .retain(|s| acts_on(&s.action, target).is_none());
            }
            let pos = out.steps.partition_point(|s| s.at <= t);
            std::sync::Arc::make_mut(&mut out.steps).insert(
                pos,
                Step {
                    at: t,
                    line: 0,
                    column: 0,
                    action: action_for(failure, false),
                },
            );
            (t, pos)
        }
        (None, Some((t, target))) => {
            let mut first = None;
            for (i, s) in std::sync::Arc::make_mut(&mut out.steps)
                .iter_mut()
                .enumerate()
            {
                if let Some(up) = acts_on(&s.action, target) {
                    s.action = action_for(failure, up);
                    if !up && first.is_none() {
                        first = Some(i);
                    }
                }
            }
            (*t, first.expect("the marked failure is a step"))
        }
        (None, None) => {
            return Err(format!(
                "{} marks no failure (no step powers a device off or takes a link down); give --at",
                scn.file
            ));
        }
    };
    let (when, index) = when;
    Ok((out, when, index))
}

/// Who holds what: Egress name → (IP, holders), Service key → (IP,
/// holders).
type Holders = Vec<(String, String, Option<String>, Vec<String>)>;

fn holders(cluster: &ClusterState) -> Holders {
    let mut out: Holders = engine::holders::all_egress_holders(cluster)
        .into_iter()
        .map(|(name, nodes)| {
            let ip = cluster
                .egress
                .egresses
                .get(&name)
                .and_then(|e| e.ip)
                .map(|i| i.to_string());
            ("egress".to_string(), name, ip, nodes)
        })
        .collect();
    for (key, s) in &cluster.services {
        if s.external_ip_pool().is_some() {
            out.push((
                "service".to_string(),
                key.clone(),
                s.lb_ip.map(|i| i.to_string()),
                engine::holders::external_ip_owners(cluster, key),
            ));
        }
    }
    out
}

fn moves(before: &Holders, after: &Holders) -> Vec<Move> {
    after
        .iter()
        .filter_map(|(kind, name, ip, to)| {
            let from = before
                .iter()
                .find(|(k, n, _, _)| k == kind && n == name)
                .map(|(_, _, _, h)| h.clone())
                .unwrap_or_default();
            (from != *to).then(|| Move {
                kind: kind.clone(),
                name: name.clone(),
                ip: ip.clone(),
                from,
                to: to.clone(),
            })
        })
        .collect()
}

/// The first step after step `index` that undoes `failure` (powers it on,
/// or brings its link up), if one does.
fn restored_by(steps: &[Step], failure: &Failure, index: usize) -> Option<usize> {
    (index + 1..steps.len()).find(|&i| acts_on(&steps[i].action, failure) == Some(true))
}

/// Where one run of the sweep stands in it.
#[derive(Clone, Debug)]
pub struct RunSpec {
    pub index: usize,
    pub of: usize,
    /// The sweep's fingerprint ([`Row::sweep`]).
    pub sweep: String,
    pub failure: Failure,
    pub seed: u64,
}

/// Plays `scn` with `spec`'s failure (see [`rewrite`]) and measures it.
pub fn run_one(scn: &Scenario, spec: &RunSpec, at: Option<SimTime>) -> Result<Row, String> {
    let (planned, when, index) = rewrite(scn, &spec.failure, at)?;
    let until = planned.until;
    let undo = restored_by(&planned.steps, &spec.failure, index);
    let undone = undo.map(|i| planned.steps[i].at);
    let mut runner = Runner::start(planned, spec.seed, false).map_err(|e| e.to_string())?;
    // What the failure moved: the holders as the failure step finds them,
    // against the holders as the step that undoes it (its story's next
    // power-on or link-up) finds them, else at the end.
    runner
        .advance_before_step(index)
        .map_err(|e| e.to_string())?;
    let before = holders(&runner.outcome().cluster);
    let mut after = None;
    if let Some(i) = undo {
        runner.advance_before_step(i).map_err(|e| e.to_string())?;
        after = Some(holders(&runner.outcome().cluster));
    }
    runner.advance_to(until).map_err(|e| e.to_string())?;
    let news = runner.control_news_since(when);
    let after = after.unwrap_or_else(|| holders(&runner.outcome().cluster));
    let outcome = runner.finish();
    let probes = outcome
        .world
        .probes()
        .iter()
        .map(|p| {
            let attempts = p.attempts();
            let since = &attempts[attempts.partition_point(|a| a.sent < when)..];
            let (outage, black_hole) = outage_after(since, when, undone.unwrap_or(until), until);
            split(p.spec().name.clone(), when, outage, black_hole, &news)
        })
        .collect();
    let passed = outcome.expectations.iter().filter(|e| e.passed).count();
    Ok(Row {
        index: spec.index,
        of: spec.of,
        sweep: spec.sweep.clone(),
        scenario: scn.name.clone(),
        failure: spec.failure.name(),
        at_ns: when.as_nanos(),
        seed: spec.seed,
        moved: moves(&before, &after),
        probes,
        expectations_passed: passed,
        expectations_total: outcome.expectations.len(),
    })
}

/// The outage a failure at `when` caused a probe, from its attempts sent
/// since: it starts with the first failed attempt sent before `undone`
/// (when the failure was undone; a failure that starts later is the
/// failback's) and lasts until the first success after it (the failover
/// lines' outage, counted from the failure), or until `end` when none came
/// (a black hole).
fn outage_after(since: &[Attempt], when: SimTime, undone: SimTime, end: SimTime) -> (u64, bool) {
    let Some(first_fail) = since
        .iter()
        .take_while(|a| a.sent < undone)
        .position(|a| matches!(a.verdict, Verdict::Fail { .. }))
    else {
        return (0, false);
    };
    // A probe started after the failure is out from its first attempt.
    let from = since.first().map_or(when, |a| a.sent.max(when));
    match since[first_fail..].iter().find(|a| a.ok()) {
        Some(back) => (back.sent.since(from).as_nanos(), false),
        None => (end.since(from).as_nanos(), true),
    }
}

/// A probe's outage split by the control plane's news (see [`ProbeOutage`]).
fn split(
    name: String,
    when: SimTime,
    outage: u64,
    black_hole: bool,
    news: &crate::scenario::ControlNews,
) -> ProbeOutage {
    let since = |t: SimTime| t.since(when).as_nanos();
    let (detection, reassignment) = match news.first_leave {
        Some(leave) if outage > 0 => {
            let detection = since(leave).min(outage);
            // The last Egress move between the news and the recovery.
            let back = SimTime(when.as_nanos() + outage);
            let reassignment = news
                .moves
                .iter()
                .copied()
                .rfind(|m| *m >= leave && *m <= back)
                .map(|m| m.since(leave).as_nanos().min(outage - detection));
            (Some(detection), reassignment)
        }
        _ => (None, None),
    };
    ProbeOutage {
        name,
        outage_ns: outage,
        detection_ns: detection,
        reassignment_ns: reassignment,
        convergence_ns: outage - detection.unwrap_or(0) - reassignment.unwrap_or(0),
        black_hole,
    }
}

/// `SimDuration`'s short form of ns, for tables.
pub fn human(ns: u64) -> String {
    SimDuration(ns).human()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::probe::Verdict;

    const TOPOLOGY: &str = "\
name: t
hosts:
  - name: h1
    interfaces: [{name: eth0, addresses: [10.0.0.1/24]}]
  - name: h2
    interfaces: [{name: eth0, addresses: [10.0.0.2/24]}]
  - name: h3
    interfaces: [{name: eth0, addresses: [10.0.0.3/24]}]
switches:
  - name: sw
    ports:
      - {name: p1, connect: h1/eth0, access: 10}
      - {name: p2, connect: h2/eth0, access: 10}
      - {name: p3, connect: h3/eth0, access: 10}
";

    /// h1 pings h2 from 1 s; h2 is off from 2 s to 5 s.
    const SCENARIO: &str = "\
name: s
topology: t.yaml
until: 10s
steps:
  - at: 1s
    probe: {name: ping, from: h1, to: 10.0.0.2, interval: 100ms}
  - at: 2s
    power: {device: h2, state: off}
  - at: 5s
    power: {device: h2, state: on}
  - at: 9s
    expect:
      - {probe: ping, last: ok}
";

    fn scenario(text: &str) -> Scenario {
        let mut read = |_: &str| Ok(("t.yaml".to_string(), TOPOLOGY.to_string()));
        crate::scenario::load("s.yaml", text, &mut read).unwrap_or_else(|e| panic!("{e}"))
    }

    fn spec(failure: Failure) -> RunSpec {
        RunSpec {
            index: 0,
            of: 1,
            sweep: "t".into(),
            seed: seed_for(1, &failure, 0),
            failure,
        }
    }

    fn secs(s: u64) -> SimTime {
        SimTime::ZERO + SimDuration::from_secs(s)
    }

    #[test]
    fn the_marked_failure_s_steps_are_retargeted_at_their_times() {
        let scn = scenario(SCENARIO);
        assert_eq!(
            marked_failure(&scn),
            Some((secs(2), Failure::Power("h2".into())))
        );
        let (r, when, index) = rewrite(&scn, &Failure::Link("sw/p3".into()), None).unwrap();
        assert_eq!(index, 1);
        assert_eq!(when, secs(2));
        let links: Vec<(SimTime, &Action)> = r
            .steps
            .iter()
            .filter(|s| matches!(s.action, Action::Link { .. } | Action::Power { .. }))
            .map(|s| (s.at, &s.action))
            .collect();
        assert!(
            matches!(links[..], [
            (a, Action::Link { port: p1, up: false }),
            (b, Action::Link { port: p2, up: true }),
        ] if a == secs(2) && b == secs(5) && p1 == "sw/p3" && p2 == "sw/p3"),
            "{links:?}"
        );
        assert_eq!(r.steps.len(), scn.steps.len());
    }

    #[test]
    fn at_drops_the_marked_story_and_fails_for_good() {
        let scn = scenario(SCENARIO);
        let (r, when, index) = rewrite(&scn, &Failure::Power("h3".into()), Some(secs(3))).unwrap();
        assert!(
            matches!(&r.steps[index].action, Action::Power { device, on: false } if device == "h3")
        );
        assert_eq!(when, secs(3));
        let power: Vec<(SimTime, &Action)> = r
            .steps
            .iter()
            .filter(|s| matches!(s.action, Action::Power { .. }))
            .map(|s| (s.at, &s.action))
            .collect();
        assert!(
            matches!(power[..], [(t, Action::Power { device, on: false })] if t == secs(3) && device == "h3"),
            "{power:?}"
        );
        // In time order.
        assert!(r.steps.windows(2).all(|w| w[0].at <= w[1].at));
        assert!(rewrite(&scn, &Failure::Power("h3".into()), Some(secs(11))).is_err());
        let unmarked = scenario(&SCENARIO.replace("state: off", "state: on"));
        let e = rewrite(&unmarked, &Failure::Power("h3".into()), None).unwrap_err();
        assert!(e.contains("marks no failure") && e.contains("--at"), "{e}");
    }

    #[test]
    fn a_run_measures_the_outage_until_traffic_is_back_and_a_lasting_one_as_a_black_hole() {
        let scn = scenario(SCENARIO);
        let row = run_one(&scn, &spec(Failure::Power("h2".into())), None).unwrap();
        let p = &row.probes[0];
        assert_eq!(p.name, "ping");
        // Down from 2 s; back after the 5 s power-on.
        assert!(!p.black_hole);
        assert!(
            p.outage_ns >= 3_000_000_000 && p.outage_ns < 4_000_000_000,
            "{p:?}"
        );
        // No memberlist here: nothing detected, nothing reassigned.
        assert_eq!((p.detection_ns, p.reassignment_ns), (None, None));
        assert_eq!(p.convergence_ns, p.outage_ns);
        assert_eq!((row.expectations_passed, row.expectations_total), (1, 1));
        assert_eq!(row.at_ns, 2_000_000_000);
        // Another host's power: the probe never noticed.
        let row = run_one(&scn, &spec(Failure::Power("h3".into())), None).unwrap();
        assert_eq!(row.probes[0].outage_ns, 0);
        // For good from 3 s: still down at the end.
        let row = run_one(&scn, &spec(Failure::Link("sw/p2".into())), Some(secs(3))).unwrap();
        let p = &row.probes[0];
        assert!(p.black_hole, "{p:?}");
        assert_eq!(p.outage_ns, 7_000_000_000);
        assert_eq!((row.expectations_passed, row.expectations_total), (0, 1));
    }

    #[test]
    fn the_split_adds_up_to_the_outage() {
        let when = secs(10);
        let news = crate::scenario::ControlNews {
            first_leave: Some(secs(14)),
            moves: vec![secs(15), secs(16), secs(40)],
        };
        // Back at 18 s: detection 4 s, reassignment to the last move before
        // that (16 s) 2 s, the rest 2 s.
        let p = split("p".into(), when, 8_000_000_000, false, &news);
        assert_eq!(
            (p.detection_ns, p.reassignment_ns, p.convergence_ns),
            (Some(4_000_000_000), Some(2_000_000_000), 2_000_000_000)
        );
        // Back before the news: all of it is "detection", capped.
        let p = split("p".into(), when, 1_000_000_000, false, &news);
        assert_eq!(
            (p.detection_ns, p.reassignment_ns, p.convergence_ns),
            (Some(1_000_000_000), None, 0)
        );
        let p = split("p".into(), when, 0, false, &news);
        assert_eq!((p.detection_ns, p.reassignment_ns), (None, None));
    }

    #[test]
    fn a_later_failure_is_the_failback_s_not_this_one() {
        let at = |s: u64, ok: bool| {
            Attempt::bare(
                s as u32,
                secs(s),
                if ok {
                    Verdict::Ok { rtt_ns: 1 }
                } else {
                    Verdict::Fail { reason: "x".into() }
                },
            )
        };
        let attempts = [at(2, true), at(3, true), at(6, false), at(7, true)];
        // Undone at 5 s: the 6 s failure is the failback's.
        assert_eq!(
            outage_after(&attempts, secs(2), secs(5), secs(10)),
            (0, false)
        );
        assert_eq!(
            outage_after(&attempts, secs(2), secs(10), secs(10)),
            (5_000_000_000, false)
        );
        let down = [at(2, true), at(3, false), at(4, false)];
        assert_eq!(
            outage_after(&down, secs(2), secs(10), secs(10)),
            (8_000_000_000, true)
        );
    }

    #[test]
    fn seeds_depend_on_the_failure_and_the_number_only() {
        let a = Failure::Power("h2".into());
        let b = Failure::Link("h2".into());
        assert_eq!(seed_for(7, &a, 0), seed_for(7, &a, 0));
        assert_ne!(seed_for(7, &a, 0), seed_for(7, &b, 0));
        assert_ne!(seed_for(7, &a, 0), seed_for(7, &a, 1));
        assert_ne!(seed_for(7, &a, 0), seed_for(8, &a, 0));
    }
}
