//! Traffic probes: a ping or a TCP connect repeated at an interval, from one
//! endpoint to another, with every attempt's verdict, path and what the far
//! end saw.

use std::net::Ipv4Addr;

use super::trace::DropReason;
use crate::model::DeviceId;
use crate::time::{SimDuration, SimTime};

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum ProbeKind {
    Ping,
    Tcp {
        port: u16,
    },
    /// A TCP connection carrying one HTTP/1.1 GET (like `curl http://host/path`).
    Http {
        port: u16,
        host: String,
        path: String,
    },
}

#[derive(Clone, Debug)]
pub struct ProbeSpec {
    pub name: String,
    pub from: DeviceId,
    pub from_label: String,
    pub to: Ipv4Addr,
    pub to_label: String,
    pub kind: ProbeKind,
    pub interval: SimDuration,
    pub timeout: SimDuration,
    /// Stop after this many attempts; `None` = until stopped.
    pub count: Option<u32>,
    /// Ping payload bytes (`ping -s`); `None`: a 12-byte `antlab-probe`.
    pub size: Option<u16>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "verdict", rename_all = "lowercase")]
pub enum Verdict {
    Pending,
    Ok { rtt_ns: u64 },
    Fail { reason: String },
}

/// One step of a traced packet's path.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Hop {
    pub time: SimTime,
    pub device: String,
    pub text: String,
    pub(crate) vlan: Option<u16>,
    pub reply: bool,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Attempt {
    pub seq: u32,
    pub sent: SimTime,
    pub verdict: Verdict,
    /// The source address the destination saw, and which host saw it.
    pub seen_src: Option<Ipv4Addr>,
    pub seen_by: Option<String>,
    pub path: Vec<Hop>,
    pub drops: Vec<DropReason>,
    /// The HTTP status line's code, for HTTP probes.
    pub http_status: Option<u16>,
}

impl Attempt {
    /// Attempt `seq`, sent at `sent`, with `verdict` and nothing else
    /// recorded (no path, no answerer).
    pub fn bare(seq: u32, sent: SimTime, verdict: Verdict) -> Attempt {
        Attempt {
            seq,
            sent,
            verdict,
            seen_src: None,
            seen_by: None,
            path: Vec::new(),
            drops: Vec::new(),
            http_status: None,
        }
    }

    pub fn ok(&self) -> bool {
        matches!(self.verdict, Verdict::Ok { .. })
    }
    /// VLANs the request crossed on its way out.
    pub fn request_vlans(&self) -> Vec<u16> {
        let mut v: Vec<u16> = self
            .path
            .iter()
            .filter(|h| !h.reply)
            .filter_map(|h| h.vlan)
            .collect();
        v.dedup();
        v
    }
}

#[derive(Clone, Debug)]
pub struct Probe {
    pub(super) id: u32,
    pub(super) spec: ProbeSpec,
    pub(super) running: bool,
    pub(super) attempts: Vec<Attempt>,
    /// Whether the last finished attempt succeeded (for transition logging).
    pub(super) last_ok: Option<bool>,
    /// When the current run of failures began.
    pub(super) down_since: Option<SimTime>,
    /// The highest attempt number whose verdict drove `last_ok`: verdicts of
    /// older attempts (timeouts arrive late) do not flip the state back.
    pub(super) last_seq: u32,
    /// The highest attempt number with a verdict: [`Probe::last_finished`].
    newest_finished: u32,
    /// Attempts before this index have been looked at: finished ones have
    /// had their paths forgotten, pending ones are when they finish.
    forgotten: usize,
}

/// Summary figures for tables and expectations.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ProbeStats {
    pub(crate) sent: u32,
    pub ok: u32,
    pub failed: u32,
    /// The longest run of failed attempts, from the first failed send to the
    /// first successful send after it.
    pub longest_outage: SimDuration,
    pub(crate) outages: u32,
}

impl Probe {
    /// Probe number `id` (its index in the world), running, no attempt yet.
    pub(super) fn new(id: u32, spec: ProbeSpec) -> Probe {
        Probe {
            id,
            spec,
            running: true,
            attempts: Vec::new(),
            last_ok: None,
            down_since: None,
            last_seq: 0,
            newest_finished: 0,
            forgotten: 0,
        }
    }

    /// What the probe sends, from where, how often.
    pub fn spec(&self) -> &ProbeSpec {
        &self.spec
    }

