//! Antrea's validating webhooks as admission steps, separate from what the
//! controllers do afterwards.
//!
//! - Egress: `pkg/controller/egress/validate.go` (v2.7.0), [`validate_egress`].
//! - ExternalIPPool: `pkg/controller/externalippool/validate.go` and
//!   `pkg/controller/validation/ippool.go`, in [`super::ippool::PoolSet::validate`]
//!   (it needs the other pools).
//!
//! The API server's own checks (CRD schema, strict fields) happen before, when the
//! manifest is read (`crate::k8s`).

pub mod quantity;

use super::ippool::PoolSet;
use crate::k8s::Egress;

/// `ValidateEgress` for a CREATE (`old = None`) or UPDATE: `Err` holds the denial
/// message, word for word.
pub fn validate_egress(new: &Egress, old: Option<&Egress>, pools: &PoolSet) -> Result<(), String> {
    if !new.egress_ips.is_empty() {
        return Err("spec.egressIPs is not supported yet".into());
    }
    if !new.external_ip_pools.is_empty() {
        return Err("spec.externalIPPools is not supported yet".into());
    }
    if let Some(bw) = &new.bandwidth {
        let name = &new.meta.name;
        quantity::parse_quantity(&bw.rate)
            .map_err(|e| format!("Rate {} in Egress {name} is invalid: {e}", bw.rate))?;
        quantity::parse_quantity(&bw.burst)
            .map_err(|e| format!("Burst {} in Egress {name} is invalid: {e}", bw.burst))?;
    }
    // Unchanged IP and pool: allowed (a CREATE compares with an empty Egress).
    let (old_ip, old_pool) = old.map_or((None, None), |o| {
        (o.egress_ip, o.external_ip_pool.as_deref())
    });
    if new.egress_ip == old_ip && new.external_ip_pool.as_deref() == old_pool {
        return Ok(());
    }
    // The IP is checked against the pool only when both are set. (Antrea's `IP %s is
    // not valid` cannot happen here: an IP that does not parse is refused when the
    // manifest is read.)
    let (Some(ip), Some(pool)) = (new.egress_ip, new.external_ip_pool.as_deref()) else {
        return Ok(());
    };
    let Some(alloc) = pools.allocator(pool) else {
        return Err(format!("ExternalIPPool {pool} does not exist"));
    };
    if !alloc.contains(ip) {
        return Err(format!("IP {ip} is not within the IP range"));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
