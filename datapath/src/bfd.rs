//! BFD on a switch's static routes, for real: one prober per next hop, in
//! the switch's SVI namespace, with the timers the simulator uses (a
//! packet every 300 ms; three missed in a row declare the next hop down,
//! one answer brings it back). The simulator models a BFD session as
//! "hears its peer while the next-hop device is powered and linked"
//! (sim-core/src/sim/world/bfd.rs); here the peer must really answer, an ICMP echo standing in
//! for BFD's control packets (no BFD daemon runs in these namespaces).
//! The run loop withdraws and restores the routes (`lab::routes`).

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

/// BFD's transmit interval: the simulator's, one number for both modes.
pub const INTERVAL: Duration = Duration::from_nanos(sim_core::sim::BFD_INTERVAL.as_nanos());
/// Missed intervals before the session goes down: the simulator's.
pub const DETECT_MULT: u32 = sim_core::sim::BFD_MULTIPLIER as u32;
/// ICMP ids of the sessions' echoes: 0x3000 + the session's number, apart
/// from scenario probes (0x4000 + n). Each session needs its own: a raw
/// ICMP socket sees every echo reply of the namespace, and `ping` takes
/// any reply with its id and sequence as its own, so two sessions with one
/// id would hear each other's peers.
pub const FIRST_ICMP_ID: u16 = 0x3000;

/// A session's state changed.
#[derive(Clone, Debug)]
pub struct BfdEvent {
    pub device: String,
    pub peer: Ipv4Addr,
    pub up: bool,
    /// Since the run's epoch.
    pub at: Duration,
}

/// Stops its prober when dropped.
pub struct BfdSession {
    stop: Arc<AtomicBool>,
}

impl Drop for BfdSession {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Up/down decisions from a run of answers: counts misses in a row.
#[derive(Clone, Debug)]
pub struct Detector {
    up: bool,
    missed: u32,
}

impl Default for Detector {
    /// Sessions start up, as the simulator's do.
    fn default() -> Self {
        Detector {
            up: true,
            missed: 0,
        }
    }
}

impl Detector {
    /// One interval's outcome; Some(new state) when the session changes.
    pub fn heard(&mut self, answered: bool) -> Option<bool> {
        if answered {
            self.missed = 0;
            if !self.up {
                self.up = true;
                return Some(true);
            }
        } else {
            self.missed += 1;
            if self.up && self.missed >= DETECT_MULT {
                self.up = false;
                return Some(false);
            }
        }
        None
    }
}

/// Starts probing `peer` from namespace `ns` (the switch `device`) with
/// echoes of ICMP id `icmp_id` (unique per session, see [`FIRST_ICMP_ID`]).
pub fn start(
    ns: &str,
    device: &str,
    peer: Ipv4Addr,
    icmp_id: u16,
    epoch: Instant,
    tx: Sender<BfdEvent>,
) -> std::io::Result<BfdSession> {
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let device = device.to_string();
    crate::netns::spawn_in(ns, format!("bfd-{peer}"), move || {
        let mut d = Detector::default();
        let mut next = crate::clock::now();
        let wait = format!("{:.3}", INTERVAL.as_secs_f64());
        let id = icmp_id.to_string();
        while !stop2.load(Ordering::Relaxed) {
            let answered = std::process::Command::new("ping")
                .args(["-n", "-q", "-c", "1", "-W", &wait, "-e", &id])
                .arg(peer.to_string())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if let Some(up) = d.heard(answered) {
                let ev = BfdEvent {
                    device: device.clone(),
                    peer,
                    up,
                    at: epoch.elapsed(),
                };
                if tx.send(ev).is_err() {
                    return;
                }
            }
            next += INTERVAL;
            let now = crate::clock::now();
            if next > now {
                std::thread::sleep(next - now);
            } else {
                next = now;
            }
        }
    })?;
    Ok(BfdSession { stop })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_misses_in_a_row_take_a_session_down_and_one_answer_brings_it_up() {
        let mut d = Detector::default();
        assert_eq!(d.heard(false), None);
        assert_eq!(d.heard(true), None, "two misses then an answer: still up");
        assert_eq!(d.heard(false), None);
        assert_eq!(d.heard(false), None);
        assert_eq!(d.heard(false), Some(false));
        assert_eq!(d.heard(false), None, "already down");
        assert_eq!(d.heard(true), Some(true));
        assert_eq!(d.heard(true), None);
    }
}
