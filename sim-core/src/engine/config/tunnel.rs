//! The agent's tunnel settings and the MTU it derives from them:
//! `tunnelType`, `tunnelPort`, `tunnelCsum` and `defaultMTU` of
//! `antrea-agent.conf` (`pkg/config/agent/config.go` v1.15.1), with the
//! overheads of `pkg/agent/config/node_config.go` v1.15.1
//! (`getEncapMTUDeduction`, `CalculateMTUDeduction`) and the cap of
//! `pkg/agent/agent.go` v1.15.1 (`getInterfaceMTU`, `ovsTunnelMaxMTU`).
//!
//! Only IPv4 is modelled (the lab has no IPv6 addresses), so the
//! `ipv6ExtraOverhead` of 20 never applies; `trafficEncryptionMode` is not
//! modelled, so neither are the IPsec (38) and WireGuard (60) deductions.

use super::agent::EncapMode;

/// The MTU of the lab's transport links: the topology has no MTU field, and
/// every link is plain Ethernet (the blog's nodes show `eth0 ... mtu 1500`).
pub const TRANSPORT_MTU: u32 = 1500;

/// OVS sets tunnel interfaces to MTU 65000 on Linux, so Antrea caps the MTU it
/// derives there when encap is used (`ovsTunnelMaxMTU`, pkg/agent/agent.go v1.15.1).
pub const OVS_TUNNEL_MAX_MTU: u32 = 65000;

/// `tunnelType` (`pkg/ovs/ovsconfig/interfaces.go` v1.15.1 names; compared
/// exactly, not case-insensitively, by `validateK8sNodeOptions`; default geneve).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TunnelType {
    #[default]
    Geneve,
    Vxlan,
    Gre,
    Stt,
}

impl TunnelType {
    const ALL: [TunnelType; 4] = [
        TunnelType::Geneve,
        TunnelType::Vxlan,
        TunnelType::Gre,
        TunnelType::Stt,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TunnelType::Geneve => "geneve",
            TunnelType::Vxlan => "vxlan",
            TunnelType::Gre => "gre",
            TunnelType::Stt => "stt",
        }
    }

    /// The exact spelling Antrea accepts, or None.
    pub fn parse(text: &str) -> Option<TunnelType> {
        Self::ALL.into_iter().find(|t| t.as_str() == text)
    }

    /// The IANA port used when `tunnelPort` is 0 (config.go: "6081 for Geneve,
    /// 4789 for VXLAN, and 7471 for STT"); GRE has no port.
    pub fn iana_port(self) -> Option<u16> {
        match self {
            TunnelType::Geneve => Some(6081),
            TunnelType::Vxlan => Some(4789),
            TunnelType::Stt => Some(7471),
            TunnelType::Gre => None,
        }
    }

    /// Bytes encapsulation adds over IPv4 (`getEncapMTUDeduction`,
    /// node_config.go v1.15.1: `geneveOverhead = 50`, `vxlanOverhead = 50`,
    /// `greOverhead = 42`; STT falls to its `return 0`).
    pub fn ipv4_overhead(self) -> u32 {
        match self {
            TunnelType::Geneve | TunnelType::Vxlan => 50,
            TunnelType::Gre => 42,
            TunnelType::Stt => 0,
        }
    }

    /// The kernel device OVS's kernel datapath creates for the tunnel vport
    /// (Open vSwitch lib/netdev-vport.c `netdev_vport_get_dpif_port`: the
    /// class's dpif name, `_<dst port>` appended for UDP-based tunnels).
    pub fn kernel_device(self, dst_port: u16) -> String {
        match self {
            TunnelType::Geneve => format!("genev_sys_{dst_port}"),
            TunnelType::Vxlan => format!("vxlan_sys_{dst_port}"),
            TunnelType::Stt => format!("stt_sys_{dst_port}"),
            TunnelType::Gre => "gre_sys".to_string(),
        }
    }
}

/// The tunnel part of the agent's settings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TunnelSettings {
    pub(crate) tunnel_type: TunnelType,
    /// `tunnelPort` as written; 0 means the type's IANA port.
    pub(crate) tunnel_port: u16,
    /// `tunnelCsum` (default false).
    pub(crate) tunnel_csum: bool,
    /// `defaultMTU`; 0 means "derive it from the transport interface".
    pub(crate) default_mtu: u32,
}

impl TunnelSettings {
    pub fn tunnel_type(&self) -> TunnelType {
        self.tunnel_type
    }

    /// The UDP destination port of the tunnel: `tunnelPort`, else the IANA port
    /// (None for GRE).
    pub fn dst_port(&self) -> Option<u16> {
        match self.tunnel_port {
            0 => self.tunnel_type.iana_port(),
            p => self.tunnel_type.iana_port().map(|_| p),
        }
    }

