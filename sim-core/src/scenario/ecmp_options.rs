//! The scenario's `options.maximumPaths` and `options.multipathHash`: how a
//! device shares traffic among routes that tie, without editing the topology.
//!
//! ```yaml
//! options:
//!   maximumPaths: {core-sw: 2}    # a router OS's `maximum-paths 2`
//!   multipathHash: {core-sw: l4}  # hash the 5-tuple, not just the addresses
//! ```

use super::doc::OptionsDoc;
use crate::input::InputError;
use crate::model::route::parse_maximum_paths;
use crate::model::{DeviceKind, EcmpPolicy, HostRole, MultipathHash, Topology};

/// Sets the devices' ECMP policies; unknown devices, Linux hosts given
/// `maximumPaths` and bad values are errors at the value.
pub(super) fn apply(file: &str, opts: &OptionsDoc, topo: &mut Topology) -> Result<(), InputError> {
    for (dev, n) in &opts.maximum_paths {
        let paths = parse_maximum_paths(n.value)
            .map_err(|e| InputError::at_value(file, n, format!("options.maximumPaths: {e}")))?;
        let policy = policy_of(file, topo, dev, n, "maximumPaths")?;
        match policy {
            (p, true) => p.maximum_paths = paths,
            (_, false) => {
                return Err(InputError::at_value(
                    file,
                    n,
                    format!(
                        "options.maximumPaths: `{dev}` runs Linux, which never spreads traffic over separate routes; use a route with `nexthop via A nexthop via B`"
                    ),
                ));
            }
        }
    }
    for (dev, h) in &opts.multipath_hash {
        let hash = MultipathHash::parse(&h.value)
            .map_err(|e| InputError::at_value(file, h, format!("options.multipathHash: {e}")))?;
        policy_of(file, topo, dev, h, "multipathHash")?.0.hash = hash;
    }
    Ok(())
}

/// The device's policy and whether it is a router or switch (not a Linux
/// end host or node).
fn policy_of<'a, T>(
    file: &str,
    topo: &'a mut Topology,
    dev: &str,
    at: &serde_saphyr::Spanned<T>,
    option: &str,
) -> Result<(&'a mut EcmpPolicy, bool), InputError> {
    let Some(id) = topo.device_id(dev) else {
        return Err(InputError::at_value(
            file,
            at,
            format!("options.{option}: no device called `{dev}` in the topology"),
        ));
    };
    Ok(match &mut topo.devices[id.0 as usize].kind {
        DeviceKind::Host(h) => {
            let router = h.role == HostRole::Router;
            (&mut h.ecmp, router)
        }
        DeviceKind::Switch(s) => (&mut s.ecmp, true),
    })
}

#[cfg(test)]
mod tests {
    use crate::model::{DeviceKind, MultipathHash};
    use crate::scenario::{Scenario, load};

    const TOPO: &str = "\
name: t
nodes:
  - name: n1
    podCIDR: 10.30.64.0/24
    interfaces: [{name: eth0, addresses: [10.0.0.11/24]}]
switches:
  - name: sw
    svis: [{vlan: 216, address: 10.0.0.1/24}]
    ports: [{name: p1, connect: n1/eth0, access: 216}]
";

    fn scenario(options: &str) -> Result<Scenario, String> {
        let text = format!("name: s\ntopology: t.yaml\noptions:\n{options}steps: []\n");
        let mut read = |_: &str| Ok(("t.yaml".to_string(), TOPO.to_string()));
        load("s.yaml", &text, &mut read).map_err(|e| e.to_string())
    }

    #[test]
    fn options_set_the_policy_of_routers_and_switches() {
        let s = scenario("  maximumPaths: {sw: 2}\n  multipathHash: {sw: l4, n1: l4}\n").unwrap();
        let id = s.topology.device_id("sw").unwrap();
        let DeviceKind::Switch(sw) = &s.topology.device(id).kind else {
            panic!("sw is a switch")
        };
        assert_eq!(
            (sw.ecmp.maximum_paths, sw.ecmp.hash),
            (2, MultipathHash::L4)
        );
        let n1 = s
            .topology
            .host(s.topology.device_id("n1").unwrap())
            .unwrap();
        assert_eq!(
            (n1.ecmp.maximum_paths, n1.ecmp.hash),
            (1, MultipathHash::L4)
        );
    }

    #[test]
    fn bad_options_point_at_the_value() {
        for (opts, want) in [
            (
                "  maximumPaths: {n1: 2}\n",
                "s.yaml:4:22: options.maximumPaths: `n1` runs Linux",
            ),
            (
                "  maximumPaths: {nope: 2}\n",
                "s.yaml:4:24: options.maximumPaths: no device called `nope`",
            ),
            (
                "  maximumPaths: {sw: 99}\n",
                "maximumPaths must be 1..=64, not 99",
            ),
            (
                "  multipathHash: {sw: l5}\n",
                "s.yaml:4:23: options.multipathHash: `l5` is not a multipath hash",
            ),
        ] {
            let e = scenario(opts).unwrap_err();
            assert!(e.contains(want), "{opts}: {e}");
        }
    }
}
