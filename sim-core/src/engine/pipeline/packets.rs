//! Packets that exercise one node's program: every traffic class a br-int
//! sees, as the flow strings `ovs-appctl ofproto/trace` takes (issue 14's
//! contract, section 5), with the conntrack states each `ct()` resumes with
//! (`--ct-next`).
//!
//! The differential test runs the same samples through the simulator's
//! OpenFlow interpreter and through real OVS; `antlab bench pipeline`
//! pushes them through the interpreter. Samples are drawn from a named
//! [`crate::rng`] stream, so a seed gives the same packets every time.

use std::net::Ipv4Addr;

use rand::Rng;

use super::spec::{GATEWAY_OFPORT, PipelineSpec, TUNNEL_OFPORT};
use crate::engine::policy::rules::{Addr, OfRule, ServiceMatch};
use crate::engine::proxy::VIRTUAL_NODEPORT_DNAT_IP;
use crate::k8s::Protocol;
use crate::model::MacAddr;
use crate::rng::{self, SimRng};

/// UDP and SCTP ports are written `udp_src`/`sctp_src`: ofproto/trace reads
/// `tp_src` as `tcp_src`, whose prerequisite is TCP.
///
/// The MAC Antrea's L3Forwarding writes as the destination of packets
/// into the tunnel, and remote nodes send with (`GlobalVirtualMAC`,
/// pkg/agent/config/node_config.go).
const GLOBAL_VIRTUAL_MAC: &str = "aa:bb:cc:dd:ee:ff";

/// What a sample stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TrafficClass {
    PodToLocalPod,
    PodToRemotePod,
    PodToService,
    PodToExternal,
    NodeToService,
    /// The node's own traffic to a remote Pod CIDR (through antrea-gw0 into
    /// the tunnel; encap modes only, noEncap routes it on the host).
    NodeToRemotePod,
    ExternalToService,
    /// From the tunnel to a LoadBalancer or external IP: what a DSR
    /// ingress node sends an endpoint's node.
    TunnelToService,
    TunnelToLocalPod,
    Arp,
    /// A reply of an established connection (`ct_state=+est+rpl`).
    Reply,
    /// A packet conntrack calls invalid.
    Invalid,
    /// A Pod sending with an address that is not its own.
    Spoofed,
    /// A packet one of the node's NetworkPolicy rules matches (its
    /// clauses' addresses and services): allow, drop, reject and pass
    /// rules alike, in either direction.
    PolicyRule,
}

impl TrafficClass {
    pub const ALL: [TrafficClass; 14] = [
        TrafficClass::PodToLocalPod,
        TrafficClass::PodToRemotePod,
        TrafficClass::PodToService,
        TrafficClass::PodToExternal,
        TrafficClass::NodeToService,
        TrafficClass::NodeToRemotePod,
        TrafficClass::ExternalToService,
        TrafficClass::TunnelToService,
        TrafficClass::TunnelToLocalPod,
        TrafficClass::Arp,
        TrafficClass::Reply,
        TrafficClass::Invalid,
        TrafficClass::Spoofed,
        TrafficClass::PolicyRule,
    ];

    pub fn name(self) -> &'static str {
        match self {
            TrafficClass::PodToLocalPod => "pod-to-local-pod",
            TrafficClass::PodToRemotePod => "pod-to-remote-pod",
            TrafficClass::PodToService => "pod-to-service",
            TrafficClass::PodToExternal => "pod-to-external",
            TrafficClass::NodeToService => "node-to-service",
            TrafficClass::NodeToRemotePod => "node-to-remote-pod",
            TrafficClass::ExternalToService => "external-to-service",
            TrafficClass::TunnelToService => "tunnel-to-service",
            TrafficClass::TunnelToLocalPod => "tunnel-to-local-pod",
            TrafficClass::Arp => "arp",
            TrafficClass::Reply => "reply",
            TrafficClass::Invalid => "invalid",
            TrafficClass::Spoofed => "spoofed",
            TrafficClass::PolicyRule => "policy-rule",
        }
    }
}

/// One packet to trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SamplePacket {
    pub class: TrafficClass,
    /// The ofproto/trace flow string.
    pub flow: String,
    /// The `ct_state` each `ct()` resumes with, in order (`trk,new` after
    /// the list runs out).
    pub ct_next: Vec<&'static str>,
}

/// A Service address a packet can be sent to.
struct Vip {
    proto: Protocol,
    ip: Ipv4Addr,
    port: u16,
    /// Reached from outside the cluster (LoadBalancer, external IP, NodePort).
    external: bool,
}

