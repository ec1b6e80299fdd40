//! BGP speakers in the world (issue 17): a router's, from the topology's
//! `bgp:` on a switch, and each node's, as the control plane configures it
//! from the node's effective BGPPolicy ([`World::configure_bgp`]).
//!
//! A speaker ([`crate::bgp::speaker::Speaker`]) is sans-I/O; this room
//! carries its packets (sent through the device's IP stack, routed and
//! resolved like any other; TCP segments for its ports come back from the
//! stack as [`Note::App`](crate::sim::stack::Note::App)), schedules its
//! wakes as events of the device's life and of this speaker (a restarted
//! speaker ignores its predecessor's), installs a router's forwarding
//! changes as routes of origin `bgp` in its routing table, and logs.
//!
//! A speaker dies with its device's power; a router's starts again when
//! the router is powered on, a node's when the control plane configures it
//! again.

use std::net::Ipv4Addr;

use super::{Event, World};
use crate::bgp::rib::FibChange;
use crate::bgp::speaker::{Output, PeerView, Speaker, Wake};
use crate::engine::bgp_policy::{SpeakerChange, SpeakerConfig, reconcile};
use crate::model::bgp::{BfdSpec, BgpRouterSpec};
use crate::model::{DeviceId, DeviceKind, Topology};
use crate::sched::Scheduler;
use crate::sim::devices::DeviceRt;
use crate::sim::routing::{Nexthop, Route};
use crate::sim::trace::LogKind;
use crate::wire::Ipv4Pkt;

/// The `proto bgp` metric FRR's zebra installs eBGP routes with (its
/// administrative distance 20, as `ip route` shows it).
pub const BGP_ROUTE_METRIC: u32 = 20;

/// A running speaker and which one it is (wakes carry the instance).
pub(super) struct SpeakerRt {
    instance: u32,
    speaker: Speaker,
}

/// The world's speakers by device, and the routers' configurations.
#[derive(Default)]
pub(super) struct Speakers {
    running: std::collections::BTreeMap<DeviceId, SpeakerRt>,
    routers: std::collections::BTreeMap<DeviceId, BgpRouterSpec>,
    next_instance: u32,
    /// Routers whose BFD interval is scheduled.
    bfd_ticking: std::collections::BTreeSet<DeviceId>,
    /// BFD sessions of routers' BGP neighbours: (router, neighbour) →
    /// (missed intervals, up).
    bfd: std::collections::BTreeMap<(DeviceId, Ipv4Addr), (u8, bool)>,
}

impl World {
    /// Remembers the routers of `topology` and starts their speakers.
    pub(super) fn start_bgp_routers(&mut self, topology: &Topology) {
        for (i, d) in topology.devices.iter().enumerate() {
            if let DeviceKind::Switch(s) = &d.kind
                && let Some(spec) = &s.bgp
            {
                let id = DeviceId(i as u32);
                self.bgp.routers.insert(id, spec.clone());
                self.start_router(id);
            }
        }
    }

    fn start_router(&mut self, id: DeviceId) {
        let Some(spec) = self.bgp.routers.get(&id).cloned() else {
            return;
        };
        let local = self.router_address(id, &spec);
        let seed = self.speaker_seed(id);
        let speaker = Speaker::router(local, &spec, seed, self.now);
        self.run_speaker(id, speaker, |s, now| s.start(now));
        self.start_bgp_bfd(id);
    }

    /// A router's BFD towards its BGP neighbours
    /// ([`BgpRouterSpec::bfd_with`] the switch's BFD setting).
    fn bgp_bfd_spec(&self, id: DeviceId) -> Option<BfdSpec> {
        let switch_bfd = matches!(self.device(id), DeviceRt::Switch(s) if s.bfd);
        self.bgp.routers.get(&id)?.bfd_with(switch_bfd)
    }

    /// Schedules a router's BFD intervals, once.
    pub(super) fn start_bgp_bfd(&mut self, id: DeviceId) {
        if let Some(b) = self.bgp_bfd_spec(id)
            && self.bgp.bfd_ticking.insert(id)
        {
            self.queue
                .push(self.now + b.interval, Event::BgpBfd { device: id });
        }
    }

