//! SIGINT and SIGTERM during a real run: the handler only records which
//! signal came; the run loop notices, removes the lab and reports it, and
//! the CLI exits with the shell's convention, 128 + the signal number
//! (130 for SIGINT, 143 for SIGTERM).

use std::sync::atomic::{AtomicI32, Ordering};

/// The signal that asked the run to stop; 0 while none has.
static RECEIVED: AtomicI32 = AtomicI32::new(0);

/// A stop request, by the signal that made it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stop(pub i32);

impl Stop {
    /// `SIGINT (Ctrl-C)`, `SIGTERM`, or `signal N`.
    pub fn name(self) -> String {
        match self.0 {
            libc::SIGINT => "SIGINT (Ctrl-C)".to_string(),
            libc::SIGTERM => "SIGTERM".to_string(),
            n => format!("signal {n}"),
        }
    }

    /// The exit status a shell gives a process ended by this signal.
    pub fn exit_code(self) -> u8 {
        u8::try_from(128 + self.0).unwrap_or(1)
    }
}

extern "C" fn on_signal(sig: libc::c_int) {
    // Only the first signal counts: a Ctrl-C after a SIGTERM does not
    // rename what stopped the run.
    let _ = RECEIVED.compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst);
}

/// Routes SIGINT and SIGTERM to [`pending`] so a run can clean up.
pub fn install() {
    // SAFETY: the handler only does an atomic compare-exchange, which is
    // async-signal-safe.
    unsafe {
        let h = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::signal(libc::SIGINT, h);
        libc::signal(libc::SIGTERM, h);
    }
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

    #[test]
    fn each_signal_is_named_and_exits_as_a_shell_expects() {
        assert_eq!(Stop(libc::SIGINT).name(), "SIGINT (Ctrl-C)");
        assert_eq!(Stop(libc::SIGINT).exit_code(), 130);
        assert_eq!(Stop(libc::SIGTERM).name(), "SIGTERM");
        assert_eq!(Stop(libc::SIGTERM).exit_code(), 143);
        assert_eq!(Stop(libc::SIGHUP).name(), "signal 1");
        assert_eq!(Stop(libc::SIGHUP).exit_code(), 129);
    }
}
