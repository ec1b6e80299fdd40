//! Pod IPs as Antrea's default IPAM hands them out: the `host-local` plugin
//! on each node's Pod CIDR (`build/charts/antrea/conf/antrea-cni.conflist`
//! v2.7.0: `"ipam": {"type": "host-local"}`).
//!
//! `host-local` keeps its allocations on the node's disk
//! (`/var/lib/cni/networks/antrea/<ip>` and `last_reserved_ip.0`) and hands
//! addresses out round-robin: the first free one after the last it reserved,
//! wrapping around the range (containernetworking/plugins
//! `plugins/ipam/host-local/backend/allocator`, `GetIter`). The range is the
//! Pod CIDR without its network, broadcast and gateway (`.1`,
//! `antrea-gw0`) addresses. The files survive a reboot; Antrea's agent
//! releases the addresses of containers that no longer exist when it starts
//! (`pkg/agent/cniserver/ipam/hostlocal/gc.go`), but `last_reserved_ip`
//! stays. So after a node's reboot the kubelet's new sandboxes for its Pods
//! get new addresses, after the last one used: the same Pod comes back with
//! another IP.
//!
//! A fresh node hands out `.2`, `.3`, ... in order, as a lowest-free
//! allocator would; the two differ once addresses are reused. A Pod whose
//! manifest gives `status.podIP` keeps that address without host-local
//! (the round-robin does not move); re-created after a reboot, it gets the
//! round-robin's next address like any other.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::ids::NodeId;

/// Each node's `last_reserved_ip`.
#[derive(Clone, Debug, Default)]
pub struct HostLocalIpam {
    last_reserved: BTreeMap<NodeId, Ipv4Addr>,
}

impl HostLocalIpam {
    /// Reserves the next address of `node`'s `pod_cidr` after the last one
    /// it reserved; `in_use` says which are taken. `None`: the range is full.
    pub fn allocate(
        &mut self,
        node: NodeId,
        pod_cidr: Ipv4Net,
        in_use: impl Fn(Ipv4Addr) -> bool,
    ) -> Option<Ipv4Addr> {
        let range: Vec<Ipv4Addr> = pod_cidr.hosts().skip(1).collect();
        let start = self
            .last_reserved
            .get(&node)
            .and_then(|last| range.iter().position(|ip| ip == last))
            .map_or(0, |i| i + 1);
        let ip = (0..range.len())
            .map(|k| range[(start + k) % range.len()])
            .find(|ip| !in_use(*ip))?;
        self.last_reserved.insert(node, ip);
        Some(ip)
    }

    /// The last address handed out on `node`.
    pub fn last_reserved(&self, node: NodeId) -> Option<Ipv4Addr> {
        self.last_reserved.get(&node).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn hands_out_round_robin_after_the_last_reserved() {
        const N: NodeId = NodeId(0);
        const M: NodeId = NodeId(1);
        const T: NodeId = NodeId(2);
        let mut ipam = HostLocalIpam::default();
        let cidr: Ipv4Net = "10.30.67.0/29".parse().unwrap();
        let mut used: Vec<Ipv4Addr> = Vec::new();
        for want in ["10.30.67.2", "10.30.67.3", "10.30.67.4"] {
            let got = ipam.allocate(N, cidr, |a| used.contains(&a)).unwrap();
            assert_eq!(got, ip(want));
            used.push(got);
        }
        // Every Pod's sandbox is gone (a reboot): the next ones continue
        // after .4, they do not start over at .2.
        used.clear();
        assert_eq!(
            ipam.allocate(N, cidr, |a| used.contains(&a)),
            Some(ip("10.30.67.5"))
        );
        assert_eq!(
            ipam.allocate(N, cidr, |a| used.contains(&a)),
            Some(ip("10.30.67.6"))
        );
        // .6 is the last host of the /29: wrap to .2, skipping used ones.
        used.push(ip("10.30.67.2"));
        assert_eq!(
            ipam.allocate(N, cidr, |a| used.contains(&a)),
            Some(ip("10.30.67.3"))
        );
        assert_eq!(ipam.last_reserved(N), Some(ip("10.30.67.3")));
        // Another node has its own round-robin.
        assert_eq!(
            ipam.allocate(M, "10.30.68.0/24".parse().unwrap(), |_| false),
            Some(ip("10.30.68.2"))
        );
        // Full.
        let tiny: Ipv4Net = "10.30.69.0/30".parse().unwrap();
        assert_eq!(ipam.allocate(T, tiny, |_| false), Some(ip("10.30.69.2")));
        assert_eq!(ipam.allocate(T, tiny, |a| a == ip("10.30.69.2")), None);
    }
}
