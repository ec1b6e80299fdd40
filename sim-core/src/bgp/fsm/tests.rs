use std::collections::{BTreeMap, VecDeque};

use ipnet::Ipv4Net;
use proptest::prelude::*;

use super::*;
use crate::wire::bgp::{AS_TRANS, update_error};

const A_ID: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const B_ID: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const A_AS: u32 = 4_200_000_001;
const B_AS: u32 = 64513;

fn secs(n: u64) -> SimDuration {
    SimDuration::from_secs(n)
}

fn at(n: u64) -> SimTime {
    SimTime::ZERO + secs(n)
}

/// The active side: a node in a 4-byte private AS, keepalive 5 s, hold 90 s.
fn cfg_a() -> SessionConfig {
    SessionConfig {
        local_as: A_AS,
        local_id: A_ID,
        peer_addr: B_ID,
        peer_as: RemoteAs::External,
        hold: secs(90),
        keepalive: secs(5),
        connect_retry: secs(120),
        passive: false,
        graceful_restart: None,
        connect_delay: None,
    }
}

/// The passive side: a router with hold 30 s and keepalive 60 s, GR 120 s.
fn cfg_b() -> SessionConfig {
    SessionConfig {
        local_as: B_AS,
        local_id: B_ID,
        peer_addr: A_ID,
        peer_as: RemoteAs::Asn(A_AS),
        hold: secs(30),
        keepalive: secs(60),
        connect_retry: secs(120),
        passive: true,
        graceful_restart: Some(120),
        connect_delay: None,
    }
}

/// An owned [`Event`], for the wire's queue.
#[derive(Clone, Debug)]
enum Input {
    Start,
    Stop,
    TcpConnected,
    TcpFailed,
    Bytes(Vec<u8>),
    Timer(TimerKind, u64),
}

impl Input {
    fn event(&self) -> Event<'_> {
        match self {
            Input::Start => Event::Start,
            Input::Stop => Event::Stop,
            Input::TcpConnected => Event::TcpConnected,
            Input::TcpFailed => Event::TcpFailed,
            Input::Bytes(b) => Event::Bytes(b),
            Input::Timer(kind, token) => Event::Timer(*kind, *token),
        }
    }
}

/// Two sessions joined by an instant, lossless TCP connection that cuts
/// every message into `chunk`-byte pieces. A `dead` side gets nothing and
/// fires no timers.
struct Wire {
    now: SimTime,
    s: [Session; 2],
    timers: [BTreeMap<TimerKind, (SimTime, u64)>; 2],
    queue: VecDeque<(usize, Input)>,
    connected: bool,
    dead: [bool; 2],
    chunk: usize,
    /// Every action, with when and which side.
    log: Vec<(SimTime, usize, Action)>,
    /// When each side last got bytes.
    last_rx: [SimTime; 2],
}

impl Wire {
    fn new(a: SessionConfig, b: SessionConfig) -> Wire {
        Wire {
            now: SimTime::ZERO,
            s: [Session::new(a).unwrap(), Session::new(b).unwrap()],
            timers: [BTreeMap::new(), BTreeMap::new()],
            queue: VecDeque::new(),
            connected: false,
            dead: [false; 2],
            chunk: usize::MAX,
            log: vec![],
            last_rx: [SimTime::ZERO; 2],
        }
    }

    /// Both started, run until `until`.
    fn started(a: SessionConfig, b: SessionConfig, until: SimTime) -> Wire {
        let mut w = Wire::new(a, b);
        w.push(1, Input::Start);
        w.push(0, Input::Start);
        w.run_until(until);
        w
    }

    fn push(&mut self, side: usize, input: Input) {
        self.queue.push_back((side, input));
    }

    fn drain(&mut self) {
        while let Some((side, input)) = self.queue.pop_front() {
            if self.dead[side] {
                continue;
            }
            if matches!(input, Input::Bytes(_)) {
                self.last_rx[side] = self.now;
            }
            let actions = self.s[side].handle(self.now, input.event());
            self.apply(side, actions);
        }
    }

