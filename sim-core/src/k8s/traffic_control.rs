//! Antrea's TrafficControl CR (`crd.antrea.io/v1alpha2`, cluster-scoped):
//! which Pods (`appliedTo`), which direction of their traffic, whether it is
//! mirrored or redirected, and the port it goes to (`targetPort`) and, for a
//! redirect, comes back by (`returnPort`). The API server's schema checks
//! (`crd::traffic_control`) run before this parse; what is read here is the
//! typed shape, and the port names Antrea's agent gives the ports it makes.

use std::net::Ipv4Addr;

use serde_saphyr::{Location, Spanned};
use sha1::{Digest, Sha1};

use super::antrea::{AppliedTo, RawAppliedTo, applied_to};
use super::{Ctx, ObjectMeta};
use crate::input::InputError;

/// Which packets of the selected Pods: sent to them, sent by them, or both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcDirection {
    Ingress,
    Egress,
    Both,
}

/// What happens to them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcAction {
    /// A copy goes to the target port; the packet goes on.
    Mirror,
    /// The packet goes to the target port only; it comes back by the
    /// return port, or not at all.
    Redirect,
}

/// A TrafficControl port (`TrafficControlPort`): an OVS internal port or a
/// device of that name on every Node, or a tunnel to a remote address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TcPort {
    OvsInternal(String),
    Device(String),
    Geneve {
        remote_ip: Ipv4Addr,
        vni: Option<u32>,
        dst_port: Option<u16>,
    },
    Vxlan {
        remote_ip: Ipv4Addr,
        vni: Option<u32>,
        dst_port: Option<u16>,
    },
    Gre {
        remote_ip: Ipv4Addr,
        key: Option<u32>,
    },
    Erspan {
        remote_ip: Ipv4Addr,
        session_id: Option<u16>,
        /// 1 (type II) or 2 (type III).
        version: u8,
        index: Option<u32>,
        dir: Option<u8>,
        hardware_id: Option<u8>,
    },
}

/// Antrea's default Geneve destination port (controller.go).
pub const DEFAULT_GENEVE_PORT: u16 = 6081;
/// Antrea's default VXLAN destination port (controller.go).
pub const DEFAULT_VXLAN_PORT: u16 = 4789;

impl TcPort {
    /// The OVS port's name as the agent gives it (`getPortName`,
    /// pkg/agent/controller/trafficcontrol/controller.go): an internal port
    /// or device by its own name; a tunnel as `<type>-` and the first six hex
    /// digits of the SHA-1 of its remote address (Go's 16-byte form of an
    /// IPv4 address, as `net.ParseIP` returns it) and its parameters as
    /// big-endian 32-bit integers (`binary.Write`), defaults filled in.
    pub fn port_name(&self) -> String {
        fn hashed(prefix: &str, ip: Ipv4Addr, tail: &[i32]) -> String {
            let mut h = Sha1::new();
            h.update(ip.to_ipv6_mapped().octets());
            for v in tail {
                h.update(v.to_be_bytes());
            }
            let digest = h.finalize();
            let hex: String = digest.iter().take(3).map(|b| format!("{b:02x}")).collect();
            format!("{prefix}-{hex}")
        }
        let int = |v: Option<u32>| v.unwrap_or(0) as i32;
        match self {
            TcPort::OvsInternal(n) | TcPort::Device(n) => n.clone(),
            TcPort::Vxlan {
                remote_ip,
                vni,
                dst_port,
            } => hashed(
                "vxlan",
                *remote_ip,
                &[i32::from(dst_port.unwrap_or(DEFAULT_VXLAN_PORT)), int(*vni)],
            ),
            TcPort::Geneve {
                remote_ip,
                vni,
                dst_port,
            } => hashed(
                "geneve",
                *remote_ip,
                &[
                    i32::from(dst_port.unwrap_or(DEFAULT_GENEVE_PORT)),
                    int(*vni),
                ],
            ),
            TcPort::Gre { remote_ip, key } => hashed("gre", *remote_ip, &[int(*key)]),
            TcPort::Erspan {
                remote_ip,
                session_id,
                version,
                index,
                dir,
                hardware_id,
            } => {
                // genERSPANPortName writes the session id as int32, the
                // version as its int32 field, then index, dir, hardwareID.
                let mut h = Sha1::new();
                h.update(remote_ip.to_ipv6_mapped().octets());
                h.update((i32::from(session_id.unwrap_or(0))).to_be_bytes());
                h.update((i32::from(*version)).to_be_bytes());
                h.update(int(*index).to_be_bytes());
                h.update((i32::from(dir.unwrap_or(0))).to_be_bytes());
                h.update((i32::from(hardware_id.unwrap_or(0))).to_be_bytes());
                let digest = h.finalize();
                let hex: String = digest.iter().take(3).map(|b| format!("{b:02x}")).collect();
                format!("erspan-{hex}")
            }
        }
    }

