//! Network policies: what Antrea's controller and agents make of Kubernetes
//! NetworkPolicies and Antrea-native policies (ClusterNetworkPolicy,
//! NetworkPolicy, Tier, ClusterGroup, Group), down to the rules each
//! node's br-int program enforces.
//!
//! Module map:
//! - this file: [`PolicyStore`], the policies, Tiers and groups the cluster
//!   holds, and their admission (the webhook checks that need other objects:
//!   does the Tier exist, is a Tier priority taken or reserved, is a Tier
//!   still used).
//! - [`tiers`]: the static Tiers and their priorities.
//! - [`priority`]: Antrea's OpenFlow priority assignment for
//!   Antrea-native rules (pkg/agent/controller/networkpolicy/priority.go).
//! - [`index`]: every rule resolved once for the cluster ([`index::PolicyIndex`]:
//!   appliedTo and address groups, updated per new Pod), read out per node.
//! - [`rules`]: one node's rules ([`NodePolicyRules`]): which local Pods
//!   each rule applies to, its peers as address sets, its services, its
//!   conjunction id, table and priority; and the [`PolicyCatalog`] that
//!   names a conjunction id's policy, rule, Tier and action (for drops,
//!   traces and flow records).
//!   The nodes a policy spans ([`index::PolicyIndex::span`]) are its realisation status.
//! - [`host`]: NodeNetworkPolicy, a node's [`host::HostFirewall`] (the
//!   iptables chains Antrea's agent writes for policies applied to Nodes).
//! - [`synthetic`]: a generated cluster with many policies (`antlab bench
//!   policies`).
//!
//! The pipeline compiles [`NodePolicyRules`] into flows
//! (`engine::pipeline::network_policy`); nothing here knows about flows.

pub mod host;
pub mod index;
pub mod priority;
pub mod rules;
pub mod synthetic;
pub mod tiers;

#[cfg(test)]
mod host_tests;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use indexmap::IndexMap;

use crate::k8s::{AntreaPolicy, Group, NetworkPolicy, Object, RuleAction, Tier};

pub use rules::{NodePolicyRules, PolicyCatalog, PolicyKind, RuleInfo, node_rules};

/// A policy's identity: its kind, namespace (None for cluster-scoped) and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PolicyKey {
    pub kind: PolicyKind,
    pub namespace: Option<String>,
    pub name: String,
}

impl PolicyKey {
    /// A Kubernetes NetworkPolicy's key (Namespace `default` if none is written).
    pub fn of_k8s(np: &NetworkPolicy) -> PolicyKey {
        PolicyKey {
            kind: PolicyKind::K8s,
            namespace: Some(
                np.meta
                    .namespace
                    .clone()
                    .unwrap_or_else(|| "default".into()),
            ),
            name: np.meta.name.clone(),
        }
    }

    /// An Antrea-native policy's key: cluster-scoped for a
    /// ClusterNetworkPolicy, else in its Namespace (`default` if none).
    pub fn of_antrea(p: &AntreaPolicy) -> PolicyKey {
        let (kind, namespace) = if p.cluster_wide {
            (PolicyKind::Acnp, None)
        } else {
            (
                PolicyKind::Anp,
                Some(p.meta.namespace.clone().unwrap_or_else(|| "default".into())),
            )
        };
        PolicyKey {
            kind,
            namespace,
            name: p.meta.name.clone(),
        }
    }

    /// `ns/name` or `name`.
    pub fn display(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}/{}", self.name),
            None => self.name.clone(),
        }
    }
}

/// The AGE key of a policy: its kind's name and `ns/name`.
fn created_key(key: &PolicyKey) -> String {
    format!("{}/{}", key.kind.name(), key.display())
}

/// The AGE key of an object: a policy's [`created_key`], else its display name.
fn object_key(obj: &Object) -> String {
    match obj {
        Object::NetworkPolicy(np) => created_key(&PolicyKey::of_k8s(np)),
        Object::AntreaPolicy(p) => created_key(&PolicyKey::of_antrea(p)),
        other => other.display_name(),
    }
}

/// One rule's identity within the cluster: its policy, direction and index.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct RuleKey {
    pub(crate) policy: PolicyKey,
    pub(crate) ingress: bool,
    pub(crate) index: usize,
}

/// Every policy, Tier and group the cluster holds, in the order applied,
/// with each rule's conjunction id.
#[derive(Clone, Debug, Default)]
pub struct PolicyStore {
    k8s: IndexMap<(String, String), NetworkPolicy>,
    antrea: IndexMap<(Option<String>, String), AntreaPolicy>,
    tiers: IndexMap<String, Tier>,
    groups: IndexMap<(Option<String>, String), Group>,
    /// Conjunction ids, stable while a rule exists (Antrea's agents each
    /// allocate their own; antlab numbers rules once for the cluster).
    rule_ids: BTreeMap<RuleKey, u32>,
    next_id: u32,
    /// Seconds since the run started at which each object was created (AGE).
    created: BTreeMap<String, u64>,
}

