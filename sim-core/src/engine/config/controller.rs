//! `antrea-controller.conf`: antlab reads its `featureGates` (checked as
//! `FeatureGate.SetFromMap` checks them); other keys Antrea knows are
//! accepted and not modelled, unknown ones are handled in `keys.rs`.

use indexmap::IndexMap;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::embedded::{Embedded, Node, SpannedMap};
use super::gates;
use super::keys::{self, Component};
use super::version::AntreaVersion;
use crate::input::InputError;

#[derive(Debug, Default, Deserialize)]
struct ControllerDoc {
    #[serde(rename = "featureGates", default)]
    feature_gates: SpannedMap<Spanned<bool>>,
}

/// Everything read from `antrea-controller.conf`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ControllerConf {
    pub(crate) gates: IndexMap<String, bool>,
    pub(crate) warnings: Vec<String>,
}

pub(super) fn read(
    conf: Option<&Embedded<'_>>,
    version: AntreaVersion,
) -> Result<ControllerConf, InputError> {
    let Some(conf) = conf else {
        return Ok(ControllerConf::default());
    };
    let mut warnings = Vec::new();
    if let Some(tree) = conf.parse::<Node>()? {
        warnings = keys::check_unknown(&tree, Component::Controller, version, conf)?;
    }
    let doc: ControllerDoc = conf.parse()?.unwrap_or_default();
    let mut gates = IndexMap::new();
    for (name, value) in doc.feature_gates.0 {
        gates::check_setting(version, &name.value, value.value)
            .map_err(|m| conf.error_on(&name, m))?;
        gates.insert(name.value, value.value);
    }
    Ok(ControllerConf { gates, warnings })
}
