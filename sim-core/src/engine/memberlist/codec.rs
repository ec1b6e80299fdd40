//! The wire format (memberlist's `util.go` `encode`/`decode` and `net.go`'s
//! compound messages): a compact binary of this module's own, where
//! memberlist uses msgpack; message type numbers match memberlist's.
//!
//! Layout: one type byte, then the fields in declaration order: integers
//! big-endian, addresses as four bytes, names as a `u16` length and UTF-8,
//! booleans as one byte; a push/pull has a flags byte (join, reply) and a
//! `u16` count of states. A compound is its type, a part count, each part's
//! `u16` length, then the parts.

use std::net::Ipv4Addr;

use super::member::MemberState;
use super::messages::{
    Msg, PushState, PushStates, T_ACK, T_ALIVE, T_COMPOUND, T_DEAD, T_INDIRECT, T_NACK, T_PING,
    T_PUSHPULL, T_SUSPECT,
};

/// Why a payload is not a memberlist message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("memberlist message truncated")]
    Truncated,
    #[error("unknown memberlist message type {0}")]
    UnknownType(u8),
    #[error("memberlist node name is not UTF-8")]
    BadName,
    #[error("unknown member state {0}")]
    BadState(u8),
    #[error("compound memberlist messages do not nest")]
    NestedCompound,
    #[error("{0} trailing bytes after memberlist message")]
    Trailing(usize),
}

/// Bytes a compound adds before its parts (type, count) and per part (length).
pub(super) const COMPOUND_HEADER: usize = 2;
pub(super) const COMPOUND_PER_PART: usize = 2;

fn put_str(out: &mut Vec<u8>, s: &str) {
    // K8s node names are at most 253 bytes; cut at a char boundary just in case.
    let mut end = s.len().min(u16::MAX as usize);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    out.extend_from_slice(&(end as u16).to_be_bytes());
    out.extend_from_slice(&s.as_bytes()[..end]);
}

/// One push/pull entry in its wire encoding.
pub(super) fn write_push_state(out: &mut Vec<u8>, s: &PushState<'_>) {
    put_str(out, s.name);
    out.extend_from_slice(&s.addr.octets());
    out.extend_from_slice(&s.incarnation.to_be_bytes());
    out.push(s.state.code());
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.at.checked_add(n).ok_or(DecodeError::Truncated)?;
        let s = self.b.get(self.at..end).ok_or(DecodeError::Truncated)?;
        self.at = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        let s = self.take(2)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        let s = self.take(4)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn ip(&mut self) -> Result<Ipv4Addr, DecodeError> {
        let s = self.take(4)?;
        Ok(Ipv4Addr::new(s[0], s[1], s[2], s[3]))
    }
    fn string(&mut self) -> Result<String, DecodeError> {
        self.str().map(str::to_string)
    }
    fn push_state(&mut self) -> Result<PushState<'a>, DecodeError> {
        let name = self.str()?;
        let addr = self.ip()?;
        let incarnation = self.u32()?;
        let code = self.u8()?;
        let state = MemberState::from_code(code).ok_or(DecodeError::BadState(code))?;
        Ok(PushState {
            name,
            addr,
            incarnation,
            state,
        })
    }
    fn str(&mut self) -> Result<&'a str, DecodeError> {
        let n = self.u16()? as usize;
        let s = self.take(n)?;
        std::str::from_utf8(s).map_err(|_| DecodeError::BadName)
    }
    fn bool(&mut self) -> Result<bool, DecodeError> {
        Ok(self.u8()? != 0)
    }
}

impl MemberState {
    fn code(self) -> u8 {
        match self {
            MemberState::Alive => 0,
            MemberState::Suspect => 1,
            MemberState::Dead => 2,
            MemberState::Left => 3,
        }
    }
    fn from_code(c: u8) -> Option<MemberState> {
        Some(match c {
            0 => MemberState::Alive,
            1 => MemberState::Suspect,
            2 => MemberState::Dead,
            3 => MemberState::Left,
            _ => return None,
        })
    }
}

impl PushStates {
    /// Room for `entries` entries whose names are about `name_len` bytes
    /// long (a member table's, before it is written).
    pub fn with_capacity(entries: usize, name_len: usize) -> PushStates {
        // Per entry: the name's length and bytes, address, incarnation, state.
        let per_entry = 2 + name_len + 4 + 4 + 1;
        PushStates {
            count: 0,
            bytes: Vec::with_capacity(entries.min(usize::from(u16::MAX)) * per_entry),
        }
    }

