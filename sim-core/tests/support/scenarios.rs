//! Loading the shipped scenarios (`scenarios/`) in tests: one reader for
//! the files a scenario names (topologies, manifests), relative to
//! `scenarios/` and named by that relative path in errors.

use std::path::PathBuf;

use sim_core::input::InputError;
use sim_core::scenario::{self, Scenario};

/// The repository's `scenarios/` folder (this file is included by sim-core's
/// tests and by the root crate's).
pub fn dir() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let here = manifest.join("scenarios");
    if here.is_dir() {
        here
    } else {
        manifest.join("../scenarios")
    }
}

/// A scenario given as `text` (called `name` in errors) whose files come
/// from `scenarios/`.
pub fn load_text(name: &str, text: &str) -> Result<Scenario, InputError> {
    let mut read = |rel: &str| -> Result<(String, String), String> {
        let path = dir().join(rel);
        std::fs::read_to_string(&path)
            .map(|t| (rel.to_string(), t))
            .map_err(|e| format!("{}: {e}", path.display()))
    };
    scenario::load(name, text, &mut read)
}

/// The shipped scenario `scenarios/NAME`.
pub fn shipped(name: &str) -> Scenario {
    let path = dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    load_text(name, &text).unwrap_or_else(|e| panic!("{name}: {e}"))
}
