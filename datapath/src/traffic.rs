//! Real traffic: probes (ping, TCP, HTTP) from a Pod's or host's namespace,
//! and the small HTTP servers that stand in for Pods and external hosts.
//!
//! A server answers every request with `server=<who> client=<peer address>`,
//! so a probe learns both which endpoint served it and which source address
//! the server saw (the Egress IP, the node IP after masquerade, ...).
//! Ping probes use `ping -e <id>` with one ICMP identifier per probe; the
//! external host and the gateway record (source, identifier) in nftables
//! sets, which is how `observe` learns what a ping's destination saw.
//!
//! Attempts are the simulator's [`Attempt`]s, so the expectation judge and
//! the outage definition read both sides' alike: `sent` is the time since
//! the run's epoch (wall clock, as a [`SimTime`]), an answer is
//! [`Verdict::Ok`] with its round trip, and there is no traced path.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use sim_core::sim::probe::Attempt;
use sim_core::sim::probe::Verdict;
use sim_core::time::{SimDuration, SimTime};

/// `d` since the run's epoch, as attempts count time.
pub fn since_epoch(d: Duration) -> SimTime {
    SimTime(d.as_nanos() as u64)
}

/// The wall-clock offset from the run's epoch of an attempt's `t`.
pub fn from_epoch(t: SimTime) -> Duration {
    Duration::from_nanos(t.as_nanos())
}

#[derive(Clone, Debug)]
pub enum RealProbeKind {
    /// With the ICMP identifier to use.
    Ping {
        id: u16,
        /// Payload bytes (`ping -s`), sent with DF (`-M do`), as the
        /// simulator sends every packet.
        size: Option<u16>,
    },
    Tcp {
        port: u16,
    },
    Http {
        port: u16,
        host: String,
        path: String,
    },
}

pub struct ProbeHandle {
    pub name: String,
    pub kind: RealProbeKind,
    pub to: Ipv4Addr,
    pub timeout: Duration,
    /// Finished attempts, in the order they finished.
    pub attempts: Arc<Mutex<Vec<Attempt>>>,
    /// Send times of every attempt started, finished or not.
    started: Arc<Mutex<Vec<SimTime>>>,
    stop: Arc<AtomicBool>,
}

