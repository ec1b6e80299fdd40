//! The engine's memberlist agent (`sim_core::engine::memberlist::Agent`, the
//! same sans-I/O code the simulator runs) on real sockets in a node's
//! namespace, driven by the real clock.
//!
//! The agent is a thread in the node's namespace (see [`crate::netns`]). Its
//! membership events go to the run loop, which recomputes that node's
//! dataplane from the node's own view, as each Antrea agent does. Power-off
//! stops the thread: the node no longer answers probes, and peers find out
//! the way memberlist does (ping, indirect ping, suspicion, dead).
//!
//! Datagrams go over a UDP socket on port 10351. TCP exchanges (joins,
//! push/pull, the TCP fallback ping) are carried on real TCP connections to
//! port 10351, each message framed as a 4-byte big-endian length followed
//! by [`Msg::encode`]'s bytes: a request opens a new connection and reads
//! one answer on it; a peer's request, accepted by the agent's listener, is
//! answered on its own connection, which is then closed. The blocking part
//! of each connection runs on a short-lived helper thread (it inherits the
//! namespace) bounded by memberlist's 1 s TCP timeout; what it reads comes
//! back to the agent thread over a channel. The agent judges failures
//! itself with its own timers, so I/O errors are dropped silently.

use std::collections::BTreeMap;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant};

use sim_core::engine::memberlist::{
    self, Action, Agent, AgentTimer, MEMBERLIST_PORT, MemberConfig, MemberEvent, Msg, Transport,
};
use sim_core::time::SimTime;

/// memberlist's `TCPTimeout` (`DefaultLocalConfig`): the whole budget of
/// one connection's I/O.
const TCP_TIMEOUT: Duration = Duration::from_secs(1);

/// Longest wait on the UDP socket, so that accepted connections and TCP
/// answers are handled promptly too.
const POLL: Duration = Duration::from_millis(10);

/// Largest framed TCP message accepted (a push/pull carries the member
/// table; anything this big is garbage).
const MAX_FRAME: usize = 16 << 20;

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

/// What a helper thread read from a TCP connection.
enum Inbound {
    /// A peer's request on a connection the listener accepted; the answer
    /// goes back on `conn`.
    Request {
        from: Ipv4Addr,
        msg: Msg,
        conn: TcpStream,
    },
    /// The answer to one of this agent's requests.
    Answer { from: Ipv4Addr, msg: Msg },
}

/// The agent thread's side of the sockets, timers and event channel.
struct Io<'a> {
    node: &'a str,
    epoch: Instant,
    sock: UdpSocket,
    events: &'a Sender<AgentEvent>,
    inbound: Sender<Inbound>,
    timers: BTreeMap<(SimTime, u64), AgentTimer>,
    seq: u64,
}

impl Io<'_> {
    /// Carries out `actions`. `conn` is the accepted connection of the
    /// peer request being handled, if any: a `StreamAnswer` to that peer
    /// goes back on it; any other `StreamAnswer` is dropped.
    fn handle(&mut self, actions: Vec<Action>, mut conn: Option<(Ipv4Addr, TcpStream)>) {
        for a in actions {
            match a {
                // A send into a downed link fails; memberlist ignores that too.
                Action::Send {
                    to,
                    msg,
                    transport: Transport::Packet,
                } => {
                    let _ = self.sock.send_to(&msg.encode(), (to, MEMBERLIST_PORT));
                }
                Action::Send {
                    to,
                    msg,
                    transport: Transport::Stream,
                } => {
                    let inbound = self.inbound.clone();
                    helper(move || {
                        if let Ok(msg) = exchange(to, &msg) {
                            let _ = inbound.send(Inbound::Answer { from: to, msg });
                        }
                    });
                }
                Action::Send {
                    to,
                    msg,
                    transport: Transport::StreamAnswer,
                } => {
                    if let Some((_, mut c)) = conn.take_if(|(peer, _)| *peer == to) {
                        helper(move || {
                            let deadline = crate::clock::now() + TCP_TIMEOUT;
                            // Dropping `c` closes the connection.
                            let _ = write_frame(&mut c, &msg, deadline);
                        });
                    }
                }
                Action::Log(line) => eprintln!("antlab: agent {}: {line}", self.node),
                Action::Timer { at, timer } => {
                    self.seq += 1;
                    self.timers.insert((at, self.seq), timer);
                }
                Action::Event(event) => {
                    let _ = self.events.send(AgentEvent {
                        node: self.node.to_string(),
                        at: self.epoch.elapsed(),
                        event,
                    });
                }
            }
        }
    }
}

