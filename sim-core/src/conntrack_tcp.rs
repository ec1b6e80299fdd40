//! TCP connection state as Linux conntrack tracks it
//! (`net/netfilter/nf_conntrack_proto_tcp.c`): the state machine of
//! `tcp_conntracks[dir][flag][state]` and the default timeouts
//! (`tcp_timeouts[]`, the `net.netfilter.nf_conntrack_tcp_timeout_*` sysctls).
//!
//! The packet's index is its most significant flag: RST, then SYN (SYN+ACK
//! apart), then FIN, then ACK (`get_conntrack_index`). A transition to
//! "invalid" or "ignore" leaves the state as it was (the kernel marks the
//! packet and moves on). Sequence-number window checks are not modelled:
//! every packet here is in window.
//!
//! Antrea's flow exporter reads the state by name (`stateToString` in
//! `pkg/agent/flowexporter/connections/conntrack_linux.go`) and ends a flow
//! (`flowEndReason` 3) when it sees `TIME_WAIT` or `CLOSE`.

use crate::time::SimDuration;
use crate::wire::TcpFlags;

/// How long a connection lives without packets before its protocol's state
/// machine says otherwise: TCP 300 s until its first packet sets a state;
/// UDP and ICMP 30 s (`nf_conntrack_udp_timeout`, `nf_conntrack_icmp_timeout`;
/// the lab does not give an assured UDP stream Linux's 120 s).
pub fn idle_timeout(proto: u8) -> SimDuration {
    match proto {
        6 => SimDuration::from_secs(300),
        _ => SimDuration::from_secs(30),
    }
}

/// `enum tcp_conntrack`, in the kernel's order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TcpState {
    #[default]
    None,
    SynSent,
    SynRecv,
    Established,
    FinWait,
    CloseWait,
    LastAck,
    TimeWait,
    Close,
    /// Simultaneous open: a SYN seen in reply to a SYN.
    SynSent2,
}

/// Which way a packet goes relative to the connection's first packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CtDir {
    Original,
    Reply,
}