    /// One BFD interval of a router: each neighbour with a BGP peering is
    /// heard (see [`World::bfd_hears`]) or misses; a session that was up
    /// and misses `multiplier` intervals goes down and takes its BGP
    /// session with it. Modelled without packets, as the static routes'
    /// BFD is.
    pub(super) fn bgp_bfd_tick(&mut self, id: DeviceId) {
        let Some(b) = self.bgp_bfd_spec(id) else {
            self.bgp.bfd_ticking.remove(&id);
            return;
        };
        self.queue
            .push(self.now + b.interval, Event::BgpBfd { device: id });
        if !self.device(id).powered() {
            return;
        }
        let mut neighbours: Vec<Ipv4Addr> = self
            .bgp_peers(id)
            .unwrap_or_default()
            .iter()
            .map(|p| p.addr)
            .collect();
        neighbours.sort_unstable();
        neighbours.dedup();
        self.bgp
            .bfd
            .retain(|(r, a), _| *r != id || neighbours.contains(a));
        let name = self.shared_name_of(id);
        for addr in neighbours {
            let heard = self.bfd_hears(addr);
            // A BGP neighbour's session starts down (FRR acts only on Up
            // to Down); a static next hop's starts up.
            let entry = self.bgp.bfd.entry((id, addr)).or_insert((0, false));
            let (was_up, up) = super::bfd::bfd_interval(entry, heard, b.multiplier);
            if up && !was_up {
                self.record(LogKind::Bgp, &name, format!("BFD session with {addr} up"));
            } else if was_up && !up {
                self.record(
                    LogKind::Bgp,
                    &name,
                    format!(
                        "BFD session with {addr} down: {} intervals of {} missed",
                        b.multiplier, b.interval
                    ),
                );
                self.with_speaker(id, |s, now| s.bfd_down(now, addr));
            }
        }
    }

    /// The address a router's neighbours peer with, among its SVIs'.
    fn router_address(&self, id: DeviceId, spec: &BgpRouterSpec) -> Ipv4Addr {
        let ifaces = self.device(id).stack().map_or(&[][..], |st| &st.ifaces[..]);
        spec.peering_address(ifaces.iter().flat_map(|f| f.addrs.iter()))
    }

    /// A new speaker's seed: the run's, the device and the instance.
    fn speaker_seed(&self, id: DeviceId) -> u64 {
        let name = format!("bgp/{}/{}", self.device(id).name(), self.bgp.next_instance);
        crate::rng::stream_seed(self.seed, &name)
    }

    /// Installs `speaker` on `id` and lets `first` run it.
    fn run_speaker(
        &mut self,
        id: DeviceId,
        speaker: Speaker,
        first: impl FnOnce(&mut Speaker, crate::time::SimTime) -> Output,
    ) {
        let instance = self.bgp.next_instance;
        self.bgp.next_instance += 1;
        self.bgp.running.insert(id, SpeakerRt { instance, speaker });
        self.with_speaker(id, first);
    }

    /// Calls into `id`'s speaker, then carries out its output.
    fn with_speaker(
        &mut self,
        id: DeviceId,
        call: impl FnOnce(&mut Speaker, crate::time::SimTime) -> Output,
    ) {
        let now = self.now;
        let Some(rt) = self.bgp.running.get_mut(&id) else {
            return;
        };
        let out = call(&mut rt.speaker, now);
        let instance = rt.instance;
        let ports = rt.speaker.ports();
        if let Some(stack) = self.devices[id.0 as usize].stack_mut() {
            stack.set_app_ports(ports);
        }
        self.carry_out(id, instance, out);
    }

    fn carry_out(&mut self, id: DeviceId, instance: u32, out: Output) {
        let epoch = self.epochs[id.0 as usize];
        for (at, wake) in out.wakes {
            self.queue.push(
                at,
                Event::Bgp {
                    device: id,
                    epoch,
                    instance,
                    wake,
                },
            );
        }
        let name = self.shared_name_of(id);
        for line in out.log {
            self.record(LogKind::Bgp, &name, line);
        }
        for change in out.fib {
            self.install_bgp_route(id, &change);
        }
        let packets: Vec<Ipv4Pkt> = out
            .packets
            .iter()
            .filter_map(|p| Ipv4Pkt::parse(p).ok())
            .collect();
        self.send_untraced(id, packets);
    }

