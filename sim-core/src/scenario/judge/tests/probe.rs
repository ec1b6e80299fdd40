//! The probe expectation, field by field, and the longest outage.

use super::*;

/// `ok`/`fail` attempts, one a second from 1 s; `pending` has no verdict.
fn attempts(verdicts: &str) -> Vec<Attempt> {
    verdicts
        .split_whitespace()
        .enumerate()
        .map(|(i, v)| Attempt {
            seq: i as u32 + 1,
            sent: secs(i as u64 + 1),
            verdict: match v {
                "ok" => Verdict::Ok { rtt_ns: 1_000 },
                "fail" => Verdict::Fail {
                    reason: "no route to host".into(),
                },
                "pending" => Verdict::Pending,
                other => panic!("no verdict {other}"),
            },
            seen_src: None,
            seen_by: None,
            path: Vec::new(),
            drops: Vec::new(),
            http_status: None,
        })
        .collect()
}

fn lab_with_probe(verdicts: &str) -> FakeLab {
    let mut lab = FakeLab::default();
    lab.probes
        .insert("p".into(), (attempts(verdicts), SimDuration::from_secs(1)));
    lab
}

/// A probe expectation with nothing asked yet.
fn probe_expect() -> ExpectKind {
    ExpectKind::Probe {
        probe: "p".into(),
        last_ok: None,
        reason: None,
        seen_source: None,
        via_vlan: None,
        not_via_vlan: None,
        max_outage: None,
        min_outage: None,
        handled_by: None,
        only_answered_by: None,
        min_answerers: None,
        reply_avoids: None,
        http_status: None,
    }
}

/// `probe_expect()` with one field set by `set`.
fn probe_with(set: impl FnOnce(&mut ExpectKind)) -> ExpectKind {
    let mut k = probe_expect();
    set(&mut k);
    k
}

macro_rules! probe {
    ($($field:ident: $value:expr),* $(,)?) => {
        probe_with(|k| {
            if let ExpectKind::Probe { $($field,)* .. } = k {
                $(*$field = $value;)*
            }
        })
    };
}

#[test]
fn a_probe_that_never_started_fails_whatever_is_asked() {
    let lab = FakeLab::default();
    assert_eq!(
        verdict(&lab, &probe!(last_ok: Some(false))),
        (false, "probe p does not exist".into())
    );
}

#[test]
fn last_is_the_last_attempt_with_a_verdict() {
    let lab = lab_with_probe("fail ok pending");
    assert_eq!(
        verdict(&lab, &probe!(last_ok: Some(true))),
        (true, "probe p: last ok".into())
    );
    assert_eq!(
        verdict(&lab, &probe!(last_ok: Some(false))),
        (
            false,
            "probe p: last fail; but last attempt succeeded".into()
        )
    );
    let lab = lab_with_probe("ok fail");
    assert_eq!(
        verdict(&lab, &probe!(last_ok: Some(true))),
        (
            false,
            "probe p: last ok; but last attempt failed: no route to host".into()
        )
    );
    // No verdict yet is not a failure to expect.
    let lab = lab_with_probe("pending");
    assert_eq!(
        verdict(&lab, &probe!(last_ok: Some(false))),
        (
            false,
            "probe p: last fail; but no attempt has finished".into()
        )
    );
}

#[test]
fn reason_is_matched_in_part_or_said_unobservable() {
    let lab = lab_with_probe("ok fail");
    let asked = probe!(reason: Some("route".into()));
    assert_eq!(
        verdict(&lab, &asked),
        (true, "probe p: reason contains \"route\"".into())
    );
    assert_eq!(
        verdict(&lab, &probe!(reason: Some("powered off".into()))),
        (
            false,
            "probe p: reason contains \"powered off\"; but reason was \"no route to host\"".into()
        )
    );
    let ok = lab_with_probe("fail ok");
    assert_eq!(
        verdict(&ok, &asked).1,
        "probe p: reason contains \"route\"; but last attempt did not fail"
    );
    let blind = FakeLab {
        name: Some("real"),
        blind: true,
        ..lab_with_probe("ok")
    };
    assert_eq!(
        verdict(&blind, &asked),
        (
            true,
            "probe p: reason contains \"route\" (not observable for real: reason)".into()
        )
    );
}

