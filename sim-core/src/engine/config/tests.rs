//! Tests of `antrea-config` reading: every key antlab reads round-trips under
//! its exact Antrea spelling, Antrea's checks and messages, errors at their
//! real place in the file, per-release gates and defaults.

use super::version::*;
use super::*;
use crate::k8s::parse_manifests;

/// A `kube-system/antrea-config` whose `antrea-agent.conf` (and optionally
/// `antrea-controller.conf`) are the given documents, as block scalars.
fn manifest(agent: &str, controller: Option<&str>) -> String {
    let block = |text: &str| -> String { text.lines().map(|l| format!("    {l}\n")).collect() };
    let mut m = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: antrea-config\n  namespace: kube-system\ndata:\n  antrea-agent.conf: |\n{}",
        block(agent)
    );
    if let Some(c) = controller {
        m.push_str(&format!("  antrea-controller.conf: |\n{}", block(c)));
    }
    m
}

/// Line 8 of [`manifest`] is the agent document's first line; its columns
/// are shifted by 4.
const FIRST_LINE: u64 = 8;

fn config_map(text: &str) -> ConfigMap {
    match parse_manifests("cm.yaml", text)
        .unwrap_or_else(|e| panic!("{e}"))
        .remove(0)
    {
        Object::ConfigMap(cm) => cm,
        other => panic!("not a ConfigMap: {other:?}"),
    }
}

fn read_as(version: AntreaVersion, agent: &str) -> Result<AntreaConfig, InputError> {
    read_antrea_config(&config_map(&manifest(agent, None)), version)
}

fn read(agent: &str) -> Result<AntreaConfig, InputError> {
    read_as(AntreaVersion::default(), agent)
}

#[track_caller]
fn refused(version: AntreaVersion, agent: &str) -> InputError {
    match read_as(version, agent) {
        Ok(c) => panic!("accepted: {c:?}"),
        Err(e) => e,
    }
}

// ---- item 1: every key antlab reads, by its exact spelling ------------------

/// One key antlab reads: its path as Antrea spells it, a document setting it
/// to a non-default value, and whether the parsed result changed.
struct KeyCase {
    path: &'static str,
    doc: &'static str,
    changed: fn(&AntreaConfig) -> bool,
}

