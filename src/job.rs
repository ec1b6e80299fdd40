//! `antlab sweep --emit-job DIR`: a sweep as a Kubernetes Indexed Job, so
//! the cluster users already run is the machine that runs it.
//!
//! DIR gets `job.yaml` (a `batch/v1` Job, `completionMode: Indexed`, one
//! completion per shard; each pod runs `antlab sweep ... --shard
//! $(JOB_COMPLETION_INDEX)/N -o json` and prints its rows for `kubectl
//! logs`), `lab/` (the scenario and every file it reads, the failures file
//! too, under their common folder), a `Dockerfile` that puts an `antlab`
//! binary and `lab/` into an image, and a README on building, running and
//! merging. The Job is built from `k8s-openapi`'s types, so its fields
//! are the API's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::bad;

/// Where the lab's files are in the image.
pub const LAB_DIR: &str = "/lab";

/// What the Job runs.
pub struct JobArgs<'a> {
    /// The scenario file as given.
    pub scenario: &'a Path,
    /// Every file the scenario read (as resolved while loading it), the
    /// scenario first.
    pub read: &'a [crate::ReadFile],
    /// The scenario's estimated peak memory (`Footprint::bytes`): each
    /// pod requests it.
    pub memory: u64,
    /// `--fail`: a set's name, or a file (then copied too).
    pub fail: &'a str,
    pub fail_file: Option<&'a Path>,
    pub seeds: u32,
    pub seed: u64,
    pub at: Option<&'a str>,
    pub shards: usize,
    pub image: &'a str,
    /// Runs in the whole sweep.
    pub runs: usize,
    pub scenario_name: &'a str,
}

/// A DNS-1123 name for the Job: lower case, digits and dashes.
fn job_name(scenario: &str) -> String {
    let mut name: String = scenario
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    name.truncate(40);
    let name = name.trim_matches('-');
    if name.is_empty() {
        "antlab-sweep".into()
    } else {
        format!("antlab-sweep-{name}")
    }
}

/// The longest folder every path is in.
fn common_root(paths: &[PathBuf]) -> PathBuf {
    let mut root: Option<PathBuf> = None;
    for p in paths {
        let dir = p.parent().unwrap_or(Path::new("/")).to_path_buf();
        root = Some(match root {
            None => dir,
            Some(r) => {
                let mut common = PathBuf::new();
                for (a, b) in r.components().zip(dir.components()) {
                    if a != b {
                        break;
                    }
                    common.push(a);
                }
                common
            }
        });
    }
    root.unwrap_or_default()
}

/// `path` (absolute, normalised) under `root`, as a relative path.
fn under(path: &Path, root: &Path) -> PathBuf {
    path.strip_prefix(root).unwrap_or(path).to_path_buf()
}

/// `path` as the system resolves it (symbolic links and `..` followed,
/// as when the file was read).
fn canonical(path: &Path) -> Result<PathBuf> {
    std::fs::canonicalize(path).map_err(|e| bad(format!("{}: cannot resolve: {e}", path.display())))
}

/// The Job `args` (after the `antlab` entrypoint) for the sweep.
fn args(a: &JobArgs, scenario_in_image: &str, fail_in_image: &str) -> Vec<String> {
    let mut v: Vec<String> = vec![
        "sweep".into(),
        scenario_in_image.into(),
        "--fail".into(),
        fail_in_image.into(),
        "--seeds".into(),
        a.seeds.to_string(),
        "--seed".into(),
        a.seed.to_string(),
    ];
    if let Some(at) = a.at {
        v.extend(["--at".into(), at.into()]);
    }
    v.extend([
        "--shard".into(),
        format!("$(JOB_COMPLETION_INDEX)/{}", a.shards),
        // One run at a time in the CPU the pod requests, and no progress
        // lines among the rows `kubectl logs` returns.
        "--jobs".into(),
        "1".into(),
        "--quiet".into(),
        "-o".into(),
        "json".into(),
    ]);
    v
}

/// A pod's memory request: the run's estimate, in MiB rounded up, and 64
/// MiB for the process.
fn memory_request(bytes: u64) -> String {
    format!("{}Mi", bytes.div_ceil(1 << 20) + 64)
}

/// The Job itself.
pub fn job(a: &JobArgs, args: Vec<String>) -> Job {
    let name = job_name(a.scenario_name);
    let labels = BTreeMap::from([(
        "app.kubernetes.io/name".to_string(),
        "antlab-sweep".to_string(),
    )]);
    let shards = i32::try_from(a.shards).unwrap_or(i32::MAX);
    Job {
        metadata: ObjectMeta {
            name: Some(name),
            labels: Some(labels.clone()),
            ..ObjectMeta::default()
        },
        spec: Some(JobSpec {
            completion_mode: Some("Indexed".into()),
            completions: Some(shards),
            parallelism: Some(shards),
            // A failed shard is retried on its own (Kubernetes 1.29+).
            backoff_limit_per_index: Some(2),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    restart_policy: Some("Never".into()),
                    containers: vec![Container {
                        name: "sweep".into(),
                        image: Some(a.image.into()),
                        args: Some(args),
                        resources: Some(ResourceRequirements {
                            requests: Some(BTreeMap::from([
                                ("cpu".to_string(), Quantity("1".into())),
                                ("memory".to_string(), Quantity(memory_request(a.memory))),
                            ])),
                            ..ResourceRequirements::default()
                        }),
                        ..Container::default()
                    }],
                    ..PodSpec::default()
                }),
            },
            ..JobSpec::default()
        }),
        ..Job::default()
    }
}

