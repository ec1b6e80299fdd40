//! Antrea's flow exporter, sans I/O: the conntrack connection store, its
//! expire priority queue and the export rounds, rule for rule as in
//! `pkg/agent/flowexporter` (v1.15.0: `connections/conntrack_connections.go`,
//! `connections/connections.go`, `priorityqueue/priorityqueue.go`,
//! `exporter/exporter.go`, `utils.go`; v2.7.0 keeps the same rules in
//! `connections/`, `priorityqueue/`, `destination.go`, `utils/utils.go`).
//!
//! - A conntrack poll ([`FlowExporter::poll`], every `flowPollInterval`)
//!   refreshes the store. A new connection with a local Pod at one end is added
//!   and queued with an active expiry `activeFlowExportTimeout` and an idle
//!   expiry `idleFlowExportTimeout` from now. A known one gets the dump's
//!   counters and TCP state; it is *active* if a counter or the TCP state
//!   changed since its last export, and then its idle expiry moves to now +
//!   idle timeout (re-queued if it had left the queue). A dying connection
//!   (TCP `TIME_WAIT`/`CLOSE`, or gone from conntrack) is not updated.
//! - An export round ([`FlowExporter::export`]) takes every queued connection
//!   whose active or idle expiry has passed, once: `flowEndReason` 3 if dying,
//!   2 if active, else 1. A dying or inactive connection then leaves the queue
//!   (so a connection that did nothing since its last export gets one idle
//!   record, never zero-delta "active" ones); an active one is re-queued with
//!   a new active expiry and its delta baselines reset. The next round comes
//!   100 ms after the earliest expiry (`minExpiryTime`), or after
//!   `min(active, idle)` when the queue is empty.
//! - A connection gone from conntrack is deleted from the store at the poll
//!   after its last export, or when it was not exported for
//!   `staleConnectionTimeout` (5 min).
//! - `flowStartSeconds` is conntrack's start timestamp; `flowEndSeconds` the
//!   last poll that updated the connection (the agent stamps `time.Now()` on a
//!   live dumped connection).
//! - L7 events (`fillL7EventInfo`) append their `httpVals` JSON and set
//!   `appProtocolName`; both are cleared by each export.
//! - Denied connections (`connections/deny_connections.go`) have a store
//!   and queue of their own, fed by the agent's packet-ins
//!   ([`FlowExporter::add_denied`]): the first denied packet adds the
//!   connection (one packet, its IP length, start = stop = when it was
//!   seen), later ones add a packet and its bytes and move its idle expiry.
//!   A round exports them before the conntrack connections; a denied
//!   connection is never present in conntrack, so its record's
//!   `flowEndReason` is 3 (`IsConnectionDying`). One whose idle expiry has
//!   passed is ready to delete (later packets are ignored) and goes at the
//!   next round; one without new packets since its last export leaves the
//!   queue.

use std::net::Ipv4Addr;

use indexmap::IndexMap;

use super::record::{
    FlowEndReason, FlowRecord, FlowType, HttpExchange, PolicyElements, http_vals_json_with_ids,
};
use crate::time::{SimDuration, SimTime};

/// The conntrack 5-tuple of the connection's original direction, with the
/// destination after DNAT (Antrea's `FlowKey`).
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
/// Pod/Node/Service/Egress context Antrea adds from its local Pod store and
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
    /// The rules that allowed it (from its `ct_label`).
    pub policies: PolicyElements,
}

/// One connection as the agent's conntrack dump shows it
/// (`NetlinkFlowToAntreaConnection`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DumpedConn {
    pub key: FlowKey,
    /// Conntrack's start timestamp (`nf_conntrack_timestamp`).
    pub start: SimTime,
    pub packets: u64,
    pub bytes: u64,
    pub reverse_packets: u64,
    pub reverse_bytes: u64,
    /// Conntrack's TCP state name (`ESTABLISHED`, `TIME_WAIT`, ...); empty
    /// for other protocols.
    pub tcp_state: &'static str,
}