fn vips(spec: &PipelineSpec) -> Vec<Vip> {
    let mut out = Vec::new();
    let Some(rules) = &spec.services else {
        return out;
    };
    for (_, ports) in rules.services() {
        for p in ports.iter() {
            out.push(Vip {
                proto: p.protocol,
                ip: p.cluster_ip,
                port: p.port,
                external: false,
            });
            for ip in p.lb_ips.iter().chain(&p.external_ips) {
                out.push(Vip {
                    proto: p.protocol,
                    ip: *ip,
                    port: p.port,
                    external: true,
                });
            }
            if let Some(np) = p.node_port {
                // With proxyAll the host DNATs NodePort traffic to the
                // virtual NodePort IP before it enters OVS.
                out.push(Vip {
                    proto: p.protocol,
                    ip: VIRTUAL_NODEPORT_DNAT_IP,
                    port: np,
                    external: true,
                });
            }
        }
    }
    out
}

fn pick_peer(rng: &mut SimRng, peers: &super::spec::Peers) -> Option<super::spec::PeerNode> {
    if peers.is_empty() {
        None
    } else {
        peers.get(rng::below(rng, peers.len() as u64) as usize)
    }
}

fn pick<'a, T>(rng: &mut SimRng, items: &'a [T]) -> Option<&'a T> {
    if items.is_empty() {
        None
    } else {
        Some(&items[rng::below(rng, items.len() as u64) as usize])
    }
}

fn l4(rng: &mut SimRng, proto: Option<(Protocol, u16)>) -> String {
    let sport = 32768 + rng::below(rng, 28232) as u16;
    match proto {
        Some((Protocol::Tcp, dport)) => format!("tcp,tp_src={sport},tp_dst={dport}"),
        Some((Protocol::Udp, dport)) => format!("udp,udp_src={sport},udp_dst={dport}"),
        Some((Protocol::Sctp, dport)) => format!("sctp,sctp_src={sport},sctp_dst={dport}"),
        None => match rng::below(rng, 3) {
            0 => format!(
                "tcp,tp_src={sport},tp_dst={}",
                [80, 443, 8080][rng::below(rng, 3) as usize]
            ),
            1 => format!("udp,udp_src={sport},udp_dst=53"),
            _ => "icmp,icmp_type=8,icmp_code=0".to_string(),
        },
    }
}

fn in_net(rng: &mut SimRng, net: ipnet::Ipv4Net) -> Ipv4Addr {
    let size = 1u64 << (32 - u32::from(net.prefix_len()));
    let off = if size > 2 {
        1 + rng::below(rng, size - 2)
    } else {
        0
    };
    Ipv4Addr::from(u32::from(net.network()) + off as u32)
}

fn external(rng: &mut SimRng) -> Ipv4Addr {
    Ipv4Addr::new(
        [8, 93, 142, 198][rng::below(rng, 4) as usize],
        rng.next_u32() as u8,
        rng.next_u32() as u8,
        1 + rng::below(rng, 254) as u8,
    )
}

fn ip_packet(
    in_port: u32,
    src_mac: MacAddr,
    dst_mac: &str,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    l4: &str,
) -> String {
    let (proto, rest) = l4.split_once(',').unwrap_or((l4, ""));
    let rest = if rest.is_empty() {
        String::new()
    } else {
        format!(",{rest}")
    };
    format!(
        "in_port={in_port},{proto},dl_src={src_mac},dl_dst={dst_mac},nw_src={src},nw_dst={dst},nw_ttl=64{rest}"
    )
}

/// The traffic classes `spec`'s node can have: a node without Pods has no
/// Pod classes, one without Services no Service classes, one in noEncap mode
/// no tunnel classes.
pub fn classes_for(spec: &PipelineSpec) -> Vec<TrafficClass> {
    classes_with(spec, &vips(spec))
}

