//! Who handles a packet to a Service address, which endpoints it may go to,
//! and which one a given connection gets.
//!
//! ## Precedence (decided from Antrea's docs and code)
//! - **Pod origin**: the packet enters OVS first. AntreaProxy handles it if it
//!   has a ServiceLB flow for the address: ClusterIP always, LoadBalancer IPs
//!   with `proxyLoadBalancerIPs`, NodePort (this node's NodePort addresses only)
//!   and external IPs with `proxyAll`. Anything else leaves through
//!   `antrea-gw0` to the host, where kube-proxy (if running) handles it
//!   (blog "AntreaProxy AND Kube-Proxy together"; docs/antrea-proxy.md).
//! - **Node (host network) and External origin**: the packet is in the host
//!   network stack. Without `proxyAll` AntreaProxy installs nothing there:
//!   kube-proxy handles it, or nobody does. With `proxyAll` and no kube-proxy,
//!   AntreaProxy handles it (ClusterIP and LoadBalancer IPs through the routes
//!   to `antrea-gw0`, NodePort through the DNAT to 169.254.0.252). With both:
//!   v1.15–v2.0 "kube-proxy will usually take priority … because kube-proxy
//!   rules typically come before the rules installed by AntreaProxy"
//!   (docs/antrea-proxy.md@v1.15.0), which the blog confirms; from v2.1
//!   (PR #6308, `ProxyConfig::antrea_first_with_proxy_all`) Antrea's jump is
//!   forced before `KUBE-SERVICES` and its LB/external IPs are NOTRACKed, so
//!   AntreaProxy wins NodePort, LoadBalancer and external IPs — only with
//!   kube-proxy in iptables mode, the only mode the PR covers. ClusterIP from
//!   the host stays kube-proxy's (its nat OUTPUT DNAT runs before routing).
//!
//! ## Endpoints for the match
//! ClusterIP: the Local group with internalTrafficPolicy Local, else Cluster.
//! External destinations with externalTrafficPolicy Local: Local endpoints for
//! External origin; Pod and Node sources are short-circuited to the Cluster
//! endpoints (Antrea's priority-210 `FromLocalRegMark` flow; kube-proxy's
//! "pod traffic"/"route LOCAL traffic" rules; without `--cluster-cidr`
//! kube-proxy cannot recognize pods, so pods get Local). IPVS cannot tell
//! sources apart: Local for everyone.
//!
//! ## No endpoints
//! AntreaProxy: packet-in to the agent, which answers TCP with RST+ACK and
//! everything else with ICMP destination unreachable code 10 "host
//! administratively prohibited" (`SendRejectPacketOut`,
//! pkg/agent/openflow/packetout.go). kube-proxy iptables: `REJECT` =
//! ICMP port unreachable (also for TCP) when no endpoint exists anywhere,
//! `DROP` when only local ones are missing. IPVS: a virtual server without
//! real servers makes the kernel send ICMP port unreachable (`ip_vs_leave`).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use super::rules::{EndpointRef, NodeServiceRules, ServicePortRules, VipKind};
use super::{KubeProxyMode, LbMode, ServicePortName, proto_num};
use crate::k8s::Protocol;
use crate::time::{SimDuration, SimTime};

/// Where a packet comes from, as seen on the node that classifies it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TrafficOrigin {
    /// A Pod on this node (enters OVS on its port).
    Pod,
    /// This node's host network (a host-network Pod or a process).
    Node,
    /// Arrived from outside the node (uplink).
    External,
}

/// Which proxy implements the match.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProxyKind {
    AntreaProxy,
    KubeProxyIptables,
    KubeProxyIpvs,
}

/// What happens to a new connection when there is no endpoint to pick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoEndpointsAction {
    /// TCP RST+ACK from the Service address (AntreaProxy, TCP).
    TcpReset,
    /// ICMP destination unreachable (type 3) with this code: 3 port
    /// unreachable (kube-proxy REJECT, IPVS), 10 host administratively
    /// prohibited (AntreaProxy, non-TCP).
    IcmpUnreachable { code: u8 },
    /// Silently dropped (kube-proxy, Local policy without local endpoints).
    Drop,
}

/// Source NAT the proxy applies besides the DNAT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnatPolicy {
    /// Source kept. (Hairpin — a Pod reaching itself through the Service — is
    /// always SNATed by both proxies; the datapath handles that case.)
    None,
    /// kube-proxy's `KUBE-MARK-MASQ`: MASQUERADE on the way out.
    Masquerade,
    /// AntreaProxy NAT mode for external traffic: SNAT to `antrea-gw0`'s IP
    /// when the chosen endpoint is on another node.
    IfRemoteEndpoint,
}