#[test]
fn seen_source_and_vlans_are_what_the_last_request_showed() {
    let mut lab = lab_with_probe("ok");
    let asked = probe!(seen_source: Some(ip("172.18.181.40")), via_vlan: Some(181), not_via_vlan: Some(216));
    assert!(!judge(&lab, &asked).passed);
    assert_eq!(
        verdict(&lab, &asked).1,
        "probe p: destination saw source 172.18.181.40, request crossed VLAN 181, request avoided VLAN 216; but destination saw nothing; request crossed VLANs []"
    );
    lab.seen_source = Some(ip("172.18.181.40"));
    lab.vlans = vec![181];
    assert!(judge(&lab, &asked).passed);
    lab.vlans = vec![181, 216];
    assert_eq!(
        verdict(&lab, &asked),
        (
            false,
            "probe p: destination saw source 172.18.181.40, request crossed VLAN 181, request avoided VLAN 216; but request crossed VLANs [181, 216]".into()
        )
    );
}

#[test]
fn the_longest_outage_runs_from_the_first_failed_send_to_the_next_success() {
    let t = SimDuration::from_secs(1);
    let outage = |v: &str| longest_outage(&attempts(v), t);
    assert_eq!(outage("ok ok ok"), SimDuration::ZERO);
    assert_eq!(outage(""), SimDuration::ZERO);
    // A gap at the start: from the first send to the first success.
    assert_eq!(outage("fail fail ok ok"), SimDuration::from_secs(2));
    // In the middle: the longer of two.
    assert_eq!(
        outage("ok fail ok fail fail fail ok"),
        SimDuration::from_secs(3)
    );
    // At the end, still down: until the last attempt's timeout.
    assert_eq!(outage("ok ok fail fail"), SimDuration::from_secs(2));
    assert_eq!(outage("ok fail fail fail"), SimDuration::from_secs(3));
    assert_eq!(
        longest_outage(&attempts("ok fail fail"), ms(300)),
        SimDuration::from_millis(1_300)
    );
    // Attempts without a verdict neither end nor extend an outage.
    assert_eq!(outage("ok fail pending fail ok"), SimDuration::from_secs(3));
    assert_eq!(outage("ok fail pending pending"), SimDuration::from_secs(1));
}

#[test]
fn outage_bounds_judge_the_longest_outage() {
    let lab = lab_with_probe("ok fail fail ok fail ok");
    assert_eq!(
        verdict(
            &lab,
            &probe!(max_outage: Some(ms(2000)), min_outage: Some(ms(1000)))
        ),
        (
            true,
            "probe p: longest outage <= 2s, longest outage >= 1s".into()
        )
    );
    assert_eq!(
        verdict(&lab, &probe!(max_outage: Some(ms(1500)))),
        (
            false,
            "probe p: longest outage <= 1500ms; but longest outage was 2s".into()
        )
    );
    assert_eq!(
        verdict(&lab, &probe!(min_outage: Some(ms(2500)))).1,
        "probe p: longest outage >= 2500ms; but longest outage was 2s"
    );
    // Down at the end: the outage lasts to the last attempt's timeout.
    let lab = lab_with_probe("ok fail fail fail");
    assert!(!judge(&lab, &probe!(max_outage: Some(ms(2999)))).passed);
    assert!(judge(&lab, &probe!(max_outage: Some(ms(3000)))).passed);
}

fn answered_by(lab: &mut FakeLab, who: &[(&str, bool)]) {
    let list = &mut lab.probes.get_mut("p").unwrap().0;
    list.clear();
    for (i, (by, ok)) in who.iter().enumerate() {
        let mut a = attempts(if *ok { "ok" } else { "fail" }).remove(0);
        a.seq = i as u32 + 1;
        a.sent = secs(i as u64 + 1);
        a.seen_by = Some(by.to_string());
        list.push(a);
    }
}