/// [`classes_for`] with the node's Service addresses already listed.
fn classes_with(spec: &PipelineSpec, vips: &[Vip]) -> Vec<TrafficClass> {
    let tunnels = !spec.peers.is_empty() && spec.encap.supports_encap();
    TrafficClass::ALL
        .into_iter()
        .filter(|c| match c {
            TrafficClass::PodToLocalPod => spec.pods.len() >= 2,
            TrafficClass::PodToRemotePod => !spec.pods.is_empty() && !spec.peers.is_empty(),
            TrafficClass::PodToService => !spec.pods.is_empty() && !vips.is_empty(),
            TrafficClass::NodeToService => !vips.is_empty(),
            TrafficClass::NodeToRemotePod => tunnels,
            TrafficClass::ExternalToService => vips.iter().any(|v| v.external),
            TrafficClass::TunnelToService => {
                tunnels
                    && vips
                        .iter()
                        .any(|v| v.external && v.ip != VIRTUAL_NODEPORT_DNAT_IP)
            }
            TrafficClass::TunnelToLocalPod => !spec.pods.is_empty() && tunnels,
            TrafficClass::PolicyRule => {
                !policy_rules(spec).is_empty() || !isolated_pods(spec).is_empty()
            }
            _ => !spec.pods.is_empty(),
        })
        .collect()
}

