//! A sans-I/O flow exporter with Antrea's timing rules.
//!
//! Antrea's agent (v1.15 `pkg/agent/flowexporter/exporter`) keeps each
//! connection in a priority queue keyed by two expiry times: the *active*
//! expiry (`activeFlowExportTimeout` after the last export; reporting a live
//! connection, `flowEndReason` 2) and the *idle* expiry (`idleFlowExportTimeout`
//! after the last packet; `flowEndReason` 1, after which the connection leaves the
//! store). A connection that conntrack reports as closed is exported with reason 3
//! and forgotten. Defaults 5 s / 15 s (`cmd/antrea-agent/options.go`@v1.15.0).
//!
//! Here the simulator reports observations directly, so expiries fire at their
//! exact times rather than on the agent's 5 s conntrack poll. Every observation at
//! time `t` first fires the expiries due at or before `t`, so records come out with
//! exact times however often [`FlowExporter::poll`] is called; a packet arriving
//! exactly at the idle expiry therefore finds the connection already gone.

use std::net::Ipv4Addr;

use indexmap::IndexMap;

use super::record::{FlowEndReason, FlowRecord, FlowType, HttpExchange, http_vals_json_with_ids};
use crate::time::{SimDuration, SimTime};

/// The conntrack 5-tuple of the connection's original direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FlowKey {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub src_port: u16,
    pub dst_port: u16,
    /// IP protocol number (6 TCP, 17 UDP, 1 ICMP).
    pub protocol: u8,
}

impl std::fmt::Display for FlowKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{} -> {}:{} proto {}",
            self.src, self.src_port, self.dst, self.dst_port, self.protocol
        )
    }
}

/// What the agent knows about a connection besides its tuple and counters: the
/// Pod/Node/Service/Egress context Antrea adds from its interface store and
/// AntreaProxy. Empty strings mean "not applicable", as in Antrea's records.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlowMeta {
    pub source_pod_name: String,
    pub source_pod_namespace: String,
    pub source_node_name: String,
    pub destination_pod_name: String,
    pub destination_pod_namespace: String,
    pub destination_node_name: String,
    /// The Service ClusterIP the client dialled, if the flow went through AntreaProxy.
    pub destination_cluster_ipv4: Option<Ipv4Addr>,
    pub destination_service_port: u16,
    /// `namespace/name:port` as Antrea writes it.
    pub destination_service_port_name: String,
    pub flow_type: FlowType,
    pub egress_name: String,
    pub egress_ip: String,
    pub egress_node_name: String,
}

/// Which way packets went: `Forward` is the original direction (src → dst).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Forward,
    Reverse,
}

/// Timeouts and the wall-clock anchor for `flowStartSeconds`/`flowEndSeconds`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExporterConfig {
    /// Antrea `activeFlowExportTimeout`, default 5 s in v1.15.
    pub active_timeout: SimDuration,
    /// Antrea `idleFlowExportTimeout`, default 15 s in v1.15.
    pub idle_timeout: SimDuration,
    /// Unix seconds that simulated time zero maps to (0 keeps times readable as
    /// seconds since the start of the run).
    pub epoch_base_secs: u32,
}

impl Default for ExporterConfig {
    fn default() -> Self {
        ExporterConfig {
            active_timeout: SimDuration::from_secs(5),
            idle_timeout: SimDuration::from_secs(15),
            epoch_base_secs: 0,
        }
    }
}

/// Observations that do not fit the exporter's state: caller bugs, reported
/// rather than panicking.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FlowError {
    #[error("connection {0} is already being tracked")]
    AlreadyOpen(FlowKey),
    #[error("connection {0} is not tracked (never opened, closed, or expired idle)")]
    Unknown(FlowKey),
    #[error("observation at {at_ns} ns is earlier than the exporter's clock ({now_ns} ns)")]
    TimeWentBackwards { at_ns: u64, now_ns: u64 },
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counters {
    packets: u64,
    bytes: u64,
}

#[derive(Clone, Debug)]
struct Conn {
    meta: FlowMeta,
    start: SimTime,
    last_activity: SimTime,
    last_export: SimTime,
    fwd: Counters,
    rev: Counters,
    fwd_at_export: Counters,
    rev_at_export: Counters,
    app_protocol_name: String,
    /// HTTP exchanges since the last export, with their transaction ids.
    http_pending: Vec<(u64, HttpExchange)>,
    next_tx_id: u64,
}

