//! Feature ExternalNodeConnectivity (externalnode_connectivity.go,
//! v1.15.1): the program of antrea-agent on an external Node (a VM). The
//! VM's interface is on br-int as the uplink and an internal port took its
//! name, addresses and routes; packets cross between the two:
//! - IP packets through conntrack (zone 65520, no NAT), the policy tables,
//!   and L2ForwardingCalc, which sends each to the other port of the pair
//!   by `in_port` (both ports carry the same MAC);
//! - anything else straight across in the NonIP table.
//!
//! Cookie category `ExternalNodeConnectivity` (8).

use super::flow::{Category, Flow, FlowSet};
use super::pod_connectivity::CT_ZONE;
use super::tables::T;

const C: Category = Category::ExternalNodeConnectivity;

/// `featureExternalNodeConnectivity.initFlows`.
pub(crate) fn init_flows(out: &mut FlowSet) {
    let next = |out: &FlowSet, t: T| out.layout.next(t).expect("has a next table").name();
    let ct_state = next(out, T::ConntrackZone);
    let after_commit = next(out, T::ConntrackCommit);
    out.push(Flow::new(
        C,
        T::Output,
        200,
        "reg0=0x200000/0x600000",
        "output:NXM_NX_REG1[]",
    ));
    out.push(Flow::new(
        C,
        T::ConntrackZone,
        200,
        "ip",
        format!("ct(table={ct_state},zone={CT_ZONE})"),
    ));
    out.push(Flow::new(
        C,
        T::ConntrackState,
        210,
        "ct_state=+inv+trk,ip",
        "drop",
    ));
    out.push(Flow::new(
        C,
        T::ConntrackCommit,
        200,
        "ct_state=+new+trk,ip",
        format!("ct(commit,table={after_commit},zone={CT_ZONE})"),
    ));
}

/// `vmUplinkFlows`: the pair of the internal port `host` and the uplink.
pub(crate) fn uplink_flows(out: &mut FlowSet, host: u32, uplink: u32) {
    let next = out
        .layout
        .next(T::L2ForwardingCalc)
        .expect("L2ForwardingCalc has a next table")
        .name();
    for (from, to) in [(host, uplink), (uplink, host)] {
        out.push(Flow::new(
            C,
            T::L2ForwardingCalc,
            200,
            format!("ip,in_port={from}"),
            format!("set_field:0x200000/0x600000->reg0,set_field:{to:#x}->reg1,goto_table:{next}"),
        ));
        out.push(Flow::new(
            C,
            T::NonIp,
            200,
            format!("in_port={from}"),
            format!("output:{to}"),
        ));
    }
}
