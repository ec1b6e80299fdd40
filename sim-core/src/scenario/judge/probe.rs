//! The probe expectation: `{probe: P, last, reason, seenSource, viaVlan,
//! notViaVlan, maxOutage, minOutage, handledBy, minAnswerers, httpStatus,
//! replyAvoids, onlyAnsweredBy}`, each checked in that order against the
//! probe's attempts and what its last attempt saw.

use std::collections::BTreeSet;

use super::{Judgement, Notes, Observe, Seen, or_none, refused};
use crate::scenario::load::ExpectKind;
use crate::sim::probe::{Verdict, last_finished, longest_outage};

fn yes(b: bool) -> String {
    if b { "yes".into() } else { "no".into() }
}

/// Judges an [`ExpectKind::Probe`].
pub(super) fn judge(obs: &dyn Observe, kind: &ExpectKind) -> Judgement {
    let ExpectKind::Probe {
        probe,
        last_ok,
        reason,
        seen_source,
        via_vlan,
        not_via_vlan,
        max_outage,
        min_outage,
        handled_by,
        only_answered_by,
        min_answerers,
        reply_avoids,
        http_status,
    } = kind
    else {
        unreachable!("judge::judge sends only probe expectations here");
    };
    let Some(p) = obs.probe(probe) else {
        return refused(format!("probe {probe} does not exist"));
    };
    let mut notes = Notes::default();
    let last = last_finished(p.attempts);
    if let Some(want) = last_ok {
        notes.expect(format!("last {}", if *want { "ok" } else { "fail" }));
        notes.observed(
            format!("probe {probe} last attempt ok"),
            yes(last.is_some_and(|a| a.ok())),
        );
        match last {
            None => notes.problem("no attempt has finished".to_string()),
            Some(a) if a.ok() != *want => notes.problem(match &a.verdict {
                Verdict::Fail { reason } => format!("last attempt failed: {reason}"),
                _ => "last attempt succeeded".to_string(),
            }),
            _ => {}
        }
    }
    if let Some(r) = reason {
        notes.expect(format!("reason contains \"{r}\""));
        match obs.failure_reason(probe) {
            Seen::Is(Some(got)) if got.contains(r.as_str()) => {}
            Seen::Is(Some(got)) => notes.problem(format!("reason was \"{got}\"")),
            Seen::Is(None) => notes.problem("last attempt did not fail".into()),
            Seen::Unobservable(why) => notes.unobservable("reason", why),
        }
    }
    if let Some(src) = seen_source {
        notes.expect(format!("destination saw source {src}"));
        let got = obs.seen_source(probe);
        notes.observed(
            format!("probe {probe} source seen by destination"),
            or_none(got),
        );
        if got != Some(*src) {
            notes.problem(format!(
                "destination saw {}",
                got.map_or("nothing".to_string(), |g| g.to_string())
            ));
        }
    }
    let vlans = if via_vlan.is_some() || not_via_vlan.is_some() {
        obs.request_vlans(probe)
    } else {
        Vec::new()
    };
    if let Some(v) = via_vlan {
        notes.expect(format!("request crossed VLAN {v}"));
        notes.observed(
            format!("probe {probe} request crossed VLAN {v}"),
            yes(vlans.contains(v)),
        );
        if !vlans.contains(v) {
            notes.problem(format!("request crossed VLANs {vlans:?}"));
        }
    }
    if let Some(v) = not_via_vlan {
        notes.expect(format!("request avoided VLAN {v}"));
        notes.observed(
            format!("probe {probe} request crossed VLAN {v}"),
            yes(vlans.contains(v)),
        );
        if vlans.contains(v) {
            notes.problem(format!("request crossed VLANs {vlans:?}"));
        }
    }
    if max_outage.is_some() || min_outage.is_some() {
        let longest = longest_outage(p.attempts, p.timeout);
        if let Some(max) = max_outage {
            notes.expect(format!("longest outage <= {max}"));
            if longest > *max {
                notes.problem(format!("longest outage was {longest}"));
            }
        }
        if let Some(min) = min_outage {
            notes.expect(format!("longest outage >= {min}"));
            if longest < *min {
                notes.problem(format!("longest outage was {longest}"));
            }
        }
    }
    if let Some(h) = handled_by {
        notes.expect(format!("load-balanced by {h}"));
        match obs.balanced_by(probe) {
            Seen::Is(by) => {
                if !by.iter().any(|b| b.starts_with(h.as_str())) {
                    notes.problem(if by.is_empty() {
                        "no proxy load-balanced it".to_string()
                    } else {
                        format!("it was {}", by.join(", "))
                    });
                }
            }
            Seen::Unobservable(why) => notes.unobservable("handledBy", why),
        }
    }
    // Who answered, over every successful attempt.
    let answered: BTreeSet<&str> = p
        .attempts
        .iter()
        .filter(|a| a.ok())
        .filter_map(|a| a.seen_by.as_deref())
        .collect();
    if only_answered_by.is_some() || min_answerers.is_some() {
        notes.observed(
            format!("probe {probe} answered by"),
            answered.iter().copied().collect::<Vec<_>>().join(", "),
        );
    }
    if let Some(n) = min_answerers {
        notes.expect(format!("answered by at least {n} hosts"));
        if answered.len() < *n {
            notes.problem(format!(
                "answered by {}",
                answered.iter().copied().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    if let Some(want) = http_status {
        notes.expect(format!("HTTP status {want}"));
        let got = last.and_then(|a| a.http_status);
        if got != Some(*want) {
            notes.problem(format!("HTTP status was {}", or_none(got)));
        }
    }
    if let Some(dev) = reply_avoids {
        notes.expect(format!("reply bypassed {dev}"));
        match obs.reply_path(probe) {
            Seen::Is(path) => {
                if path.contains(dev) {
                    notes.problem(format!("the reply went through {dev}"));
                }
            }
            Seen::Unobservable(why) => notes.unobservable("replyAvoids", why),
        }
    }
    if let Some(allowed) = only_answered_by {
        notes.expect(format!("answered only by {}", allowed.join(", ")));
        let others: Vec<&str> = answered
            .iter()
            .copied()
            .filter(|b| !allowed.iter().any(|a| a == b))
            .collect();
        if !others.is_empty() {
            notes.problem(format!("also answered by {}", others.join(", ")));
        }
    }
    let head = format!("probe {probe}: {}", notes.said());
    notes.finish(obs, head)
}