fn agent_key_cases() -> Vec<KeyCase> {
    vec![
        KeyCase {
            path: "featureGates",
            doc: "featureGates:\n  Egress: false",
            changed: |c| c.agent.gates.get("Egress") == Some(&false),
        },
        KeyCase {
            path: "trafficEncapMode",
            doc: "trafficEncapMode: hybrid",
            changed: |c| c.agent.settings.traffic_encap_mode == EncapMode::Hybrid,
        },
        KeyCase {
            path: "noSNAT",
            doc: "trafficEncapMode: noEncap\nnoSNAT: true",
            changed: |c| c.agent.settings.no_snat,
        },
        KeyCase {
            path: "tunnelType",
            doc: "tunnelType: vxlan",
            changed: |c| c.agent.settings.tunnel.tunnel_type() == TunnelType::Vxlan,
        },
        KeyCase {
            path: "tunnelPort",
            doc: "tunnelPort: 16081",
            changed: |c| c.agent.settings.tunnel.dst_port() == Some(16081),
        },
        KeyCase {
            path: "tunnelCsum",
            doc: "tunnelCsum: true",
            changed: |c| c.agent.settings.tunnel.udp_csum(),
        },
        KeyCase {
            path: "defaultMTU",
            doc: "defaultMTU: 1400",
            changed: |c| {
                c.agent
                    .settings
                    .tunnel
                    .interface_mtu(c.agent.settings.traffic_encap_mode, 1500)
                    == 1400
            },
        },
        KeyCase {
            path: "kubeAPIServerOverride",
            doc: "kubeAPIServerOverride: https://10.0.0.1:6443",
            changed: |c| {
                c.agent.settings.kube_api_server_override.as_deref()
                    == Some("https://10.0.0.1:6443")
            },
        },
        KeyCase {
            path: "antreaProxy.enable",
            doc: "antreaProxy:\n  enable: false",
            changed: |c| !c.agent.settings.antrea_proxy_enable,
        },
        KeyCase {
            path: "antreaProxy.proxyAll",
            doc: "antreaProxy:\n  proxyAll: true",
            changed: |c| c.agent.settings.proxy_all,
        },
        KeyCase {
            path: "antreaProxy.nodePortAddresses",
            doc: "antreaProxy:\n  proxyAll: true\n  nodePortAddresses: [10.160.1.0/24]",
            changed: |c| {
                c.agent.settings.node_port_addresses
                    == ["10.160.1.0/24".parse::<ipnet::Ipv4Net>().unwrap()]
            },
        },
        KeyCase {
            path: "antreaProxy.skipServices",
            doc: "antreaProxy:\n  skipServices: [kube-system/kube-dns]",
            changed: |c| c.agent.settings.skip_services == ["kube-system/kube-dns"],
        },
        KeyCase {
            path: "antreaProxy.proxyLoadBalancerIPs",
            doc: "antreaProxy:\n  proxyLoadBalancerIPs: false",
            changed: |c| !c.agent.settings.proxy_load_balancer_ips,
        },
        KeyCase {
            path: "antreaProxy.defaultLoadBalancerMode",
            doc: "featureGates:\n  LoadBalancerModeDSR: true\nantreaProxy:\n  defaultLoadBalancerMode: dsr",
            changed: |c| {
                c.agent.settings.default_load_balancer_mode == crate::engine::proxy::LbMode::Dsr
            },
        },
        KeyCase {
            path: "egress.exceptCIDRs",
            doc: "egress:\n  exceptCIDRs: [192.168.0.0/16]",
            changed: |c| {
                c.agent.settings.egress_except_cidrs
                    == ["192.168.0.0/16".parse::<ipnet::Ipv4Net>().unwrap()]
            },
        },
        KeyCase {
            path: "egress.maxEgressIPsPerNode",
            doc: "egress:\n  maxEgressIPsPerNode: 3",
            changed: |c| c.agent.settings.max_egress_ips_per_node == 3,
        },
        KeyCase {
            path: "flowExporter.enable",
            doc: "flowExporter:\n  enable: true",
            changed: |c| c.agent.flow_exporter.enable,
        },
        KeyCase {
            path: "flowExporter.flowCollectorAddr",
            doc: "featureGates:\n  FlowExporter: true\nflowExporter:\n  flowCollectorAddr: 10.0.0.5:4739:udp",
            changed: |c| c.agent.flow_exporter.collector_addr == "10.0.0.5:4739:udp",
        },
        KeyCase {
            path: "flowExporter.flowPollInterval",
            doc: "featureGates:\n  FlowExporter: true\nflowExporter:\n  flowPollInterval: 7s",
            changed: |c| {
                c.agent.flow_exporter.poll_interval == crate::time::SimDuration::from_secs(7)
            },
        },
        KeyCase {
            path: "flowExporter.activeFlowExportTimeout",
            doc: "featureGates:\n  FlowExporter: true\nflowExporter:\n  activeFlowExportTimeout: 1m",
            changed: |c| {
                c.agent.flow_exporter.active_timeout == crate::time::SimDuration::from_secs(60)
            },
        },
        KeyCase {
            path: "flowExporter.idleFlowExportTimeout",
            doc: "featureGates:\n  FlowExporter: true\nflowExporter:\n  idleFlowExportTimeout: 1m30s",
            changed: |c| {
                c.agent.flow_exporter.idle_timeout == crate::time::SimDuration::from_secs(90)
            },
        },
        // The deprecated top-level spellings, honoured when `flowExporter` is silent.
        KeyCase {
            path: "flowCollectorAddr",
            doc: "featureGates:\n  FlowExporter: true\nflowCollectorAddr: 10.0.0.6",
            changed: |c| c.agent.flow_exporter.collector_addr == "10.0.0.6",
        },
        KeyCase {
            path: "flowPollInterval",
            doc: "featureGates:\n  FlowExporter: true\nflowPollInterval: 8s",
            changed: |c| {
                c.agent.flow_exporter.poll_interval == crate::time::SimDuration::from_secs(8)
            },
        },
        KeyCase {
            path: "activeFlowExportTimeout",
            doc: "featureGates:\n  FlowExporter: true\nactiveFlowExportTimeout: 61s",
            changed: |c| {
                c.agent.flow_exporter.active_timeout == crate::time::SimDuration::from_secs(61)
            },
        },
        KeyCase {
            path: "idleFlowExportTimeout",
            doc: "featureGates:\n  FlowExporter: true\nidleFlowExportTimeout: 62s",
            changed: |c| {
                c.agent.flow_exporter.idle_timeout == crate::time::SimDuration::from_secs(62)
            },
        },
    ]
}

