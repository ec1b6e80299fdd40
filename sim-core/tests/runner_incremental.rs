//! Playing a scenario in stretches (as the TUI does) must give the same run as
//! playing it in one go: same event log byte for byte, same expectations and
//! flow records.

mod support;

use sim_core::scenario::run::{Outcome, RunOptions, Runner};
use sim_core::scenario::{self, Scenario};
use sim_core::time::{SimDuration, SimTime};

fn load(name: &str) -> Scenario {
    support::scenarios::shipped(name)
}

fn fingerprint(o: &Outcome) -> (Vec<String>, String, String) {
    (
        o.world.log().iter().map(|e| e.to_string()).collect(),
        format!("{:?}", o.expectations),
        format!("{:?}", o.flows),
    )
}

#[test]
fn stretches_equal_one_go() {
    for name in [
        "egress-vlan-failover.yaml",
        "flow-export.yaml",
        "service-external-ip-l2.yaml",
    ] {
        let scn = load(name);
        let whole = scenario::run::run(&scn, 3, &RunOptions::default()).unwrap();
        let mut r = Runner::start(scn.clone(), 3, false).unwrap();
        // An odd stride that lands between and exactly on step times.
        let mut t = SimTime::ZERO;
        while t < scn.until {
            t = (t + SimDuration::from_millis(333)).min(scn.until);
            r.advance_to(t).unwrap();
            assert_eq!(r.now(), t);
        }
        // Going back is not possible in place: it is a no-op.
        r.advance_to(SimTime::ZERO).unwrap();
        assert_eq!(r.now(), scn.until);
        let parts = r.finish();
        let (a, b) = (fingerprint(&whole), fingerprint(&parts));
        assert!(a.0.len() > 1000, "{name}: a real log");
        assert_eq!(a.0.len(), b.0.len(), "{name}: log lengths");
        for (i, (x, y)) in a.0.iter().zip(&b.0).enumerate() {
            assert_eq!(x, y, "{name}: log line {i} differs");
        }
        assert_eq!(a.1, b.1, "{name}: expectations");
        assert_eq!(a.2, b.2, "{name}: flow records");
    }
}
