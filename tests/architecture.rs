//! ARCHITECTURE.md stays true: every module path it names in backticks
//! (`scenario::judge`, `sim-core::engine`, `datapath::compare`,
//! `engine::dataplane::NodeDataplane`) is a file of the workspace, and every
//! type it names after a module path is defined in that file.

use std::path::{Path, PathBuf};

const ARCHITECTURE: &str = include_str!("../ARCHITECTURE.md");

/// The crate roots a path may start with, and their source folders.
fn crate_root(first: &str) -> Option<&'static str> {
    match first {
        "sim-core" | "sim_core" => Some("sim-core/src"),
        "datapath" => Some("datapath/src"),
        "tui" => Some("tui/src"),
        _ => None,
    }
}

/// The file of module `segments` under `root`, if there is one.
fn module_file(root: &Path, segments: &[&str]) -> Option<PathBuf> {
    let mut dir = root.to_path_buf();
    for s in &segments[..segments.len() - 1] {
        dir.push(s);
    }
    let last = segments[segments.len() - 1];
    [
        dir.join(format!("{last}.rs")),
        dir.join(last).join("mod.rs"),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

fn backticked(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// A path like `a::b::C`: lower-case module segments, then optional items.
fn path_segments(token: &str) -> Option<Vec<&str>> {
    if !token.contains("::") {
        return None;
    }
    let segs: Vec<&str> = token.split("::").collect();
    let ok = segs.iter().all(|s| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    });
    ok.then_some(segs)
}

#[test]
fn every_module_path_in_architecture_md_exists() {
    let ws = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sim_core_modules = ws.join("sim-core/src");
    let mut checked = 0;
    let mut missing = Vec::new();
    for token in backticked(ARCHITECTURE) {
        let Some(segs) = path_segments(token) else {
            continue;
        };
        // Where the path starts: a crate name, or a sim-core top-level module.
        let (root, rest) = match crate_root(segs[0]) {
            Some(dir) => (ws.join(dir), &segs[1..]),
            None if module_file(&sim_core_modules, &segs[..1]).is_some() => {
                (sim_core_modules.clone(), &segs[..])
            }
            None => continue, // `World::set_http_status`: a type's method
        };
        // The longest run of lower-case segments that is a module file; what
        // follows it is an item of that module (`SnatTo`, `agent_rng`).
        let lower = rest
            .iter()
            .take_while(|s| s.chars().next().is_some_and(|c| c.is_ascii_lowercase()))
            .count();
        let Some((file, n)) = (1..=lower)
            .rev()
            .find_map(|n| module_file(&root, &rest[..n]).map(|f| (f, n)))
        else {
            if !rest.is_empty() {
                missing.push(format!("`{token}`: no module file"));
            }
            continue;
        };
        checked += 1;
        if let Some(item) = rest.get(n) {
            let src = std::fs::read_to_string(&file).unwrap();
            let defined = ["struct", "enum", "trait", "type", "fn", "mod"]
                .iter()
                .any(|k| src.contains(&format!("{k} {item}")))
                || src
                    .split("pub use")
                    .skip(1)
                    .any(|u| u.split(';').next().is_some_and(|u| u.contains(item)));
            if !defined {
                missing.push(format!("`{token}`: {item} not in {}", file.display()));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md names what is not there:\n{}",
        missing.join("\n")
    );
    assert!(
        checked >= 15,
        "only {checked} module paths found: did the format change?"
    );
}

#[test]
fn every_room_of_sim_world_is_named() {
    // The world's rooms are listed in ARCHITECTURE.md; a new room must be added there.
    let ws = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut rooms: Vec<String> = std::fs::read_dir(ws.join("sim-core/src/sim/world"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|n| n.strip_suffix(".rs").map(str::to_string))
        .filter(|n| n != "mod" && n != "testlab")
        .collect();
    rooms.sort();
    let line = ARCHITECTURE
        .lines()
        .find(|l| l.contains("`sim-core::sim`"))
        .expect("a row for sim-core::sim");
    for r in &rooms {
        assert!(
            line.contains(r.as_str()),
            "room world/{r}.rs is not named in ARCHITECTURE.md"
        );
    }
}