    fn apply(&mut self, side: usize, actions: Vec<Action>) {
        let peer = 1 - side;
        for action in actions {
            match &action {
                Action::Connect => {
                    if self.dead[peer] {
                        // The SYN goes unanswered; ConnectRetry deals with it.
                    } else if matches!(self.s[peer].state(), State::Active | State::Connect) {
                        self.connected = true;
                        self.push(side, Input::TcpConnected);
                        self.push(peer, Input::TcpConnected);
                    } else {
                        self.push(side, Input::TcpFailed);
                    }
                }
                Action::Send { bytes, .. } if self.connected => {
                    for piece in bytes.chunks(self.chunk.min(bytes.len())) {
                        self.push(peer, Input::Bytes(piece.to_vec()));
                    }
                }
                Action::Close if self.connected => {
                    self.connected = false;
                    self.push(peer, Input::TcpFailed);
                }
                Action::SetTimer { kind, at, token } => {
                    self.timers[side].insert(*kind, (*at, *token));
                }
                _ => {}
            }
            self.log.push((self.now, side, action));
        }
    }

    /// Runs queued events, then timers in deadline order, up to `until`.
    fn run_until(&mut self, until: SimTime) {
        loop {
            self.drain();
            let next = (0..2)
                .filter(|&side| !self.dead[side])
                .flat_map(|side| {
                    self.timers[side]
                        .iter()
                        .map(move |(kind, (at, token))| (*at, side, *kind, *token))
                })
                .min();
            match next {
                Some((at, side, kind, token)) if at <= until => {
                    self.timers[side].remove(&kind);
                    // A side back from the dead may hold past deadlines.
                    self.now = self.now.max(at);
                    self.push(side, Input::Timer(kind, token));
                }
                _ => break,
            }
        }
        self.now = until;
    }

    /// Side `side`'s actions matching `f`, with their times.
    fn actions<T>(&self, side: usize, f: impl Fn(&Action) -> Option<T>) -> Vec<(SimTime, T)> {
        self.log
            .iter()
            .filter(|(_, s, _)| *s == side)
            .filter_map(|(t, _, a)| f(a).map(|x| (*t, x)))
            .collect()
    }

    fn downs(&self, side: usize) -> Vec<(SimTime, DownReason)> {
        self.actions(side, |a| match a {
            Action::Down { reason } => Some(reason.clone()),
            _ => None,
        })
    }

    fn sent(&self, side: usize) -> Vec<(SimTime, BgpMessage)> {
        self.actions(side, |a| match a {
            Action::Send { message, .. } => Some(message.clone()),
            _ => None,
        })
    }

    fn notifications_sent(&self, side: usize) -> Vec<(SimTime, Notification)> {
        self.sent(side)
            .into_iter()
            .filter_map(|(t, m)| match m {
                BgpMessage::Notification(n) => Some((t, n)),
                _ => None,
            })
            .collect()
    }
}

fn cease_admin() -> Notification {
    Notification::cease(cease::ADMINISTRATIVE_SHUTDOWN)
}

#[test]
fn state_names_are_gobgps() {
    let names: Vec<_> = State::ALL.iter().map(|s| s.name()).collect();
    assert_eq!(
        names,
        [
            "Idle",
            "Connect",
            "Active",
            "OpenSent",
            "OpenConfirm",
            "Established"
        ]
    );
    assert_eq!(Session::new(cfg_a()).unwrap().state_name(), "Idle");
}

#[test]
fn config_is_validated() {
    let with = |f: fn(&mut SessionConfig)| {
        let mut c = cfg_a();
        f(&mut c);
        Session::new(c).err()
    };
    assert_eq!(with(|c| c.hold = secs(2)), Some(ConfigError::Hold));
    assert_eq!(with(|c| c.hold = secs(70_000)), Some(ConfigError::Hold));
    assert_eq!(with(|c| c.hold = SimDuration::ZERO), None);
    assert_eq!(
        with(|c| c.local_id = Ipv4Addr::UNSPECIFIED),
        Some(ConfigError::Identifier)
    );
    assert_eq!(
        with(|c| c.connect_retry = SimDuration::ZERO),
        Some(ConfigError::ConnectRetry)
    );
    assert_eq!(
        with(|c| c.graceful_restart = Some(4096)),
        Some(ConfigError::RestartTime)
    );
}

#[test]
fn start_connects_or_listens() {
    let mut a = Session::new(cfg_a()).unwrap();
    let actions = a.handle(at(1), Event::Start);
    assert_eq!(a.state(), State::Connect);
    assert_eq!(actions[0], Action::Connect);
    assert!(matches!(
        actions[1],
        Action::SetTimer { kind: TimerKind::ConnectRetry, at: t, .. } if t == at(121)
    ));
    let mut b = Session::new(cfg_b()).unwrap();
    let actions = b.handle(at(1), Event::Start);
    assert_eq!(b.state(), State::Active);
    assert!(matches!(
        actions[..],
        [Action::SetTimer {
            kind: TimerKind::ConnectRetry,
            ..
        }]
    ));
}

