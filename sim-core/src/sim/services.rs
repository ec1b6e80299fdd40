//! Service load balancing inside a node's stack: the DNAT decision for the
//! first packet of a connection to a Service address, made by the engine's
//! proxy model (`engine::proxy`: AntreaProxy or kube-proxy, whichever handles
//! that traffic on this node). Conntrack then keeps every later packet of the
//! connection on the chosen endpoint.
//!
//! The node's rules are exactly the engine's `NodeServiceRules` (what
//! `antlab rules NODE` prints); the choice among endpoints is
//! `engine::proxy::pick_endpoint` with a hash of the connection's 5-tuple,
//! and ClientIP affinity is the engine's `AffinityTable`.

use std::net::Ipv4Addr;

use super::nat::FlowKey;
use crate::engine::proxy::{
    self, AffinityTable, NoEndpointsAction, NodeServiceRules, ProxyKind, SnatPolicy, TrafficOrigin,
};
use crate::k8s::Protocol;
use crate::rng::fnv1a64;
use crate::time::SimTime;

/// Where a packet comes from, as the node sees it.
pub type Origin = TrafficOrigin;

/// What happens to a new connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    NotAService,
    /// `dsr`: forward the packet unchanged to the endpoint's node, which
    /// DNATs it to its local endpoint and answers the client directly.
    Dnat {
        to: (Ipv4Addr, u16),
        by: String,
        masquerade: bool,
        service: String,
        dsr: bool,
    },
    /// A NodePort AntreaProxy serves in br-int: DNAT to the virtual NodePort
    /// address `to` (port kept), which the node routes into `antrea-gw0`.
    NodePortToBrInt {
        to: (Ipv4Addr, u16),
        by: String,
        service: String,
    },
    /// The Service has no usable endpoint: the proxy answers with `action`.
    Reject {
        by: String,
        service: String,
        action: NoEndpointsAction,
    },
}

#[derive(Clone, Debug, Default)]
pub struct ServiceTable {
    rules: Option<std::sync::Arc<NodeServiceRules>>,
    affinity: AffinityTable,
    /// br-int load-balances the external traffic AntreaProxy serves
    /// (`NodeDataplane::proxy_all_in_br_int`).
    north_south_in_br_int: bool,
}

pub fn proxy_name(p: ProxyKind) -> &'static str {
    match p {
        ProxyKind::AntreaProxy => "AntreaProxy",
        ProxyKind::KubeProxyIptables => "kube-proxy (iptables)",
        ProxyKind::KubeProxyIpvs => "kube-proxy (IPVS)",
    }
}

impl ServiceTable {
    /// Installs the node's rules (an atomic replace, like an OpenFlow bundle
    /// and an `iptables-restore`). Affinity entries survive; those whose
    /// endpoint is gone are ignored by the table itself.
    pub fn set(&mut self, rules: Option<std::sync::Arc<NodeServiceRules>>) {
        self.rules = rules;
    }

    /// Whether br-int, not this table, load-balances the external traffic
    /// AntreaProxy serves (proxyAll with br-int executing Antrea's program).
    pub fn set_north_south_in_br_int(&mut self, on: bool) {
        self.north_south_in_br_int = on;
    }

    pub fn rules(&self) -> Option<&NodeServiceRules> {
        self.rules.as_deref()
    }

    /// The installed rules as shared, for a cheap "same rules?" check.
    pub fn shared_rules(&self) -> Option<&std::sync::Arc<NodeServiceRules>> {
        self.rules.as_ref()
    }

    pub fn decide(
        &mut self,
        now: SimTime,
        origin: Origin,
        key: FlowKey,
        local_pods: Option<ipnet::Ipv4Net>,
    ) -> Decision {
        let Some(rules) = &self.rules else {
            return Decision::NotAService;
        };
        let proto = match key.proto {
            6 => Protocol::Tcp,
            17 => Protocol::Udp,
            _ => return Decision::NotAService, // ICMP to a Service IP is not load-balanced
        };
        let Some(m) = proxy::classify(rules, origin, key.dst, key.dport, proto) else {
            return Decision::NotAService;
        };
        let by = proxy_name(m.proxy).to_string();
        let service = m.service.to_string();
        if self.north_south_in_br_int && origin != Origin::Pod && m.proxy == ProxyKind::AntreaProxy
        {
            // AntreaProxy's proxyAll path, for traffic from outside and from
            // the node itself: the node's routes take ClusterIPs,
            // LoadBalancer and external IPs into antrea-gw0 untouched; a
            // NodePort is first DNATed to the virtual NodePort address, port
            // kept (the ANTREA-NODEPORT-IP ipset rules in PREROUTING and
            // OUTPUT, route_linux.go v2.1.0). br-int picks the endpoint.
            return match m.vip {
                proxy::VipKind::NodePort => Decision::NodePortToBrInt {
                    to: (proxy::VIRTUAL_NODEPORT_DNAT_IP, key.dport),
                    by,
                    service,
                },
                _ => Decision::NotAService,
            };
        }
        if m.endpoints.is_empty() {
            let action = m.no_endpoints.unwrap_or(NoEndpointsAction::Drop);
            return Decision::Reject {
                by,
                service,
                action,
            };
        }
        let mut m = m;
        let mut dsr = false;
        if m.lb_mode == proxy::LbMode::Dsr {
            // Direct server return: a node with a local endpoint serves the
            // connection itself (the endpoint node of a DSR packet); an
            // ingress node without one forwards it to an endpoint's node.
            let local: Vec<(Ipv4Addr, u16)> = m
                .endpoints
                .iter()
                .copied()
                .filter(|e| local_pods.is_some_and(|n| n.contains(&e.0)))
                .collect();
            if local.is_empty() {
                dsr = true;
            } else {
                m.endpoints = local;
            }
        }
        let Some(to) = self.affinity.select(now, key.src, &m, flow_hash(key)) else {
            return Decision::Reject {
                by,
                service,
                action: NoEndpointsAction::Drop,
            };
        };
        // A connection from 127.0.0.1 (a NodePort on localhost) cannot leave
        // the host with that source: kube-proxy marks it for masquerade,
        // Antrea's "masquerade LOCAL traffic" rule rewrites it on antrea-gw0.
        let masquerade = key.src.is_loopback()
            || match m.snat {
                SnatPolicy::None => false,
                SnatPolicy::Masquerade => true,
                SnatPolicy::IfRemoteEndpoint => !local_pods.is_some_and(|n| n.contains(&to.0)),
            };
        Decision::Dnat {
            to,
            by,
            masquerade: masquerade && !dsr,
            service,
            dsr,
        }
    }
}

/// A fixed hash of a connection's 5-tuple (endpoint choice, ECMP).
pub fn flow_hash(key: FlowKey) -> u64 {
    let mut bytes = Vec::with_capacity(13);
    bytes.push(key.proto);
    bytes.extend_from_slice(&key.src.octets());
    bytes.extend_from_slice(&key.sport.to_be_bytes());
    bytes.extend_from_slice(&key.dst.octets());
    bytes.extend_from_slice(&key.dport.to_be_bytes());
    fnv1a64(&bytes)
}
