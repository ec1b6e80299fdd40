//! The numbers an antrea-agent gives its Egress datapath, and how long they
//! last.
//!
//! An agent allocates (`pkg/agent/controller/egress/egress_controller.go`
//! v2.7.0, `realizeEgressIP`, `installPolicyRoute`):
//! - one packet mark per Egress IP it holds, from `idAllocator(1, 255)`
//!   (`minEgressMark`/`maxEgressMark`); Egresses sharing an IP share it;
//! - with EgressSeparateSubnet, one route table per distinct `subnetInfo`
//!   (gateway, prefix length, VLAN), from `idAllocator(101, 120)`
//!   (`types.MinRequestEgressRouteTable`..`MaxRequestEgressRouteTable`),
//!   released when the last mark using it goes.
//!
//! A number is kept until it is released: a second Egress on the node never
//! renumbers the first. `idAllocator` (`id_allocator.go`) hands out released
//! ids first, oldest release first, and a never-used id only when none is
//! waiting. The allocators live as long as the agent: a restarted agent
//! (power cycle, `antrea-config` change) starts from 1 and 101 again
//! (`RestoreEgressRoutesAndRules` flushes tables 101-120 on start).
//!
//! Antrea processes one Egress at a time; antlab brings a node's numbering
//! up to date in one [`AgentEgressIds::sync`]: first every release (in the
//! order the IPs were taken), then every allocation (in scheduling order).
//!
//! The lab's own addition, routing Pods' traffic to a remote egress node
//! (Antrea tunnels it; see `engine::egress`), numbers the next hops it routes
//! through (a remote egress node's IP, or a static Egress IP no node has) the
//! same way (1..=255), so those marks and tables are stable too.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::Ipv4Addr;

use indexmap::IndexMap;

use crate::k8s::SubnetInfo;

/// `minEgressMark` and `maxEgressMark`.
pub const MIN_EGRESS_MARK: u32 = 1;
pub const MAX_EGRESS_MARK: u32 = 255;
/// `types.MinRequestEgressRouteTable` and `MaxRequestEgressRouteTable`.
pub const MIN_EGRESS_TABLE: u32 = 101;
pub const MAX_EGRESS_TABLE: u32 = 120;

/// Antrea's `idAllocator`: ids from `min..=max`; a released id is handed
/// out again before any new one, the oldest release first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdAllocator {
    next: u32,
    max: u32,
    released: VecDeque<u32>,
}

impl IdAllocator {
    pub fn new(min: u32, max: u32) -> IdAllocator {
        IdAllocator {
            next: min,
            max,
            released: VecDeque::new(),
        }
    }

    /// The next id; `None` is Antrea's "no ID available".
    pub fn allocate(&mut self) -> Option<u32> {
        if let Some(id) = self.released.pop_front() {
            return Some(id);
        }
        if self.next <= self.max {
            let id = self.next;
            self.next += 1;
            return Some(id);
        }
        None
    }

    /// Gives `id` back; it is the next one handed out after any released
    /// before it.
    pub fn release(&mut self, id: u32) {
        self.released.push_back(id);
    }
}

/// A route table's key: Antrea keys them by the whole `SubnetInfo`.
type SubnetKey = (Ipv4Addr, u8, u16);

