//! Which devices a set of hosts can reach over the lab's cabling: links
//! that are up, through powered switches and routers (a host that is not a
//! router does not forward). VLANs, addresses and routes are not looked at:
//! this is the physical path, not a packet's.
//!
//! The node lifecycle (`scenario::node_lifecycle`) uses it to decide
//! whether a kubelet can reach the API server.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::{DeviceRt, World};
use crate::model::{DeviceId, HostRole};

/// Every device reachable from a powered device of `from` (those included).
pub fn reachable_from(world: &World, from: &[DeviceId]) -> BTreeSet<DeviceId> {
    let mut adjacent: BTreeMap<DeviceId, Vec<DeviceId>> = BTreeMap::new();
    for l in world.links().iter().filter(|l| l.up) {
        let (Some(a), Some(b)) = (world.find_port(&l.a), world.find_port(&l.b)) else {
            continue;
        };
        adjacent.entry(a.device).or_default().push(b.device);
        adjacent.entry(b.device).or_default().push(a.device);
    }
    let forwards = |id: DeviceId| match world.device(id) {
        DeviceRt::Switch(_) => true,
        DeviceRt::Host(h) => matches!(h.role, HostRole::Router),
    };
    let mut seen: BTreeSet<DeviceId> = BTreeSet::new();
    let mut queue: VecDeque<DeviceId> = VecDeque::new();
    for &id in from {
        if world.device(id).powered() && seen.insert(id) {
            queue.push_back(id);
        }
    }
    while let Some(id) = queue.pop_front() {
        // Start points send; only switches and routers pass traffic on.
        if !from.contains(&id) && !forwards(id) {
            continue;
        }
        for &next in adjacent.get(&id).map_or(&[][..], Vec::as_slice) {
            if world.device(next).powered() && seen.insert(next) {
                queue.push_back(next);
            }
        }
    }
    seen
}
