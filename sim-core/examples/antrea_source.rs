//! antlab's Antrea tables diffed against Antrea's Go source, release by
//! release: the feature gates (`pkg/features/antrea_features.go`) and the
//! keys of `antrea-agent.conf` / `antrea-controller.conf`
//! (`pkg/config/{agent,controller}/config.go`).
//!
//! A maintenance check, not part of the test suite (it needs Antrea's source,
//! which a fresh machine does not have): run it after adding a release to
//! antlab's tables, with a clone of antrea-io/antrea that has its tags,
//!
//! ```sh
//! git clone https://github.com/antrea-io/antrea /tmp/antrea
//! cargo run -p sim-core --example antrea_source -- /tmp/antrea
//! ```
//!
//! It panics, naming the release and the difference, when a table differs
//! from the Go source, and prints what it checked otherwise.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use sim_core::engine::config::gates;
use sim_core::engine::config::keys::{self, Component, Kind};
use sim_core::engine::config::version::{AntreaVersion, RELEASES};

fn repo() -> String {
    let path = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("ANTREA_REPO").ok())
        .expect("usage: antrea_source PATH-TO-ANTREA-CLONE (or set ANTREA_REPO)");
    let ok = Command::new("git")
        .args([
            "-C",
            &path,
            "rev-parse",
            "--verify",
            "-q",
            "v1.15.0^{commit}",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "{path} is not a clone of antrea-io/antrea with its tags"
    );
    path
}

fn main() {
    let repo = repo();
    gate_tables_match_antrea_features_go_at_every_release(&repo);
    config_keys_match_antreas_config_structs_at_every_release(&repo);
    println!("gate tables and config keys match {repo} at every release");
}

fn show(repo: &str, version: AntreaVersion, path: &str) -> String {
    let out = Command::new("git")
        .args(["-C", repo, "show", &format!("{version}:{path}")])
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git show {version}:{path}");
    String::from_utf8(out.stdout).expect("UTF-8 Go source")
}

/// The text between `start` and the first line that is exactly `end` after it.
fn block<'a>(src: &'a str, start: &str, end: &str) -> &'a str {
    let from = src
        .find(start)
        .unwrap_or_else(|| panic!("`{start}` not found"))
        + start.len();
    let len = src[from..]
        .find(end)
        .unwrap_or_else(|| panic!("end of `{start}` not found"));
    &src[from..from + len]
}

/// The identifiers listed one per line (`Name,` or `Name: {...},`).
fn names(text: &str) -> BTreeSet<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("//") && !l.is_empty())
        .filter_map(|l| {
            let name: String = l.chars().take_while(|c| c.is_alphanumeric()).collect();
            (!name.is_empty()).then_some(name)
        })
        .collect()
}

#[derive(Debug, PartialEq, Eq)]
struct GoGate {
    default: bool,
    stage: &'static str,
    locked: bool,
    agent: bool,
    controller: bool,
    windows: bool,
}

fn go_gates(src: &str) -> BTreeMap<String, GoGate> {
    let specs = block(
        src,
        "DefaultAntreaFeatureGates = map[featuregate.Feature]featuregate.FeatureSpec{",
        "\n\t}",
    );
    // `sets.New(` or, in older releases, `sets.New[featuregate.Feature](`.
    let set = |name: &str| {
        let start = src
            .find(&format!("{name} = sets.New"))
            .unwrap_or_else(|| panic!("{name} not found"));
        let open = start + src[start..].find('(').expect("an argument list") + 1;
        names(block(&src[open..], "", "\n\t)"))
    };
    let agent = set("AgentGates");
    let controller = set("ControllerGates");
    let not_windows = names(block(
        src,
        "unsupportedFeaturesOnWindows = map[featuregate.Feature]struct{}{",
        "\n\t}",
    ));
    let mut out = BTreeMap::new();
    for line in specs
        .lines()
        .map(str::trim)
        .filter(|l| l.contains("PreRelease"))
    {
        let name = line.split(':').next().unwrap().trim().to_string();
        let stage = ["Alpha", "Beta", "GA", "Deprecated"]
            .into_iter()
            .find(|s| {
                line.contains(&format!("featuregate.{s}}}"))
                    || line.contains(&format!("featuregate.{s},"))
            })
            .unwrap_or_else(|| panic!("stage of {line}"));
        out.insert(
            name.clone(),
            GoGate {
                default: line.contains("Default: true"),
                stage: match stage {
                    "Alpha" => "ALPHA",
                    "Beta" => "BETA",
                    "GA" => "GA",
                    _ => "DEPRECATED",
                },
                locked: line.contains("LockToDefault: true"),
                agent: agent.contains(&name),
                controller: controller.contains(&name),
                windows: agent.contains(&name) && !not_windows.contains(&name),
            },
        );
    }
    out
}

