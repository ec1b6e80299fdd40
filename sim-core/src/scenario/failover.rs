//! Egress failovers as a run sees them: each one split into detection,
//! reassignment and convergence for the lines at the end of a run.

use crate::sim::probe::{Attempt, Verdict};
use crate::time::SimTime;

/// The Egress failovers of a run so far, in the order they began, and when
/// the control plane heard of a node leaving or moved an Egress IP.
#[derive(Clone, Debug, Default)]
pub(super) struct Failovers {
    incidents: Vec<Incident>,
    /// Every memberlist Leave news (any agent, any member), in time order.
    leaves: Vec<SimTime>,
    /// Every change of an Egress IP's holders, in time order.
    moves: Vec<SimTime>,
}

/// What the control plane did after a moment (a sweep's failure): the
/// first memberlist Leave news any agent had, and every time an Egress IP
/// changed holders since, in time order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ControlNews {
    pub first_leave: Option<SimTime>,
    pub moves: Vec<SimTime>,
}

impl Failovers {
    /// Egress `egress` lost its only holder `old_node`, which is down, and
    /// no node holds it now.
    pub(super) fn lost(&mut self, egress: &str, old_node: &str, at: SimTime) {
        self.incidents.push(Incident {
            egress: egress.to_string(),
            old_node: old_node.to_string(),
            lost_at: at,
            detected_at: None,
            assigned_at: None,
            new_node: None,
        });
    }

    /// Some agent's memberlist says `gone` left: the first such news
    /// detects every failover away from `gone` not yet detected.
    pub(super) fn left(&mut self, gone: &str, at: SimTime) {
        self.leaves.push(at);
        for inc in self.incidents.iter_mut() {
            if inc.old_node == gone && inc.detected_at.is_none() {
                inc.detected_at = Some(at);
            }
        }
    }

    /// Egress `egress` has one holder again, `node`: its latest failover
    /// not yet reassigned is.
    pub(super) fn assigned(&mut self, egress: &str, node: &str, at: SimTime) {
        if let Some(inc) = self
            .incidents
            .iter_mut()
            .rev()
            .find(|i| i.egress == egress && i.assigned_at.is_none())
        {
            inc.assigned_at = Some(at);
            inc.new_node = Some(node.to_string());
        }
    }

    /// Egress IP holders changed at `at` (any Egress, any change).
    pub(super) fn moved(&mut self, at: SimTime) {
        self.moves.push(at);
    }

    /// The news at or after `since`.
    pub(super) fn news_since(&self, since: SimTime) -> ControlNews {
        ControlNews {
            first_leave: self.leaves.iter().copied().find(|t| *t >= since),
            moves: self.moves.iter().copied().filter(|t| *t >= since).collect(),
        }
    }

    /// One line per failover (see [`outage_breakdown`]), from the attempts
    /// of every probe of the run.
    pub(super) fn breakdown<'a>(
        &self,
        probes: impl Iterator<Item = &'a [Attempt]> + Clone,
    ) -> Vec<String> {
        outage_breakdown(probes, &self.incidents)
    }
}

/// One Egress losing its node and getting a new one.
#[derive(Clone, Debug)]
struct Incident {
    egress: String,
    old_node: String,
    lost_at: SimTime,
    /// First memberlist Leave about the old node, by any agent.
    detected_at: Option<SimTime>,
    assigned_at: Option<SimTime>,
    new_node: Option<String>,
}

