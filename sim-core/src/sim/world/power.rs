//! Power: switching a device off or on. A power cycle bumps the device's
//! epoch (timers of its previous life are ignored), a cold boot loses its
//! caches and everything the agent configured, and a node's Pods and
//! `br-int` follow their node (a br-int that executes its program comes up
//! with no flows and an empty conntrack: `br_int.rs`).

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
        if on {
            self.br_int_cold_boot(id);
            self.external_agent_cold_boot(id);
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
            self.agents.remove(id);
            self.bgp_power_off(id);
        } else {
            self.bgp_power_on(id);
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
        if on {
            self.br_int_cold_boot(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testlab::{
        THREE_HOSTS, TWO_NODES, dataplane, id, ip, mac, messages, ms, port, probe, raw_frame, world,
    };
    use crate::model::MacAddr;
    use crate::sim::probe::ProbeKind;
    use crate::sim::trace::LogKind;

    #[test]
    fn power_off_drops_frames_for_the_device_and_bumps_its_epoch() {
        let mut w = world(THREE_HOSTS);
        let h2 = id(&w, "h2");
        assert_eq!(w.epochs[h2.0 as usize], 0);
        w.set_power(h2, false);
        assert!(!w.device(h2).powered());
        assert_eq!(w.epochs[h2.0 as usize], 1);
        assert_eq!(messages(&w, LogKind::Power), ["powered off"]);
        // Switching it off again changes nothing.
        w.set_power(h2, false);
        assert_eq!(w.epochs[h2.0 as usize], 1);
        assert_eq!(messages(&w, LogKind::Power).len(), 1);

        let (h1, h2_mac) = (mac(&w, "h1"), mac(&w, "h2"));
        w.transmit(port(&w, "h1/eth0"), raw_frame(h1, h2_mac), None, false);
        w.transmit(
            port(&w, "h1/eth0"),
            raw_frame(h1, MacAddr::BROADCAST),
            None,
            false,
        );
        w.run_until(ms(10));
        // Only the frame addressed to it counts as lost.
        assert_eq!(messages(&w, LogKind::Drop), ["h2 is powered off"]);

        w.set_power(h2, true);
        assert_eq!(w.epochs[h2.0 as usize], 2);
        assert_eq!(messages(&w, LogKind::Power), ["powered off", "powered on"]);
        assert_eq!(w.device(h2).name(), "h2");
    }

    #[test]
    fn powering_a_host_on_is_a_cold_boot() {
        let mut w = world(THREE_HOSTS);
        let h1 = id(&w, "h1");
        let desired = dataplane(
            &[("eth0", "10.0.0.41/24", false)],
            &[("10.9.0.0/16", "10.0.0.2", "eth0")],
        );
        w.apply_dataplane(h1, &desired).unwrap();
        w.start_probe(probe(&w, "ping", "h1", "10.0.0.2", ProbeKind::Ping))
            .unwrap();
        w.run_until(ms(50));
        w.stop_probe("ping").unwrap();
        // (addresses of eth0, routes the engine installed, ARP rows) of h1.
        let stack = |w: &super::World| {
            let s = w.device(h1).stack().unwrap();
            let addrs: Vec<String> = s.ifaces()[0]
                .addrs()
                .iter()
                .map(|a| a.to_string())
                .collect();
            let engine = s
                .routes()
                .routes()
                .into_iter()
                .filter(|r| r.origin == "engine");
            (addrs, engine.count(), s.arp().rows(w.now()).len())
        };
        let (addrs, engine_routes, arp) = stack(&w);
        assert_eq!(addrs, ["10.0.0.1/24", "10.0.0.41/24"]);
        assert_eq!(engine_routes, 1);
        assert_eq!(arp, 1);

        w.set_power(h1, false);
        w.set_power(h1, true);
        let (addrs, engine_routes, arp) = stack(&w);
        assert_eq!(addrs, ["10.0.0.1/24"], "the engine's address is gone");
        assert_eq!((engine_routes, arp), (0, 0));
        // The next desired state is applied from scratch.
        w.apply_dataplane(h1, &desired).unwrap();
        assert_eq!(stack(&w).0, ["10.0.0.1/24", "10.0.0.41/24"]);
        assert_eq!(
            w.device(h1)
                .stack()
                .unwrap()
                .routes()
                .lookup(ip("10.9.0.1"), None, 0)
                .map(|h| h.neighbor),
            Some(ip("10.0.0.2"))
        );
    }

    #[test]
    fn a_node_s_br_int_and_pods_follow_it_quietly() {
        let mut w = world(TWO_NODES);
        let n1 = id(&w, "n1");
        let pod = w.add_pod(n1, "ns", "web", ip("10.30.1.5"), vec![]).unwrap();
        let br = id(&w, "br-int@n1");
        let (pod_epoch, br_epoch) = (w.epochs[pod.0 as usize], w.epochs[br.0 as usize]);
        w.set_power(n1, false);
        assert!(!w.device(pod).powered() && !w.device(br).powered());
        assert_eq!(w.epochs[pod.0 as usize], pod_epoch + 1);
        assert_eq!(w.epochs[br.0 as usize], br_epoch + 1);
        assert!(w.device(id(&w, "n2")).powered(), "the other node stays up");
        let power: Vec<_> = super::super::testlab::entries(&w, LogKind::Power)
            .into_iter()
            .map(|e| e.device.clone())
            .collect();
        assert_eq!(power, ["n1"], "only the node's own power is logged");
        w.set_power(n1, true);
        assert!(w.device(pod).powered() && w.device(br).powered());
    }

    #[test]
    fn a_cold_boot_leaves_br_int_without_flows_conntrack_or_learned_flows() {
        use crate::openflow::{Program, TableMap};
        let mut w = world(TWO_NODES);
        let n1 = id(&w, "n1");
        w.add_pod(n1, "ns", "web", ip("10.30.1.5"), vec![]).unwrap();
        // IPv4 is committed to conntrack and teaches table 1 a flow per
        // source; everything is switched by NORMAL.
        let text = "\
table=0,priority=10,ip,actions=ct(commit,zone=65520),learn(table=1,priority=5,eth_type=0x800,NXM_OF_IP_SRC[]),NORMAL
table=0,priority=0,actions=NORMAL
table=1,priority=0,actions=drop
";
        let names = TableMap::new(&[(0, "Classifier"), (1, "Learned")]);
        let program = || Program::from_text(names.clone(), text).unwrap();
        let pods = [(3, "ns/web".to_string())];
        let node_ip = ip("10.0.0.11");
        assert_eq!(
            w.load_br_int_program(n1, program(), node_ip, &pods),
            Ok(true)
        );
        w.start_probe(probe(&w, "ping", "ns/web", "10.30.1.1", ProbeKind::Ping))
            .unwrap();
        w.run_until(ms(50));
        w.stop_probe("ping").unwrap();
        let loaded = w.br_int_program(n1).unwrap();
        // One flow learned per source: the Pod and the gateway that answers.
        assert_eq!(loaded.flow_count(), 5, "flows learned");
        assert!(loaded.flows().any(|(_, n, _)| n > 0));
        assert!(w.br_int_conntrack_len(n1).unwrap() > 0);

        w.set_power(n1, false);
        assert!(w.br_int_conntrack_len(n1).unwrap() > 0, "off: nothing runs");
        w.set_power(n1, true);
        assert_eq!(w.br_int_program(n1).unwrap().flow_count(), 0);
        assert_eq!(w.br_int_conntrack_len(n1), Some(0));
        // The agent installs the same program again: from scratch.
        assert_eq!(
            w.load_br_int_program(n1, program(), node_ip, &pods),
            Ok(true)
        );
        let loaded = w.br_int_program(n1).unwrap();
        assert_eq!(loaded.flow_count(), 3, "the learned flows are gone");
        assert!(loaded.flows().all(|(_, n, _)| n == 0));
        assert_eq!(w.br_int_conntrack_len(n1), Some(0));
        // A program change while the node is up keeps the connections.
        w.start_probe(probe(&w, "ping2", "ns/web", "10.30.1.1", ProbeKind::Ping))
            .unwrap();
        w.run_until(ms(100));
        let conns = w.br_int_conntrack_len(n1).unwrap();
        assert!(conns > 0);
        let changed =
            Program::from_text(names.clone(), &text.replace("priority=5", "priority=6")).unwrap();
        assert_eq!(w.load_br_int_program(n1, changed, node_ip, &pods), Ok(true));
        assert_eq!(w.br_int_conntrack_len(n1), Some(conns));
    }
}
