//! kind clusters as a real-mode target, and as a lab the simulator can play.
//!
//! A [kind](https://kind.sigs.k8s.io) cluster runs each Kubernetes node as a
//! privileged Docker container on a user-defined bridge network called `kind`.
//! Each container has its own network namespace, which is exactly what
//! antlab's real mode creates per node; so a kind cluster's nodes can stand in
//! for antlab's node namespaces. This module finds them and describes them:
//!
//! - [`docker`]: `docker inspect <containers...>` → [`KindContainer`]s: name,
//!   kind's cluster and role labels, `State.Pid`/`State.Running`, the netns
//!   path `/proc/PID/ns/net`, and the `kind` network's address, MAC and gateway.
//! - [`kube`]: `kubectl get nodes -o yaml` → [`KubeNode`]s (InternalIP,
//!   `spec.podCIDR`, labels), with `file:line:column` errors.
//! - [`import()`]: both joined into a [`KindTarget`] (node → container, PID,
//!   netns path), plus an antlab topology (the nodes' `eth0` on one switch
//!   standing for the Docker bridge, the Docker host as their gateway), the
//!   cluster's Namespaces/ExternalIPPools/Pods/Egresses as manifests, and a
//!   scenario that applies them. [`KindImport::write_to`] writes the lab.
//!
//! Nothing here runs `docker` or `kubectl`: callers hand in their output, so
//! everything is tested against recorded text (`tests/fixtures/kind/`).
//!
//! # How real mode uses a `KindTarget`
//!
//! The lab code creates a namespace per node (`ip netns add`) and wires it.
//! Against kind it must not create node namespaces; it enters the existing
//! ones by path instead:
//!
//! - A node's namespace is [`TargetNode::netns`] (`/proc/PID/ns/net`).
//!   Commands run in it with `nsenter --net=/proc/PID/ns/net -- CMD`
//!   ([`TargetNode::nsenter`] builds that argv), or through `setns(2)` on an
//!   opened fd, which is what a `NetnsHandle` should hold: an open fd pins
//!   the namespace even if the PID is later reused. To use `ip -n`, name it
//!   with `ip netns attach antlab-NODE PID` ([`TargetNode::netns_attach`])
//!   and `ip netns delete antlab-NODE` on teardown; that only unmounts the
//!   name, the container's namespace lives on.
//! - So a `NetnsHandle` has two constructors: "create" (antlab's own lab,
//!   deleted on drop) and "attach by path" (kind; never deleted, only closed).
//!   Everything above it (reading `ip -j addr`/`route`, `nft -j list
//!   ruleset`, captures) works the same on both.
//! - Parity: the simulator plays the imported scenario; real mode reads the
//!   same state from the kind nodes (addresses, routes, the Egress IP on
//!   `antrea-egress0`, SNAT rules, `kubectl get egress`) and the two are
//!   compared.
//! - Faults map to Docker: `docker pause NODE` freezes the node but keeps its
//!   veth up, like the simulator's powered-off VM whose switch port stays up;
//!   `docker stop` also removes the veth (link down) and frees the PID, so
//!   the target is imported again after `docker start`. A cut link is `ip
//!   link set eth0 down` inside the node's namespace.
//!
//! What does not carry over:
//!
//! - kind nodes already run a real Antrea agent, OVS and (usually)
//!   kube-proxy. antlab must not apply its own `NodeDataplane` there; the
//!   agent would fight it. Against kind, real mode observes and injects
//!   faults; it does not program OVS or nftables.
//! - antlab adds addresses, links and routes only in namespaces it created.
//!   It never adds an address to a kind node, the Docker bridge or the host;
//!   an external host a scenario needs gets its own namespace, attached to the
//!   bridge with a veth antlab created and deletes.
//! - The Docker bridge is a plain Linux bridge without VLAN filtering: no
//!   802.1Q trunks, no `proxmox:` ports, no Egress `subnetInfo.vlan`. The
//!   imported topology has one untagged switch.
//! - Antrea on kind encapsulates inter-node Pod traffic in Geneve by default,
//!   while the simulator routes it natively; addresses and Egress/SNAT
//!   decisions match, the frames on the bridge do not.
//! - The Docker host masquerades traffic leaving the `kind` network; the
//!   simulator stops at the gateway (`docker-host`).
//! - Containers are matched to nodes by name only because kind names them
//!   so; a node that is not its container's name, or a Docker network other
//!   than `kind` (`KIND_EXPERIMENTAL_DOCKER_NETWORK`), is refused, not guessed.
//! - Host-network Pods (the agents, kube-proxy, the control plane) are the
//!   node itself in antlab and are left out; so are finished Pods, whose IP a
//!   running Pod may already have.
//! - IPv4 only; kind's IPv6 addresses on the network are ignored.

pub mod docker;
mod import;
pub mod kube;

pub use docker::{KindContainer, KindNetwork, parse_docker_inspect};
pub use import::{
    HOST_DEVICE, Input, KindImport, KindTarget, ManifestFile, SWITCH, TargetNode, import,
};
pub use kube::{KubeNode, parse_nodes};

use std::net::Ipv4Addr;

use sim_core::input::InputError;

/// Why a kind cluster could not be imported. Input problems name the file and,
/// where the format allows, the line and column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KindError {
    /// `docker inspect` output that is not valid JSON or not its shape.
    #[error("{file}:{line}:{column}: {message}")]
    Json {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// A container in `docker inspect` output that cannot be used; `index`
    /// is its 0-based position in the array.
    #[error("{file}: container #{index} `{container}`: {message}")]
    Container {
        file: String,
        index: usize,
        container: String,
        message: String,
    },
    /// A problem in a YAML file (`kubectl get` output, manifests).
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(
        "{origin}: node `{node}` has no container in the docker inspect output (kind names containers after nodes; found: {})",
        containers.join(", ")
    )]
    NoContainer {
        node: String,
        origin: String,
        containers: Vec<String>,
    },
    #[error(
        "node `{node}`: container `{container}` is {status}, not running (`docker start {container}`, then inspect it again)"
    )]
    NotRunning {
        node: String,
        container: String,
        status: String,
    },
    #[error(
        "node `{node}`: container `{container}` reports State.Pid 0, so it has no network namespace to enter"
    )]
    NoPid { node: String, container: String },
    #[error(
        "node `{node}`: container `{container}` has no IPv4 address on the `kind` Docker network"
    )]
    NoKindNetwork { node: String, container: String },
    #[error(
        "{origin}: node `{node}` has InternalIP {internal_ip}, but its container has {container_ip} on the `kind` network"
    )]
    AddressMismatch {
        node: String,
        origin: String,
        internal_ip: Ipv4Addr,
        container_ip: Ipv4Addr,
    },
    #[error("the nodes are not one kind cluster on one network: {first}, but {other}")]
    MixedClusters { first: String, other: String },
    /// The nodes' data does not make a valid antlab topology.
    #[error("the cluster's nodes do not make a valid antlab topology: {0}")]
    Topology(String),
    #[error("could not render the lab: {0}")]
    Render(String),
    #[error("{path}: {message}")]
    Io { path: String, message: String },
}
