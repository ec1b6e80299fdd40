//! OpenFlow priorities for Antrea-native rules, after Antrea's priority
//! assigner (pkg/agent/controller/networkpolicy/priority.go, v2.x).
//!
//! A rule's precedence is (Tier priority, policy priority, rule index),
//! lower first. Antrea first guesses each one's OpenFlow priority as
//! `top - (tierOffset × tier + policyOffset × policy + rule)` (constants
//! below) and, when the guess collides or breaks the order, shifts
//! neighbours as rules arrive. antlab assigns from the whole set at once:
//! the guesses when they are all distinct and in order, else the range
//! spread evenly in precedence order. The order of flows is then always
//! Antrea's; the numbers are Antrea's whenever its first guesses hold
//! (what `antlab rules` prints may differ from a long-running agent's
//! after reassignments; README "Known differences").

use std::cmp::Ordering;

use crate::k8s::PolicyPriority;

use super::tiers::APPLICATION_PRIORITY;

// priority.go's constants.
const BASELINE_BOTTOM: u16 = 10;
const BASELINE_TOP: u16 = 180;
const POLICY_BOTTOM: u16 = 100;
const POLICY_TOP: u16 = 65000;
const PRIORITY_OFFSET_BASELINE: f64 = 10.0;
const PRIORITY_OFFSET_MULTI_TIER: f64 = 20.0;
const PRIORITY_OFFSET_DEFAULT_TIER: f64 = 100.0;
const TIER_OFFSET_MULTI_TIER: u32 = 200;

/// `types.Priority`: where a rule stands among Antrea-native rules.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Precedence {
    pub tier: i32,
    pub policy: PolicyPriority,
    pub rule: i32,
}

impl Precedence {
    /// Evaluated-first order (`types.ByPriority` reversed): lower Tier
    /// priority, then lower policy priority, then lower rule index.
    pub fn order(&self, other: &Precedence) -> Ordering {
        self.tier
            .cmp(&other.tier)
            .then(self.policy.0.total_cmp(&other.policy.0))
            .then(self.rule.cmp(&other.rule))
    }
}

/// `initialOFPriority`.
fn initial(p: &Precedence, baseline: bool) -> u16 {
    let (bottom, top) = range(baseline);
    let (tier_base, prio_base) = if baseline {
        (0u32, PRIORITY_OFFSET_BASELINE)
    } else if p.tier == APPLICATION_PRIORITY {
        (TIER_OFFSET_MULTI_TIER, PRIORITY_OFFSET_DEFAULT_TIER)
    } else {
        (TIER_OFFSET_MULTI_TIER, PRIORITY_OFFSET_MULTI_TIER)
    };
    let tier = tier_base * u32::try_from(p.tier).unwrap_or(0);
    // Go converts the float product to uint32 by truncation.
    let prio = (p.policy.0 * prio_base) as u32;
    let offset = tier + prio + u32::try_from(p.rule).unwrap_or(0);
    if u32::from(top - bottom) < offset {
        return bottom;
    }
    top - offset as u16
}

fn range(baseline: bool) -> (u16, u16) {
    if baseline {
        (BASELINE_BOTTOM, BASELINE_TOP)
    } else {
        (POLICY_BOTTOM, POLICY_TOP)
    }
}

/// OpenFlow priorities for `sorted`, distinct precedences in evaluation
/// order, in one table (`baseline`: the Baseline Tier's, in the default
/// rule tables). None when there are more than the range holds.
pub fn assign(sorted: &[Precedence], baseline: bool) -> Option<Vec<u16>> {
    let guesses: Vec<u16> = sorted.iter().map(|p| initial(p, baseline)).collect();
    if guesses.windows(2).all(|w| w[0] > w[1]) {
        return Some(guesses);
    }
    let (bottom, top) = range(baseline);
    let n = sorted.len();
    let span = usize::from(top - bottom) + 1;
    if n > span {
        return None;
    }
    let step = span / (n + 1);
    Some(
        (0..n)
            .map(|i| top - u16::try_from((i + 1) * step.max(1) - 1).unwrap_or(0))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(tier: i32, policy: f64, rule: i32) -> Precedence {
        Precedence {
            tier,
            policy: PolicyPriority(policy),
            rule,
        }
    }

    #[test]
    fn first_guesses_follow_priority_go() {
        // Application Tier, policy priority 5, rules 0 and 1:
        // 65000 - (200*250 + 5*100 + r).
        assert_eq!(
            assign(&[p(250, 5.0, 0), p(250, 5.0, 1)], false),
            Some(vec![14500, 14499])
        );
        // SecurityOps (100), priority 1: 65000 - (20000 + 20).
        assert_eq!(assign(&[p(100, 1.0, 0)], false), Some(vec![44980]));
        // Baseline: 180 - (0 + 10*priority + rule).
        assert_eq!(assign(&[p(253, 2.0, 0)], true), Some(vec![160]));
    }

    #[test]
    fn colliding_guesses_are_spread_in_order() {
        // Priorities past the range all guess the bottom; the spread keeps
        // evaluation order and stays inside the range.
        let set = [p(250, 500.0, 0), p(250, 600.0, 0), p(250, 700.0, 0)];
        let got = assign(&set, false).expect("fits");
        assert!(got.windows(2).all(|w| w[0] > w[1]), "{got:?}");
        assert!(got.iter().all(|x| (POLICY_BOTTOM..=POLICY_TOP).contains(x)));
    }
}
