//! The simulator's answers to the judge: its world (ARP caches, MAC tables,
//! probes and their traced paths) and its cluster state (Egress status,
//! Services, who holds which address as the engine computes it).

use std::net::Ipv4Addr;

use super::observe::{ArpSeen, EgressNode, EgressSeen, HeldIp, Observe, ProbeSeen, Seen};
use crate::engine::egress_status::AgentSyncs;
use crate::engine::{ClusterState, holders};
use crate::model::MacAddr;
use crate::sim::probe::{Attempt, Verdict};
use crate::sim::{DeviceRt, World};

/// The simulator observed at its current time.
pub struct SimObserver<'a> {
    world: &'a World,
    cluster: &'a ClusterState,
    /// The run's agents' Egress conclusions as the control plane keeps
    /// them after every change, when the observer has them: who holds an
    /// Egress is then read, not computed again from every agent's view.
    agents: Option<&'a AgentSyncs>,
    /// Otherwise every Egress's holders, computed on the first Egress
    /// expectation: they come from every agent's view at once, and an
    /// expect step of a large lab names many Egresses of the same state.
    egress_holders: std::cell::OnceCell<std::collections::BTreeMap<String, Vec<String>>>,
}

impl<'a> SimObserver<'a> {
    pub fn new(world: &'a World, cluster: &'a ClusterState) -> Self {
        SimObserver {
            world,
            cluster,
            agents: None,
            egress_holders: std::cell::OnceCell::new(),
        }
    }

    /// An observer of a running scenario, whose control plane has synced
    /// `agents` with every view and Egress since the last change.
    pub(in crate::scenario) fn of_run(
        world: &'a World,
        cluster: &'a ClusterState,
        agents: &'a AgentSyncs,
    ) -> Self {
        SimObserver {
            agents: Some(agents),
            ..SimObserver::new(world, cluster)
        }
    }

    /// Who holds the IP of Egress `name`, in node order.
    fn egress_holders(&self, name: &str) -> Vec<String> {
        if let Some(agents) = self.agents {
            let kept: Vec<String> = agents
                .holders_of(self.cluster, name)
                .into_iter()
                .map(str::to_string)
                .collect();
            // The kept conclusions are the ones a sync of every agent from
            // scratch reaches; debug builds (the test suite) check it.
            debug_assert_eq!(kept, holders::egress_holders(self.cluster, name));
            return kept;
        }
        self.egress_holders
            .get_or_init(|| holders::all_egress_holders(self.cluster))
            .get(name)
            .cloned()
            .unwrap_or_default()
    }

    /// `device`'s IP stack; an error naming the device, or saying what it
    /// `lacks` without one.
    fn stack(&self, device: &str, lacks: &str) -> Result<&'a crate::sim::stack::IpStack, String> {
        let id = self
            .world
            .device_id(device)
            .ok_or_else(|| format!("no device {device}"))?;
        self.world
            .device(id)
            .stack()
            .ok_or_else(|| format!("{device} {lacks}"))
    }

    fn last_attempt(&self, probe: &str) -> Option<&'a Attempt> {
        self.world.probe(probe).and_then(|p| p.last_finished())
    }
}