impl TcpState {
    /// The name conntrack prints and Antrea exports (`tcpState`).
    pub fn name(self) -> &'static str {
        match self {
            TcpState::None => "NONE",
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynRecv => "SYN_RECV",
            TcpState::Established => "ESTABLISHED",
            TcpState::FinWait => "FIN_WAIT",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::LastAck => "LAST_ACK",
            TcpState::TimeWait => "TIME_WAIT",
            TcpState::Close => "CLOSE",
            TcpState::SynSent2 => "SYN_SENT2",
        }
    }

    /// How long an entry in this state lives without packets: the kernel's
    /// defaults (`nf_conntrack_tcp_timeout_syn_sent` 120 s, `_syn_recv` 60 s,
    /// `_established` 5 days, `_fin_wait` 120 s, `_close_wait` 60 s,
    /// `_last_ack` 30 s, `_time_wait` 120 s, `_close` 10 s).
    pub fn timeout(self) -> SimDuration {
        let secs = match self {
            TcpState::None | TcpState::SynSent | TcpState::SynSent2 => 120,
            TcpState::SynRecv => 60,
            TcpState::Established => 5 * 24 * 3600,
            TcpState::FinWait => 120,
            TcpState::CloseWait => 60,
            TcpState::LastAck => 30,
            TcpState::TimeWait => 120,
            TcpState::Close => 10,
        };
        SimDuration::from_secs(secs)
    }

    /// How long an entry in this state lives after a packet with `flags`
    /// moved it here: a RST gives CLOSE's timeout, as the kernel does.
    pub fn timeout_after(self, flags: TcpFlags) -> SimDuration {
        if flags.rst {
            TcpState::Close.timeout()
        } else {
            self.timeout()
        }
    }

    /// Whether the kernel's table says *ignore* (sIG) for a packet with
    /// `flags` going `dir`: the packet passes with its connection, but
    /// moves nothing and is not counted. Where [`TcpState::step`] gives
    /// `None` and this is false, the table says *invalid* (sIV): the packet
    /// gets no connection (`+inv`). (tcp_conntracks,
    /// net/netfilter/nf_conntrack_proto_tcp.c: a SYN in SYN_RECV..LAST_ACK,
    /// a replied SYN-ACK after SYN_SENT, a replied ACK in SYN_SENT or
    /// SYN_SENT2.)
    pub fn ignores(self, dir: CtDir, flags: TcpFlags) -> bool {
        use TcpState::*;
        if flags.rst {
            return false;
        }
        match (dir, flags.syn, flags.ack) {
            (CtDir::Original, true, false) => {
                matches!(self, SynRecv | Established | FinWait | CloseWait | LastAck)
            }
            (CtDir::Reply, true, true) => !matches!(self, None | SynSent | SynSent2),
            (CtDir::Reply, false, true) if !flags.fin => matches!(self, SynSent | SynSent2),
            _ => false,
        }
    }

    /// The state after a packet with `flags` going `dir`; unchanged when the
    /// kernel's table says invalid or ignore.
    pub fn next(self, dir: CtDir, flags: TcpFlags) -> TcpState {
        self.step(dir, flags).unwrap_or(self)
    }

    /// The state after a packet with `flags` going `dir`, or `None` when the
    /// kernel's table says invalid or ignore (the kernel then neither moves
    /// the state nor renews the entry's timeout).
    pub fn step(self, dir: CtDir, flags: TcpFlags) -> Option<TcpState> {
        use TcpState::*;
        // Columns: sNO, sSS, sSR, sES, sFW, sCW, sLA, sTW, sCL, sS2.
        // `Keep` stands for sIV and sIG.
        const K: Option<TcpState> = Option::None;
        #[rustfmt::skip]
        const ORIGINAL: [[Option<TcpState>; 10]; 5] = [
            /* syn    */ [Some(SynSent), Some(SynSent), K, K, K, K, K, Some(SynSent), Some(SynSent), Some(SynSent2)],
            /* synack */ [K, K, Some(SynRecv), K, K, K, K, K, K, Some(SynRecv)],
            /* fin    */ [K, K, Some(FinWait), Some(FinWait), Some(LastAck), Some(LastAck), Some(LastAck), Some(TimeWait), Some(Close), K],
            /* ack    */ [Some(Established), K, Some(Established), Some(Established), Some(CloseWait), Some(CloseWait), Some(TimeWait), Some(TimeWait), Some(Close), K],
            /* rst    */ [K, Some(Close), Some(Close), Some(Close), Some(Close), Some(Close), Some(Close), Some(Close), Some(Close), Some(Close)],
        ];
        #[rustfmt::skip]
        const REPLY: [[Option<TcpState>; 10]; 5] = [
            /* syn    */ [K, Some(SynSent2), K, K, K, K, K, Some(SynSent), K, Some(SynSent2)],
            /* synack */ [K, Some(SynRecv), K, K, K, K, K, K, K, Some(SynRecv)],
            /* fin    */ [K, K, Some(FinWait), Some(FinWait), Some(LastAck), Some(LastAck), Some(LastAck), Some(TimeWait), Some(Close), K],
            /* ack    */ [K, K, Some(SynRecv), Some(Established), Some(CloseWait), Some(CloseWait), Some(TimeWait), Some(TimeWait), Some(Close), K],
            /* rst    */ [K, Some(Close), Some(Close), Some(Close), Some(Close), Some(Close), Some(Close), Some(Close), Some(Close), K],
        ];
        let index = if flags.rst {
            4
        } else if flags.syn {
            if flags.ack { 1 } else { 0 }
        } else if flags.fin {
            2
        } else if flags.ack {
            3
        } else {
            // TCP_NONE_SET: every transition is invalid.
            return Option::None;
        };
        let table = match dir {
            CtDir::Original => &ORIGINAL,
            CtDir::Reply => &REPLY,
        };
        table[index][self as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(syn: bool, ack: bool, fin: bool, rst: bool) -> TcpFlags {
        TcpFlags {
            syn,
            ack,
            fin,
            rst,
            ..TcpFlags::default()
        }
    }

    /// SYN, ACK, FIN, RST.
    type Bits = (bool, bool, bool, bool);
    const SYN: Bits = (true, false, false, false);
    const SYNACK: Bits = (true, true, false, false);
    const ACK: Bits = (false, true, false, false);
    const FINACK: Bits = (false, true, true, false);
    const RST: Bits = (false, false, false, true);

    fn walk(steps: &[(CtDir, Bits)]) -> Vec<&'static str> {
        let mut s = TcpState::None;
        steps
            .iter()
            .map(|&(d, (a, b, c, e))| {
                s = s.next(d, f(a, b, c, e));
                s.name()
            })
            .collect()
    }

    use CtDir::{Original as O, Reply as R};

    #[test]
    fn handshake_and_client_close_end_in_time_wait() {
        assert_eq!(
            walk(&[
                (O, SYN),
                (R, SYNACK),
                (O, ACK),
                (O, FINACK),
                (R, FINACK),
                (O, ACK)
            ]),
            [
                "SYN_SENT",
                "SYN_RECV",
                "ESTABLISHED",
                "FIN_WAIT",
                "LAST_ACK",
                "TIME_WAIT"
            ]
        );
    }

    #[test]
    fn server_acks_the_fin_first_then_closes() {
        assert_eq!(
            walk(&[
                (O, SYN),
                (R, SYNACK),
                (O, ACK),
                (O, FINACK),
                (R, ACK),
                (R, FINACK),
                (O, ACK)
            ]),
            [
                "SYN_SENT",
                "SYN_RECV",
                "ESTABLISHED",
                "FIN_WAIT",
                "CLOSE_WAIT",
                "LAST_ACK",
                "TIME_WAIT"
            ]
        );
    }

    #[test]
    fn refused_connect_and_reset_close() {
        assert_eq!(walk(&[(O, SYN), (R, RST)]), ["SYN_SENT", "CLOSE"]);
        assert_eq!(
            walk(&[(O, SYN), (R, SYNACK), (O, RST)]),
            ["SYN_SENT", "SYN_RECV", "CLOSE"]
        );
    }

    #[test]
    fn invalid_packets_keep_the_state() {
        // An ACK before the SYN+ACK, a FIN in SYN_SENT: invalid, ignored.
        assert_eq!(walk(&[(O, SYN), (O, ACK), (O, FINACK)]), ["SYN_SENT"; 3]);
        // Mid-stream pickup (nf_conntrack_tcp_loose=1): an ACK makes ESTABLISHED.
        assert_eq!(walk(&[(O, ACK)]), ["ESTABLISHED"]);
        // A new SYN on a TIME_WAIT entry reopens it.
        let tw = TcpState::TimeWait.next(O, f(true, false, false, false));
        assert_eq!(tw, TcpState::SynSent);
    }

    #[test]
    fn timeouts_are_the_kernels() {
        assert_eq!(TcpState::SynSent.timeout(), SimDuration::from_secs(120));
        assert_eq!(TcpState::SynRecv.timeout(), SimDuration::from_secs(60));
        assert_eq!(
            TcpState::Established.timeout(),
            SimDuration::from_secs(432_000)
        );
        assert_eq!(TcpState::TimeWait.timeout(), SimDuration::from_secs(120));
        assert_eq!(TcpState::Close.timeout(), SimDuration::from_secs(10));
    }
}