#[test]
fn answerers_count_successful_attempts_only() {
    let mut lab = lab_with_probe("");
    answered_by(
        &mut lab,
        &[
            ("web/b", true),
            ("web/a", true),
            ("web/c", false),
            ("web/a", true),
        ],
    );
    let j = judge(
        &lab,
        &probe!(min_answerers: Some(2), only_answered_by: Some(vec!["web/a".into(), "web/b".into()])),
    );
    assert_eq!(
        (j.passed, j.message.as_str()),
        (
            true,
            "probe p: answered by at least 2 hosts, answered only by web/a, web/b"
        )
    );
    assert_eq!(
        j.observed,
        vec![Observed {
            what: "probe p answered by".into(),
            value: "web/a, web/b".into()
        }]
    );
    assert_eq!(
        verdict(&lab, &probe!(min_answerers: Some(3))).1,
        "probe p: answered by at least 3 hosts; but answered by web/a, web/b"
    );
    assert_eq!(
        verdict(&lab, &probe!(only_answered_by: Some(vec!["web/a".into()]))).1,
        "probe p: answered only by web/a; but also answered by web/b"
    );
}

#[test]
fn http_status_load_balancer_and_reply_path() {
    let mut lab = lab_with_probe("ok ok");
    lab.probes.get_mut("p").unwrap().0[1].http_status = Some(503);
    assert_eq!(
        verdict(&lab, &probe!(http_status: Some(200))),
        (
            false,
            "probe p: HTTP status 200; but HTTP status was 503".into()
        )
    );
    assert!(judge(&lab, &probe!(http_status: Some(503))).passed);
    let asked =
        probe!(handled_by: Some("AntreaProxy".into()), reply_avoids: Some("core-sw".into()));
    assert_eq!(
        verdict(&lab, &asked).1,
        "probe p: load-balanced by AntreaProxy, reply bypassed core-sw; but no proxy load-balanced it"
    );
    lab.balanced_by = vec!["kube-proxy on node-1".into()];
    lab.reply_path = vec!["node-2".into(), "core-sw".into()];
    assert_eq!(
        verdict(&lab, &asked).1,
        "probe p: load-balanced by AntreaProxy, reply bypassed core-sw; but it was kube-proxy on node-1; the reply went through core-sw"
    );
    lab.balanced_by = vec!["AntreaProxy on node-1".into()];
    lab.reply_path = vec!["node-2".into()];
    assert!(judge(&lab, &asked).passed);
    let blind = FakeLab {
        name: Some("real"),
        blind: true,
        ..lab_with_probe("ok")
    };
    assert_eq!(
        verdict(&blind, &asked),
        (
            true,
            "probe p: load-balanced by AntreaProxy, reply bypassed core-sw (not observable for real: handledBy, replyAvoids)".into()
        )
    );
}

#[test]
fn probe_observations_are_the_facts_asked_about() {
    let mut lab = lab_with_probe("fail ok");
    lab.seen_source = Some(ip("10.160.1.25"));
    lab.vlans = vec![216];
    let j = judge(
        &lab,
        &probe!(last_ok: Some(true), seen_source: Some(ip("10.160.1.25")), via_vlan: Some(216), not_via_vlan: Some(181), max_outage: Some(ms(5000))),
    );
    assert!(j.passed, "{}", j.message);
    let fields: Vec<(&str, &str)> = j
        .observed
        .iter()
        .map(|o| (o.what.as_str(), o.value.as_str()))
        .collect();
    assert_eq!(
        fields,
        vec![
            ("probe p last attempt ok", "yes"),
            ("probe p source seen by destination", "10.160.1.25"),
            ("probe p request crossed VLAN 216", "yes"),
            ("probe p request crossed VLAN 181", "no"),
        ]
    );
    // Nothing asked about the last attempt: nothing to compare.
    assert!(
        judge(&lab, &probe!(max_outage: Some(ms(5000))))
            .observed
            .is_empty()
    );
}

#[test]
fn a_hop_list_is_not_consulted_for_what_the_observer_answers() {
    // The judge reads a side's load balancers from the observer, not from
    // the attempts' paths (real attempts have none).
    let mut lab = lab_with_probe("ok");
    lab.probes.get_mut("p").unwrap().0[0].path = vec![Hop {
        time: secs(1),
        device: "node-1".into(),
        text: "AntreaProxy: Service web".into(),
        vlan: None,
        reply: false,
    }];
    assert!(!judge(&lab, &probe!(handled_by: Some("AntreaProxy".into()))).passed);
}
