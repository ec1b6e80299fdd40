//! Probes: ping, TCP connect and HTTP GET sent at an interval from a host,
//! one attempt each, finished by a reply, a drop or a timeout; the verdicts,
//! and the log lines of each attempt and of every up/down transition.

use std::net::Ipv4Addr;

use super::{Event, World};
use crate::model::DeviceId;
use crate::sched::Scheduler;
use crate::sim::probe::{Attempt, Probe, ProbeKind, ProbeSpec, Verdict};
use crate::sim::trace::{DropReason, LogKind, TraceTag};
use crate::time::SimDuration;
use crate::wire::{self, Ipv4Pkt, L4};

/// A ping probe's payload, repeated to its `size`.
const PING_DATA: &[u8] = b"antlab-probe";
impl World {
    pub fn probes(&self) -> &[Probe] {
        &self.probes
    }

    pub fn probe(&self, name: &str) -> Option<&Probe> {
        self.probes.iter().find(|p| p.spec.name == name)
    }

    /// Starts a probe; its first attempt is sent now.
    pub fn start_probe(&mut self, spec: ProbeSpec) -> Result<(), String> {
        if let Some(p) = self.probes.iter_mut().find(|p| p.spec.name == spec.name) {
            if p.running {
                return Err(format!("probe `{}` is already running", spec.name));
            }
            p.spec = spec;
            p.running = true;
            let id = p.id;
            self.queue.push(self.now, Event::ProbeSend { probe: id });
            return Ok(());
        }
        let id = self.probes.len() as u32;
        let msg = format!(
            "start {} {} -> {} ({}), every {}",
            spec.name,
            spec.from_label,
            spec.to_label,
            match &spec.kind {
                ProbeKind::Ping => "ping".to_string(),
                ProbeKind::Tcp { port } => format!("tcp/{port}"),
                ProbeKind::Http { port, host, path } => format!("http://{host}:{port}{path}"),
            },
            spec.interval
        );
        self.probes.push(Probe::new(id, spec));
        self.record(LogKind::Probe, "", msg);
        self.queue.push(self.now, Event::ProbeSend { probe: id });
        Ok(())
    }

    pub fn stop_probe(&mut self, name: &str) -> Result<(), String> {
        let p = self
            .probes
            .iter_mut()
            .find(|p| p.spec.name == name)
            .ok_or_else(|| format!("no probe called `{name}`"))?;
        p.running = false;
        let stats = p.stats();
        let msg = format!(
            "stop {name}: {} sent, {} ok, {} failed",
            stats.sent, stats.ok, stats.failed
        );
        self.record(LogKind::Probe, "", msg);
        Ok(())
    }

    pub(super) fn probe_send(&mut self, id: u32) {
        let now = self.now;
        let p = &mut self.probes[id as usize];
        if !p.running {
            return;
        }
        let seq = p.attempts.len() as u32 + 1;
        if let Some(max) = p.spec.count
            && seq > max
        {
            p.running = false;
            return;
        }
        p.attempts.push(Attempt {
            seq,
            sent: now,
            verdict: Verdict::Pending,
            seen_src: None,
            seen_by: None,
            path: Vec::new(),
            drops: Vec::new(),
            http_status: None,
        });
        let spec = p.spec.clone();
        self.queue
            .push(now + spec.interval, Event::ProbeSend { probe: id });
        self.queue
            .push(now + spec.timeout, Event::ProbeTimeout { probe: id, seq });
        let tag = TraceTag {
            probe: id,
            attempt: seq,
            reply: false,
        };
        if !self.device(spec.from).powered() {
            let device = self.device(spec.from).name().to_string();
            self.drop_packet(Some(tag), DropReason::PoweredOff { device });
            self.finish_attempt(id, seq, false);
            return;
        }
        let l4 = match spec.kind {
            ProbeKind::Ping => L4::IcmpEcho {
                request: true,
                // ping uses its process id as identifier; ours is stable per probe.
                ident: 0x4000 + id as u16,
                seq: seq as u16,
                data: match spec.size {
                    None => PING_DATA.to_vec(),
                    Some(n) => PING_DATA.iter().copied().cycle().take(n.into()).collect(),
                },
            },
            ProbeKind::Tcp { port } | ProbeKind::Http { port, .. } => {
                let flags = wire::TcpFlags {
                    syn: true,
                    ..Default::default()
                };
                L4::Tcp {
                    // Linux's default ephemeral range starts at 32768.
                    src_port: 32768 + ((id * 1000 + seq) % 28000) as u16,
                    dst_port: port,
                    seq: seq.wrapping_mul(0x9e37_79b9),
                    ack: 0,
                    flags,
                    window: 64240,
                    payload: Vec::new(),
                }
            }
        };
        let pkt = Ipv4Pkt {
            src: Ipv4Addr::UNSPECIFIED,
            dst: spec.to,
            ttl: 64,
            ident: 0,
            l4,
        };
        self.call_stack(spec.from, |stack, cx| stack.send(cx, pkt, Some(tag)));
    }

