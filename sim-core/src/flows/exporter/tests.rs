//! The exporter's rules one by one, plus Antrea's own table for
//! `sendFlowRecords` (`exporter_test.go`@v1.15.0, the conntrack cases).

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

fn t(ms: u64) -> SimTime {
    SimTime(SimDuration::from_millis(ms).as_nanos())
}

fn s(secs: u64) -> SimTime {
    t(secs * 1000)
}

fn dump(packets: u64, reverse: u64, state: &'static str) -> DumpedConn {
    DumpedConn {
        key: key(),
        start: t(500),
        packets,
        bytes: packets * 100,
        reverse_packets: reverse,
        reverse_bytes: reverse * 1000,
        tcp_state: state,
    }
}

fn meta() -> FlowMeta {
    FlowMeta {
        source_pod_name: "client".into(),
        source_node_name: "n1".into(),
        flow_type: FlowType::InterNode,
        ..FlowMeta::default()
    }
}

/// An exporter that saw `d` at the poll at 1 s.
fn exporter_with(d: DumpedConn) -> FlowExporter {
    let mut e = FlowExporter::new(ExporterConfig::default());
    e.poll(s(1), &[d], |_| Some(meta()));
    e
}

fn reasons(r: &[FlowRecord]) -> Vec<u8> {
    r.iter().map(|r| r.flow_end_reason as u8).collect()
}

#[test]
fn defaults_are_antreas() {
    let c = ExporterConfig::default();
    assert_eq!(c.active_timeout, SimDuration::from_secs(5));
    assert_eq!(c.idle_timeout, SimDuration::from_secs(15));
    assert_eq!(c.stale_timeout, SimDuration::from_secs(300));
    // A timeout over 5 min doubles into the stale timeout.
    let long = ExporterConfig::new(SimDuration::from_secs(5), SimDuration::from_secs(600), 0);
    assert_eq!(long.stale_timeout, SimDuration::from_secs(1200));
}

#[test]
fn a_new_connection_is_exported_active_at_its_active_expiry_with_full_deltas() {
    let mut e = exporter_with(dump(3, 2, "ESTABLISHED"));
    assert_eq!(e.queued(), 1);
    assert!(e.export(t(5_999)).is_empty(), "active expiry is poll + 5 s");
    let r = e.export(s(6));
    assert_eq!(reasons(&r), [2]);
    assert_eq!((r[0].packet_total_count, r[0].packet_delta_count), (3, 3));
    assert_eq!((r[0].octet_total_count, r[0].octet_delta_count), (300, 300));
    assert_eq!(
        (
            r[0].reverse_packet_delta_count,
            r[0].reverse_octet_delta_count
        ),
        (2, 2000)
    );
    assert_eq!(r[0].tcp_state, "ESTABLISHED");
    assert_eq!(r[0].source_pod_name, "client");
    // Still active: back in the queue for the next active expiry.
    assert_eq!(e.queued(), 1);
}

#[test]
fn no_change_since_the_last_export_gives_one_idle_record_and_leaves_the_queue() {
    let mut e = exporter_with(dump(3, 2, "ESTABLISHED"));
    assert_eq!(reasons(&e.export(s(6))), [2]);
    // Polls see nothing new: the connection is inactive.
    e.poll(s(7), &[dump(3, 2, "ESTABLISHED")], |_| Some(meta()));
    e.poll(s(10), &[dump(3, 2, "ESTABLISHED")], |_| Some(meta()));
    let r = e.export(s(11));
    assert_eq!(reasons(&r), [1], "idle, not a zero-delta active record");
    assert_eq!(r[0].packet_delta_count, 0);
    assert_eq!(e.queued(), 0);
    assert!(e.export(s(100)).is_empty());
    // Still in conntrack, so still in the store.
    assert_eq!(e.len(), 1);
}

