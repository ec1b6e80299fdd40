//! AntreaProxy's direct server return (`LoadBalancerModeDSR`) for traffic
//! from outside to a LoadBalancer or external IP, in the node's nftables.
//!
//! Antrea (pkg/agent/openflow/pipeline.go, v2.0+: `LoadBalancerModeDSR`)
//! picks the endpoint on the ingress node and, when it is remote, sends the
//! packet to the endpoint's node unchanged (destination still the Service
//! IP); that node DNATs it to its local endpoint and answers the client
//! directly, so the reply never crosses the ingress node. Where br-int
//! executes Antrea's program that is what happens, in OVS, in both modes.
//! With `options.brInt: switch` the simulator's host stack stands in
//! (`sim::services`: a node with local endpoints serves the connection
//! itself, one without forwards it to an endpoint's node), and so does this
//! module, in the ingress node's prerouting:
//! - with local endpoints: DNAT to one of them (no masquerade: the client's
//!   address is kept, as DSR needs);
//! - without: pick an endpoint by a hash of the connection (so every packet
//!   of it goes the same way), `dup to` its node's address and drop the
//!   original: the copy leaves with the Service IP as destination and the
//!   endpoint node's MAC, which is what forwarding without DNAT is. The copy
//!   is untracked on the ingress node, so no NAT touches it there.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use sim_core::engine::proxy::EndpointRef;

/// Kubernetes node name → its address (the next hop for DSR copies).
pub type NodeAddrs = BTreeMap<String, Ipv4Addr>;

/// The nftables pieces of one Service port's DSR addresses on one node.
#[derive(Debug, Default)]
pub struct DsrRules {
    /// Rules for the nat prerouting chain (the first packet of a connection
    /// to a local endpoint is DNATed there).
    pub nat: String,
    /// Rules for the filter prerouting chain `dsr_forward`: every packet,
    /// not just a connection's first, must be copied to the endpoint node.
    pub forward: String,
    /// The chains both jump to.
    pub chains: String,
}

/// DSR for Service port `i` (`proto`, addresses `vips` on `port`) on a node
/// whose ready endpoints for outside traffic are `eps`.
pub fn rules(
    i: usize,
    proto: &str,
    vips: &[Ipv4Addr],
    port: u16,
    eps: &[EndpointRef],
    nodes: &NodeAddrs,
) -> DsrRules {
    let mut r = DsrRules::default();
    let local: Vec<&EndpointRef> = eps.iter().filter(|e| e.local).collect();
    let (pick, targets, into): (String, Vec<&EndpointRef>, &mut String) = if !local.is_empty() {
        ("numgen random".into(), local.clone(), &mut r.nat)
    } else {
        (
            format!("jhash ip saddr . {proto} sport . ip daddr . {proto} dport"),
            eps.iter().collect(),
            &mut r.forward,
        )
    };
    for ip in vips {
        let _ = writeln!(into, "    ip daddr {ip} {proto} dport {port} jump svc{i}d;");
    }
    let _ = writeln!(r.chains, "  chain svc{i}d {{");
    if targets.is_empty() {
        r.chains.push_str("    drop;\n  }\n");
        return r;
    }
    let map: Vec<String> = (0..targets.len())
        .map(|k| format!("{k} : jump svc{i}d{k}"))
        .collect();
    let _ = writeln!(
        r.chains,
        "    {pick} mod {} vmap {{ {} }};\n  }}",
        targets.len(),
        map.join(", ")
    );
    for (k, e) in targets.iter().enumerate() {
        let _ = writeln!(r.chains, "  chain svc{i}d{k} {{");
        if !local.is_empty() {
            let _ = writeln!(
                r.chains,
                "    meta l4proto {proto} dnat to {}:{};",
                e.ip, e.port
            );
        } else if let Some(node) = nodes.get(&*e.node) {
            let _ = writeln!(r.chains, "    dup to {node};\n    drop;");
        } else {
            r.chains.push_str("    drop;\n");
        }
        r.chains.push_str("  }\n");
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(ip: &str, node: &str, local: bool) -> EndpointRef {
        EndpointRef {
            ip: ip.parse().unwrap(),
            port: 80,
            node: node.into(),
            local,
            ready: true,
            serving: true,
            terminating: false,
        }
    }

    #[test]
    fn a_node_with_a_local_endpoint_serves_it_without_masquerade() {
        let eps = [ep("10.30.67.2", "n1", true), ep("10.30.68.2", "n2", false)];
        let vip = ["10.160.1.41".parse().unwrap()];
        let r = rules(3, "tcp", &vip, 80, &eps, &NodeAddrs::new());
        assert_eq!(r.nat, "    ip daddr 10.160.1.41 tcp dport 80 jump svc3d;\n");
        assert_eq!(r.forward, "");
        let t = r.chains;
        assert!(
            t.contains("numgen random mod 1 vmap { 0 : jump svc3d0 }"),
            "{t}"
        );
        assert!(t.contains("dnat to 10.30.67.2:80"), "{t}");
        assert!(!t.contains("dup") && !t.contains("ct mark"), "{t}");
    }

    #[test]
    fn a_node_without_one_forwards_a_copy_to_the_endpoints_node() {
        let eps = [ep("10.30.67.2", "n1", false), ep("10.30.68.2", "n2", false)];
        let nodes: NodeAddrs = [("n1".to_string(), "10.160.1.25".parse().unwrap())].into();
        let vip = ["10.160.1.41".parse().unwrap()];
        let r = rules(0, "tcp", &vip, 80, &eps, &nodes);
        assert_eq!(
            r.nat, "",
            "nothing for the nat chain: it sees first packets only"
        );
        assert_eq!(
            r.forward,
            "    ip daddr 10.160.1.41 tcp dport 80 jump svc0d;\n"
        );
        let t = r.chains;
        assert!(
            t.contains("jhash ip saddr . tcp sport . ip daddr . tcp dport mod 2"),
            "{t}"
        );
        assert!(t.contains("dup to 10.160.1.25;\n    drop;"), "{t}");
        // A node whose address is unknown gets nothing rather than a guess.
        assert!(t.contains("chain svc0d1 {\n    drop;"), "{t}");
        assert!(!t.contains("dnat"), "{t}");
    }
}
