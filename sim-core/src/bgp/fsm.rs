//! One BGP-4 peering as one speaker sees it: the session finite state machine
//! of RFC 4271 §8, without I/O.
//!
//! The host (the simulator) owns the TCP connection and the clock. It feeds a
//! [`Session`] [`Event`]s — start and stop, TCP connected or failed, the bytes
//! TCP delivered, a timer's expiry — each with the current [`SimTime`], and
//! executes the [`Action`]s it gets back: connect, send these bytes, close,
//! set a timer, and the reports a RIB needs (Established, an UPDATE to apply,
//! Down and why).
//!
//! Decisions:
//! - **Stream bytes in.** [`Event::Bytes`] takes whatever TCP delivered; the
//!   session keeps partial messages and cuts whole ones with
//!   [`message_len`]. A message that does not parse is answered with the
//!   NOTIFICATION the codec attached to the error (RFC 4271 §6).
//! - **Timers are deadlines.** [`Action::SetTimer`] names a [`TimerKind`], an
//!   instant and a token. A [`Event::Timer`] whose token is not the current
//!   one for its kind is stale and ignored; stopping a timer forgets its
//!   token, restarting one hands out a new token. The host never cancels.
//! - **Automatic restart.** Real speakers do not stay down after an error:
//!   FRR and gobgp reconnect by themselves. This is modelled as RFC 4271's
//!   AutomaticStart (§8.1.1, Event 3) with the ConnectRetry timer as the
//!   delay: after a NOTIFICATION (sent or received) the session is Idle with
//!   the ConnectRetry timer running and starts again when it fires; after a
//!   TCP failure it waits in Active (listening) with the ConnectRetry timer
//!   running, as §8.2.2 says for OpenSent, and an active speaker connects
//!   again when it fires. Only [`Event::Stop`] (ManualStop) leaves the
//!   session Idle for good, until the next [`Event::Start`].
//! - **No connection collisions** (§6.8). One session owns one connection.
//!   antlab makes one side of every peering passive — the router with a
//!   `bgp listen range` waits, listed neighbours and nodes connect — so two
//!   connections for one peering cannot happen. A second
//!   [`Event::TcpConnected`] while a connection is up is ignored.
//! - **Keepalive interval.** Our configured keepalive, but never more than a
//!   third of the negotiated hold time in whole seconds (RFC 4271 §10
//!   suggests one third; FRR takes `min(keepalive, hold / 3)` the same way).
//!   A configured keepalive of 0 means "one third of the hold time". A
//!   negotiated hold time of 0 runs neither the hold nor the keepalive timer
//!   (§4.2).
//! - **What Down tells a RIB.** [`DownReason`] says whether a NOTIFICATION
//!   was sent or received, the hold timer expired (a NOTIFICATION was sent),
//!   TCP failed with no NOTIFICATION, or we were stopped, and whether the
//!   peer had advertised Graceful Restart. A helper keeps the peer's routes
//!   as stale only when the session ended without a NOTIFICATION and the
//!   peer advertised GR (RFC 4724 §4.2): [`DownReason::keeps_stale_routes`].
//! - **Left out.** DelayOpen, IdleHold damping, BGP's optional session
//!   attributes (§8.1.1), collision detection, RFC 8538's GR for
//!   NOTIFICATIONs, sending ROUTE-REFRESH.

use std::net::Ipv4Addr;

use crate::model::bgp::RemoteAs;
use crate::time::{SimDuration, SimTime};
use crate::wire::WireError;
use crate::wire::bgp::{
    AfiSafi, BgpMessage, Capability, GracefulRestart, GracefulRestartFamily, HEADER_LEN,
    MAX_MESSAGE_LEN, MAX_RESTART_TIME, Notification, Open, Update, cease, error_code, message_len,
    open_error, two_octet_asn,
};

/// Which AS the peer must be in: an exact ASN, any other AS (eBGP) or our own
/// (iBGP); the topology's `remote-as`.
pub type PeerAs = RemoteAs;