/// The result of [`classify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceMatch {
    pub(crate) service: ServicePortName,
    pub(crate) proxy: ProxyKind,
    pub(crate) vip: VipKind,
    pub(crate) dst: Ipv4Addr,
    pub(crate) dport: u16,
    pub(crate) protocol: Protocol,
    pub(crate) origin: TrafficOrigin,
    /// Candidate endpoints after traffic policies and topology, in the
    /// proxy's order (Antrea: by IP and port; kube-proxy: by `ip:port` text).
    pub(crate) endpoints: Vec<(Ipv4Addr, u16)>,
    /// ClientIP affinity timeout in seconds as this proxy applies it
    /// (AntreaProxy caps it at 65535).
    pub(crate) affinity_timeout: Option<u32>,
    /// Dsr only for external-origin traffic to a DSR LoadBalancer/external IP.
    pub(crate) lb_mode: LbMode,
    /// Set when `endpoints` is empty.
    pub(crate) no_endpoints: Option<NoEndpointsAction>,
    pub(crate) snat: SnatPolicy,
}

/// Finds the Service port a packet is for and the proxy that handles it on
/// this node. None: not a Service address here, or no proxy handles it.
pub fn classify(
    rules: &NodeServiceRules,
    origin: TrafficOrigin,
    dst: Ipv4Addr,
    dport: u16,
    proto: Protocol,
) -> Option<ServiceMatch> {
    if !rules.may_match(dport) {
        return None;
    }
    let kube_nodeport_addrs = rules.node.kube_nodeport_addresses(&rules.cfg);
    for p in rules.ports().filter(|p| p.protocol == proto) {
        let kind = if p.cluster_ip == dst && p.port == dport {
            VipKind::ClusterIp
        } else if p.port == dport && p.lb_ips.contains(&dst) {
            VipKind::LoadBalancerIp
        } else if p.port == dport && p.external_ips.contains(&dst) {
            VipKind::ExternalIp
        } else if p.node_port == Some(dport)
            && (kube_nodeport_addrs.contains(&dst)
                || rules.antrea_nodeport_addresses.contains(&dst))
        {
            VipKind::NodePort
        } else {
            continue;
        };
        let Some(proxy) = handler(rules, p, origin, kind, dst, &kube_nodeport_addrs) else {
            continue;
        };
        return Some(build_match(rules, p, origin, kind, dst, dport, proxy));
    }
    None
}

/// The proxy that handles traffic from `origin` to `dst:dport` on this node
/// ([`classify`]'s choice), if any.
pub fn handled_by(
    rules: &NodeServiceRules,
    origin: TrafficOrigin,
    dst: Ipv4Addr,
    dport: u16,
    proto: Protocol,
) -> Option<ProxyKind> {
    classify(rules, origin, dst, dport, proto).map(|m| m.proxy)
}

/// The precedence rules of the module doc.
fn handler(
    rules: &NodeServiceRules,
    p: &ServicePortRules,
    origin: TrafficOrigin,
    kind: VipKind,
    dst: Ipv4Addr,
    kube_nodeport_addrs: &[Ipv4Addr],
) -> Option<ProxyKind> {
    let cfg = &rules.cfg;
    let antrea_ok = p.antrea.as_ref().is_some_and(|a| {
        a.vips.iter().any(|v| {
            v.kind == kind
                && match v.ip {
                    Some(ip) => ip == dst,
                    None => rules.antrea_nodeport_addresses.contains(&dst),
                }
        })
    });
    let kube = p.kube.as_ref().and_then(|k| {
        let ok = kind != VipKind::NodePort || kube_nodeport_addrs.contains(&dst);
        ok.then_some(match k.mode {
            KubeProxyMode::Iptables => ProxyKind::KubeProxyIptables,
            KubeProxyMode::Ipvs { .. } => ProxyKind::KubeProxyIpvs,
        })
    });
    match origin {
        TrafficOrigin::Pod => {
            if antrea_ok {
                Some(ProxyKind::AntreaProxy)
            } else {
                kube
            }
        }
        TrafficOrigin::Node | TrafficOrigin::External => {
            let antrea_host = cfg.proxy_all && antrea_ok;
            match kube {
                None => antrea_host.then_some(ProxyKind::AntreaProxy),
                Some(k) => {
                    if antrea_host
                        && cfg.antrea_first_with_proxy_all
                        && k == ProxyKind::KubeProxyIptables
                        && kind.is_external()
                    {
                        Some(ProxyKind::AntreaProxy)
                    } else {
                        Some(k)
                    }
                }
            }
        }
    }
}

