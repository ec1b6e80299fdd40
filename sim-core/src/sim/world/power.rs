//! Power: switching a device off or on. A power cycle bumps the device's
//! epoch (timers of its previous life are ignored), a cold boot loses its
//! caches and everything the agent configured, and a node's Pods and
//! `br-int` follow their node.

use super::World;
use crate::model::{DeviceId, HostRole};
use crate::sim::devices::DeviceRt;
use crate::sim::trace::LogKind;

impl World {
    pub fn set_power(&mut self, id: DeviceId, on: bool) {
        let i = id.0 as usize;
        let name = self.device(id).name().to_string();
        if self.device(id).powered() == on {
            return;
        }
        self.epochs[i] += 1;
        match &mut self.devices[i] {
            DeviceRt::Host(h) => {
                h.powered = on;
                if on {
                    // A cold boot: caches, connection state and everything the
                    // agent configured are gone (none of it is persistent); the
                    // static configuration comes back. The agent re-applies its
                    // state when it starts again.
                    h.stack.arp.clear();
                    h.stack.ct.clear();
                }
            }
            DeviceRt::Switch(s) => {
                s.powered = on;
                if on {
                    s.macs.clear();
                    if let Some(l3) = &mut s.l3 {
                        l3.arp.clear();
                        l3.ct.clear();
                    }
                }
            }
        }
        if on && matches!(self.device(id), DeviceRt::Host(_)) {
            self.forget_dataplane(id);
        }
        self.record(
            LogKind::Power,
            &name,
            if on { "powered on" } else { "powered off" },
        );
        if !on {
            // The agent dies with the machine: no leave message, peers must
            // detect the failure.
            self.agents.remove(&id);
        }
        // Pods live and die with their node.
        if let Some(&br) = self.br_int.get(&id) {
            let pods: Vec<DeviceId> = (0..self.devices.len())
                .map(|d| DeviceId(d as u32))
                .filter(|&d| matches!(self.device(d), DeviceRt::Host(h) if matches!(&h.role, HostRole::Pod { node, .. } if *node == name)))
                .collect();
            self.set_power_quiet(br, on);
            for p in pods {
                self.set_power_quiet(p, on);
            }
        }
    }

    fn set_power_quiet(&mut self, id: DeviceId, on: bool) {
        self.epochs[id.0 as usize] += 1;
        match &mut self.devices[id.0 as usize] {
            DeviceRt::Host(h) => {
                h.powered = on;
                if on {
                    h.stack.arp.clear();
                    h.stack.ct.clear();
                }
            }
            DeviceRt::Switch(s) => {
                s.powered = on;
                if on {
                    s.macs.clear();
                }
            }
        }
    }
}
