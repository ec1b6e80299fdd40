//! `antlab run`'s output as the run goes: the readable timeline and the
//! JSON-lines event log, both [`LogSink`]s writing each entry when it is
//! recorded, so a long run never holds its whole log.

use std::collections::BTreeSet;
use std::io::{self, Write};

use crate::model::{DeviceKind, HostRole, Topology};
use crate::sim::log::LogSink;
use crate::sim::trace::{LogEntry, LogKind};
use crate::time::{SimDuration, SimTime};

/// The text timeline: the story's entries, one per line (a multi-line
/// message, such as a `show` table, indented under its first line). Frames,
/// MAC learning, drops and per-attempt probe lines only with `verbose`.
pub struct Timeline<W> {
    out: W,
    verbose: bool,
    /// Switches with SVIs and routers: the devices whose ARP tables decide
    /// where traffic goes in these stories.
    gateways: BTreeSet<String>,
}

impl<W: Write + Send> Timeline<W> {
    pub fn new(out: W, topology: &Topology, verbose: bool) -> Self {
        let gateways = topology
            .devices
            .iter()
            .filter(|d| match &d.kind {
                DeviceKind::Switch(s) => !s.svis.is_empty(),
                DeviceKind::Host(h) => h.role == HostRole::Router,
            })
            .map(|d| d.name.clone())
            .collect();
        Timeline {
            out,
            verbose,
            gateways,
        }
    }

    /// Whether the timeline prints `e`.
    pub fn shows(&self, e: &LogEntry) -> bool {
        if self.verbose {
            return true;
        }
        match e.kind {
            LogKind::Frame | LogKind::Drop | LogKind::Mac => false,
            // Per-attempt probe lines; transitions (UP/DOWN) always show.
            LogKind::Probe => !(e.message.contains(" ok rtt ") || e.message.contains(" FAILED: ")),
            // Neighbour churn between hosts is noise in the story; the
            // gateways' tables, announcements and failures are not.
            LogKind::Arp => {
                e.message.contains("gratuitous")
                    || e.message.ends_with("FAILED")
                    || self.gateways.contains(&e.device)
            }
            // Agents finding each other at start-up.
            LogKind::Engine => {
                !(e.message.contains("memberlist: ")
                    && e.message.ends_with(" joined")
                    && e.time < SimTime::ZERO + SimDuration::from_secs(1))
            }
            _ => true,
        }
    }
}

impl<W: Write + Send> LogSink for Timeline<W> {
    fn entry(&mut self, e: &LogEntry) -> io::Result<()> {
        if !self.shows(e) {
            return Ok(());
        }
        if !e.message.contains('\n') {
            return writeln!(self.out, "{e}");
        }
        let mut lines = e.message.lines();
        let head = LogEntry {
            time: e.time,
            kind: e.kind,
            device: e.device.clone(),
            message: lines.next().unwrap_or("").to_string(),
        };
        writeln!(self.out, "{head}")?;
        for l in lines {
            writeln!(self.out, "    {l}")?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// The whole event log, every frame included, one JSON object per line.
pub struct JsonLines<W>(pub W);

impl<W: Write + Send> LogSink for JsonLines<W> {
    fn entry(&mut self, e: &LogEntry) -> io::Result<()> {
        serde_json::to_writer(&mut self.0, e)?;
        self.0.write_all(b"\n")
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: LogKind, device: &str, message: &str) -> LogEntry {
        LogEntry {
            time: SimTime::ZERO + SimDuration::from_millis(1500),
            kind,
            device: device.to_string(),
            message: message.to_string(),
        }
    }

    fn printed(verbose: bool, e: &LogEntry) -> String {
        let topo = crate::topology::load_topology(
            "t.yaml",
            "name: t\nswitches: [{name: core, svis: [{vlan: 1, address: 10.0.0.1/24}], ports: [{name: p, access: 1}]}]\n",
        )
        .unwrap();
        let mut t = Timeline::new(Vec::new(), &topo, verbose);
        t.entry(e).unwrap();
        String::from_utf8(t.out).unwrap()
    }

    #[test]
    fn multi_line_messages_are_indented_under_their_first_line() {
        let e = entry(LogKind::Show, "", "NAME  IP\nvm-1  10.0.0.2");
        assert_eq!(
            printed(false, &e),
            "[     1.500000000] show   NAME  IP\n    vm-1  10.0.0.2\n"
        );
    }

    #[test]
    fn frames_and_host_arp_only_in_verbose_gateway_arp_always() {
        let frame = entry(LogKind::Frame, "vm", "rx eth0 ...");
        assert_eq!(printed(false, &frame), "");
        assert!(!printed(true, &frame).is_empty());
        let host_arp = entry(LogKind::Arp, "vm", "10.0.0.1 -> 02:00:00:00:00:01");
        assert_eq!(printed(false, &host_arp), "");
        let gw_arp = entry(LogKind::Arp, "core", "10.0.0.2 -> 02:00:00:00:00:02");
        assert!(printed(false, &gw_arp).contains("core: 10.0.0.2"));
    }

    #[test]
    fn json_lines_are_one_object_per_entry() {
        let mut j = JsonLines(Vec::new());
        j.entry(&entry(LogKind::Warn, "", "w")).unwrap();
        j.entry(&entry(LogKind::Step, "d", "s")).unwrap();
        let text = String::from_utf8(j.0).unwrap();
        assert_eq!(
            text,
            "{\"time\":1500000000,\"kind\":\"warn\",\"message\":\"w\"}\n{\"time\":1500000000,\"kind\":\"step\",\"device\":\"d\",\"message\":\"s\"}\n"
        );
    }
}
