//! The agent on a tiny simulated network: convergence, detection of a
//! powered-off node, graceful leave, refutation, indirect probes, rejoin, and
//! the suspicion timer as the agent drives it.

use super::*;
use crate::engine::memberlist::{PushState, agent_rng};
use crate::rng::stream;
use std::collections::BTreeMap;

const SEC: u64 = 1_000_000_000;

fn t(secs: u64) -> SimTime {
    SimTime(secs * SEC)
}

enum Ev {
    Deliver {
        to: usize,
        from: Ipv4Addr,
        bytes: Vec<u8>,
        transport: Transport,
    },
    Timer {
        node: usize,
        epoch: u32,
        timer: AgentTimer,
    },
}

/// A tiny network: fixed latency, whole nodes can be powered off, single
/// directions can be cut (for both transports, or only UDP or only TCP).
/// Messages travel encoded, as they would on the wire.
struct Net {
    seed: u64,
    names: Vec<String>,
    addrs: Vec<Ipv4Addr>,
    agents: Vec<Option<Agent>>,
    epoch: Vec<u32>,
    queue: BTreeMap<(SimTime, u64), Ev>,
    next: u64,
    now: SimTime,
    latency: SimDuration,
    cut: Vec<(usize, usize)>,
    cut_udp: Vec<(usize, usize)>,
    cut_tcp: Vec<(usize, usize)>,
    logs: Vec<(usize, String)>,
    events: Vec<(SimTime, usize, MemberEvent)>,
    sent: Vec<(usize, &'static str)>,
    leave_states: Vec<(usize, String, Option<MemberState>)>,
}

impl Net {
    fn new(n: usize, seed: u64) -> Net {
        let mut net = Net {
            seed,
            names: (0..n).map(|i| format!("node-{i}")).collect(),
            addrs: (0..n)
                .map(|i| Ipv4Addr::new(10, 0, 0, 10 + i as u8))
                .collect(),
            agents: (0..n).map(|_| None).collect(),
            epoch: vec![0; n],
            queue: BTreeMap::new(),
            next: 0,
            now: SimTime::ZERO,
            latency: SimDuration::from_micros(500),
            cut: Vec::new(),
            cut_udp: Vec::new(),
            cut_tcp: Vec::new(),
            logs: Vec::new(),
            events: Vec::new(),
            sent: Vec::new(),
            leave_states: Vec::new(),
        };
        for i in 0..n {
            net.power_on(i);
        }
        net
    }

    /// A cluster whose agents start converged (warm start) at time zero,
    /// from one shared roster or each from the peer list on its own.
    fn converged(n: usize, seed: u64, shared: bool) -> Net {
        let mut net = Net::new(0, seed);
        net.names = (0..n).map(|i| format!("node-{i}")).collect();
        net.addrs = (0..n)
            .map(|i| Ipv4Addr::new(10, 0, 0, 10 + i as u8))
            .collect();
        net.agents = (0..n).map(|_| None).collect();
        net.epoch = vec![1; n];
        let peers = net.peers();
        let roster = crate::engine::memberlist::Roster::new(&peers);
        for i in 0..n {
            let rng = agent_rng(seed, &net.names[i], 1);
            let (name, addr, cfg) = (&net.names[i], net.addrs[i], MemberConfig::default());
            let (a, acts) = if shared {
                Agent::converged(name, addr, cfg, rng, net.now, &roster)
            } else {
                let mut a = Agent::new(name, addr, cfg, rng);
                let acts = a.start_converged(net.now, &peers);
                (a, acts)
            };
            net.agents[i] = Some(a);
            net.apply(i, acts);
        }
        net
    }

    fn peers(&self) -> Vec<(std::sync::Arc<str>, Ipv4Addr)> {
        self.names
            .iter()
            .map(|n| n.as_str().into())
            .zip(self.addrs.iter().copied())
            .collect()
    }

    fn power_on(&mut self, i: usize) {
        self.epoch[i] += 1;
        let rng = agent_rng(self.seed, &self.names[i], self.epoch[i]);
        let mut a = Agent::new(&self.names[i], self.addrs[i], MemberConfig::default(), rng);
        let acts = a.join(self.now, &self.peers());
        self.agents[i] = Some(a);
        self.apply(i, acts);
    }

    fn power_off(&mut self, i: usize) {
        self.agents[i] = None;
        self.epoch[i] += 1;
    }

    fn push(&mut self, at: SimTime, ev: Ev) {
        self.next += 1;
        self.queue.insert((at, self.next), ev);
    }