    /// A router's forwarding change as a route of origin `bgp`.
    fn install_bgp_route(&mut self, id: DeviceId, change: &FibChange) {
        let name = self.shared_name_of(id);
        let Some(stack) = self.devices[id.0 as usize].stack_mut() else {
            return;
        };
        stack
            .routes
            .retain_origin("bgp", |r| r.dst != change.prefix);
        let nexthops: Vec<Nexthop> = change
            .next_hops
            .iter()
            .filter_map(|nh| {
                let dev = stack
                    .ifaces
                    .iter()
                    .position(|f| f.addrs.iter().any(|a| a.contains(nh)))?;
                Some(Nexthop {
                    via: Some(*nh),
                    dev,
                    weight: 1,
                })
            })
            .collect();
        let text = if nexthops.is_empty() {
            format!("BGP route {} removed", change.prefix)
        } else {
            let route = Route {
                dst: change.prefix,
                nexthops,
                metric: BGP_ROUTE_METRIC,
                table: crate::model::TABLE_MAIN,
                origin: "bgp",
            };
            let text = format!(
                "BGP route {}",
                super::dataplane::describe_route(&route, &stack.ifaces)
            );
            stack.routes.add_route(route);
            text
        };
        self.record(LogKind::Route, &name, text);
    }

    /// A speaker's wake, if it is for the speaker running now.
    pub(super) fn bgp_wake(&mut self, id: DeviceId, epoch: u32, instance: u32, wake: Wake) {
        if self.epochs[id.0 as usize] != epoch
            || self
                .bgp
                .running
                .get(&id)
                .is_none_or(|rt| rt.instance != instance)
        {
            return;
        }
        self.with_speaker(id, |s, now| s.wake(now, wake));
    }

    /// A TCP segment the stack of `id` handed to its speaker.
    pub(super) fn bgp_receive(&mut self, id: DeviceId, pkt: &Ipv4Pkt) {
        let bytes = pkt.to_bytes();
        self.with_speaker(id, |s, now| s.deliver(now, bytes));
    }

    /// Brings node `node`'s speaker to `config` (`None`: no speaker), as
    /// the agent's BGP controller does: a change of ASN, router ID, port or
    /// confederation restarts it, peers and routes change in place. A node
    /// that is off runs nothing.
    pub fn configure_bgp(&mut self, node: DeviceId, config: Option<&SpeakerConfig>) {
        let config = config.filter(|_| self.device(node).powered());
        let old = self
            .bgp
            .running
            .get(&node)
            .and_then(|rt| rt.speaker.config())
            .cloned();
        let steps = reconcile(old.as_ref(), config);
        let name = self.shared_name_of(node);
        for step in steps {
            match (&step, config) {
                (SpeakerChange::Stop, _) => {
                    self.with_speaker(node, |s, now| s.stop(now));
                    self.bgp.running.remove(&node);
                    if let Some(stack) = self.devices[node.0 as usize].stack_mut() {
                        stack.set_app_ports(Vec::new());
                    }
                    self.record(LogKind::Bgp, &name, "BGP speaker stopped");
                }
                (SpeakerChange::Start, Some(c)) => {
                    let Some(local) = self.host_ip(node) else {
                        continue;
                    };
                    self.record(
                        LogKind::Bgp,
                        &name,
                        format!(
                            "BGP speaker started: AS {}, router ID {}, policy {}",
                            c.local_asn, c.router_id, c.policy
                        ),
                    );
                    let seed = self.speaker_seed(node);
                    // Its peers and routes come with the steps that follow.
                    let empty = SpeakerConfig {
                        peers: Vec::new(),
                        routes: Vec::new(),
                        ..c.clone()
                    };
                    let speaker = Speaker::node(local, &empty, seed, self.now);
                    self.run_speaker(node, speaker, |s, now| s.start(now));
                }
                (_, Some(c)) => self.with_speaker(node, |s, now| s.change(now, &step, c)),
                (_, None) => {}
            }
        }
    }

