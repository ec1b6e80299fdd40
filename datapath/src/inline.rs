//! The `inline` step in real mode: an appliance between two TrafficControl
//! ports of a node (an IPS), made of the kernel's traffic control on the
//! `from` port's host side. What br-int outputs to an OVS internal port
//! arrives on its tap device, so an ingress qdisc there sees it:
//! - each drop rule is a `u32` filter that matches the packet and ends
//!   classification without an action, so the packet goes up the node's
//!   stack, which discards it (it is addressed to another host's MAC);
//!   this kernel has no `gact` action to drop with, and `u32` is its only
//!   classifier (checked when real mode was built);
//! - last, a match-all `u32` filter redirects everything else to the `to`
//!   port's egress (`mirred egress redirect`), where OVS reads it back as
//!   coming in by that port.
//!
//! Stopping deletes the qdisc and its filters; the namespace takes them
//! with it when the lab goes down.

use sim_core::sim::Inline;
use sim_core::wire::proto;

use crate::sys::{self, SysError};

/// Starts (with `Some`) or stops the appliance on `from` in namespace `ns`.
pub fn set(ns: &str, from: &str, inline: Option<&Inline>) -> Result<(), SysError> {
    // A restart replaces the rules: no qdisc yet is not an error here.
    let _ = sys::in_ns(ns, "tc", &["qdisc", "del", "dev", from, "ingress"]);
    let Some(i) = inline else {
        return Ok(());
    };
    sys::in_ns(ns, "tc", &["qdisc", "add", "dev", from, "ingress"])?;
    for args in filters(from, i) {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        sys::in_ns(ns, "tc", &refs)?;
    }
    Ok(())
}

/// Every node's TrafficControl ports with what its OVS sent to each
/// (`ovs-ofctl dump-ports br-int PORT`, `tx pkts`), for `show:
/// trafficcontrols` in real mode; a port OVS cannot count is left out.
pub fn port_counters(
    lab: &crate::lab::Lab,
    runner: &sim_core::scenario::run::Runner,
) -> Vec<(String, String, u64)> {
    let cluster = &runner.outcome().cluster;
    let ports = sim_core::engine::traffic_control::node_ports(cluster);
    let mut out = Vec::new();
    for node in cluster.nodes() {
        if !lab.node_switches.contains_key(&node.name) {
            continue;
        }
        let ovs = lab.int_bridge_ovs(&node.name);
        for (name, _) in &ports {
            let Ok(text) = ovs.ofctl(&["dump-ports", crate::lab::BR_INT, name], None) else {
                continue;
            };
            if let Some(tx) = tx_packets(&text) {
                out.push((node.name.clone(), name.clone(), tx));
            }
        }
    }
    out
}

/// `tx pkts=N` of one `ovs-ofctl dump-ports` answer.
fn tx_packets(dump: &str) -> Option<u64> {
    let at = dump.find("tx pkts=")? + "tx pkts=".len();
    dump[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// The `tc` argument lists of the appliance's filters, in priority order.
fn filters(from: &str, i: &Inline) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let base = |prio: usize, protocol: &str| -> Vec<String> {
        [
            "filter",
            "add",
            "dev",
            from,
            "ingress",
            "protocol",
            protocol,
            "prio",
            &prio.to_string(),
            "u32",
        ]
        .map(String::from)
        .to_vec()
    };
    for (n, d) in i.drops.iter().enumerate() {
        let mut f = base(n + 1, "ip");
        f.extend(["match", "ip", "protocol", &d.protocol.to_string(), "0xff"].map(String::from));
        if let Some(p) = d.dst_port
            && matches!(d.protocol, proto::TCP | proto::UDP)
        {
            f.extend(["match", "ip", "dport", &p.to_string(), "0xffff"].map(String::from));
        }
        f.extend(["flowid", "ffff:1"].map(String::from));
        out.push(f);
    }
    let mut all = base(i.drops.len() + 1, "all");
    all.extend(
        [
            "match", "u32", "0", "0", "action", "mirred", "egress", "redirect", "dev",
        ]
        .map(String::from),
    );
    all.push(i.to.clone());
    out.push(all);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::sim::InlineDrop;

    #[test]
    fn tx_packets_are_read_from_dump_ports() {
        let dump = "OFPST_PORT reply (OF1.5) (xid=0x2): 1 ports\n  port  60000: rx pkts=0, bytes=0, drop=0, errs=0, frame=0, over=0, crc=0\n           tx pkts=240, bytes=23520, drop=0, errs=0, coll=0\n           duration=5.1s\n";
        assert_eq!(tx_packets(dump), Some(240));
        assert_eq!(tx_packets("no such port"), None);
    }

    #[test]
    fn drops_come_before_the_redirect_of_everything_else() {
        let i = Inline {
            to: "tap1".into(),
            drops: vec![
                InlineDrop {
                    protocol: proto::TCP,
                    dst_port: Some(80),
                },
                InlineDrop {
                    protocol: proto::ICMP,
                    dst_port: None,
                },
            ],
        };
        let f: Vec<String> = filters("tap0", &i).iter().map(|a| a.join(" ")).collect();
        assert_eq!(
            f,
            [
                "filter add dev tap0 ingress protocol ip prio 1 u32 match ip protocol 6 0xff match ip dport 80 0xffff flowid ffff:1",
                "filter add dev tap0 ingress protocol ip prio 2 u32 match ip protocol 1 0xff flowid ffff:1",
                "filter add dev tap0 ingress protocol all prio 3 u32 match u32 0 0 action mirred egress redirect dev tap1",
            ]
        );
    }
}