#[test]
fn our_open_carries_the_capabilities() {
    let mut a = Session::new(cfg_a()).unwrap();
    a.handle(at(0), Event::Start);
    let actions = a.handle(at(1), Event::TcpConnected);
    assert_eq!(a.state(), State::OpenSent);
    let Action::Send {
        bytes,
        message: BgpMessage::Open(open),
    } = &actions[0]
    else {
        panic!("{actions:?}")
    };
    assert_eq!(
        BgpMessage::parse(bytes, false).unwrap(),
        BgpMessage::Open(open.clone())
    );
    // RFC 6793 §3: AS_TRANS in My AS, the real AS in the capability.
    assert_eq!(open.my_as, AS_TRANS);
    assert_eq!(open.asn(), A_AS);
    assert_eq!((open.hold_time, open.bgp_id), (90, A_ID));
    assert!(open.capabilities.contains(&Capability::RouteRefresh));
    assert!(
        open.capabilities
            .contains(&Capability::Multiprotocol(AfiSafi::IPV4_UNICAST))
    );
    // The OPEN-wait hold timer: 4 minutes (§8.2.2).
    assert!(actions.contains(&Action::SetTimer {
        kind: TimerKind::Hold,
        at: at(1) + OPEN_WAIT_HOLD,
        token: a.timer_token(TimerKind::Hold).unwrap(),
    }));
    assert_eq!(a.timer_token(TimerKind::ConnectRetry), None);

    let mut b = Session::new(cfg_b()).unwrap();
    b.handle(at(0), Event::Start);
    let actions = b.handle(at(1), Event::TcpConnected);
    let Action::Send {
        message: BgpMessage::Open(open),
        ..
    } = &actions[0]
    else {
        panic!("{actions:?}")
    };
    assert_eq!(open.my_as, 64513);
    assert!(open.capabilities.iter().any(|c| matches!(
        c,
        Capability::GracefulRestart(gr) if gr.restart_time == 120 && !gr.restarting
    )));
}

#[test]
fn both_reach_established_and_keepalives_hold_the_session() {
    let mut w = Wire::started(cfg_a(), cfg_b(), at(3600));
    for side in 0..2 {
        assert_eq!(w.s[side].state(), State::Established, "side {side}");
        assert_eq!(w.s[side].established_count(), 1);
        assert_eq!(w.s[side].negotiated_hold(), Some(secs(30)));
        assert!(w.downs(side).is_empty());
        assert!(w.notifications_sent(side).is_empty());
        assert_eq!(w.s[side].last_state_change(), SimTime::ZERO);
    }
    // min(5, 30/3) and min(60, 30/3).
    assert_eq!(w.s[0].keepalive_interval(), Some(secs(5)));
    assert_eq!(w.s[1].keepalive_interval(), Some(secs(10)));
    assert!(w.s[0].four_octet_as() && w.s[1].four_octet_as());
    let est = w.actions(0, |a| match a {
        Action::Established {
            hold,
            peer_id,
            peer_as,
            peer_gr,
        } => Some((*hold, *peer_id, *peer_as, *peer_gr)),
        _ => None,
    });
    assert_eq!(est, [(SimTime::ZERO, (secs(30), B_ID, B_AS, Some(120)))]);
    let est = w.actions(1, |a| match a {
        Action::Established {
            peer_as, peer_gr, ..
        } => Some((*peer_as, *peer_gr)),
        _ => None,
    });
    assert_eq!(est, [(SimTime::ZERO, (A_AS, None))]);
    // One OPEN and one KEEPALIVE at 0 s, then a KEEPALIVE every interval.
    let keepalives = |side| {
        w.sent(side)
            .iter()
            .filter(|(_, m)| *m == BgpMessage::Keepalive)
            .count()
    };
    assert_eq!(keepalives(0), 1 + 3600 / 5);
    assert_eq!(keepalives(1), 1 + 3600 / 10);
    assert_eq!(w.s[0].messages_sent(), w.s[1].messages_received());
    assert_eq!(w.s[1].messages_sent(), w.s[0].messages_received());
    assert_eq!(w.s[0].messages_sent(), 2 + 3600 / 5);
    // Still fine much later, with messages cut into 7-byte pieces.
    w.chunk = 7;
    w.run_until(at(7200));
    assert_eq!(w.s[0].state(), State::Established);
    assert_eq!(w.s[1].state(), State::Established);
}

