//! Tables the event loop reads on every frame or timer, found by index
//! instead of by a tree search. On a large lab each level of a
//! `BTreeMap` is a cache miss; a slot is one. Both iterate in key order,
//! as the maps they replace did.

use crate::model::{DeviceId, PortRef};

/// A value per device, for the few devices that have one. Values are
/// boxed: the table has a slot per device (Pods included), and most are
/// empty.
#[derive(Debug)]
pub(super) struct ByDevice<V> {
    slots: Vec<Option<Box<V>>>,
}

impl<V> Default for ByDevice<V> {
    fn default() -> Self {
        ByDevice { slots: Vec::new() }
    }
}

impl<V> ByDevice<V> {
    pub(super) fn get(&self, id: DeviceId) -> Option<&V> {
        self.slots.get(id.0 as usize)?.as_deref()
    }

    pub(super) fn get_mut(&mut self, id: DeviceId) -> Option<&mut V> {
        self.slots.get_mut(id.0 as usize)?.as_deref_mut()
    }

    pub(super) fn contains(&self, id: DeviceId) -> bool {
        self.get(id).is_some()
    }

    /// Stores `value` for `id`, returning the one it replaces.
    pub(super) fn insert(&mut self, id: DeviceId, value: V) -> Option<V> {
        let i = id.0 as usize;
        if self.slots.len() <= i {
            self.slots.resize_with(i + 1, || None);
        }
        self.slots[i].replace(Box::new(value)).map(|b| *b)
    }

    pub(super) fn remove(&mut self, id: DeviceId) -> Option<V> {
        self.slots.get_mut(id.0 as usize)?.take().map(|b| *b)
    }
}

/// The link at each port: per device, per port index.
#[derive(Debug, Default)]
pub(super) struct PortLinks {
    per_device: Vec<Vec<Option<u32>>>,
}

impl PortLinks {
    pub(super) fn get(&self, port: PortRef) -> Option<usize> {
        let link = *self
            .per_device
            .get(port.device.0 as usize)?
            .get(port.port as usize)?;
        link.map(|l| l as usize)
    }

    pub(super) fn insert(&mut self, port: PortRef, link: usize) {
        let d = port.device.0 as usize;
        if self.per_device.len() <= d {
            self.per_device.resize_with(d + 1, Vec::new);
        }
        let ports = &mut self.per_device[d];
        let p = port.port as usize;
        if ports.len() <= p {
            ports.resize(p + 1, None);
        }
        ports[p] = Some(u32::try_from(link).expect("fewer than 2^32 links"));
    }

    /// The links at `device`'s ports, in port order.
    pub(super) fn of_device(&self, device: DeviceId) -> impl Iterator<Item = usize> + '_ {
        self.per_device
            .get(device.0 as usize)
            .into_iter()
            .flatten()
            .filter_map(|l| l.map(|l| l as usize))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn port(d: u32, p: u16) -> PortRef {
        PortRef {
            device: DeviceId(d),
            port: p,
        }
    }

    proptest! {
        /// Both tables answer as the maps they replace, whatever order
        /// the inserts and removals come in.
        #[test]
        fn dense_tables_answer_as_maps(
            ops in proptest::collection::vec((0u32..40, 0u16..6, any::<bool>(), 0usize..1000), 0..200),
        ) {
            let mut by = ByDevice::default();
            let mut by_map = BTreeMap::new();
            let mut links = PortLinks::default();
            let mut links_map = BTreeMap::new();
            for (d, p, insert, v) in ops {
                let id = DeviceId(d);
                if insert {
                    prop_assert_eq!(by.insert(id, v), by_map.insert(id, v));
                } else {
                    prop_assert_eq!(by.remove(id), by_map.remove(&id));
                }
                links.insert(port(d, p), v);
                links_map.insert(port(d, p), v);
            }
            for d in 0..42 {
                let id = DeviceId(d);
                prop_assert_eq!(by.get(id), by_map.get(&id));
                prop_assert_eq!(by.contains(id), by_map.contains_key(&id));
                for p in 0..7 {
                    prop_assert_eq!(links.get(port(d, p)), links_map.get(&port(d, p)).copied());
                }
                let of: Vec<usize> = links.of_device(id).collect();
                let want: Vec<usize> = links_map
                    .iter()
                    .filter(|(k, _)| k.device == id)
                    .map(|(_, v)| *v)
                    .collect();
                prop_assert_eq!(of, want);
            }
        }
    }
}