/// The hold timer while waiting for the peer's OPEN (RFC 4271 §8.2.2: "a
/// large value", 4 minutes suggested).
pub const OPEN_WAIT_HOLD: SimDuration = SimDuration::from_secs(240);

/// Finite State Machine Error subcodes (RFC 6608 §3): an unexpected message
/// in each state.
mod fsm_error {
    pub const IN_OPEN_SENT: u8 = 1;
    pub const IN_OPEN_CONFIRM: u8 = 2;
    pub const IN_ESTABLISHED: u8 = 3;
}

const NANOS_PER_SEC: u64 = 1_000_000_000;

/// What the speaker is configured with for this peering.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    pub local_as: u32,
    /// Our BGP Identifier (router ID); not 0.0.0.0.
    pub local_id: Ipv4Addr,
    pub peer_addr: Ipv4Addr,
    pub peer_as: PeerAs,
    /// The hold time our OPEN proposes: 0 or at least 3 s, at most 65535 s;
    /// whole seconds are sent (the fraction is dropped).
    pub hold: SimDuration,
    /// How often to send KEEPALIVE; see the module docs for the rule.
    pub keepalive: SimDuration,
    /// Delay before reconnecting; not zero.
    pub connect_retry: SimDuration,
    /// Wait for the peer to connect instead of connecting.
    pub passive: bool,
    /// Advertise Graceful Restart with this restart time in seconds (at most
    /// [`MAX_RESTART_TIME`]).
    pub graceful_restart: Option<u16>,
    /// Connect after a random delay at each start instead of at once (an
    /// active session; see [`ConnectDelay`]).
    pub connect_delay: Option<ConnectDelay>,
}

/// gobgp's connect loop: at each start (and each automatic restart) its
/// first connect waits a random whole number of seconds in
/// `min..min + spread` (gobgp v3's `connectLoop`: `rand.Intn(5) + 5` s with
/// its minimum connect-retry interval of 5 s), drawn from a PRNG seeded
/// with `seed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectDelay {
    pub min_secs: u64,
    pub spread_secs: u64,
    pub seed: u64,
}

/// Why a [`SessionConfig`] cannot run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("hold time must be 0 or between 3 s and 65535 s")]
    Hold,
    #[error("the BGP Identifier must not be 0.0.0.0")]
    Identifier,
    #[error("the connect-retry time must not be zero")]
    ConnectRetry,
    #[error("the graceful-restart time must be at most 4095 s")]
    RestartTime,
}

impl SessionConfig {
    /// Checks the values the OPEN and the timers need.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let hold = self.hold.as_nanos() / NANOS_PER_SEC;
        // RFC 4271 §4.2: zero or at least three seconds.
        if self.hold != SimDuration::ZERO && !(3..=u64::from(u16::MAX)).contains(&hold) {
            return Err(ConfigError::Hold);
        }
        if self.local_id.is_unspecified() {
            return Err(ConfigError::Identifier);
        }
        if self.connect_retry == SimDuration::ZERO {
            return Err(ConfigError::ConnectRetry);
        }
        if self.graceful_restart.is_some_and(|t| t > MAX_RESTART_TIME) {
            return Err(ConfigError::RestartTime);
        }
        Ok(())
    }

    /// The Hold Time field of our OPEN, in seconds.
    fn hold_secs(&self) -> u16 {
        u16::try_from(self.hold.as_nanos() / NANOS_PER_SEC).unwrap_or(u16::MAX)
    }
}

/// The session states of RFC 4271 §8.2.2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    Idle,
    Connect,
    Active,
    OpenSent,
    OpenConfirm,
    Established,
}

impl State {
    pub const ALL: [State; 6] = [
        State::Idle,
        State::Connect,
        State::Active,
        State::OpenSent,
        State::OpenConfirm,
        State::Established,
    ];

    /// The name gobgp and antctl show: `Idle`, `Connect`, `Active`,
    /// `OpenSent`, `OpenConfirm`, `Established`.
    pub fn name(self) -> &'static str {
        match self {
            State::Idle => "Idle",
            State::Connect => "Connect",
            State::Active => "Active",
            State::OpenSent => "OpenSent",
            State::OpenConfirm => "OpenConfirm",
            State::Established => "Established",
        }
    }

    /// A TCP connection is up in this state.
    fn has_connection(self) -> bool {
        matches!(
            self,
            State::OpenSent | State::OpenConfirm | State::Established
        )
    }
}

