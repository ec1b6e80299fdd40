//! The antrea-agent memberlist instances the nodes run: starting,
//! stopping, rejoining, their messages carried as UDP between the nodes'
//! stacks, their timers, and member events handed to the control plane.

use std::net::Ipv4Addr;

use super::{ControlEvent, Event, World};
use crate::engine::memberlist::{
    Action as AgentAction, Agent, AgentTimer, MemberConfig, MemberEvent, Msg,
};
use crate::model::DeviceId;
use crate::sched::Scheduler;
use crate::sim::trace::LogKind;
use crate::wire::{Ipv4Pkt, L4};

pub use crate::engine::memberlist::MEMBERLIST_PORT;

impl World {
    /// An agent's timer fires, unless it was set before the node's last
    /// power cycle or the agent is gone.
    pub(super) fn agent_timer(&mut self, device: DeviceId, epoch: u32, timer: AgentTimer) {
        if self.epochs[device.0 as usize] != epoch {
            return;
        }
        let now = self.now;
        let actions = match self.agents.get_mut(&device) {
            Some(a) => a.on_timer(now, timer),
            None => return,
        };
        self.run_agent_actions(device, actions);
    }

    /// Starts (or restarts) the antrea-agent's memberlist on `node`, joining
    /// `peers` (Antrea joins every Node it learns about).
    pub fn start_agent(&mut self, node: DeviceId, peers: &[(String, Ipv4Addr)]) {
        let name = self.device(node).name().to_string();
        let Some(ip) = self.host_ip(node) else { return };
        let boot = self.agent_boots.entry(node).or_insert(0);
        *boot += 1;
        let rng = crate::rng::stream(self.seed, &format!("memberlist/{name}/{boot}"));
        let mut agent = Agent::new(&name, ip, MemberConfig::default(), rng);
        let actions = agent.join(self.now, peers);
        self.agents.insert(node, agent);
        self.record(
            LogKind::Engine,
            &name,
            "antrea-agent started, memberlist joining",
        );
        self.run_agent_actions(node, actions);
    }

    /// [`World::start_agent`] for a warm start: the agent's member list is
    /// already converged on `peers` and it sends nothing to join.
    pub fn start_agent_converged(&mut self, node: DeviceId, peers: &[(String, Ipv4Addr)]) {
        let name = self.device(node).name().to_string();
        let Some(ip) = self.host_ip(node) else { return };
        let boot = self.agent_boots.entry(node).or_insert(0);
        *boot += 1;
        let rng = crate::rng::stream(self.seed, &format!("memberlist/{name}/{boot}"));
        let mut agent = Agent::new(&name, ip, MemberConfig::default(), rng);
        let actions = agent.start_converged(self.now, peers);
        self.agents.insert(node, agent);
        self.run_agent_actions(node, actions);
    }

    /// Stops an agent. `graceful`: it leaves the memberlist cluster first
    /// (peers see it go at once), as on `kubectl delete pod`.
    pub fn stop_agent(&mut self, node: DeviceId, graceful: bool) {
        let now = self.now;
        if graceful && let Some(a) = self.agents.get_mut(&node) {
            let actions = a.leave(now);
            self.run_agent_actions(node, actions);
        }
        self.agents.remove(&node);
        let name = self.device(node).name().to_string();
        self.record(LogKind::Engine, &name, "antrea-agent stopped");
    }

    /// Antrea's `RejoinNodes` (every 60 s): re-join the listed nodes.
    pub fn rejoin(&mut self, node: DeviceId, peers: &[(String, Ipv4Addr)]) {
        let now = self.now;
        if let Some(a) = self.agents.get_mut(&node) {
            let actions = a.rejoin(now, peers);
            self.run_agent_actions(node, actions);
        }
    }

    /// The nodes `node`'s agent sees alive, or `None` if no agent runs there.
    pub fn agent_view(&self, node: DeviceId) -> Option<Vec<String>> {
        self.agents.get(&node).map(Agent::alive_members)
    }

    pub fn agent(&self, node: DeviceId) -> Option<&Agent> {
        self.agents.get(&node)
    }

    pub(super) fn agent_receive(&mut self, node: DeviceId, from: Ipv4Addr, payload: &[u8]) {
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
        let actions = match self.agents.get_mut(&node) {
            Some(a) => a.on_message(now, from, msg),
            None => return,
        };
        self.run_agent_actions(node, actions);
    }

    pub(super) fn run_agent_actions(&mut self, node: DeviceId, actions: Vec<AgentAction>) {
        let name = self.device(node).name().to_string();
        for a in actions {
            match a {
                AgentAction::Send { to, msg } => {
                    let pkt = Ipv4Pkt {
                        src: Ipv4Addr::UNSPECIFIED,
                        dst: to,
                        ttl: 64,
                        ident: 0,
                        l4: L4::Udp {
                            src_port: MEMBERLIST_PORT,
                            dst_port: MEMBERLIST_PORT,
                            payload: msg.encode(),
                        },
                    };
                    self.call_stack(node, |stack, cx| stack.send(cx, pkt, None));
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
                        MemberEvent::Join(n) => format!("memberlist: {n} joined"),
                        MemberEvent::Leave(n) => format!("memberlist: {n} left (dead or gone)"),
                    };
                    self.record(LogKind::Engine, &name, text);
                    self.control.push(ControlEvent::Member {
                        observer: name.clone(),
                        event,
                    });
                }
            }
        }
    }
}
