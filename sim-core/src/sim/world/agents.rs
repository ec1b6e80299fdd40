//! The antrea-agent memberlist instances the nodes run: starting,
//! stopping, rejoining, their messages carried between the nodes' stacks
//! (UDP datagrams from port 10351 to port 10351; a TCP exchange as one
//! segment each way, the request carried by the SYN from a local port and
//! the answer by the SYN-ACK, so conntrack and a node's firewall see a new
//! connection to 10351 and then its reply), their timers, and member events
//! handed to the control plane.

use std::net::Ipv4Addr;
use std::sync::Arc;

use super::{ControlEvent, Event, World};
use crate::engine::memberlist::{
    self, Action as AgentAction, Agent, AgentTimer, MemberConfig, MemberEvent, Msg, Roster,
    Transport,
};
use crate::model::DeviceId;
use crate::sched::Scheduler;
use crate::sim::devices::DeviceRt;
use crate::sim::trace::LogKind;
use crate::wire::{Ipv4Pkt, L4, TcpFlags};

pub use crate::engine::memberlist::MEMBERLIST_PORT;

/// Linux's default `net.ipv4.ip_local_port_range` (32768-60999), where a
/// memberlist TCP exchange takes its local port.
pub(super) const FIRST_EPHEMERAL_PORT: u16 = 32768;
const LAST_EPHEMERAL_PORT: u16 = 60999;

impl World {
    /// An agent's timer fires, unless it was set before the node's last
    /// power cycle or the agent is gone.
    pub(super) fn agent_timer(&mut self, device: DeviceId, epoch: u32, timer: AgentTimer) {
        if self.epochs[device.0 as usize] != epoch {
            return;
        }
        let now = self.now;
        let actions = match self.agents.get_mut(device) {
            Some(a) => a.on_timer(now, timer),
            None => return,
        };
        self.run_agent_actions(device, actions);
    }

    /// Starts (or restarts) the antrea-agent's memberlist on `node`, joining
    /// `peers` (Antrea joins every Node it learns about).
    pub fn start_agent(&mut self, node: DeviceId, peers: &[(std::sync::Arc<str>, Ipv4Addr)]) {
        let name = self.device(node).name().to_string();
        let Some(ip) = self.host_ip(node) else { return };
        let boot = self.agent_boots.entry(node).or_insert(0);
        *boot += 1;
        let rng = memberlist::agent_rng(self.seed, &name, *boot);
        let mut agent = Agent::new(&name, ip, MemberConfig::default(), rng);
        let actions = agent.join(self.now, peers);
        self.agents.insert(node, agent);
        self.memberlist_listen(node, true);
        self.record(
            LogKind::Engine,
            &name,
            "antrea-agent started, memberlist joining",
        );
        self.run_agent_actions(node, actions);
    }

    /// [`World::start_agent`] for a warm start: the agent's member list is
    /// already converged on `roster` (shared by every agent started from
    /// it) and it sends nothing to join.
    pub fn start_agent_converged(&mut self, node: DeviceId, roster: &Arc<Roster>) {
        let name = self.device(node).name().to_string();
        let Some(ip) = self.host_ip(node) else { return };
        let boot = self.agent_boots.entry(node).or_insert(0);
        *boot += 1;
        let rng = memberlist::agent_rng(self.seed, &name, *boot);
        let cfg = MemberConfig::default();
        let (agent, actions) = Agent::converged(&name, ip, cfg, rng, self.now, roster);
        self.agents.insert(node, agent);
        self.memberlist_listen(node, true);
        self.run_agent_actions(node, actions);
    }

    /// Stops an agent. `graceful`: it leaves the memberlist cluster first
    /// (peers see it go at once), as on `kubectl delete pod`.
    pub fn stop_agent(&mut self, node: DeviceId, graceful: bool) {
        let now = self.now;
        if graceful && let Some(a) = self.agents.get_mut(node) {
            let actions = a.leave(now);
            self.run_agent_actions(node, actions);
        }
        self.agents.remove(node);
        self.memberlist_listen(node, false);
        let name = self.device(node).name().to_string();
        self.record(LogKind::Engine, &name, "antrea-agent stopped");
    }

    /// Whether TCP port 10351 listens on `node` (while its agent runs), so
    /// that a plain connection to it succeeds as it does to the agent.
    fn memberlist_listen(&mut self, node: DeviceId, open: bool) {
        let DeviceRt::Host(h) = &mut self.devices[node.0 as usize] else {
            return;
        };
        let ports = &mut h.stack.tcp_listen;
        if open && !ports.contains(&MEMBERLIST_PORT) {
            ports.push(MEMBERLIST_PORT);
        } else if !open {
            ports.retain(|p| *p != MEMBERLIST_PORT);
        }
    }

    /// Antrea's `RejoinNodes` (every 60 s): re-join the listed nodes.
    pub fn rejoin(&mut self, node: DeviceId, peers: &[(std::sync::Arc<str>, Ipv4Addr)]) {
        let now = self.now;
        if let Some(a) = self.agents.get_mut(node) {
            let actions = a.rejoin(now, peers);
            self.run_agent_actions(node, actions);
        }
    }