/// The session's timers (RFC 4271 §8.1.3; DelayOpen and IdleHold are not
/// modelled).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TimerKind {
    ConnectRetry,
    Hold,
    Keepalive,
}

impl TimerKind {
    fn index(self) -> usize {
        match self {
            TimerKind::ConnectRetry => 0,
            TimerKind::Hold => 1,
            TimerKind::Keepalive => 2,
        }
    }
}

/// What the host tells the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// ManualStart (RFC 4271 §8.1.2, Event 1); ignored unless Idle.
    Start,
    /// ManualStop (Event 2): Cease/Administrative Shutdown if a connection
    /// is up, then Idle with no automatic restart.
    Stop,
    /// The BFD session watching the peer went down (RFC 9384): a session
    /// with a connection ends with Cease/BFD Down and restarts later.
    BfdDown,
    /// Our connect succeeded, or the peer's connection was accepted.
    TcpConnected,
    /// The connect failed, or the connection was reset or closed.
    TcpFailed,
    /// Bytes the connection delivered, any amount, split anywhere.
    Bytes(&'a [u8]),
    /// A timer the session set fired: its kind and token.
    Timer(TimerKind, u64),
}

/// What the session asks the host to do or report, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Open a TCP connection to the peer's port 179.
    Connect,
    /// Write one message; `message` is what `bytes` encode, for logs and
    /// traces (`message.summary()`).
    Send { bytes: Vec<u8>, message: BgpMessage },
    /// Drop the TCP connection (or abandon the connect under way).
    Close,
    /// Fire `Event::Timer(kind, token)` at `at`; replaces any earlier timer
    /// of the kind (an older token is stale).
    SetTimer {
        kind: TimerKind,
        at: SimTime,
        token: u64,
    },
    /// The session reached Established.
    Established {
        /// The negotiated hold time (zero: no hold timer).
        hold: SimDuration,
        peer_id: Ipv4Addr,
        /// The peer's real AS (its 4-octet AS capability when it sent one).
        peer_as: u32,
        /// The restart time of the peer's Graceful Restart capability.
        peer_gr: Option<u16>,
    },
    /// An UPDATE from the peer for the RIB to apply.
    Received(Update),
    /// The peer asks us to send our routes of this family again (RFC 2918 §4).
    RefreshRequested(AfiSafi),
    /// The session left OpenSent, OpenConfirm or Established.
    Down { reason: DownReason },
}

/// How the session ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DownCause {
    /// We found an error and sent this NOTIFICATION.
    NotificationSent(Notification),
    /// The peer sent this NOTIFICATION.
    NotificationReceived(Notification),
    /// Our hold timer expired; we sent Hold Timer Expired.
    HoldTimerExpired,
    /// The connection failed or was closed without a NOTIFICATION.
    TcpFailure,
    /// ManualStop; we sent Cease/Administrative Shutdown.
    ManualStop,
}

/// Why a session went down, as a RIB needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DownReason {
    pub cause: DownCause,
    /// The restart time of the peer's Graceful Restart capability, if its
    /// OPEN of this session had one.
    pub peer_gr: Option<u16>,
    /// The session had been Established (so the RIB holds the peer's routes).
    pub was_established: bool,
}

impl DownReason {
    /// A NOTIFICATION went either way (a hold timer expiry and a manual stop
    /// send one).
    pub fn had_notification(&self) -> bool {
        !matches!(self.cause, DownCause::TcpFailure)
    }

    /// The RIB keeps the peer's routes as stale for the peer's restart time:
    /// the peer advertised Graceful Restart and the session ended without a
    /// NOTIFICATION (RFC 4724 §4.2).
    pub fn keeps_stale_routes(&self) -> bool {
        self.was_established && self.peer_gr.is_some() && !self.had_notification()
    }

