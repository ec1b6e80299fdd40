//! ExternalNodes (Antrea's `ExternalNode` feature, v1.15): a VM outside the
//! cluster runs antrea-agent in ExternalNode mode, and Antrea-native
//! policies with an `externalEntitySelector` protect its interface.
//!
//! What antlab keeps, as Antrea's pieces do it:
//! - the controller makes one ExternalEntity per ExternalNode
//!   (pkg/controller/externalnode): named as the ExternalNode when its
//!   interface has no name, else `NAME-` and the first five hex digits of
//!   the SHA-1 of the interface name (`GenExternalEntityName`); the
//!   ExternalNode's labels; one endpoint per IP;
//! - the agent on the VM (pkg/agent/externalnode) finds the interface by
//!   its name or, without one, by the IPs, renames it `IFACE~`, adds it to
//!   br-int as the uplink (ofport [`UPLINK_OFPORT`], the bridge's first
//!   port) and creates the internal port `IFACE` (ofport
//!   [`HOST_OFPORT`]) that takes over its MAC, addresses and routes;
//!   then it programs the ExternalNode pipeline
//!   (`engine::pipeline::external_node`) with the policy rules whose
//!   appliedTo selects the ExternalEntity.
//!
//! The ExternalNode's name is the VM's: antlab runs its agent on the
//! topology host of that name (Antrea's `NODE_NAME`). ExternalNode names
//! are unique across Namespaces, as Antrea requires (docs/external-node.md,
//! Limitations).

use std::net::Ipv4Addr;

use indexmap::IndexMap;
use sha1::{Digest, Sha1};

use crate::k8s::ExternalNode;

/// The uplink's ofport on the VM's br-int (created first).
pub const UPLINK_OFPORT: u32 = 1;
/// The internal port's ofport (created second).
pub const HOST_OFPORT: u32 = 2;

/// An ExternalEntity, as the controller derives it from an ExternalNode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalEntity {
    pub namespace: String,
    pub name: String,
    pub labels: IndexMap<String, String>,
    pub ips: Vec<Ipv4Addr>,
    /// The ExternalNode (and VM) it belongs to.
    pub external_node: String,
}

/// One ExternalNode and the VM interface its agent took.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalNodeState {
    pub spec: ExternalNode,
    /// The VM's interface moved onto br-int (the internal port's name).
    pub iface: String,
}

impl ExternalNodeState {
    pub fn namespace(&self) -> &str {
        self.spec.meta.namespace.as_deref().unwrap_or("default")
    }
    pub fn name(&self) -> &str {
        &self.spec.meta.name
    }
    /// The uplink's name after the agent renamed it.
    pub fn uplink(&self) -> String {
        format!("{}~", self.iface)
    }
    pub fn entity(&self) -> ExternalEntity {
        ExternalEntity {
            namespace: self.namespace().to_string(),
            name: entity_name(&self.spec),
            labels: self.spec.meta.labels.clone(),
            ips: self.spec.ips.clone(),
            external_node: self.name().to_string(),
        }
    }
}

/// `GenExternalEntityName` (pkg/util/externalnode).
pub fn entity_name(en: &ExternalNode) -> String {
    if en.interface.is_empty() {
        return en.meta.name.clone();
    }
    let digest = Sha1::digest(en.interface.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}", en.meta.name, &hex[..5])
}

/// The ExternalNodes applied, in apply order.
#[derive(Clone, Debug, Default)]
pub struct ExternalNodes {
    by_name: IndexMap<String, ExternalNodeState>,
}

impl ExternalNodes {
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
    pub fn iter(&self) -> impl Iterator<Item = &ExternalNodeState> {
        self.by_name.values()
    }
    /// The ExternalNode of VM `name`.
    pub fn get(&self, name: &str) -> Option<&ExternalNodeState> {
        self.by_name.get(name)
    }
    /// Every ExternalEntity, in apply order.
    pub fn entities(&self) -> impl Iterator<Item = ExternalEntity> + '_ {
        self.by_name.values().map(ExternalNodeState::entity)
    }

    /// Creates or updates ExternalNode `en`, whose agent took the VM's
    /// interface `iface`; returns what the controller and agent log.
    pub fn apply(&mut self, en: &ExternalNode, iface: String) -> Result<Vec<String>, String> {
        let ns = en.meta.namespace.as_deref().unwrap_or("default");
        if let Some(other) = self.by_name.get(&en.meta.name)
            && other.namespace() != ns
        {
            return Err(format!(
                "ExternalNode {} exists in Namespace {} already: ExternalNode names are unique across Namespaces",
                en.meta.name,
                other.namespace()
            ));
        }
        let state = ExternalNodeState {
            spec: en.clone(),
            iface,
        };
        let ee = state.entity();
        let lines = vec![
            format!(
                "ExternalEntity {}/{} for ExternalNode {} ({})",
                ee.namespace,
                ee.name,
                en.meta.name,
                ee.ips
                    .iter()
                    .map(Ipv4Addr::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            format!(
                "antrea-agent on {}: {} renamed {}, added to br-int as uplink (ofport {UPLINK_OFPORT}); internal port {} (ofport {HOST_OFPORT}) took its MAC, addresses and routes",
                en.meta.name,
                state.iface,
                state.uplink(),
                state.iface
            ),
        ];
        self.by_name.insert(en.meta.name.clone(), state);
        Ok(lines)
    }

    /// Deletes ExternalNode `ns/name`; None when there is none.
    pub fn delete(&mut self, ns: &str, name: &str) -> Option<Vec<String>> {
        if self.by_name.get(name)?.namespace() != ns {
            return None;
        }
        let state = self.by_name.shift_remove(name)?;
        Some(vec![format!(
            "ExternalNode {ns}/{name} deleted: ExternalEntity {} goes; the agent on {name} gives {} its addresses back",
            state.entity().name,
            state.iface
        )])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::ObjectMeta;

    fn en(name: &str, iface: &str) -> ExternalNode {
        let mut meta = ObjectMeta::named(name);
        meta.namespace = Some("vm-ns".into());
        ExternalNode {
            meta,
            interface: iface.into(),
            ips: vec!["172.16.100.3".parse().unwrap()],
        }
    }

    #[test]
    fn entities_are_named_as_the_controller_names_them() {
        // pkg/controller/externalnode/controller_test.go: vm1 without an
        // interface name, vm2 with interface ens192 is `vm2-e8be5`.
        assert_eq!(entity_name(&en("vm1", "")), "vm1");
        assert_eq!(entity_name(&en("vm2", "ens192")), "vm2-e8be5");
    }

    #[test]
    fn names_are_unique_across_namespaces() {
        let mut s = ExternalNodes::default();
        s.apply(&en("vm1", ""), "eth0".into()).unwrap();
        let mut other = en("vm1", "");
        other.meta.namespace = Some("elsewhere".into());
        let e = s.apply(&other, "eth0".into()).unwrap_err();
        assert!(e.contains("unique across Namespaces"), "{e}");
        assert!(s.delete("elsewhere", "vm1").is_none());
        assert!(s.delete("vm-ns", "vm1").is_some());
        assert!(s.is_empty());
    }
}
