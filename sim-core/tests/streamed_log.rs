//! A run whose log streams to a sink holds no log and no old probe paths,
//! yet the sink sees the very entries the kept log would hold, and
//! expectations, traces and statistics do not change.

mod support;

use std::sync::{Arc, Mutex};

use sim_core::report::timeline::JsonLines;
use sim_core::scenario::run::{Outcome, RunOptions, Runner};
use sim_core::scenario::{self, Scenario};
use sim_core::sim::probe::Verdict;

fn load(name: &str) -> Scenario {
    support::scenarios::shipped(name)
}

/// A `Write` the test can read back.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn streamed(scn: &Scenario, seed: u64) -> (Outcome, String) {
    let out = Shared::default();
    let mut r = Runner::start(scn.clone(), seed, false).unwrap();
    r.stream_log(Box::new(JsonLines(out.clone())));
    r.advance_to(scn.until).unwrap();
    let mut o = r.finish();
    o.world.flush_log().unwrap();
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    (o, text)
}

#[test]
fn the_sink_gets_every_entry_of_the_kept_log_and_nothing_is_held() {
    for name in ["blog-pod-ping.yaml", "flow-export.yaml"] {
        let scn = load(name);
        let kept = scenario::run::run(&scn, 1, &RunOptions::default()).unwrap();
        let (o, text) = streamed(&scn, 1);
        let want: String = kept
            .world
            .log()
            .iter()
            .map(|e| serde_json::to_string(e).unwrap() + "\n")
            .collect();
        assert!(want.lines().count() > 1000, "{name}: a real log");
        assert_eq!(text, want, "{name}: streamed log");
        assert!(o.world.log().is_empty(), "{name}: nothing kept");
        assert_eq!(o.world.log_entries(), kept.world.log_entries());
        assert_eq!(
            format!("{:?}", o.expectations),
            format!("{:?}", kept.expectations)
        );
    }
}

#[test]
fn only_the_last_finished_attempt_keeps_its_path() {
    let scn = load("blog-pod-ping.yaml");
    let o = scenario::run::run(&scn, 1, &RunOptions::default()).unwrap();
    let p = o.world.probe("pod-to-ext").unwrap();
    assert!(p.attempts().len() > 100, "a long probe");
    let last = p.last_finished().unwrap().seq;
    for a in p.attempts() {
        if a.seq < last && a.verdict != Verdict::Pending {
            assert!(
                a.path.is_empty() && a.drops.is_empty(),
                "#{} kept its path",
                a.seq
            );
        }
    }
    // The last one is whole: its trace still shows the way out and back.
    let trace = sim_core::report::trace(p);
    assert!(trace.contains("->") && trace.contains("<-"), "{trace}");
    // Failed attempts still count (the link cut at 16 s).
    let stats = p.stats();
    assert!(stats.failed > 0 && stats.ok > stats.failed, "{stats:?}");
}

#[test]
fn pcap_capture_stops_at_its_budget_and_says_so_once() {
    let scn = load("blog-pod-ping.yaml");
    let mut r = Runner::start(scn.clone(), 1, true).unwrap();
    r.limit_capture(64 << 10);
    r.advance_to(scn.until).unwrap();
    let o = r.finish();
    let total: usize = o.world.captures().iter().map(|(_, b)| b.len()).sum();
    // One frame may go past the budget, no more.
    assert!(
        (64 << 10..(64 << 10) + 2000).contains(&total),
        "{total} bytes"
    );
    let warned = o
        .world
        .log()
        .iter()
        .filter(|e| {
            e.message
                .starts_with("pcap capture stopped: the captures reached 64 KiB")
        })
        .count();
    assert_eq!(warned, 1);
}

#[test]
fn a_run_keeps_only_so_many_flow_records_but_counts_them_all() {
    let scn = load("flow-export.yaml");
    let all = scenario::run::run(&scn, 1, &RunOptions::default()).unwrap();
    assert!(all.flows.len() > 5, "a scenario with flow records");
    assert_eq!(all.flows_exported, all.flows.len() as u64);
    let mut r = Runner::start(scn.clone(), 1, false).unwrap();
    r.keep_flow_records(3);
    r.advance_to(scn.until).unwrap();
    let few = r.finish();
    assert_eq!(few.flows.len(), 3);
    assert_eq!(few.flows_exported, all.flows_exported);
    assert_eq!(
        format!("{:?}", few.flows),
        format!("{:?}", &all.flows[..3]),
        "the first three"
    );
    // The log (which says how many were exported) does not change.
    let lines =
        |o: &Outcome| -> Vec<String> { o.world.log().iter().map(|e| e.to_string()).collect() };
    assert_eq!(lines(&few), lines(&all));
}
