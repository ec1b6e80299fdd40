//! The agent's flow exporter settings (`flowExporter.*` of
//! `antrea-agent.conf`), read and checked as `cmd/antrea-agent/options.go`
//! does (`setK8sNodeDefaultOptions`, `validateFlowExporterConfig`):
//!
//! - The exporter runs when the `FlowExporter` gate is on **and**
//!   `flowExporter.enable` is true (`cmd/antrea-agent/agent.go`, every release
//!   from v1.15; `enable` defaults to false).
//! - Defaults, applied when the gate is on: collector
//!   `flow-aggregator/flow-aggregator:4739:tls`, poll 5 s, active timeout 5 s,
//!   idle timeout 15 s. The deprecated top-level `flowCollectorAddr`,
//!   `flowPollInterval`, `activeFlowExportTimeout` and `idleFlowExportTimeout`
//!   fill in what `flowExporter` leaves empty. (The Helm chart writes
//!   `14739:grpc` into the ConfigMap from v2.4 on; the agent's own default
//!   stays 4739/tls, and that is what an `antrea-agent.conf` without the key
//!   gets.)
//! - Checked: up to v2.2 whenever the gate is on; v2.3-v2.5 only when the
//!   exporter is also enabled; from v2.6 the collector address only when
//!   enabled, the intervals whenever the gate is on. The poll interval must
//!   be at least 1 s; the timeouts are raised to it. The collector address is
//!   `HOST[:PORT][:PROTO]`, PROTO `tls`, `tcp`, `udp` (and `grpc` from v2.4,
//!   which also checks the port).

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::embedded::Embedded;
use super::version::*;
use crate::input::InputError;
use crate::time::SimDuration;

/// The `flowExporter` section as written.
#[derive(Debug, Default, Deserialize)]
pub(super) struct FlowExporterDoc {
    #[serde(rename = "enable", default)]
    pub(super) enable: Option<bool>,
    #[serde(rename = "flowCollectorAddr", default)]
    pub(super) flow_collector_addr: Option<Spanned<String>>,
    #[serde(rename = "flowPollInterval", default)]
    pub(super) flow_poll_interval: Option<Spanned<String>>,
    #[serde(rename = "activeFlowExportTimeout", default)]
    pub(super) active_flow_export_timeout: Option<Spanned<String>>,
    #[serde(rename = "idleFlowExportTimeout", default)]
    pub(super) idle_flow_export_timeout: Option<Spanned<String>>,
}

/// The deprecated top-level spellings of the same settings.
#[derive(Debug, Default)]
pub(super) struct DeprecatedFlowKeys {
    pub(super) flow_collector_addr: Option<Spanned<String>>,
    pub(super) flow_poll_interval: Option<Spanned<String>>,
    pub(super) active_flow_export_timeout: Option<Spanned<String>>,
    pub(super) idle_flow_export_timeout: Option<Spanned<String>>,
}

/// What the agent's flow exporter runs with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowExporterSettings {
    /// `flowExporter.enable` (default false).
    pub(crate) enable: bool,
    pub(crate) collector_addr: String,
    pub(crate) poll_interval: SimDuration,
    pub(crate) active_timeout: SimDuration,
    pub(crate) idle_timeout: SimDuration,
}

pub const DEFAULT_COLLECTOR: &str = "flow-aggregator/flow-aggregator:4739:tls";

impl Default for FlowExporterSettings {
    fn default() -> Self {
        FlowExporterSettings {
            enable: false,
            collector_addr: DEFAULT_COLLECTOR.into(),
            poll_interval: SimDuration::from_secs(5),
            active_timeout: SimDuration::from_secs(5),
            idle_timeout: SimDuration::from_secs(15),
        }
    }
}

/// Reads and checks the flow exporter settings. `gate` is the FlowExporter
/// gate. Antrea's messages, wrapped as `validateK8sNodeOptions` wraps them.
pub(super) fn settings(
    doc: Option<FlowExporterDoc>,
    deprecated: DeprecatedFlowKeys,
    gate: bool,
    version: AntreaVersion,
    conf: &Embedded<'_>,
) -> Result<FlowExporterSettings, InputError> {
    let doc = doc.unwrap_or_default();
    let mut out = FlowExporterSettings {
        enable: doc.enable.unwrap_or(false),
        ..Default::default()
    };
    if !gate {
        return Ok(out);
    }
    let pick = |own: Option<Spanned<String>>, old: Option<Spanned<String>>| {
        own.filter(|s| !s.value.is_empty())
            .or(old.filter(|s| !s.value.is_empty()))
    };
    let collector = pick(doc.flow_collector_addr, deprecated.flow_collector_addr);
    let poll = pick(doc.flow_poll_interval, deprecated.flow_poll_interval);
    let active = pick(
        doc.active_flow_export_timeout,
        deprecated.active_flow_export_timeout,
    );
    let idle = pick(
        doc.idle_flow_export_timeout,
        deprecated.idle_flow_export_timeout,
    );
    let checked = version < V2_3_0 || out.enable || version >= V2_6_0;
    if !checked {
        return Ok(out);
    }
    let fail = |at: &Spanned<String>, message: String| {
        conf.error_on(
            at,
            format!("failed to validate flow exporter config: {message}"),
        )
    };
    if let Some(addr) = &collector {
        if version < V2_6_0 || out.enable {
            check_collector_addr(&addr.value, version).map_err(|m| fail(addr, m))?;
        }
        out.collector_addr = addr.value.clone();
    }
    if let Some(p) = &poll {
        let d = go_duration(&p.value).map_err(|_| {
            fail(
                p,
                "flow interval string is not provided in right format".into(),
            )
        })?;
        if d < 1_000_000_000 {
            return Err(fail(
                p,
                "flow interval should be greater than or equal to one second".into(),
            ));
        }
        out.poll_interval = SimDuration::from_nanos(d as u64);
    }
    for (given, into, name) in [
        (&active, &mut out.active_timeout, "ActiveFlowExportTimeout"),
        (&idle, &mut out.idle_timeout, "IdleFlowExportTimeout"),
    ] {
        if let Some(t) = given {
            let d = go_duration(&t.value)
                .map_err(|_| fail(t, format!("{name} is not provided in right format")))?;
            *into = SimDuration::from_nanos(d.max(0) as u64);
        }
    }
    out.active_timeout = out.active_timeout.max(out.poll_interval);
    out.idle_timeout = out.idle_timeout.max(out.poll_interval);
    Ok(out)
}