/// Splits each Egress failover into detection (memberlist), reassignment
/// (the agent assigning the IP and announcing it) and convergence (until the
/// first probe through the Egress succeeds again), as seen by the probes.
fn outage_breakdown<'a>(
    probes: impl Iterator<Item = &'a [Attempt]> + Clone,
    incidents: &[Incident],
) -> Vec<String> {
    let mut out = Vec::new();
    for inc in incidents {
        let lost = inc.lost_at;
        let mut line = format!(
            "failover of Egress {} from {} at {}:",
            inc.egress, inc.old_node, lost
        );
        let Some(detected) = inc.detected_at else {
            line.push_str(" never detected by memberlist");
            out.push(line);
            continue;
        };
        line.push_str(&format!(" detection {}", detected.since(lost).human()));
        let Some(assigned) = inc.assigned_at else {
            line.push_str(", never reassigned (no Node available)");
            out.push(line);
            continue;
        };
        line.push_str(&format!(
            ", reassignment to {} {}",
            inc.new_node.as_deref().unwrap_or("?"),
            assigned.since(detected).human()
        ));
        // The first probe attempt sent after the reassignment that succeeded,
        // among the probes the loss broke (a node's own traffic that never
        // went through the Egress does not tell when the Egress recovered).
        let recovered = probes
            .clone()
            .filter(|attempts| {
                attempts
                    .iter()
                    .any(|a| a.sent >= lost && matches!(a.verdict, Verdict::Fail { .. }))
            })
            .flat_map(|attempts| attempts.iter())
            .filter(|a| a.sent >= assigned && a.ok())
            .map(|a| a.sent)
            .min();
        match recovered {
            Some(r) => line.push_str(&format!(
                ", traffic back {} later (ARP convergence and probe interval); outage {}",
                r.since(assigned).human(),
                r.since(lost).human()
            )),
            None => line.push_str(", traffic never came back in this run"),
        }
        out.push(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::SimDuration;

    fn at(s: u64) -> SimTime {
        SimTime::ZERO + SimDuration::from_secs(s)
    }

    fn attempt(sent_s: u64, ok: bool) -> Attempt {
        Attempt::bare(
            sent_s as u32 + 1,
            at(sent_s),
            if ok {
                Verdict::Ok { rtt_ns: 1 }
            } else {
                Verdict::Fail {
                    reason: "no route".into(),
                }
            },
        )
    }

    #[test]
    fn a_failover_is_told_as_far_as_it_got() {
        let mut f = Failovers::default();
        f.lost("eg", "vm-2", at(10));
        assert_eq!(
            f.breakdown(std::iter::empty()),
            vec!["failover of Egress eg from vm-2 at 10.000000000: never detected by memberlist"]
        );
        // A Leave about another node detects nothing.
        f.left("vm-3", at(12));
        assert_eq!(f.breakdown(std::iter::empty()).len(), 1);
        assert!(f.breakdown(std::iter::empty())[0].ends_with("never detected by memberlist"));
        f.left("vm-2", at(14));
        f.left("vm-2", at(15));
        assert_eq!(
            f.breakdown(std::iter::empty()),
            vec![
                "failover of Egress eg from vm-2 at 10.000000000: detection 4.0s, never reassigned (no Node available)"
            ]
        );
        f.assigned("eg", "vm-1", at(16));
        assert_eq!(
            f.breakdown(std::iter::empty()),
            vec![
                "failover of Egress eg from vm-2 at 10.000000000: detection 4.0s, reassignment to vm-1 2.0s, traffic never came back in this run"
            ]
        );
    }

    #[test]
    fn traffic_is_back_at_the_first_success_of_a_probe_the_loss_broke() {
        let mut f = Failovers::default();
        f.lost("eg", "vm-2", at(10));
        f.left("vm-2", at(14));
        f.assigned("eg", "vm-1", at(16));
        // Broken by the loss: fails from 11 s, back at 18 s.
        let broken = [
            attempt(9, true),
            attempt(11, false),
            attempt(17, false),
            attempt(18, true),
        ];
        // Never broken (a node's own traffic): its success at 16 s says
        // nothing about the Egress.
        let untouched = [attempt(9, true), attempt(16, true)];
        let probes = [&broken[..], &untouched[..]];
        assert_eq!(
            f.breakdown(probes.iter().copied()),
            vec![
                "failover of Egress eg from vm-2 at 10.000000000: detection 4.0s, reassignment to vm-1 2.0s, traffic back 2.0s later (ARP convergence and probe interval); outage 8.0s"
            ]
        );
    }

    #[test]
    fn a_second_loss_is_a_second_failover_and_reassignment_goes_to_the_open_one() {
        let mut f = Failovers::default();
        f.lost("eg", "vm-2", at(10));
        f.left("vm-2", at(11));
        f.assigned("eg", "vm-1", at(12));
        f.lost("eg", "vm-1", at(20));
        f.left("vm-1", at(21));
        f.assigned("eg", "vm-3", at(23));
        // Another Egress's news touches neither.
        f.assigned("other", "vm-2", at(24));
        let lines = f.breakdown(std::iter::empty());
        assert_eq!(lines.len(), 2);
        assert!(lines[0].contains("from vm-2") && lines[0].contains("reassignment to vm-1 1.0s"));
        assert!(lines[1].contains("from vm-1") && lines[1].contains("reassignment to vm-3 2.0s"));
    }
}