    pub(super) fn probe_timeout(&mut self, id: u32, seq: u32) {
        let pending = self.probes[id as usize]
            .attempt_mut(seq)
            .is_some_and(|a| a.verdict == Verdict::Pending);
        if pending {
            self.finish_attempt(id, seq, false);
        }
    }

    pub(super) fn local_delivery(&mut self, at: DeviceId, pkt: &Ipv4Pkt, tag: Option<TraceTag>) {
        let Some(tag) = tag else { return };
        let Some(probe) = self.probes.get(tag.probe as usize) else {
            return;
        };
        let host = self.device(at).name().to_string();
        if !tag.reply {
            if let Some(a) = self.probes[tag.probe as usize].attempt_mut(tag.attempt) {
                a.seen_src = Some(pkt.src);
                a.seen_by = Some(host);
            }
            return;
        }
        if at != probe.spec.from {
            return;
        }
        let answer = matches!(&pkt.l4, L4::IcmpEcho { request: false, .. })
            || matches!(&pkt.l4, L4::Tcp { flags, .. } if flags.syn && flags.ack);
        if answer && pkt.src != probe.spec.to {
            // A reply must come back from the address the client talked to
            // (a Service VIP, not the endpoint): a real client would drop it.
            let reason = DropReason::WrongReplySource {
                device: host,
                expected: probe.spec.to,
                got: pkt.src,
            };
            self.drop_packet(Some(tag), reason);
            self.finish_attempt(tag.probe, tag.attempt, false);
            return;
        }
        if let ProbeKind::Http { host, path, .. } = &probe.spec.kind {
            match &pkt.l4 {
                // Connected: send the request, like curl.
                L4::Tcp {
                    flags,
                    src_port,
                    dst_port,
                    seq,
                    ack,
                    ..
                } if flags.syn && flags.ack => {
                    let request = format!(
                        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: curl/7.68.0\r\nAccept: */*\r\n\r\n"
                    );
                    let req = Ipv4Pkt {
                        src: pkt.dst,
                        dst: pkt.src,
                        ttl: 64,
                        ident: 0,
                        l4: L4::Tcp {
                            src_port: *dst_port,
                            dst_port: *src_port,
                            seq: *ack,
                            ack: seq.wrapping_add(1),
                            flags: wire::TcpFlags {
                                ack: true,
                                psh: true,
                                ..Default::default()
                            },
                            window: 64240,
                            payload: request.into_bytes(),
                        },
                    };
                    let from = probe.spec.from;
                    let tag = TraceTag {
                        reply: false,
                        ..tag
                    };
                    self.call_stack(from, |stack, cx| stack.send(cx, req, Some(tag)));
                    return;
                }
                L4::Tcp { payload, .. } if payload.starts_with(b"HTTP/1.1 ") => {
                    let from = probe.spec.from;
                    let status = std::str::from_utf8(&payload[9..])
                        .ok()
                        .and_then(|s| s.get(..3))
                        .and_then(|c| c.parse().ok());
                    if let Some(a) = self.probes[tag.probe as usize].attempt_mut(tag.attempt) {
                        a.http_status = status;
                    }
                    self.finish_attempt(tag.probe, tag.attempt, true);
                    // curl exits and its socket closes.
                    let fin = crate::sim::tcp_close::close_after_response(pkt);
                    self.send_untraced(from, fin.into_iter().collect());
                    return;
                }
                _ => {}
            }
        }
        let verdict = match &pkt.l4 {
            L4::IcmpEcho { request: false, .. } => Some(true),
            L4::Tcp { flags, .. } if flags.syn && flags.ack => Some(true),
            L4::Tcp { flags, .. } if flags.rst => Some(false),
            L4::IcmpDestUnreachable { .. }
            | L4::IcmpFragNeeded { .. }
            | L4::IcmpTimeExceeded { .. } => Some(false),
            _ => None,
        };
        if let Some(ok) = verdict {
            let from = probe.spec.from;
            let connected = ok && matches!(pkt.l4, L4::Tcp { .. });
            self.finish_attempt(tag.probe, tag.attempt, ok);
            if connected {
                // A TCP probe is connect() then close().
                self.send_untraced(from, crate::sim::tcp_close::connect_then_close(pkt));
            }
        }
    }

    fn finish_attempt(&mut self, id: u32, seq: u32, ok: bool) {
        let now = self.now;
        let p = &mut self.probes[id as usize];
        let timeout = p.spec.timeout;
        let pname = p.spec.name.clone();
        let Some(a) = p.attempt_mut(seq) else { return };
        if a.verdict != Verdict::Pending {
            return;
        }
        a.verdict = if ok {
            Verdict::Ok {
                rtt_ns: now.since(a.sent).as_nanos(),
            }
        } else {
            let reason = a
                .drops
                .first()
                .map_or_else(|| format!("no reply within {timeout}"), |d| d.to_string());
            Verdict::Fail { reason }
        };
        let sent = a.sent;
        let line = match &a.verdict {
            Verdict::Ok { rtt_ns } => {
                let src = a
                    .seen_src
                    .map_or(String::new(), |s| format!(", seen from {s}"));
                format!("{pname}#{seq} ok rtt {}{src}", SimDuration(*rtt_ns))
            }
            Verdict::Fail { reason } => format!("{pname}#{seq} FAILED: {reason}"),
            Verdict::Pending => unreachable!(),
        };
        // Transitions are what people read; each attempt is kept for -o json.
        let in_order = seq > p.last_seq;
        let transition = match (p.last_ok, ok) {
            _ if !in_order => None,
            (Some(true) | None, false) => {
                p.down_since = Some(sent);
                Some(format!(
                    "{} DOWN: {}",
                    p.spec.name,
                    line.split_once(": ").map_or("", |x| x.1)
                ))
            }
            (Some(false), true) => {
                let since = p.down_since.take().unwrap_or(sent);
                Some(format!(
                    "{} UP again after {} outage",
                    p.spec.name,
                    sent.since(since)
                ))
            }
            (None, true) => Some(format!("{} UP", p.spec.name)),
            _ => None,
        };
        if in_order {
            p.last_ok = Some(ok);
            p.last_seq = seq;
        }
        p.finished(seq);
        self.record(LogKind::Probe, "", line);
        if let Some(t) = transition {
            self.record(LogKind::Probe, "", t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testlab::{THREE_HOSTS, id, ip, messages, ms, probe, world};
    use crate::sim::probe::{ProbeKind, Verdict};
    use crate::sim::trace::LogKind;

    #[test]
    fn a_counted_ping_records_every_attempt_and_stops() {
        let mut w = world(THREE_HOSTS);
        let mut spec = probe(&w, "ping", "h1", "10.0.0.2", ProbeKind::Ping);
        spec.count = Some(3);
        w.start_probe(spec).unwrap();
        w.run_until(ms(1_000));
        let p = w.probe("ping").unwrap();
        assert!(!p.is_running(), "count reached");
        let seqs: Vec<u32> = p.attempts().iter().map(|a| a.seq).collect();
        assert_eq!(seqs, [1, 2, 3]);
        let sent: Vec<u64> = p.attempts().iter().map(|a| a.sent.as_nanos()).collect();
        assert_eq!(sent, [0, ms(100).as_nanos(), ms(200).as_nanos()]);
        for a in p.attempts() {
            assert!(a.ok(), "{:?}", a.verdict);
            assert_eq!(a.seen_src, Some(ip("10.0.0.1")));
            assert_eq!(a.seen_by.as_deref(), Some("h2"));
        }
        let s = p.stats();
        assert_eq!((s.sent, s.ok, s.failed), (3, 3, 0));
        let log = messages(&w, LogKind::Probe);
        assert_eq!(log[0], "start ping h1 -> 10.0.0.2 (ping), every 100ms");
        assert!(log[1].starts_with("ping#1 ok rtt "), "{}", log[1]);
        assert!(log[1].ends_with(", seen from 10.0.0.1"), "{}", log[1]);
        assert_eq!(log[2], "ping UP");
        assert_eq!(
            log.len(),
            5,
            "one line per attempt, one transition: {log:?}"
        );
    }

    #[test]
    fn starting_a_running_probe_is_refused_and_stopping_logs_its_counts() {
        let mut w = world(THREE_HOSTS);
        let spec = probe(&w, "ping", "h1", "10.0.0.2", ProbeKind::Ping);
        w.start_probe(spec.clone()).unwrap();
        assert_eq!(
            w.start_probe(spec.clone()).unwrap_err(),
            "probe `ping` is already running"
        );
        w.run_until(ms(250));
        w.stop_probe("ping").unwrap();
        assert_eq!(
            messages(&w, LogKind::Probe).last().map(String::as_str),
            Some("stop ping: 3 sent, 3 ok, 0 failed")
        );
        assert!(w.stop_probe("nope").is_err());
        w.run_until(ms(1_000));
        assert_eq!(w.probe("ping").unwrap().attempts().len(), 3);
        // Started again, it goes on numbering its attempts.
        w.start_probe(spec).unwrap();
        w.run_until(ms(1_050));
        let p = w.probe("ping").unwrap();
        assert!(p.is_running());
        assert_eq!(p.attempts().last().map(|a| a.seq), Some(4));
        assert_eq!(w.probes().len(), 1);
    }

    #[test]
    fn an_unanswered_probe_goes_down_then_up_again_with_its_outage() {
        let mut w = world(THREE_HOSTS);
        let h2 = id(&w, "h2");
        w.set_power(h2, false);
        w.start_probe(probe(&w, "ping", "h1", "10.0.0.2", ProbeKind::Ping))
            .unwrap();
        w.run_until(ms(1_000));
        let p = w.probe("ping").unwrap();
        assert!(p.down_since().is_some());
        assert!(
            matches!(&p.attempts()[0].verdict, Verdict::Fail { reason } if reason == "no reply within 500ms")
        );
        w.set_power(h2, true);
        w.run_until(ms(6_000));
        let log = messages(&w, LogKind::Probe);
        assert!(
            log.contains(&"ping DOWN: no reply within 500ms".to_string()),
            "{log:?}"
        );
        let up = log
            .iter()
            .find(|l| l.starts_with("ping UP again after "))
            .expect("back up");
        assert!(up.ends_with(" outage"), "{up}");
        assert!(w.probe("ping").unwrap().down_since().is_none());
    }

    #[test]
    fn a_tcp_probe_to_a_closed_port_fails_and_one_to_an_open_port_connects() {
        let mut w = world(THREE_HOSTS);
        w.start_probe(probe(
            &w,
            "closed",
            "h1",
            "10.0.0.3",
            ProbeKind::Tcp { port: 80 },
        ))
        .unwrap();
        w.start_probe(probe(
            &w,
            "open",
            "h1",
            "10.0.0.2",
            ProbeKind::Tcp { port: 80 },
        ))
        .unwrap();
        w.run_until(ms(50));
        let closed = w
            .probe("closed")
            .unwrap()
            .last_finished()
            .expect("a verdict");
        assert_eq!(
            closed.verdict,
            Verdict::Fail {
                reason: "connection refused by h3 (TCP port 80 closed)".into()
            }
        );
        let open = w.probe("open").unwrap().last_finished().expect("a verdict");
        assert!(open.ok(), "{:?}", open.verdict);
    }

    #[test]
    fn a_probe_from_a_powered_off_host_fails_at_once() {
        let mut w = world(THREE_HOSTS);
        w.set_power(id(&w, "h1"), false);
        w.start_probe(probe(&w, "ping", "h1", "10.0.0.2", ProbeKind::Ping))
            .unwrap();
        w.run_until(ms(0));
        let a = &w.probe("ping").unwrap().attempts()[0];
        assert_eq!(
            a.verdict,
            Verdict::Fail {
                reason: "h1 is powered off".into()
            }
        );
    }
}