/// The exporter: tracked connections plus records waiting for [`FlowExporter::poll`].
#[derive(Clone, Debug)]
pub struct FlowExporter {
    cfg: ExporterConfig,
    conns: IndexMap<FlowKey, Conn>,
    ready: Vec<FlowRecord>,
    now: SimTime,
}

fn secs(cfg: &ExporterConfig, t: SimTime) -> u32 {
    let s = u32::try_from(t.as_nanos() / 1_000_000_000).unwrap_or(u32::MAX);
    cfg.epoch_base_secs.saturating_add(s)
}

impl FlowExporter {
    pub fn new(cfg: ExporterConfig) -> Self {
        FlowExporter {
            cfg,
            conns: IndexMap::new(),
            ready: Vec::new(),
            now: SimTime::ZERO,
        }
    }

    pub fn config(&self) -> &ExporterConfig {
        &self.cfg
    }

    /// Number of tracked (not yet finally exported) connections.
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// Starts tracking a connection first seen at `at` (counters zero; report its
    /// first packets with [`FlowExporter::add`]).
    pub fn open(&mut self, at: SimTime, key: FlowKey, meta: FlowMeta) -> Result<(), FlowError> {
        self.advance(at)?;
        if self.conns.contains_key(&key) {
            return Err(FlowError::AlreadyOpen(key));
        }
        self.conns.insert(
            key,
            Conn {
                meta,
                start: at,
                last_activity: at,
                last_export: at,
                fwd: Counters::default(),
                rev: Counters::default(),
                fwd_at_export: Counters::default(),
                rev_at_export: Counters::default(),
                app_protocol_name: String::new(),
                http_pending: Vec::new(),
                next_tx_id: 0,
            },
        );
        Ok(())
    }

    /// Counts `packets`/`bytes` (IP total length, as conntrack counts) seen at `at`.
    pub fn add(
        &mut self,
        at: SimTime,
        key: &FlowKey,
        dir: Direction,
        packets: u64,
        bytes: u64,
    ) -> Result<(), FlowError> {
        self.advance(at)?;
        let c = self.conns.get_mut(key).ok_or(FlowError::Unknown(*key))?;
        let side = match dir {
            Direction::Forward => &mut c.fwd,
            Direction::Reverse => &mut c.rev,
        };
        side.packets = side.packets.saturating_add(packets);
        side.bytes = side.bytes.saturating_add(bytes);
        c.last_activity = at;
        Ok(())
    }

    /// Records an HTTP exchange on the connection (L7FlowExporter): sets
    /// `appProtocolName` to `http` and queues the exchange for the next record's
    /// `httpVals`. Counters are unchanged; report the packets with [`FlowExporter::add`].
    pub fn add_http(
        &mut self,
        at: SimTime,
        key: &FlowKey,
        exchange: HttpExchange,
    ) -> Result<(), FlowError> {
        self.advance(at)?;
        let c = self.conns.get_mut(key).ok_or(FlowError::Unknown(*key))?;
        c.app_protocol_name = "http".to_string();
        let id = c.next_tx_id;
        c.next_tx_id += 1;
        c.http_pending.push((id, exchange));
        Ok(())
    }

    /// The connection ended at `at`: its final record (reason 3) is ready now.
    pub fn close(&mut self, at: SimTime, key: &FlowKey) -> Result<(), FlowError> {
        self.advance(at)?;
        let mut c = self
            .conns
            .shift_remove(key)
            .ok_or(FlowError::Unknown(*key))?;
        c.last_activity = at;
        let rec = Self::record(&self.cfg, key, &mut c, FlowEndReason::EndOfFlow);
        self.ready.push(rec);
        Ok(())
    }

    /// Fires every expiry due at or before `now` and returns all records ready,
    /// oldest first. `now` earlier than the last observation just drains.
    pub fn poll(&mut self, now: SimTime) -> Vec<FlowRecord> {
        // An earlier `now` is not an error here: nothing new can be due.
        let _ = self.advance(now);
        std::mem::take(&mut self.ready)
    }