    /// Whether the tunnel port computes UDP checksums: `tunnelCsum`, for
    /// Geneve and VXLAN only (`shouldEnableCsum`, pkg/agent/agent.go v1.15.1).
    pub fn udp_csum(&self) -> bool {
        self.tunnel_csum && matches!(self.tunnel_type, TunnelType::Geneve | TunnelType::Vxlan)
    }

    /// The MTU of `antrea-gw0` and of every Pod interface (`getInterfaceMTU`):
    /// `defaultMTU` when set; else the transport MTU less the encapsulation
    /// overhead when the mode encapsulates, capped at 65000.
    pub fn interface_mtu(&self, mode: EncapMode, transport_mtu: u32) -> u32 {
        if self.default_mtu != 0 {
            return self.default_mtu;
        }
        if !mode.supports_encap() {
            return transport_mtu;
        }
        transport_mtu
            .saturating_sub(self.tunnel_type.ipv4_overhead())
            .min(OVS_TUNNEL_MAX_MTU)
    }

    /// The kernel tunnel device, when the mode has a tunnel
    /// (`NeedsTunnelInterface`: encap or hybrid; WireGuard is not modelled).
    pub fn kernel_device(&self, mode: EncapMode) -> Option<String> {
        if !mode.supports_encap() {
            return None;
        }
        Some(self.tunnel_type.kernel_device(self.dst_port().unwrap_or(0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(t: TunnelType) -> TunnelSettings {
        TunnelSettings {
            tunnel_type: t,
            ..Default::default()
        }
    }

    #[test]
    fn mtu_as_antrea_derives_it_on_a_1500_link() {
        let cases = [
            (TunnelType::Geneve, 1450),
            (TunnelType::Vxlan, 1450),
            (TunnelType::Gre, 1458),
            (TunnelType::Stt, 1500),
        ];
        for (t, mtu) in cases {
            assert_eq!(with(t).interface_mtu(EncapMode::Encap, 1500), mtu, "{t:?}");
            assert_eq!(with(t).interface_mtu(EncapMode::Hybrid, 1500), mtu, "{t:?}");
            assert_eq!(with(t).interface_mtu(EncapMode::NoEncap, 1500), 1500);
            assert_eq!(
                with(t).interface_mtu(EncapMode::NetworkPolicyOnly, 1500),
                1500
            );
        }
        // Jumbo links are capped at OVS's tunnel MTU in encap mode only.
        assert_eq!(
            with(TunnelType::Stt).interface_mtu(EncapMode::Encap, 65535),
            65000
        );
        assert_eq!(
            with(TunnelType::Stt).interface_mtu(EncapMode::NoEncap, 65535),
            65535
        );
        let fixed = TunnelSettings {
            default_mtu: 1400,
            ..Default::default()
        };
        assert_eq!(fixed.interface_mtu(EncapMode::Encap, 1500), 1400);
        assert_eq!(fixed.interface_mtu(EncapMode::NoEncap, 9000), 1400);
    }

    #[test]
    fn ports_devices_and_checksums() {
        let geneve = TunnelSettings::default();
        assert_eq!(geneve.dst_port(), Some(6081));
        assert_eq!(
            geneve.kernel_device(EncapMode::Encap).as_deref(),
            Some("genev_sys_6081")
        );
        assert_eq!(geneve.kernel_device(EncapMode::NoEncap), None);
        let vxlan = TunnelSettings {
            tunnel_port: 8472,
            ..with(TunnelType::Vxlan)
        };
        assert_eq!(
            vxlan.kernel_device(EncapMode::Hybrid).as_deref(),
            Some("vxlan_sys_8472")
        );
        assert_eq!(with(TunnelType::Gre).dst_port(), None);
        assert_eq!(
            with(TunnelType::Gre)
                .kernel_device(EncapMode::Encap)
                .as_deref(),
            Some("gre_sys")
        );
        let csum = |t| TunnelSettings {
            tunnel_csum: true,
            ..with(t)
        };
        assert!(csum(TunnelType::Geneve).udp_csum());
        assert!(csum(TunnelType::Vxlan).udp_csum());
        assert!(!csum(TunnelType::Gre).udp_csum());
        assert!(!TunnelSettings::default().udp_csum());
    }

    #[test]
    fn tunnel_types_are_spelled_exactly() {
        assert_eq!(TunnelType::parse("geneve"), Some(TunnelType::Geneve));
        assert_eq!(TunnelType::parse("stt"), Some(TunnelType::Stt));
        assert_eq!(TunnelType::parse("Geneve"), None);
        assert_eq!(TunnelType::parse("erspan"), None);
    }
}