/// `count` samples for `spec`'s node, drawn with `seed`, spread evenly
/// over the node's [`classes_for`].
pub fn sample_packets(spec: &PipelineSpec, count: usize, seed: u64) -> Vec<SamplePacket> {
    let mut rng = rng::stream(seed, "pipeline-packets");
    let vips = vips(spec);
    let gw_mac = spec.gateway_mac.to_string();
    let classes = classes_with(spec, &vips);
    let mut out = Vec::with_capacity(count);
    if classes.is_empty() {
        return out;
    }
    for i in 0..count {
        let class = classes[i % classes.len()];
        let pod = pick(&mut rng, &spec.pods);
        let mut ct_next = Vec::new();
        let flow = match class {
            TrafficClass::PodToLocalPod => {
                let a = pod.expect("class needs Pods");
                let mut b = pick(&mut rng, &spec.pods).expect("class needs Pods");
                if b.ip == a.ip {
                    b = spec.pods.iter().find(|p| p.ip != a.ip).unwrap_or(b);
                }
                let l4 = l4(&mut rng, None);
                ip_packet(a.ofport, a.mac, &gw_mac, a.ip, b.ip, &l4)
            }
            TrafficClass::PodToRemotePod => {
                let a = pod.expect("class needs Pods");
                let peer = pick_peer(&mut rng, &spec.peers).expect("class needs peers");
                let dst = in_net(&mut rng, peer.pod_cidr);
                let l4 = l4(&mut rng, None);
                ip_packet(a.ofport, a.mac, &gw_mac, a.ip, dst, &l4)
            }
            TrafficClass::PodToService => {
                let a = pod.expect("class needs Pods");
                let v = pick(&mut rng, &vips).expect("class needs Services");
                let l4 = l4(&mut rng, Some((v.proto, v.port)));
                ip_packet(a.ofport, a.mac, &gw_mac, a.ip, v.ip, &l4)
            }
            TrafficClass::PodToExternal => {
                let a = pod.expect("class needs Pods");
                let dst = external(&mut rng);
                let l4 = l4(&mut rng, None);
                ip_packet(a.ofport, a.mac, &gw_mac, a.ip, dst, &l4)
            }
            TrafficClass::NodeToService => {
                let v = pick(&mut rng, &vips).expect("class needs Services");
                let l4 = l4(&mut rng, Some((v.proto, v.port)));
                ip_packet(
                    GATEWAY_OFPORT,
                    spec.gateway_mac,
                    &gw_mac,
                    spec.gateway_ip,
                    v.ip,
                    &l4,
                )
            }
            TrafficClass::NodeToRemotePod => {
                let peer = pick_peer(&mut rng, &spec.peers).expect("class needs peers");
                let dst = in_net(&mut rng, peer.pod_cidr);
                let l4 = l4(&mut rng, None);
                // The host's route to a remote Pod CIDR goes out antrea-gw0 to
                // the peer's gateway IP, whose neighbour entry Antrea sets to
                // the global virtual MAC.
                ip_packet(
                    GATEWAY_OFPORT,
                    spec.gateway_mac,
                    GLOBAL_VIRTUAL_MAC,
                    spec.gateway_ip,
                    dst,
                    &l4,
                )
            }
            TrafficClass::ExternalToService => {
                let ext: Vec<&Vip> = vips.iter().filter(|v| v.external).collect();
                let v = pick(&mut rng, &ext).expect("class needs external VIPs");
                let l4 = l4(&mut rng, Some((v.proto, v.port)));
                let src = external(&mut rng);
                ip_packet(GATEWAY_OFPORT, spec.gateway_mac, &gw_mac, src, v.ip, &l4)
            }
            TrafficClass::TunnelToService => {
                let ext: Vec<&Vip> = vips
                    .iter()
                    .filter(|v| v.external && v.ip != VIRTUAL_NODEPORT_DNAT_IP)
                    .collect();
                let v = pick(&mut rng, &ext).expect("class needs LoadBalancer IPs");
                let peer = pick_peer(&mut rng, &spec.peers).expect("class needs peers");
                let l4 = l4(&mut rng, Some((v.proto, v.port)));
                let inner = ip_packet(
                    TUNNEL_OFPORT,
                    MacAddr::from_name("remote-gw"),
                    GLOBAL_VIRTUAL_MAC,
                    external(&mut rng),
                    v.ip,
                    &l4,
                );
                format!(
                    "tun_id=0,tun_src={},tun_dst={},{inner}",
                    peer.node_ip,
                    spec.node_ip.addr()
                )
            }
            TrafficClass::TunnelToLocalPod => {
                let b = pod.expect("class needs Pods");
                let peer = pick_peer(&mut rng, &spec.peers).expect("class needs peers");
                let src = in_net(&mut rng, peer.pod_cidr);
                let l4 = l4(&mut rng, None);
                let inner = ip_packet(
                    TUNNEL_OFPORT,
                    MacAddr::from_name("remote-gw"),
                    GLOBAL_VIRTUAL_MAC,
                    src,
                    b.ip,
                    &l4,
                );
                format!(
                    "tun_id=0,tun_src={},tun_dst={},{inner}",
                    peer.node_ip,
                    spec.node_ip.addr()
                )
            }
            TrafficClass::Arp => {
                let a = pod.expect("class needs Pods");
                let (port, mac, spa) = if rng::below(&mut rng, 4) == 0 {
                    (GATEWAY_OFPORT, spec.gateway_mac, spec.gateway_ip)
                } else {
                    (a.ofport, a.mac, a.ip)
                };
                let tpa = if port == GATEWAY_OFPORT {
                    a.ip
                } else {
                    spec.gateway_ip
                };
                format!(
                    "in_port={port},arp,dl_src={mac},dl_dst=ff:ff:ff:ff:ff:ff,arp_op=1,arp_spa={spa},arp_tpa={tpa},arp_sha={mac},arp_tha=00:00:00:00:00:00"
                )
            }
            TrafficClass::Reply => {
                let a = pod.expect("class needs Pods");
                ct_next.push("trk,est,rpl");
                let dst = match (pick_peer(&mut rng, &spec.peers), rng::below(&mut rng, 2)) {
                    (Some(peer), 0) => in_net(&mut rng, peer.pod_cidr),
                    _ => external(&mut rng),
                };
                let l4 = l4(&mut rng, None);
                ip_packet(a.ofport, a.mac, &gw_mac, a.ip, dst, &l4)
            }
            TrafficClass::Invalid => {
                let a = pod.expect("class needs Pods");
                ct_next.push("trk,inv");
                let dst = external(&mut rng);
                let l4 = l4(&mut rng, Some((Protocol::Tcp, 80)));
                ip_packet(a.ofport, a.mac, &gw_mac, a.ip, dst, &l4)
            }
            TrafficClass::PolicyRule => {
                let rules = policy_rules(spec);
                let isolated = isolated_pods(spec);
                // A third of them (all, without rules) to a Pod a
                // NetworkPolicy isolates, from anywhere: its default drop
                // unless a rule allows the packet.
                match pick(&mut rng, &rules) {
                    Some(r) if isolated.is_empty() || rng::below(&mut rng, 3) != 0 => {
                        policy_packet(spec, r, &mut rng)
                    }
                    _ => {
                        let b = *pick(&mut rng, &isolated).expect("class needs isolated Pods");
                        let src = match pick_peer(&mut rng, &spec.peers) {
                            Some(peer) => in_net(&mut rng, peer.pod_cidr),
                            None => external(&mut rng),
                        };
                        let l4 = l4(&mut rng, None);
                        policy_packet_between(spec, src, b.ip, &l4)
                    }
                }
            }
            TrafficClass::Spoofed => {
                let a = pod.expect("class needs Pods");
                let fake = in_net(&mut rng, spec.pod_cidr);
                let fake = if fake == a.ip {
                    external(&mut rng)
                } else {
                    fake
                };
                let dst = external(&mut rng);
                let l4 = l4(&mut rng, None);
                ip_packet(a.ofport, a.mac, &gw_mac, fake, dst, &l4)
            }
        };
        out.push(SamplePacket {
            class,
            flow,
            ct_next,
        });
    }
    out
}