    /// Exports every tracked connection with `flowEndReason` 4 (forced end) and
    /// forgets them, e.g. when a run stops; also returns pending records.
    pub fn flush(&mut self, now: SimTime) -> Vec<FlowRecord> {
        let _ = self.advance(now);
        let conns = std::mem::take(&mut self.conns);
        for (key, mut c) in conns {
            let rec = Self::record(&self.cfg, &key, &mut c, FlowEndReason::ForcedEnd);
            self.ready.push(rec);
        }
        std::mem::take(&mut self.ready)
    }

    /// The earliest time a record will become due without further observations,
    /// for scheduling the next poll; `None` when nothing is tracked.
    pub fn next_deadline(&self) -> Option<SimTime> {
        self.conns.values().map(|c| self.deadline(c).0).min()
    }

    /// When `c` next expires and why: idle wins a tie with active, since the
    /// idle export is the connection's last.
    fn deadline(&self, c: &Conn) -> (SimTime, FlowEndReason) {
        let idle = c.last_activity + self.cfg.idle_timeout;
        let active = c.last_export + self.cfg.active_timeout;
        if idle <= active {
            (idle, FlowEndReason::IdleTimeout)
        } else {
            (active, FlowEndReason::ActiveTimeout)
        }
    }

    /// Fires expiries up to `to` in time order (ties in insertion order).
    fn advance(&mut self, to: SimTime) -> Result<(), FlowError> {
        if to < self.now {
            return Err(FlowError::TimeWentBackwards {
                at_ns: to.as_nanos(),
                now_ns: self.now.as_nanos(),
            });
        }
        loop {
            let due = self
                .conns
                .iter()
                .enumerate()
                .map(|(i, (_, c))| (self.deadline(c), i))
                .filter(|((t, _), _)| *t <= to)
                .min_by_key(|((t, _), i)| (*t, *i));
            let Some(((t, reason), i)) = due else { break };
            match reason {
                FlowEndReason::IdleTimeout => {
                    if let Some((key, mut c)) = self.conns.shift_remove_index(i) {
                        let rec = Self::record(&self.cfg, &key, &mut c, reason);
                        self.ready.push(rec);
                    }
                }
                _ => {
                    if let Some((key, c)) = self.conns.get_index_mut(i) {
                        let key = *key;
                        let rec = Self::record(&self.cfg, &key, c, reason);
                        c.last_export = t;
                        self.ready.push(rec);
                    }
                }
            }
        }
        self.now = to;
        Ok(())
    }

