//! `vlan` steps re-tag switch ports while a scenario runs; each must leave
//! the lab as free of layer-2 loops and duplicate MACs as the topology file
//! had to be ([`crate::topology::l2`]), so they are replayed on a copy of
//! the topology, in time order, when the scenario is loaded.

use super::step::{Action, Step};
use crate::input::InputError;
use crate::model::{DeviceKind, Topology};

/// Checks every `vlan` step of `steps` (already in time order) against the
/// layer-2 rules, and that the port it names exists.
pub(super) fn check(file: &str, topo: &Topology, steps: &[Step]) -> Result<(), InputError> {
    if !steps
        .iter()
        .any(|s| matches!(s.action, Action::Vlan { .. }))
    {
        return Ok(());
    }
    let mut lab = topo.clone();
    for step in steps {
        let Action::Vlan { port, mode, text } = &step.action else {
            continue;
        };
        let at = |msg: String| InputError::new(file, step.line, step.column, msg);
        let (dev, name) = port.rsplit_once('/').unwrap_or((port.as_str(), ""));
        let Some(id) = lab.device_id(dev) else {
            return Err(at(format!("`{dev}` is not a switch of the topology")));
        };
        let DeviceKind::Switch(s) = &mut lab.devices[id.0 as usize].kind else {
            return Err(at(format!("`{dev}` is not a switch of the topology")));
        };
        let Some(p) = s.ports.iter_mut().find(|p| p.name == name) else {
            let names: Vec<&str> = s.ports.iter().map(|p| p.name.as_str()).collect();
            return Err(at(format!(
                "`{dev}` has no port `{name}` (ports: {})",
                names.join(", ")
            )));
        };
        p.vlan = mode.clone();
        crate::topology::l2::check(&lab)
            .map_err(|e| at(format!("after `{port}: {text}`: {}", e.message)))?;
    }
    Ok(())
}