    /// The nodes `node`'s agent sees alive, or `None` if no agent runs there.
    pub fn agent_view(&self, node: DeviceId) -> Option<Vec<String>> {
        self.agents.get(node).map(Agent::alive_members)
    }

    pub fn agent(&self, node: DeviceId) -> Option<&Agent> {
        self.agents.get(node)
    }

    /// A memberlist message arrived: a datagram (`stream: None`) or a TCP
    /// segment from `from`'s `port` to our `local` address, carrying a
    /// request or an answer (`stream: Some((port, local))`).
    pub(super) fn agent_receive(
        &mut self,
        node: DeviceId,
        from: Ipv4Addr,
        stream: Option<(u16, Ipv4Addr)>,
        payload: &[u8],
    ) {
        let now = self.now;
        let Ok(msg) = Msg::decode(payload) else {
            let name = self.device(node).name().to_string();
            self.record(
                LogKind::Warn,
                &name,
                "undecodable memberlist message dropped",
            );
            return;
        };
        let actions = match (self.agents.get_mut(node), stream) {
            (Some(a), None) => a.on_message(now, from, msg),
            (Some(a), Some(_)) => a.on_stream(now, from, msg),
            (None, _) => return,
        };
        self.stream_peer = stream.map(|(port, local)| (from, port, local));
        self.run_agent_actions(node, actions);
        self.stream_peer = None;
    }

    /// The packet carrying `msg` to `to` over `transport`.
    fn agent_packet(&mut self, to: Ipv4Addr, msg: &Msg, transport: Transport) -> Option<Ipv4Pkt> {
        let payload = msg.encode();
        let mut src = Ipv4Addr::UNSPECIFIED;
        let (src_port, dst_port, flags) = match transport {
            Transport::Packet => {
                let l4 = L4::Udp {
                    src_port: MEMBERLIST_PORT,
                    dst_port: MEMBERLIST_PORT,
                    payload,
                };
                return Some(agent_ipv4(src, to, l4));
            }
            Transport::Stream => {
                let port = self.next_stream_port;
                self.next_stream_port = if port >= LAST_EPHEMERAL_PORT {
                    FIRST_EPHEMERAL_PORT
                } else {
                    port + 1
                };
                let flags = TcpFlags {
                    syn: true,
                    psh: true,
                    ..Default::default()
                };
                (port, MEMBERLIST_PORT, flags)
            }
            Transport::StreamAnswer => {
                // Only ever the answer to the exchange being handled, from
                // the address its request went to.
                let (_, port, local) = self.stream_peer.filter(|(p, _, _)| *p == to)?;
                src = local;
                let flags = TcpFlags {
                    syn: true,
                    ack: true,
                    psh: true,
                    ..Default::default()
                };
                (MEMBERLIST_PORT, port, flags)
            }
        };
        let l4 = L4::Tcp {
            src_port,
            dst_port,
            seq: 0,
            ack: 0,
            flags,
            window: 64240,
            payload,
        };
        Some(agent_ipv4(src, to, l4))
    }

    pub(super) fn run_agent_actions(&mut self, node: DeviceId, actions: Vec<AgentAction>) {
        for a in actions {
            match a {
                AgentAction::Send { to, msg, transport } => {
                    if let Some(pkt) = self.agent_packet(to, &msg, transport) {
                        self.call_stack(node, |stack, cx| stack.send(cx, pkt, None));
                    }
                }
                AgentAction::Log(text) => {
                    let name = self.shared_name_of(node);
                    self.record(LogKind::Engine, &name, text);
                }
                AgentAction::Timer { at, timer } => {
                    let epoch = self.epochs[node.0 as usize];
                    self.queue.push(
                        at,
                        Event::AgentTimer {
                            device: node,
                            epoch,
                            timer,
                        },
                    );
                }
                AgentAction::Event(event) => {
                    let text = match &event {
                        MemberEvent::Join(n) => Some(format!("memberlist: {n} joined")),
                        MemberEvent::Leave(n) => {
                            Some(format!("memberlist: {n} left (dead or gone)"))
                        }
                        MemberEvent::JoinReturned => None,
                    };
                    let name = self.shared_name_of(node);
                    if let Some(text) = text {
                        self.record(LogKind::Engine, &name, text);
                    }
                    self.control.push(ControlEvent::Member {
                        observer: name.to_string(),
                        event,
                    });
                }
            }
        }
    }
}

/// A packet from `src` (unspecified: the route picks the node's address)
/// to `to`.
fn agent_ipv4(src: Ipv4Addr, to: Ipv4Addr, l4: L4) -> Ipv4Pkt {
    Ipv4Pkt {
        src,
        dst: to,
        ttl: 64,
        ident: 0,
        l4,
    }
}