    fn apply(&mut self, i: usize, acts: Vec<Action>) {
        for a in acts {
            match a {
                Action::Send { to, msg, transport } => {
                    self.sent.push((i, msg.kind()));
                    if let Msg::Compound(parts) = &msg {
                        for p in parts {
                            self.sent.push((i, p.kind()));
                        }
                    }
                    let Some(j) = self.addrs.iter().position(|x| *x == to) else {
                        continue;
                    };
                    let cut = match transport {
                        Transport::Packet => &self.cut_udp,
                        Transport::Stream | Transport::StreamAnswer => &self.cut_tcp,
                    };
                    if self.cut.contains(&(i, j)) || cut.contains(&(i, j)) {
                        continue;
                    }
                    let at = self.now + self.latency;
                    let ev = Ev::Deliver {
                        to: j,
                        from: self.addrs[i],
                        bytes: msg.encode(),
                        transport,
                    };
                    self.push(at, ev);
                }
                Action::Timer { at, timer } => {
                    assert!(at >= self.now, "timer in the past");
                    let ev = Ev::Timer {
                        node: i,
                        epoch: self.epoch[i],
                        timer,
                    };
                    self.push(at, ev);
                }
                Action::Log(line) => self.logs.push((i, line)),
                // When a join has returned: the tests look at views.
                Action::Event(MemberEvent::JoinReturned) => {}
                Action::Event(e) => {
                    if let MemberEvent::Leave(n) = &e {
                        // Dead or Left, as the agent saw it at that moment.
                        let st = self.agents[i].as_ref().and_then(|a| a.member(n));
                        self.leave_states
                            .push((i, n.clone(), st.map(|m| m.state())));
                    }
                    self.events.push((self.now, i, e));
                }
            }
        }
    }

    fn run_until(&mut self, end: SimTime) {
        while let Some(entry) = self.queue.first_entry() {
            if entry.key().0 > end {
                break;
            }
            let ((at, _), ev) = entry.remove_entry();
            self.now = at;
            match ev {
                Ev::Deliver {
                    to,
                    from,
                    bytes,
                    transport,
                } => {
                    let msg = Msg::decode(&bytes).expect("agents send valid messages");
                    if let Some(a) = self.agents[to].as_mut() {
                        let acts = match transport {
                            Transport::Packet => a.on_message(at, from, msg),
                            Transport::Stream | Transport::StreamAnswer => {
                                a.on_stream(at, from, msg)
                            }
                        };
                        self.apply(to, acts);
                    }
                }
                Ev::Timer { node, epoch, timer } => {
                    if epoch != self.epoch[node] {
                        continue;
                    }
                    if let Some(a) = self.agents[node].as_mut() {
                        let acts = a.on_timer(at, timer);
                        self.apply(node, acts);
                    }
                }
            }
        }
        self.now = end;
    }

    fn agent(&self, i: usize) -> &Agent {
        self.agents[i].as_ref().expect("agent running")
    }