/// The node's rules a sample can hit: those whose clauses are all
/// addresses (a `toServices` rule matches a group id set earlier, which a
/// single packet cannot carry in).
fn policy_rules(spec: &PipelineSpec) -> Vec<&OfRule> {
    let Some(rules) = &spec.policy else {
        return Vec::new();
    };
    rules
        .rules()
        .iter()
        .filter(|r| {
            !r.from.is_empty()
                && !r.to.is_empty()
                && r.from
                    .iter()
                    .chain(&r.to)
                    .all(|a| !matches!(a, Addr::Service { .. }))
        })
        .collect()
}

/// Local Pods a Kubernetes NetworkPolicy isolates for ingress.
fn isolated_pods(spec: &PipelineSpec) -> Vec<&super::spec::LocalPod> {
    let Some(rules) = &spec.policy else {
        return Vec::new();
    };
    spec.pods
        .iter()
        .filter(|p| rules.isolated_ingress.contains(&p.ofport))
        .collect()
}

/// One address of a clause: a host of a CIDR, or a local Pod's IP for an
/// ofport.
fn clause_ip(spec: &PipelineSpec, a: &Addr, rng: &mut SimRng) -> Ipv4Addr {
    match a {
        Addr::Net(n) if n.prefix_len() == 32 => n.addr(),
        Addr::Net(n) => in_net(rng, *n),
        Addr::OfPort(p) => spec
            .pods
            .iter()
            .find(|x| x.ofport == *p)
            .map_or(spec.gateway_ip, |x| x.ip),
        Addr::Service { .. } => spec.gateway_ip,
    }
}

/// A packet rule `r` matches: its source from the "from" clause, its
/// destination from the "to" clause, its service from the services. It
/// leaves the local Pod that sends it, or comes in from the tunnel (a
/// remote source) or the gateway (anything else).
fn policy_packet(spec: &PipelineSpec, r: &OfRule, rng: &mut SimRng) -> String {
    let src = clause_ip(
        spec,
        pick(rng, &r.from).expect("rule has a from clause"),
        rng,
    );
    let dst = clause_ip(spec, pick(rng, &r.to).expect("rule has a to clause"), rng);
    let l4 = match pick(rng, &r.services) {
        None => l4(rng, None),
        Some(ServiceMatch::Icmp { icmp_type, code }) => format!(
            "icmp,icmp_type={},icmp_code={}",
            icmp_type.unwrap_or(8),
            code.unwrap_or(0)
        ),
        Some(ServiceMatch::L4 { protocol, dst, src }) => {
            let pick_in = |rng: &mut SimRng, range: Option<(u16, u16)>, default: u16| match range {
                Some((a, b)) => a + rng::below(rng, u64::from(b - a) + 1) as u16,
                None => default,
            };
            let sport = pick_in(rng, *src, 40000);
            let dport = pick_in(rng, *dst, 80);
            match protocol {
                Protocol::Tcp => format!("tcp,tp_src={sport},tp_dst={dport}"),
                Protocol::Udp => format!("udp,udp_src={sport},udp_dst={dport}"),
                Protocol::Sctp => format!("sctp,sctp_src={sport},sctp_dst={dport}"),
            }
        }
    };
    policy_packet_between(spec, src, dst, &l4)
}

