//! The README tells the truth about what ships: its scenario example is a
//! shipped file (which `tests/cli.rs` runs with every other scenario), every
//! step action is documented, and its links stay inside the repository or
//! go to public addresses.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn readme() -> String {
    std::fs::read_to_string(root().join("README.md")).expect("README.md")
}

/// The first fenced ```yaml block after `heading`.
fn yaml_block_after(text: &str, heading: &str) -> String {
    let start = text.find(heading).expect("heading present");
    let rest = &text[start..];
    let open = rest.find("```yaml\n").expect("a yaml block") + "```yaml\n".len();
    let close = rest[open..].find("```").expect("closed block");
    rest[open..open + close].to_string()
}

#[test]
fn the_scenario_format_example_is_the_shipped_file() {
    let shown = yaml_block_after(&readme(), "## Scenario format");
    let file = std::fs::read_to_string(root().join("scenarios/readme-example.yaml"))
        .expect("scenarios/readme-example.yaml");
    assert_eq!(
        shown, file,
        "README's example and scenarios/readme-example.yaml differ"
    );
}

#[test]
fn every_step_action_is_documented() {
    let text = readme();
    let section = &text[text.find("## Scenario format").expect("section")..];
    for action in sim_core::scenario::STEP_ACTIONS {
        assert!(
            section.contains(&format!("| `{action}")),
            "the README's action table lacks `{action}`"
        );
    }
}

#[test]
fn links_stay_in_the_repository_or_are_public() {
    for doc in ["README.md", "datapath/README.md", "BENCHMARKS.md"] {
        let path = root().join(doc);
        let text = std::fs::read_to_string(&path).expect("document");
        let dir = path.parent().expect("in a folder");
        let mut rest = text.as_str();
        while let Some(i) = rest.find("](") {
            rest = &rest[i + 2..];
            let end = rest.find(')').expect("closed link");
            let target = &rest[..end];
            if target.starts_with("https://") || target.starts_with("http://") {
                continue;
            }
            let file = target.split('#').next().unwrap_or(target);
            let resolved = dir.join(file);
            assert!(
                resolved.exists() && within(&resolved, &root()),
                "{doc}: link to `{target}` leaves the repository or is missing"
            );
        }
    }
}

fn within(path: &Path, root: &Path) -> bool {
    match (path.canonicalize(), root.canonicalize()) {
        (Ok(p), Ok(r)) => p.starts_with(r),
        _ => false,
    }
}

#[test]
fn known_differences_are_listed() {
    let text = readme();
    let start = text
        .find("## Known differences from Antrea and Linux")
        .expect("the README lists the known differences");
    let section = &text[start..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    let items = section.lines().filter(|l| l.starts_with("- ")).count();
    assert!(items >= 30, "only {items} differences listed");
}
