//! The messages agents exchange (`net.go`: `messageType`, `ping`,
//! `indirectPingReq`, `ackResp`, `nackResp`, `suspect`, `alive`, `dead`,
//! `pushNodeState`). Messages name nodes by name, as on the wire; the
//! encoding is in [`super::codec`].

use super::member::MemberState;
use std::net::Ipv4Addr;

// memberlist's messageType numbers (net.go).
pub(super) const T_PING: u8 = 0;
pub(super) const T_INDIRECT: u8 = 1;
pub(super) const T_ACK: u8 = 2;
pub(super) const T_SUSPECT: u8 = 3;
pub(super) const T_ALIVE: u8 = 4;
pub(super) const T_DEAD: u8 = 5;
pub(super) const T_PUSHPULL: u8 = 6;
pub(super) const T_COMPOUND: u8 = 7;
pub(super) const T_NACK: u8 = 11;

/// One node's entry in a push/pull state exchange, as read from (or
/// written into) a [`PushStates`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PushState<'a> {
    pub(super) name: &'a str,
    pub(super) addr: Ipv4Addr,
    pub(super) incarnation: u32,
    pub(super) state: MemberState,
}

impl<'a> PushState<'a> {
    pub fn new(name: &'a str, addr: Ipv4Addr, incarnation: u32, state: MemberState) -> Self {
        PushState {
            name,
            addr,
            incarnation,
            state,
        }
    }
    pub fn name(&self) -> &'a str {
        self.name
    }
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }
    pub fn incarnation(&self) -> u32 {
        self.incarnation
    }
    pub fn state(&self) -> MemberState {
        self.state
    }
}

/// The entries of a push/pull, held in their wire encoding (see
/// [`super::codec`]) with their count. A push/pull lists every member, and
/// its receiver reads each entry once, as it merges: holding the encoding
/// spares an allocation per entry on both ends. At most `u16::MAX` entries
/// (the count's width); [`PushStates::push`] refuses more.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct PushStates {
    pub(super) count: u16,
    pub(super) bytes: Vec<u8>,
}

impl PushStates {
    pub fn len(&self) -> usize {
        usize::from(self.count)
    }
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// Entries are appended until the count is full; the rest are left out.
impl<'a> Extend<PushState<'a>> for PushStates {
    fn extend<I: IntoIterator<Item = PushState<'a>>>(&mut self, iter: I) {
        for s in iter {
            if !self.push(s) {
                break;
            }
        }
    }
}

impl<'a> FromIterator<PushState<'a>> for PushStates {
    fn from_iter<I: IntoIterator<Item = PushState<'a>>>(iter: I) -> Self {
        let mut states = PushStates::default();
        states.extend(iter);
        states
    }
}

impl std::fmt::Debug for PushStates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// A memberlist message. `Compound` carries several (a ping plus piggybacked
/// gossip, or a gossip batch); compounds do not nest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Msg {
    Ping {
        seq: u32,
        target: String,
        source: String,
        source_addr: Ipv4Addr,
    },
    IndirectPing {
        seq: u32,
        target: String,
        target_addr: Ipv4Addr,
        source: String,
        source_addr: Ipv4Addr,
        nack: bool,
    },
    Ack {
        seq: u32,
    },
    Nack {
        seq: u32,
    },
    Suspect {
        incarnation: u32,
        node: String,
        from: String,
    },
    Alive {
        incarnation: u32,
        node: String,
        addr: Ipv4Addr,
    },
    Dead {
        incarnation: u32,
        node: String,
        from: String,
    },
    PushPull {
        join: bool,
        reply: bool,
        states: PushStates,
    },
    Compound(Vec<Msg>),
}

impl Msg {
    /// Short lower-case name for logs (`ping`, `ack`, `suspect`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Msg::Ping { .. } => "ping",
            Msg::IndirectPing { .. } => "indirect-ping",
            Msg::Ack { .. } => "ack",
            Msg::Nack { .. } => "nack",
            Msg::Suspect { .. } => "suspect",
            Msg::Alive { .. } => "alive",
            Msg::Dead { .. } => "dead",
            Msg::PushPull { .. } => "push-pull",
            Msg::Compound(_) => "compound",
        }
    }

    /// memberlist's `messageType` number, the first byte on the wire.
    pub fn type_number(&self) -> u8 {
        match self {
            Msg::Ping { .. } => T_PING,
            Msg::IndirectPing { .. } => T_INDIRECT,
            Msg::Ack { .. } => T_ACK,
            Msg::Nack { .. } => T_NACK,
            Msg::Suspect { .. } => T_SUSPECT,
            Msg::Alive { .. } => T_ALIVE,
            Msg::Dead { .. } => T_DEAD,
            Msg::PushPull { .. } => T_PUSHPULL,
            Msg::Compound(_) => T_COMPOUND,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_numbers_are_memberlists() {
        let ip = Ipv4Addr::LOCALHOST;
        let s = String::new;
        let cases = [
            (Msg::Ack { seq: 0 }, 2, "ack"),
            (Msg::Nack { seq: 0 }, 11, "nack"),
            (
                Msg::Ping {
                    seq: 0,
                    target: s(),
                    source: s(),
                    source_addr: ip,
                },
                0,
                "ping",
            ),
            (
                Msg::Alive {
                    incarnation: 0,
                    node: s(),
                    addr: ip,
                },
                4,
                "alive",
            ),
            (
                Msg::Dead {
                    incarnation: 0,
                    node: s(),
                    from: s(),
                },
                5,
                "dead",
            ),
            (Msg::Compound(vec![]), 7, "compound"),
        ];
        for (m, number, kind) in cases {
            assert_eq!(m.type_number(), number, "{m:?}");
            assert_eq!(m.kind(), kind);
        }
    }
}
