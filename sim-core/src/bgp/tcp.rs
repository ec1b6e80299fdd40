//! TCP for the lab's BGP sessions: smoltcp's TCP (sans-I/O, time injected)
//! on one in-memory IP interface per speaker.
//!
//! A [`TcpHost`] is a speaker's TCP: an smoltcp `Interface` whose device is
//! a pair of queues of IPv4 packets. The host's network stack hands it the
//! packets addressed to its connections ([`TcpHost::deliver`]) and sends
//! what it emits ([`TcpHost::poll`]) out like any packet of the node: routed,
//! resolved and carried by the simulated network, so a session dies when
//! the path does. [`TcpHost::next_wake`] says when smoltcp's own timers
//! (retransmission, TIME-WAIT) next need a poll.
//!
//! Time is the simulator's, in whole microseconds (smoltcp's resolution);
//! the initial sequence numbers and ephemeral ports come from smoltcp's
//! generator, seeded from the run's seed: the same seed gives the same
//! bytes. Buffers are 8 KiB each way: a BGP message is at most 4096 bytes.

use std::collections::VecDeque;
use std::net::Ipv4Addr;

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::time::Instant;
use smoltcp::wire::{HardwareAddress, IpCidr};

use crate::time::SimTime;

/// Bytes of each connection's send and receive buffer.
const BUFFER: usize = 8 * 1024;
/// The packets a host may carry: an Ethernet MTU.
const MTU: usize = 1500;

/// A queue pair standing in for the speaker's network interface.
#[derive(Debug, Default)]
struct Pipe {
    inbound: VecDeque<Vec<u8>>,
    outbound: Vec<Vec<u8>>,
}

struct RxToken(Vec<u8>);
struct TxToken<'a>(&'a mut Vec<Vec<u8>>);

impl phy::RxToken for RxToken {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut packet = vec![0u8; len];
        let r = f(&mut packet);
        self.0.push(packet);
        r
    }
}

impl Device for Pipe {
    type RxToken<'a> = RxToken;
    type TxToken<'a> = TxToken<'a>;

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = MTU;
        caps
    }

    fn receive(&mut self, _now: Instant) -> Option<(RxToken, TxToken<'_>)> {
        let packet = self.inbound.pop_front()?;
        Some((RxToken(packet), TxToken(&mut self.outbound)))
    }

    fn transmit(&mut self, _now: Instant) -> Option<TxToken<'_>> {
        Some(TxToken(&mut self.outbound))
    }
}

/// One connection of a [`TcpHost`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conn(SocketHandle);

/// A speaker's TCP.
pub struct TcpHost {
    iface: Interface,
    pipe: Pipe,
    sockets: SocketSet<'static>,
}

fn instant(t: SimTime) -> Instant {
    Instant::from_micros((t.as_nanos() / 1_000) as i64)
}

impl TcpHost {
    /// A host at `addr` (on a `/prefix_len` subnet) that sends what is not
    /// on that subnet towards `gateway`; `seed` seeds smoltcp's generator.
    pub fn new(
        addr: Ipv4Addr,
        prefix_len: u8,
        gateway: Option<Ipv4Addr>,
        seed: u64,
        now: SimTime,
    ) -> TcpHost {
        let mut pipe = Pipe::default();
        let mut config = Config::new(HardwareAddress::Ip);
        config.random_seed = seed;
        let mut iface = Interface::new(config, &mut pipe, instant(now));
        iface.update_ip_addrs(|addrs| {
            addrs
                .push(IpCidr::new(addr.into(), prefix_len))
                .expect("one address fits");
        });
        if let Some(gw) = gateway {
            iface
                .routes_mut()
                .add_default_ipv4_route(gw)
                .expect("one route fits");
        }
        TcpHost {
            iface,
            pipe,
            sockets: SocketSet::new(Vec::new()),
        }
    }

