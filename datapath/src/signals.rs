//! SIGINT and SIGTERM during a real run: the first signal that comes is
//! recorded; the run loop notices ([`pending`]), removes the lab and
//! reports it, and the CLI exits with the shell's convention, 128 + the
//! signal number (130 for SIGINT, 143 for SIGTERM).
//!
//! The signals are caught with `signal-hook`: its handler only wakes a
//! thread of ours, which records the signal outside signal context.

use std::sync::Once;
use std::sync::atomic::{AtomicI32, Ordering};

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// The signal that asked the run to stop; 0 while none has.
static RECEIVED: AtomicI32 = AtomicI32::new(0);

/// A stop request, by the signal that made it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stop(pub i32);

impl Stop {
    /// `SIGINT (Ctrl-C)`, `SIGTERM`, or `signal N`.
    pub fn name(self) -> String {
        match self.0 {
            SIGINT => "SIGINT (Ctrl-C)".to_string(),
            SIGTERM => "SIGTERM".to_string(),
            n => format!("signal {n}"),
        }
    }

    /// The exit status a shell gives a process ended by this signal.
    pub fn exit_code(self) -> u8 {
        u8::try_from(128 + self.0).unwrap_or(1)
    }
}

/// Only the first signal counts: a Ctrl-C after a SIGTERM does not rename
/// what stopped the run.
fn record(sig: i32) {
    let _ = RECEIVED.compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst);
}

/// Routes SIGINT and SIGTERM to [`pending`] so a run can clean up. Calling
/// it again does nothing. If the handlers cannot be set up, the signals
/// keep their default action (the process ends at once).
pub fn install() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        let Ok(mut signals) = Signals::new([SIGINT, SIGTERM]) else {
            return;
        };
        let _ = std::thread::Builder::new()
            .name("antlab-signals".into())
            .spawn(move || {
                for sig in signals.forever() {
                    record(sig);
                }
            });
    });
}

/// The signal received since [`install`], if any.
pub fn pending() -> Option<Stop> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        n => Some(Stop(n)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::now;
    use std::time::{Duration, Instant};

    #[test]
    fn each_signal_is_named_and_exits_as_a_shell_expects() {
        assert_eq!(Stop(SIGINT).name(), "SIGINT (Ctrl-C)");
        assert_eq!(Stop(SIGINT).exit_code(), 130);
        assert_eq!(Stop(SIGTERM).name(), "SIGTERM");
        assert_eq!(Stop(SIGTERM).exit_code(), 143);
        assert_eq!(Stop(signal_hook::consts::SIGHUP).name(), "signal 1");
        assert_eq!(Stop(signal_hook::consts::SIGHUP).exit_code(), 129);
    }

    /// The only test in this binary that sends signals: a real SIGTERM to
    /// ourselves is caught (not fatal), recorded, and a later SIGINT does
    /// not replace it.
    #[test]
    fn the_first_signal_is_recorded_and_kept() {
        install();
        install();
        signal_hook::low_level::raise(SIGTERM).expect("raise SIGTERM");
        let wait = |until: Instant| {
            while pending().is_none() && now() < until {
                std::thread::sleep(Duration::from_millis(5));
            }
            pending()
        };
        assert_eq!(wait(now() + Duration::from_secs(5)), Some(Stop(SIGTERM)));
        signal_hook::low_level::raise(SIGINT).expect("raise SIGINT");
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(pending(), Some(Stop(SIGTERM)));
    }
}