#[test]
fn hold_time_zero_runs_no_timers() {
    let mut a = cfg_a();
    a.hold = SimDuration::ZERO;
    let w = Wire::started(a, cfg_b(), at(3600));
    for side in 0..2 {
        assert_eq!(w.s[side].state(), State::Established);
        assert_eq!(w.s[side].negotiated_hold(), Some(SimDuration::ZERO));
        assert_eq!(w.s[side].keepalive_interval(), None);
        assert_eq!(w.s[side].timer_token(TimerKind::Hold), None);
        assert_eq!(w.s[side].timer_token(TimerKind::Keepalive), None);
        // OPEN and one KEEPALIVE only.
        assert_eq!(w.s[side].messages_sent(), 2);
    }
}

#[test]
fn an_update_arrives_byte_exact() {
    let mut w = Wire::started(cfg_a(), cfg_b(), at(10));
    w.chunk = 3;
    let prefixes: Vec<Ipv4Net> = vec![
        "10.244.1.0/24".parse().unwrap(),
        "10.96.0.10/32".parse().unwrap(),
    ];
    let update = Update::announce(prefixes, A_ID, vec![A_AS]);
    let actions = w.s[0].send_update(w.now, &update).unwrap();
    let Action::Send { bytes, .. } = &actions[0] else {
        panic!("{actions:?}")
    };
    let sent_bytes = bytes.clone();
    w.apply(0, actions);
    w.drain();
    let got = w.actions(1, |a| match a {
        Action::Received(u) => Some(u.clone()),
        _ => None,
    });
    assert_eq!(got, [(at(10), update.clone())]);
    // Through the codec and back: the same bytes (4-octet AS in AS_PATH).
    let again = BgpMessage::Update(got[0].1.clone()).to_bytes(true).unwrap();
    assert_eq!(again, sent_bytes);
    assert_eq!(w.s[0].updates_sent(), 1);
    assert_eq!(w.s[1].updates_received(), 1);
    // The codec's refusal comes back to the caller.
    let bad = Update::withdraw(vec![Ipv4Net::new(A_ID, 24).unwrap()]);
    assert!(w.s[0].send_update(w.now, &bad).is_err());
    // Nothing is sent outside Established.
    let mut idle = Session::new(cfg_a()).unwrap();
    assert_eq!(idle.send_update(at(0), &update), Ok(vec![]));
}

#[test]
fn a_dead_peer_expires_the_hold_timer_then_we_retry() {
    let mut w = Wire::started(cfg_a(), cfg_b(), at(100));
    // B stops at 103 s: after its keepalive at 100 s.
    w.run_until(at(103));
    w.dead[1] = true;
    let last = w.last_rx[0];
    assert_eq!(last, at(100));
    w.run_until(at(500));
    let hold_expired = Notification::hold_timer_expired();
    assert_eq!(w.notifications_sent(0), [(last + secs(30), hold_expired)]);
    let downs = w.downs(0);
    assert_eq!(downs.len(), 1);
    assert_eq!(downs[0].0, last + secs(30));
    let reason = &downs[0].1;
    assert_eq!(reason.cause, DownCause::HoldTimerExpired);
    assert_eq!(reason.peer_gr, Some(120));
    assert!(reason.was_established && reason.had_notification());
    assert!(!reason.keeps_stale_routes());
    assert_eq!(w.s[0].last_down(), Some(reason));
    // Idle, then a connect every ConnectRetry (the SYNs go unanswered).
    let connects: Vec<SimTime> = w
        .actions(0, |a| matches!(a, Action::Connect).then_some(()))
        .into_iter()
        .map(|(t, ())| t)
        .collect();
    let down_at = last + secs(30);
    assert_eq!(
        connects,
        [
            SimTime::ZERO,
            down_at + secs(120),
            down_at + secs(240),
            down_at + secs(360)
        ]
    );
    assert_eq!(w.s[0].state(), State::Connect);
    assert_eq!(w.s[0].established_count(), 1);
}

