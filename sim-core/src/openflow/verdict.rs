//! The normalised outcome of one packet walk (contract section 3): what left which
//! port with which headers, whether the controller or NORMAL got it, and every
//! `ct()` action. Real mode's `ofproto/trace` parser produces the same type.

use std::net::Ipv4Addr;

/// One walk's outcome. A drop is `outputs.is_empty() && !controller && !normal`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verdict {
    /// In the order the actions ran.
    pub outputs: Vec<Emitted>,
    /// A controller(...) action ran (reject / no-endpoint packet-in, or dec_ttl expiry).
    pub controller: bool,
    /// NORMAL ran (L2 switching by the bridge; no port is named).
    pub normal: bool,
    /// Every ct() action, in order.
    pub cts: Vec<CtCall>,
}

impl Verdict {
    pub fn is_drop(&self) -> bool {
        self.outputs.is_empty() && !self.controller && !self.normal
    }

    /// The packet goes no further: dropped, or only sent to the controller
    /// (a Reject, or a logged Drop); a logged Allow also outputs.
    pub fn ends_packet(&self) -> bool {
        self.is_drop() || (self.controller && self.outputs.is_empty())
    }
}

/// One packet leaving a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emitted {
    /// IN_PORT resolved to the real in_port.
    pub port: u32,
    pub tun_dst: Option<Ipv4Addr>,
    /// At the moment of output.
    pub headers: Headers,
}

/// The header fields compared between the simulator and real OVS.
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
    /// "", "src=1.2.3.4", "dst=10.0.0.5:80" as written; None without nat.
    pub nat: Option<String>,
    /// Recirculation table id.
    pub table: Option<u8>,
}