impl ProbeHandle {
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
    /// Waits (at most `max_wait`) until every attempt sent up to `upto` has
    /// its verdict, so "the last attempt" at an expectation means the last
    /// one sent before it, whether it was answered at once or timed out.
    pub fn settle(&self, upto: Duration, max_wait: Duration) {
        let upto = since_epoch(upto);
        let t0 = crate::clock::now();
        loop {
            let sent: Vec<SimTime> = self
                .started
                .lock()
                .map(|v| v.iter().copied().filter(|s| *s <= upto).collect())
                .unwrap_or_default();
            let done = self.snapshot();
            if sent.iter().all(|s| done.iter().any(|a| a.sent == *s)) || t0.elapsed() > max_wait {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The finished attempts, in the order sent.
    pub fn snapshot(&self) -> Vec<Attempt> {
        let mut v = self.attempts.lock().map(|a| a.clone()).unwrap_or_default();
        v.sort_by_key(|a| a.sent);
        v
    }
}

impl Drop for ProbeHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What a probe does: from namespace `ns`, one attempt every `interval`,
/// each allowed `timeout`, at most `count` attempts.
pub struct ProbePlan {
    pub ns: String,
    pub name: String,
    pub to: Ipv4Addr,
    pub kind: RealProbeKind,
    pub interval: Duration,
    pub timeout: Duration,
    pub count: Option<u32>,
    /// Who answers a ping that succeeds (the Pod that holds the address),
    /// when it is known: a ping's reply itself names nobody.
    pub answerer: Option<String>,
}

/// Starts a probe; attempts overlap like the simulator's.
pub fn start_probe(plan: ProbePlan, epoch: Instant) -> std::io::Result<ProbeHandle> {
    let ProbePlan {
        ns,
        name,
        to,
        kind,
        interval,
        timeout,
        count,
        answerer,
    } = plan;
    let (ns, name) = (ns.as_str(), name.as_str());
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let started = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let (a2, s2, k2, st2) = (
        attempts.clone(),
        stop.clone(),
        kind.clone(),
        started.clone(),
    );
    crate::netns::spawn_in(ns, format!("probe-{name}"), move || {
        let mut n = 0u32;
        let mut next = crate::clock::now();
        while !s2.load(Ordering::Relaxed) && count.is_none_or(|c| n < c) {
            n += 1;
            let (a3, k3, seq, who) = (a2.clone(), k2.clone(), n, answerer.clone());
            let sent = epoch.elapsed();
            if let Ok(mut v) = st2.lock() {
                v.push(since_epoch(sent));
            }
            // Threads made here inherit this thread's namespace.
            let _ = std::thread::Builder::new()
                .name("attempt".into())
                .spawn(move || {
                    let mut a = attempt(&k3, to, timeout);
                    a.seq = seq;
                    a.sent = since_epoch(sent);
                    if let Verdict::Ok { rtt_ns } = &mut a.verdict {
                        *rtt_ns = epoch.elapsed().saturating_sub(sent).as_nanos() as u64;
                        if a.seen_by.is_none() {
                            a.seen_by = who;
                        }
                    }
                    if let Ok(mut v) = a3.lock() {
                        v.push(a);
                    }
                });
            next += interval;
            let now = crate::clock::now();
            if next > now {
                std::thread::sleep(next - now);
            }
        }
    })?;
    Ok(ProbeHandle {
        name: name.to_string(),
        kind,
        to,
        timeout,
        attempts,
        started,
        stop,
    })
}

/// An attempt's outcome before it is numbered and timed.
fn outcome(verdict: Verdict) -> Attempt {
    Attempt::bare(0, SimTime::ZERO, verdict)
}

fn fail(reason: impl Into<String>) -> Attempt {
    outcome(Verdict::Fail {
        reason: reason.into(),
    })
}

fn answered() -> Attempt {
    outcome(Verdict::Ok { rtt_ns: 0 })
}

/// The probe's timeout as attempts count time.
pub fn timeout_of(p: &ProbeHandle) -> SimDuration {
    SimDuration::from_nanos(p.timeout.as_nanos() as u64)
}

fn attempt(kind: &RealProbeKind, to: Ipv4Addr, timeout: Duration) -> Attempt {
    match kind {
        RealProbeKind::Ping { id, size } => {
            let secs = format!("{:.3}", timeout.as_secs_f64().max(0.2));
            let mut sized: Vec<String> = Vec::new();
            if let Some(n) = size {
                sized = vec!["-s".into(), n.to_string(), "-M".into(), "do".into()];
            }
            let out = std::process::Command::new("ping")
                .args(["-n", "-q", "-c", "1", "-W", &secs, "-e", &id.to_string()])
                .args(&sized)
                .arg(to.to_string())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
            match out {
                Ok(s) if s.success() => answered(),
                Ok(_) => fail("no echo reply"),
                Err(e) => fail(format!("cannot run ping: {e}")),
            }
        }
        RealProbeKind::Tcp { port } => request(to, *port, "GET / HTTP/1.0\r\n\r\n".into(), timeout),
        RealProbeKind::Http { port, host, path } => request(
            to,
            *port,
            format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
            timeout,
        ),
    }
}

fn request(to: Ipv4Addr, port: u16, req: String, timeout: Duration) -> Attempt {
    let start = crate::clock::now();
    let mut s = match TcpStream::connect_timeout(&SocketAddr::from((to, port)), timeout) {
        Ok(s) => s,
        Err(e) => return fail(format!("connect: {e}")),
    };
    let left = timeout
        .saturating_sub(start.elapsed())
        .max(Duration::from_millis(50));
    let _ = s.set_read_timeout(Some(left));
    let _ = s.set_write_timeout(Some(left));
    if let Err(e) = s.write_all(req.as_bytes()) {
        return fail(format!("send: {e}"));
    }
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    let status = body
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok());
    let field = |k: &str| {
        body.split_whitespace()
            .find_map(|w| w.strip_prefix(k))
            .map(str::to_string)
    };
    Attempt {
        seen_src: field("client=").and_then(|c| c.parse().ok()),
        seen_by: field("server="),
        http_status: status,
        ..answered()
    }
}

/// Serves `server=<who> client=<peer>` on `port` inside `ns` until the
/// process ends (a stopped server is a dead Pod: its namespace goes down
/// with `real down`), with HTTP status `status` (a scenario's
/// `options.httpStatus`, else 200).
pub fn start_server(ns: &str, who: &str, port: u16, status: u16) -> std::io::Result<()> {
    let who = who.to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    crate::netns::spawn_in(ns, format!("http-{who}"), move || {
        let l = match TcpListener::bind(("0.0.0.0", port)) {
            Ok(l) => {
                let _ = tx.send(Ok(()));
                l
            }
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        };
        for conn in l.incoming().flatten() {
            let who = who.clone();
            let _ = std::thread::Builder::new()
                .name("http-conn".into())
                .spawn(move || serve(conn, &who, status));
        }
    })?;
    rx.recv().map_err(std::io::Error::other)?
}

/// The reason phrase of the statuses a scenario is likely to ask for.
fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        404 => "Not Found",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

fn serve(mut c: TcpStream, who: &str, status: u16) {
    let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = [0u8; 2048];
    let mut got = Vec::new();
    while !got.windows(4).any(|w| w == b"\r\n\r\n") && got.len() < 8192 {
        match c.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let peer = c
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    let body = format!("server={who} client={peer}\n");
    let _ = write!(
        c,
        "HTTP/1.1 {status} {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        reason_phrase(status),
        body.len()
    );
}