    /// A short text: `Hold Timer Expired sent`, `NOTIFICATION received:
    /// Cease/Administrative Shutdown`, `TCP failure`, `stopped`.
    pub fn describe(&self) -> String {
        match &self.cause {
            DownCause::NotificationSent(n) => format!("NOTIFICATION sent: {}", n.describe()),
            DownCause::NotificationReceived(n) => {
                format!("NOTIFICATION received: {}", n.describe())
            }
            DownCause::HoldTimerExpired => "Hold Timer Expired sent".to_string(),
            DownCause::TcpFailure => "TCP failure".to_string(),
            DownCause::ManualStop => "stopped".to_string(),
        }
    }
}

/// What the OPEN exchange settled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Negotiated {
    peer_id: Ipv4Addr,
    peer_as: u32,
    peer_gr: Option<u16>,
    hold: SimDuration,
    /// `None` when the hold time is zero.
    keepalive: Option<SimDuration>,
    four_octet_as: bool,
}

/// One BGP peering as one speaker sees it.
#[derive(Clone, Debug)]
pub struct Session {
    cfg: SessionConfig,
    state: State,
    /// Bytes received that do not yet make a whole message.
    inbox: Vec<u8>,
    /// The current token of each running timer, by [`TimerKind::index`].
    timers: [Option<u64>; 3],
    next_token: u64,
    negotiated: Option<Negotiated>,
    messages_sent: u64,
    messages_received: u64,
    updates_sent: u64,
    updates_received: u64,
    last_state_change: SimTime,
    established_count: u64,
    last_down: Option<DownReason>,
    /// Draws the connect delays ([`SessionConfig::connect_delay`]).
    delays: Option<crate::rng::SimRng>,
}

impl Session {
    /// A session in Idle; nothing happens until [`Event::Start`].
    pub fn new(cfg: SessionConfig) -> Result<Session, ConfigError> {
        cfg.validate()?;
        let delays = cfg.connect_delay.map(|d| {
            use rand::SeedableRng;
            crate::rng::SimRng::seed_from_u64(d.seed)
        });
        Ok(Session {
            delays,
            cfg,
            state: State::Idle,
            inbox: Vec::new(),
            timers: [None; 3],
            next_token: 0,
            negotiated: None,
            messages_sent: 0,
            messages_received: 0,
            updates_sent: 0,
            updates_received: 0,
            last_state_change: SimTime::ZERO,
            established_count: 0,
            last_down: None,
        })
    }

    pub fn config(&self) -> &SessionConfig {
        &self.cfg
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// As gobgp and antctl show it (see [`State::name`]).
    pub fn state_name(&self) -> &'static str {
        self.state.name()
    }

    /// Messages sent and received on every connection so far.
    pub fn messages_sent(&self) -> u64 {
        self.messages_sent
    }

    pub fn messages_received(&self) -> u64 {
        self.messages_received
    }

    pub fn updates_sent(&self) -> u64 {
        self.updates_sent
    }

    pub fn updates_received(&self) -> u64 {
        self.updates_received
    }

    /// When the state last changed (the "Up/Down" column counts from here).
    pub fn last_state_change(&self) -> SimTime {
        self.last_state_change
    }

    /// How many times the session reached Established.
    pub fn established_count(&self) -> u64 {
        self.established_count
    }

    /// Why the session last went down.
    pub fn last_down(&self) -> Option<&DownReason> {
        self.last_down.as_ref()
    }

    /// The negotiated hold time, once the peer's OPEN was accepted.
    pub fn negotiated_hold(&self) -> Option<SimDuration> {
        self.negotiated.map(|n| n.hold)
    }

    /// The keepalive interval in use; `None` before the OPEN exchange or when
    /// the hold time is zero.
    pub fn keepalive_interval(&self) -> Option<SimDuration> {
        self.negotiated.and_then(|n| n.keepalive)
    }

    pub fn peer_id(&self) -> Option<Ipv4Addr> {
        self.negotiated.map(|n| n.peer_id)
    }