fn run(
    spec: AgentSpec,
    epoch: Instant,
    tx: &Sender<AgentEvent>,
    stop: &AtomicBool,
) -> std::io::Result<()> {
    let sock = UdpSocket::bind((spec.ip, MEMBERLIST_PORT))?;
    // Dropped when this function returns, which closes the port.
    let listener = TcpListener::bind((spec.ip, MEMBERLIST_PORT))?;
    listener.set_nonblocking(true)?;
    let (inbound, from_helpers): (Sender<Inbound>, Receiver<Inbound>) = mpsc::channel();
    let now = || SimTime(epoch.elapsed().as_nanos() as u64);
    let rng = memberlist::agent_rng(spec.seed, &spec.node, spec.boot);
    let mut agent = Agent::new(&spec.node, spec.ip, MemberConfig::default(), rng);
    let mut io = Io {
        node: &spec.node,
        epoch,
        sock,
        events: tx,
        inbound,
        timers: BTreeMap::new(),
        seq: 0,
    };
    let first = agent.join(now(), &spec.peers);
    io.handle(first, None);
    // Antrea's RejoinNodes, on the run's minute marks as in the simulator.
    let period = memberlist::REJOIN_PERIOD.as_nanos();
    let mut next_rejoin = SimTime((now().0 / period + 1) * period);
    let mut buf = vec![0u8; 65536];
    while !stop.load(Ordering::Relaxed) {
        while let Some((&(at, s), _)) = io.timers.first_key_value() {
            if at > now() {
                break;
            }
            let Some(t) = io.timers.remove(&(at, s)) else {
                break;
            };
            let acts = agent.on_timer(now(), t);
            io.handle(acts, None);
        }
        if now() >= next_rejoin {
            next_rejoin = SimTime(next_rejoin.0 + period);
            let acts = agent.rejoin(now(), &spec.peers);
            io.handle(acts, None);
        }
        let wait = io
            .timers
            .first_key_value()
            .map(|(&(at, _), _)| Duration::from_nanos(at.0.saturating_sub(now().0)))
            .unwrap_or(POLL)
            .clamp(Duration::from_millis(1), POLL);
        io.sock.set_read_timeout(Some(wait))?;
        match io.sock.recv_from(&mut buf) {
            Ok((n, SocketAddr::V4(from))) => {
                if let Ok(msg) = Msg::decode(&buf[..n]) {
                    let acts = agent.on_message(now(), *from.ip(), msg);
                    io.handle(acts, None);
                }
            }
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
        accept_all(&listener, &io.inbound);
        while let Ok(got) = from_helpers.try_recv() {
            match got {
                Inbound::Request { from, msg, conn } => {
                    let acts = agent.on_stream(now(), from, msg);
                    io.handle(acts, Some((from, conn)));
                }
                Inbound::Answer { from, msg } => {
                    let acts = agent.on_stream(now(), from, msg);
                    io.handle(acts, None);
                }
            }
        }
    }
    Ok(())
}

/// Takes every pending connection off `listener` and reads its request on
/// a helper thread.
fn accept_all(listener: &TcpListener, inbound: &Sender<Inbound>) {
    loop {
        match listener.accept() {
            Ok((mut conn, SocketAddr::V4(peer))) => {
                let from = *peer.ip();
                let inbound = inbound.clone();
                helper(move || {
                    let deadline = crate::clock::now() + TCP_TIMEOUT;
                    if conn.set_nonblocking(false).is_err() {
                        return;
                    }
                    if let Ok(msg) = read_frame(&mut conn, deadline) {
                        let _ = inbound.send(Inbound::Request { from, msg, conn });
                    }
                });
            }
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // WouldBlock: none left; other errors (e.g. out of fds): retry
            // on the next turn of the loop.
            Err(_) => return,
        }
    }
}

/// Runs `f` on a detached thread (in the caller's namespace). If no thread
/// can be spawned the exchange is lost, as a failed connection would be.
fn helper(f: impl FnOnce() + Send + 'static) {
    let _ = std::thread::Builder::new()
        .name("memberlist-tcp".to_string())
        .spawn(f);
}

/// One TCP exchange as the requester: connect to `to`'s memberlist port,
/// send `msg`, read the answer, all within [`TCP_TIMEOUT`].
fn exchange(to: Ipv4Addr, msg: &Msg) -> io::Result<Msg> {
    let deadline = crate::clock::now() + TCP_TIMEOUT;
    let addr = SocketAddr::from((to, MEMBERLIST_PORT));
    let mut conn = TcpStream::connect_timeout(&addr, remaining(deadline)?)?;
    write_frame(&mut conn, msg, deadline)?;
    read_frame(&mut conn, deadline)
}

/// Time left until `deadline`, or `TimedOut` if none (a zero socket
/// timeout would be refused).
fn remaining(deadline: Instant) -> io::Result<Duration> {
    let left = deadline.saturating_duration_since(crate::clock::now());
    if left.is_zero() {
        Err(ErrorKind::TimedOut.into())
    } else {
        Ok(left)
    }
}

fn write_frame(conn: &mut TcpStream, msg: &Msg, deadline: Instant) -> io::Result<()> {
    let body = msg.encode();
    let len = u32::try_from(body.len()).map_err(|_| io::Error::from(ErrorKind::InvalidInput))?;
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(&body);
    let mut at = 0;
    while at < frame.len() {
        conn.set_write_timeout(Some(remaining(deadline)?))?;
        match conn.write(&frame[at..]) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => at += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn read_frame(conn: &mut TcpStream, deadline: Instant) -> io::Result<Msg> {
    let mut len = [0u8; 4];
    read_full(conn, &mut len, deadline)?;
    let len = usize::try_from(u32::from_be_bytes(len))
        .ok()
        .filter(|&n| n <= MAX_FRAME)
        .ok_or(io::Error::from(ErrorKind::InvalidData))?;
    let mut body = vec![0u8; len];
    read_full(conn, &mut body, deadline)?;
    Msg::decode(&body).map_err(|_| ErrorKind::InvalidData.into())
}

/// Fills `buf`, giving up at `deadline`.
fn read_full(conn: &mut TcpStream, buf: &mut [u8], deadline: Instant) -> io::Result<()> {
    let mut at = 0;
    while at < buf.len() {
        conn.set_read_timeout(Some(remaining(deadline)?))?;
        match conn.read(&mut buf[at..]) {
            Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
            Ok(n) => at += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