#[test]
fn the_session_comes_back_after_the_peer_does() {
    let mut w = Wire::started(cfg_a(), cfg_b(), at(100));
    w.dead[1] = true;
    w.run_until(at(200));
    assert_eq!(w.s[0].state(), State::Idle);
    // B comes back; its stale connection sees the reset.
    w.dead[1] = false;
    w.connected = false;
    w.push(1, Input::TcpFailed);
    w.run_until(at(1000));
    assert_eq!(w.s[0].state(), State::Established);
    assert_eq!(w.s[1].state(), State::Established);
    assert_eq!(w.s[0].established_count(), 2);
    assert_eq!(w.downs(1)[0].1.cause, DownCause::TcpFailure);
}

#[test]
fn a_wrong_peer_as_is_refused() {
    let mut b = cfg_b();
    b.peer_as = RemoteAs::Asn(65000);
    let w = Wire::started(cfg_a(), b, at(1));
    let bad_as = Notification::new(error_code::OPEN_MESSAGE, open_error::BAD_PEER_AS);
    assert_eq!(w.notifications_sent(1), [(SimTime::ZERO, bad_as.clone())]);
    let down = &w.downs(1)[0].1;
    assert_eq!(down.cause, DownCause::NotificationSent(bad_as.clone()));
    assert!(!down.was_established);
    assert_eq!(
        w.downs(0)[0].1.cause,
        DownCause::NotificationReceived(bad_as)
    );
    assert_eq!(w.s[0].state(), State::Idle);
    assert_eq!(w.s[1].state(), State::Idle);
    // An AS other than the configured one, in either width.
    let mut a = cfg_a();
    a.local_as = B_AS;
    let w = Wire::started(a, cfg_b(), at(1));
    assert_eq!(
        w.notifications_sent(1)[0].1.subcode,
        open_error::BAD_PEER_AS
    );
}

/// A session in OpenSent after connecting; the peer's OPEN bytes to feed.
fn open_sent_with_peer_open() -> (Session, Vec<u8>) {
    let mut a = Session::new(cfg_a()).unwrap();
    a.handle(at(0), Event::Start);
    a.handle(at(0), Event::TcpConnected);
    let mut b = Session::new(cfg_b()).unwrap();
    b.handle(at(0), Event::Start);
    let actions = b.handle(at(0), Event::TcpConnected);
    let Action::Send { bytes, .. } = &actions[0] else {
        panic!("{actions:?}")
    };
    (a, bytes.clone())
}

#[test]
fn a_hold_time_of_two_seconds_is_refused() {
    let (mut a, mut open) = open_sent_with_peer_open();
    // Hold Time follows the header, the version and My AS (RFC 4271 §4.2).
    open[HEADER_LEN + 3..HEADER_LEN + 5].copy_from_slice(&2u16.to_be_bytes());
    let actions = a.handle(at(1), Event::Bytes(&open));
    let unacceptable =
        Notification::new(error_code::OPEN_MESSAGE, open_error::UNACCEPTABLE_HOLD_TIME);
    assert_eq!(
        actions[0],
        Action::Send {
            bytes: BgpMessage::Notification(unacceptable.clone())
                .to_bytes(false)
                .unwrap(),
            message: BgpMessage::Notification(unacceptable.clone()),
        }
    );
    assert_eq!(actions[1], Action::Close);
    assert_eq!(
        actions[2],
        Action::Down {
            reason: DownReason {
                cause: DownCause::NotificationSent(unacceptable),
                peer_gr: None,
                was_established: false,
            }
        }
    );
    assert_eq!(a.state(), State::Idle);
    // The automatic restart.
    assert!(matches!(
        actions[3],
        Action::SetTimer { kind: TimerKind::ConnectRetry, at: t, .. } if t == at(121)
    ));
}

#[test]
fn a_bad_identifier_and_a_bad_version_are_refused() {
    // Our own identifier from an iBGP peer (RFC 6286 §2.1).
    let mut a = Session::new(SessionConfig {
        peer_as: RemoteAs::Internal,
        ..cfg_a()
    })
    .unwrap();
    a.handle(at(0), Event::Start);
    a.handle(at(0), Event::TcpConnected);
    let open = BgpMessage::Open(Open {
        my_as: AS_TRANS,
        hold_time: 90,
        bgp_id: A_ID,
        capabilities: vec![Capability::FourOctetAs(A_AS)],
    });
    let actions = a.handle(at(1), Event::Bytes(&open.to_bytes(false).unwrap()));
    assert!(matches!(
        &actions[0],
        Action::Send { message: BgpMessage::Notification(n), .. }
            if (n.code, n.subcode) == (2, open_error::BAD_BGP_IDENTIFIER)
    ));
    let (mut a, mut open) = open_sent_with_peer_open();
    open[HEADER_LEN] = 3;
    let actions = a.handle(at(1), Event::Bytes(&open));
    assert!(matches!(
        &actions[0],
        Action::Send { message: BgpMessage::Notification(n), .. }
            if (n.code, n.subcode) == (2, open_error::UNSUPPORTED_VERSION_NUMBER)
    ));
}