    fn socket() -> tcp::Socket<'static> {
        let mut s = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; BUFFER]),
            tcp::SocketBuffer::new(vec![0; BUFFER]),
        );
        // Both speakers set TCP_NODELAY (FRR's bgpd in `bgp_network.c`,
        // gobgp through Go's default): a message leaves at once rather
        // than after the peer's delayed ACK of the one before.
        s.set_nagle_enabled(false);
        s
    }

    /// Opens a connection to `remote` from `local_port` (active open).
    pub fn connect(
        &mut self,
        remote: (Ipv4Addr, u16),
        local_port: u16,
    ) -> Result<Conn, tcp::ConnectError> {
        let mut s = Self::socket();
        s.connect(self.iface.context(), (remote.0, remote.1), local_port)?;
        Ok(Conn(self.sockets.add(s)))
    }

    /// Waits for one connection on `port` (passive open); listen again for
    /// another.
    pub fn listen(&mut self, port: u16) -> Result<Conn, tcp::ListenError> {
        let mut s = Self::socket();
        s.listen(port)?;
        Ok(Conn(self.sockets.add(s)))
    }

    /// An IPv4 packet the network brought for this host.
    pub fn deliver(&mut self, packet: Vec<u8>) {
        self.pipe.inbound.push_back(packet);
    }

    /// Lets smoltcp run at `now`: it takes what was delivered, moves its
    /// connections on, and gives back the IPv4 packets to send.
    pub fn poll(&mut self, now: SimTime) -> Vec<Vec<u8>> {
        self.iface
            .poll(instant(now), &mut self.pipe, &mut self.sockets);
        std::mem::take(&mut self.pipe.outbound)
    }

    /// When smoltcp next needs a poll though nothing arrives (a
    /// retransmission, a delayed ACK), if ever.
    pub fn next_wake(&mut self, now: SimTime) -> Option<SimTime> {
        self.iface
            .poll_at(instant(now), &self.sockets)
            .map(|at| SimTime(at.total_micros().max(0) as u64 * 1_000))
    }

    /// Queues `bytes` on `c`; how many fitted (none unless established).
    pub fn send(&mut self, c: Conn, bytes: &[u8]) -> usize {
        let s = self.sockets.get_mut::<tcp::Socket>(c.0);
        if !s.may_send() {
            return 0;
        }
        s.send_slice(bytes).unwrap_or(0)
    }

    /// Everything `c` has received since the last call.
    pub fn recv(&mut self, c: Conn) -> Vec<u8> {
        let s = self.sockets.get_mut::<tcp::Socket>(c.0);
        let mut out = Vec::new();
        let mut buf = [0u8; 2048];
        while s.can_recv() {
            match s.recv_slice(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
        out
    }

    /// The connection's TCP state (`ESTABLISHED`, `SYN-SENT`, ...).
    pub fn state(&self, c: Conn) -> tcp::State {
        self.sockets.get::<tcp::Socket>(c.0).state()
    }

    /// The peer's address and port, once connected.
    pub fn remote(&self, c: Conn) -> Option<(Ipv4Addr, u16)> {
        let ep = self.sockets.get::<tcp::Socket>(c.0).remote_endpoint()?;
        match ep.addr {
            smoltcp::wire::IpAddress::Ipv4(a) => Some((a, ep.port)),
        }
    }

    /// Sends FIN once the queued bytes are out (an orderly close).
    pub fn close(&mut self, c: Conn) {
        self.sockets.get_mut::<tcp::Socket>(c.0).close();
    }

    /// Sends RST and forgets the connection's state.
    pub fn abort(&mut self, c: Conn) {
        self.sockets.get_mut::<tcp::Socket>(c.0).abort();
    }

    /// Forgets a closed connection.
    pub fn remove(&mut self, c: Conn) {
        self.sockets.remove(c.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::SimDuration;

    const A: Ipv4Addr = Ipv4Addr::new(10, 160, 1, 25);
    const R: Ipv4Addr = Ipv4Addr::new(10, 160, 1, 1);

    /// Carries packets between two hosts until neither has anything to
    /// say or a timer is due, `drop` deciding which packets are lost;
    /// returns every packet sent, in order.
    fn run(
        a: &mut TcpHost,
        b: &mut TcpHost,
        now: &mut SimTime,
        until: SimTime,
        drop: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Vec<Vec<u8>> {
        let mut seen = Vec::new();
        while *now <= until {
            let mut moved = false;
            for p in a.poll(*now) {
                moved = true;
                seen.push(p.clone());
                if !drop(&p) {
                    b.deliver(p);
                }
            }
            for p in b.poll(*now) {
                moved = true;
                seen.push(p.clone());
                if !drop(&p) {
                    a.deliver(p);
                }
            }
            if moved {
                *now += SimDuration::from_micros(100);
                continue;
            }
            let next = [a.next_wake(*now), b.next_wake(*now)]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= until => *now = t.max(*now + SimDuration::from_micros(1)),
                _ => break,
            }
        }
        seen
    }

    /// [`run`] for a second more, nothing lost.
    fn one_second(a: &mut TcpHost, b: &mut TcpHost, now: &mut SimTime) {
        let until = *now + SimDuration::from_secs(1);
        run(a, b, now, until, &mut |_| false);
    }

    fn pair(seed: u64) -> (TcpHost, TcpHost, Conn, Conn) {
        let mut node = TcpHost::new(A, 24, None, seed, SimTime::ZERO);
        let mut router = TcpHost::new(R, 24, None, seed ^ 1, SimTime::ZERO);
        let listening = router.listen(179).expect("listens");
        let conn = node.connect((R, 179), 40000).expect("connects");
        (node, router, conn, listening)
    }

    #[test]
    fn a_session_connects_and_carries_a_message_both_ways() {
        let (mut node, mut router, c, l) = pair(7);
        let mut now = SimTime::ZERO;
        let packets = run(
            &mut node,
            &mut router,
            &mut now,
            SimTime::ZERO + SimDuration::from_secs(1),
            &mut |_| false,
        );
        assert_eq!(node.state(c), tcp::State::Established);
        assert_eq!(router.state(l), tcp::State::Established);
        assert_eq!(router.remote(l), Some((A, 40000)));
        // SYN, SYN-ACK, ACK: real IPv4 the simulator's parser reads.
        assert!(packets.len() >= 3);
        let syn = crate::wire::Ipv4Pkt::parse(&packets[0]).expect("an IPv4 packet");
        assert_eq!((syn.src, syn.dst), (A, R));
        // 4096 bytes (the largest BGP message) one way, a short one back.
        let message: Vec<u8> = (0..4096u32).map(|i| (i % 251) as u8).collect();
        assert_eq!(node.send(c, &message), message.len());
        one_second(&mut node, &mut router, &mut now);
        assert_eq!(router.recv(l), message);
        assert_eq!(router.send(l, b"KEEPALIVE"), 9);
        one_second(&mut node, &mut router, &mut now);
        assert_eq!(node.recv(c), b"KEEPALIVE");
    }

    #[test]
    fn a_lost_syn_is_sent_again_and_the_same_seed_gives_the_same_bytes() {
        let trace = |seed: u64| {
            let (mut node, mut router, c, _) = pair(seed);
            let mut now = SimTime::ZERO;
            let mut lost = false;
            let packets = run(
                &mut node,
                &mut router,
                &mut now,
                SimTime::ZERO + SimDuration::from_secs(10),
                &mut |_| {
                    // The first packet (the SYN) is lost.
                    !std::mem::replace(&mut lost, true)
                },
            );
            assert_eq!(node.state(c), tcp::State::Established);
            (packets, now)
        };
        let (first, at) = trace(3);
        // The SYN went again after smoltcp's retransmission timeout.
        assert!(at > SimTime::ZERO + SimDuration::from_millis(500), "{at}");
        assert_eq!(first, trace(3).0);
        assert_ne!(first, trace(4).0);
    }
}
