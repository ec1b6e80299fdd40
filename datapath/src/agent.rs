//! The engine's memberlist agent (`sim_core::engine::memberlist::Agent`, the
//! same sans-I/O code the simulator runs) on a real UDP socket in a node's
//! namespace, driven by the real clock.
//!
//! The agent is a thread in the node's namespace (see [`crate::netns`]). Its
//! membership events go to the run loop, which recomputes that node's
//! dataplane from the node's own view, as each Antrea agent does. Power-off
//! stops the thread: the node no longer answers probes, and peers find out
//! the way memberlist does (ping, indirect ping, suspicion, dead).

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use sim_core::engine::memberlist::{
    self, Action, Agent, AgentTimer, MEMBERLIST_PORT, MemberConfig, MemberEvent, Msg,
};
use sim_core::time::SimTime;

/// A membership change seen by `node`'s agent, `at` since the run's epoch.
#[derive(Clone, Debug)]
pub struct AgentEvent {
    pub node: String,
    pub at: Duration,
    pub event: MemberEvent,
}

pub struct AgentHandle {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl AgentHandle {
    /// Stops the agent as a power cut would: no leave message.
    pub fn kill(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub struct AgentSpec {
    pub netns: String,
    pub node: String,
    pub ip: Ipv4Addr,
    pub peers: Vec<(std::sync::Arc<str>, Ipv4Addr)>,
    pub seed: u64,
    /// Boot count: a restarted agent gets a fresh random stream, as in the sim.
    pub boot: u32,
}

pub fn start(
    spec: AgentSpec,
    epoch: Instant,
    tx: Sender<AgentEvent>,
) -> std::io::Result<AgentHandle> {
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let ns = spec.netns.clone();
    let thread = crate::netns::spawn_in(&ns, format!("agent-{}", spec.node), move || {
        if let Err(e) = run(spec, epoch, &tx, &stop2) {
            eprintln!("antlab: agent stopped: {e}");
        }
    })?;
    Ok(AgentHandle {
        stop,
        thread: Some(thread),
    })
}

fn run(
    spec: AgentSpec,
    epoch: Instant,
    tx: &Sender<AgentEvent>,
    stop: &AtomicBool,
) -> std::io::Result<()> {
    let sock = UdpSocket::bind((spec.ip, MEMBERLIST_PORT))?;
    let now = || SimTime(epoch.elapsed().as_nanos() as u64);
    let rng = memberlist::agent_rng(spec.seed, &spec.node, spec.boot);
    let mut agent = Agent::new(&spec.node, spec.ip, MemberConfig::default(), rng);
    let mut timers: BTreeMap<(SimTime, u64), AgentTimer> = BTreeMap::new();
    let mut seq = 0u64;
    let mut handle = |actions: Vec<Action>, timers: &mut BTreeMap<(SimTime, u64), AgentTimer>| {
        for a in actions {
            match a {
                // A send into a downed link fails; memberlist ignores that too.
                Action::Send { to, msg } => {
                    let _ = sock.send_to(&msg.encode(), (to, MEMBERLIST_PORT));
                }
                Action::Timer { at, timer } => {
                    seq += 1;
                    timers.insert((at, seq), timer);
                }
                Action::Event(event) => {
                    let _ = tx.send(AgentEvent {
                        node: spec.node.clone(),
                        at: epoch.elapsed(),
                        event,
                    });
                }
            }
        }
    };
    let first = agent.join(now(), &spec.peers);
    handle(first, &mut timers);
    let mut buf = vec![0u8; 65536];
    while !stop.load(Ordering::Relaxed) {
        while let Some((&(at, s), _)) = timers.first_key_value() {
            if at > now() {
                break;
            }
            let t = timers.remove(&(at, s)).expect("present");
            let acts = agent.on_timer(now(), t);
            handle(acts, &mut timers);
        }
        let wait = timers
            .first_key_value()
            .map(|(&(at, _), _)| Duration::from_nanos(at.0.saturating_sub(now().0)))
            .unwrap_or(Duration::from_millis(50))
            .clamp(Duration::from_millis(1), Duration::from_millis(50));
        sock.set_read_timeout(Some(wait))?;
        match sock.recv_from(&mut buf) {
            Ok((n, from)) => {
                let std::net::SocketAddr::V4(from) = from else {
                    continue;
                };
                if let Ok(msg) = Msg::decode(&buf[..n]) {
                    let acts = agent.on_message(now(), *from.ip(), msg);
                    handle(acts, &mut timers);
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    Ok(())
}