    /// Forgets `id`'s speaker (its device lost power: no NOTIFICATION, no
    /// FIN; its peers find out by their hold timers or BFD).
    pub(super) fn bgp_power_off(&mut self, id: DeviceId) {
        self.bgp.running.remove(&id);
        if let Some(stack) = self.devices[id.0 as usize].stack_mut() {
            stack.set_app_ports(Vec::new());
            stack.routes.remove_origin("bgp");
        }
    }

    /// A router's speaker starts again with its power.
    pub(super) fn bgp_power_on(&mut self, id: DeviceId) {
        if self.bgp.routers.contains_key(&id) {
            self.start_router(id);
        }
    }

    /// The peerings of `id`'s speaker (none if it runs none).
    pub fn bgp_peers(&self, id: DeviceId) -> Option<Vec<PeerView>> {
        self.bgp.running.get(&id).map(|rt| rt.speaker.peers())
    }

    /// `id`'s speaker, if it runs one.
    pub fn bgp_speaker(&self, id: DeviceId) -> Option<&Speaker> {
        self.bgp.running.get(&id).map(|rt| &rt.speaker)
    }

    /// How many speakers run on devices that are no router of the
    /// topology (the nodes').
    pub fn node_speakers(&self) -> usize {
        self.bgp
            .running
            .keys()
            .filter(|id| !self.bgp.routers.contains_key(id))
            .count()
    }