#[cfg(test)]
mod tests {
    use super::super::testlab::{TWO_NODES, id, ip, messages, ms, world};
    use super::super::{ControlEvent, World};
    use crate::engine::memberlist::MemberEvent;
    use crate::sim::trace::LogKind;
    use crate::time::SimTime;

    fn peers() -> Vec<(std::sync::Arc<str>, std::net::Ipv4Addr)> {
        vec![
            ("n1".into(), ip("10.0.0.11")),
            ("n2".into(), ip("10.0.0.12")),
        ]
    }

    /// Every control event up to `until`, with the time it stopped the run.
    fn run(w: &mut World, until: SimTime) -> Vec<(u64, ControlEvent)> {
        let mut seen = Vec::new();
        loop {
            let events = w.run_to(until);
            if events.is_empty() {
                return seen;
            }
            let at = w.now().as_nanos() / 1_000_000;
            seen.extend(events.into_iter().map(|e| (at, e)));
        }
    }

    fn member(observer: &str, event: MemberEvent) -> ControlEvent {
        ControlEvent::Member {
            observer: observer.into(),
            event,
        }
    }

    #[test]
    fn two_agents_join_and_the_control_plane_hears_each_join() {
        let mut w = world(TWO_NODES);
        let (n1, n2) = (id(&w, "n1"), id(&w, "n2"));
        w.start_agent(n1, &peers());
        w.start_agent(n2, &peers());
        let events: Vec<ControlEvent> = run(&mut w, ms(5_000)).into_iter().map(|e| e.1).collect();
        assert!(
            events.contains(&member("n1", MemberEvent::Join("n2".into()))),
            "{events:?}"
        );
        assert!(
            events.contains(&member("n2", MemberEvent::Join("n1".into()))),
            "{events:?}"
        );
        assert_eq!(
            w.agent_view(n1),
            Some(vec!["n1".to_string(), "n2".to_string()])
        );
        assert!(w.agent(n2).is_some());
        let engine = messages(&w, LogKind::Engine);
        assert!(engine.contains(&"antrea-agent started, memberlist joining".to_string()));
        assert!(
            engine.contains(&"memberlist: n2 joined".to_string()),
            "{engine:?}"
        );
    }

    #[test]
    fn a_converged_start_is_quiet_and_a_stopped_agent_is_gone_at_once() {
        let mut w = world(TWO_NODES);
        let (n1, n2) = (id(&w, "n1"), id(&w, "n2"));
        w.start_agent_converged(n1, &crate::engine::memberlist::Roster::new(&peers()));
        w.start_agent_converged(n2, &crate::engine::memberlist::Roster::new(&peers()));
        assert_eq!(
            w.agent_view(n1),
            Some(vec!["n1".to_string(), "n2".to_string()])
        );
        // A converged start sends nothing to join; each agent reports itself.
        let events: Vec<ControlEvent> = run(&mut w, ms(1_000)).into_iter().map(|e| e.1).collect();
        assert_eq!(
            events,
            [
                member("n1", MemberEvent::Join("n1".into())),
                member("n2", MemberEvent::Join("n2".into()))
            ]
        );
        let engine = messages(&w, LogKind::Engine);
        assert!(!engine.iter().any(|l| l.contains("joining")), "{engine:?}");

        w.stop_agent(n2, true);
        assert_eq!(w.agent_view(n2), None);
        assert_eq!(
            messages(&w, LogKind::Engine).last().map(String::as_str),
            Some("antrea-agent stopped")
        );
        // Its own view of leaving reaches the control plane with the next event.
        let left = run(&mut w, ms(1_100));
        assert_eq!(
            left.first().map(|e| &e.1),
            Some(&member("n2", MemberEvent::Leave("n2".into())))
        );
    }

    #[test]
    fn an_agent_dies_with_its_node_and_the_peer_detects_it_later() {
        let mut w = world(TWO_NODES);
        let (n1, n2) = (id(&w, "n1"), id(&w, "n2"));
        w.start_agent(n1, &peers());
        w.start_agent(n2, &peers());
        run(&mut w, ms(5_000));
        assert_eq!(
            w.agent_view(n1),
            Some(vec!["n1".to_string(), "n2".to_string()])
        );
        w.set_power(n2, false);
        assert!(w.agent(n2).is_none(), "the agent dies with its node");
        let detected = run(&mut w, ms(60_000));
        let (at, event) = detected.first().expect("n1 detects the failure");
        assert_eq!(*event, member("n1", MemberEvent::Leave("n2".into())));
        assert!(*at > 5_000, "detection takes time (at {at} ms)");
        assert_eq!(w.agent_view(n1), Some(vec!["n1".to_string()]));
    }

    #[test]
    fn an_undecodable_message_is_dropped_with_a_warning() {
        let mut w = world(TWO_NODES);
        let n1 = id(&w, "n1");
        w.start_agent_converged(n1, &crate::engine::memberlist::Roster::new(&peers()));
        w.agent_receive(n1, ip("10.0.0.12"), None, b"not memberlist");
        assert_eq!(
            messages(&w, LogKind::Warn),
            ["undecodable memberlist message dropped"]
        );
    }
}