    /// Builds a record and resets the delta baselines. `flowEndSeconds` is the
    /// last activity (Antrea uses the connection's last-seen time, not the export
    /// time).
    fn record(
        cfg: &ExporterConfig,
        key: &FlowKey,
        c: &mut Conn,
        reason: FlowEndReason,
    ) -> FlowRecord {
        let http = std::mem::take(&mut c.http_pending);
        let http_vals = if http.is_empty() {
            String::new()
        } else {
            http_vals_json_with_ids(http.iter().map(|(id, e)| (*id, e)))
        };
        let m = &c.meta;
        let rec = FlowRecord {
            flow_start_seconds: secs(cfg, c.start),
            flow_end_seconds: secs(cfg, c.last_activity),
            flow_end_reason: reason,
            source_ipv4_address: key.src,
            destination_ipv4_address: key.dst,
            source_transport_port: key.src_port,
            destination_transport_port: key.dst_port,
            protocol_identifier: key.protocol,
            packet_total_count: c.fwd.packets,
            octet_total_count: c.fwd.bytes,
            packet_delta_count: c.fwd.packets - c.fwd_at_export.packets,
            octet_delta_count: c.fwd.bytes - c.fwd_at_export.bytes,
            reverse_packet_total_count: c.rev.packets,
            reverse_octet_total_count: c.rev.bytes,
            reverse_packet_delta_count: c.rev.packets - c.rev_at_export.packets,
            reverse_octet_delta_count: c.rev.bytes - c.rev_at_export.bytes,
            source_pod_name: m.source_pod_name.clone(),
            source_pod_namespace: m.source_pod_namespace.clone(),
            source_node_name: m.source_node_name.clone(),
            destination_pod_name: m.destination_pod_name.clone(),
            destination_pod_namespace: m.destination_pod_namespace.clone(),
            destination_node_name: m.destination_node_name.clone(),
            destination_cluster_ipv4: m.destination_cluster_ipv4.unwrap_or(Ipv4Addr::UNSPECIFIED),
            destination_service_port: m.destination_service_port,
            destination_service_port_name: m.destination_service_port_name.clone(),
            flow_type: m.flow_type,
            egress_name: m.egress_name.clone(),
            egress_ip: m.egress_ip.clone(),
            egress_node_name: m.egress_node_name.clone(),
            app_protocol_name: c.app_protocol_name.clone(),
            http_vals,
        };
        c.fwd_at_export = c.fwd;
        c.rev_at_export = c.rev;
        rec
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> FlowKey {
        FlowKey {
            src: Ipv4Addr::new(10, 40, 0, 5),
            dst: Ipv4Addr::new(10, 40, 1, 7),
            src_port: 40000,
            dst_port: 80,
            protocol: 6,
        }
    }

    fn t(s: u64) -> SimTime {
        SimTime(SimDuration::from_millis(s).as_nanos())
    }

    fn exporter() -> FlowExporter {
        let mut e = FlowExporter::new(ExporterConfig::default());
        e.open(
            t(0),
            key(),
            FlowMeta {
                source_pod_name: "client".into(),
                flow_type: FlowType::InterNode,
                ..FlowMeta::default()
            },
        )
        .unwrap();
        e
    }

    #[test]
    fn defaults_are_antrea_v1_15() {
        let c = ExporterConfig::default();
        assert_eq!(c.active_timeout, SimDuration::from_secs(5));
        assert_eq!(c.idle_timeout, SimDuration::from_secs(15));
    }

    #[test]
    fn active_timeout_exports_every_5s_with_deltas() {
        let mut e = exporter();
        e.add(t(100), &key(), Direction::Forward, 3, 300).unwrap();
        e.add(t(200), &key(), Direction::Reverse, 2, 1000).unwrap();
        assert!(e.poll(t(4_999)).is_empty());
        let r = e.poll(t(5_000));
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].flow_end_reason, FlowEndReason::ActiveTimeout);
        assert_eq!((r[0].packet_total_count, r[0].packet_delta_count), (3, 3));
        assert_eq!((r[0].octet_total_count, r[0].octet_delta_count), (300, 300));
        assert_eq!(
            (
                r[0].reverse_octet_total_count,
                r[0].reverse_octet_delta_count
            ),
            (1000, 1000)
        );
        assert_eq!(r[0].source_pod_name, "client");
        assert_eq!(r[0].flow_type, FlowType::InterNode);