#[test]
fn every_agent_key_antlab_reads_round_trips_under_antreas_spelling() {
    let default = read("{}").unwrap();
    for v in [V1_15_1, V2_0_0, V2_7_0] {
        let schema = keys::paths(keys::Component::Agent, v);
        for case in agent_key_cases() {
            assert!(
                schema.contains(&case.path),
                "{}: not a key of Antrea {v}'s antrea-agent.conf",
                case.path
            );
            let conf = read_as(v, case.doc).unwrap_or_else(|e| panic!("{}: {e}", case.path));
            assert!(
                conf.warnings().next().is_none(),
                "{}: {:?}",
                case.path,
                conf.agent.warnings
            );
            assert!(
                (case.changed)(&conf),
                "{} did not take effect: {conf:?}",
                case.path
            );
            assert!(
                !(case.changed)(&default),
                "{}: the default already looks changed",
                case.path
            );
        }
    }
}

#[test]
fn the_controller_gates_round_trip() {
    assert!(keys::paths(keys::Component::Controller, V1_15_1).contains(&"featureGates"));
    let cm = config_map(&manifest(
        "{}",
        Some("featureGates:\n  ServiceExternalIP: true"),
    ));
    let conf = read_antrea_config(&cm, V1_15_1).unwrap();
    assert_eq!(conf.controller.gates.get("ServiceExternalIP"), Some(&true));
}

#[test]
fn kube_proxy_keys_round_trip_under_their_json_tags() {
    let cm = config_map(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: kube-proxy, namespace: kube-system}\ndata:\n  config.conf: |\n    mode: ipvs\n    ipvs:\n      strictARP: true\n",
    );
    assert_eq!(
        kube_proxy::read(&cm).unwrap(),
        Some(crate::engine::proxy::KubeProxyMode::Ipvs { strict_arp: true })
    );
    // The camel-cased `strictArp` is not kube-proxy's key: strictARP stays off.
    let cm = config_map(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: kube-proxy, namespace: kube-system}\ndata:\n  config.conf: |\n    mode: ipvs\n    ipvs:\n      strictArp: true\n",
    );
    assert_eq!(
        kube_proxy::read(&cm).unwrap(),
        Some(crate::engine::proxy::KubeProxyMode::Ipvs { strict_arp: false })
    );
}

#[test]
fn max_egress_ips_per_node_over_255_is_refused_where_it_is_written() {
    let e = refused(V1_15_1, "egress:\n  maxEgressIPsPerNode: 256");
    assert_eq!((e.line, e.column), (FIRST_LINE + 1, 4 + 24), "{e}");
    assert!(
        e.message.ends_with(
            "antrea-agent.conf: failed to validate egress config: maxEgressIPsPerNode cannot be greater than 255"
        ),
        "{e}"
    );
    assert!(read("egress:\n  maxEgressIPsPerNode: 255").is_ok());
    // 0 means "unset": the default, 255.
    let c = read("egress:\n  maxEgressIPsPerNode: 0").unwrap();
    assert_eq!(c.agent.settings.max_egress_ips_per_node, 255);
    // Without the Egress gate Antrea does not look at it.
    assert!(read("featureGates:\n  Egress: false\negress:\n  maxEgressIPsPerNode: 999").is_ok());
}

#[test]
fn the_camel_cased_spelling_stops_a_v1_15_agent_and_is_ignored_by_v2() {
    let doc = "egress:\n  maxEgressIpsPerNode: 3";
    let e = refused(V1_15_1, doc);
    assert_eq!((e.line, e.column), (FIRST_LINE + 1, 4 + 3), "{e}");
    assert!(
        e.message.contains(
            "field maxEgressIpsPerNode not found in type agent.EgressConfig (did you mean maxEgressIPsPerNode?)"
        ),
        "{e}"
    );
    assert!(
        e.message
            .contains("Antrea v1.15.1 decodes this file strictly"),
        "{e}"
    );
    let c = read_as(V2_1_0, doc).unwrap();
    assert_eq!(c.agent.settings.max_egress_ips_per_node, 255);
    let w: Vec<&String> = c.warnings().collect();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].starts_with("cm.yaml:9:7: "), "{}", w[0]);
    assert!(w[0].contains("Antrea v2.1.0 ignores it"), "{}", w[0]);
    // A key from a later release is unknown to an earlier one.
    let e = refused(V1_15_1, "fqdnCacheMinTTL: 30");
    assert!(
        e.message
            .contains("field fqdnCacheMinTTL not found in type agent.AgentConfig"),
        "{e}"
    );
    assert!(
        read_as(V2_3_0, "fqdnCacheMinTTL: 30")
            .unwrap()
            .warnings()
            .next()
            .is_none()
    );
}

