//! Antrea's static Tiers (pkg/controller/networkpolicy/tier.go and
//! pkg/apis/crd/v1beta1/types.go, v2.x): the controller creates them at
//! start; a lower priority number is evaluated first. Custom Tiers take
//! any other priority from 1 to 255 but the reserved ones.

/// The Tier of a policy that names none.
pub const APPLICATION: &str = "application";

/// `DefaultTierPriority`.
pub const APPLICATION_PRIORITY: i32 = 250;

/// `BaselineTierPriority`: evaluated after Kubernetes NetworkPolicies.
pub const BASELINE_PRIORITY: i32 = 253;

/// `maxSupportedTiers`, the static ones included.
pub const MAX_TIERS: usize = 20;

/// The static Tiers, by name and priority, in evaluation order.
pub const STATIC: [(&str, i32); 6] = [
    ("emergency", 50),
    ("securityops", 100),
    ("networkops", 150),
    ("platform", 200),
    (APPLICATION, APPLICATION_PRIORITY),
    ("baseline", BASELINE_PRIORITY),
];

/// The spellings `staticTierSet` also takes (tier.go): `Emergency`,
/// `SecurityOps`, `NetworkOps`, `Platform`, `Application`, `Baseline`.
const STATIC_SPELLINGS: [&str; 6] = [
    "Emergency",
    "SecurityOps",
    "NetworkOps",
    "Platform",
    "Application",
    "Baseline",
];

/// A static Tier's priority, by its name or its `staticTierSet` spelling.
pub fn static_priority(name: &str) -> Option<i32> {
    STATIC
        .iter()
        .zip(STATIC_SPELLINGS)
        .find(|((n, _), spelled)| *n == name || *spelled == name)
        .map(|((_, p), _)| *p)
}

/// `reservedTierPriorities` (validate.go): 251, 252, 254 and 255.
pub fn is_reserved(priority: i32) -> bool {
    matches!(priority, 251 | 252 | 254 | 255)
}