    /// The peer's real AS, once its OPEN was accepted.
    pub fn peer_as(&self) -> Option<u32> {
        self.negotiated.map(|n| n.peer_as)
    }

    pub fn peer_graceful_restart(&self) -> Option<u16> {
        self.negotiated.and_then(|n| n.peer_gr)
    }

    /// Both sides advertised the 4-octet AS capability (RFC 6793 §4.1).
    pub fn four_octet_as(&self) -> bool {
        self.negotiated.is_some_and(|n| n.four_octet_as)
    }

    /// The current token of a timer, if it is running.
    pub fn timer_token(&self, kind: TimerKind) -> Option<u64> {
        self.timers[kind.index()]
    }

    /// Feeds one event; the actions for the host, in order.
    pub fn handle(&mut self, now: SimTime, event: Event<'_>) -> Vec<Action> {
        let mut out = Vec::new();
        match event {
            Event::Start => self.on_start(now, &mut out),
            Event::Stop => self.on_stop(now, &mut out),
            Event::BfdDown => {
                if self.state.has_connection() {
                    let n = Notification::cease(cease::BFD_DOWN);
                    self.send(BgpMessage::Notification(n.clone()), &mut out);
                    self.down(DownCause::NotificationSent(n), &mut out);
                    self.restart_later(now, &mut out);
                }
            }
            Event::TcpConnected => self.on_connected(now, &mut out),
            Event::TcpFailed => self.on_tcp_failed(now, &mut out),
            Event::Bytes(bytes) => self.on_bytes(now, bytes, &mut out),
            Event::Timer(kind, token) => {
                if self.timers[kind.index()] == Some(token) {
                    self.timers[kind.index()] = None;
                    self.on_timer(now, kind, &mut out);
                }
            }
        }
        out
    }

    /// Sends an UPDATE (Established only; otherwise nothing). Refused as the
    /// codec refuses it (a prefix with host bits, an AS above 65535 on a
    /// 2-octet session, ...). Restarts the keepalive timer (§8.2.2).
    pub fn send_update(&mut self, now: SimTime, update: &Update) -> Result<Vec<Action>, WireError> {
        let mut out = Vec::new();
        if self.state != State::Established {
            return Ok(out);
        }
        let message = BgpMessage::Update(update.clone());
        let bytes = message.to_bytes(self.four_octet_as())?;
        self.messages_sent += 1;
        self.updates_sent += 1;
        out.push(Action::Send { bytes, message });
        self.arm_keepalive(now, &mut out);
        Ok(out)
    }

    // ---- events ----

    fn on_start(&mut self, now: SimTime, out: &mut Vec<Action>) {
        if self.state != State::Idle {
            return;
        }
        self.stop_timers();
        self.begin(now, out);
    }

    /// ManualStart's or AutomaticStart's work in Idle (§8.2.2): connect, or
    /// listen when passive, with the ConnectRetry timer running.
    fn begin(&mut self, now: SimTime, out: &mut Vec<Action>) {
        if self.cfg.passive {
            self.set_state(now, State::Active);
        } else if let (Some(d), Some(rng)) = (self.cfg.connect_delay, self.delays.as_mut()) {
            // Active until the delay's ConnectRetry expiry connects.
            let secs = d.min_secs + crate::rng::below(rng, d.spread_secs.max(1));
            self.set_state(now, State::Active);
            self.arm(
                now,
                TimerKind::ConnectRetry,
                SimDuration::from_secs(secs),
                out,
            );
            return;
        } else {
            self.set_state(now, State::Connect);
            out.push(Action::Connect);
        }
        self.arm(now, TimerKind::ConnectRetry, self.cfg.connect_retry, out);
    }

    fn on_stop(&mut self, now: SimTime, out: &mut Vec<Action>) {
        match self.state {
            State::Idle => {}
            State::Connect => out.push(Action::Close),
            State::Active => {}
            State::OpenSent | State::OpenConfirm | State::Established => {
                // RFC 4486 §4: Administrative Shutdown.
                self.send(
                    BgpMessage::Notification(Notification::cease(cease::ADMINISTRATIVE_SHUTDOWN)),
                    out,
                );
                self.down(DownCause::ManualStop, out);
            }
        }
        self.stop_timers();
        self.inbox.clear();
        self.set_state(now, State::Idle);
    }

