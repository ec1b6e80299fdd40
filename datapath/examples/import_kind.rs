//! `antlab real import-kind` as it would sit in `src/main.rs`, compiled here so
//! the proposed wiring is known to build; delete once the CLI has it.
//!
//! ```sh
//! cargo run -p datapath --example import_kind -- real import-kind \
//!   --docker-inspect datapath/tests/fixtures/kind/docker-inspect.json \
//!   --nodes datapath/tests/fixtures/kind/nodes.yaml \
//!   --kubectl datapath/tests/fixtures/kind/pods.yaml \
//!   --kubectl datapath/tests/fixtures/kind/egress.yaml -o /tmp/kind-lab
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// ---- from here: the part for src/main.rs -------------------------------------------

#[derive(Subcommand)]
enum Command {
    /// Real mode: Linux namespaces, OVS, nftables; and kind clusters as targets.
    Real {
        #[command(subcommand)]
        command: RealCommand,
    },
}

#[derive(Subcommand)]
enum RealCommand {
    /// Turn a kind cluster into a real-mode target (node → container PID and
    /// netns) and an antlab lab (topology, scenario, manifests) in DIR.
    ImportKind {
        /// `docker inspect $(kind get nodes --name CLUSTER)` output.
        #[arg(long)]
        docker_inspect: PathBuf,
        /// `kubectl get nodes -o yaml` output.
        #[arg(long)]
        nodes: PathBuf,
        /// More `kubectl get ... -o yaml` output (pods -A, egresses,
        /// externalippools, namespaces, the antrea-config and kube-proxy
        /// ConfigMaps); repeatable.
        #[arg(long)]
        kubectl: Vec<PathBuf>,
        /// The folder to write the lab into.
        #[arg(short, long)]
        output: PathBuf,
    },
}

fn dispatch(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Real {
            command:
                RealCommand::ImportKind {
                    docker_inspect,
                    nodes,
                    kubectl,
                    output,
                },
        } => import_kind(&docker_inspect, &nodes, &kubectl, &output),
    }
}

/// Reads the recorded outputs, imports, writes the lab and says what it did.
fn import_kind(docker: &Path, nodes: &Path, kubectl: &[PathBuf], out: &Path) -> Result<ExitCode> {
    let read = |p: &Path| -> Result<(String, String)> {
        let text = read_text(p)?;
        Ok((p.display().to_string(), text))
    };
    let docker = read(docker)?;
    let nodes = read(nodes)?;
    let others = kubectl
        .iter()
        .map(|p| read(p))
        .collect::<Result<Vec<_>>>()?;
    let others: Vec<(&str, &str)> = others
        .iter()
        .map(|(f, t)| (f.as_str(), t.as_str()))
        .collect();
    let imp = datapath::kind::import((&docker.0, &docker.1), (&nodes.0, &nodes.1), &others)
        .map_err(|e| match e {
            // Keep InputError's type so main prints `file:line:column: ...` and exits 2.
            datapath::kind::KindError::Input(ie) => anyhow::Error::new(ie),
            other => bad(other.to_string()),
        })?;
    let written = imp.write_to(out).map_err(|e| bad(e.to_string()))?;
    for p in &written {
        println!("wrote {}", p.display());
    }
    for s in &imp.skipped {
        println!("skipped {s}");
    }
    println!(
        "kind cluster {}: {} nodes on {} (bridge {}); next: antlab run {}",
        imp.target.cluster,
        imp.target.nodes.len(),
        imp.target.subnet,
        imp.bridge,
        out.join("scenario.yaml").display()
    );
    Ok(ExitCode::SUCCESS)
}

// ---- up to here. main.rs already has these two helpers: -------------------------

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| bad(format!("{}: cannot read: {e}", path.display())))
}

fn bad(msg: impl Into<String>) -> anyhow::Error {
    anyhow::anyhow!(msg.into())
}

fn main() -> ExitCode {
    match dispatch(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