#[test]
fn dsr_needs_its_gate_and_encap_and_the_mode_is_case_insensitive() {
    let e = refused(V1_15_1, "antreaProxy:\n  defaultLoadBalancerMode: dsr");
    assert!(
        e.message.ends_with(
            "proxy config is invalid: LoadBalancerMode DSR requires feature gate LoadBalancerModeDSR to be enabled"
        ),
        "{e}"
    );
    assert_eq!((e.line, e.column), (FIRST_LINE + 1, 4 + 28), "{e}");
    let e = refused(
        V1_15_1,
        "featureGates:\n  LoadBalancerModeDSR: true\ntrafficEncapMode: hybrid\nantreaProxy:\n  defaultLoadBalancerMode: DSR",
    );
    assert!(
        e.message
            .ends_with("LoadBalancerMode DSR requires encap mode"),
        "{e}"
    );
    for spelling in ["DSR", "Dsr", "dsr"] {
        let c = read(&format!(
            "featureGates:\n  LoadBalancerModeDSR: true\nantreaProxy:\n  defaultLoadBalancerMode: {spelling}"
        ))
        .unwrap();
        assert_eq!(
            c.agent.settings.default_load_balancer_mode,
            crate::engine::proxy::LbMode::Dsr
        );
    }
    assert!(read("antreaProxy:\n  defaultLoadBalancerMode: NAT").is_ok());
    let e = refused(V1_15_1, "antreaProxy:\n  defaultLoadBalancerMode: direct");
    assert!(
        e.message
            .ends_with("proxy config is invalid: LoadBalancerMode direct is unknown"),
        "{e}"
    );
}

#[test]
fn except_cidrs_are_checked_and_ipv6_ones_accepted() {
    let e = refused(V1_15_1, "egress:\n  exceptCIDRs: [10.0.0.0/8, 10.1.0.0/33]");
    assert!(
        e.message.ends_with(
            "failed to validate egress config: Egress Except CIDR 10.1.0.0/33 is invalid"
        ),
        "{e}"
    );
    assert_eq!((e.line, e.column), (FIRST_LINE + 1, 4 + 29), "{e}");
    let e = refused(V1_15_1, "egress:\n  exceptCIDRs: [10.0.0.1]");
    assert!(
        e.message.contains("Egress Except CIDR 10.0.0.1 is invalid"),
        "{e}"
    );
    let c = read("egress:\n  exceptCIDRs: [\"fd00::/64\", 172.16.0.0/12]").unwrap();
    assert_eq!(c.agent.settings.egress_except_cidrs.len(), 1);
}

#[test]
fn node_port_addresses_must_be_cidrs_with_proxy_all() {
    let e = refused(
        V1_15_1,
        "antreaProxy:\n  proxyAll: true\n  nodePortAddresses: [10.160.1.25]",
    );
    assert!(
        e.message.ends_with(
            "proxy config is invalid: invalid NodePort IP address `10.160.1.25`: invalid CIDR address: 10.160.1.25"
        ),
        "{e}"
    );
    // Without proxyAll Antrea neither checks nor uses them.
    let c = read("antreaProxy:\n  nodePortAddresses: [10.160.1.25]").unwrap();
    assert!(c.agent.settings.node_port_addresses.is_empty());
}