#[test]
fn a_connection_that_wakes_up_is_queued_again() {
    let mut e = exporter_with(dump(3, 2, "ESTABLISHED"));
    e.export(s(6));
    e.poll(s(7), &[dump(3, 2, "ESTABLISHED")], |_| Some(meta()));
    assert_eq!(reasons(&e.export(s(11))), [1]);
    e.poll(s(20), &[dump(5, 2, "ESTABLISHED")], |_| Some(meta()));
    assert_eq!(e.queued(), 1);
    let r = e.export(s(25));
    assert_eq!(reasons(&r), [2]);
    assert_eq!((r[0].packet_total_count, r[0].packet_delta_count), (5, 2));
}

#[test]
fn activity_pushes_the_idle_expiry_and_each_round_exports_a_connection_once() {
    let mut e = exporter_with(dump(1, 1, "ESTABLISHED"));
    // Active at every poll: the idle expiry moves with it.
    for (i, at) in [5u64, 10, 15, 20].iter().enumerate() {
        e.poll(s(*at), &[dump(2 + i as u64, 1, "ESTABLISHED")], |_| {
            Some(meta())
        });
        let r = e.export(s(*at) + MIN_EXPIRY);
        assert!(r.len() <= 1, "one record per connection per round");
    }
    // Both expiries passed at a late round: still one record.
    let r = e.export(s(100));
    assert_eq!(r.len(), 1);
    assert_eq!(e.export(s(100)).len(), 0, "nothing is due twice");
}

#[test]
fn time_wait_and_close_end_the_flow_with_reason_3() {
    for state in ["TIME_WAIT", "CLOSE"] {
        let mut e = exporter_with(dump(1, 1, "SYN_SENT"));
        e.poll(s(3), &[dump(4, 3, state)], |_| Some(meta()));
        let r = e.export(s(6));
        assert_eq!(reasons(&r), [3], "{state}");
        assert_eq!(r[0].tcp_state, state);
        assert_eq!(r[0].flow_end_seconds, 3, "the poll that saw it closing");
        assert_eq!(e.queued(), 0);
        // Later polls do not revive it; it leaves once conntrack forgets it.
        e.poll(s(8), &[dump(5, 3, state)], |_| Some(meta()));
        assert_eq!(e.queued(), 0);
        assert!(e.export(s(60)).is_empty());
        e.poll(s(130), &[], |_| Some(meta()));
        assert_eq!(e.len(), 1, "ready to delete, deleted at the next poll");
        e.poll(s(135), &[], |_| Some(meta()));
        assert_eq!(e.len(), 0, "{state}");
    }
}

#[test]
fn a_connection_gone_from_conntrack_ends_at_its_next_expiry() {
    let mut e = exporter_with(dump(2, 2, ""));
    e.poll(s(3), &[], |_| Some(meta()));
    let r = e.export(s(6));
    assert_eq!(reasons(&r), [3]);
    assert_eq!(r[0].flow_end_seconds, 1, "last seen at the first poll");
    e.poll(s(7), &[], |_| Some(meta()));
    assert!(e.is_empty());
}

#[test]
fn an_unexported_missing_connection_goes_stale_after_5_minutes() {
    let mut e = exporter_with(dump(2, 2, "ESTABLISHED"));
    e.export(s(6));
    e.poll(s(7), &[dump(2, 2, "ESTABLISHED")], |_| Some(meta()));
    e.export(s(11)); // idle record; out of the queue, not ready to delete
    e.poll(s(12), &[], |_| Some(meta()));
    e.poll(s(300), &[], |_| Some(meta()));
    assert_eq!(e.len(), 1, "last export at 11 s: not stale yet");
    e.poll(s(311), &[], |_| Some(meta()));
    assert!(e.is_empty());
}

#[test]
fn connections_without_a_local_pod_are_not_tracked() {
    let mut e = FlowExporter::new(ExporterConfig::default());
    e.poll(s(1), &[dump(1, 1, "ESTABLISHED")], |_| None);
    assert!(e.is_empty());
    assert!(e.export(s(60)).is_empty());
}