    /// `id`'s BGP router configuration, if the topology gives it one.
    pub fn bgp_router(&self, id: DeviceId) -> Option<&BgpRouterSpec> {
        self.bgp.routers.get(&id)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testlab::{entries, id, ip, messages, ms, world};
    use crate::engine::bgp_policy::{AdvertisedRoute, RouteType, SpeakerConfig};
    use crate::k8s::BgpPeer;
    use crate::sim::trace::LogKind;
    use crate::time::SimTime;

    /// Two nodes peering with an L3 switch's speaker (dynamic neighbours,
    /// timers 1 s / 3 s, two paths), and a host behind the switch.
    const BGP_LAB: &str = "\
name: bgp-lab
hosts:
  - name: n1
    interfaces: [{name: eth0, addresses: [10.0.0.11/24]}]
    routes: [{to: default, via: 10.0.0.1}]
  - name: n2
    interfaces: [{name: eth0, addresses: [10.0.0.12/24]}]
    routes: [{to: default, via: 10.0.0.1}]
switches:
  - name: r
    svis:
      - {vlan: 10, address: 10.0.0.1/24}
    bgp:
      asn: 65000
      listenRange: 10.0.0.0/24
      maximumPaths: 2
      timers: {keepalive: 1s, hold: 3s}
    ports:
      - {name: p1, connect: n1/eth0, access: 10}
      - {name: p2, connect: n2/eth0, access: 10}
";

    fn config(router_id: &str, prefixes: &[&str]) -> SpeakerConfig {
        SpeakerConfig {
            policy: "p".into(),
            local_asn: 64512,
            router_id: ip(router_id),
            listen_port: 179,
            confederation: None,
            peers: vec![BgpPeer {
                address: "10.0.0.1".parse().unwrap(),
                port: 179,
                asn: 65000,
                multihop_ttl: 1,
                graceful_restart_secs: 120,
            }],
            routes: prefixes
                .iter()
                .map(|p| AdvertisedRoute {
                    prefix: p.parse().unwrap(),
                    kind: RouteType::ServiceLoadBalancerIP,
                    object: "default/svc".into(),
                })
                .collect(),
        }
    }

    /// The router's next hops for `dst`.
    fn via(w: &super::World, dst: &str) -> Vec<String> {
        let r = w.device(id(w, "r")).stack().unwrap();
        r.routes()
            .routes()
            .into_iter()
            .filter(|x| x.dst == dst.parse().unwrap() && x.origin == "bgp")
            .flat_map(|x| x.nexthops.into_iter().map(|n| n.via.unwrap().to_string()))
            .collect()
    }

    /// By then every session is up: gobgp first connects 5 to 9 s after
    /// its start.
    const UP: u64 = 10_000;

    fn millis(t: SimTime) -> u64 {
        t.as_nanos() / 1_000_000
    }

    #[test]
    fn two_nodes_advertise_and_a_dead_one_is_withdrawn_when_the_hold_timer_expires() {
        let mut w = world(BGP_LAB);
        let (n1, n2) = (id(&w, "n1"), id(&w, "n2"));
        w.configure_bgp(n1, Some(&config("10.0.0.11", &["10.96.0.10/32"])));
        w.configure_bgp(
            n2,
            Some(&config("10.0.0.12", &["10.96.0.10/32", "10.96.0.20/32"])),
        );
        // gobgp's first connect comes 5 to 9 s after the start.
        w.run_until(ms(4_900));
        assert!(via(&w, "10.96.0.10/32").is_empty());
        assert_eq!(w.bgp_peers(n1).unwrap()[0].state.name(), "Active");
        w.run_until(ms(UP));
        let bgp = messages(&w, LogKind::Bgp);
        assert!(
            bgp.iter().any(|m| m.starts_with(
                "BGP session with 10.0.0.11 (AS 64512, router ID 10.0.0.11) Established, hold time 3s"
            )),
            "{bgp:#?}"
        );
        assert_eq!(via(&w, "10.96.0.10/32"), ["10.0.0.11", "10.0.0.12"]);
        assert_eq!(via(&w, "10.96.0.20/32"), ["10.0.0.12"]);
        let peers = w.bgp_peers(n1).unwrap();
        assert_eq!(peers.len(), 1);
        assert_eq!(peers[0].state.name(), "Established");
        assert_eq!(peers[0].prefixes_sent, 1);
        let router = w.bgp_peers(id(&w, "r")).unwrap();
        assert_eq!(router.len(), 2, "{router:?}");
        // Keepalives keep the sessions up well past the hold time.
        w.run_until(ms(UP + 10_000));
        assert_eq!(via(&w, "10.96.0.10/32"), ["10.0.0.11", "10.0.0.12"]);
        // n2 loses power: no NOTIFICATION; the router's hold timer (3 s,
        // less the time since n2's last keepalive) removes its paths.
        w.set_power(n2, false);
        w.run_until(ms(UP + 11_900));
        assert_eq!(via(&w, "10.96.0.10/32"), ["10.0.0.11", "10.0.0.12"]);
        w.run_until(ms(UP + 13_100));
        assert_eq!(via(&w, "10.96.0.10/32"), ["10.0.0.11"]);
        assert!(via(&w, "10.96.0.20/32").is_empty());
        let down: Vec<u64> = entries(&w, LogKind::Bgp)
            .iter()
            .filter(|e| e.message == "BGP session with 10.0.0.12 down: Hold Timer Expired sent")
            .map(|e| millis(e.time))
            .collect();
        assert_eq!(down.len(), 1, "{:#?}", messages(&w, LogKind::Bgp));
        assert!((UP + 12_000..=UP + 13_000).contains(&down[0]), "{down:?}");
    }

    #[test]
    fn a_withdrawn_route_leaves_the_router_and_the_same_seed_gives_the_same_log() {
        let run = || {
            let mut w = world(BGP_LAB);
            let n1 = id(&w, "n1");
            w.configure_bgp(
                n1,
                Some(&config("10.0.0.11", &["10.96.0.10/32", "10.96.0.20/32"])),
            );
            w.run_until(ms(UP));
            assert_eq!(via(&w, "10.96.0.20/32"), ["10.0.0.11"]);
            w.configure_bgp(n1, Some(&config("10.0.0.11", &["10.96.0.10/32"])));
            w.run_until(ms(UP + 100));
            assert!(via(&w, "10.96.0.20/32").is_empty());
            assert_eq!(via(&w, "10.96.0.10/32"), ["10.0.0.11"]);
            // No policy any more: the speaker stops with a Cease and the
            // router withdraws at once.
            w.configure_bgp(n1, None);
            w.run_until(ms(UP + 200));
            assert!(via(&w, "10.96.0.10/32").is_empty());
            assert!(w.bgp_peers(n1).is_none());
            w.log()
                .iter()
                .map(|e| format!("{} {} {}", e.time.as_nanos(), e.device, e.message))
                .collect::<Vec<_>>()
        };
        let a = run();
        assert!(
            a.iter().any(|l| l.ends_with(
                "BGP session with 10.0.0.11 down: NOTIFICATION received: Cease/Administrative Shutdown"
            )),
            "{a:#?}"
        );
        assert_eq!(a, run());
    }

    #[test]
    fn bfd_takes_a_dead_neighbours_session_and_routes_down_within_its_detection_time() {
        let lab = BGP_LAB.replace(
            "      maximumPaths: 2\n",
            "      maximumPaths: 2\n      bfd: {interval: 100ms}\n",
        );
        let mut w = world(&lab);
        let (n1, n2) = (id(&w, "n1"), id(&w, "n2"));
        w.configure_bgp(n1, Some(&config("10.0.0.11", &["10.96.0.10/32"])));
        w.configure_bgp(n2, Some(&config("10.0.0.12", &["10.96.0.10/32"])));
        w.run_until(ms(UP));
        assert_eq!(via(&w, "10.96.0.10/32"), ["10.0.0.11", "10.0.0.12"]);
        assert!(messages(&w, LogKind::Bgp).contains(&"BFD session with 10.0.0.12 up".to_string()));
        w.set_power(n2, false);
        w.run_until(ms(UP + 350));
        assert_eq!(
            via(&w, "10.96.0.10/32"),
            ["10.0.0.11"],
            "3 x 100 ms, not the 3 s hold time"
        );
        let lines: Vec<(u64, String)> = entries(&w, LogKind::Bgp)
            .iter()
            .filter(|e| e.message.contains("10.0.0.12 down"))
            .map(|e| (millis(e.time), e.message.clone()))
            .collect();
        assert_eq!(
            lines,
            [
                (
                    UP + 300,
                    "BFD session with 10.0.0.12 down: 3 intervals of 100ms missed".to_string()
                ),
                (
                    UP + 300,
                    "BGP session with 10.0.0.12 down: NOTIFICATION sent: Cease/BFD Down"
                        .to_string()
                ),
            ]
        );
    }

    #[test]
    fn a_node_back_before_the_hold_timer_restarts_gracefully() {
        // A hold time that outlasts the reboot and gobgp's connect delay.
        let mut w =
            world(&BGP_LAB.replace("{keepalive: 1s, hold: 3s}", "{keepalive: 10s, hold: 30s}"));
        let n1 = id(&w, "n1");
        w.configure_bgp(
            n1,
            Some(&config("10.0.0.11", &["10.96.0.10/32", "10.96.0.20/32"])),
        );
        w.run_until(ms(UP));
        assert_eq!(via(&w, "10.96.0.20/32"), ["10.0.0.11"]);
        // A quick power cycle: the router's session is still up when n1's
        // new speaker connects; the old one ends as a TCP failure, and as
        // n1 advertised Graceful Restart its paths stay, stale.
        w.set_power(n1, false);
        w.run_until(ms(UP + 500));
        w.set_power(n1, true);
        w.configure_bgp(n1, Some(&config("10.0.0.11", &["10.96.0.10/32"])));
        w.run_until(ms(2 * UP + 600));
        let bgp = messages(&w, LogKind::Bgp);
        assert!(
            bgp.contains(
                &"BGP 10.0.0.11: Graceful Restart, its routes kept stale for 120s".to_string()
            ),
            "{bgp:#?}"
        );
        // The new session's End-of-RIB ends the restart: 10.96.0.10 was
        // announced again, 10.96.0.20 was not and goes.
        assert_eq!(via(&w, "10.96.0.10/32"), ["10.0.0.11"]);
        assert!(via(&w, "10.96.0.20/32").is_empty());
        let routes = messages(&w, LogKind::Route);
        assert!(
            !routes
                .iter()
                .any(|m| m == "BGP route 10.96.0.10/32 removed"),
            "the re-announced prefix never left the table: {routes:#?}"
        );
        let rib = w.bgp_speaker(id(&w, "r")).unwrap().rib().unwrap();
        assert!(
            rib.paths("10.96.0.10/32".parse().unwrap())
                .iter()
                .all(|p| !p.stale)
        );
    }
}
