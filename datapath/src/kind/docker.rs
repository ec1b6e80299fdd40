//! `docker inspect <container>...` output, for kind node containers.
//!
//! `docker inspect` prints a JSON array with one object per container, keys in
//! Go's PascalCase (`State.Pid`, `NetworkSettings.Networks.kind.IPAddress`).
//! Only what the kind import needs is read; every other key is ignored, so the
//! output of any Docker release since 20.10 parses. kind puts all its node
//! containers on a user-defined bridge network called `kind` and labels them
//! with `io.x-k8s.kind.cluster` and `io.x-k8s.kind.role`
//! (kind `pkg/cluster/internal/providers/docker/constants.go`).

use std::net::Ipv4Addr;
use std::path::PathBuf;

use indexmap::IndexMap;
use ipnet::Ipv4Net;
use serde::Deserialize;
use sim_core::model::MacAddr;

use super::KindError;

/// The label kind sets to the cluster name (`kind create cluster --name`).
pub const CLUSTER_LABEL: &str = "io.x-k8s.kind.cluster";
/// The label kind sets to the node's role: `control-plane`, `worker` or
/// `external-load-balancer` (the HAProxy container of HA clusters).
pub const ROLE_LABEL: &str = "io.x-k8s.kind.role";
/// The Docker network kind attaches its nodes to (`KIND_EXPERIMENTAL_DOCKER_NETWORK`
/// can rename it; the import only knows the default).
pub const KIND_NETWORK: &str = "kind";

/// One kind node container as `docker inspect` describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KindContainer {
    /// Without Docker's leading `/`; kind names containers after the node's
    /// hostname, which is also the Kubernetes node name.
    pub name: String,
    pub id: String,
    /// `io.x-k8s.kind.cluster`.
    pub cluster: String,
    /// `io.x-k8s.kind.role`.
    pub role: String,
    /// `State.Status`: `running`, `exited`, `paused`, ...
    pub status: String,
    pub running: bool,
    /// `State.Pid`: the container's init process in the host's PID namespace;
    /// 0 when it is not running.
    pub pid: u32,
    /// The container's attachment to the `kind` network, if it has an address
    /// there (Docker clears the address of a stopped container).
    pub network: Option<KindNetwork>,
}

impl KindContainer {
    /// `/proc/PID/ns/net`: the handle real mode opens (or bind-mounts with
    /// `ip netns attach`) to enter the node; `None` without a process.
    pub fn netns_path(&self) -> Option<PathBuf> {
        (self.pid > 0).then(|| PathBuf::from(format!("/proc/{}/ns/net", self.pid)))
    }
}

/// `NetworkSettings.Networks.kind`: the node's `eth0` inside the container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KindNetwork {
    /// `IPAddress/IPPrefixLen`.
    pub address: Ipv4Net,
    pub mac: MacAddr,
    /// The Docker bridge's own address, the nodes' default gateway.
    pub gateway: Ipv4Addr,
    /// The network's id; Docker names its host bridge `br-` + the first 12 hex digits.
    pub network_id: String,
}

/// Parses `docker inspect` output. `file` names the input in messages.
///
/// Syntax and type errors carry serde_json's line and column. A container
/// without kind's role label is refused, because matching it to a Kubernetes
/// node by name would be a guess.
pub fn parse_docker_inspect(file: &str, json: &str) -> Result<Vec<KindContainer>, KindError> {
    let raw: Vec<RawContainer> = serde_json::from_str(json).map_err(|e| KindError::Json {
        file: file.to_string(),
        line: e.line(),
        column: e.column(),
        message: json_message(&e),
    })?;
    raw.into_iter()
        .enumerate()
        .map(|(i, c)| container(file, i, c))
        .collect()
}

/// serde_json's message without its trailing " at line L column C" (we print
/// the position ourselves, in front, like every other antlab input error).
fn json_message(e: &serde_json::Error) -> String {
    let m = e.to_string();
    match m.rfind(" at line ") {
        Some(i) => m[..i].to_string(),
        None => m,
    }
}

fn container(file: &str, index: usize, c: RawContainer) -> Result<KindContainer, KindError> {
    let name = c.name.trim_start_matches('/').to_string();
    let bad = |message: String| KindError::Container {
        file: file.to_string(),
        index,
        container: name.clone(),
        message,
    };
    let labels = c.config.labels.unwrap_or_default();
    let label = |key: &str| labels.get(key).cloned().filter(|v| !v.is_empty());
    let (Some(cluster), Some(role)) = (label(CLUSTER_LABEL), label(ROLE_LABEL)) else {
        return Err(bad(format!(
            "not a kind node container: labels {CLUSTER_LABEL} and {ROLE_LABEL} are missing"
        )));
    };
    let pid = u32::try_from(c.state.pid)
        .map_err(|_| bad(format!("State.Pid {} is not a process id", c.state.pid)))?;
    let networks = c.network_settings.networks.unwrap_or_default();
    let network = match networks.get(KIND_NETWORK) {
        // A stopped container keeps its network entry with the values cleared.
        Some(n) if !n.ip_address.is_empty() => {
            let ip: Ipv4Addr = n.ip_address.parse().map_err(|_| {
                bad(format!(
                    "Networks.kind.IPAddress {:?} is not an IPv4 address",
                    n.ip_address
                ))
            })?;
            let address = Ipv4Net::new(ip, n.ip_prefix_len).map_err(|_| {
                bad(format!(
                    "Networks.kind.IPPrefixLen {} is not an IPv4 prefix length",
                    n.ip_prefix_len
                ))
            })?;
            let mac: MacAddr = n
                .mac_address
                .parse()
                .map_err(|e| bad(format!("Networks.kind.MacAddress {:?}: {e}", n.mac_address)))?;
            let gateway: Ipv4Addr = n.gateway.parse().map_err(|_| {
                bad(format!(
                    "Networks.kind.Gateway {:?} is not an IPv4 address",
                    n.gateway
                ))
            })?;
            Some(KindNetwork {
                address,
                mac,
                gateway,
                network_id: n.network_id.clone(),
            })
        }
        _ => None,
    };
    Ok(KindContainer {
        name,
        id: c.id,
        cluster,
        role,
        status: c.state.status,
        running: c.state.running,
        pid,
        network,
    })
}

// ---- raw JSON shapes (Docker Engine API ContainerInspectResponse) ------------------

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawContainer {
    id: String,
    name: String,
    state: RawState,
    config: RawConfig,
    network_settings: RawNetworkSettings,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawState {
    status: String,
    running: bool,
    // i64: Docker's Go type is int, and a negative value deserves our message,
    // not serde's.
    pid: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawConfig {
    // `null` when a container has no labels.
    labels: Option<IndexMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawNetworkSettings {
    // `null` for a container with `--network none`.
    networks: Option<IndexMap<String, RawEndpoint>>,
}

#[derive(Deserialize)]
struct RawEndpoint {
    #[serde(rename = "IPAddress", default)]
    ip_address: String,
    #[serde(rename = "IPPrefixLen", default)]
    ip_prefix_len: u8,
    #[serde(rename = "MacAddress", default)]
    mac_address: String,
    #[serde(rename = "Gateway", default)]
    gateway: String,
    #[serde(rename = "NetworkID", default)]
    network_id: String,
}