#[test]
fn traffic_encap_modes_as_antrea_parses_them() {
    let c = read("trafficEncapMode: NoEncap").unwrap();
    assert_eq!(c.agent.settings.traffic_encap_mode, EncapMode::NoEncap);
    let e = refused(V1_15_1, "trafficEncapMode: geneve");
    assert!(
        e.message
            .ends_with("antrea-agent.conf: TrafficEncapMode geneve is unknown"),
        "{e}"
    );
    let e = refused(
        V1_15_1,
        "trafficEncapMode: noEncap\nantreaProxy:\n  enable: false",
    );
    assert!(
        e.message
            .ends_with("TrafficEncapMode noEncap requires AntreaProxy to be enabled"),
        "{e}"
    );
    // Egress runs in encap mode only up to v2.4, in hybrid too from v2.5.
    assert!(!EncapMode::Hybrid.runs_egress(V2_4_0));
    assert!(EncapMode::Hybrid.runs_egress(V2_5_0));
    assert!(!EncapMode::NoEncap.runs_egress(V2_7_0));
}

#[test]
fn kube_api_server_override_port_is_checked_from_v2_4() {
    let doc = "kubeAPIServerOverride: https://api.example:99999";
    assert!(read_as(V2_3_0, doc).is_ok());
    let e = refused(V2_4_0, doc);
    assert!(
        e.message.ends_with(
            "error in kubeAPIServerOverride 'https://api.example:99999': port 99999 is out of range, valid range is 1-65535"
        ),
        "{e}"
    );
    assert!(
        read_as(
            V2_4_0,
            "kubeAPIServerOverride: https://k8s-dev-cluster-3.domain.int"
        )
        .is_ok()
    );
}

#[test]
fn gates_are_refused_with_the_version_at_the_gate_name() {
    let e = refused(V1_15_1, "featureGates:\n  Egress: true\n  BGPPolicy: true");
    assert_eq!((e.line, e.column), (FIRST_LINE + 2, 4 + 3), "{e}");
    assert!(
        e.message.ends_with(
            "unrecognized feature gate: BGPPolicy (Antrea v1.15.1 has no such gate; it was added in v2.1.0)"
        ),
        "{e}"
    );
    assert!(read_as(V2_1_0, "featureGates:\n  BGPPolicy: true").is_ok());
    let cm = config_map(&manifest(
        "{}",
        Some("featureGates:\n  PacketCapture: true"),
    ));
    let e = read_antrea_config(&cm, V2_1_0).unwrap_err();
    assert!(
        e.message
            .contains("antrea-controller.conf: unrecognized feature gate: PacketCapture"),
        "{e}"
    );
}

// ---- flow exporter -----------------------------------------------------------

#[test]
fn the_flow_exporter_needs_the_gate_and_enable() {
    let gate_only = read("featureGates:\n  FlowExporter: true").unwrap();
    assert!(!gate_only.agent.flow_exporter.enable);
    let both = read("featureGates:\n  FlowExporter: true\nflowExporter:\n  enable: true").unwrap();
    let mut s = AntreaSettings {
        agent_gates: both.agent.gates.clone(),
        flow_exporter: both.agent.flow_exporter.clone(),
        ..Default::default()
    };
    assert!(s.flow_export_on());
    s.flow_exporter.enable = false;
    assert!(!s.flow_export_on());
}

#[test]
fn flow_exporter_values_are_checked_as_each_release_does() {
    let poll = "featureGates:\n  FlowExporter: true\nflowExporter:\n  flowPollInterval: 500ms";
    let e = refused(V1_15_1, poll);
    assert!(
        e.message.ends_with(
            "failed to validate flow exporter config: flow interval should be greater than or equal to one second"
        ),
        "{e}"
    );
    // v2.3-v2.5 check only an enabled exporter.
    assert!(read_as(V2_3_0, poll).is_ok());
    assert!(refused(V2_6_0, poll).message.contains("flow interval"));
    let grpc = "featureGates:\n  FlowExporter: true\nflowExporter:\n  enable: true\n  flowCollectorAddr: flow-aggregator/flow-aggregator:14739:grpc";
    let e = refused(V2_3_0, grpc);
    assert!(
        e.message
            .ends_with("connection over grpc transport proto is not supported"),
        "{e}"
    );
    assert!(read_as(V2_4_0, grpc).is_ok());
    let e = refused(
        V1_15_1,
        "featureGates:\n  FlowExporter: true\nflowExporter:\n  idleFlowExportTimeout: soon",
    );
    assert!(
        e.message
            .ends_with("IdleFlowExportTimeout is not provided in right format"),
        "{e}"
    );
    // Timeouts rise to the poll interval.
    let c = read("featureGates:\n  FlowExporter: true\nflowExporter:\n  flowPollInterval: 10s\n  activeFlowExportTimeout: 2s").unwrap();
    assert_eq!(
        c.agent.flow_exporter.active_timeout,
        crate::time::SimDuration::from_secs(10)
    );
    assert_eq!(
        c.agent.flow_exporter.idle_timeout,
        crate::time::SimDuration::from_secs(15)
    );
    // With the gate off nothing is read.
    assert!(read("flowExporter:\n  flowPollInterval: soon").is_ok());
}

