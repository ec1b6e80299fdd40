//! How the lab's TCP endpoints finish a connection, so conntrack sees the
//! whole life of one (SYN_SENT, SYN_RECV, ESTABLISHED, FIN_WAIT, LAST_ACK,
//! TIME_WAIT) as it would on a real client and server:
//!
//! - a TCP probe is `connect()` then `close()`: on the SYN+ACK the client
//!   sends the handshake's ACK, then FIN+ACK;
//! - an HTTP probe (curl) closes once the response is in: FIN+ACK;
//! - a server that gets a FIN closes too (the application reads EOF and
//!   closes): FIN+ACK, the ACK of the peer's FIN riding along;
//! - the side that sent the first FIN acknowledges the peer's FIN and goes to
//!   TIME_WAIT.
//!
//! Sequence numbers follow from the segment being answered, so neither end
//! keeps per-connection state.

use crate::wire::{Ipv4Pkt, L4, TcpFlags};

const TTL: u8 = 64;
const WINDOW: u16 = 64240;

fn segment(to: &Ipv4Pkt, seq: u32, ack: u32, fin: bool) -> Option<Ipv4Pkt> {
    let L4::Tcp {
        src_port, dst_port, ..
    } = &to.l4
    else {
        return None;
    };
    Some(Ipv4Pkt {
        src: to.dst,
        dst: to.src,
        ttl: TTL,
        ident: 0,
        l4: L4::Tcp {
            src_port: *dst_port,
            dst_port: *src_port,
            seq,
            ack,
            flags: TcpFlags {
                ack: true,
                fin,
                ..TcpFlags::default()
            },
            window: WINDOW,
            payload: Vec::new(),
        },
    })
}

fn seq_ack_len(pkt: &Ipv4Pkt) -> Option<(u32, u32, u32, TcpFlags)> {
    match &pkt.l4 {
        L4::Tcp {
            seq,
            ack,
            payload,
            flags,
            ..
        } => Some((*seq, *ack, payload.len() as u32, *flags)),
        _ => None,
    }
}

/// The client's answer to a SYN+ACK when it only connects: the ACK that
/// completes the handshake and the FIN+ACK of `close()`.
pub fn connect_then_close(syn_ack: &Ipv4Pkt) -> Vec<Ipv4Pkt> {
    let Some((seq, ack, _, _)) = seq_ack_len(syn_ack) else {
        return Vec::new();
    };
    let their_next = seq.wrapping_add(1);
    [
        segment(syn_ack, ack, their_next, false),
        segment(syn_ack, ack, their_next, true),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The client's FIN+ACK after reading a response (`response` carries data).
pub fn close_after_response(response: &Ipv4Pkt) -> Option<Ipv4Pkt> {
    let (seq, ack, len, _) = seq_ack_len(response)?;
    segment(response, ack, seq.wrapping_add(len), true)
}

/// What an end answers to a segment carrying FIN: a listener (`server`)
/// closes as well (FIN+ACK); the end that closed first acknowledges (ACK).
pub fn answer_fin(fin: &Ipv4Pkt, server: bool) -> Option<Ipv4Pkt> {
    let (seq, ack, len, flags) = seq_ack_len(fin)?;
    if !flags.fin {
        return None;
    }
    // The FIN takes one sequence number after any data it carries.
    segment(fin, ack, seq.wrapping_add(len).wrapping_add(1), server)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn tcp(seq: u32, ack: u32, flags: TcpFlags, payload: &[u8]) -> Ipv4Pkt {
        Ipv4Pkt {
            src: Ipv4Addr::new(10, 0, 0, 2),
            dst: Ipv4Addr::new(10, 0, 0, 1),
            ttl: 64,
            ident: 0,
            l4: L4::Tcp {
                src_port: 80,
                dst_port: 40000,
                seq,
                ack,
                flags,
                window: 1,
                payload: payload.to_vec(),
            },
        }
    }

    fn parts(p: &Ipv4Pkt) -> (u32, u32, bool, bool, u16) {
        match &p.l4 {
            L4::Tcp {
                seq,
                ack,
                flags,
                dst_port,
                ..
            } => (*seq, *ack, flags.ack, flags.fin, *dst_port),
            _ => panic!("not TCP"),
        }
    }

    #[test]
    fn connect_close_and_the_fin_exchange_number_their_bytes() {
        let syn_ack = tcp(
            1000,
            501,
            TcpFlags {
                syn: true,
                ack: true,
                ..TcpFlags::default()
            },
            b"",
        );
        let out = connect_then_close(&syn_ack);
        assert_eq!(out.len(), 2);
        assert_eq!(parts(&out[0]), (501, 1001, true, false, 80));
        assert_eq!(parts(&out[1]), (501, 1001, true, true, 80));
        assert_eq!(out[1].dst, Ipv4Addr::new(10, 0, 0, 2));
        // The server's FIN+ACK acknowledges the client's FIN (one number).
        let server = answer_fin(&out[1], true).unwrap();
        assert_eq!(parts(&server), (1001, 502, true, true, 40000));
        // The client's last ACK.
        let last = answer_fin(&server, false).unwrap();
        assert_eq!(parts(&last), (502, 1002, true, false, 80));
        // No FIN, nothing to answer.
        assert!(answer_fin(&out[0], true).is_none());
    }

    #[test]
    fn curl_closes_after_the_response_data() {
        let resp = tcp(
            7,
            120,
            TcpFlags {
                ack: true,
                psh: true,
                ..TcpFlags::default()
            },
            b"HTTP/1.1 200 OK\r\n\r\n",
        );
        let fin = close_after_response(&resp).unwrap();
        assert_eq!(parts(&fin), (120, 7 + 19, true, true, 80));
    }
}
