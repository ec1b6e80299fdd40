//! The normalised verdict of one packet walk (contract section 3 of issue
//! 14), as the real-OVS oracle produces it.
//!
//! TODO(coordinator): replace with sim_core::openflow::Verdict. These four
//! structs are the contract's, field for field, so the swap is deleting this
//! file and importing the sim-core types instead.

use std::net::Ipv4Addr;

/// How one packet's walk through br-int ended. A drop is
/// `outputs.is_empty() && !controller && !normal`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verdict {
    /// In the order the actions ran.
    pub outputs: Vec<Emitted>,
    /// A controller(...) action ran (reject / no-endpoint packet-in).
    pub controller: bool,
    /// NORMAL ran (L2 switching by the bridge; no port is named).
    pub normal: bool,
    /// Every ct() action, in order.
    pub cts: Vec<CtCall>,
}

/// One packet leaving the bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emitted {
    /// IN_PORT resolved to the real in_port.
    pub port: u32,
    /// For outputs to the tunnel port: the tunnel destination.
    pub tun_dst: Option<Ipv4Addr>,
    /// At the moment of output.
    pub headers: Headers,
}

/// The header fields the comparison looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Headers {
    pub eth_src: [u8; 6],
    pub eth_dst: [u8; 6],
    pub nw_src: Option<Ipv4Addr>,
    pub nw_dst: Option<Ipv4Addr>,
    pub nw_ttl: Option<u8>,
    pub tp_src: Option<u16>,
    pub tp_dst: Option<u16>,
}

/// One ct() action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CtCall {
    pub zone: u16,
    pub commit: bool,
    /// "", "src=1.2.3.4", "dst=10.0.0.5:80" as written.
    pub nat: Option<String>,
    /// The recirculation table id.
    pub table: Option<u8>,
}