#[test]
fn a_manual_stop_sends_administrative_shutdown() {
    let mut w = Wire::started(cfg_a(), cfg_b(), at(50));
    w.push(0, Input::Stop);
    w.run_until(at(1000));
    assert_eq!(w.notifications_sent(0), [(at(50), cease_admin())]);
    assert_eq!(
        w.downs(0),
        [(at(50), down(DownCause::ManualStop, Some(120)))]
    );
    assert_eq!(
        w.downs(1),
        [(
            at(50),
            down(DownCause::NotificationReceived(cease_admin()), None)
        )]
    );
    // No automatic restart after a ManualStop.
    assert_eq!(w.s[0].state(), State::Idle);
    assert_eq!(w.s[0].last_state_change(), at(50));
    assert_eq!(w.s[0].timer_token(TimerKind::ConnectRetry), None);
    assert_eq!(w.s[0].established_count(), 1);
    assert!(!w.downs(1)[0].1.keeps_stale_routes());
    // Start brings it back.
    w.push(0, Input::Start);
    w.run_until(at(2000));
    assert_eq!(w.s[0].state(), State::Established);
    assert_eq!(w.s[0].established_count(), 2);
}

fn down(cause: DownCause, peer_gr: Option<u16>) -> DownReason {
    DownReason {
        cause,
        peer_gr,
        was_established: true,
    }
}

#[test]
fn a_tcp_failure_with_peer_gr_keeps_stale_routes() {
    let mut w = Wire::started(cfg_a(), cfg_b(), at(50));
    w.connected = false;
    w.push(0, Input::TcpFailed);
    w.push(1, Input::TcpFailed);
    w.drain();
    let reason = &w.downs(0)[0].1;
    assert_eq!(*reason, down(DownCause::TcpFailure, Some(120)));
    assert!(!reason.had_notification());
    assert!(reason.keeps_stale_routes());
    assert_eq!(reason.describe(), "TCP failure");
    // A never advertised GR: B flushes.
    assert!(!w.downs(1)[0].1.keeps_stale_routes());
    assert!(w.notifications_sent(0).is_empty());
    // Active, retrying after ConnectRetry.
    assert_eq!(w.s[0].state(), State::Active);
    assert_eq!(w.s[1].state(), State::Active);
    w.run_until(at(169));
    assert_eq!(w.s[0].state(), State::Active);
    w.run_until(at(170));
    assert_eq!(w.s[0].state(), State::Established);
}

#[test]
fn stale_timer_tokens_are_ignored() {
    let mut w = Wire::started(cfg_a(), cfg_b(), at(1));
    let first_hold = w.actions(0, |a| match a {
        Action::SetTimer {
            kind: TimerKind::Hold,
            token,
            ..
        } => Some(*token),
        _ => None,
    })[0]
        .1;
    w.run_until(at(100));
    let current = w.s[0].timer_token(TimerKind::Hold).unwrap();
    assert_ne!(first_hold, current);
    for kind in [
        TimerKind::Hold,
        TimerKind::Keepalive,
        TimerKind::ConnectRetry,
    ] {
        let actions = w.s[0].handle(w.now, Event::Timer(kind, first_hold));
        assert!(actions.is_empty(), "{kind:?}: {actions:?}");
    }
    assert_eq!(w.s[0].state(), State::Established);
    // The current one fires.
    let actions = w.s[0].handle(w.now, Event::Timer(TimerKind::Hold, current));
    assert!(actions.contains(&Action::Close));
    // And fires once.
    assert!(
        w.s[0]
            .handle(w.now, Event::Timer(TimerKind::Hold, current))
            .is_empty()
    );
}