// ---- item 5: errors at their real place ------------------------------------

#[test]
fn yaml_errors_inside_the_block_are_at_their_real_line_and_column() {
    // `egress` is a string, not a mapping: line 3 of the document.
    let e = refused(V1_15_1, "featureGates:\n  Egress: true\negress: [\n");
    assert_eq!(e.file, "cm.yaml");
    assert!(e.line >= FIRST_LINE + 2, "{e}");
    assert!(
        !e.message.contains(" line "),
        "no inner position when the outer one is exact: {e}"
    );
    let e = refused(V1_15_1, "egress:\n  maxEgressIPsPerNode: lots");
    assert_eq!((e.line, e.column), (FIRST_LINE + 1, 4 + 24), "{e}");
}

#[test]
fn a_block_with_leading_blank_lines_and_strip_chomping_maps_exactly() {
    let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: antrea-config, namespace: kube-system}\ndata:\n  antrea-agent.conf: |-\n\n      egress:\n        maxEgressIPsPerNode: 300\n";
    let e = read_antrea_config(&config_map(text), V1_15_1).unwrap_err();
    assert_eq!((e.line, e.column), (8, 30), "{e}");
}

#[test]
fn a_one_line_quoted_value_maps_columns_and_a_folded_one_names_the_inner_place() {
    let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: antrea-config, namespace: kube-system}\ndata:\n  antrea-agent.conf: \"featureGates: {Foo: true}\"\n";
    let e = read_antrea_config(&config_map(text), V1_15_1).unwrap_err();
    assert_eq!((e.line, e.column), (5, 38), "{e}");
    let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: antrea-config, namespace: kube-system}\ndata:\n  antrea-agent.conf: >\n    featureGates: {Foo:\n    true}\n";
    let e = read_antrea_config(&config_map(text), V1_15_1).unwrap_err();
    assert_eq!((e.line, e.column), (6, 5), "{e}");
    assert!(
        e.message
            .contains("antrea-agent.conf line 1 column 16: unrecognized feature gate: Foo"),
        "{e}"
    );
}

// ---- item 3: releases ------------------------------------------------------------

#[test]
fn v2_3_turns_service_external_ip_and_egress_separate_subnet_on_by_default() {
    let mut c = ClusterState::default();
    set_version(&mut c, "v2.2.2".parse().unwrap());
    assert!(!c.settings.agent_gate("ServiceExternalIP"));
    assert!(!c.egress.config.separate_subnet);
    set_version(&mut c, V2_3_0);
    assert!(c.settings.agent_gate("ServiceExternalIP"));
    assert!(c.settings.controller_gate("ServiceExternalIP"));
    assert!(c.egress.config.separate_subnet);
}

#[test]
fn from_v2_1_antrea_proxy_goes_first_with_proxy_all() {
    let mut c = ClusterState::default();
    set_version(&mut c, "v2.0.1".parse().unwrap());
    assert!(!c.proxy.antrea_first_with_proxy_all);
    set_version(&mut c, V2_1_0);
    assert!(c.proxy.antrea_first_with_proxy_all);
}

#[test]
fn a_new_antrea_config_replaces_the_old_one_whole() {
    let mut c = ClusterState::default();
    set_version(&mut c, V1_15_1);
    apply_antrea_config(
        &mut c,
        &config_map(&manifest("antreaProxy:\n  proxyAll: true\negress:\n  maxEgressIPsPerNode: 2\n  exceptCIDRs: [10.200.0.0/24]", None)),
    )
    .unwrap();
    assert!(c.proxy.proxy_all);
    assert_eq!(c.egress.config.max_egress_ips_per_node, 2);
    assert_eq!(c.egress.config.except_cidrs.len(), 1);
    apply_antrea_config(
        &mut c,
        &config_map(&manifest("featureGates:\n  Egress: true", None)),
    )
    .unwrap();
    assert!(!c.proxy.proxy_all);
    assert_eq!(c.egress.config.max_egress_ips_per_node, 255);
    assert!(c.egress.config.except_cidrs.is_empty());
}