    /// Appends `s` in its wire encoding; false (and nothing added) when
    /// the count is full.
    pub fn push(&mut self, s: PushState<'_>) -> bool {
        let Some(count) = self.count.checked_add(1) else {
            return false;
        };
        self.count = count;
        write_push_state(&mut self.bytes, &s);
        true
    }

    /// Appends encoded entries: those of `bytes` from `start` on, entry
    /// `i` ending at `ends[i]` (each written by [`write_push_state`]), as
    /// many as the count has room for; false when some were left out.
    pub(super) fn push_encoded(&mut self, bytes: &[u8], start: usize, ends: &[usize]) -> bool {
        let room = usize::from(u16::MAX - self.count);
        let n = ends.len().min(room);
        let end = n.checked_sub(1).map_or(start, |last| ends[last]);
        self.bytes.extend_from_slice(&bytes[start..end]);
        self.count += n as u16;
        n == ends.len()
    }

    /// The entries in order. The bytes were checked when they were decoded
    /// or written by [`PushStates::push`], so every entry reads.
    pub fn iter(&self) -> impl Iterator<Item = PushState<'_>> {
        let mut r = Reader {
            b: &self.bytes,
            at: 0,
        };
        (0..self.count).map_while(move |_| r.push_state().ok())
    }
}

