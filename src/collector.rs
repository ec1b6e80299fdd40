//! `antlab flows --collector`: the agents' IPFIX sessions, sent for real to a
//! collector over UDP (the default, or `udp://HOST:PORT`) or TCP
//! (`tcp://HOST:PORT`), one socket or connection per agent session, as each
//! antrea-agent has its own. Messages go out in simulated-time order as fast
//! as the socket takes them.

use std::io::Write;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};

use anyhow::{Context, Result};
use sim_core::flows::Transport;
use sim_core::scenario::flow_export::session_messages;
use sim_core::scenario::run::Outcome;

/// Where to send, and how.
#[derive(Debug)]
pub struct Collector {
    pub addr: SocketAddr,
    pub transport: Transport,
    pub text: String,
}

/// `HOST:PORT`, `udp://HOST:PORT` or `tcp://HOST:PORT`.
pub fn parse(text: &str) -> Result<Collector, String> {
    let (transport, rest) = if let Some(r) = text.strip_prefix("tcp://") {
        (Transport::Tcp, r)
    } else if let Some(r) = text.strip_prefix("udp://") {
        (Transport::Udp, r)
    } else if let Some((scheme, _)) = text.split_once("://") {
        return Err(format!(
            "--collector: unknown transport `{scheme}://` (expected udp:// or tcp://)"
        ));
    } else {
        (Transport::Udp, text)
    };
    let addr = rest
        .to_socket_addrs()
        .ok()
        .and_then(|mut it| it.next())
        .ok_or_else(|| format!("--collector: `{text}` is not a HOST:PORT address"))?;
    Ok(Collector {
        addr,
        transport,
        text: text.to_string(),
    })
}

enum Socket {
    Udp(UdpSocket),
    Tcp(TcpStream),
}

/// Sends every session's messages; returns how many messages went.
pub fn send(c: &Collector, outcome: &Outcome, epoch_base_secs: u64) -> Result<usize> {
    let end = outcome.world.now();
    let mut all = Vec::new();
    for (i, s) in outcome.flow_sessions.iter().enumerate() {
        let msgs = session_messages(s, &outcome.flows, c.transport, epoch_base_secs, end)?;
        all.extend(msgs.into_iter().enumerate().map(|(j, (t, m))| (t, i, j, m)));
    }
    all.sort_by_key(|(t, i, j, _)| (*t, *i, *j));
    let mut sockets: Vec<Option<Socket>> = outcome.flow_sessions.iter().map(|_| None).collect();
    for (_, i, _, msg) in &all {
        let socket = match &mut sockets[*i] {
            Some(s) => s,
            slot => slot.insert(open(c)?),
        };
        match socket {
            Socket::Udp(u) => {
                u.send_to(msg, c.addr)
                    .with_context(|| format!("sending IPFIX to {}", c.text))?;
            }
            Socket::Tcp(t) => t
                .write_all(msg)
                .with_context(|| format!("sending IPFIX to {}", c.text))?,
        }
    }
    for s in sockets.into_iter().flatten() {
        if let Socket::Tcp(mut t) = s {
            t.flush()?;
            let _ = t.shutdown(std::net::Shutdown::Write);
        }
    }
    Ok(all.len())
}

fn open(c: &Collector) -> Result<Socket> {
    Ok(match c.transport {
        Transport::Udp => {
            let bind = if c.addr.is_ipv4() {
                "0.0.0.0:0"
            } else {
                "[::]:0"
            };
            Socket::Udp(UdpSocket::bind(bind)?)
        }
        Transport::Tcp => Socket::Tcp(
            TcpStream::connect(c.addr)
                .with_context(|| format!("cannot connect to the collector at {}", c.text))?,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collector_addresses() {
        let c = parse("127.0.0.1:4739").unwrap();
        assert_eq!((c.addr.port(), c.transport), (4739, Transport::Udp));
        assert_eq!(
            parse("udp://127.0.0.1:1").unwrap().transport,
            Transport::Udp
        );
        assert_eq!(
            parse("tcp://127.0.0.1:2").unwrap().transport,
            Transport::Tcp
        );
        assert!(
            parse("sctp://127.0.0.1:2")
                .unwrap_err()
                .contains("unknown transport")
        );
        assert!(
            parse("tcp://nowhere")
                .unwrap_err()
                .contains("not a HOST:PORT")
        );
    }
}