/// Writes DIR (see the module doc); returns what it wrote, for the user.
pub fn emit(dir: &Path, a: &JobArgs) -> Result<String> {
    if a.shards == 0 {
        return Err(bad("--shards must be at least 1"));
    }
    // Every file goes under /lab at its place relative to the others, and
    // the scenario's own references stay as written: an absolute one would
    // name a path the image does not have.
    for f in a.read.iter().skip(1) {
        if Path::new(&f.named).is_absolute() {
            return Err(bad(format!(
                "{} names {} by an absolute path; --emit-job copies the lab's files into the image and needs paths relative to the scenario",
                a.scenario.display(),
                f.named
            )));
        }
    }
    let mut files: Vec<PathBuf> = Vec::new();
    for p in a.read.iter().map(|f| f.path.as_path()).chain(a.fail_file) {
        let abs = canonical(p)?;
        if !files.contains(&abs) {
            files.push(abs);
        }
    }
    let scenario = canonical(a.scenario)?;
    let root = common_root(&files);
    let in_image = |p: &Path| format!("{LAB_DIR}/{}", under(p, &root).display());
    let fail = match a.fail_file {
        Some(f) => in_image(&canonical(f)?),
        None => a.fail.to_string(),
    };
    let job = job(a, args(a, &in_image(&scenario), &fail));
    let yaml =
        serde_saphyr::to_string(&job).map_err(|e| anyhow::anyhow!("writing job.yaml: {e}"))?;
    let lab = dir.join("lab");
    std::fs::create_dir_all(&lab).with_context(|| format!("creating {}", lab.display()))?;
    for f in &files {
        let to = lab.join(under(f, &root));
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::copy(f, &to)
            .with_context(|| format!("copying {} to {}", f.display(), to.display()))?;
    }
    let name = job.metadata.name.clone().unwrap_or_default();
    std::fs::write(dir.join("job.yaml"), &yaml).context("writing job.yaml")?;
    std::fs::write(
        dir.join("Dockerfile"),
        format!(
            "# antlab and the lab's files; build with `docker build -t {image} .` here\n\
             # after copying an antlab binary built on Debian 12 into this folder.\n\
             FROM debian:bookworm-slim\n\
             COPY antlab /usr/local/bin/antlab\n\
             COPY lab {LAB_DIR}\n\
             ENTRYPOINT [\"/usr/local/bin/antlab\"]\n",
            image = a.image
        ),
    )
    .context("writing Dockerfile")?;
    std::fs::write(dir.join("README.md"), readme(a, &name)).context("writing README.md")?;
    Ok(format!(
        "wrote {}: job.yaml (Indexed Job {name}, {} shards of {} runs), Dockerfile, lab/ ({} files), README.md",
        dir.display(),
        a.shards,
        a.runs,
        files.len()
    ))
}

fn readme(a: &JobArgs, name: &str) -> String {
    format!(
        "# antlab sweep of {scn} as a Kubernetes Indexed Job\n\
\n\
{runs} runs ({fail}, {seeds} seed(s) each, sweep seed {seed}) in {shards} shards: pod\n\
`$JOB_COMPLETION_INDEX` = I runs the runs whose index is I modulo {shards} and\n\
prints their rows as JSON lines, which `antlab sweep merge` joins into the\n\
table one machine would print, byte for byte.\n\
\n\
1. Build the image: copy an `antlab` binary built on Debian 12 (or in a\n\
   `rust:1-bookworm` container) into this folder, then\n\
   `docker build -t {image} .` and push it where your cluster pulls from\n\
   (or load it into kind: `kind load docker-image {image}`). `lab/` holds the\n\
   scenario and every file it reads.\n\
2. Run: `kubectl apply -f job.yaml`, then\n\
   `kubectl wait --for=condition=complete job/{name} --timeout=1h`.\n\
3. Collect each shard's rows and merge them:\n\
\n\
   ```sh\n\
   for pod in $(kubectl get pods -l job-name={name} --field-selector=status.phase=Succeeded -o name); do\n\
     kubectl logs \"$pod\" > \"${{pod#pod/}}.json\"\n\
   done\n\
   antlab sweep merge *.json              # the table; -o json for JSON lines, --plot F.svg\n\
   ```\n\
\n\
   Only pods that succeeded hold rows (a failed one is retried up to twice\n\
   for its index); merge refuses a missing or repeated row and names it.\n\
   Each pod runs one run at a time (`--jobs 1`, the CPU it requests) and\n\
   requests the memory the scenario's estimate says. `kubectl delete\n\
   job/{name}` removes the Job and its pods.\n",
        scn = a.scenario_name,
        runs = a.runs,
        fail = a.fail,
        seeds = a.seeds,
        seed = a.seed,
        shards = a.shards,
        image = a.image,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_dns_labels_and_the_root_is_the_common_folder() {
        assert_eq!(
            job_name("Egress VLAN_failover"),
            "antlab-sweep-egress-vlan-failover"
        );
        assert_eq!(job_name("--"), "antlab-sweep");
        let root = common_root(&[
            PathBuf::from("/a/b/scenarios/s.yaml"),
            PathBuf::from("/a/b/topologies/t.yaml"),
            PathBuf::from("/a/b/scenarios/manifests/m.yaml"),
        ]);
        assert_eq!(root, PathBuf::from("/a/b"));
        assert_eq!(memory_request(0), "64Mi");
        assert_eq!(memory_request((1 << 20) + 1), "66Mi");
    }
}