#[test]
fn the_next_round_is_100ms_after_the_earliest_expiry() {
    let mut e = FlowExporter::new(ExporterConfig::default());
    assert_eq!(e.next_round(s(5)), s(10), "empty: min(active, idle)");
    e.poll(s(5), &[dump(1, 1, "ESTABLISHED")], |_| Some(meta()));
    assert_eq!(e.next_round(s(5)), s(10) + MIN_EXPIRY);
    // Never sooner than 100 ms.
    assert_eq!(e.next_round(s(11)), s(11) + MIN_EXPIRY);
}

#[test]
fn times_are_unix_seconds_from_the_start_time() {
    let mut e = FlowExporter::new(ExporterConfig::new(
        SimDuration::from_secs(5),
        SimDuration::from_secs(15),
        1_714_723_200,
    ));
    e.poll(s(1), &[dump(1, 1, "ESTABLISHED")], |_| Some(meta()));
    e.poll(s(5), &[dump(2, 1, "ESTABLISHED")], |_| Some(meta()));
    let r = e.export(s(6));
    assert_eq!(
        r[0].flow_start_seconds, 1_714_723_200,
        "conntrack start, 0.5 s"
    );
    assert_eq!(r[0].flow_end_seconds, 1_714_723_205, "the poll at 5 s");
}