    /// The tunnel's remote address, for a tunnel port.
    pub fn remote_ip(&self) -> Option<Ipv4Addr> {
        match self {
            TcPort::OvsInternal(_) | TcPort::Device(_) => None,
            TcPort::Geneve { remote_ip, .. }
            | TcPort::Vxlan { remote_ip, .. }
            | TcPort::Gre { remote_ip, .. }
            | TcPort::Erspan { remote_ip, .. } => Some(*remote_ip),
        }
    }

    /// The kind as the CR spells it (`ovsInternal`, `geneve`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            TcPort::OvsInternal(_) => "ovsInternal",
            TcPort::Device(_) => "device",
            TcPort::Geneve { .. } => "geneve",
            TcPort::Vxlan { .. } => "vxlan",
            TcPort::Gre { .. } => "gre",
            TcPort::Erspan { .. } => "erspan",
        }
    }
}

/// A TrafficControl as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrafficControl {
    pub meta: ObjectMeta,
    pub applied_to: AppliedTo,
    pub direction: TcDirection,
    pub action: TcAction,
    pub target: TcPort,
    pub return_port: Option<TcPort>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSpec {
    applied_to: Option<Spanned<RawAppliedTo>>,
    direction: Option<Spanned<String>>,
    action: Option<Spanned<String>>,
    target_port: Option<Spanned<RawPort>>,
    return_port: Option<Spanned<RawPort>>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPort {
    ovs_internal: Option<RawNamed>,
    device: Option<RawNamed>,
    geneve: Option<RawUdpTunnel>,
    vxlan: Option<RawUdpTunnel>,
    gre: Option<RawGre>,
    erspan: Option<RawErspan>,
}

#[derive(Debug, serde::Deserialize)]
struct RawNamed {
    name: String,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawUdpTunnel {
    #[serde(rename = "remoteIP")]
    remote_ip: Spanned<String>,
    vni: Option<u32>,
    destination_port: Option<u16>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawGre {
    #[serde(rename = "remoteIP")]
    remote_ip: Spanned<String>,
    key: Option<u32>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawErspan {
    #[serde(rename = "remoteIP")]
    remote_ip: Spanned<String>,
    #[serde(rename = "sessionID")]
    session_id: Option<u16>,
    version: u8,
    index: Option<u64>,
    dir: Option<u8>,
    #[serde(rename = "hardwareID")]
    hardware_id: Option<u64>,
}

fn port(ctx: &Ctx<'_>, raw: Spanned<RawPort>, what: &str) -> Result<TcPort, InputError> {
    let at = raw.referenced;
    let r = raw.value;
    let ip = |v: &Spanned<String>| ctx.ipv4(v, &format!("{what} remoteIP"));
    let mut kinds: Vec<TcPort> = Vec::new();
    if let Some(n) = r.ovs_internal {
        kinds.push(TcPort::OvsInternal(n.name));
    }
    if let Some(n) = r.device {
        kinds.push(TcPort::Device(n.name));
    }
    if let Some(t) = r.geneve {
        kinds.push(TcPort::Geneve {
            remote_ip: ip(&t.remote_ip)?,
            vni: t.vni,
            dst_port: t.destination_port,
        });
    }
    if let Some(t) = r.vxlan {
        kinds.push(TcPort::Vxlan {
            remote_ip: ip(&t.remote_ip)?,
            vni: t.vni,
            dst_port: t.destination_port,
        });
    }
    if let Some(t) = r.gre {
        kinds.push(TcPort::Gre {
            remote_ip: ip(&t.remote_ip)?,
            key: t.key,
        });
    }
    if let Some(t) = r.erspan {
        // The schema leaves index and hardwareID unbounded; the fields
        // they fill are 20 and 6 bits wide (ERSPAN type II and III).
        let (Ok(index), Ok(hardware_id)) = (
            t.index.map(u32::try_from).transpose(),
            t.hardware_id.map(u8::try_from).transpose(),
        ) else {
            return Err(ctx.error_at(
                &at,
                format!("{what}.erspan: index must be below 2^20 and hardwareID below 64"),
            ));
        };
        if index.is_some_and(|i| i >= 1 << 20) || hardware_id.is_some_and(|h| h >= 64) {
            return Err(ctx.error_at(
                &at,
                format!("{what}.erspan: index must be below 2^20 and hardwareID below 64"),
            ));
        }
        kinds.push(TcPort::Erspan {
            remote_ip: ip(&t.remote_ip)?,
            session_id: t.session_id,
            version: t.version,
            index,
            dir: t.dir,
            hardware_id,
        });
    }
    match kinds.len() {
        1 => Ok(kinds.pop().expect("one")),
        _ => Err(ctx.error_at(
            &at,
            format!(
                "{what} must be exactly one of ovsInternal, device, geneve, vxlan, gre or erspan"
            ),
        )),
    }
}

pub(super) fn parse_traffic_control(
    ctx: &Ctx<'_>,
    doc: &str,
    doc_at: &Location,
    meta: ObjectMeta,
) -> Result<TrafficControl, InputError> {
    let needs = "TrafficControl needs spec.appliedTo, direction, action and targetPort";
    let (at, s): (_, RawSpec) = ctx.spec_of(doc, doc_at, needs)?;
    let applied = s.applied_to.ok_or_else(|| ctx.error_at(&at, needs))?.value;
    let applied_to = applied_to(ctx, applied)?;
    let direction = s.direction.ok_or_else(|| ctx.error_at(&at, needs))?;
    let direction = match direction.value.as_str() {
        "Ingress" => TcDirection::Ingress,
        "Egress" => TcDirection::Egress,
        "Both" => TcDirection::Both,
        other => {
            return Err(ctx.error(
                &direction,
                format!("direction must be Ingress, Egress or Both, not {other:?}"),
            ));
        }
    };
    let action = s.action.ok_or_else(|| ctx.error_at(&at, needs))?;
    let action = match action.value.as_str() {
        "Mirror" => TcAction::Mirror,
        "Redirect" => TcAction::Redirect,
        other => {
            return Err(ctx.error(
                &action,
                format!("action must be Mirror or Redirect, not {other:?}"),
            ));
        }
    };
    let target = port(
        ctx,
        s.target_port.ok_or_else(|| ctx.error_at(&at, needs))?,
        "targetPort",
    )?;
    let return_port = s
        .return_port
        .map(|p| port(ctx, p, "returnPort"))
        .transpose()?;
    Ok(TrafficControl {
        meta,
        applied_to,
        direction,
        action,
        target,
        return_port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip() -> Ipv4Addr {
        "1.1.1.1".parse().unwrap()
    }

    #[test]
    fn tunnel_ports_are_named_as_in_antreas_test_gen_tunnel_port_name() {
        // controller_test.go TestGenTunnelPortName: defaults written or left
        // out give the same name.
        for (vni, dst_port) in [(None, None), (Some(0), Some(4789))] {
            let p = TcPort::Vxlan {
                remote_ip: ip(),
                vni,
                dst_port,
            };
            assert_eq!(p.port_name(), "vxlan-cb3ab8");
        }
        for (vni, dst_port) in [(None, None), (Some(0), Some(6081))] {
            let p = TcPort::Geneve {
                remote_ip: ip(),
                vni,
                dst_port,
            };
            assert_eq!(p.port_name(), "geneve-e17764");
        }
        for key in [None, Some(0)] {
            assert_eq!(
                TcPort::Gre {
                    remote_ip: ip(),
                    key
                }
                .port_name(),
                "gre-b2d3bd"
            );
        }
        for z in [None, Some(0)] {
            let p = TcPort::Erspan {
                remote_ip: ip(),
                session_id: z.map(|v: u8| u16::from(v)),
                version: 1,
                index: z.map(u32::from),
                dir: z,
                hardware_id: z,
            };
            assert_eq!(p.port_name(), "erspan-9de667");
        }
        assert_eq!(TcPort::OvsInternal("tap0".into()).port_name(), "tap0");
        // Another VNI is another port.
        let other = TcPort::Geneve {
            remote_ip: ip(),
            vni: Some(1),
            dst_port: None,
        };
        assert_ne!(other.port_name(), "geneve-e17764");
    }
}