    fn on_connected(&mut self, now: SimTime, out: &mut Vec<Action>) {
        match self.state {
            // Idle refuses connections (§8.2.2).
            State::Idle => out.push(Action::Close),
            State::Connect | State::Active => {
                self.stop(TimerKind::ConnectRetry);
                self.inbox.clear();
                let open = self.our_open();
                self.send(BgpMessage::Open(open), out);
                self.arm(now, TimerKind::Hold, OPEN_WAIT_HOLD, out);
                self.set_state(now, State::OpenSent);
            }
            // One connection per session: see the module docs.
            State::OpenSent | State::OpenConfirm | State::Established => {}
        }
    }

    fn on_tcp_failed(&mut self, now: SimTime, out: &mut Vec<Action>) {
        match self.state {
            State::Idle | State::Active => {}
            // Our connect failed: wait for the ConnectRetry timer (it keeps
            // running) in Active, listening meanwhile.
            State::Connect => self.set_state(now, State::Active),
            State::OpenSent | State::OpenConfirm | State::Established => {
                self.down(DownCause::TcpFailure, out);
                self.set_state(now, State::Active);
                self.arm(now, TimerKind::ConnectRetry, self.cfg.connect_retry, out);
            }
        }
    }

    fn on_timer(&mut self, now: SimTime, kind: TimerKind, out: &mut Vec<Action>) {
        match (kind, self.state) {
            // The automatic restart after an error.
            (TimerKind::ConnectRetry, State::Idle) => self.begin(now, out),
            // §8.2.2 Connect: drop the attempt, try again.
            (TimerKind::ConnectRetry, State::Connect) => {
                out.push(Action::Close);
                out.push(Action::Connect);
                self.arm(now, TimerKind::ConnectRetry, self.cfg.connect_retry, out);
            }
            (TimerKind::ConnectRetry, State::Active) => {
                if !self.cfg.passive {
                    self.set_state(now, State::Connect);
                    out.push(Action::Connect);
                }
                self.arm(now, TimerKind::ConnectRetry, self.cfg.connect_retry, out);
            }
            (TimerKind::Hold, s) if s.has_connection() => {
                // RFC 4271 §6.5.
                self.send(
                    BgpMessage::Notification(Notification::hold_timer_expired()),
                    out,
                );
                self.down(DownCause::HoldTimerExpired, out);
                self.restart_later(now, out);
            }
            (TimerKind::Keepalive, State::OpenConfirm | State::Established) => {
                self.send(BgpMessage::Keepalive, out);
                self.arm_keepalive(now, out);
            }
            _ => {}
        }
    }

    fn on_bytes(&mut self, now: SimTime, bytes: &[u8], out: &mut Vec<Action>) {
        if !self.state.has_connection() {
            return;
        }
        self.inbox.extend_from_slice(bytes);
        while self.state.has_connection() {
            match message_len(&self.inbox) {
                Ok(None) => return,
                Ok(Some(len)) => {
                    let raw: Vec<u8> = self.inbox.drain(..len).collect();
                    self.messages_received += 1;
                    match BgpMessage::parse(&raw, self.four_octet_as()) {
                        Ok(message) => self.on_message(now, message, out),
                        Err(e) => self.fail(now, e.notification().clone(), out),
                    }
                }
                Err(e) => {
                    // A header out of step: the stream cannot be resynchronised.
                    self.messages_received += 1;
                    self.fail(now, e.notification().clone(), out);
                }
            }
        }
        self.inbox.clear();
    }