impl PolicyStore {
    /// True when no policy exists (the pipeline then holds its init flows only).
    pub fn is_empty(&self) -> bool {
        self.k8s.is_empty() && self.antrea.is_empty()
    }

    pub fn k8s_policies(&self) -> impl Iterator<Item = &NetworkPolicy> {
        self.k8s.values()
    }
    pub fn antrea_policies(&self) -> impl Iterator<Item = &AntreaPolicy> {
        self.antrea.values()
    }
    pub fn custom_tiers(&self) -> impl Iterator<Item = &Tier> {
        self.tiers.values()
    }
    pub(crate) fn group(&self, namespace: Option<&str>, name: &str) -> Option<&Group> {
        self.groups
            .get(&(namespace.map(str::to_string), name.to_string()))
    }
    pub(crate) fn rule_id(&self, key: &RuleKey) -> Option<u32> {
        self.rule_ids.get(key).copied()
    }
    /// When the object named `kind/ns/name` was created (seconds), if
    /// known; policies by [`PolicyStore::policy_created_at`].
    pub fn created_at(&self, display: &str) -> Option<u64> {
        self.created.get(display).copied()
    }

    /// When policy `key` was created (seconds), if known: a Kubernetes and
    /// an Antrea NetworkPolicy of one name keep their own ages.
    pub fn policy_created_at(&self, key: &PolicyKey) -> Option<u64> {
        self.created.get(&created_key(key)).copied()
    }

    /// A Tier's priority by name: a static Tier by its name or the
    /// spelling Antrea's `staticTierSet` also takes (`SecurityOps`), a
    /// custom Tier by its exact name, as the controller resolves
    /// `spec.tier` (tier.go, `getTierPriority`; validate.go, `tierExists`).
    pub fn tier_priority(&self, name: &str) -> Option<i32> {
        tiers::static_priority(name).or_else(|| self.tiers.get(name).map(|t| t.priority))
    }

    /// Admits and stores `obj` (a policy, Tier or group); other kinds are
    /// not this store's. Returns the controller's log lines, or the
    /// webhook's refusal.
    pub fn apply(&mut self, obj: &Object, now_s: u64) -> Result<Vec<String>, String> {
        let display = object_key(obj);
        let lines = match obj {
            Object::NetworkPolicy(np) => {
                let ns = obj.namespace().unwrap_or("default").to_string();
                let key = PolicyKey::of_k8s(np);
                self.number_rules(&key, np.ingress.len(), np.egress.len());
                let created = !self.k8s.contains_key(&(ns.clone(), np.meta.name.clone()));
                self.k8s.insert((ns, np.meta.name.clone()), np.clone());
                vec![format!(
                    "NetworkPolicy {} {}",
                    key.display(),
                    if created { "created" } else { "updated" }
                )]
            }
            Object::AntreaPolicy(p) => {
                let tier = p.tier.as_deref().unwrap_or(tiers::APPLICATION);
                let prio = self
                    .tier_priority(tier)
                    .ok_or_else(|| format!("tier {tier} does not exist"))?;
                if prio == tiers::BASELINE_PRIORITY
                    && p.ingress
                        .iter()
                        .chain(&p.egress)
                        .any(|r| r.action == RuleAction::Pass)
                {
                    return Err(
                        "`Pass` action should not be set for Baseline Tier policy rules".into(),
                    );
                }
                let ns = obj.namespace().map(str::to_string);
                let key = PolicyKey::of_antrea(p);
                self.number_rules(&key, p.ingress.len(), p.egress.len());
                let created = !self.antrea.contains_key(&(ns.clone(), p.meta.name.clone()));
                self.antrea.insert((ns, p.meta.name.clone()), p.clone());
                vec![format!(
                    "{} {} {}",
                    obj.kind_name(),
                    key.display(),
                    if created { "created" } else { "updated" }
                )]
            }
            Object::Tier(t) => {
                let name = t.meta.name.to_ascii_lowercase();
                if tiers::static_priority(&name).is_some() {
                    return Err(format!(
                        "tier {} priority {} is reserved",
                        t.meta.name, t.priority
                    ));
                }
                if self.tiers.len() + tiers::STATIC.len() >= tiers::MAX_TIERS
                    && !self.tiers.contains_key(&t.meta.name)
                {
                    return Err(format!(
                        "maximum number of Tiers supported: {}",
                        tiers::MAX_TIERS
                    ));
                }
                if tiers::is_reserved(t.priority) {
                    return Err(format!(
                        "tier {} priority {} is reserved",
                        t.meta.name, t.priority
                    ));
                }
                let taken = tiers::STATIC.iter().any(|(_, p)| *p == t.priority)
                    || self
                        .tiers
                        .values()
                        .any(|o| o.priority == t.priority && o.meta.name != t.meta.name);
                if taken {
                    return Err(format!(
                        "tier {} priority {} overlaps with existing Tier",
                        t.meta.name, t.priority
                    ));
                }
                if let Some(old) = self.tiers.get(&t.meta.name)
                    && old.priority != t.priority
                {
                    // validate.go (updateTier): "update to Tier priority is not allowed".
                    return Err("update to Tier priority is not allowed".into());
                }
                self.tiers.insert(t.meta.name.clone(), t.clone());
                vec![format!(
                    "Tier {} created with priority {}",
                    t.meta.name, t.priority
                )]
            }
            Object::Group(g) => {
                let ns = obj.namespace().map(str::to_string);
                for child in &g.child_groups {
                    let Some(c) = self.group(ns.as_deref(), child) else {
                        continue;
                    };
                    if !c.child_groups.is_empty() {
                        // validate.go (validateAntreaGroupSpec): one level of nesting.
                        return Err(format!(
                            "cannot set childGroup {child}: it has childGroups itself"
                        ));
                    }
                }
                self.groups.insert((ns, g.meta.name.clone()), g.clone());
                vec![format!("{} created", display)]
            }
            _ => return Ok(Vec::new()),
        };
        self.created.entry(display).or_insert(now_s);
        Ok(lines)
    }