        e.add(t(7_000), &key(), Direction::Forward, 1, 50).unwrap();
        let r = e.poll(t(10_000));
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].flow_end_reason, FlowEndReason::ActiveTimeout);
        assert_eq!((r[0].packet_total_count, r[0].packet_delta_count), (4, 1));
        assert_eq!((r[0].octet_total_count, r[0].octet_delta_count), (350, 50));
        assert_eq!(
            (
                r[0].reverse_packet_total_count,
                r[0].reverse_packet_delta_count
            ),
            (2, 0)
        );
        assert_eq!(r[0].flow_start_seconds, 0);
        assert_eq!(r[0].flow_end_seconds, 7);
    }

    #[test]
    fn idle_timeout_exports_and_forgets() {
        let mut e = exporter();
        e.add(t(1_000), &key(), Direction::Forward, 1, 60).unwrap();
        // Active reports at 5 s and 10 s, then idle at 1 s + 15 s.
        assert_eq!(e.next_deadline(), Some(t(5_000)));
        let r = e.poll(t(16_000));
        let reasons: Vec<_> = r.iter().map(|r| r.flow_end_reason).collect();
        assert_eq!(
            reasons,
            [
                FlowEndReason::ActiveTimeout,
                FlowEndReason::ActiveTimeout,
                FlowEndReason::ActiveTimeout,
                FlowEndReason::IdleTimeout
            ]
        );
        assert_eq!(r[0].packet_delta_count, 1);
        assert!(r[1..].iter().all(|r| r.packet_delta_count == 0));
        assert!(r.iter().all(|r| r.packet_total_count == 1));
        assert!(e.is_empty());
        assert_eq!(e.next_deadline(), None);
        assert_eq!(
            e.add(t(16_500), &key(), Direction::Forward, 1, 60),
            Err(FlowError::Unknown(key()))
        );
    }

    #[test]
    fn idle_wins_a_tie_with_active() {
        let mut e = exporter();
        // No packets at all: active at 5 and 10, then idle and active both at 15.
        let r = e.poll(t(30_000));
        assert_eq!(r.len(), 3);
        assert_eq!(r[2].flow_end_reason, FlowEndReason::IdleTimeout);
    }

    #[test]
    fn close_exports_end_of_flow_with_remaining_delta() {
        let mut e = exporter();
        e.add(t(1_000), &key(), Direction::Forward, 5, 500).unwrap();
        let first = e.poll(t(5_000));
        assert_eq!(first.len(), 1);
        e.add(t(6_000), &key(), Direction::Reverse, 4, 4000)
            .unwrap();
        e.close(t(6_500), &key()).unwrap();
        let r = e.poll(t(6_500));
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].flow_end_reason, FlowEndReason::EndOfFlow);
        assert_eq!(r[0].packet_delta_count, 0);
        assert_eq!(r[0].reverse_packet_delta_count, 4);
        assert_eq!(r[0].reverse_octet_delta_count, 4000);
        assert_eq!(r[0].flow_end_seconds, 6);
        assert!(e.is_empty());
        assert!(e.poll(t(60_000)).is_empty());
    }

    #[test]
    fn observations_fire_due_expiries_first_so_late_polls_lose_nothing() {
        let mut e = exporter();
        e.add(t(1_000), &key(), Direction::Forward, 1, 10).unwrap();
        // Packets at 7 s: the 5 s active export happened before them.
        e.add(t(7_000), &key(), Direction::Forward, 2, 20).unwrap();
        let r = e.poll(t(10_000));
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].packet_delta_count, 1);
        assert_eq!(r[1].packet_delta_count, 2);
    }

    #[test]
    fn http_exchanges_fill_app_protocol_and_http_vals_once() {
        let mut e = exporter();
        let x = HttpExchange {
            hostname: "www.vg.no".into(),
            status: 301,
            ..HttpExchange::default()
        };
        e.add_http(t(100), &key(), x.clone()).unwrap();
        let r = e.poll(t(5_000));
        assert_eq!(r[0].app_protocol_name, "http");
        assert!(
            r[0].http_vals
                .starts_with(r#"{"0":{"hostname":"www.vg.no""#)
        );
        e.add_http(t(6_000), &key(), x).unwrap();
        e.add(t(6_000), &key(), Direction::Forward, 1, 1).unwrap();
        let r = e.poll(t(10_000));
        // The transaction id keeps counting; the first exchange is not repeated.
        assert!(r[0].http_vals.starts_with(r#"{"1":"#), "{}", r[0].http_vals);
        assert!(!r[0].http_vals.contains(r#""0":"#));
        let r = e.poll(t(15_000));
        assert_eq!(r[0].http_vals, "");
        assert_eq!(r[0].app_protocol_name, "http");
    }

    #[test]
    fn misuse_is_reported() {
        let mut e = exporter();
        assert_eq!(
            e.open(t(1), key(), FlowMeta::default()),
            Err(FlowError::AlreadyOpen(key()))
        );
        e.poll(t(2_000));
        assert!(matches!(
            e.add(t(1_000), &key(), Direction::Forward, 1, 1),
            Err(FlowError::TimeWentBackwards { .. })
        ));
    }

    #[test]
    fn flush_forces_end_and_epoch_base_shifts_times() {
        let mut e = FlowExporter::new(ExporterConfig {
            epoch_base_secs: 1_714_723_200,
            ..ExporterConfig::default()
        });
        e.open(t(2_000), key(), FlowMeta::default()).unwrap();
        let r = e.flush(t(3_000));
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].flow_end_reason, FlowEndReason::ForcedEnd);
        assert_eq!(r[0].flow_start_seconds, 1_714_723_202);
        assert!(e.is_empty());
    }
}
