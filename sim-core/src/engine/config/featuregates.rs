//! `antctl get featuregates` as the controller answers it from the
//! `antrea-config` ConfigMap (`pkg/apiserver/handlers/featuregates/handler.go`,
//! printed by `pkg/antctl/raw/featuregates/command.go`, same at v1.15.0 and
//! v2.7.0):
//!
//! - "Antrea Agent Feature Gates": every gate of `AgentGates`, its status
//!   from `antrea-agent.conf` or the release's default.
//! - "Antrea Agent Feature Gates (Windows)", only when an
//!   `antrea-windows-config*` ConfigMap labelled `app=antrea` exists in the
//!   Antrea namespace (the newest by creationTimestamp): the agent gates a
//!   Windows agent supports, statuses from its `antrea-agent.conf`.
//! - "Antrea Controller Feature Gates": `ControllerGates` from
//!   `antrea-controller.conf`.
//!
//! Rows sorted by name; columns `%-<maxName+5>s%-<maxStatus+5>s%-s`; STATUS
//! `Enabled`/`Disabled`; VERSION the stage (`GA` when it has none). Sections
//! after the first are preceded by an empty line.

use indexmap::IndexMap;

use super::gates::{self, Gate};
use super::version::AntreaVersion;

/// The statuses written in each file (absent gates show their default).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GateSettings {
    pub(crate) agent: IndexMap<String, bool>,
    pub(crate) controller: IndexMap<String, bool>,
    /// `Some` when an `antrea-windows-config` ConfigMap exists.
    pub(crate) windows_agent: Option<IndexMap<String, bool>>,
}

/// The whole `antctl get featuregates` output for `version`.
pub fn text(version: AntreaVersion, set: &GateSettings) -> String {
    let all = gates::gates(version);
    let pick = |f: fn(&Gate) -> bool| -> Vec<Gate> { all.iter().copied().filter(f).collect() };
    let mut out = section("Antrea Agent Feature Gates", &pick(|g| g.agent), &set.agent);
    if let Some(windows) = &set.windows_agent {
        out.push('\n');
        out.push_str(&section(
            "Antrea Agent Feature Gates (Windows)",
            &pick(|g| g.windows),
            windows,
        ));
    }
    out.push('\n');
    out.push_str(&section(
        "Antrea Controller Feature Gates",
        &pick(|g| g.controller),
        &set.controller,
    ));
    out
}

fn section(title: &str, gates: &[Gate], set: &IndexMap<String, bool>) -> String {
    let mut rows: Vec<(&str, &str, &str)> = gates
        .iter()
        .map(|g| {
            let on = set.get(g.name).copied().unwrap_or(g.default);
            (
                g.name,
                if on { "Enabled" } else { "Disabled" },
                g.stage.word(),
            )
        })
        .collect();
    rows.sort();
    let name_w = rows
        .iter()
        .map(|r| r.0.len())
        .chain(["FEATUREGATE".len()])
        .max()
        .unwrap_or(0)
        + 5;
    let status_w = rows
        .iter()
        .map(|r| r.1.len())
        .chain(["STATUS".len()])
        .max()
        .unwrap_or(0)
        + 5;
    let mut out = format!(
        "{title}\n{:<name_w$}{:<status_w$}{}\n",
        "FEATUREGATE", "STATUS", "VERSION"
    );
    for (n, s, v) in rows {
        out.push_str(&format!("{n:<name_w$}{s:<status_w$}{v}\n"));
    }
    out
}