/// A packet from `src` to `dst`: from the local Pod with that address, else
/// from the tunnel (a peer's Pod CIDR, encap modes), else from the gateway.
fn policy_packet_between(spec: &PipelineSpec, src: Ipv4Addr, dst: Ipv4Addr, l4: &str) -> String {
    let gw_mac = spec.gateway_mac.to_string();
    if let Some(a) = spec.pods.iter().find(|p| p.ip == src) {
        return ip_packet(a.ofport, a.mac, &gw_mac, src, dst, l4);
    }
    match spec.peers.iter().find(|p| p.pod_cidr.contains(&src)) {
        Some(peer) if spec.encap.supports_encap() => {
            let inner = ip_packet(
                TUNNEL_OFPORT,
                MacAddr::from_name("remote-gw"),
                GLOBAL_VIRTUAL_MAC,
                src,
                dst,
                l4,
            );
            format!(
                "tun_id=0,tun_src={},tun_dst={},{inner}",
                peer.node_ip,
                spec.node_ip.addr()
            )
        }
        _ => ip_packet(GATEWAY_OFPORT, spec.gateway_mac, &gw_mac, src, dst, l4),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::pipeline::spec::PipelineSpec;

    fn spec() -> PipelineSpec {
        let mut s = PipelineSpec::new(
            "192.168.77.100/24".parse().unwrap(),
            "10.10.0.0/24".parse().unwrap(),
            MacAddr::from_name("gw"),
        );
        s.add_pod(MacAddr::from_name("a"), "10.10.0.2".parse().unwrap());
        s.add_pod(MacAddr::from_name("b"), "10.10.0.3".parse().unwrap());
        s.add_peer(
            "10.10.1.0/24".parse().unwrap(),
            "192.168.77.101".parse().unwrap(),
            "10.10.1.1".parse().unwrap(),
        );
        s
    }

    #[test]
    fn samples_cover_the_classes_the_node_has_and_repeat_with_the_seed() {
        let s = spec();
        let a = sample_packets(&s, 200, 7);
        assert_eq!(a.len(), 200);
        assert_eq!(a, sample_packets(&s, 200, 7));
        assert_ne!(a, sample_packets(&s, 200, 8));
        let classes: std::collections::BTreeSet<_> = a.iter().map(|p| p.class).collect();
        // No Services: no Service classes; everything else is there.
        assert!(!classes.contains(&TrafficClass::PodToService));
        assert!(!classes.contains(&TrafficClass::TunnelToService));
        assert!(classes.contains(&TrafficClass::TunnelToLocalPod));
        assert!(classes.contains(&TrafficClass::Spoofed));
        // Nor policy rules.
        assert!(!classes.contains(&TrafficClass::PolicyRule));
        assert_eq!(classes.len(), TrafficClass::ALL.len() - 5);
        assert!(classes.contains(&TrafficClass::NodeToRemotePod));
        for p in &a {
            assert!(
                p.flow.starts_with("in_port=") || p.flow.starts_with("tun_id=0"),
                "{}",
                p.flow
            );
        }
    }

    #[test]
    fn a_node_without_pods_still_has_host_classes_and_noencap_has_no_tunnel_classes() {
        let mut s = PipelineSpec::new(
            "192.168.77.102/24".parse().unwrap(),
            "10.10.2.0/24".parse().unwrap(),
            MacAddr::from_name("gw2"),
        );
        s.add_peer(
            "10.10.1.0/24".parse().unwrap(),
            "192.168.77.101".parse().unwrap(),
            "10.10.1.1".parse().unwrap(),
        );
        assert_eq!(classes_for(&s), vec![TrafficClass::NodeToRemotePod]);
        let samples = sample_packets(&s, 5, 3);
        assert_eq!(samples.len(), 5);
        assert!(
            samples[0].flow.starts_with("in_port=2,"),
            "{}",
            samples[0].flow
        );
        let s = s.with_encap(crate::engine::config::EncapMode::NoEncap);
        assert!(classes_for(&s).is_empty());
        let with_pods = spec().with_encap(crate::engine::config::EncapMode::NoEncap);
        let classes = classes_for(&with_pods);
        assert!(!classes.contains(&TrafficClass::TunnelToLocalPod));
        assert!(!classes.contains(&TrafficClass::NodeToRemotePod));
        assert!(classes.contains(&TrafficClass::PodToRemotePod));
    }

    fn field<'a>(flow: &'a str, key: &str) -> &'a str {
        flow.split(',')
            .find_map(|kv| kv.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
            .unwrap_or("")
    }

    #[test]
    fn remote_pod_packets_go_to_a_peer_subnet_and_spoofed_ones_lie() {
        let s = spec();
        let mut spoofed = 0;
        for p in sample_packets(&s, 300, 1) {
            match p.class {
                TrafficClass::PodToRemotePod => {
                    let dst: Ipv4Addr = field(&p.flow, "nw_dst").parse().unwrap();
                    assert!(
                        s.peers.get(0).unwrap().pod_cidr.contains(&dst),
                        "{}",
                        p.flow
                    );
                }
                TrafficClass::Spoofed => {
                    spoofed += 1;
                    let port: u32 = field(&p.flow, "in_port").parse().unwrap();
                    let src: Ipv4Addr = field(&p.flow, "nw_src").parse().unwrap();
                    let own = s.pods.iter().find(|x| x.ofport == port).unwrap().ip;
                    assert_ne!(src, own, "{}", p.flow);
                }
                TrafficClass::Reply => assert_eq!(p.ct_next, vec!["trk,est,rpl"]),
                _ => assert!(p.ct_next.is_empty() || p.class == TrafficClass::Invalid),
            }
        }
        assert!(spoofed > 10);
    }
}