/// `flowexport.ParseFlowCollectorAddr`: `HOST`, `HOST:PORT` or
/// `HOST:[PORT]:PROTO` (an IPv6 host in brackets).
fn check_collector_addr(addr: &str, version: AntreaVersion) -> Result<(), String> {
    let parts: Vec<&str> = match addr.strip_prefix('[').and_then(|r| r.split_once("]:")) {
        Some((host, rest)) => std::iter::once(host).chain(rest.split(':')).collect(),
        None => addr.split(':').collect(),
    };
    let checks_port = version >= V2_4_0;
    let port_ok = |p: &str| -> Result<(), String> {
        if !checks_port {
            return Ok(());
        }
        match p.parse::<i64>() {
            Ok(n) if (1..=65535).contains(&n) => Ok(()),
            Ok(n) => Err(format!("port {n} is out of range, valid range is 1-65535")),
            Err(_) => Err(format!(
                "invalid port {p}: strconv.Atoi: parsing {p:?}: invalid syntax"
            )),
        }
    };
    match parts.as_slice() {
        [_] => Ok(()),
        [_, port] => port_ok(port),
        [_, port, proto] => {
            if !port.is_empty() {
                port_ok(port)?;
            }
            let mut protos = vec!["tls", "tcp", "udp"];
            if version >= V2_4_0 {
                protos.push("grpc");
            }
            if protos.contains(proto) {
                Ok(())
            } else {
                Err(format!(
                    "connection over {proto} transport proto is not supported"
                ))
            }
        }
        _ => Err("flow collector address is given in invalid format".into()),
    }
}

/// Go's `time.ParseDuration`: a signed sequence of decimal numbers with
/// units (`1h30m`, `1.5s`, `300ms`), or `0`. Nanoseconds.
pub(super) fn go_duration(text: &str) -> Result<i128, ()> {
    let (neg, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(());
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or(())?;
        let (num, tail) = rest.split_at(num_end);
        if num.is_empty() || num == "." {
            return Err(());
        }
        let unit_end = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_end);
        let scale: i128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(()),
        };
        let (whole, frac) = num.split_once('.').unwrap_or((num, ""));
        let whole: i128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| ())?
        };
        let mut value = whole.checked_mul(scale).ok_or(())?;
        let mut place = scale;
        for d in frac.chars() {
            place /= 10;
            value += i128::from(d.to_digit(10).ok_or(())?) * place;
        }
        total = total.checked_add(value).ok_or(())?;
        rest = tail;
    }
    if total > i128::from(i64::MAX) {
        return Err(());
    }
    Ok(if neg { -total } else { total })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(go_duration("5s"), Ok(5_000_000_000));
        assert_eq!(go_duration("1m30s"), Ok(90_000_000_000));
        assert_eq!(go_duration("1.5s"), Ok(1_500_000_000));
        assert_eq!(go_duration("300ms"), Ok(300_000_000));
        assert_eq!(go_duration("0"), Ok(0));
        assert_eq!(go_duration("-2s"), Ok(-2_000_000_000));
        for bad in ["", "5", "soon", "5 s", "s", ".s", "1x"] {
            assert_eq!(go_duration(bad), Err(()), "{bad}");
        }
    }

    #[test]
    fn collector_addresses_as_parse_flow_collector_addr_reads_them() {
        assert!(check_collector_addr(DEFAULT_COLLECTOR, V1_15_1).is_ok());
        assert!(check_collector_addr("10.0.0.1", V1_15_1).is_ok());
        assert!(check_collector_addr("10.0.0.1::udp", V1_15_1).is_ok());
        assert!(check_collector_addr("[fd00::1]:4739:tcp", V1_15_1).is_ok());
        assert_eq!(
            check_collector_addr("fa/fa:14739:grpc", V1_15_1).unwrap_err(),
            "connection over grpc transport proto is not supported"
        );
        assert!(check_collector_addr("fa/fa:14739:grpc", V2_4_0).is_ok());
        assert_eq!(
            check_collector_addr("a:1:tcp:x", V1_15_1).unwrap_err(),
            "flow collector address is given in invalid format"
        );
        // The port is checked from v2.4 (antrea#7037).
        assert!(check_collector_addr("fa:99999:tcp", V1_15_1).is_ok());
        assert_eq!(
            check_collector_addr("fa:99999:tcp", V2_4_0).unwrap_err(),
            "port 99999 is out of range, valid range is 1-65535"
        );
    }
}
