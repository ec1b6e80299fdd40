//! The node addresses a NodePort answers on.
//!
//! AntreaProxy (`cmd/antrea-agent/agent.go` and `cmd/antrea-agent/util.go`
//! `getAvailableNodePortAddresses`, `pkg/agent/util/net.go`
//! `GetAllNodeAddresses`, v2.7.0): every address of every interface of the
//! host, `lo`'s 127.0.0.1 included, except those of `antrea-egress0`,
//! `antrea-ingress0`, `kube-ipvs0`, the gateway (`antrea-gw0`) and
//! `antrea-ext.*` (and IPv6 link-local ones), in interface order; when
//! `antreaProxy.nodePortAddresses` is set, only the addresses inside those
//! CIDRs, CIDR by CIDR. The agent reads them once, at start; the Egress IPs
//! it adds later sit on excluded devices anyway.
//!
//! kube-proxy matches NodePorts on any local address: iptables mode with
//! `-m addrtype --dst-type LOCAL` (127.0.0.1 too: `--iptables-localhost-nodeports`
//! defaults to true), IPVS mode with one virtual server per node address,
//! loopback excluded (the blog's `ipvsadm -L -n` lists the node IP and
//! `antrea-gw0`'s address). antlab lists the addresses the topology and
//! Antrea's gateway give the node; addresses that come and go at run time
//! (Egress IPs) are left out.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::{KubeProxyMode, ProxyConfig, ProxyNode};

/// `lo`'s address.
pub const LOCALHOST: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);

/// `excludeNodePortDevices` plus the gateway (`o.config.HostGateway`).
pub const EXCLUDED_DEVICES: [&str; 4] = [
    "antrea-egress0",
    "antrea-ingress0",
    "kube-ipvs0",
    crate::engine::GATEWAY_IFACE,
];
/// `excludeNodePortDevicePrefixes`.
pub const EXCLUDED_DEVICE_PREFIXES: [&str; 1] = ["antrea-ext."];

/// Every IPv4 address of the node's interfaces, in the order Linux lists
/// them: `lo` first, then the NICs, then `antrea-gw0`.
pub fn interface_addresses(node: &ProxyNode) -> Vec<(&str, Ipv4Addr)> {
    let mut v: Vec<(&str, Ipv4Addr)> = vec![("lo", LOCALHOST)];
    v.extend(node.host_addrs.iter().map(|(i, a)| (i.as_str(), *a)));
    if let Some(gw) = node.gateway_ip {
        v.push((crate::engine::GATEWAY_IFACE, gw));
    }
    v
}

/// `getAvailableNodePortAddresses` for IPv4: `addresses` (interface, IP)
/// minus the excluded devices, then filtered by `configured`. A CIDR
/// overlapping an earlier one does not list an address twice.
pub fn available_nodeport_addresses(
    addresses: &[(&str, Ipv4Addr)],
    configured: &[Ipv4Net],
) -> Vec<Ipv4Addr> {
    let all: Vec<Ipv4Addr> = addresses
        .iter()
        .filter(|(dev, _)| {
            !EXCLUDED_DEVICES.contains(dev)
                && !EXCLUDED_DEVICE_PREFIXES.iter().any(|p| dev.starts_with(p))
        })
        .map(|(_, ip)| *ip)
        .collect();
    if configured.is_empty() {
        return all;
    }
    let mut out: Vec<Ipv4Addr> = Vec::new();
    for net in configured {
        for ip in all.iter().filter(|ip| net.contains(*ip)) {
            if !out.contains(ip) {
                out.push(*ip);
            }
        }
    }
    out
}

/// The addresses AntreaProxy serves NodePorts on for `node`.
pub fn antrea_nodeport_addresses(node: &ProxyNode, cfg: &ProxyConfig) -> Vec<Ipv4Addr> {
    available_nodeport_addresses(&interface_addresses(node), &cfg.node_port_addresses)
}