#[test]
fn unexpected_and_malformed_messages_are_answered() {
    // An UPDATE in OpenSent: FSM error (RFC 6608 §3).
    let (mut a, _) = open_sent_with_peer_open();
    let update = BgpMessage::Update(Update::end_of_rib())
        .to_bytes(false)
        .unwrap();
    let actions = a.handle(at(1), Event::Bytes(&update));
    assert!(matches!(
        &actions[0],
        Action::Send { message: BgpMessage::Notification(n), .. }
            if (n.code, n.subcode) == (error_code::FINITE_STATE_MACHINE, 1)
    ));
    // A broken marker: Message Header Error, then nothing more is read.
    let mut w = Wire::started(cfg_a(), cfg_b(), at(1));
    let mut garbage = vec![0u8; 40];
    garbage[18] = 4;
    let actions = w.s[0].handle(w.now, Event::Bytes(&garbage));
    assert!(matches!(
        &actions[0],
        Action::Send { message: BgpMessage::Notification(n), .. }
            if n.code == error_code::MESSAGE_HEADER
    ));
    assert_eq!(actions.iter().filter(|a| **a == Action::Close).count(), 1);
    assert_eq!(w.s[0].state(), State::Idle);
    // An UPDATE with a bad ORIGIN in Established: the codec's NOTIFICATION.
    let mut w = Wire::started(cfg_a(), cfg_b(), at(1));
    let prefixes = vec!["10.244.1.0/24".parse().unwrap()];
    let mut bytes = BgpMessage::Update(Update::announce(prefixes, A_ID, vec![A_AS]))
        .to_bytes(true)
        .unwrap();
    // Withdrawn length 0, attributes length, then ORIGIN: flags, type, len, value.
    let origin_value = HEADER_LEN + 2 + 2 + 3;
    bytes[origin_value] = 7;
    let actions = w.s[1].handle(w.now, Event::Bytes(&bytes));
    assert!(matches!(
        &actions[0],
        Action::Send { message: BgpMessage::Notification(n), .. }
            if (n.code, n.subcode) == (error_code::UPDATE_MESSAGE, update_error::INVALID_ORIGIN_ATTRIBUTE)
    ));
    // A ROUTE-REFRESH in Established asks the host to re-advertise.
    let mut w = Wire::started(cfg_a(), cfg_b(), at(1));
    let rr = BgpMessage::RouteRefresh(AfiSafi::IPV4_UNICAST)
        .to_bytes(true)
        .unwrap();
    let actions = w.s[1].handle(w.now, Event::Bytes(&rr));
    assert!(actions.contains(&Action::RefreshRequested(AfiSafi::IPV4_UNICAST)));
}

// ---- property ----

fn any_input() -> impl Strategy<Value = Input> {
    let valid = {
        let (_, open) = open_sent_with_peer_open();
        let keepalive = BgpMessage::Keepalive.to_bytes(false).unwrap();
        let update = BgpMessage::Update(Update::announce(
            vec!["10.244.1.0/24".parse().unwrap()],
            B_ID,
            vec![B_AS],
        ))
        .to_bytes(true)
        .unwrap();
        let notification = BgpMessage::Notification(cease_admin())
            .to_bytes(false)
            .unwrap();
        prop::sample::select(vec![open, keepalive, update, notification])
    };
    let kind = prop::sample::select(vec![
        TimerKind::ConnectRetry,
        TimerKind::Hold,
        TimerKind::Keepalive,
    ]);
    prop_oneof![
        Just(Input::Start),
        Just(Input::Stop),
        Just(Input::TcpConnected),
        Just(Input::TcpFailed),
        (kind, 0u64..40).prop_map(|(k, t)| Input::Timer(k, t)),
        prop::collection::vec(any::<u8>(), 0..64).prop_map(Input::Bytes),
        // Valid messages, whole or cut anywhere.
        (valid, any::<prop::sample::Index>()).prop_flat_map(|(bytes, i)| {
            let cut = i.index(bytes.len() + 1);
            prop_oneof![
                Just(Input::Bytes(bytes.clone())),
                Just(Input::Bytes(bytes[..cut].to_vec())),
                Just(Input::Bytes(bytes[cut..].to_vec())),
            ]
        }),
    ]
}