    /// Every attempt sent so far, oldest first (attempt `n` at index `n - 1`).
    pub fn attempts(&self) -> &[Attempt] {
        &self.attempts
    }

    /// When its current run of failures began (`None` while it is up).
    pub fn down_since(&self) -> Option<SimTime> {
        self.down_since
    }

    /// Whether it still sends attempts (not stopped, count not reached).
    pub fn is_running(&self) -> bool {
        self.running
    }

    /// Attempt `seq` (attempts are numbered from 1 in the order sent).
    pub(super) fn attempt_mut(&mut self, seq: u32) -> Option<&mut Attempt> {
        let i = (seq as usize).checked_sub(1)?;
        self.attempts.get_mut(i).filter(|a| a.seq == seq)
    }

    /// Whether hops and drops of attempt `seq` are still worth keeping: it
    /// has no verdict yet, or it is the last finished one (late replies
    /// still show in its trace).
    pub(super) fn keeps_path_of(&self, seq: u32, finished: bool) -> bool {
        !finished || seq >= self.newest_finished
    }

    /// Notes that attempt `seq` got its verdict, and forgets the paths and
    /// drop lists of the finished attempts before the last finished one:
    /// traces, expectations and the TUI only read the last finished
    /// attempt's, and a long run would otherwise keep every hop of every
    /// attempt. Verdicts, send times and who answered stay (statistics,
    /// `minAnswerers`, the probe table).
    pub(super) fn finished(&mut self, seq: u32) {
        self.newest_finished = self.newest_finished.max(seq);
        let newest = self.newest_finished as usize - 1;
        let forget = |a: &mut Attempt| {
            a.path = Vec::new();
            a.drops = Vec::new();
        };
        // Attempt `seq` is at index `seq - 1`. An older one finishing late
        // is forgotten at once; the ones up to the newest finished are
        // looked at once each, and those still pending wait for their turn.
        let i = seq as usize - 1;
        if i < newest.min(self.forgotten)
            && let Some(a) = self.attempts.get_mut(i)
        {
            forget(a);
        }
        while self.forgotten < newest {
            if let Some(a) = self.attempts.get_mut(self.forgotten)
                && a.verdict != Verdict::Pending
            {
                forget(a);
            }
            self.forgotten += 1;
        }
    }

    /// The most recent attempt that has a verdict.
    pub fn last_finished(&self) -> Option<&Attempt> {
        last_finished(&self.attempts)
    }

    pub fn stats(&self) -> ProbeStats {
        let mut s = ProbeStats::default();
        let mut down = false;
        for a in &self.attempts {
            match a.verdict {
                Verdict::Pending => continue,
                Verdict::Ok { .. } => {
                    s.ok += 1;
                    down = false;
                }
                Verdict::Fail { .. } => {
                    s.failed += 1;
                    if !down {
                        down = true;
                        s.outages += 1;
                    }
                }
            }
            s.sent += 1;
        }
        s.longest_outage = longest_outage(&self.attempts, self.spec.timeout);
        s
    }
}

/// The most recent attempt of `attempts` (in the order sent) that has a
/// verdict.
pub fn last_finished(attempts: &[Attempt]) -> Option<&Attempt> {
    attempts
        .iter()
        .rev()
        .find(|a| a.verdict != Verdict::Pending)
}

/// The longest outage in `attempts` (in the order sent): a run of failed
/// attempts lasts from the first failed send to the first successful send
/// after it; a run still going on lasts until the last finished attempt's
/// `timeout` runs out. Attempts without a verdict do not count.
///
/// The one definition of "longest outage": the probe table, the
/// `maxOutage`/`minOutage` expectations and real mode's outage report all
/// use it, whichever side sent the attempts.
pub fn longest_outage(attempts: &[Attempt], timeout: SimDuration) -> SimDuration {
    let mut longest = SimDuration::ZERO;
    let mut fail_start: Option<SimTime> = None;
    for a in attempts {
        match a.verdict {
            Verdict::Pending => {}
            Verdict::Ok { .. } => {
                if let Some(start) = fail_start.take() {
                    longest = longest.max(a.sent.since(start));
                }
            }
            Verdict::Fail { .. } => {
                fail_start.get_or_insert(a.sent);
            }
        }
    }
    if let (Some(start), Some(last)) = (fail_start, last_finished(attempts)) {
        // Still down: count until the last attempt's timeout.
        longest = longest.max((last.sent + timeout).since(start));
    }
    longest
}