#[test]
fn http_vals_are_appended_per_poll_and_cleared_by_an_export() {
    let x = HttpExchange {
        hostname: "www.vg.no".into(),
        status: 301,
        ..HttpExchange::default()
    };
    let mut e = exporter_with(dump(4, 3, "ESTABLISHED"));
    e.add_http(s(1), &key(), &[(0, x.clone())]);
    e.add_http(s(1), &key(), &[(1, x.clone())]);
    let r = e.export(s(6));
    assert_eq!(r[0].app_protocol_name, "http");
    // Two polls' events: two JSON objects one after the other, as Antrea's
    // `conn.HttpVals += string(jsonBytes)` makes them.
    assert!(
        r[0].http_vals
            .starts_with(r#"{"0":{"hostname":"www.vg.no""#)
    );
    assert!(r[0].http_vals.contains(r#"}}{"1":{"#), "{}", r[0].http_vals);
    e.poll(s(7), &[dump(5, 3, "ESTABLISHED")], |_| Some(meta()));
    let r = e.export(s(11));
    assert_eq!(
        (r[0].app_protocol_name.as_str(), r[0].http_vals.as_str()),
        ("", "")
    );
    // An event for a connection that left the queue queues it again.
    e.poll(s(12), &[dump(5, 3, "ESTABLISHED")], |_| Some(meta()));
    assert_eq!(reasons(&e.export(s(16))), [1]);
    assert_eq!(e.queued(), 0);
    e.add_http(s(17), &key(), &[(2, x)]);
    assert_eq!(e.queued(), 1);
    // Unknown connections' events are dropped.
    let other = FlowKey {
        src_port: 1,
        ..key()
    };
    e.add_http(s(17), &other, &[(0, HttpExchange::default())]);
    assert_eq!(e.queued(), 1);
}

#[test]
fn http_transaction_ids_sort_as_strings_like_go_maps() {
    let mut e = exporter_with(dump(4, 3, "ESTABLISHED"));
    let x = HttpExchange::default();
    e.add_http(s(1), &key(), &[(2, x.clone()), (10, x)]);
    let r = e.export(s(6));
    assert!(
        r[0].http_vals.starts_with(r#"{"10":"#),
        "{}",
        r[0].http_vals
    );
}

/// Antrea's `TestFlowExporter_sendFlowRecords` conntrack cases: the queue item
/// is given expiries around now and the connection its previous counters, then
/// one round runs.
#[test]
fn antrea_send_flow_records_table() {
    struct Case {
        name: &'static str,
        present: bool,
        tcp_state: &'static str,
        packets: u64,
        prev_packets: u64,
        active_expired: bool,
        idle_expired: bool,
        reason: u8,
        queued_after: usize,
        ready_to_delete: bool,
    }
    let cases = [
        Case {
            name: "conntrack connection being active time out",
            present: true,
            tcp_state: "SYN_SENT",
            packets: 1,
            prev_packets: 0,
            active_expired: true,
            idle_expired: false,
            reason: 2,
            queued_after: 1,
            ready_to_delete: false,
        },
        Case {
            name: "conntrack connection being idle time out and becoming inactive",
            present: true,
            tcp_state: "SYN_SENT",
            packets: 0,
            prev_packets: 0,
            active_expired: false,
            idle_expired: true,
            reason: 2,
            queued_after: 0,
            ready_to_delete: false,
        },
        Case {
            name: "conntrack connection with deleted connection",
            present: false,
            tcp_state: "TIME_WAIT",
            packets: 0,
            prev_packets: 0,
            active_expired: true,
            idle_expired: true,
            reason: 3,
            queued_after: 0,
            ready_to_delete: true,
        },
    ];
    let now = s(100);
    for c in cases {
        let mut e = FlowExporter::new(ExporterConfig::default());
        let mut d = dump(c.packets, c.packets, c.tcp_state);
        d.start = s(1);
        e.poll(s(1), &[d], |_| Some(meta()));
        {
            let conn = e.conns.get_mut(&key()).unwrap();
            conn.is_present = c.present;
            conn.prev.packets = c.prev_packets;
            conn.prev.reverse_packets = c.prev_packets;
            let item = e.queue.get_mut(&key()).unwrap();
            let (past, future) = (s(90), s(200));
            item.active = if c.active_expired { past } else { future };
            item.idle = if c.idle_expired { past } else { future };
        }
        let r = e.export(now);
        assert_eq!(reasons(&r), [c.reason], "{}", c.name);
        assert_eq!(e.queued(), c.queued_after, "{}", c.name);
        let conn = &e.conns[&key()];
        assert_eq!(conn.ready_to_delete, c.ready_to_delete, "{}", c.name);
        if c.queued_after == 1 {
            assert!(e.queue[&key()].active > now, "{}", c.name);
            assert_eq!(conn.prev.packets, conn.now.packets, "{}", c.name);
        } else {
            assert!(!conn.is_active || conn.ready_to_delete, "{}", c.name);
        }
    }
}

/// The deny connection store (`deny_connections.go`): a denied packet adds
/// the connection, more packets count and keep it active; each round
/// exports it with `flowEndReason` 3 before any conntrack connection; a
/// round without new packets exports a zero delta and drops it from the
/// queue; past its idle expiry it is ready to delete and later packets are
/// ignored until it is gone.
#[test]
fn denied_connections_have_their_own_store_and_queue() {
    let mut e = FlowExporter::new(ExporterConfig::default());
    e.add_denied(s(1), key(), 60, || Some(meta()));
    e.add_denied(t(1500), key(), 60, || panic!("known: no new context"));
    assert_eq!(e.denied_len(), 1);
    assert_eq!(e.len(), 0, "not a conntrack connection");
    // Active expiry: 1 s + 5 s.
    assert_eq!(e.next_round(s(1)), t(6100));
    assert!(e.export(t(5999)).is_empty());
    let first = e.export(s(6));
    assert_eq!(reasons(&first), [3]);
    assert_eq!(
        (
            first[0].packet_total_count,
            first[0].packet_delta_count,
            first[0].octet_total_count
        ),
        (2, 2, 120)
    );
    assert_eq!(first[0].flow_start_seconds, 1);
    // Nothing new by the next active expiry: a zero delta, then it leaves.
    let second = e.export(s(11));
    assert_eq!(
        (second[0].packet_total_count, second[0].packet_delta_count),
        (2, 0)
    );
    assert!(e.export(s(16)).is_empty());
    // A new packet queues it again; its idle expiry (15 s) passes: ready
    // to delete, and gone at the round after.
    e.add_denied(s(20), key(), 60, || panic!("still known"));
    let third = e.export(s(36));
    assert_eq!(third[0].packet_delta_count, 1);
    e.add_denied(s(37), key(), 60, || panic!("ignored"));
    assert_eq!(e.denied_len(), 1);
    assert!(e.export(s(40)).is_empty());
    assert_eq!(e.denied_len(), 0);
    // Without a local Pod it is not tracked.
    e.add_denied(s(41), key(), 60, || None);
    assert_eq!(e.denied_len(), 0);
}