proptest! {
    #[test]
    fn random_events_never_panic(
        passive in any::<bool>(),
        inputs in prop::collection::vec((0u64..400, any_input()), 0..80),
    ) {
        let mut cfg = cfg_a();
        cfg.passive = passive;
        cfg.peer_as = RemoteAs::Asn(B_AS);
        let mut s = Session::new(cfg).unwrap();
        let mut now = SimTime::ZERO;
        for (step, input) in inputs {
            now += secs(step);
            let actions = s.handle(now, input.event());
            prop_assert!(State::ALL.contains(&s.state()));
            prop_assert_eq!(s.state_name(), s.state().name());
            for a in &actions {
                if let Action::SetTimer { at, .. } = a {
                    prop_assert!(*at >= now);
                }
            }
            // Idle runs no session timers (only the automatic restart's).
            if s.state() == State::Idle {
                prop_assert_eq!(s.timer_token(TimerKind::Hold), None);
                prop_assert_eq!(s.timer_token(TimerKind::Keepalive), None);
            }
        }
    }
}

/// A disturbance of a running pair.
#[derive(Clone, Debug)]
enum Trouble {
    Stop(usize),
    Start(usize),
    /// The connection resets under both.
    Reset,
    /// One side stops answering, or comes back (its connection is gone).
    Kill(usize),
    Revive(usize),
}

fn any_trouble() -> impl Strategy<Value = Trouble> {
    prop_oneof![
        (0usize..2).prop_map(Trouble::Stop),
        (0usize..2).prop_map(Trouble::Start),
        Just(Trouble::Reset),
        (0usize..2).prop_map(Trouble::Kill),
        (0usize..2).prop_map(Trouble::Revive),
    ]
}

impl Wire {
    fn revive(&mut self, side: usize) {
        if self.dead[side] {
            self.dead[side] = false;
            if !self.connected {
                self.push(side, Input::TcpFailed);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Whatever happened, two started, reachable speakers are Established
    /// again within a few ConnectRetry periods.
    #[test]
    fn the_pair_always_recovers(
        troubles in prop::collection::vec((1u64..300, any_trouble()), 0..12),
    ) {
        let mut w = Wire::started(cfg_a(), cfg_b(), at(10));
        for (after, trouble) in troubles {
            let until = w.now + secs(after);
            match trouble {
                Trouble::Stop(side) => w.push(side, Input::Stop),
                Trouble::Start(side) => w.push(side, Input::Start),
                Trouble::Reset => {
                    if w.connected {
                        w.connected = false;
                        w.push(0, Input::TcpFailed);
                        w.push(1, Input::TcpFailed);
                    }
                }
                Trouble::Kill(side) => w.dead[side] = true,
                Trouble::Revive(side) => w.revive(side),
            }
            w.run_until(until);
            for side in 0..2 {
                prop_assert!(State::ALL.contains(&w.s[side].state()));
            }
        }
        w.revive(0);
        w.revive(1);
        w.push(0, Input::Start);
        w.push(1, Input::Start);
        let until = w.now + secs(600);
        w.run_until(until);
        prop_assert_eq!(w.s[0].state(), State::Established);
        prop_assert_eq!(w.s[1].state(), State::Established);
    }
}

/// gobgp's connect loop: the first connect of a start waits 5 to 9 whole
/// seconds, drawn from the session's seed; the same seed draws the same.
#[test]
fn a_connect_delay_waits_in_active_before_the_first_connect() {
    let delayed = |seed: u64| SessionConfig {
        connect_delay: Some(ConnectDelay {
            min_secs: 5,
            spread_secs: 5,
            seed,
        }),
        connect_retry: secs(5),
        ..cfg_a()
    };
    let first_connect = |seed: u64| -> u64 {
        let mut s = Session::new(delayed(seed)).unwrap();
        let out = s.handle(at(0), Event::Start);
        assert_eq!(s.state(), State::Active, "no connect yet");
        assert!(!out.contains(&Action::Connect));
        let Some(Action::SetTimer {
            kind,
            at: when,
            token,
        }) = out
            .iter()
            .find(|a| {
                matches!(
                    a,
                    Action::SetTimer {
                        kind: TimerKind::ConnectRetry,
                        ..
                    }
                )
            })
            .cloned()
        else {
            panic!("a ConnectRetry timer: {out:?}")
        };
        let out = s.handle(when, Event::Timer(kind, token));
        assert_eq!(out.first(), Some(&Action::Connect));
        assert_eq!(s.state(), State::Connect);
        when.as_nanos() / 1_000_000_000
    };
    let delays: Vec<u64> = (0..40).map(first_connect).collect();
    assert!(delays.iter().all(|d| (5..10).contains(d)), "{delays:?}");
    assert!(
        delays.iter().any(|d| *d != delays[0]),
        "seeds draw different delays"
    );
    assert_eq!(first_connect(7), first_connect(7));
}