    fn on_message(&mut self, now: SimTime, message: BgpMessage, out: &mut Vec<Action>) {
        if let BgpMessage::Notification(n) = message {
            self.down(DownCause::NotificationReceived(n), out);
            self.restart_later(now, out);
            return;
        }
        match (self.state, message) {
            (State::OpenSent, BgpMessage::Open(open)) => self.on_open(now, &open, out),
            (State::OpenSent, _) => self.fsm_error(now, fsm_error::IN_OPEN_SENT, out),
            (State::OpenConfirm, BgpMessage::Keepalive) => {
                self.arm_hold(now, out);
                self.set_state(now, State::Established);
                self.established_count += 1;
                if let Some(n) = self.negotiated {
                    out.push(Action::Established {
                        hold: n.hold,
                        peer_id: n.peer_id,
                        peer_as: n.peer_as,
                        peer_gr: n.peer_gr,
                    });
                }
            }
            (State::OpenConfirm, _) => self.fsm_error(now, fsm_error::IN_OPEN_CONFIRM, out),
            (State::Established, BgpMessage::Keepalive) => self.arm_hold(now, out),
            (State::Established, BgpMessage::Update(update)) => {
                self.arm_hold(now, out);
                self.updates_received += 1;
                out.push(Action::Received(update));
            }
            (State::Established, BgpMessage::RouteRefresh(family)) => {
                self.arm_hold(now, out);
                out.push(Action::RefreshRequested(family));
            }
            (State::Established, _) => self.fsm_error(now, fsm_error::IN_ESTABLISHED, out),
            // on_bytes only parses while a connection is up.
            (State::Idle | State::Connect | State::Active, _) => {}
        }
    }

    /// The peer's OPEN in OpenSent (RFC 4271 §6.2, §8.2.2).
    fn on_open(&mut self, now: SimTime, open: &Open, out: &mut Vec<Action>) {
        let peer_as = open.asn();
        let reject = |subcode| Notification::new(error_code::OPEN_MESSAGE, subcode);
        if !self.cfg.peer_as.accepts(self.cfg.local_as, peer_as) {
            return self.fail(now, reject(open_error::BAD_PEER_AS), out);
        }
        // §4.2: zero or at least three seconds (the codec refuses 1 and 2
        // already; checked again for OPENs built by hand).
        if matches!(open.hold_time, 1 | 2) {
            return self.fail(now, reject(open_error::UNACCEPTABLE_HOLD_TIME), out);
        }
        // §6.2 and RFC 6286 §2.1: non-zero, and inside one AS not ours.
        let internal = peer_as == self.cfg.local_as;
        if open.bgp_id.is_unspecified() || (internal && open.bgp_id == self.cfg.local_id) {
            return self.fail(now, reject(open_error::BAD_BGP_IDENTIFIER), out);
        }
        let hold_secs = self.cfg.hold_secs().min(open.hold_time);
        let hold = SimDuration::from_secs(u64::from(hold_secs));
        let keepalive = (hold_secs != 0).then(|| {
            // §10: one third of the hold time, in whole seconds as FRR does.
            let third = SimDuration::from_secs(u64::from(hold_secs / 3));
            if self.cfg.keepalive == SimDuration::ZERO {
                third
            } else {
                self.cfg.keepalive.min(third)
            }
        });
        let peer_gr = open.capabilities.iter().find_map(|c| match c {
            Capability::GracefulRestart(gr) => Some(gr.restart_time),
            _ => None,
        });
        self.negotiated = Some(Negotiated {
            peer_id: open.bgp_id,
            peer_as,
            peer_gr,
            hold,
            keepalive,
            // We always advertise the capability (RFC 6793 §4.1).
            four_octet_as: open.four_octet_asn().is_some(),
        });
        self.send(BgpMessage::Keepalive, out);
        self.arm_hold(now, out);
        self.arm_keepalive(now, out);
        self.set_state(now, State::OpenConfirm);
    }

    // ---- helpers ----

    fn our_open(&self) -> Open {
        let mut capabilities = vec![
            Capability::Multiprotocol(AfiSafi::IPV4_UNICAST),
            Capability::RouteRefresh,
            Capability::FourOctetAs(self.cfg.local_as),
        ];
        if let Some(restart_time) = self.cfg.graceful_restart {
            capabilities.push(Capability::GracefulRestart(GracefulRestart {
                restarting: false,
                restart_time,
                families: vec![GracefulRestartFamily {
                    family: AfiSafi::IPV4_UNICAST,
                    forwarding_preserved: false,
                }],
            }));
        }
        Open {
            my_as: two_octet_asn(self.cfg.local_as),
            hold_time: self.cfg.hold_secs(),
            bgp_id: self.cfg.local_id,
            capabilities,
        }
    }

