//! What an expectation means: each kind checked against the state now.

use super::load::{ExpectKind, Expectation, MacRef};
use crate::engine::{self, ClusterState};
use crate::sim::World;
use crate::sim::probe::Verdict;

fn mac_of(world: &World, m: &MacRef) -> Result<crate::model::MacAddr, String> {
    match m {
        MacRef::Literal(mac) => Ok(*mac),
        MacRef::Iface(r) => {
            let (dev, ifname) = r.rsplit_once('/').ok_or("expected device/iface")?;
            let id = world
                .device_id(dev)
                .ok_or_else(|| format!("no device `{dev}`"))?;
            let s = world
                .device(id)
                .stack()
                .ok_or_else(|| format!("{dev} has no interfaces"))?;
            s.ifaces
                .iter()
                .find(|i| i.name == ifname)
                .map(|i| i.mac)
                .ok_or_else(|| format!("{dev} has no interface {ifname}"))
        }
    }
}

/// Evaluates one expectation now: (passed, what was expected and what was seen).
pub(super) fn check(world: &mut World, cluster: &ClusterState, e: &Expectation) -> (bool, String) {
    match &e.kind {
        ExpectKind::Probe {
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
        } => {
            let Some(p) = world.probe(probe) else {
                return (false, format!("probe {probe} does not exist"));
            };
            let mut problems = Vec::new();
            let mut said = Vec::new();
            let last = p.last_finished();
            if let Some(want) = last_ok {
                said.push(format!("last {}", if *want { "ok" } else { "fail" }));
                match last {
                    None => problems.push("no attempt has finished".to_string()),
                    Some(a) if a.ok() != *want => problems.push(match &a.verdict {
                        Verdict::Fail { reason } => format!("last attempt failed: {reason}"),
                        _ => "last attempt succeeded".to_string(),
                    }),
                    _ => {}
                }
            }
            if let Some(r) = reason {
                said.push(format!("reason contains \"{r}\""));
                match last.map(|a| &a.verdict) {
                    Some(Verdict::Fail { reason: got }) if got.contains(r.as_str()) => {}
                    Some(Verdict::Fail { reason: got }) => {
                        problems.push(format!("reason was \"{got}\""))
                    }
                    _ => problems.push("last attempt did not fail".into()),
                }
            }
            if let Some(src) = seen_source {
                said.push(format!("destination saw source {src}"));
                let got = last.and_then(|a| a.seen_src);
                if got != Some(*src) {
                    problems.push(format!(
                        "destination saw {}",
                        got.map_or("nothing".to_string(), |g| g.to_string())
                    ));
                }
            }
            let vlans = last.map(|a| a.request_vlans()).unwrap_or_default();
            if let Some(v) = via_vlan {
                said.push(format!("request crossed VLAN {v}"));
                if !vlans.contains(v) {
                    problems.push(format!("request crossed VLANs {vlans:?}"));
                }
            }
            if let Some(v) = not_via_vlan {
                said.push(format!("request avoided VLAN {v}"));
                if vlans.contains(v) {
                    problems.push(format!("request crossed VLANs {vlans:?}"));
                }
            }
            let stats = p.stats();
            if let Some(max) = max_outage {
                said.push(format!("longest outage <= {max}"));
                if stats.longest_outage > *max {
                    problems.push(format!("longest outage was {}", stats.longest_outage));
                }
            }
            if let Some(min) = min_outage {
                said.push(format!("longest outage >= {min}"));
                if stats.longest_outage < *min {
                    problems.push(format!("longest outage was {}", stats.longest_outage));
                }
            }
            if let Some(h) = handled_by {
                said.push(format!("load-balanced by {h}"));
                // The proxy writes "<name>: Service ..." into the path.
                let by: Vec<String> = last
                    .map(|a| {
                        a.path
                            .iter()
                            .filter(|hop| !hop.reply && hop.text.contains(": Service "))
                            .map(|hop| {
                                format!(
                                    "{} on {}",
                                    hop.text.split(": Service ").next().unwrap_or(""),
                                    hop.device
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                if !by.iter().any(|b| b.starts_with(h.as_str())) {
                    problems.push(if by.is_empty() {
                        "no proxy load-balanced it".to_string()
                    } else {
                        format!("it was {}", by.join(", "))
                    });
                }
            }
            if let Some(n) = min_answerers {
                said.push(format!("answered by at least {n} hosts"));
                let answered: std::collections::BTreeSet<String> = p
                    .attempts
                    .iter()
                    .filter(|a| a.ok())
                    .filter_map(|a| a.seen_by.clone())
                    .collect();
                if answered.len() < *n {
                    problems.push(format!(
                        "answered by {}",
                        answered.into_iter().collect::<Vec<_>>().join(", ")
                    ));
                }
            }
            if let Some(want) = http_status {
                said.push(format!("HTTP status {want}"));
                let got = last.and_then(|a| a.http_status);
                if got != Some(*want) {
                    problems.push(format!(
                        "HTTP status was {}",
                        got.map_or("none".to_string(), |g| g.to_string())
                    ));
                }
            }
            if let Some(dev) = reply_avoids {
                said.push(format!("reply bypassed {dev}"));
                let through =
                    last.is_some_and(|a| a.path.iter().any(|h| h.reply && &h.device == dev));
                if through {
                    problems.push(format!("the reply went through {dev}"));
                }
            }
            if let Some(allowed) = only_answered_by {
                said.push(format!("answered only by {}", allowed.join(", ")));
                let others: Vec<String> = p
                    .attempts
                    .iter()
                    .filter(|a| a.ok())
                    .filter_map(|a| a.seen_by.clone())
                    .filter(|b| !allowed.contains(b))
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect();
                if !others.is_empty() {
                    problems.push(format!("also answered by {}", others.join(", ")));
                }
            }
            let head = format!("probe {probe}: {}", said.join(", "));
            if problems.is_empty() {
                (true, head)
            } else {
                (false, format!("{head}; but {}", problems.join("; ")))
            }
        }
        ExpectKind::Arp {
            device,
            ip,
            mac,
            state,
        } => {
            let Some(id) = world.device_id(device) else {
                return (false, format!("no device {device}"));
            };
            let Some(stack) = world.device(id).stack() else {
                return (false, format!("{device} has no ARP cache"));
            };
            let row = stack.arp.lookup(world.now(), *ip);
            let want_mac = match mac.as_ref().map(|m| mac_of(world, m)).transpose() {
                Ok(m) => m,
                Err(e) => return (false, e),
            };
            let head = format!(
                "{device} ARP {ip}{}{}",
                want_mac.map_or(String::new(), |m| format!(" -> {m}")),
                state.as_ref().map_or(String::new(), |s| format!(" {s}"))
            );
            let got = row.as_ref().map_or("no entry".to_string(), |r| {
                format!(
                    "{} {}",
                    r.mac.map_or("(none)".into(), |m| m.to_string()),
                    r.state.name()
                )
            });
            let ok = match (state.as_deref(), &row) {
                (Some("absent"), r) => r.is_none(),
                (_, None) => false,
                (Some("present") | None, Some(r)) => want_mac.is_none_or(|m| r.mac == Some(m)),
                (Some(s), Some(r)) => {
                    r.state.name().eq_ignore_ascii_case(s)
                        && want_mac.is_none_or(|m| r.mac == Some(m))
                }
            };
            if ok {
                (true, head)
            } else {
                (false, format!("{head}; but found {got}"))
            }
        }
        ExpectKind::ServiceExternalIp { service, node, ip } => {
            let Some(s) = cluster.services.get(service) else {
                return (false, format!("Service {service} does not exist"));
            };
            let owners = engine::holders::external_ip_owners(cluster, service);
            let mut said = Vec::new();
            let mut problems = Vec::new();
            if let Some(want) = node {
                said.push(format!("owned by {}", want.as_deref().unwrap_or("no node")));
                let ok = match want {
                    None => owners.is_empty(),
                    Some(n) => owners.len() == 1 && &owners[0] == n,
                };
                if !ok {
                    problems.push(if owners.is_empty() {
                        "owned by no node".to_string()
                    } else {
                        format!("owned by {}", owners.join(" and "))
                    });
                }
            }
            if let Some(want) = ip {
                said.push(format!(
                    "external IP {}",
                    want.map_or("none".to_string(), |i| i.to_string())
                ));
                if s.lb_ip != *want {
                    problems.push(format!(
                        "external IP is {}",
                        s.lb_ip.map_or("none".to_string(), |i| i.to_string())
                    ));
                }
            }
            let head = format!("ServiceExternalIP of {service} {}", said.join(", "));
            if problems.is_empty() {
                (true, head)
            } else {
                (false, format!("{head}; but {}", problems.join("; ")))
            }
        }
        ExpectKind::Egress { name, node, ip } => {
            // The status as the agents wrote it (what `kubectl get egress`
            // shows), not who holds the IP right now.
            let Some(e) = cluster.egress.egresses.get(name) else {
                return (false, format!("Egress {name} does not exist"));
            };
            let status = &e.status;
            let mut said = Vec::new();
            let mut problems = Vec::new();
            if let Some(want) = node {
                said.push(format!("on {}", want.as_deref().unwrap_or("no node")));
                if status.egress_node != *want {
                    problems.push(format!(
                        "status.egressNode is {}",
                        status.egress_node.as_deref().unwrap_or("empty")
                    ));
                }
            }
            if let Some(want) = ip {
                said.push(format!(
                    "IP {}",
                    want.map_or("none".to_string(), |i| i.to_string())
                ));
                if status.egress_ip != *want {
                    problems.push(format!(
                        "status.egressIP is {}",
                        status
                            .egress_ip
                            .map_or("empty".to_string(), |i| i.to_string())
                    ));
                }
            }
            let head = format!("Egress {name} {}", said.join(", "));
            if problems.is_empty() {
                (true, head)
            } else {
                (false, format!("{head}; but {}", problems.join("; ")))
            }
        }
        ExpectKind::Mac {
            switch,
            vlan,
            mac,
            port,
            absent,
        } => {
            let Some(id) = world.device_id(switch) else {
                return (false, format!("no device {switch}"));
            };
            let want = match mac_of(world, mac) {
                Ok(m) => m,
                Err(e) => return (false, e),
            };
            let now = world.now();
            let rows = world.mac_rows(id, now).unwrap_or_default();
            let found = rows
                .iter()
                .find(|(r, _)| r.vlan == *vlan && r.mac == want)
                .map(|(_, p)| p.clone());
            let head = format!(
                "{switch} MAC table vlan {vlan} {want}{}",
                if *absent {
                    " absent".to_string()
                } else {
                    port.as_ref().map_or(String::new(), |p| format!(" on {p}"))
                }
            );
            let ok = match (absent, &found, port) {
                (true, f, _) => f.is_none(),
                (false, Some(f), Some(p)) => f == p,
                (false, Some(_), None) => true,
                (false, None, _) => false,
            };
            if ok {
                (true, head)
            } else {
                (
                    false,
                    format!(
                        "{head}; but found {}",
                        found.unwrap_or_else(|| "no entry".into())
                    ),
                )
            }
        }
    }
}