/// Timeouts and the wall-clock anchor for `flowStartSeconds`/`flowEndSeconds`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExporterConfig {
    /// `activeFlowExportTimeout`, default 5 s (v1.15 `cmd/antrea-agent/options.go`).
    pub(crate) active_timeout: SimDuration,
    /// `idleFlowExportTimeout`, default 15 s.
    pub(crate) idle_timeout: SimDuration,
    /// `staleConnectionTimeout`: 5 min, or twice the larger timeout when one
    /// exceeds 5 min.
    pub(crate) stale_timeout: SimDuration,
    /// Unix seconds that simulated time zero maps to (the scenario's
    /// `startTime`).
    pub(crate) epoch_base_secs: u64,
}

/// `minExpiryTime` of Antrea's priority queue: a round runs this long after
/// the earliest expiry, never sooner.
pub const MIN_EXPIRY: SimDuration = SimDuration::from_millis(100);

impl Default for ExporterConfig {
    fn default() -> Self {
        ExporterConfig::new(SimDuration::from_secs(5), SimDuration::from_secs(15), 0)
    }
}

impl ExporterConfig {
    /// The timeouts with the stale timeout Antrea derives from them.
    pub fn new(active: SimDuration, idle: SimDuration, epoch_base_secs: u64) -> Self {
        let five_min = SimDuration::from_secs(300);
        let stale = if active > five_min || idle > five_min {
            SimDuration::from_nanos(2 * active.max(idle).as_nanos())
        } else {
            five_min
        };
        ExporterConfig {
            active_timeout: active,
            idle_timeout: idle,
            stale_timeout: stale,
            epoch_base_secs,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counters {
    packets: u64,
    bytes: u64,
    reverse_packets: u64,
    reverse_bytes: u64,
}

/// Antrea's `Connection` as the store keeps it.
#[derive(Clone, Debug)]
struct Conn {
    meta: FlowMeta,
    start: SimTime,
    stop: SimTime,
    last_export: SimTime,
    now: Counters,
    prev: Counters,
    tcp_state: &'static str,
    prev_tcp_state: &'static str,
    is_present: bool,
    is_active: bool,
    ready_to_delete: bool,
    app_protocol_name: String,
    http_vals: String,
}

impl Conn {
    /// `IsConnectionDying`: TCP closed or closing, or gone from conntrack.
    fn dying(&self) -> bool {
        self.tcp_state == "TIME_WAIT" || self.tcp_state == "CLOSE" || !self.is_present
    }

    /// `CheckConntrackConnActive`: anything changed since the last export.
    fn changed(&self) -> bool {
        self.now.packets > self.prev.packets
            || self.now.reverse_packets > self.prev.reverse_packets
            || self.tcp_state != self.prev_tcp_state
    }
}

/// An entry of the expire priority queue (`ItemToExpire`).
#[derive(Clone, Copy, Debug)]
struct Expiry {
    active: SimTime,
    idle: SimTime,
    /// Queue order for equal expiries (Go's heap has none; ours is stable).
    seq: u64,
}

impl Expiry {
    fn first(&self) -> SimTime {
        self.active.min(self.idle)
    }
}

/// One node agent's exporter: the connection store and its queue.
#[derive(Clone, Debug)]
pub struct FlowExporter {
    cfg: ExporterConfig,
    conns: IndexMap<FlowKey, Conn>,
    queue: IndexMap<FlowKey, Expiry>,
    /// The deny connection store and its queue.
    denied: IndexMap<FlowKey, Conn>,
    deny_queue: IndexMap<FlowKey, Expiry>,
    next_seq: u64,
}

fn secs(cfg: &ExporterConfig, t: SimTime) -> u32 {
    let s = cfg.epoch_base_secs + t.as_nanos() / 1_000_000_000;
    u32::try_from(s).unwrap_or(u32::MAX)
}

impl FlowExporter {
    pub fn new(cfg: ExporterConfig) -> Self {
        FlowExporter {
            cfg,
            conns: IndexMap::new(),
            queue: IndexMap::new(),
            denied: IndexMap::new(),
            deny_queue: IndexMap::new(),
            next_seq: 0,
        }
    }

    pub fn config(&self) -> &ExporterConfig {
        &self.cfg
    }

    /// Connections in the store.
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// Connections waiting in the expire queue.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Whether `key` is in the store.
    pub fn contains(&self, key: &FlowKey) -> bool {
        self.conns.contains_key(key)
    }

    /// `WriteItemToQueue`: both expiries from now.
    fn enqueue(&mut self, now: SimTime, key: FlowKey) {
        let e = self.expiry(now);
        self.queue.insert(key, e);
    }

    /// `ResetActiveExpireTimeAndPush`: an exported active connection's
    /// entry back in its queue with a new active expiry, its idle one kept.
    fn rearm(&mut self, now: SimTime, idle: SimTime) -> Expiry {
        let seq = self.next_seq;
        self.next_seq += 1;
        Expiry {
            active: now + self.cfg.active_timeout,
            idle,
            seq,
        }
    }

    /// One conntrack poll at `now` (`ConntrackConnectionStore.Poll`): the
    /// dumped connections update the store; `resolve` gives a new
    /// connection's Pod/Service context, or `None` when neither end is a local
    /// Pod (such connections are not tracked).
    pub fn poll(
        &mut self,
        now: SimTime,
        dump: &[DumpedConn],
        mut resolve: impl FnMut(&DumpedConn) -> Option<FlowMeta>,
    ) {
        // deleteIfStaleOrResetConn
        let stale = self.cfg.stale_timeout;
        let gone: Vec<FlowKey> = self
            .conns
            .iter()
            .filter(|(_, c)| {
                !c.is_present && (c.ready_to_delete || now.since(c.last_export) >= stale)
            })
            .map(|(k, _)| *k)
            .collect();
        for k in gone {
            self.queue.shift_remove(&k);
            self.conns.shift_remove(&k);
        }
        for c in self.conns.values_mut() {
            c.is_present = false;
        }
        for d in dump {
            self.add_or_update(now, d, &mut resolve);
        }
    }

    /// `AddOrUpdateConn`.
    fn add_or_update(
        &mut self,
        now: SimTime,
        d: &DumpedConn,
        resolve: &mut impl FnMut(&DumpedConn) -> Option<FlowMeta>,
    ) {
        let counters = Counters {
            packets: d.packets,
            bytes: d.bytes,
            reverse_packets: d.reverse_packets,
            reverse_bytes: d.reverse_bytes,
        };
        if let Some(c) = self.conns.get_mut(&d.key) {
            c.is_present = true;
            if c.dying() {
                return;
            }
            c.stop = now;
            c.now = counters;
            c.tcp_state = d.tcp_state;
            c.is_active = c.changed();
            if c.is_active {
                match self.queue.get_mut(&d.key) {
                    Some(item) => item.idle = now + self.cfg.idle_timeout,
                    None => self.enqueue(now, d.key),
                }
            }
            return;
        }
        let Some(meta) = resolve(d) else { return };
        self.conns.insert(
            d.key,
            Conn {
                meta,
                start: d.start,
                stop: now,
                last_export: d.start,
                now: counters,
                prev: Counters::default(),
                tcp_state: d.tcp_state,
                prev_tcp_state: "",
                is_present: true,
                is_active: true,
                ready_to_delete: false,
                app_protocol_name: String::new(),
                http_vals: String::new(),
            },
        );
        self.enqueue(now, d.key);
    }

    /// L7 events for `key` consumed at the poll at `now` (`fillL7EventInfo`):
    /// their `httpVals` JSON (keyed by Suricata transaction id) is appended
    /// to the connection's, `appProtocolName` becomes `http`, and the
    /// connection is queued if it had left the queue. Events for a
    /// connection not in the store are dropped, as Antrea drops them.
    pub fn add_http(&mut self, now: SimTime, key: &FlowKey, exchanges: &[(u64, HttpExchange)]) {
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        if exchanges.is_empty() {
            return;
        }
        // encoding/json writes a map's keys sorted as strings.
        let mut sorted: Vec<(u64, &HttpExchange)> =
            exchanges.iter().map(|(i, e)| (*i, e)).collect();
        sorted.sort_by_key(|(id, _)| id.to_string());
        c.http_vals.push_str(&http_vals_json_with_ids(sorted));
        c.app_protocol_name = "http".into();
        if !self.queue.contains_key(key) {
            self.enqueue(now, *key);
        }
    }

    /// `DenyConnectionStore.AddOrUpdateConn`: a packet of `key` denied at
    /// `at`, `bytes` its IP length; `meta` gives a new connection's context
    /// (`None`: no local Pod at either end, not tracked).
    pub fn add_denied(
        &mut self,
        at: SimTime,
        key: FlowKey,
        bytes: u64,
        meta: impl FnOnce() -> Option<FlowMeta>,
    ) {
        if let Some(c) = self.denied.get_mut(&key) {
            if c.ready_to_delete {
                return;
            }
            c.now.packets += 1;
            c.now.bytes += bytes;
            c.stop = at;
            c.is_active = true;
            match self.deny_queue.get_mut(&key) {
                Some(item) => item.idle = at + self.cfg.idle_timeout,
                None => {
                    let e = self.expiry(at);
                    self.deny_queue.insert(key, e);
                }
            }
            return;
        }
        let Some(meta) = meta() else { return };
        self.denied.insert(
            key,
            Conn {
                meta,
                start: at,
                stop: at,
                last_export: at,
                now: Counters {
                    packets: 1,
                    bytes,
                    ..Counters::default()
                },
                prev: Counters::default(),
                tcp_state: "",
                prev_tcp_state: "",
                // Never in conntrack: its records say the flow ended.
                is_present: false,
                is_active: true,
                ready_to_delete: false,
                app_protocol_name: String::new(),
                http_vals: String::new(),
            },
        );
        let e = self.expiry(at);
        self.deny_queue.insert(key, e);
    }

    /// Denied connections in their store.
    pub fn denied_len(&self) -> usize {
        self.denied.len()
    }

    /// A queue entry with both expiries counted from `at`.
    fn expiry(&mut self, at: SimTime) -> Expiry {
        self.rearm(at, at + self.cfg.idle_timeout)
    }

    /// `DenyConnectionStore.GetExpiredConns` and `UpdateConnAndQueue`.
    fn export_denied(&mut self, now: SimTime, out: &mut Vec<FlowRecord>) {
        // RunPeriodicDeletion, at each round: ready or stale ones go.
        let stale = self.cfg.stale_timeout;
        let gone: Vec<FlowKey> = self
            .denied
            .iter()
            .filter(|(_, c)| c.ready_to_delete || now.since(c.last_export) >= stale)
            .map(|(k, _)| *k)
            .collect();
        for k in gone {
            self.deny_queue.shift_remove(&k);
            self.denied.shift_remove(&k);
        }
        let mut due: Vec<(SimTime, u64, FlowKey)> = self
            .deny_queue
            .iter()
            .filter(|(_, e)| e.active <= now || e.idle <= now)
            .map(|(k, e)| (e.first(), e.seq, *k))
            .collect();
        due.sort();
        for (_, _, key) in due {
            let Some(item) = self.deny_queue.shift_remove(&key) else {
                continue;
            };
            let Some(c) = self.denied.get_mut(&key) else {
                continue;
            };
            if item.idle < now {
                c.ready_to_delete = true;
            }
            if c.now.packets <= c.prev.packets {
                c.is_active = false;
            }
            out.push(record(&self.cfg, &key, c, FlowEndReason::EndOfFlow));
            c.last_export = now;
            if !c.ready_to_delete && c.is_active {
                c.prev = c.now;
                let e = self.rearm(now, item.idle);
                self.deny_queue.insert(key, e);
            }
        }
    }

    /// When the next export round runs, counted from a round at `now`
    /// (`GetExpiryFromExpirePriorityQueue`).
    pub fn next_round(&self, now: SimTime) -> SimTime {
        match self
            .queue
            .values()
            .chain(self.deny_queue.values())
            .map(Expiry::first)
            .min()
        {
            Some(first) => (first + MIN_EXPIRY).max(now + MIN_EXPIRY),
            None => now + self.cfg.active_timeout.min(self.cfg.idle_timeout),
        }
    }

    /// One export round at `now` (`GetExpiredConns` and
    /// `UpdateConnAndQueue`): a record for every queued connection whose
    /// active or idle expiry is at or before `now`, earliest first, each at
    /// most once.
    pub fn export(&mut self, now: SimTime) -> Vec<FlowRecord> {
        // Denied connections first, as the exporter sends them.
        let mut out = Vec::new();
        self.export_denied(now, &mut out);
        let mut due: Vec<(SimTime, u64, FlowKey)> = self
            .queue
            .iter()
            .filter(|(_, e)| e.active <= now || e.idle <= now)
            .map(|(k, e)| (e.first(), e.seq, *k))
            .collect();
        due.sort();
        out.reserve(due.len());
        for (_, _, key) in due {
            let Some(item) = self.queue.shift_remove(&key) else {
                continue;
            };
            let Some(c) = self.conns.get_mut(&key) else {
                continue;
            };
            let reason = if c.dying() {
                FlowEndReason::EndOfFlow
            } else if c.is_active {
                FlowEndReason::ActiveTimeout
            } else {
                FlowEndReason::IdleTimeout
            };
            out.push(record(&self.cfg, &key, c, reason));
            if c.dying() {
                c.ready_to_delete = true;
            }
            if item.idle < now {
                c.is_active = false;
            }
            c.last_export = now;
            c.app_protocol_name.clear();
            c.http_vals.clear();
            if !c.ready_to_delete && c.is_active {
                c.prev = c.now;
                c.prev_tcp_state = c.tcp_state;
                let e = self.rearm(now, item.idle);
                self.queue.insert(key, e);
            }
        }
        out
    }
}

/// The record `addConnToSet` fills from a connection.
fn record(cfg: &ExporterConfig, key: &FlowKey, c: &Conn, reason: FlowEndReason) -> FlowRecord {
    let m = &c.meta;
    let delta = |now: u64, prev: u64| now.saturating_sub(prev);
    FlowRecord {
        flow_start_seconds: secs(cfg, c.start),
        flow_end_seconds: secs(cfg, c.stop),
        flow_end_reason: reason,
        source_ipv4_address: key.src,
        destination_ipv4_address: key.dst,
        source_transport_port: key.src_port,
        destination_transport_port: key.dst_port,
        protocol_identifier: key.protocol,
        packet_total_count: c.now.packets,
        octet_total_count: c.now.bytes,
        packet_delta_count: delta(c.now.packets, c.prev.packets),
        octet_delta_count: delta(c.now.bytes, c.prev.bytes),
        reverse_packet_total_count: c.now.reverse_packets,
        reverse_octet_total_count: c.now.reverse_bytes,
        reverse_packet_delta_count: delta(c.now.reverse_packets, c.prev.reverse_packets),
        reverse_octet_delta_count: delta(c.now.reverse_bytes, c.prev.reverse_bytes),
        source_pod_name: m.source_pod_name.clone(),
        source_pod_namespace: m.source_pod_namespace.clone(),
        source_node_name: m.source_node_name.clone(),
        destination_pod_name: m.destination_pod_name.clone(),
        destination_pod_namespace: m.destination_pod_namespace.clone(),
        destination_node_name: m.destination_node_name.clone(),
        destination_cluster_ipv4: m.destination_cluster_ipv4.unwrap_or(Ipv4Addr::UNSPECIFIED),
        destination_service_port: m.destination_service_port,
        destination_service_port_name: m.destination_service_port_name.clone(),
        policies: m.policies.clone(),
        tcp_state: c.tcp_state.to_string(),
        flow_type: m.flow_type,
        egress_name: m.egress_name.clone(),
        egress_ip: m.egress_ip.clone(),
        egress_node_name: m.egress_node_name.clone(),
        app_protocol_name: c.app_protocol_name.clone(),
        http_vals: c.http_vals.clone(),
    }
}

#[cfg(test)]
mod tests;