/// The addresses kube-proxy serves NodePorts on for `node`: every local
/// address, without 127.0.0.1 in IPVS mode.
pub fn kube_proxy_nodeport_addresses(node: &ProxyNode, cfg: &ProxyConfig) -> Vec<Ipv4Addr> {
    let ipvs = matches!(cfg.kube_proxy, Some(KubeProxyMode::Ipvs { .. }));
    interface_addresses(node)
        .into_iter()
        .filter(|(_, ip)| !(ipvs && ip.is_loopback()))
        .map(|(_, ip)| ip)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().expect("test IP")
    }

    /// `TestGetAvailableNodePortAddresses` (`cmd/antrea-agent/util_test.go`
    /// v2.7.0), IPv4 half: the host addresses as `GetAllNodeAddresses`
    /// returns them, all of them without a config, the one in
    /// 192.168.225.0/24 with it.
    #[test]
    fn antreas_nodeport_address_table() {
        let host = [
            ("lo", ip("127.0.0.1")),
            ("eth0", ip("192.168.225.234")),
            ("eth1", ip("10.104.73.43")),
        ];
        assert_eq!(
            available_nodeport_addresses(&host, &[]),
            vec![ip("127.0.0.1"), ip("192.168.225.234"), ip("10.104.73.43")]
        );
        assert_eq!(
            available_nodeport_addresses(&host, &["192.168.225.0/24".parse().unwrap()]),
            vec![ip("192.168.225.234")]
        );
    }

    #[test]
    fn antreas_own_devices_are_excluded() {
        let host = [
            ("lo", ip("127.0.0.1")),
            ("eth0", ip("10.160.1.25")),
            ("antrea-gw0", ip("10.30.67.1")),
            ("antrea-egress0", ip("10.160.1.41")),
            ("antrea-ingress0", ip("10.160.1.42")),
            ("kube-ipvs0", ip("10.30.0.10")),
            ("antrea-ext.181", ip("172.18.181.40")),
            // Only the prefix `antrea-ext.` is Antrea's.
            ("antrea-extra", ip("192.0.2.1")),
        ];
        assert_eq!(
            available_nodeport_addresses(&host, &[]),
            vec![ip("127.0.0.1"), ip("10.160.1.25"), ip("192.0.2.1")]
        );
        // CIDR by CIDR, each address once.
        assert_eq!(
            available_nodeport_addresses(
                &host,
                &[
                    "192.0.2.0/24".parse().unwrap(),
                    "0.0.0.0/0".parse().unwrap()
                ]
            ),
            vec![ip("192.0.2.1"), ip("127.0.0.1"), ip("10.160.1.25")]
        );
    }

    #[test]
    fn every_nic_of_a_node_serves_nodeports() {
        let mut n = ProxyNode::new("n", ip("10.160.1.25"));
        n.host_addrs.push(("eth1".into(), ip("192.168.50.25")));
        n.gateway_ip = Some(ip("10.30.67.1"));
        let antrea = antrea_nodeport_addresses(&n, &ProxyConfig::default());
        assert_eq!(
            antrea,
            vec![ip("127.0.0.1"), ip("10.160.1.25"), ip("192.168.50.25")]
        );
        let iptables = ProxyConfig {
            kube_proxy: Some(KubeProxyMode::Iptables),
            ..ProxyConfig::default()
        };
        assert_eq!(
            kube_proxy_nodeport_addresses(&n, &iptables),
            vec![
                ip("127.0.0.1"),
                ip("10.160.1.25"),
                ip("192.168.50.25"),
                ip("10.30.67.1")
            ]
        );
        let ipvs = ProxyConfig {
            kube_proxy: Some(KubeProxyMode::Ipvs { strict_arp: true }),
            ..ProxyConfig::default()
        };
        assert_eq!(
            kube_proxy_nodeport_addresses(&n, &ipvs),
            vec![ip("10.160.1.25"), ip("192.168.50.25"), ip("10.30.67.1")]
        );
    }
}