    /// When each observer first reported `victim` gone after `since`.
    fn leave_times(&self, victim: usize, since: SimTime) -> Vec<(usize, SimTime)> {
        let mut v: Vec<(usize, SimTime)> = Vec::new();
        for (at, obs, e) in &self.events {
            if *at >= since
                && *obs != victim
                && *e == MemberEvent::Leave(self.names[victim].clone())
                && !v.iter().any(|(o, _)| o == obs)
            {
                v.push((*obs, *at));
            }
        }
        v
    }
}

/// Detection times (sorted) for one node powered off at 10 s in a 6-node cluster.
fn detection(seed: u64) -> Vec<SimDuration> {
    let mut net = Net::new(6, seed);
    net.run_until(t(10));
    net.power_off(5);
    net.run_until(t(40));
    let mut d: Vec<SimDuration> = net
        .leave_times(5, t(10))
        .into_iter()
        .map(|(_, at)| at - t(10))
        .collect();
    d.sort();
    d
}

#[test]
fn six_nodes_converge() {
    let mut net = Net::new(6, 1);
    net.run_until(t(3));
    for i in 0..6 {
        let a = net.agent(i);
        assert_eq!(a.alive_members(), net.names, "view of node-{i}");
        assert!(a.members().iter().all(|m| m.state() == MemberState::Alive));
    }
    // Steady state: nobody is ever suspected or reported gone.
    net.run_until(t(60));
    assert!(
        net.events
            .iter()
            .all(|(_, _, e)| matches!(e, MemberEvent::Join(_)))
    );
    assert!(!net.sent.iter().any(|(_, k)| *k == "suspect"));
}

#[test]
fn powered_off_node_is_declared_dead_by_everyone() {
    let mut net = Net::new(6, 7);
    net.run_until(t(10));
    net.power_off(5);
    net.run_until(t(40));
    let times = net.leave_times(5, t(10));
    assert_eq!(
        times.len(),
        5,
        "every other agent declares node-5 gone: {times:?}"
    );
    let first = times.iter().map(|x| x.1).min().unwrap() - t(10);
    let last = times.iter().map(|x| x.1).max().unwrap() - t(10);
    println!(
        "detection after power-off: first {}, last {}",
        first.human(),
        last.human()
    );
    assert!(
        net.leave_states
            .iter()
            .all(|(_, n, st)| n == "node-5" && *st == Some(MemberState::Dead))
    );
    for (obs, at) in &times {
        let d = *at - t(10);
        assert!(
            d >= SimDuration::from_secs(3) && d <= SimDuration::from_secs(20),
            "node-{obs} took {d:?}"
        );
    }
    // Nobody else was declared gone, and the dead node left every view.
    let wrong: Vec<_> = net
        .events
        .iter()
        .filter(|(_, _, e)| matches!(e, MemberEvent::Leave(n) if *n != net.names[5]))
        .collect();
    assert!(wrong.is_empty(), "false positives: {wrong:?}");
    for i in 0..5 {
        assert!(!net.agent(i).alive_members().contains(&net.names[5]));
    }
}

#[test]
fn detection_is_seed_deterministic() {
    let a = detection(3);
    let b = detection(3);
    assert_eq!(a, b);
    let mut all = vec![a.clone()];
    for seed in [4, 5, 6, 8, 9] {
        let d = detection(seed);
        assert_eq!(d.len(), 5);
        println!("seed {seed}: first {:?} last {:?}", d[0], d[4]);
        assert!(d.iter().all(|x| x.0 >= 3 * SEC && x.0 <= 20 * SEC));
        all.push(d);
    }
    assert!(
        all.iter().any(|d| *d != a),
        "different seeds give different runs"
    );
}

/// Over many seeds: the first agent always within [3 s, 20 s]; a laggard
/// that missed every Suspect/Dead rumour (retransmit limit 2 at six members,
/// and gossip also goes to the suspect itself) waits out its own 18 s timer,
/// so the bound for every agent is two probe cycles + 1 s + 18 s < 30 s.
#[test]
fn detection_times_over_many_seeds() {
    let mut all = Vec::new();
    for seed in 100..130 {
        let d = detection(seed);
        assert_eq!(d.len(), 5, "seed {seed}");
        assert!(d[0] >= SimDuration::from_secs(3) && d[0] <= SimDuration::from_secs(20));
        assert!(d[4] <= SimDuration::from_secs(30), "seed {seed}: {d:?}");
        println!("seed {seed}: first {} last {}", d[0].human(), d[4].human());
        all.extend(d);
    }
    let quick = all.iter().filter(|d| d.0 <= 10 * SEC).count();
    assert!(
        quick * 10 >= all.len() * 9,
        "{quick}/{} within 10 s",
        all.len()
    );
}

#[test]
fn graceful_leave_is_seen_within_a_second() {
    let mut net = Net::new(6, 11);
    net.run_until(t(10));
    let acts = net.agents[5].as_mut().unwrap().leave(t(10));
    net.apply(5, acts);
    net.run_until(SimTime(11 * SEC + SEC / 2));
    let times = net.leave_times(5, t(10));
    assert_eq!(times.len(), 5, "{times:?}");
    for (obs, at) in &times {
        assert!(*at - t(10) < SimDuration::from_secs(1), "node-{obs}: {at}");
        assert_eq!(
            net.agent(*obs).member("node-5").unwrap().state(),
            MemberState::Left
        );
    }
    assert!(net.agent(5).is_shut_down());
    // Left means no suspicion round: nobody ever gossiped a Suspect.
    assert!(!net.sent.iter().any(|(_, k)| *k == "suspect"));
}

/// A peer can miss the leave rumour too; it then learns Left from its next
/// push/pull (every 15 s), before its own suspicion could declare it Dead.
#[test]
fn graceful_leave_over_many_seeds() {
    let (mut quick, mut total) = (0, 0);
    for seed in 100..130 {
        let mut net = Net::new(6, seed);
        net.run_until(t(10));
        let acts = net.agents[5].as_mut().unwrap().leave(t(10));
        net.apply(5, acts);
        net.run_until(t(27));
        let times = net.leave_times(5, t(10));
        assert_eq!(times.len(), 5, "seed {seed}");
        for (obs, at) in times {
            total += 1;
            quick += usize::from(at - t(10) < SimDuration::from_secs(1));
            assert!(
                at - t(10) <= SimDuration::from_secs(16),
                "seed {seed} node-{obs}"
            );
        }
        // Learnt as Left, never declared Dead by a suspicion timer.
        for (obs, node, st) in &net.leave_states {
            assert_eq!(node, "node-5");
            assert_eq!(*st, Some(MemberState::Left), "seed {seed} node-{obs}");
        }
    }
    println!("graceful leave seen within 1 s by {quick}/{total}");
    assert!(quick * 10 >= total * 9, "{quick}/{total}");
}

/// Everything a converged cluster did: each agent's events, log lines and
/// messages sent, and its member table at the end.
fn converged_story(seed: u64, shared: bool) -> Vec<String> {
    let mut net = Net::converged(7, seed, shared);
    net.run_until(t(10));
    net.power_off(5);
    net.run_until(t(25));
    net.power_off(2);
    net.run_until(t(60));
    net.power_on(5);
    net.run_until(t(75));
    let mut story: Vec<String> = net
        .events
        .iter()
        .map(|(at, i, e)| format!("{at:?} node-{i} {e:?}"))
        .collect();
    story.extend(net.logs.iter().map(|(i, l)| format!("node-{i} log {l}")));
    story.extend(net.sent.iter().map(|(i, k)| format!("node-{i} sent {k}")));
    for (i, a) in net.agents.iter().enumerate() {
        if let Some(a) = a {
            story.push(format!("node-{i} members {:?}", a.members()));
            story.push(format!("node-{i} awareness {}", a.awareness()));
        }
    }
    story
}

/// An agent started from a shared roster does what one started converged
/// on its own peer list does: same events, logs, messages and member
/// tables, through two power-offs, a forgotten member and its return.
#[test]
fn a_shared_roster_changes_nothing_an_agent_does() {
    for seed in [1, 2, 3, 44] {
        let own = converged_story(seed, false);
        let shared = converged_story(seed, true);
        assert!(
            own.iter().any(|l| l.contains("Leave(\"node-2\")")),
            "the story has a failure"
        );
        assert!(
            own.iter().any(|l| l.contains("Join(\"node-5\")")),
            "and a return"
        );
        assert_eq!(own, shared, "seed {seed}");
    }
}

#[test]
fn node_coming_back_after_being_forgotten_is_alive_again() {
    let mut net = Net::new(6, 21);
    net.run_until(t(10));
    net.power_off(5);
    net.run_until(t(60));
    // Dead for more than gossip-to-the-dead: forgotten.
    for i in 0..5 {
        assert!(
            net.agent(i).member("node-5").is_none(),
            "node-{i} still knows it"
        );
    }
    net.power_on(5);
    net.run_until(t(63));
    for i in 0..6 {
        assert_eq!(net.agent(i).alive_members(), net.names, "view of node-{i}");
    }
    let joins = net
        .events
        .iter()
        .filter(|(at, obs, e)| {
            *at >= t(60) && *obs != 5 && *e == MemberEvent::Join("node-5".into())
        })
        .count();
    assert_eq!(joins, 5);
}

#[test]
fn node_coming_back_while_still_known_dead_refutes() {
    let mut net = Net::new(6, 5);
    net.run_until(t(10));
    net.power_off(5);
    net.run_until(t(30));
    assert!(
        (0..5).all(|i| net.agent(i).member("node-5").map(|m| m.state()) == Some(MemberState::Dead))
    );
    net.power_on(5);
    // A peer may forget the dead node just before the refuting Alive reaches
    // it (gossip-to-the-dead is 15 s); its next push/pull (15 s) catches up.
    net.run_until(t(30 + 16));
    for i in 0..6 {
        assert_eq!(net.agent(i).alive_members(), net.names, "view of node-{i}");
    }
    // Peers held incarnation 1 as Dead; the new agent had to out-bid it.
    assert!(net.agent(5).incarnation() >= 2);
    for i in 0..5 {
        let m = net.agent(i).member("node-5").unwrap();
        assert_eq!(m.incarnation(), net.agent(5).incarnation());
    }
}

#[test]
fn indirect_probe_keeps_a_node_alive_when_the_direct_path_is_cut() {
    let mut net = Net::new(6, 2);
    net.run_until(t(5));
    net.cut.push((0, 1));
    net.cut.push((1, 0));
    net.run_until(t(40));
    assert!(
        net.events
            .iter()
            .all(|(_, _, e)| matches!(e, MemberEvent::Join(_))),
        "nobody declared dead"
    );
    assert!(
        net.sent
            .iter()
            .any(|(i, k)| *i == 0 && *k == "indirect-ping")
    );
    assert_eq!(net.agent(0).alive_members(), net.names);
}

#[test]
fn rejoin_heals_a_partition_after_dead_nodes_were_forgotten() {
    let mut net = Net::new(6, 9);
    net.run_until(t(10));
    for j in 0..5 {
        net.cut.push((5, j));
        net.cut.push((j, 5));
    }
    net.run_until(t(100));
    net.cut.clear();
    net.run_until(t(130));
    // Without RejoinNodes nobody talks to a forgotten node again.
    assert_eq!(net.agent(5).alive_members(), vec!["node-5".to_string()]);
    assert!(!net.agent(0).alive_members().contains(&"node-5".to_string()));
    let peers = net.peers();
    for i in 0..6 {
        let acts = net.agents[i].as_mut().unwrap().rejoin(t(130), &peers);
        net.apply(i, acts);
    }
    net.run_until(t(133));
    for i in 0..6 {
        assert_eq!(net.agent(i).alive_members(), net.names, "view of node-{i}");
    }
}

#[test]
fn suspect_about_self_is_refuted_with_a_higher_incarnation() {
    let mut a = Agent::new(
        "a",
        Ipv4Addr::new(10, 0, 0, 1),
        MemberConfig::default(),
        stream(1, "a"),
    );
    let b = Ipv4Addr::new(10, 0, 0, 2);
    a.join(SimTime::ZERO, &[("b".into(), b)]);
    let reply = Msg::PushPull {
        join: true,
        reply: true,
        states: [PushState::new("b", b, 1, MemberState::Alive)]
            .into_iter()
            .collect(),
    };
    // A push/pull answer over UDP is not read: push/pull is TCP only.
    assert!(a.on_message(SimTime(1), b, reply.clone()).is_empty());
    let acts = a.on_stream(SimTime(1), b, reply);
    assert!(acts.contains(&Action::Event(MemberEvent::Join("b".into()))));
    let sus = Msg::Suspect {
        incarnation: 1,
        node: "a".into(),
        from: "b".into(),
    };
    a.on_message(SimTime(2), b, sus);
    assert_eq!(a.incarnation(), 2);
    assert_eq!(a.member("a").unwrap().state(), MemberState::Alive);
    let acts = a.on_timer(SimTime(3), AgentTimer::GossipTick);
    let refuted = acts.iter().any(|x| match x {
        Action::Send { to, msg, .. } => {
            *to == b
                && (*msg
                    == Msg::Alive {
                        incarnation: 2,
                        node: "a".into(),
                        addr: a.addr(),
                    }
                    || matches!(msg, Msg::Compound(p) if p.iter().any(|m| matches!(m, Msg::Alive { incarnation: 2, .. }))))
        }
        _ => false,
    });
    assert!(refuted, "{acts:?}");
}

#[test]
fn suspicion_timer_shrinks_with_a_confirmation() {
    // Three members: k = 1. First suspicion starts the timer at max = 18 s.
    let ip = |i| Ipv4Addr::new(10, 0, 0, i);
    let mut a = Agent::new("a", ip(1), MemberConfig::default(), stream(1, "a"));
    a.join(SimTime::ZERO, &[]);
    let states = ["b", "c", "x"]
        .iter()
        .enumerate()
        .map(|(i, n)| PushState::new(n, ip(2 + i as u8), 1, MemberState::Alive))
        .collect();
    // b's push/pull request (over TCP) brings the member table.
    a.on_stream(
        SimTime(1),
        ip(2),
        Msg::PushPull {
            join: false,
            reply: false,
            states,
        },
    );
    let sus = |from: &str| Msg::Suspect {
        incarnation: 1,
        node: "x".into(),
        from: from.into(),
    };
    let timer_at = |acts: &[Action]| {
        acts.iter().find_map(|x| match x {
            Action::Timer {
                at,
                timer: AgentTimer::Suspicion { .. },
            } => Some(*at),
            _ => None,
        })
    };
    let acts = a.on_message(t(10), ip(2), sus("b"));
    assert_eq!(timer_at(&acts), Some(t(28)));
    // The originator again is not a confirmation.
    assert_eq!(timer_at(&a.on_message(t(11), ip(2), sus("b"))), None);
    // An independent one: min (3 s) counted from the start.
    assert_eq!(timer_at(&a.on_message(t(11), ip(3), sus("c"))), Some(t(13)));
    // The stale 28 s timer does nothing; the 13 s one kills.
    let x = a.names.lookup("x").unwrap();
    assert!(
        a.on_timer(
            t(28),
            AgentTimer::Suspicion {
                node: x,
                generation: 1
            }
        )
        .is_empty()
    );
    let gen_now = a.suspicions[&x].generation();
    let acts = a.on_timer(
        t(13),
        AgentTimer::Suspicion {
            node: x,
            generation: gen_now,
        },
    );
    assert!(acts.contains(&Action::Event(MemberEvent::Leave("x".into()))));
    assert_eq!(a.member("x").unwrap().state(), MemberState::Dead);
}

/// Both directions between node `i` and every other node, in `cuts`.
fn isolate(cuts: &mut Vec<(usize, usize)>, i: usize, n: usize) {
    for j in (0..n).filter(|j| *j != i) {
        cuts.push((i, j));
        cuts.push((j, i));
    }
}

#[test]
fn blocking_only_udp_leaves_members_alive_through_the_tcp_fallback_ping() {
    let mut net = Net::new(4, 11);
    net.run_until(t(5));
    isolate(&mut net.cut_udp, 3, 4);
    net.run_until(t(60));
    assert!(
        net.events
            .iter()
            .all(|(_, _, e)| matches!(e, MemberEvent::Join(_))),
        "nobody declared dead: {:?}",
        net.events
    );
    for i in 0..4 {
        assert_eq!(net.agent(i).alive_members(), net.names, "view of node-{i}");
    }
    let warned = net.logs.iter().any(|(i, l)| {
        *i != 3
            && l == "memberlist: Was able to connect to node-3 over TCP but UDP probes failed, network may be misconfigured"
    });
    assert!(warned, "{:?}", net.logs);
}

#[test]
fn blocking_only_tcp_keeps_members_alive_but_push_pull_fails() {
    let mut net = Net::new(4, 12);
    net.run_until(t(5));
    isolate(&mut net.cut_tcp, 3, 4);
    net.run_until(t(90));
    assert!(
        net.events
            .iter()
            .all(|(_, _, e)| matches!(e, MemberEvent::Join(_))),
        "UDP probes still answer: {:?}",
        net.events
    );
    let failed = net
        .logs
        .iter()
        .filter(|(_, l)| {
            l.starts_with("memberlist: push/pull with ")
                && l.ends_with(" failed: no TCP answer within 1000 ms")
        })
        .count();
    assert!(failed > 0, "{:?}", net.logs);
    // No fallback warning: UDP works.
    assert!(
        !net.logs
            .iter()
            .any(|(_, l)| l.contains("UDP probes failed"))
    );
}

#[test]
fn a_node_that_restarts_while_tcp_and_udp_are_blocked_stays_alone() {
    let mut net = Net::new(3, 13);
    net.run_until(t(5));
    net.power_off(2);
    net.run_until(t(30));
    isolate(&mut net.cut_tcp, 2, 3);
    isolate(&mut net.cut_udp, 2, 3);
    net.power_on(2);
    net.run_until(t(40));
    assert_eq!(net.agent(2).alive_members(), ["node-2"]);
    assert_eq!(net.agent(0).alive_members(), ["node-0", "node-1"]);
    let failed: Vec<&String> = net
        .logs
        .iter()
        .filter(|(i, _)| *i == 2)
        .map(|(_, l)| l)
        .collect();
    assert_eq!(
        failed,
        [
            "memberlist: failed to join 10.0.0.10: no TCP answer from port 10351 within 1000 ms",
            "memberlist: failed to join 10.0.0.11: no TCP answer from port 10351 within 1000 ms"
        ]
    );
    // With only UDP open, a join still fails: it is a TCP push/pull.
    let mut net = Net::new(3, 13);
    net.run_until(t(5));
    net.power_off(2);
    net.run_until(t(30));
    isolate(&mut net.cut_tcp, 2, 3);
    net.power_on(2);
    net.run_until(t(40));
    assert_eq!(net.agent(2).alive_members(), ["node-2"]);
}