/// The first release of each minor line, plus the two patch releases whose
/// tables differ from their .0 (v1.15.1 is the blog's; v2.5.1 locks gates).
const TABLE_VERSIONS: &[&str] = &[
    "v1.15.1", "v2.0.0", "v2.1.0", "v2.2.0", "v2.3.0", "v2.4.0", "v2.5.0", "v2.5.1", "v2.6.0",
    "v2.7.0",
];

#[test]
fn featuregates_tables_per_release() {
    for v in TABLE_VERSIONS {
        let version: AntreaVersion = v.parse().unwrap();
        let text = featuregates::text(version, &GateSettings::default());
        insta::assert_snapshot!(format!("featuregates_{}", v.replace('.', "_")), text);
    }
}

#[test]
fn featuregates_with_a_windows_config_adds_its_section() {
    let text = format!(
        "{}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: antrea-windows-config-7f8b6\n  namespace: kube-system\n  labels: {{app: antrea}}\ndata:\n  antrea-agent.conf: |\n    featureGates:\n      AntreaProxy: true\n      FlowExporter: true\n",
        manifest("featureGates:\n  Egress: false", None)
    );
    let objects = parse_manifests("cm.yaml", &text).unwrap();
    let out = featuregates_from_manifests("cm.yaml", &objects, V2_2_0).unwrap();
    insta::assert_snapshot!("featuregates_windows_v2_2_0", out);
    // Without the label antctl does not list it.
    let unlabelled = text.replace("  labels: {app: antrea}\n", "");
    let objects = parse_manifests("cm.yaml", &unlabelled).unwrap();
    let out = featuregates_from_manifests("cm.yaml", &objects, V2_2_0).unwrap();
    assert!(!out.contains("(Windows)"), "{out}");
}

#[test]
fn featuregates_says_when_the_file_has_no_antrea_config() {
    let objects = parse_manifests(
        "x.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: antrea-config}\ndata: {}\n",
    )
    .unwrap();
    let e = featuregates_from_manifests("x.yaml", &objects, V1_15_1).unwrap_err();
    assert_eq!(
        e.to_string(),
        "x.yaml:1:1: no ConfigMap kube-system/antrea-config in this file (it has ConfigMap/default/antrea-config; Antrea reads the one in kube-system); antctl reads the feature gates from it"
    );
}

// ---- trafficEncapMode, the tunnel and the MTU --------------------------------

#[test]
fn the_default_is_geneve_encap_with_mtu_1450() {
    let s = AntreaSettings::for_version(V1_15_1);
    assert_eq!(s.encap_mode(), EncapMode::Encap);
    assert_eq!(s.tunnel().tunnel_type(), TunnelType::Geneve);
    assert_eq!(s.tunnel().dst_port(), Some(6081));
    assert!(!s.tunnel().udp_csum());
    assert_eq!(s.interface_mtu(tunnel::TRANSPORT_MTU), 1450);
    assert_eq!(s.tunnel_device().as_deref(), Some("genev_sys_6081"));
    // An empty document and explicit defaults read the same.
    let c = read("trafficEncapMode: \"\"\ntunnelType: \"\"\ntunnelPort: 0\ndefaultMTU: 0").unwrap();
    assert_eq!(c.agent.settings, AgentSettings::default());
}

#[test]
fn modes_and_tunnel_types_set_the_mtu_and_device() {
    let cases = [
        ("trafficEncapMode: ENCAP", 1450, Some("genev_sys_6081")),
        (
            "trafficEncapMode: hybrid\ntunnelType: vxlan",
            1450,
            Some("vxlan_sys_4789"),
        ),
        ("tunnelType: gre", 1458, Some("gre_sys")),
        ("tunnelType: stt", 1500, Some("stt_sys_7471")),
        ("tunnelPort: 16081", 1450, Some("genev_sys_16081")),
        ("trafficEncapMode: noEncap", 1500, None),
        ("trafficEncapMode: networkpolicyonly", 1500, None),
        ("trafficEncapMode: noEncap\ndefaultMTU: 9000", 9000, None),
        ("defaultMTU: 1500", 1500, Some("genev_sys_6081")),
    ];
    for (doc, mtu, device) in cases {
        let conf = read(doc).unwrap_or_else(|e| panic!("{doc}: {e}"));
        let mut s = AntreaSettings::for_version(V1_15_1);
        s.agent = conf.agent.settings;
        assert_eq!(s.interface_mtu(1500), mtu, "{doc}");
        assert_eq!(s.tunnel_device().as_deref(), device, "{doc}");
    }
}