impl Observe for SimObserver<'_> {
    fn name(&self) -> &str {
        "the simulator"
    }

    fn is_node(&self, name: &str) -> bool {
        self.cluster.node_id(name).is_some()
    }

    fn egress(&self, name: &str) -> Option<EgressSeen> {
        let e = self.cluster.egress.egresses.get(name)?;
        Some(EgressSeen {
            held: HeldIp {
                ip: e.ip,
                holders: self.egress_holders(name),
            },
            status_ip: e.status.egress_ip,
            node: EgressNode::Status(e.status.egress_node.clone()),
        })
    }

    fn service_external_ip(&self, key: &str) -> Option<HeldIp> {
        let s = self.cluster.services.get(key)?;
        Some(HeldIp {
            ip: s.lb_ip,
            holders: holders::external_ip_owners(self.cluster, key),
        })
    }

    fn iface_mac(&self, device: &str, iface: &str) -> Result<MacAddr, String> {
        let id = self
            .world
            .device_id(device)
            .ok_or_else(|| format!("no device `{device}`"))?;
        let s = self
            .world
            .device(id)
            .stack()
            .ok_or_else(|| format!("{device} has no interfaces"))?;
        s.ifaces()
            .iter()
            .find(|i| i.name() == iface)
            .map(|i| i.mac())
            .ok_or_else(|| format!("{device} has no interface {iface}"))
    }

    fn arp_entry(&self, device: &str, ip: Ipv4Addr) -> Result<Option<ArpSeen>, String> {
        let stack = self.stack(device, "has no ARP cache")?;
        Ok(stack.arp().lookup(self.world.now(), ip).map(|r| ArpSeen {
            mac: r.mac,
            state: Seen::Is(r.state.name().to_string()),
        }))
    }

    fn route_next_hops(&self, device: &str, to: ipnet::Ipv4Net) -> Result<Vec<Ipv4Addr>, String> {
        let stack = self.stack(device, "does not route (no IP stack)")?;
        Ok(stack.routes().next_hops_of(to))
    }

    fn mac_entry(&self, switch: &str, vlan: u16, mac: MacAddr) -> Result<Option<String>, String> {
        let id = self
            .world
            .device_id(switch)
            .ok_or_else(|| format!("no device {switch}"))?;
        // Entries older than the aging time count as absent (as the table's
        // rows leave them out).
        Ok(match self.world.device(id) {
            DeviceRt::Switch(s) => s
                .macs()
                .lookup(self.world.now(), vlan, mac)
                .map(|port| s.ports()[port as usize].name().to_string()),
            DeviceRt::Host(_) => None,
        })
    }

    fn probe(&self, name: &str) -> Option<ProbeSeen<'_>> {
        self.world.probe(name).map(|p| ProbeSeen {
            attempts: p.attempts(),
            timeout: p.spec().timeout,
        })
    }

    fn seen_source(&self, probe: &str) -> Option<Ipv4Addr> {
        self.last_attempt(probe).and_then(|a| a.seen_src)
    }

    fn request_vlans(&self, probe: &str) -> Vec<u16> {
        self.last_attempt(probe)
            .map(|a| a.request_vlans())
            .unwrap_or_default()
    }

    fn failure_reason(&self, probe: &str) -> Seen<Option<String>> {
        Seen::Is(match self.last_attempt(probe).map(|a| &a.verdict) {
            Some(Verdict::Fail { reason }) => Some(reason.clone()),
            _ => None,
        })
    }

    fn balanced_by(&self, probe: &str) -> Seen<Vec<String>> {
        // The proxy writes "<name>: Service ..." into the path.
        Seen::Is(
            self.last_attempt(probe)
                .map(|a| {
                    a.path
                        .iter()
                        .filter(|hop| !hop.reply && hop.text.contains(": Service "))
                        .map(|hop| {
                            format!(
                                "{} on {}",
                                hop.text.split(": Service ").next().unwrap_or(""),
                                hop.device
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
        )
    }

    fn reply_path(&self, probe: &str) -> Seen<Vec<String>> {
        Seen::Is(
            self.last_attempt(probe)
                .map(|a| {
                    a.path
                        .iter()
                        .filter(|h| h.reply)
                        .map(|h| h.device.clone())
                        .collect()
                })
                .unwrap_or_default(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::run::Runner;
    use crate::time::{SimDuration, SimTime};

    const VM2: &str = "k8s-node-vm-2-cl-02";
    const EGRESS_IP: &str = "172.18.181.40";

    /// The blog's Egress failover (scenarios/egress-vlan-failover.yaml),
    /// played to `secs`.
    fn failover_at(secs: u64) -> Runner {
        let mut read = |name: &str| -> Result<(String, String), String> {
            let body = match name {
                "../topologies/blog-lab.yaml" => {
                    include_str!("../../../../topologies/blog-lab.yaml")
                }
                "manifests/blog-antrea-config.yaml" => {
                    include_str!("../../../../scenarios/manifests/blog-antrea-config.yaml")
                }
                "manifests/egress-ubuntu-pod.yaml" => {
                    include_str!("../../../../scenarios/manifests/egress-ubuntu-pod.yaml")
                }
                "manifests/unselected-pod.yaml" => {
                    include_str!("../../../../scenarios/manifests/unselected-pod.yaml")
                }
                "manifests/blog-egress-vlan-pool.yaml" => {
                    include_str!("../../../../scenarios/manifests/blog-egress-vlan-pool.yaml")
                }
                "manifests/blog-egress-vlan.yaml" => {
                    include_str!("../../../../scenarios/manifests/blog-egress-vlan.yaml")
                }
                other => return Err(format!("no file {other}")),
            };
            Ok((name.into(), body.to_string()))
        };
        let text = include_str!("../../../../scenarios/egress-vlan-failover.yaml");
        let scn = crate::scenario::load("egress-vlan-failover.yaml", text, &mut read)
            .expect("the shipped scenario loads");
        let mut r = Runner::start(scn, 1, false).expect("starts");
        r.stream_log(Box::new(crate::sim::log::Discard));
        r.advance_to(SimTime::ZERO + SimDuration::from_secs(secs))
            .expect("runs");
        r
    }

    #[test]
    fn the_simulator_answers_from_its_world_and_cluster() {
        let r = failover_at(6);
        let o = r.outcome();
        let obs = SimObserver::new(&o.world, &o.cluster);
        let ip: Ipv4Addr = EGRESS_IP.parse().unwrap();
        let e = obs.egress("egress-vlan").expect("the Egress exists");
        assert_eq!(e.held.ip, Some(ip));
        assert_eq!(e.held.holders, vec![VM2]);
        assert_eq!(e.node, EgressNode::Status(Some(VM2.into())));
        assert_eq!(e.status_ip, Some(ip));
        assert!(obs.egress("nope").is_none());
        assert!(obs.is_node(VM2) && !obs.is_node("core-sw"));
        let vm2_mac = obs.iface_mac(VM2, "eth0").expect("vm-2 has eth0");
        let arp = obs.arp_entry("core-sw", ip).expect("core-sw has a cache");
        assert_eq!(arp.map(|a| a.mac), Some(Some(vm2_mac)));
        assert_eq!(
            obs.mac_entry("vmbr0", 181, vm2_mac),
            Ok(Some("node-vm-2".to_string()))
        );
        assert_eq!(obs.mac_entry("vmbr0", 4000, vm2_mac), Ok(None));
        let p = obs.probe("ping-ext").expect("started at 3s");
        assert!(p.attempts.len() > 10);
        assert_eq!(p.timeout, o.world.probe("ping-ext").unwrap().spec().timeout);
        assert_eq!(obs.seen_source("ping-ext"), Some(ip));
        assert!(obs.request_vlans("ping-ext").contains(&181));
        assert_eq!(obs.failure_reason("ping-ext"), Seen::Is(None));
        assert_eq!(obs.balanced_by("ping-ext"), Seen::Is(Vec::new()));
        assert!(obs.probe("nope").is_none());
        // What is not there.
        assert_eq!(obs.arp_entry("nope", ip), Err("no device nope".into()));
        assert_eq!(
            obs.arp_entry("vmbr0", ip),
            Err("vmbr0 has no ARP cache".into())
        );
        assert_eq!(
            obs.iface_mac("vmbr0", "eth0"),
            Err("vmbr0 has no interfaces".into())
        );
        assert_eq!(
            obs.iface_mac(VM2, "eth7"),
            Err(format!("{VM2} has no interface eth7"))
        );
        assert_eq!(
            obs.mac_entry("nope", 181, vm2_mac),
            Err("no device nope".into())
        );
    }

    /// Right after the holder loses power: no node holds the IP, the
    /// status still names the dead node, the ping fails.
    #[test]
    fn after_the_power_cut_the_status_is_stale_and_the_ping_fails() {
        let r = failover_at(11);
        let o = r.outcome();
        let obs = SimObserver::new(&o.world, &o.cluster);
        let e = obs.egress("egress-vlan").expect("the Egress exists");
        assert!(e.held.holders.is_empty());
        assert_eq!(e.node, EgressNode::Status(Some(VM2.into())));
        let Seen::Is(Some(reason)) = obs.failure_reason("ping-ext") else {
            panic!("the last ping failed");
        };
        let last = o.world.probe("ping-ext").unwrap().last_finished().unwrap();
        assert_eq!(last.verdict, Verdict::Fail { reason });
        // The read-only MAC lookup agrees with the switch's table rows.
        let vm2_mac = obs.iface_mac(VM2, "eth0").unwrap();
        let seen = obs.mac_entry("vmbr0", 181, vm2_mac).unwrap();
        let now = o.world.now();
        let world = r.finish().world;
        let id = world.device_id("vmbr0").unwrap();
        let rows = world.mac_rows(id, now).unwrap();
        let in_rows = rows
            .iter()
            .find(|(row, _)| row.vlan == 181 && row.mac == vm2_mac)
            .map(|(_, port)| port.clone());
        assert_eq!(seen, in_rows);
    }
}
