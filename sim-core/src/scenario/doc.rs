//! The scenario file as written (serde shapes). `load` turns it into checked values.

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::time::SimDuration;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ScenarioDoc {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) description: Option<String>,
    pub(crate) topology: Spanned<String>,
    #[serde(default)]
    pub(crate) seed: Option<u64>,
    #[serde(default)]
    pub(crate) until: Option<Spanned<SimDuration>>,
    /// The UTC instant simulated time zero stands for (flow record times).
    #[serde(default)]
    pub(crate) start_time: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) options: Option<OptionsDoc>,
    #[serde(default)]
    pub(crate) steps: Vec<Spanned<StepDoc>>,
}

/// What-if knobs that change behaviour without editing the topology.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OptionsDoc {
    /// Antrea sends one gratuitous ARP per new Egress assignment (since PR
    /// #5127); `false` reproduces the behaviour before it (issue #5117).
    #[serde(default)]
    pub(crate) egress_gratuitous_arp: Option<bool>,
    /// Per-device ARP policy override: `linux`, or `fixed` with a timeout
    /// (`fixed 4h`).
    #[serde(default)]
    pub(crate) arp: indexmap::IndexMap<String, Spanned<String>>,
    /// Switches that run BFD on their static routes.
    #[serde(default)]
    pub(crate) bfd: Vec<Spanned<String>>,
    /// Per router or switch: equal static routes used together, up to N
    /// (a router OS's `maximum-paths N`; default 1, Linux's first-route rule).
    #[serde(default)]
    pub(crate) maximum_paths: indexmap::IndexMap<String, Spanned<u64>>,
    /// Per device: what the multipath hash covers, `l3` (default) or `l4`
    /// (Linux `fib_multipath_hash_policy` 0 or 1).
    #[serde(default)]
    pub(crate) multipath_hash: indexmap::IndexMap<String, Spanned<String>>,
    /// Does the cluster run kube-proxy, and how: `iptables` (kubeadm's
    /// default, the default here), `ipvs`, `ipvs-strict-arp` or `none`.
    #[serde(default)]
    pub(crate) kube_proxy: Option<Spanned<String>>,
    /// The HTTP status a host's web server answers with (default 200), e.g.
    /// `{ext-vm: 301}` for the blog's www.vg.no.
    #[serde(default)]
    pub(crate) http_status: indexmap::IndexMap<String, u16>,
    /// Start from a cluster that has been running (default false): every
    /// agent's memberlist already lists every node Alive, so nobody joins
    /// everyone at 0 s; and once the 0 s steps have run, ARP caches hold
    /// the neighbours that talk all the time: each host its gateways, each
    /// gateway (a switch SVI or router) every address on its subnets.
    /// Large generated clusters (`antlab gen`) use it: a cold start there is
    /// an n-squared join storm that a real cluster went through long ago.
    #[serde(default)]
    pub(crate) warm_start: Option<bool>,
    /// Record a log line per frame (default true; `-v` and `-o json` show
    /// them). `false` keeps large runs' logs to the story.
    #[serde(default)]
    pub(crate) frame_log: Option<bool>,
    /// The Antrea release to model, e.g. `v2.1.0` (default v1.15.1, the
    /// blog's): its feature gates and defaults, the config keys it knows,
    /// and the behaviour that changed between releases.
    #[serde(default)]
    pub(crate) antrea_version: Option<Spanned<String>>,
    /// What each node's br-int is: `switch` (default; a MAC-learning switch,
    /// the node's stack does Services, and Pod traffic is routed natively)
    /// or `pipeline` (br-int executes the node's compiled Antrea program,
    /// Pod traffic between nodes goes through the Geneve tunnel in encap).
    #[serde(default)]
    pub(crate) br_int: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StepDoc {
    pub(crate) at: Spanned<SimDuration>,
    #[serde(default)]
    pub(crate) apply: Option<Spanned<ApplyDoc>>,
    /// `kubectl delete -f`: the objects named in the manifests are deleted.
    #[serde(default)]
    pub(crate) delete: Option<Spanned<ApplyDoc>>,
    #[serde(default)]
    pub(crate) label: Option<Spanned<LabelDoc>>,
    #[serde(default)]
    pub(crate) annotate: Option<Spanned<LabelDoc>>,
    #[serde(default)]
    pub(crate) power: Option<Spanned<StateDoc>>,
    #[serde(default)]
    pub(crate) link: Option<Spanned<StateDoc>>,
    #[serde(default)]
    pub(crate) probe: Option<Spanned<ProbeDoc>>,
    #[serde(default)]
    pub(crate) stop_probe: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) show: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) expect: Option<Vec<Spanned<ExpectDoc>>>,
    #[serde(default)]
    pub(crate) say: Option<Spanned<String>>,
    /// Flush a device's ARP cache (`clear arp-cache`, `ip neigh flush all`).
    #[serde(default)]
    pub(crate) clear_arp: Option<Spanned<String>>,
    /// `ip route add|del` on a device: `{device: core-sw, add: "10.169.1.40/32 via 10.160.1.26 metric 10"}`.
    #[serde(default)]
    pub(crate) route: Option<Spanned<RouteStepDoc>>,
    /// Reconfigure a switch port's VLANs: `{port: vmbr0/node-vm-2, proxmox: "tag=216"}`.
    #[serde(default)]
    pub(crate) vlan: Option<Spanned<VlanDoc>>,
    /// An inline appliance between TrafficControl ports (an IPS):
    /// `{from: tap0, to: tap1, drop: [{protocol: TCP, port: 80}]}`, or
    /// `{from: tap0, stop: true}`; `nodes` defaults to every node.
    #[serde(default)]
    pub(crate) inline: Option<Spanned<InlineDoc>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InlineDoc {
    #[serde(default)]
    pub(crate) nodes: Option<Vec<Spanned<String>>>,
    pub(crate) from: Spanned<String>,
    #[serde(default)]
    pub(crate) to: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) drop: Vec<Spanned<InlineDropDoc>>,
    #[serde(default)]
    pub(crate) stop: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InlineDropDoc {
    pub(crate) protocol: Spanned<String>,
    #[serde(default)]
    pub(crate) port: Option<u16>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteStepDoc {
    pub(crate) device: Spanned<String>,
    #[serde(default)]
    pub(crate) add: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) del: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VlanDoc {
    pub(crate) port: Spanned<String>,
    pub(crate) proxmox: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplyDoc {
    #[serde(default)]
    pub(crate) file: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) inline: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelDoc {
    pub(crate) node: Spanned<String>,
    /// kubectl syntax: `key=value` sets, `key-` removes; several separated by spaces or commas.
    pub(crate) set: Spanned<String>,
}

/// `power: {device, state: on|off}` and `link: {port: device/iface, state: up|down}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateDoc {
    #[serde(default)]
    pub(crate) device: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) port: Option<Spanned<String>>,
    pub(crate) state: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeDoc {
    pub(crate) name: Spanned<String>,
    pub(crate) from: Spanned<String>,
    pub(crate) to: Spanned<String>,
    #[serde(default)]
    pub(crate) kind: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) port: Option<u16>,
    /// `kind: http`: the Host header (default: the target as written).
    #[serde(default)]
    pub(crate) host: Option<String>,
    /// `kind: http`: the request path (default `/`).
    #[serde(default)]
    pub(crate) path: Option<String>,
    #[serde(default)]
    pub(crate) interval: Option<Spanned<SimDuration>>,
    #[serde(default)]
    pub(crate) timeout: Option<SimDuration>,
    #[serde(default)]
    pub(crate) count: Option<u32>,
    /// `kind: ping`: the ICMP payload in bytes (`ping -s`), sent with DF
    /// set (`ping -M do`).
    #[serde(default)]
    pub(crate) size: Option<Spanned<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExpectDoc {
    // About a probe.
    #[serde(default)]
    pub(crate) probe: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) last: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) reason: Option<String>,
    #[serde(default)]
    pub(crate) seen_source: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) via_vlan: Option<u16>,
    #[serde(default)]
    pub(crate) not_via_vlan: Option<u16>,
    #[serde(default)]
    pub(crate) max_outage: Option<SimDuration>,
    #[serde(default)]
    pub(crate) min_outage: Option<SimDuration>,
    /// Which proxy load-balanced the last attempt (`AntreaProxy`, `kube-proxy`).
    #[serde(default)]
    pub(crate) handled_by: Option<String>,
    /// Every successful attempt so far was answered by one of these hosts.
    #[serde(default)]
    pub(crate) only_answered_by: Option<Vec<String>>,
    /// At least this many different hosts answered (load is spread).
    #[serde(default)]
    pub(crate) min_answerers: Option<usize>,
    /// The last attempt's reply did not pass through this device (DSR).
    #[serde(default)]
    pub(crate) reply_avoids: Option<String>,
    /// The HTTP status of the last attempt (`kind: http`).
    #[serde(default)]
    pub(crate) http_status: Option<u16>,
    // About an ARP cache.
    #[serde(default)]
    pub(crate) arp: Option<Spanned<ArpExpectDoc>>,
    // About a MAC table.
    #[serde(default)]
    pub(crate) mac: Option<Spanned<MacExpectDoc>>,
    // About an Egress's status.
    #[serde(default)]
    pub(crate) egress: Option<Spanned<EgressExpectDoc>>,
    // About a ServiceExternalIP.
    #[serde(default, rename = "serviceExternalIP")]
    pub(crate) service_external_ip: Option<Spanned<SeipExpectDoc>>,
    // About a routing table.
    #[serde(default)]
    pub(crate) route: Option<Spanned<RouteExpectDoc>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteExpectDoc {
    pub(crate) device: Spanned<String>,
    /// The destination prefix, exactly as the route has it.
    pub(crate) to: Spanned<String>,
    /// Every next hop the device forwards it through; `[]`: no route.
    pub(crate) via: Spanned<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeipExpectDoc {
    /// `namespace/name`.
    pub(crate) service: Spanned<String>,
    /// The node answering for the IP, or `none`.
    #[serde(default)]
    pub(crate) node: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) ip: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EgressExpectDoc {
    pub(crate) name: Spanned<String>,
    /// The node holding the IP, or `none`.
    #[serde(default)]
    pub(crate) node: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) ip: Option<Spanned<String>>,
    /// Every node that has the Egress IP on an interface (two or more when
    /// the agents' views disagree); `[]` for none.
    #[serde(default, rename = "heldBy")]
    pub(crate) held_by: Option<Spanned<Vec<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArpExpectDoc {
    pub(crate) device: Spanned<String>,
    pub(crate) ip: Spanned<String>,
    /// A MAC address, or `device/iface` whose MAC it must be.
    #[serde(default)]
    pub(crate) mac: Option<Spanned<String>>,
    /// `reachable`, `stale`, `delay`, `probe`, `incomplete`, `present` or `absent`.
    #[serde(default)]
    pub(crate) state: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MacExpectDoc {
    pub(crate) switch: Spanned<String>,
    pub(crate) vlan: u16,
    /// A MAC address or `device/iface`.
    pub(crate) mac: Spanned<String>,
    /// The port it must be learned on; absent = just learned somewhere.
    #[serde(default)]
    pub(crate) port: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) absent: bool,
}
