//! An expectation judged on both sides: real mode's verdict and message
//! (what the run prints), the simulator's verdict from the same judge, and
//! the facts both judgements observed, side by side (what `--mode both`
//! compares).

use sim_core::engine::ClusterState;
use sim_core::scenario::Expectation;
use sim_core::scenario::judge::{Observe, Observed, SimObserver, judge};
use sim_core::sim::World;
use sim_core::time::SimTime;

/// Which sides a run plays: real mode alone, or real mode with the
/// simulator beside it, compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Real,
    Both,
}

/// One expectation, checked for real (and in `both` mode, in the simulator).
#[derive(Clone, Debug)]
pub struct Checked {
    pub at: SimTime,
    pub line: u64,
    pub column: u64,
    pub real_passed: bool,
    pub real_message: String,
    pub sim_passed: Option<bool>,
    /// (what, simulator, real) for every observed field.
    pub fields: Vec<(String, String, String)>,
}

impl Checked {
    /// Judges `e` (an `expect` entry at scenario time `t`) on the lab
    /// `real` observes and, with the same judge, in the simulator's `world`
    /// and `cluster` at the same scenario time; lines up what the two
    /// judgements observed. The simulator's verdict counts in `both` mode.
    pub fn judge(
        e: &Expectation,
        t: SimTime,
        real: &dyn Observe,
        world: &World,
        cluster: &ClusterState,
        mode: Mode,
    ) -> Checked {
        let real = judge(real, &e.kind);
        let sim = judge(&SimObserver::new(world, cluster), &e.kind);
        Checked {
            at: t,
            line: e.line,
            column: e.column,
            real_passed: real.passed(),
            sim_passed: (mode == Mode::Both).then_some(sim.passed()),
            fields: side_by_side(sim.observed(), real.observed()),
            real_message: real.into_message(),
        }
    }

    /// The observed fields on which the two sides differ, as the run prints
    /// them.
    pub fn mismatches(&self) -> Vec<String> {
        self.fields
            .iter()
            .filter(|(_, s, r)| s != r)
            .map(|(w, s, r)| format!("{w}: simulator {s}, real {r}"))
            .collect()
    }
}

/// (what, simulator, real) for every fact either side observed, in the
/// order real mode looked at them; a fact one side did not get to (its
/// judgement stopped earlier) is `(not observed)` there.
fn side_by_side(sim: &[Observed], real: &[Observed]) -> Vec<(String, String, String)> {
    const MISSING: &str = "(not observed)";
    let value_in = |side: &[Observed], what: &str| {
        side.iter()
            .find(|o| o.what() == what)
            .map_or(MISSING.to_string(), |o| o.value().to_string())
    };
    let mut out: Vec<(String, String, String)> = real
        .iter()
        .map(|r| {
            let what = r.what();
            (what.to_string(), value_in(sim, what), r.value().to_string())
        })
        .collect();
    for s in sim
        .iter()
        .filter(|s| !real.iter().any(|r| r.what() == s.what()))
    {
        out.push((
            s.what().to_string(),
            s.value().to_string(),
            MISSING.to_string(),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(pairs: &[(&str, &str)]) -> Vec<Observed> {
        pairs.iter().map(|(w, v)| Observed::new(*w, *v)).collect()
    }

    #[test]
    fn observations_are_lined_up_by_what_they_are() {
        let sim = seen(&[("Egress e IP", "1.1.1.1"), ("Egress e node", "vm-2")]);
        let real = seen(&[("Egress e IP", "1.1.1.1"), ("Egress e node", "vm-1")]);
        let fields = side_by_side(&sim, &real);
        assert_eq!(fields.len(), 2);
        let c = Checked {
            at: SimTime::ZERO,
            line: 7,
            column: 9,
            real_passed: true,
            real_message: String::new(),
            sim_passed: Some(true),
            fields,
        };
        assert_eq!(
            c.mismatches(),
            vec!["Egress e node: simulator vm-2, real vm-1".to_string()]
        );
        // A fact only one side got to.
        let fields = side_by_side(&sim[..1], &real[1..]);
        assert_eq!(
            fields,
            vec![
                (
                    "Egress e node".to_string(),
                    "(not observed)".to_string(),
                    "vm-1".to_string()
                ),
                (
                    "Egress e IP".to_string(),
                    "1.1.1.1".to_string(),
                    "(not observed)".to_string()
                ),
            ]
        );
    }
}
