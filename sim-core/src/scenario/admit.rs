//! Admission: every step of a scenario applied in order, without letting
//! time pass, so that whatever a run would refuse (a Pod IP already used,
//! an Egress the webhook rejects, a probe from a Pod that never exists, a
//! `show` of a device that is not there) is found before anything runs or
//! is printed. `antlab check` admits a scenario; `antlab run` admits it
//! before it starts streaming, so a bad step can no longer leave half a
//! timeline behind.
//!
//! Time does not pass, so memberlist never runs: every agent's view is the
//! converged one (each node sees every node that is up), taken again after
//! each step, and a power step re-applies every node's dataplane from
//! those views, so the Egress and ServiceExternalIP placements a failover
//! leads to are applied too. Expectations are not judged (they need time).

use super::control::sync_dataplane;
use super::execute::execute;
use super::load::Scenario;
use super::run::Runner;
use super::step::Action;
use crate::input::InputError;
use crate::sim::log::Discard;

/// Admits `scn` with `seed` (Deployments name their Pods from it).
/// What admitting a scenario learnt that a run's header needs before the
/// run starts.
#[derive(Clone, Copy, Debug, Default)]
pub struct Admission {
    /// Whether the agents export flow records at some step.
    pub flow_export: bool,
}

pub fn admit(scn: &Scenario, seed: u64) -> Result<Admission, InputError> {
    let mut admission = Admission::default();
    let mut r = Runner::start(scn.clone(), seed, false)?;
    r.stream_log(Box::new(Discard));
    let Runner {
        scn,
        outcome,
        control,
        ..
    } = &mut r;
    for step in scn.steps.iter() {
        outcome.cluster.clear_views();
        // Expectations only read the state; without time they mean nothing.
        if matches!(step.action, Action::Expect(_)) {
            continue;
        }
        let mut results = Vec::new();
        execute(
            scn,
            step,
            &mut outcome.world,
            &mut outcome.cluster,
            outcome.seed,
            &mut results,
            control,
        )?;
        if matches!(step.action, Action::Power { .. }) {
            outcome.cluster.clear_views();
            sync_dataplane(
                &mut outcome.world,
                &mut outcome.cluster,
                scn,
                Some(step),
                &mut control.proxy,
            )?;
        }
        admission.flow_export |= outcome.cluster.settings.flow_export_on();
    }
    Ok(admission)
}