fn build_match(
    rules: &NodeServiceRules,
    p: &ServicePortRules,
    origin: TrafficOrigin,
    kind: VipKind,
    dst: Ipv4Addr,
    dport: u16,
    proxy: ProxyKind,
) -> ServiceMatch {
    let external_src = origin == TrafficOrigin::External;
    let (use_local, cats_cluster, cats_local, affinity, lb_mode, no_ep, snat);
    match proxy {
        ProxyKind::AntreaProxy => {
            let a = p.antrea.as_ref().expect("handler checked");
            let vip = a
                .vips
                .iter()
                .find(|v| v.kind == kind)
                .expect("handler checked");
            use_local = if kind == VipKind::ClusterIp {
                vip.local_policy
            } else {
                vip.local_policy && external_src
            };
            cats_cluster = &a.cluster_group;
            cats_local = &a.local_group;
            affinity = (a.affinity_timeout > 0).then_some(u32::from(a.affinity_timeout));
            lb_mode = if vip.dsr && external_src {
                LbMode::Dsr
            } else {
                LbMode::Nat
            };
            no_ep = if p.protocol == Protocol::Tcp {
                NoEndpointsAction::TcpReset
            } else {
                NoEndpointsAction::IcmpUnreachable { code: 10 }
            };
            snat = if kind.is_external() && external_src && lb_mode == LbMode::Nat {
                SnatPolicy::IfRemoteEndpoint
            } else if origin == TrafficOrigin::Node {
                // Host traffic reaches OVS through antrea-gw0, where
                // "Antrea: masquerade LOCAL traffic" gives any source that
                // is not the gateway's the gateway's address
                // (pkg/agent/route/route_linux.go v2.7.0): a connection from
                // 127.0.0.1 or another NIC's address comes back.
                SnatPolicy::Masquerade
            } else {
                SnatPolicy::None
            };
        }
        ProxyKind::KubeProxyIptables | ProxyKind::KubeProxyIpvs => {
            let k = p.kube.as_ref().expect("handler checked");
            let ipvs = proxy == ProxyKind::KubeProxyIpvs;
            let detects_pods = rules.cfg.cluster_cidr.is_some();
            use_local = if kind == VipKind::ClusterIp {
                p.itp_local
            } else if !p.etp_local {
                false
            } else if ipvs {
                true
            } else {
                match origin {
                    TrafficOrigin::External => true,
                    TrafficOrigin::Node => false,
                    TrafficOrigin::Pod => !detects_pods,
                }
            };
            cats_cluster = &k.cats.cluster;
            cats_local = &k.cats.local;
            affinity = p.affinity_seconds;
            lb_mode = LbMode::Nat;
            no_ep = if ipvs || !k.cats.has_any {
                NoEndpointsAction::IcmpUnreachable { code: 3 }
            } else {
                NoEndpointsAction::Drop
            };
            let masq = if kind == VipKind::ClusterIp {
                detects_pods && origin != TrafficOrigin::Pod
            } else if !p.etp_local {
                true
            } else {
                origin == TrafficOrigin::Node
            };
            snat = if masq {
                SnatPolicy::Masquerade
            } else {
                SnatPolicy::None
            };
        }
    }
    let list: &Option<Vec<EndpointRef>> = if use_local { cats_local } else { cats_cluster };
    let endpoints: Vec<(Ipv4Addr, u16)> = list.iter().flatten().map(|e| (e.ip, e.port)).collect();
    ServiceMatch {
        service: p.name.clone(),
        proxy,
        vip: kind,
        dst,
        dport,
        protocol: p.protocol,
        origin,
        no_endpoints: endpoints.is_empty().then_some(no_ep),
        endpoints,
        affinity_timeout: affinity,
        lb_mode,
        snat,
    }
}

