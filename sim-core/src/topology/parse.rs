//! Small text parsers for the values a topology file spells as strings:
//! CIDRs, addresses, MACs, VLAN ids, route tables, fwmarks and Proxmox's
//! `tag=...,trunks=...` net option. Each returns a message that says what was
//! expected; the caller adds the file position.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::model::{MacAddr, TABLE_LOCAL, TABLE_MAIN, VlanMode};

/// An interface address: a host address with its prefix, `10.160.1.21/24`.
pub(crate) fn iface_addr(text: &str) -> Result<Ipv4Net, String> {
    let net: Ipv4Net = text.trim().parse().map_err(|_| {
        format!("`{text}` is not an IPv4 address with prefix length (expected e.g. 10.160.1.21/24)")
    })?;
    // The network and broadcast addresses are not usable host addresses below /31
    // (RFC 3021 makes both /31 addresses usable; /32 is a single host).
    if net.prefix_len() < 31 {
        if net.addr() == net.network() {
            return Err(format!(
                "`{text}` is the network address of {}; an interface needs a host address such as {}/{}",
                net.trunc(),
                first_host(net),
                net.prefix_len()
            ));
        }
        if net.addr() == net.broadcast() {
            return Err(format!(
                "`{text}` is the broadcast address of {}; an interface needs a host address",
                net.trunc()
            ));
        }
    }
    Ok(net)
}

fn first_host(net: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net.network()).saturating_add(1))
}

/// A subnet such as a Pod CIDR: no host bits allowed, because `10.30.64.5/24`
/// almost always means a typo.
pub(crate) fn subnet(text: &str) -> Result<Ipv4Net, String> {
    let net: Ipv4Net = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not an IPv4 CIDR (expected e.g. 10.30.64.0/24)"))?;
    if net.trunc() != net {
        return Err(format!(
            "`{text}` has host bits set; the subnet is {}",
            net.trunc()
        ));
    }
    Ok(net)
}

/// A route destination: `default`, a subnet, or a bare address (a /32 route, as `ip route` takes it).
pub(crate) fn route_dst(text: &str) -> Result<Ipv4Net, String> {
    let t = text.trim();
    if t == "default" {
        return Ok(Ipv4Net::default());
    }
    if let Ok(a) = t.parse::<Ipv4Addr>() {
        return Ok(Ipv4Net::from(a));
    }
    subnet(t).map_err(|e| {
        if t.parse::<Ipv4Net>().is_ok() {
            e
        } else {
            format!("`{text}` is not a route destination (expected `default` or a CIDR such as 10.160.1.0/24)")
        }
    })
}

pub(crate) fn ip(text: &str) -> Result<Ipv4Addr, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("`{text}` is not an IPv4 address (expected e.g. 10.160.1.1)"))
}

pub(crate) fn mac(text: &str) -> Result<MacAddr, String> {
    text.trim().parse()
}

/// An 802.1Q VLAN id. 0 means "priority tag only" and 4095 is reserved
/// (IEEE 802.1Q-2018, table 9-2), so usable ids are 1..=4094.
pub(crate) fn vlan_id(text: &str) -> Result<u16, String> {
    let t = text.trim();
    match t.parse::<i64>() {
        Ok(v) if (1..=4094).contains(&v) => Ok(v as u16),
        Ok(v) => Err(format!(
            "VLAN id {v} is out of range (expected 1..=4094; 0 and 4095 are reserved by 802.1Q)"
        )),
        Err(_) => Err(format!(
            "`{text}` is not a VLAN id (expected a number 1..=4094)"
        )),
    }
}

/// A routing table: `main` (254), `local` (255), `default` (253) as in Linux's
/// `/etc/iproute2/rt_tables`, or a number.
pub(crate) fn table(text: &str) -> Result<u32, String> {
    match text.trim() {
        "main" => Ok(TABLE_MAIN),
        "local" => Ok(TABLE_LOCAL),
        "default" => Ok(253),
        t => match t.parse::<u32>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!(
                "`{text}` is not a routing table (expected main, local, default or a number 1..=4294967295)"
            )),
        },
    }
}

fn u32_hex_or_dec(text: &str) -> Option<u32> {
    let t = text.trim();
    match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16).ok(),
        None => t.parse().ok(),
    }
}