#[test]
fn tunnel_type_is_checked_first_and_spelled_exactly() {
    let e = refused(V1_15_1, "trafficEncapMode: bogus\ntunnelType: Geneve");
    assert!(
        e.message
            .ends_with("antrea-agent.conf: tunnel type Geneve is invalid"),
        "{e}"
    );
    assert_eq!((e.line, e.column), (FIRST_LINE + 1, 4 + 13), "{e}");
    let e = refused(V2_7_0, "tunnelType: ipip");
    assert!(e.message.ends_with("tunnel type ipip is invalid"), "{e}");
}

#[test]
fn tunnel_port_and_mtu_out_of_range_are_refused() {
    let e = refused(V1_15_1, "tunnelPort: 70000");
    assert!(e.message.contains("tunnelPort 70000 is not a port"), "{e}");
    let e = refused(V1_15_1, "defaultMTU: -1");
    assert!(
        e.message.contains("defaultMTU -1 is outside 68-65535"),
        "{e}"
    );
    let e = refused(V1_15_1, "defaultMTU: 67");
    assert!(e.message.contains("defaultMTU 67 is outside"), "{e}");
    assert!(read("defaultMTU: 68").is_ok());
}

#[test]
fn dsr_is_refused_in_every_mode_but_encap() {
    for mode in ["noEncap", "hybrid", "networkPolicyOnly"] {
        let e = refused(
            V1_15_1,
            &format!(
                "featureGates:\n  LoadBalancerModeDSR: true\ntrafficEncapMode: {mode}\nantreaProxy:\n  defaultLoadBalancerMode: DSR"
            ),
        );
        // options.go v1.15.1 validateAntreaProxyConfig, wrapped by validateK8sNodeOptions.
        assert!(
            e.message
                .ends_with("proxy config is invalid: LoadBalancerMode DSR requires encap mode"),
            "{mode}: {e}"
        );
    }
    assert!(
        read("featureGates:\n  LoadBalancerModeDSR: true\ntrafficEncapMode: encap\nantreaProxy:\n  defaultLoadBalancerMode: DSR")
            .is_ok()
    );
}

#[test]
fn no_snat_is_refused_outside_no_encap() {
    for mode in ["encap", "hybrid"] {
        let e = refused(V1_15_1, &format!("trafficEncapMode: {mode}\nnoSNAT: true"));
        assert!(
            e.message
                .ends_with("antrea-agent.conf: noSNAT is only applicable to the noEncap mode"),
            "{mode}: {e}"
        );
        assert_eq!((e.line, e.column), (FIRST_LINE + 1, 4 + 9), "{e}");
    }
    assert!(read("noSNAT: false").is_ok());
    // networkPolicyOnly accepts it, and implies it.
    let c = read("trafficEncapMode: networkPolicyOnly").unwrap();
    assert!(c.agent.settings.no_snat);
}

#[test]
fn egress_in_no_encap_is_not_refused_but_does_not_run() {
    // options.go v1.15.1 validateEgressConfig only logs "The Egress feature
    // gate is enabled, but it won't work because it is only applicable to the
    // encap mode"; the agent starts, without Egress.
    for mode in ["noEncap", "hybrid", "networkPolicyOnly"] {
        let c = read(&format!(
            "featureGates:\n  Egress: true\ntrafficEncapMode: {mode}\negress:\n  exceptCIDRs: [not-a-cidr]"
        ))
        .unwrap_or_else(|e| panic!("{mode}: {e}"));
        let mut s = AntreaSettings::for_version(V1_15_1);
        s.agent_gates = c.agent.gates;
        s.agent = c.agent.settings;
        assert!(!s.egress_runs(), "{mode}");
    }
    let e = refused(
        V1_15_1,
        "featureGates:\n  Egress: true\negress:\n  exceptCIDRs: [not-a-cidr]",
    );
    assert!(
        e.message
            .contains("Egress Except CIDR not-a-cidr is invalid"),
        "{e}"
    );
}