fn gate_tables_match_antrea_features_go_at_every_release(repo: &str) {
    for &v in RELEASES {
        let go = go_gates(&show(repo, v, "pkg/features/antrea_features.go"));
        let ours: BTreeMap<String, GoGate> = gates::gates(v)
            .into_iter()
            .map(|g| {
                (
                    g.name.to_string(),
                    GoGate {
                        default: g.default,
                        stage: g.stage.word(),
                        locked: g.locked,
                        agent: g.agent,
                        controller: g.controller,
                        windows: g.windows,
                    },
                )
            })
            .collect();
        assert_eq!(ours, go, "feature gates of Antrea {v}");
    }
}

/// The keys of `root` and the structs under it, as `(dotted path, kind)`.
fn go_keys(src: &str, root: &str, package: &str) -> BTreeMap<String, Kind> {
    // type Name struct { fields }
    let mut structs: BTreeMap<&str, Vec<(String, String)>> = BTreeMap::new();
    let mut rest = src;
    while let Some(i) = rest.find("\ntype ") {
        rest = &rest[i + 6..];
        let Some((name, after)) = rest.split_once(' ') else {
            break;
        };
        if !after.starts_with("struct {") {
            continue;
        }
        let body = &after["struct {".len()..after.find("\n}").unwrap()];
        let mut fields = Vec::new();
        for line in body.lines() {
            let Some(line) = line.strip_prefix('\t') else {
                continue;
            };
            if line.starts_with("//") || line.starts_with('\t') || line.is_empty() {
                continue;
            }
            let mut words = line.split_whitespace();
            let (Some(field), Some(ty)) = (words.next(), words.next()) else {
                continue;
            };
            let key = line
                .split("yaml:\"")
                .nth(1)
                .and_then(|t| t.split(['"', ',']).next())
                .filter(|k| !k.is_empty())
                .map(str::to_string)
                .unwrap_or_else(|| field.to_lowercase());
            fields.push((key, ty.to_string()));
        }
        structs.insert(name, fields);
    }
    // k8s.io/component-base ClientConnectionConfiguration has json tags only:
    // the YAML decoder uses the lower-cased field names.
    let client = [
        "kubeconfig",
        "acceptcontenttypes",
        "contenttype",
        "qps",
        "burst",
    ];
    let mut out = BTreeMap::new();
    fn walk(
        structs: &BTreeMap<&str, Vec<(String, String)>>,
        ty: &str,
        prefix: &str,
        package: &str,
        client: &[&str],
        out: &mut BTreeMap<String, Kind>,
    ) {
        for (key, fty) in &structs[ty] {
            let path = format!("{prefix}{key}");
            let base = fty.trim_start_matches('*');
            let elem = base.strip_prefix("[]").map(|e| e.trim_start_matches('*'));
            if structs.contains_key(base) {
                out.insert(
                    path.clone(),
                    Kind::Struct(leak(format!("{package}.{base}"))),
                );
                walk(structs, base, &format!("{path}."), package, client, out);
            } else if let Some(e) = elem.filter(|e| structs.contains_key(e)) {
                out.insert(
                    path.clone(),
                    Kind::StructList(leak(format!("{package}.{e}"))),
                );
                walk(structs, e, &format!("{path}[]."), package, client, out);
            } else if base == "componentbaseconfig.ClientConnectionConfiguration" {
                out.insert(
                    path.clone(),
                    Kind::Struct("config.ClientConnectionConfiguration"),
                );
                for k in client {
                    out.insert(format!("{path}.{k}"), Kind::Leaf);
                }
            } else if base.starts_with("map[") {
                out.insert(path, Kind::Map);
            } else {
                out.insert(path, Kind::Leaf);
            }
        }
    }
    walk(&structs, root, "", package, &client, &mut out);
    out
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn config_keys_match_antreas_config_structs_at_every_release(repo: &str) {
    for &v in RELEASES {
        for (component, path, root, package) in [
            (
                Component::Agent,
                "pkg/config/agent/config.go",
                "AgentConfig",
                "agent",
            ),
            (
                Component::Controller,
                "pkg/config/controller/config.go",
                "ControllerConfig",
                "controller",
            ),
        ] {
            let go = go_keys(&show(repo, v, path), root, package);
            let ours: BTreeMap<String, Kind> = component
                .keys()
                .iter()
                .filter(|k| k.in_version(v))
                .map(|k| (k.path.to_string(), k.kind))
                .collect();
            assert_eq!(ours, go, "{path} at Antrea {v}");
            assert_eq!(keys::paths(component, v).len(), go.len());
        }
    }
}