/// `value/mask` as `ip rule add fwmark` takes it; the mask defaults to all ones.
pub(crate) fn fwmark(text: &str) -> Result<(u32, u32), String> {
    let bad = || {
        format!(
            "`{text}` is not a fwmark (expected value or value/mask, hex or decimal, e.g. 0x1/0xff)"
        )
    };
    let (v, m) = match text.split_once('/') {
        Some((v, m)) => (v, Some(m)),
        None => (text, None),
    };
    let value = u32_hex_or_dec(v).ok_or_else(bad)?;
    let mask = match m {
        Some(m) => u32_hex_or_dec(m).ok_or_else(bad)?,
        None => u32::MAX,
    };
    Ok((value, mask))
}

/// Proxmox's VM network options as written in `qm config` (`net0: ...,tag=216,trunks=181;216`).
/// Only `tag` and `trunks` shape VLAN membership; the Proxmox VLAN-aware bridge
/// puts untagged VM frames into `tag` and passes tagged frames whose VLAN is in
/// `trunks`. We also let `tag` frames pass tagged, which is what the bridge does
/// when `tag` is in `trunks` and harmless otherwise.
pub(crate) fn proxmox(text: &str) -> Result<VlanMode, String> {
    let mut tag: Option<u16> = None;
    let mut trunks: Option<Vec<u16>> = None;
    for part in text.split(',') {
        let part = part.trim();
        let Some((key, value)) = part.split_once('=') else {
            return Err(format!(
                "proxmox option `{part}` in `{text}` is not key=value (expected e.g. tag=216,trunks=181;216)"
            ));
        };
        match key.trim() {
            "tag" => {
                if tag.is_some() {
                    return Err(format!("`{text}` sets tag twice"));
                }
                tag = Some(vlan_id(value).map_err(|e| format!("in proxmox tag: {e}"))?);
            }
            "trunks" => {
                if trunks.is_some() {
                    return Err(format!("`{text}` sets trunks twice"));
                }
                let mut ids = Vec::new();
                for v in value.split(';') {
                    ids.push(vlan_id(v).map_err(|e| format!("in proxmox trunks: {e}"))?);
                }
                trunks = Some(ids);
            }
            other => {
                return Err(format!(
                    "proxmox option `{other}` is not modelled (only tag= and trunks= set VLANs; expected e.g. tag=216,trunks=181;216)"
                ));
            }
        }
    }
    match (tag, trunks) {
        (Some(t), None) => Ok(VlanMode::Access(t)),
        (native, Some(mut allowed)) => {
            if let Some(t) = native
                && !allowed.contains(&t)
            {
                allowed.push(t);
            }
            allowed.sort_unstable();
            allowed.dedup();
            Ok(VlanMode::Trunk { native, allowed })
        }
        (None, None) => Err(format!(
            "`{text}` sets neither tag nor trunks (expected e.g. tag=216,trunks=181;216)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxmox_forms() {
        assert_eq!(proxmox("tag=216"), Ok(VlanMode::Access(216)));
        assert_eq!(
            proxmox("tag=216,trunks=181;216"),
            Ok(VlanMode::Trunk {
                native: Some(216),
                allowed: vec![181, 216]
            })
        );
        assert_eq!(
            proxmox("trunks=181"),
            Ok(VlanMode::Trunk {
                native: None,
                allowed: vec![181]
            })
        );
        // The tag joins the allowed list when the user left it out.
        assert_eq!(
            proxmox("tag=216,trunks=181"),
            Ok(VlanMode::Trunk {
                native: Some(216),
                allowed: vec![181, 216]
            })
        );
        assert!(proxmox("").is_err());
        assert!(proxmox("tag=216,tag=217").is_err());
        assert!(proxmox("tag=5000").is_err());
        assert!(proxmox("bridge=vmbr0").is_err());
        assert!(proxmox("trunks=181;;216").is_err());
    }

    #[test]
    fn scalars() {
        assert_eq!(fwmark("0x1/0xff"), Ok((1, 0xff)));
        assert_eq!(fwmark("16"), Ok((16, u32::MAX)));
        assert!(fwmark("0x1/").is_err());
        assert_eq!(table("main"), Ok(254));
        assert_eq!(table("101"), Ok(101));
        assert!(table("0").is_err());
        assert_eq!(route_dst("default").unwrap().to_string(), "0.0.0.0/0");
        assert_eq!(route_dst("10.1.2.3").unwrap().to_string(), "10.1.2.3/32");
        assert!(
            route_dst("10.1.2.3/24")
                .unwrap_err()
                .contains("10.1.2.0/24")
        );
        assert!(iface_addr("10.160.1.0/24").is_err());
        assert!(iface_addr("10.160.1.255/24").is_err());
        assert!(iface_addr("10.100.0.0/31").is_ok());
        assert_eq!(vlan_id("4094"), Ok(4094));
        assert!(vlan_id("0").is_err());
        assert!(vlan_id("4095").is_err());
    }
}