/// SplitMix64's finalizer: spreads any input over all 64 bits.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Picks the endpoint for a new connection from `flow_hash`, a hash of its
/// 5-tuple that the simulator computes. Deterministic: the same hash and
/// candidates give the same endpoint.
///
/// - AntreaProxy: OVS picks a bucket of the select group from a hash of the
///   flow, each bucket weighted 100. Modelled as rendezvous hashing: each
///   endpoint scores `(mix(hash ^ mix(ip:port)) & 0xffff) · 100`, the highest
///   wins (OVS's `group_best_live_bucket` scores buckets the same way), so
///   removing one endpoint only moves that endpoint's connections.
/// - kube-proxy iptables: rule i of `KUBE-SVC-*` matches with probability
///   `1/(n-i)`; the random draws are taken from the hash.
/// - IPVS `rr` is a per-server counter; modelled as `hash mod n` so the choice
///   stays a pure function of the connection.
///
/// None when there is no candidate.
pub fn pick_endpoint(m: &ServiceMatch, flow_hash: u64) -> Option<(Ipv4Addr, u16)> {
    let eps = &m.endpoints;
    if eps.is_empty() {
        return None;
    }
    let h = mix(flow_hash);
    let i = match m.proxy {
        ProxyKind::AntreaProxy => {
            let score = |e: &(Ipv4Addr, u16)| {
                let key = (u64::from(u32::from(e.0)) << 16) | u64::from(e.1);
                (mix(h ^ mix(key)) & 0xffff) * u64::from(super::BUCKET_WEIGHT)
            };
            let mut best = 0;
            let mut best_score = score(&eps[0]);
            for (i, e) in eps.iter().enumerate().skip(1) {
                let s = score(e);
                if s > best_score {
                    best = i;
                    best_score = s;
                }
            }
            best
        }
        ProxyKind::KubeProxyIptables => {
            let n = eps.len();
            (0..n - 1)
                .find(|&i| {
                    // A draw in [0, 2^31) against round(2^31 / (n - i)).
                    let draw = mix(h.wrapping_add(i as u64)) >> 33;
                    let threshold = (2147483648.0 / (n - i) as f64).round() as u64;
                    draw < threshold
                })
                .unwrap_or(n - 1)
        }
        ProxyKind::KubeProxyIpvs => (h % eps.len() as u64) as usize,
    };
    Some(eps[i])
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct AffinityKey {
    client: Ipv4Addr,
    proxy: ProxyKind,
    service: ServicePortName,
    /// AntreaProxy learns per (dst IP, dst port, protocol); kube-proxy's
    /// `recent` lists are per Service port, whatever address was used.
    vip: Option<(Ipv4Addr, u16, u8)>,
}

/// One remembered choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AffinityEntry {
    pub(crate) endpoint: (Ipv4Addr, u16),
    pub(crate) expires: SimTime,
}

/// `sessionAffinity: ClientIP` state of one node.
///
/// AntreaProxy: a learned flow in SessionAffinity with `hard_timeout` = the
/// timeout, counted from the first connection and never refreshed.
/// kube-proxy: `-m recent --rcheck --seconds T --reap` plus `--set` on every
/// new connection (iptables) or IPVS persistence: the timeout restarts with
/// each new connection. Either way an entry whose endpoint is no longer a
/// candidate is ignored (Antrea's EndpointDNAT re-selects; kube-proxy's
/// endpoint chain is gone).
#[derive(Clone, Debug, Default)]
pub struct AffinityTable {
    entries: BTreeMap<AffinityKey, AffinityEntry>,
}

impl AffinityTable {
    pub fn new() -> Self {
        Self::default()
    }

    fn key(client: Ipv4Addr, m: &ServiceMatch) -> AffinityKey {
        AffinityKey {
            client,
            proxy: m.proxy,
            service: m.service.clone(),
            vip: (m.proxy == ProxyKind::AntreaProxy).then_some((
                m.dst,
                m.dport,
                proto_num(m.protocol),
            )),
        }
    }

    /// The remembered endpoint, if still valid at `now` and still a candidate.
    pub fn lookup(
        &self,
        now: SimTime,
        client: Ipv4Addr,
        m: &ServiceMatch,
    ) -> Option<(Ipv4Addr, u16)> {
        self.entries
            .get(&Self::key(client, m))
            .filter(|e| now < e.expires && m.endpoints.contains(&e.endpoint))
            .map(|e| e.endpoint)
    }

    /// The endpoint for a new connection from `client`: the remembered one
    /// while valid, else a fresh [`pick_endpoint`] that is then remembered.
    /// Without affinity this is just `pick_endpoint`.
    pub fn select(
        &mut self,
        now: SimTime,
        client: Ipv4Addr,
        m: &ServiceMatch,
        flow_hash: u64,
    ) -> Option<(Ipv4Addr, u16)> {
        let Some(timeout) = m.affinity_timeout else {
            return pick_endpoint(m, flow_hash);
        };
        let ttl = SimDuration::from_secs(u64::from(timeout));
        let key = Self::key(client, m);
        if let Some(ep) = self.lookup(now, client, m) {
            if m.proxy != ProxyKind::AntreaProxy {
                self.entries.insert(
                    key,
                    AffinityEntry {
                        endpoint: ep,
                        expires: now + ttl,
                    },
                );
            }
            return Some(ep);
        }
        let ep = pick_endpoint(m, flow_hash)?;
        self.entries.insert(
            key,
            AffinityEntry {
                endpoint: ep,
                expires: now + ttl,
            },
        );
        Some(ep)
    }

    /// Drops entries expired at `now`; returns how many.
    pub fn expire(&mut self, now: SimTime) -> usize {
        let before = self.entries.len();
        self.entries.retain(|_, e| now < e.expires);
        before - self.entries.len()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries in key order: (client, Service port, entry).
    pub fn entries(&self) -> impl Iterator<Item = (Ipv4Addr, &ServicePortName, &AffinityEntry)> {
        self.entries.iter().map(|(k, e)| (k.client, &k.service, e))
    }
}
