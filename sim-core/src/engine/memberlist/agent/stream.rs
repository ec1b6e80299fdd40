//! memberlist's TCP side (`net.go`: `sendAndReceiveState`, `handleConn`,
//! `sendPingAndWaitForAck`; `state.go`: `pushPullNode`, the fallback in
//! `probeNode`): joins and the periodic push/pull exchange the member table
//! over a TCP connection, and a probe whose UDP ping went unanswered also
//! pings its target over TCP. A TCP exchange is one request and one answer
//! on the same connection; without the answer within the TCP timeout it
//! failed, and memberlist logs that.
//!
//! The host carries a [`Transport::Stream`] request on a new connection and
//! a [`Transport::StreamAnswer`] back on the connection the request came
//! in on, so a firewall sees what it would see in Linux: a new TCP
//! connection to port 10351, then its reply direction.

use std::net::Ipv4Addr;

use super::{Action, Agent, AgentTimer, MemberEvent};
use crate::engine::memberlist::messages::Msg;
use crate::time::SimTime;

/// How a message travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// A UDP datagram from port 10351 to port 10351.
    Packet,
    /// The request of a new TCP connection to the peer's port 10351.
    Stream,
    /// The answer on the TCP connection the peer's request came in on.
    StreamAnswer,
}

/// What a TCP exchange was for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum StreamKind {
    /// A push/pull sent by `Join` (Antrea joins every Node).
    Join,
    /// The periodic push/pull with a random member.
    PushPull,
    /// The TCP ping of the probe with this sequence number.
    FallbackPing { seq: u32 },
}

/// A TCP exchange waiting for its answer.
#[derive(Clone, Debug)]
pub(super) struct PendingStream {
    id: u32,
    to: Ipv4Addr,
    kind: StreamKind,
}

impl PendingStream {
    pub(super) fn is_join(&self) -> bool {
        self.kind == StreamKind::Join
    }
}

impl Agent {
    /// Opens a TCP exchange with `to`: sends `msg` and waits for the
    /// answer until the TCP timeout, or until `deadline` when given.
    pub(super) fn open_stream(
        &mut self,
        now: SimTime,
        to: Ipv4Addr,
        kind: StreamKind,
        msg: Msg,
        deadline: Option<SimTime>,
        out: &mut Vec<Action>,
    ) {
        self.next_stream = self.next_stream.wrapping_add(1);
        let id = self.next_stream;
        self.streams.push(PendingStream { id, to, kind });
        out.push(Action::Send {
            to,
            msg,
            transport: Transport::Stream,
        });
        // The fallback ping dials and waits until the probe's deadline
        // (sendPingAndWaitForAck); push/pull has the TCP timeout.
        let at = deadline.unwrap_or(now + self.cfg.tcp_timeout);
        out.push(Action::Timer {
            at,
            timer: AgentTimer::StreamTimeout { id },
        });
    }

    /// A message that came over TCP from `from`: a peer's request, or the
    /// answer to one of ours.
    pub fn on_stream(&mut self, now: SimTime, from: Ipv4Addr, msg: Msg) -> Vec<Action> {
        let mut out = Vec::new();
        if self.shutdown || !self.started {
            return out;
        }
        match msg {
            Msg::PushPull {
                join,
                reply: false,
                states,
            } => {
                // The responder sends its state before merging (net.go handleConn).
                self.send_push_pull_answer(from, join, &mut out);
                self.merge_state(now, states, &mut out);
            }
            Msg::PushPull {
                reply: true,
                join,
                states,
            } => {
                // The answer carries the request's join flag: a rejoin and
                // a periodic push/pull to one peer do not take each
                // other's answers.
                let kind = if join {
                    StreamKind::Join
                } else {
                    StreamKind::PushPull
                };
                let answered = self.take_stream(from, |k| k == kind);
                if answered.is_some() {
                    self.merge_state(now, states, &mut out);
                }
                if answered == Some(StreamKind::Join) {
                    self.join_progress(&mut out);
                }
            }
            // handleConn answers a ping for us on the connection, without
            // piggybacked broadcasts.
            Msg::Ping { seq, target, .. } if target.is_empty() || target == self.name() => {
                out.push(Action::Send {
                    to: from,
                    msg: Msg::Ack { seq },
                    transport: Transport::StreamAnswer,
                });
            }
            Msg::Ack { seq } => {
                let answered = self.take_stream(from, |k| k == StreamKind::FallbackPing { seq });
                if answered.is_some()
                    && let Some(p) = self.probe.as_mut()
                {
                    p.contacted_over_tcp(seq);
                }
            }
            // memberlist reads nothing else on a connection it accepted.
            _ => {}
        }
        out
    }

    /// The exchange with `from` of a kind `matches` accepts, removed.
    fn take_stream(
        &mut self,
        from: Ipv4Addr,
        matches: impl Fn(StreamKind) -> bool,
    ) -> Option<StreamKind> {
        let i = self
            .streams
            .iter()
            .position(|s| s.to == from && matches(s.kind))?;
        Some(self.streams.remove(i).kind)
    }

    pub(super) fn on_stream_timeout(&mut self, id: u32, out: &mut Vec<Action>) {
        let Some(i) = self.streams.iter().position(|s| s.id == id) else {
            return;
        };
        let s = self.streams.remove(i);
        let ms = self.cfg.tcp_timeout.as_nanos() / 1_000_000;
        match s.kind {
            StreamKind::Join => {
                out.push(Action::Log(format!(
                    "memberlist: failed to join {}: no TCP answer from port {} within {ms} ms",
                    s.to,
                    crate::engine::memberlist::MEMBERLIST_PORT
                )));
                self.join_progress(out);
            }
            StreamKind::PushPull => {
                let name = self.name_at(s.to);
                out.push(Action::Log(format!(
                    "memberlist: push/pull with {name} failed: no TCP answer within {ms} ms"
                )));
            }
            // The probe's deadline judges the fallback (probe.rs).
            StreamKind::FallbackPing { .. } => {}
        }
    }

    /// After a join's push/pull ended: the last one ends `Join`.
    fn join_progress(&self, out: &mut Vec<Action>) {
        if !self.joining() {
            out.push(Action::Event(MemberEvent::JoinReturned));
        }
    }

    /// The member at `addr`, or the address if none is known.
    fn name_at(&self, addr: Ipv4Addr) -> String {
        self.nodes
            .iter()
            .find(|n| n.addr == addr)
            .map_or_else(|| addr.to_string(), |n| self.name_of(n.id))
    }
}