    /// Deletes `obj`'s policy, Tier or group; a Tier in use stays (the
    /// webhook refuses). Returns the controller's log lines.
    pub fn delete(&mut self, obj: &Object) -> Result<Vec<String>, String> {
        let display = obj.display_name();
        let key = object_key(obj);
        let gone = match obj {
            Object::NetworkPolicy(np) => {
                let ns = obj.namespace().unwrap_or("default").to_string();
                self.forget_rules(&PolicyKey::of_k8s(np));
                self.k8s.shift_remove(&(ns, np.meta.name.clone())).is_some()
            }
            Object::AntreaPolicy(p) => {
                let ns = obj.namespace().map(str::to_string);
                self.forget_rules(&PolicyKey::of_antrea(p));
                self.antrea
                    .shift_remove(&(ns, p.meta.name.clone()))
                    .is_some()
            }
            Object::Tier(t) => {
                if tiers::static_priority(&t.meta.name).is_some() {
                    return Err(format!("cannot delete reserved tier {}", t.meta.name));
                }
                let uses = |cluster_wide: bool| {
                    self.antrea
                        .values()
                        .filter(|p| p.cluster_wide == cluster_wide)
                        .filter(|p| {
                            p.tier
                                .as_deref()
                                .is_some_and(|n| n.eq_ignore_ascii_case(&t.meta.name))
                        })
                        .count()
                };
                // validate.go (tierValidator.deleteValidate).
                if uses(true) > 0 {
                    return Err(format!(
                        "tier {} is referenced by {} Antrea ClusterNetworkPolicies",
                        t.meta.name,
                        uses(true)
                    ));
                }
                if uses(false) > 0 {
                    return Err(format!(
                        "tier {} is referenced by {} Antrea NetworkPolicies",
                        t.meta.name,
                        uses(false)
                    ));
                }
                self.tiers.shift_remove(&t.meta.name).is_some()
            }
            Object::Group(g) => {
                let ns = obj.namespace().map(str::to_string);
                self.groups
                    .shift_remove(&(ns, g.meta.name.clone()))
                    .is_some()
            }
            _ => return Ok(Vec::new()),
        };
        self.created.remove(&key);
        Ok(vec![if gone {
            format!("{display} deleted")
        } else {
            format!("{display} not found; nothing deleted")
        }])
    }

    /// Gives every rule of `key` a conjunction id, keeping the ids of rules
    /// that exist already.
    fn number_rules(&mut self, key: &PolicyKey, ingress: usize, egress: usize) {
        self.forget_rules_beyond(key, ingress, egress);
        for (is_in, n) in [(true, ingress), (false, egress)] {
            for index in 0..n {
                let rk = RuleKey {
                    policy: key.clone(),
                    ingress: is_in,
                    index,
                };
                if !self.rule_ids.contains_key(&rk) {
                    self.next_id += 1;
                    self.rule_ids.insert(rk, self.next_id);
                }
            }
        }
    }

    fn forget_rules_beyond(&mut self, key: &PolicyKey, ingress: usize, egress: usize) {
        self.rule_ids
            .retain(|k, _| &k.policy != key || k.index < if k.ingress { ingress } else { egress });
    }

    fn forget_rules(&mut self, key: &PolicyKey) {
        self.forget_rules_beyond(key, 0, 0);
    }
}