impl Msg {
    /// The UDP payload. Infallible; a compound keeps at most 255 parts (the
    /// agent never builds more: gossip fits in `udp_buffer_size`).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32);
        self.encode_into(&mut out);
        out
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Msg::Ping {
                seq,
                target,
                source,
                source_addr,
            } => {
                out.push(T_PING);
                out.extend_from_slice(&seq.to_be_bytes());
                put_str(out, target);
                put_str(out, source);
                out.extend_from_slice(&source_addr.octets());
            }
            Msg::IndirectPing {
                seq,
                target,
                target_addr,
                source,
                source_addr,
                nack,
            } => {
                out.push(T_INDIRECT);
                out.extend_from_slice(&seq.to_be_bytes());
                put_str(out, target);
                out.extend_from_slice(&target_addr.octets());
                put_str(out, source);
                out.extend_from_slice(&source_addr.octets());
                out.push(u8::from(*nack));
            }
            Msg::Ack { seq } => {
                out.push(T_ACK);
                out.extend_from_slice(&seq.to_be_bytes());
            }
            Msg::Nack { seq } => {
                out.push(T_NACK);
                out.extend_from_slice(&seq.to_be_bytes());
            }
            Msg::Suspect {
                incarnation,
                node,
                from,
            }
            | Msg::Dead {
                incarnation,
                node,
                from,
            } => {
                out.push(if matches!(self, Msg::Suspect { .. }) {
                    T_SUSPECT
                } else {
                    T_DEAD
                });
                out.extend_from_slice(&incarnation.to_be_bytes());
                put_str(out, node);
                put_str(out, from);
            }
            Msg::Alive {
                incarnation,
                node,
                addr,
            } => {
                out.push(T_ALIVE);
                out.extend_from_slice(&incarnation.to_be_bytes());
                put_str(out, node);
                out.extend_from_slice(&addr.octets());
            }
            Msg::PushPull {
                join,
                reply,
                states,
            } => {
                out.push(T_PUSHPULL);
                out.push(u8::from(*join) | (u8::from(*reply) << 1));
                out.extend_from_slice(&states.count.to_be_bytes());
                out.extend_from_slice(&states.bytes);
            }
            Msg::Compound(parts) => {
                out.push(T_COMPOUND);
                let parts: Vec<Vec<u8>> = parts
                    .iter()
                    .filter(|m| !matches!(m, Msg::Compound(_)))
                    .take(255)
                    .map(|m| m.encode())
                    .collect();
                out.push(parts.len() as u8);
                for p in &parts {
                    out.extend_from_slice(&(p.len().min(u16::MAX as usize) as u16).to_be_bytes());
                }
                for p in &parts {
                    out.extend_from_slice(p);
                }
            }
        }
    }

    /// Parses a payload produced by [`Msg::encode`]; never panics.
    pub fn decode(bytes: &[u8]) -> Result<Msg, DecodeError> {
        Self::decode_inner(bytes, true)
    }

    fn decode_inner(bytes: &[u8], top: bool) -> Result<Msg, DecodeError> {
        let mut r = Reader { b: bytes, at: 0 };
        let msg = match r.u8()? {
            T_PING => Msg::Ping {
                seq: r.u32()?,
                target: r.string()?,
                source: r.string()?,
                source_addr: r.ip()?,
            },
            T_INDIRECT => Msg::IndirectPing {
                seq: r.u32()?,
                target: r.string()?,
                target_addr: r.ip()?,
                source: r.string()?,
                source_addr: r.ip()?,
                nack: r.bool()?,
            },
            T_ACK => Msg::Ack { seq: r.u32()? },
            T_NACK => Msg::Nack { seq: r.u32()? },
            T_SUSPECT => Msg::Suspect {
                incarnation: r.u32()?,
                node: r.string()?,
                from: r.string()?,
            },
            T_DEAD => Msg::Dead {
                incarnation: r.u32()?,
                node: r.string()?,
                from: r.string()?,
            },
            T_ALIVE => Msg::Alive {
                incarnation: r.u32()?,
                node: r.string()?,
                addr: r.ip()?,
            },
            T_PUSHPULL => {
                let flags = r.u8()?;
                let count = r.u16()?;
                // Every entry is checked here; the checked bytes are kept.
                let start = r.at;
                for _ in 0..count {
                    r.push_state()?;
                }
                let states = PushStates {
                    count,
                    bytes: bytes[start..r.at].to_vec(),
                };
                Msg::PushPull {
                    join: flags & 1 != 0,
                    reply: flags & 2 != 0,
                    states,
                }
            }
            T_COMPOUND => {
                if !top {
                    return Err(DecodeError::NestedCompound);
                }
                let n = r.u8()? as usize;
                let mut lens = Vec::with_capacity(n);
                for _ in 0..n {
                    lens.push(r.u16()? as usize);
                }
                let mut parts = Vec::with_capacity(n);
                for len in lens {
                    parts.push(Self::decode_inner(r.take(len)?, false)?);
                }
                Msg::Compound(parts)
            }
            other => return Err(DecodeError::UnknownType(other)),
        };
        let rest = bytes.len() - r.at;
        if rest != 0 {
            return Err(DecodeError::Trailing(rest));
        }
        Ok(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{below, stream};

    fn samples() -> Vec<Msg> {
        let ip = Ipv4Addr::new(192, 168, 77, 101);
        let ping = Msg::Ping {
            seq: 7,
            target: "k8s-node-1".into(),
            source: "k8s-node-2".into(),
            source_addr: ip,
        };
        vec![
            ping.clone(),
            Msg::IndirectPing {
                seq: u32::MAX,
                target: "t".into(),
                target_addr: ip,
                source: "ß-ünïcode".into(),
                source_addr: Ipv4Addr::new(1, 2, 3, 4),
                nack: true,
            },
            Msg::Ack { seq: 1 },
            Msg::Nack { seq: 2 },
            Msg::Suspect {
                incarnation: 3,
                node: "a".into(),
                from: "b".into(),
            },
            Msg::Alive {
                incarnation: 4,
                node: "a".into(),
                addr: ip,
            },
            Msg::Dead {
                incarnation: 5,
                node: "a".into(),
                from: "a".into(),
            },
            Msg::PushPull {
                join: true,
                reply: false,
                states: [
                    PushState::new("a", ip, 9, MemberState::Left),
                    PushState::new("b", ip, 0, MemberState::Suspect),
                ]
                .into_iter()
                .collect(),
            },
            Msg::PushPull {
                join: false,
                reply: true,
                states: PushStates::default(),
            },
            Msg::Compound(vec![
                ping,
                Msg::Ack { seq: 3 },
                Msg::Dead {
                    incarnation: 1,
                    node: "x".into(),
                    from: "y".into(),
                },
            ]),
        ]
    }

    #[test]
    fn codec_round_trips_every_message() {
        for m in samples() {
            let b = m.encode();
            assert_eq!(Msg::decode(&b), Ok(m.clone()), "{m:?}");
            // Every strict prefix is rejected, never a panic.
            for cut in 0..b.len() {
                assert!(Msg::decode(&b[..cut]).is_err(), "{m:?} cut at {cut}");
            }
            let mut longer = b.clone();
            longer.push(0);
            assert_eq!(Msg::decode(&longer), Err(DecodeError::Trailing(1)));
        }
        assert_eq!(Msg::decode(&[99]), Err(DecodeError::UnknownType(99)));
        // A compound inside a compound is refused.
        let inner = Msg::Compound(vec![Msg::Ack { seq: 1 }]).encode();
        let mut outer = vec![T_COMPOUND, 1];
        outer.extend_from_slice(&(inner.len() as u16).to_be_bytes());
        outer.extend_from_slice(&inner);
        assert_eq!(Msg::decode(&outer), Err(DecodeError::NestedCompound));
    }

    #[test]
    fn decode_never_panics_on_garbage() {
        let mut r = stream(42, "garbage");
        for len in 0..200usize {
            let bytes: Vec<u8> = (0..len).map(|_| below(&mut r, 256) as u8).collect();
            let _ = Msg::decode(&bytes);
            // Mutated valid messages too.
            for m in samples() {
                let mut b = m.encode();
                if !b.is_empty() {
                    let i = below(&mut r, b.len() as u64) as usize;
                    b[i] = below(&mut r, 256) as u8;
                }
                let _ = Msg::decode(&b);
            }
        }
    }

    #[test]
    fn fixed_fields_are_big_endian_after_the_type() {
        assert_eq!(Msg::Ack { seq: 0x0102_0304 }.encode(), [T_ACK, 1, 2, 3, 4]);
        assert_eq!(Msg::Nack { seq: 9 }.encode(), [T_NACK, 0, 0, 0, 9]);
        let alive = Msg::Alive {
            incarnation: 1,
            node: "ab".into(),
            addr: Ipv4Addr::new(10, 0, 0, 1),
        };
        assert_eq!(
            alive.encode(),
            [T_ALIVE, 0, 0, 0, 1, 0, 2, b'a', b'b', 10, 0, 0, 1]
        );
    }

    #[test]
    fn push_pull_carries_flags_and_state_codes() {
        let m = Msg::PushPull {
            join: false,
            reply: true,
            states: [PushState::new(
                "n",
                Ipv4Addr::new(1, 2, 3, 4),
                7,
                MemberState::Dead,
            )]
            .into_iter()
            .collect(),
        };
        assert_eq!(
            m.encode(),
            [
                T_PUSHPULL, 0b10, 0, 1, 0, 1, b'n', 1, 2, 3, 4, 0, 0, 0, 7, 2
            ]
        );
        let mut bad = m.encode();
        *bad.last_mut().unwrap() = 9;
        assert_eq!(Msg::decode(&bad), Err(DecodeError::BadState(9)));
    }

    #[test]
    fn push_states_read_back_what_was_pushed_up_to_the_counts_width() {
        let ip = Ipv4Addr::new(10, 0, 0, 1);
        let mut s = PushStates::default();
        for i in 0..u16::MAX {
            let state = if i % 2 == 0 {
                MemberState::Alive
            } else {
                MemberState::Suspect
            };
            assert!(s.push(PushState::new("nä", ip, u32::from(i), state)));
        }
        // The count is a u16 on the wire: one more is refused, not wrapped.
        assert!(!s.push(PushState::new("x", ip, 0, MemberState::Dead)));
        assert_eq!(s.len(), usize::from(u16::MAX));
        assert_eq!(s.iter().count(), s.len());
        for (i, e) in s.iter().enumerate() {
            assert_eq!((e.name(), e.addr(), e.incarnation()), ("nä", ip, i as u32));
            assert_eq!(e.state() == MemberState::Alive, i % 2 == 0);
        }
    }

    #[test]
    fn compound_lists_part_lengths_before_the_parts() {
        let m = Msg::Compound(vec![Msg::Ack { seq: 1 }, Msg::Nack { seq: 2 }]);
        assert_eq!(
            m.encode(),
            [
                T_COMPOUND, 2, 0, 5, 0, 5, T_ACK, 0, 0, 0, 1, T_NACK, 0, 0, 0, 2
            ]
        );
        // What the agent budgets for a compound matches the encoding.
        let parts = 2 * (COMPOUND_PER_PART + 5);
        assert_eq!(m.encode().len(), COMPOUND_HEADER + parts);
    }

    #[test]
    fn a_name_that_is_not_utf8_is_refused() {
        let b = [T_SUSPECT, 0, 0, 0, 1, 0, 1, 0xff, 0, 0];
        assert_eq!(Msg::decode(&b), Err(DecodeError::BadName));
    }
}