fn key_of(s: &SubnetInfo) -> SubnetKey {
    (s.gateway, s.prefix_length, s.vlan)
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct LocalIp {
    mark: u32,
    /// The subnet whose table the mark's `ip rule` looks up.
    subnet: Option<SubnetInfo>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct RouteTable {
    id: u32,
    /// Marks whose rule looks this table up (`egressRouteTable.marks`).
    marks: BTreeSet<u32>,
}

/// One agent's Egress numbering: marks per local Egress IP, route tables per
/// subnet, and the lab's marks per next hop to a remote egress node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentEgressIds {
    marks: IdAllocator,
    /// Local Egress IPs in the order they were taken.
    local: IndexMap<Ipv4Addr, LocalIp>,
    tables: IdAllocator,
    subnet_tables: BTreeMap<SubnetKey, RouteTable>,
    remote: IdAllocator,
    /// Next hops to remote egress nodes in the order they were taken.
    remote_hops: IndexMap<Ipv4Addr, u32>,
}

impl Default for AgentEgressIds {
    fn default() -> Self {
        AgentEgressIds::new()
    }
}

impl AgentEgressIds {
    /// A freshly started agent's numbering: nothing allocated.
    pub fn new() -> AgentEgressIds {
        AgentEgressIds {
            marks: IdAllocator::new(MIN_EGRESS_MARK, MAX_EGRESS_MARK),
            local: IndexMap::new(),
            tables: IdAllocator::new(MIN_EGRESS_TABLE, MAX_EGRESS_TABLE),
            subnet_tables: BTreeMap::new(),
            remote: IdAllocator::new(1, 255),
            remote_hops: IndexMap::new(),
        }
    }

    /// Brings the numbering to what the agent now wants: `local` holds the
    /// Egress IPs this node holds, each with the subnet its traffic is
    /// routed by (`None` without EgressSeparateSubnet or subnetInfo), in
    /// scheduling order; `remote` the next hops (other egress nodes' IPs)
    /// this node's Pods are routed through. Everything no longer wanted is
    /// released first.
    pub fn sync(&mut self, local: &[(Ipv4Addr, Option<SubnetInfo>)], remote: &[Ipv4Addr]) {
        let gone: Vec<Ipv4Addr> = self
            .local
            .keys()
            .filter(|ip| !local.iter().any(|(w, _)| w == *ip))
            .copied()
            .collect();
        for ip in gone {
            let l = self.local.shift_remove(&ip).expect("listed above");
            self.uninstall_policy_route(l.mark, l.subnet);
            self.marks.release(l.mark);
        }
        for &(ip, subnet) in local {
            match self.local.get(&ip).cloned() {
                Some(l) if l.subnet == subnet => {}
                Some(l) => {
                    // The pool's subnetInfo changed: the old table goes
                    // first (and may be the one handed out again).
                    self.uninstall_policy_route(l.mark, l.subnet);
                    let subnet = self.install_policy_route(l.mark, subnet);
                    self.local.insert(ip, LocalIp { subnet, ..l });
                }
                None => {
                    // "error allocating mark": the IP gets no mark.
                    let Some(mark) = self.marks.allocate() else {
                        continue;
                    };
                    let subnet = self.install_policy_route(mark, subnet);
                    self.local.insert(ip, LocalIp { mark, subnet });
                }
            }
        }
        let gone: Vec<Ipv4Addr> = self
            .remote_hops
            .keys()
            .filter(|h| !remote.contains(h))
            .copied()
            .collect();
        for h in gone {
            let id = self.remote_hops.shift_remove(&h).expect("listed above");
            self.remote.release(id);
        }
        for &h in remote {
            if !self.remote_hops.contains_key(&h)
                && let Some(id) = self.remote.allocate()
            {
                self.remote_hops.insert(h, id);
            }
        }
    }

    /// Adds the mark to its subnet's table, allocating the table if the
    /// subnet has none. `None` back: no subnet, or no table left
    /// ("exceeding max allowed subnets 20").
    fn install_policy_route(
        &mut self,
        mark: u32,
        subnet: Option<SubnetInfo>,
    ) -> Option<SubnetInfo> {
        let s = subnet?;
        let key = key_of(&s);
        if !self.subnet_tables.contains_key(&key) {
            let id = self.tables.allocate()?;
            self.subnet_tables.insert(
                key,
                RouteTable {
                    id,
                    marks: BTreeSet::new(),
                },
            );
        }
        let t = self.subnet_tables.get_mut(&key).expect("inserted above");
        t.marks.insert(mark);
        Some(s)
    }

    /// Takes the mark off its table; the last mark out releases the table.
    fn uninstall_policy_route(&mut self, mark: u32, subnet: Option<SubnetInfo>) {
        let Some(s) = subnet else { return };
        let key = key_of(&s);
        let Some(t) = self.subnet_tables.get_mut(&key) else {
            return;
        };
        t.marks.remove(&mark);
        if t.marks.is_empty() {
            let id = t.id;
            self.subnet_tables.remove(&key);
            self.tables.release(id);
        }
    }

    /// The mark of a local Egress IP.
    pub fn mark(&self, ip: Ipv4Addr) -> Option<u32> {
        self.local.get(&ip).map(|l| l.mark)
    }

    /// The route table a local Egress IP's mark looks up, with its subnet.
    pub fn table(&self, ip: Ipv4Addr) -> Option<(u32, SubnetInfo)> {
        let s = self.local.get(&ip)?.subnet?;
        Some((self.subnet_tables.get(&key_of(&s))?.id, s))
    }

    /// Every route table in use with its subnet, by table id.
    pub fn tables(&self) -> Vec<(u32, SubnetInfo)> {
        let mut v: Vec<(u32, SubnetInfo)> = self
            .local
            .values()
            .filter_map(|l| {
                let s = l.subnet?;
                Some((self.subnet_tables.get(&key_of(&s))?.id, s))
            })
            .collect();
        v.sort_by_key(|(id, _)| *id);
        v.dedup_by_key(|(id, _)| *id);
        v
    }

    /// The number (1..=255) of a next hop to a remote egress node.
    pub fn remote_id(&self, via: Ipv4Addr) -> Option<u32> {
        self.remote_hops.get(&via).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().expect("test IP")
    }

    /// `TestIDAllocator` (`pkg/agent/controller/egress/id_allocator_test.go`
    /// v2.7.0).
    #[test]
    fn id_allocator_reuses_released_ids_in_release_order() {
        let mut a = IdAllocator::new(1, 2);
        assert_eq!(a.allocate(), Some(1));
        assert_eq!(a.allocate(), Some(2));
        assert_eq!(a.allocate(), None);
        a.release(1);
        a.release(2);
        assert_eq!(a.allocate(), Some(1));
        assert_eq!(a.allocate(), Some(2));
        assert_eq!(a.allocate(), None);
        // Released ids come back oldest first, before any new one.
        let mut b = IdAllocator::new(1, 255);
        for _ in 0..3 {
            b.allocate();
        }
        b.release(3);
        b.release(1);
        assert_eq!(b.allocate(), Some(3));
        assert_eq!(b.allocate(), Some(1));
        assert_eq!(b.allocate(), Some(4));
    }

    #[test]
    fn a_second_egress_ip_does_not_renumber_the_first() {
        let mut ids = AgentEgressIds::new();
        ids.sync(&[(ip("1.1.1.2"), None)], &[]);
        assert_eq!(ids.mark(ip("1.1.1.2")), Some(1));
        // A new IP that schedules before the old one still gets the next mark.
        ids.sync(&[(ip("1.1.1.1"), None), (ip("1.1.1.2"), None)], &[]);
        assert_eq!(ids.mark(ip("1.1.1.1")), Some(2));
        assert_eq!(ids.mark(ip("1.1.1.2")), Some(1));
        // The first goes: the second keeps 2, and a third gets the freed 1.
        ids.sync(&[(ip("1.1.1.1"), None)], &[]);
        assert_eq!(ids.mark(ip("1.1.1.1")), Some(2));
        assert_eq!(ids.mark(ip("1.1.1.2")), None);
        ids.sync(&[(ip("1.1.1.1"), None), (ip("1.1.1.3"), None)], &[]);
        assert_eq!(ids.mark(ip("1.1.1.3")), Some(1));
    }

    const SUBNET: SubnetInfo = SubnetInfo {
        gateway: Ipv4Addr::new(1, 1, 0, 1),
        prefix_length: 16,
        vlan: 10,
    };
    const SUBNET2: SubnetInfo = SubnetInfo {
        gateway: Ipv4Addr::new(1, 1, 0, 2),
        prefix_length: 16,
        vlan: 0,
    };

    /// `TestSyncEgress` "Add Egress having same SubnetInfo": mark 1 and 2,
    /// both rules look up table 101.
    #[test]
    fn egresses_of_one_subnet_share_its_table() {
        let mut ids = AgentEgressIds::new();
        ids.sync(&[(ip("1.1.1.1"), Some(SUBNET))], &[]);
        assert_eq!(ids.table(ip("1.1.1.1")), Some((101, SUBNET)));
        ids.sync(
            &[(ip("1.1.1.1"), Some(SUBNET)), (ip("1.1.1.2"), Some(SUBNET))],
            &[],
        );
        assert_eq!(ids.mark(ip("1.1.1.2")), Some(2));
        assert_eq!(ids.table(ip("1.1.1.2")), Some((101, SUBNET)));
        assert_eq!(ids.tables(), vec![(101, SUBNET)]);
    }

    /// `TestSyncEgress` "Update SubnetInfo of ExternalIPPool": the rule
    /// and table 101 are deleted, then table 101 is made again for the new
    /// subnet; the mark stays 1.
    #[test]
    fn a_changed_subnet_gets_the_released_table_back() {
        let mut ids = AgentEgressIds::new();
        ids.sync(&[(ip("1.1.1.1"), Some(SUBNET))], &[]);
        ids.sync(&[(ip("1.1.1.1"), Some(SUBNET2))], &[]);
        assert_eq!(ids.mark(ip("1.1.1.1")), Some(1));
        assert_eq!(ids.table(ip("1.1.1.1")), Some((101, SUBNET2)));
    }

    /// `TestSyncEgress` "Remove Egress IP with SubnetInfo": rule, table and
    /// mark go; the next IP starts over from the released numbers.
    #[test]
    fn the_last_mark_out_releases_the_table() {
        let mut ids = AgentEgressIds::new();
        ids.sync(
            &[
                (ip("1.1.1.1"), Some(SUBNET)),
                (ip("1.1.1.2"), Some(SUBNET2)),
            ],
            &[],
        );
        assert_eq!(ids.table(ip("1.1.1.2")), Some((102, SUBNET2)));
        ids.sync(&[(ip("1.1.1.2"), Some(SUBNET2))], &[]);
        assert_eq!(ids.tables(), vec![(102, SUBNET2)]);
        assert_eq!(ids.table(ip("1.1.1.2")), Some((102, SUBNET2)));
        ids.sync(
            &[
                (ip("1.1.1.2"), Some(SUBNET2)),
                (ip("1.1.1.3"), Some(SUBNET)),
            ],
            &[],
        );
        assert_eq!(ids.mark(ip("1.1.1.3")), Some(1));
        assert_eq!(ids.table(ip("1.1.1.3")), Some((101, SUBNET)));
    }

    /// Twenty subnets at most: the 21st IP gets its mark but no table.
    #[test]
    fn twenty_subnets_at_most() {
        let mut ids = AgentEgressIds::new();
        let wanted: Vec<(Ipv4Addr, Option<SubnetInfo>)> = (0..21u8)
            .map(|i| {
                (
                    Ipv4Addr::new(10, i, 0, 5),
                    Some(SubnetInfo {
                        gateway: Ipv4Addr::new(10, i, 0, 1),
                        prefix_length: 24,
                        vlan: 0,
                    }),
                )
            })
            .collect();
        ids.sync(&wanted, &[]);
        assert_eq!(ids.tables().len(), 20);
        assert_eq!(ids.mark(Ipv4Addr::new(10, 20, 0, 5)), Some(21));
        assert_eq!(ids.table(Ipv4Addr::new(10, 20, 0, 5)), None);
    }

    #[test]
    fn remote_egress_nodes_keep_their_numbers() {
        let (a, b) = (ip("10.0.0.1"), ip("10.0.0.2"));
        let mut ids = AgentEgressIds::new();
        ids.sync(&[], &[b]);
        ids.sync(&[], &[a, b]);
        assert_eq!(ids.remote_id(b), Some(1));
        assert_eq!(ids.remote_id(a), Some(2));
        ids.sync(&[], &[a]);
        assert_eq!(ids.remote_id(a), Some(2));
        assert_eq!(ids.remote_id(b), None);
    }
}