    /// Encodes and sends one message the session built itself.
    fn send(&mut self, message: BgpMessage, out: &mut Vec<Action>) {
        let message = match message {
            // A NOTIFICATION's data comes from what the peer sent; keep the
            // message within the maximum length (RFC 4271 §4.1).
            BgpMessage::Notification(mut n) => {
                n.data.truncate(MAX_MESSAGE_LEN - HEADER_LEN - 2);
                BgpMessage::Notification(n)
            }
            other => other,
        };
        // With a validated config our OPEN, KEEPALIVE and NOTIFICATION always
        // encode; were one refused, nothing would be sent rather than a panic.
        if let Ok(bytes) = message.to_bytes(self.four_octet_as()) {
            self.messages_sent += 1;
            out.push(Action::Send { bytes, message });
        }
    }

    /// Sends `notification` for an error we found, closes, reports Down and
    /// restarts later.
    fn fail(&mut self, now: SimTime, notification: Notification, out: &mut Vec<Action>) {
        self.send(BgpMessage::Notification(notification.clone()), out);
        self.down(DownCause::NotificationSent(notification), out);
        self.restart_later(now, out);
    }

    /// A message this state does not expect (RFC 6608 §3).
    fn fsm_error(&mut self, now: SimTime, subcode: u8, out: &mut Vec<Action>) {
        let n = Notification::new(error_code::FINITE_STATE_MACHINE, subcode);
        self.fail(now, n, out);
    }

    /// Closes the connection and reports Down; forgets the peer and stops
    /// the timers. The caller picks the next state.
    fn down(&mut self, cause: DownCause, out: &mut Vec<Action>) {
        out.push(Action::Close);
        let reason = DownReason {
            cause,
            peer_gr: self.negotiated.and_then(|n| n.peer_gr),
            was_established: self.state == State::Established,
        };
        self.last_down = Some(reason.clone());
        out.push(Action::Down { reason });
        self.negotiated = None;
        self.inbox.clear();
        self.stop_timers();
    }

    /// Idle, started again by the ConnectRetry timer (AutomaticStart).
    fn restart_later(&mut self, now: SimTime, out: &mut Vec<Action>) {
        self.set_state(now, State::Idle);
        self.arm(now, TimerKind::ConnectRetry, self.cfg.connect_retry, out);
    }

    fn set_state(&mut self, now: SimTime, state: State) {
        if self.state != state {
            self.state = state;
            self.last_state_change = now;
        }
    }

    fn arm(&mut self, now: SimTime, kind: TimerKind, after: SimDuration, out: &mut Vec<Action>) {
        self.next_token += 1;
        let token = self.next_token;
        self.timers[kind.index()] = Some(token);
        out.push(Action::SetTimer {
            kind,
            at: now + after,
            token,
        });
    }

    /// (Re)starts the hold timer at the negotiated value; not at all when it
    /// is zero (§4.2).
    fn arm_hold(&mut self, now: SimTime, out: &mut Vec<Action>) {
        match self.negotiated.map(|n| n.hold) {
            Some(hold) if hold != SimDuration::ZERO => self.arm(now, TimerKind::Hold, hold, out),
            _ => self.stop(TimerKind::Hold),
        }
    }

    fn arm_keepalive(&mut self, now: SimTime, out: &mut Vec<Action>) {
        match self.keepalive_interval() {
            Some(every) => self.arm(now, TimerKind::Keepalive, every, out),
            None => self.stop(TimerKind::Keepalive),
        }
    }

    fn stop(&mut self, kind: TimerKind) {
        self.timers[kind.index()] = None;
    }

    fn stop_timers(&mut self) {
        self.timers = [None; 3];
    }
}

#[cfg(test)]
mod tests;
