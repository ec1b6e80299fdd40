//! The event log's memory: where entries go as they are recorded.
//!
//! By default the log keeps every entry (the TUI scrolls back through them,
//! tests read them). A long `antlab run` instead hands it a [`LogSink`] (the
//! text timeline printer or the JSON-lines writer in `report::timeline`), so
//! each entry is written out when it happens and dropped: memory stays flat
//! however long the run. The sink sees exactly the entries the kept log
//! would hold, in the same order.

use std::io;

use super::trace::LogEntry;

/// Takes the log's entries one at a time, as they are recorded.
pub trait LogSink: Send {
    /// Writes one entry. After an error the log stops calling the sink and
    /// keeps the error for [`EventLog::error`] (a closed pipe, a full disk);
    /// the simulation itself goes on.
    fn entry(&mut self, e: &LogEntry) -> io::Result<()>;
    /// Pushes out anything buffered.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A sink that forgets everything: for runs that only want the final state
/// (`antlab get`, `rules`, `flows`).
pub struct Discard;

impl LogSink for Discard {
    fn entry(&mut self, _: &LogEntry) -> io::Result<()> {
        Ok(())
    }
}

/// The event log: kept in memory, or streamed to a sink.
#[derive(Default)]
pub struct EventLog {
    kept: Vec<LogEntry>,
    sink: Option<Box<dyn LogSink>>,
    error: Option<io::Error>,
    recorded: u64,
}

impl EventLog {
    pub fn push(&mut self, e: LogEntry) {
        self.recorded += 1;
        match &mut self.sink {
            None => self.kept.push(e),
            Some(sink) => {
                if self.error.is_none()
                    && let Err(err) = sink.entry(&e)
                {
                    self.error = Some(err);
                }
            }
        }
    }

    /// The entries kept in memory: all of them, unless the log streams (then
    /// none after [`EventLog::stream_to`]).
    pub fn kept(&self) -> &[LogEntry] {
        &self.kept
    }

    /// Entries recorded so far, kept or streamed.
    pub fn recorded(&self) -> u64 {
        self.recorded
    }

    /// From now on, hands every entry to `sink` instead of keeping it; the
    /// entries kept so far go to it first, in order.
    pub fn stream_to(&mut self, mut sink: Box<dyn LogSink>) {
        for e in self.kept.drain(..) {
            if self.error.is_none()
                && let Err(err) = sink.entry(&e)
            {
                self.error = Some(err);
            }
        }
        self.kept = Vec::new();
        self.sink = Some(sink);
    }

    /// Flushes the sink (if any). An earlier write error is reported again
    /// (same kind and text) and the sink is left alone.
    pub fn flush(&mut self) -> io::Result<()> {
        if let Some(e) = &self.error {
            return Err(io::Error::new(e.kind(), e.to_string()));
        }
        let Some(sink) = &mut self.sink else {
            return Ok(());
        };
        sink.flush().inspect_err(|e| {
            self.error = Some(io::Error::new(e.kind(), e.to_string()));
        })
    }

    /// The error that stopped the sink, if one did.
    pub fn error(&self) -> Option<&io::Error> {
        self.error.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::trace::LogKind;
    use crate::time::SimTime;
    use std::sync::{Arc, Mutex};

    fn entry(n: u64) -> LogEntry {
        LogEntry {
            time: SimTime(n),
            kind: LogKind::Step,
            device: String::new(),
            message: format!("entry {n}"),
        }
    }

    /// Collects what it is given, shared with the test.
    struct Shared(Arc<Mutex<Vec<String>>>, Option<usize>);

    impl LogSink for Shared {
        fn entry(&mut self, e: &LogEntry) -> io::Result<()> {
            let mut v = self.0.lock().unwrap();
            if Some(v.len()) == self.1 {
                return Err(io::Error::from(io::ErrorKind::BrokenPipe));
            }
            v.push(e.message.clone());
            Ok(())
        }
    }

    #[test]
    fn a_sink_gets_the_kept_entries_first_then_each_new_one_and_nothing_is_kept() {
        let mut log = EventLog::default();
        log.push(entry(1));
        log.push(entry(2));
        assert_eq!(log.kept().len(), 2);
        let seen = Arc::new(Mutex::new(Vec::new()));
        log.stream_to(Box::new(Shared(seen.clone(), None)));
        log.push(entry(3));
        assert!(log.kept().is_empty());
        assert_eq!(log.recorded(), 3);
        assert_eq!(*seen.lock().unwrap(), ["entry 1", "entry 2", "entry 3"]);
        assert!(log.flush().is_ok());
    }

    #[test]
    fn a_failing_sink_is_not_called_again_and_its_error_is_kept() {
        let mut log = EventLog::default();
        let seen = Arc::new(Mutex::new(Vec::new()));
        log.stream_to(Box::new(Shared(seen.clone(), Some(1))));
        for n in 0..5 {
            log.push(entry(n));
        }
        assert_eq!(*seen.lock().unwrap(), ["entry 0"]);
        assert_eq!(
            log.error().map(io::Error::kind),
            Some(io::ErrorKind::BrokenPipe)
        );
        assert_eq!(log.recorded(), 5);
        for _ in 0..2 {
            let again = log.flush().unwrap_err();
            assert_eq!(again.kind(), io::ErrorKind::BrokenPipe);
        }
    }
}
