//! Tests of the proxy engine: endpoints and hints, traffic policies, handler
//! precedence, endpoint choice and affinity, incremental compile, renders.

use std::net::Ipv4Addr;

use indexmap::IndexMap;
use ipnet::Ipv4Net;
use proptest::prelude::*;

use super::*;
use crate::k8s::{
    ClusterIp, ContainerPort, Object, ObjectMeta, Protocol, Service, ServicePort, ServiceType,
    SessionAffinity, TargetPort, TrafficPolicy, parse_manifests,
};
use crate::time::{SimDuration, SimTime};

fn ip(s: &str) -> Ipv4Addr {
    s.parse().expect("test IP")
}

fn node(name: &str, addr: &str, pod_cidr: &str, zone: Option<&str>, cp: bool) -> ProxyNode {
    let cidr: Ipv4Net = pod_cidr.parse().expect("cidr");
    ProxyNode {
        name: name.into(),
        ip: ip(addr),
        host_addrs: vec![("eth0".into(), ip(addr))],
        gateway_ip: cidr.hosts().next(),
        pod_cidr: Some(cidr),
        zone: zone.map(str::to_string),
        control_plane: cp,
        ready: true,
        cpu_milli: 1000,
    }
}

/// The blog's cluster: two control-plane nodes (CoreDNS) and three workers.
fn blog_nodes() -> Vec<ProxyNode> {
    vec![
        node(
            "k8s-cp-vm-1-cl-02",
            "10.160.1.21",
            "10.30.65.0/24",
            None,
            true,
        ),
        node(
            "k8s-cp-vm-2-cl-02",
            "10.160.1.22",
            "10.30.66.0/24",
            None,
            true,
        ),
        node(
            "k8s-node-vm-1-cl-02",
            "10.160.1.25",
            "10.30.67.0/24",
            None,
            false,
        ),
        node(
            "k8s-node-vm-2-cl-02",
            "10.160.1.26",
            "10.30.68.0/24",
            None,
            false,
        ),
        node(
            "k8s-node-vm-3-cl-02",
            "10.160.1.27",
            "10.30.69.0/24",
            None,
            false,
        ),
    ]
}

const BLOG_SERVICES: &str = r#"
apiVersion: v1
kind: Service
metadata:
  name: yelb-ui
  namespace: yelb
  annotations:
    service.antrea.io/external-ip-pool: service-external-ip-pool
spec:
  type: LoadBalancer
  clusterIP: 10.30.48.237
  selector:
    app: yelb-ui
    tier: frontend
  ports:
  - port: 80
    targetPort: 80
    nodePort: 32611
---
apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: kube-system
spec:
  clusterIP: 10.30.0.3
  selector:
    k8s-app: kube-dns
  ports:
  - name: dns
    port: 53
    protocol: UDP
    targetPort: dns
"#;

fn pod(ns: &str, name: &str, addr: &str, node: &str, labels: &[(&str, &str)]) -> EndpointPod {
    EndpointPod {
        namespace: ns.into(),
        name: name.into(),
        ip: ip(addr),
        node: node.into(),
        zone: None,
        labels: labels
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect(),
        ready: true,
        terminating: false,
        ports: vec![],
    }
}

fn blog_pods() -> Vec<EndpointPod> {
    let ui = [("app", "yelb-ui"), ("tier", "frontend")];
    let dns_port = ContainerPort {
        name: Some("dns".into()),
        container_port: 53,
        protocol: Protocol::Udp,
    };
    let mut dns1 = pod(
        "kube-system",
        "coredns-1",
        "10.30.65.3",
        "k8s-cp-vm-1-cl-02",
        &[("k8s-app", "kube-dns")],
    );
    dns1.ports.push(dns_port.clone());
    let mut dns2 = pod(
        "kube-system",
        "coredns-2",
        "10.30.66.2",
        "k8s-cp-vm-2-cl-02",
        &[("k8s-app", "kube-dns")],
    );
    dns2.ports.push(dns_port);
    vec![
        pod(
            "yelb",
            "yelb-ui-mb5m6",
            "10.30.68.6",
            "k8s-node-vm-2-cl-02",
            &ui,
        ),
        pod(
            "yelb",
            "yelb-ui-pztht",
            "10.30.67.5",
            "k8s-node-vm-1-cl-02",
            &ui,
        ),
        pod(
            "yelb",
            "yelb-ui-r48rx",
            "10.30.69.2",
            "k8s-node-vm-3-cl-02",
            &ui,
        ),
        // Same labels, other namespace: not selected.
        pod(
            "other",
            "yelb-ui-x",
            "10.30.69.9",
            "k8s-node-vm-3-cl-02",
            &ui,
        ),
        dns1,
        dns2,
    ]
}

fn parse_services(yaml: &str) -> Vec<Service> {
    parse_manifests("svc.yaml", yaml)
        .expect("valid manifests")
        .into_iter()
        .filter_map(|o| match o {
            Object::Service(s) => Some(s),
            _ => None,
        })
        .collect()
}

fn blog_services(edit: impl Fn(&mut Service)) -> Vec<ProxyService> {
    let nodes = blog_nodes();
    let pods = blog_pods();
    parse_services(BLOG_SERVICES)
        .into_iter()
        .map(|mut s| {
            edit(&mut s);
            let eps = endpoint_slices(&s, &pods, &nodes);
            let mut ps = ProxyService::new(s, eps);
            if ps.name() == "yelb-ui" {
                ps.load_balancer_ingress = vec![ip("10.169.1.40")];
            }
            ps
        })
        .collect()
}

fn blog_cfg() -> ProxyConfig {
    ProxyConfig {
        cluster_cidr: Some("10.30.64.0/18".parse().expect("cidr")),
        ..ProxyConfig::default()
    }
}

fn compile_on(node_name: &str, services: &[ProxyService], cfg: &ProxyConfig) -> NodeServiceRules {
    let nodes = blog_nodes();
    let n = nodes.iter().find(|n| n.name == node_name).expect("node");
    compile_node(n, services, &nodes, cfg)
}

const W1: &str = "k8s-node-vm-1-cl-02";
const CP1: &str = "k8s-cp-vm-1-cl-02";
const YELB_CIP: &str = "10.30.48.237";
const YELB_LB: &str = "10.169.1.40";
const W1_IP: &str = "10.160.1.25";

// ---- endpoints ------------------------------------------------------------------

#[test]
fn endpoints_follow_selector_namespace_and_named_ports() {
    let svcs = blog_services(|_| {});
    let ui = &svcs[0].endpoints.ports[0];
    let ips: Vec<Ipv4Addr> = ui.endpoints.iter().map(|e| e.ip).collect();
    assert_eq!(
        ips,
        vec![ip("10.30.67.5"), ip("10.30.68.6"), ip("10.30.69.2")]
    );
    assert!(
        ui.endpoints
            .iter()
            .all(|e| e.port == 80 && e.ready && e.serving)
    );
    let dns = &svcs[1].endpoints.ports[0];
    assert_eq!(dns.endpoints.len(), 2);
    assert!(dns.endpoints.iter().all(|e| e.port == 53));
}

#[test]
fn named_target_port_needs_matching_name_and_protocol() {
    let nodes = blog_nodes();
    let mut a = pod("ns", "a", "10.30.67.10", W1, &[("app", "x")]);
    a.ports.push(ContainerPort {
        name: Some("web".into()),
        container_port: 8080,
        protocol: Protocol::Tcp,
    });
    let mut b = pod("ns", "b", "10.30.67.11", W1, &[("app", "x")]);
    // Right name, wrong protocol.
    b.ports.push(ContainerPort {
        name: Some("web".into()),
        container_port: 9090,
        protocol: Protocol::Udp,
    });
    let c = pod("ns", "c", "10.30.67.12", W1, &[("app", "x")]);
    let s = test_service(
        "ns",
        "x",
        "10.96.0.50",
        vec![
            sport(
                Some("named"),
                80,
                TargetPort::Name("web".into()),
                None,
                Protocol::Tcp,
            ),
            sport(
                Some("num"),
                81,
                TargetPort::Number(7000),
                None,
                Protocol::Tcp,
            ),
        ],
    );
    let eps = endpoint_slices(&s, &[a, b, c], &nodes);
    let named: Vec<(Ipv4Addr, u16)> = eps.ports[0]
        .endpoints
        .iter()
        .map(|e| (e.ip, e.port))
        .collect();
    assert_eq!(named, vec![(ip("10.30.67.10"), 8080)]);
    // A numeric targetPort does not look at container ports: all three.
    assert_eq!(eps.ports[1].endpoints.len(), 3);
    assert!(eps.ports[1].endpoints.iter().all(|e| e.port == 7000));
}

#[test]
fn endpoint_conditions_follow_the_controller() {
    let nodes = blog_nodes();
    let mut notready = pod("ns", "n", "10.30.67.20", W1, &[("app", "x")]);
    notready.ready = false;
    let mut term = pod("ns", "t", "10.30.67.21", W1, &[("app", "x")]);
    term.terminating = true;
    let s = test_service(
        "ns",
        "x",
        "10.96.0.51",
        vec![sport(None, 80, TargetPort::Number(80), None, Protocol::Tcp)],
    );
    let eps = endpoint_slices(&s, &[notready, term], &nodes);
    let e = &eps.ports[0].endpoints;
    assert_eq!(
        (e[0].ready, e[0].serving, e[0].terminating),
        (false, false, false)
    );
    assert_eq!(
        (e[1].ready, e[1].serving, e[1].terminating),
        (false, true, true)
    );
}

#[test]
fn service_without_selector_has_no_endpoints() {
    let mut s = test_service(
        "ns",
        "x",
        "10.96.0.52",
        vec![sport(None, 80, TargetPort::Number(80), None, Protocol::Tcp)],
    );
    s.selector.clear();
    let eps = endpoint_slices(&s, &[pod("ns", "a", "10.30.67.1", W1, &[])], &blog_nodes());
    assert!(eps.ports[0].endpoints.is_empty());
}

fn zoned_nodes(zones: &[(&str, &str, u32)]) -> Vec<ProxyNode> {
    zones
        .iter()
        .enumerate()
        .map(|(i, (name, zone, cpu))| {
            let mut n = node(
                name,
                &format!("10.0.0.{}", i + 1),
                &format!("10.1.{i}.0/24"),
                Some(zone),
                false,
            );
            n.cpu_milli = *cpu;
            n
        })
        .collect()
}

fn hinted_service() -> Service {
    let mut s = test_service(
        "ns",
        "h",
        "10.96.0.60",
        vec![sport(None, 80, TargetPort::Number(80), None, Protocol::Tcp)],
    );
    s.meta
        .annotations
        .insert(TOPOLOGY_MODE_ANNOTATION.into(), "Auto".into());
    s
}

fn zoned_pods(list: &[(&str, &str, &str)]) -> Vec<EndpointPod> {
    list.iter()
        .map(|(addr, node, zone)| {
            let mut p = pod("ns", addr, addr, node, &[("app", "x")]);
            p.zone = Some((*zone).to_string());
            p
        })
        .collect()
}

#[test]
fn hints_are_redistributed_in_proportion_to_zones() {
    let nodes = zoned_nodes(&[("a1", "a", 1000), ("b1", "b", 1000), ("c1", "c", 1000)]);
    // Four endpoints in zone a, one each in b and c: a gives two away.
    let pods = zoned_pods(&[
        ("10.1.0.2", "a1", "a"),
        ("10.1.0.3", "a1", "a"),
        ("10.1.0.4", "a1", "a"),
        ("10.1.0.5", "a1", "a"),
        ("10.1.1.2", "b1", "b"),
        ("10.1.2.2", "c1", "c"),
    ]);
    let eps = endpoint_slices(&hinted_service(), &pods, &nodes);
    assert_eq!(eps.hints, HintsOutcome::Assigned);
    let mut per_zone: std::collections::BTreeMap<String, usize> = Default::default();
    for e in &eps.ports[0].endpoints {
        assert_eq!(e.zone_hints.len(), 1);
        *per_zone.entry(e.zone_hints[0].clone()).or_default() += 1;
    }
    assert_eq!(
        per_zone.values().copied().collect::<Vec<_>>(),
        vec![2, 2, 2]
    );
}

#[test]
fn hints_follow_cpu_ratio() {
    let nodes = zoned_nodes(&[("a1", "a", 3000), ("b1", "b", 1000)]);
    let pods = zoned_pods(&[
        ("10.1.1.2", "b1", "b"),
        ("10.1.1.3", "b1", "b"),
        ("10.1.1.4", "b1", "b"),
        ("10.1.1.5", "b1", "b"),
    ]);
    let eps = endpoint_slices(&hinted_service(), &pods, &nodes);
    let hints: Vec<&str> = eps.ports[0]
        .endpoints
        .iter()
        .map(|e| e.zone_hints[0].as_str())
        .collect();
    assert_eq!(hints.iter().filter(|z| **z == "a").count(), 3);
    assert_eq!(hints.iter().filter(|z| **z == "b").count(), 1);
}

#[test]
fn hints_are_removed_when_the_controller_cannot_set_them() {
    let svc = hinted_service();
    // One zone only.
    let one = zoned_nodes(&[("a1", "a", 1000), ("a2", "a", 1000)]);
    let pods = zoned_pods(&[("10.1.0.2", "a1", "a"), ("10.1.1.2", "a2", "a")]);
    let eps = endpoint_slices(&svc, &pods, &one);
    assert!(matches!(eps.hints, HintsOutcome::Removed(_)));
    assert!(
        eps.ports[0]
            .endpoints
            .iter()
            .all(|e| e.zone_hints.is_empty())
    );
    // Fewer endpoints than zones.
    let three = zoned_nodes(&[("a1", "a", 1000), ("b1", "b", 1000), ("c1", "c", 1000)]);
    let eps = endpoint_slices(
        &svc,
        &zoned_pods(&[("10.1.0.2", "a1", "a"), ("10.1.1.2", "b1", "b")]),
        &three,
    );
    assert_eq!(
        eps.hints,
        HintsOutcome::Removed("Insufficient number of endpoints")
    );
    // A node without a zone.
    let mut nz = three.clone();
    nz[2].zone = None;
    let eps = endpoint_slices(
        &svc,
        &zoned_pods(&[("10.1.0.2", "a1", "a"), ("10.1.1.2", "b1", "b")]),
        &nz,
    );
    assert!(matches!(eps.hints, HintsOutcome::Removed(r) if r.starts_with("Insufficient Node")));
    // No annotation: not requested.
    let mut plain = svc.clone();
    plain.meta.annotations.clear();
    let eps = endpoint_slices(&plain, &zoned_pods(&[("10.1.0.2", "a1", "a")]), &three);
    assert_eq!(eps.hints, HintsOutcome::NotRequested);
}

// ---- helpers for hand-made Services -----------------------------------------------

fn sport(
    name: Option<&str>,
    port: u16,
    target: TargetPort,
    node_port: Option<u16>,
    protocol: Protocol,
) -> ServicePort {
    ServicePort {
        name: name.map(str::to_string),
        port,
        target_port: target,
        node_port,
        protocol,
    }
}

fn test_service(ns: &str, name: &str, cip: &str, ports: Vec<ServicePort>) -> Service {
    let mut meta = ObjectMeta::named(name);
    meta.namespace = Some(ns.into());
    Service {
        meta,
        service_type: if ports.iter().any(|p| p.node_port.is_some()) {
            ServiceType::NodePort
        } else {
            ServiceType::ClusterIp
        },
        cluster_ip: Some(ClusterIp::Ip(ip(cip))),
        ports,
        selector: IndexMap::from([("app".to_string(), "x".to_string())]),
        load_balancer_ip: None,
        external_traffic_policy: TrafficPolicy::Cluster,
        internal_traffic_policy: TrafficPolicy::Cluster,
        session_affinity: SessionAffinity::None,
    }
}

fn ep(addr: &str, port: u16, node: &str) -> Endpoint {
    Endpoint {
        pod: format!("ns/{addr}"),
        ip: ip(addr),
        port,
        node: node.into(),
        zone: None,
        ready: true,
        serving: true,
        terminating: false,
        zone_hints: vec![],
    }
}

fn with_eps(svc: Service, eps: Vec<Endpoint>) -> ProxyService {
    let ports = svc
        .ports
        .iter()
        .map(|p| PortEndpoints {
            port_name: p.name.clone(),
            protocol: p.protocol,
            endpoints: eps.clone(),
        })
        .collect();
    ProxyService::new(
        svc,
        ServiceEndpoints {
            ports,
            hints: HintsOutcome::NotRequested,
        },
    )
}

fn classify_ok(
    r: &NodeServiceRules,
    o: TrafficOrigin,
    dst: &str,
    port: u16,
    p: Protocol,
) -> ServiceMatch {
    classify(r, o, ip(dst), port, p).expect("a proxy handles it")
}

// ---- traffic policies ------------------------------------------------------------

#[test]
fn external_traffic_policy_local_uses_local_endpoints_for_external_sources_only() {
    let svcs = blog_services(|s| s.external_traffic_policy = TrafficPolicy::Local);
    let cfg = ProxyConfig {
        proxy_all: true,
        kube_proxy: None,
        ..blog_cfg()
    };
    let r = compile_on(W1, &svcs, &cfg);
    let ext = classify_ok(&r, TrafficOrigin::External, YELB_LB, 80, Protocol::Tcp);
    assert_eq!(ext.proxy, ProxyKind::AntreaProxy);
    assert_eq!(ext.endpoints, vec![(ip("10.30.67.5"), 80)]);
    let np = classify_ok(&r, TrafficOrigin::External, W1_IP, 32611, Protocol::Tcp);
    assert_eq!(np.vip, VipKind::NodePort);
    assert_eq!(np.endpoints, vec![(ip("10.30.67.5"), 80)]);
    // Pod and host sources are short-circuited to every endpoint.
    for o in [TrafficOrigin::Pod, TrafficOrigin::Node] {
        assert_eq!(
            classify_ok(&r, o, YELB_LB, 80, Protocol::Tcp)
                .endpoints
                .len(),
            3
        );
    }
    // ClusterIP is not affected.
    assert_eq!(
        classify_ok(&r, TrafficOrigin::External, YELB_CIP, 80, Protocol::Tcp)
            .endpoints
            .len(),
        3
    );
    // A node without a local endpoint rejects external traffic.
    let cp = compile_on(CP1, &svcs, &cfg);
    let m = classify_ok(&cp, TrafficOrigin::External, YELB_LB, 80, Protocol::Tcp);
    assert!(m.endpoints.is_empty());
    assert_eq!(m.no_endpoints, Some(NoEndpointsAction::TcpReset));
    // kube-proxy drops instead ("has no local endpoints").
    let kp = compile_on(CP1, &svcs, &blog_cfg());
    let m = classify_ok(&kp, TrafficOrigin::External, YELB_LB, 80, Protocol::Tcp);
    assert_eq!(m.proxy, ProxyKind::KubeProxyIptables);
    assert_eq!(m.no_endpoints, Some(NoEndpointsAction::Drop));
    assert_eq!(m.snat, SnatPolicy::None);
    assert!(render_kube_proxy(&kp).contains("has no local endpoints\" -m tcp --dport 80 -j DROP"));
    // Cluster policy masquerades external traffic in kube-proxy.
    let svcs_c = blog_services(|_| {});
    let kp = compile_on(CP1, &svcs_c, &blog_cfg());
    let m = classify_ok(&kp, TrafficOrigin::External, YELB_LB, 80, Protocol::Tcp);
    assert_eq!(m.snat, SnatPolicy::Masquerade);
    assert_eq!(m.endpoints.len(), 3);
}

#[test]
fn internal_traffic_policy_local_uses_local_endpoints_for_cluster_ip() {
    let svcs = blog_services(|s| s.internal_traffic_policy = TrafficPolicy::Local);
    let r = compile_on(W1, &svcs, &blog_cfg());
    let m = classify_ok(&r, TrafficOrigin::Pod, YELB_CIP, 80, Protocol::Tcp);
    assert_eq!(m.proxy, ProxyKind::AntreaProxy);
    assert_eq!(m.endpoints, vec![(ip("10.30.67.5"), 80)]);
    // External destinations still use every endpoint (ETP Cluster).
    let m = classify_ok(&r, TrafficOrigin::Pod, YELB_LB, 80, Protocol::Tcp);
    assert_eq!(m.endpoints.len(), 3);
    // No local endpoint on a control-plane node: Antrea rejects, kube-proxy drops.
    let cp = compile_on(CP1, &svcs, &blog_cfg());
    let m = classify_ok(&cp, TrafficOrigin::Pod, YELB_CIP, 80, Protocol::Tcp);
    assert_eq!(m.no_endpoints, Some(NoEndpointsAction::TcpReset));
    let m = classify_ok(&cp, TrafficOrigin::Node, YELB_CIP, 80, Protocol::Tcp);
    assert_eq!(m.proxy, ProxyKind::KubeProxyIptables);
    assert_eq!(m.no_endpoints, Some(NoEndpointsAction::Drop));
}

#[test]
fn terminating_serving_endpoints_are_a_fallback_only() {
    let mut a = ep("10.30.67.30", 80, W1);
    a.ready = false;
    a.terminating = true;
    let b = ep("10.30.68.30", 80, "k8s-node-vm-2-cl-02");
    let svc = test_service(
        "ns",
        "t",
        "10.96.0.70",
        vec![sport(None, 80, TargetPort::Number(80), None, Protocol::Tcp)],
    );
    let r = compile_on(
        W1,
        &[with_eps(svc.clone(), vec![a.clone(), b.clone()])],
        &blog_cfg(),
    );
    let m = classify_ok(&r, TrafficOrigin::Pod, "10.96.0.70", 80, Protocol::Tcp);
    assert_eq!(m.endpoints, vec![(b.ip, 80)]);
    let mut b2 = b.clone();
    b2.ready = false;
    b2.serving = false;
    let r = compile_on(W1, &[with_eps(svc, vec![a.clone(), b2])], &blog_cfg());
    let m = classify_ok(&r, TrafficOrigin::Pod, "10.96.0.70", 80, Protocol::Tcp);
    assert_eq!(m.endpoints, vec![(a.ip, 80)]);
}

// ---- topology hints in the proxies ------------------------------------------------

fn hinted_eps(hints: &[(&str, &str, &[&str])]) -> Vec<Endpoint> {
    hints
        .iter()
        .map(|(addr, node, zones)| {
            let mut e = ep(addr, 80, node);
            e.zone_hints = zones.iter().map(|z| (*z).to_string()).collect();
            e
        })
        .collect()
}

fn topo_rules(
    eps: Vec<Endpoint>,
    gate: bool,
    annotate: bool,
    zone: Option<&str>,
) -> NodeServiceRules {
    let mut svc = test_service(
        "ns",
        "h",
        "10.96.0.61",
        vec![sport(None, 80, TargetPort::Number(80), None, Protocol::Tcp)],
    );
    if annotate {
        svc.meta
            .annotations
            .insert(TOPOLOGY_HINTS_ANNOTATION.into(), "auto".into());
    }
    let me = node("n-a", "10.0.0.1", "10.1.0.0/24", zone, false);
    let cfg = ProxyConfig {
        topology_aware_hints: gate,
        ..ProxyConfig::default()
    };
    compile_node(&me, &[with_eps(svc, eps)], std::slice::from_ref(&me), &cfg)
}

fn topo_eps(r: &NodeServiceRules) -> Vec<Ipv4Addr> {
    classify_ok(r, TrafficOrigin::Pod, "10.96.0.61", 80, Protocol::Tcp)
        .endpoints
        .iter()
        .map(|e| e.0)
        .collect()
}

#[test]
fn hints_filter_to_this_zone_and_fall_back_to_all() {
    let good = hinted_eps(&[
        ("10.1.0.2", "n-a", &["a"]),
        ("10.1.1.2", "n-b", &["b"]),
        ("10.1.1.3", "n-b", &["a"]),
    ]);
    let r = topo_rules(good.clone(), true, true, Some("a"));
    assert_eq!(topo_eps(&r), vec![ip("10.1.0.2"), ip("10.1.1.3")]);
    // Gate off, annotation missing, node without zone: all endpoints.
    assert_eq!(
        topo_eps(&topo_rules(good.clone(), false, true, Some("a"))).len(),
        3
    );
    assert_eq!(
        topo_eps(&topo_rules(good.clone(), true, false, Some("a"))).len(),
        3
    );
    assert_eq!(
        topo_eps(&topo_rules(good.clone(), true, true, None)).len(),
        3
    );
    // One ready endpoint without a hint: all.
    let missing = hinted_eps(&[("10.1.0.2", "n-a", &["a"]), ("10.1.1.2", "n-b", &[])]);
    assert_eq!(
        topo_eps(&topo_rules(missing, true, true, Some("a"))).len(),
        2
    );
    // A not-ready endpoint without a hint does not matter.
    let mut nr = hinted_eps(&[
        ("10.1.0.2", "n-a", &["a"]),
        ("10.1.1.2", "n-b", &["b"]),
        ("10.1.1.9", "n-b", &[]),
    ]);
    nr[2].ready = false;
    assert_eq!(
        topo_eps(&topo_rules(nr, true, true, Some("a"))),
        vec![ip("10.1.0.2")]
    );
    // No endpoint hinted for this zone: all.
    let other = hinted_eps(&[("10.1.1.2", "n-b", &["b"]), ("10.1.2.2", "n-c", &["c"])]);
    assert_eq!(topo_eps(&topo_rules(other, true, true, Some("a"))).len(), 2);
}

// ---- affinity --------------------------------------------------------------------

#[test]
fn affinity_timeout_is_capped_for_antrea_only() {
    let svcs = blog_services(|s| {
        s.session_affinity = SessionAffinity::ClientIp {
            timeout_seconds: 86400,
        }
    });
    let r = compile_on(W1, &svcs, &blog_cfg());
    let m = classify_ok(&r, TrafficOrigin::Pod, YELB_CIP, 80, Protocol::Tcp);
    assert_eq!(m.affinity_timeout, Some(65535));
    assert!(render_antrea(&r).contains("hard_timeout=65535"));
    let k = classify_ok(&r, TrafficOrigin::Node, YELB_CIP, 80, Protocol::Tcp);
    assert_eq!(k.proxy, ProxyKind::KubeProxyIptables);
    assert_eq!(k.affinity_timeout, Some(86400));
    assert!(render_kube_proxy(&r).contains("--rcheck --seconds 86400 --reap"));
}

#[test]
fn antrea_affinity_is_a_hard_timeout_kube_proxy_slides() {
    let svcs = blog_services(|s| {
        s.session_affinity = SessionAffinity::ClientIp {
            timeout_seconds: 100,
        }
    });
    let r = compile_on(W1, &svcs, &blog_cfg());
    let client = ip("10.30.67.77");
    let at = |s: u64| SimTime::ZERO + SimDuration::from_secs(s);
    for (origin, proxy) in [
        (TrafficOrigin::Pod, ProxyKind::AntreaProxy),
        (TrafficOrigin::Node, ProxyKind::KubeProxyIptables),
    ] {
        let m = classify_ok(&r, origin, YELB_CIP, 80, Protocol::Tcp);
        assert_eq!(m.proxy, proxy);
        let mut t = AffinityTable::new();
        let first = t.select(at(0), client, &m, 1).expect("endpoint");
        // Whatever the next connections hash to, the client sticks.
        for (i, s) in [10u64, 60, 99].into_iter().enumerate() {
            assert_eq!(t.select(at(s), client, &m, 1000 + i as u64), Some(first));
        }
        // At 150 s: Antrea's learned flow (created at 0) is gone, kube-proxy's
        // entry was refreshed at 99 s.
        let valid = t.lookup(at(150), client, &m);
        match proxy {
            ProxyKind::AntreaProxy => assert_eq!(valid, None),
            _ => assert_eq!(valid, Some(first)),
        }
        assert_eq!(
            t.lookup(at(198), client, &m).is_some(),
            proxy != ProxyKind::AntreaProxy
        );
        assert_eq!(t.lookup(at(200), client, &m), None);
        assert_eq!(t.expire(at(200)), 1);
        assert!(t.is_empty());
    }
}

#[test]
fn affinity_entry_for_a_removed_endpoint_is_ignored() {
    let svcs = blog_services(|s| {
        s.session_affinity = SessionAffinity::ClientIp {
            timeout_seconds: 100,
        }
    });
    let r = compile_on(W1, &svcs, &blog_cfg());
    let mut m = classify_ok(&r, TrafficOrigin::Pod, YELB_CIP, 80, Protocol::Tcp);
    let mut t = AffinityTable::new();
    let client = ip("10.30.67.77");
    let first = t.select(SimTime::ZERO, client, &m, 7).expect("endpoint");
    m.endpoints.retain(|e| *e != first);
    let second = t.select(SimTime::ZERO, client, &m, 7).expect("endpoint");
    assert_ne!(first, second);
    assert!(m.endpoints.contains(&second));
}

// ---- no endpoints ------------------------------------------------------------------

#[test]
fn no_endpoints_behaviour_per_proxy_and_protocol() {
    let svc_tcp = test_service(
        "ns",
        "e",
        "10.96.0.80",
        vec![sport(
            Some("t"),
            80,
            TargetPort::Number(80),
            Some(30080),
            Protocol::Tcp,
        )],
    );
    let svc_udp = test_service(
        "ns",
        "u",
        "10.96.0.81",
        vec![sport(
            Some("u"),
            53,
            TargetPort::Number(53),
            None,
            Protocol::Udp,
        )],
    );
    let svcs = vec![with_eps(svc_tcp, vec![]), with_eps(svc_udp, vec![])];
    let r = compile_on(W1, &svcs, &blog_cfg());
    let t = classify_ok(&r, TrafficOrigin::Pod, "10.96.0.80", 80, Protocol::Tcp);
    assert_eq!(t.no_endpoints, Some(NoEndpointsAction::TcpReset));
    assert_eq!(pick_endpoint(&t, 1), None);
    let u = classify_ok(&r, TrafficOrigin::Pod, "10.96.0.81", 53, Protocol::Udp);
    assert_eq!(
        u.no_endpoints,
        Some(NoEndpointsAction::IcmpUnreachable { code: 10 })
    );
    // kube-proxy REJECTs with ICMP port unreachable, TCP included.
    let k = classify_ok(&r, TrafficOrigin::Node, "10.96.0.80", 80, Protocol::Tcp);
    assert_eq!(
        k.no_endpoints,
        Some(NoEndpointsAction::IcmpUnreachable { code: 3 })
    );
    let k = classify_ok(&r, TrafficOrigin::External, W1_IP, 30080, Protocol::Tcp);
    assert_eq!(
        k.no_endpoints,
        Some(NoEndpointsAction::IcmpUnreachable { code: 3 })
    );
    let ipt = render_kube_proxy(&r);
    assert!(ipt.contains("-A KUBE-SERVICES -d 10.96.0.80/32 -p tcp -m comment --comment \"ns/e:t has no endpoints\" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable"));
    assert!(ipt.contains("-A KUBE-EXTERNAL-SERVICES -p tcp -m comment --comment \"ns/e:t has no endpoints\" -m addrtype --dst-type LOCAL -m tcp --dport 30080 -j REJECT"));
    assert!(
        !ipt.contains("KUBE-SVC-"),
        "no nat chains without endpoints"
    );
    // Antrea's group loads SvcNoEpRegMark.
    let ovs = render_antrea(&r);
    assert!(ovs.contains("bucket=bucket_id:0,weight:100,actions=set_field:0x4000/0x4000->reg0,resubmit(,EndpointDNAT)"));
    // IPVS: a virtual server without real servers.
    let ipvs = compile_on(
        W1,
        &svcs,
        &ProxyConfig {
            kube_proxy: Some(KubeProxyMode::Ipvs { strict_arp: true }),
            ..blog_cfg()
        },
    );
    let k = classify_ok(&ipvs, TrafficOrigin::Node, "10.96.0.80", 80, Protocol::Tcp);
    assert_eq!(k.proxy, ProxyKind::KubeProxyIpvs);
    assert_eq!(
        k.no_endpoints,
        Some(NoEndpointsAction::IcmpUnreachable { code: 3 })
    );
}

// ---- handler precedence ------------------------------------------------------------

#[test]
fn handler_precedence_matrix() {
    use ProxyKind::{AntreaProxy as A, KubeProxyIptables as K, KubeProxyIpvs as V};
    let ipt = Some(KubeProxyMode::Iptables);
    let ipvs = Some(KubeProxyMode::Ipvs { strict_arp: true });
    let cfg = |antrea: bool, all: bool, kube: Option<KubeProxyMode>, first: bool| ProxyConfig {
        antrea_proxy: antrea,
        proxy_all: all,
        kube_proxy: kube,
        antrea_first_with_proxy_all: first,
        ..blog_cfg()
    };
    // Rows: (config, [pod, node, external] × [ClusterIP, NodePort, LB IP]).
    type Row = [[Option<ProxyKind>; 3]; 3];
    let cases: Vec<(&str, ProxyConfig, Row)> = vec![
        (
            "antrea off",
            cfg(false, false, ipt, false),
            [[Some(K); 3], [Some(K); 3], [Some(K); 3]],
        ),
        (
            "default",
            cfg(true, false, ipt, false),
            [[Some(A), Some(K), Some(A)], [Some(K); 3], [Some(K); 3]],
        ),
        (
            "proxyAll v1.15 + kube-proxy",
            cfg(true, true, ipt, false),
            [[Some(A); 3], [Some(K); 3], [Some(K); 3]],
        ),
        (
            "proxyAll v2.1 + kube-proxy",
            cfg(true, true, ipt, true),
            [
                [Some(A); 3],
                [Some(K), Some(A), Some(A)],
                [Some(K), Some(A), Some(A)],
            ],
        ),
        (
            "proxyAll v2.1 + IPVS",
            cfg(true, true, ipvs, true),
            [[Some(A); 3], [Some(V); 3], [Some(V); 3]],
        ),
        (
            "proxyAll, no kube-proxy",
            cfg(true, true, None, false),
            [[Some(A); 3], [Some(A); 3], [Some(A); 3]],
        ),
        (
            "no proxyAll, no kube-proxy",
            cfg(true, false, None, false),
            [[Some(A), None, Some(A)], [None; 3], [None; 3]],
        ),
    ];
    let svcs = blog_services(|_| {});
    let dsts = [(YELB_CIP, 80), (W1_IP, 32611), (YELB_LB, 80)];
    let origins = [
        TrafficOrigin::Pod,
        TrafficOrigin::Node,
        TrafficOrigin::External,
    ];
    for (label, c, row) in cases {
        let r = compile_on(W1, &svcs, &c);
        for (oi, o) in origins.iter().enumerate() {
            for (di, (dst, port)) in dsts.iter().enumerate() {
                let got = classify(&r, *o, ip(dst), *port, Protocol::Tcp).map(|m| m.proxy);
                assert_eq!(got, row[oi][di], "{label}: {o:?} -> {dst}:{port}");
            }
        }
    }
}

#[test]
fn skip_services_and_proxy_load_balancer_ips_hand_traffic_to_kube_proxy() {
    let svcs = blog_services(|_| {});
    let skip = ProxyConfig {
        skip_services: vec!["yelb/yelb-ui".into()],
        ..blog_cfg()
    };
    let r = compile_on(W1, &svcs, &skip);
    assert_eq!(
        classify_ok(&r, TrafficOrigin::Pod, YELB_CIP, 80, Protocol::Tcp).proxy,
        ProxyKind::KubeProxyIptables
    );
    // Skipping by ClusterIP works too; kube-dns is untouched.
    let skip_ip = ProxyConfig {
        skip_services: vec![YELB_CIP.into()],
        kube_proxy: None,
        ..blog_cfg()
    };
    let r = compile_on(W1, &svcs, &skip_ip);
    assert!(classify(&r, TrafficOrigin::Pod, ip(YELB_CIP), 80, Protocol::Tcp).is_none());
    assert_eq!(
        classify_ok(&r, TrafficOrigin::Pod, "10.30.0.3", 53, Protocol::Udp).proxy,
        ProxyKind::AntreaProxy
    );
    let nolb = ProxyConfig {
        proxy_load_balancer_ips: false,
        ..blog_cfg()
    };
    let r = compile_on(W1, &svcs, &nolb);
    assert_eq!(
        classify_ok(&r, TrafficOrigin::Pod, YELB_LB, 80, Protocol::Tcp).proxy,
        ProxyKind::KubeProxyIptables
    );
    assert!(!render_antrea(&r).contains(YELB_LB));
}

#[test]
fn nodeport_addresses_restrict_antrea_nodeports() {
    let svcs = blog_services(|_| {});
    let cfg = ProxyConfig {
        proxy_all: true,
        kube_proxy: None,
        node_port_addresses: vec!["192.168.0.0/16".parse().expect("cidr")],
        ..blog_cfg()
    };
    let r = compile_on(W1, &svcs, &cfg);
    assert!(r.antrea_nodeport_addresses.is_empty());
    assert!(classify(&r, TrafficOrigin::External, ip(W1_IP), 32611, Protocol::Tcp).is_none());
    // antrea-gw0 is never a NodePort address for Antrea, but is for kube-proxy.
    let gw = "10.30.67.1";
    assert!(
        classify(
            &compile_on(
                W1,
                &svcs,
                &ProxyConfig {
                    node_port_addresses: vec![],
                    ..cfg.clone()
                }
            ),
            TrafficOrigin::External,
            ip(gw),
            32611,
            Protocol::Tcp
        )
        .is_none()
    );
    let k = compile_on(W1, &svcs, &blog_cfg());
    assert_eq!(
        classify_ok(&k, TrafficOrigin::External, gw, 32611, Protocol::Tcp).proxy,
        ProxyKind::KubeProxyIptables
    );
}

#[test]
fn load_balancer_mode_annotation_needs_the_dsr_gate() {
    let svcs = blog_services(|s| {
        s.meta
            .annotations
            .insert(LB_MODE_ANNOTATION.into(), "dsr".into());
    });
    let base = ProxyConfig {
        proxy_all: true,
        kube_proxy: None,
        ..blog_cfg()
    };
    let r = compile_on(W1, &svcs, &base);
    assert_eq!(
        classify_ok(&r, TrafficOrigin::External, YELB_LB, 80, Protocol::Tcp).lb_mode,
        LbMode::Nat
    );
    let dsr = ProxyConfig {
        dsr_enabled: true,
        ..base
    };
    let r = compile_on(W1, &svcs, &dsr);
    let m = classify_ok(&r, TrafficOrigin::External, YELB_LB, 80, Protocol::Tcp);
    assert_eq!(m.lb_mode, LbMode::Dsr);
    assert_eq!(m.snat, SnatPolicy::None);
    // Not for pods, not for NodePort.
    assert_eq!(
        classify_ok(&r, TrafficOrigin::Pod, YELB_LB, 80, Protocol::Tcp).lb_mode,
        LbMode::Nat
    );
    assert_eq!(
        classify_ok(&r, TrafficOrigin::External, W1_IP, 32611, Protocol::Tcp).lb_mode,
        LbMode::Nat
    );
    let ovs = render_antrea(&r);
    assert!(ovs.contains("table=DSRServiceMark, priority=200,tcp,reg4=0xc000000/0xe000000,nw_dst=10.169.1.40,tp_dst=80"));
}

#[test]
fn ipvs_arp_addresses_depend_on_strict_arp() {
    let svcs = blog_services(|_| {});
    let loose = compile_on(
        W1,
        &svcs,
        &ProxyConfig {
            kube_proxy: Some(KubeProxyMode::Ipvs { strict_arp: false }),
            ..blog_cfg()
        },
    );
    assert_eq!(
        loose.ipvs_arp_addresses(),
        vec![ip("10.30.0.3"), ip(YELB_CIP), ip(YELB_LB)]
    );
    let strict = compile_on(
        W1,
        &svcs,
        &ProxyConfig {
            kube_proxy: Some(KubeProxyMode::Ipvs { strict_arp: true }),
            ..blog_cfg()
        },
    );
    assert!(strict.ipvs_arp_addresses().is_empty());
    assert_eq!(strict.kube_ipvs0_addresses().len(), 3);
}

// ---- endpoint choice ------------------------------------------------------------------

fn spread_match(proxy: ProxyKind, n: usize) -> ServiceMatch {
    ServiceMatch {
        service: ServicePortName {
            namespace: "ns".into(),
            name: "s".into(),
            port: None,
        },
        proxy,
        vip: VipKind::ClusterIp,
        dst: ip("10.96.0.1"),
        dport: 80,
        protocol: Protocol::Tcp,
        origin: TrafficOrigin::Pod,
        endpoints: (0..n)
            .map(|i| (Ipv4Addr::new(10, 1, 0, 2 + i as u8), 8080))
            .collect(),
        affinity_timeout: None,
        lb_mode: LbMode::Nat,
        no_endpoints: None,
        snat: SnatPolicy::None,
    }
}

#[test]
fn pick_endpoint_spreads_over_every_candidate() {
    for proxy in [
        ProxyKind::AntreaProxy,
        ProxyKind::KubeProxyIptables,
        ProxyKind::KubeProxyIpvs,
    ] {
        for n in [1usize, 2, 3, 10] {
            let m = spread_match(proxy, n);
            let mut hits = vec![0usize; n];
            let draws = 6000;
            for h in 0..draws as u64 {
                let e = pick_endpoint(&m, h).expect("non-empty");
                let i = m
                    .endpoints
                    .iter()
                    .position(|x| *x == e)
                    .expect("a candidate");
                hits[i] += 1;
                assert_eq!(pick_endpoint(&m, h), Some(e), "deterministic");
            }
            let fair = draws / n;
            for (i, h) in hits.iter().enumerate() {
                assert!(
                    *h * 3 > fair * 2 && *h * 3 < fair * 4,
                    "{proxy:?} n={n} endpoint {i}: {h} of {draws}"
                );
            }
        }
    }
}

#[test]
fn antrea_choice_is_stable_when_another_endpoint_goes() {
    let m = spread_match(ProxyKind::AntreaProxy, 5);
    let gone = m.endpoints[2];
    let mut fewer = m.clone();
    fewer.endpoints.retain(|e| *e != gone);
    for h in 0..2000u64 {
        let before = pick_endpoint(&m, h).expect("some");
        if before != gone {
            assert_eq!(pick_endpoint(&fewer, h), Some(before));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn pick_endpoint_returns_only_candidates(
        n in 0usize..12,
        hash in any::<u64>(),
        kind in 0u8..3,
    ) {
        let proxy = [ProxyKind::AntreaProxy, ProxyKind::KubeProxyIptables, ProxyKind::KubeProxyIpvs][kind as usize];
        let m = spread_match(proxy, n);
        match pick_endpoint(&m, hash) {
            None => prop_assert_eq!(n, 0),
            Some(e) => prop_assert!(m.endpoints.contains(&e)),
        }
    }
}

// ---- incremental == full ---------------------------------------------------------------

/// A random Service: index picks name/ClusterIP; the rest shapes it.
#[derive(Clone, Debug)]
struct SvcSpec {
    idx: u8,
    kind: u8,
    etp_local: bool,
    itp_local: bool,
    affinity: Option<u32>,
    udp: bool,
    dsr: bool,
    hinted: bool,
    eps: Vec<(u8, u8, bool, bool)>,
}

fn svc_spec() -> impl Strategy<Value = SvcSpec> {
    (
        0u8..6,
        0u8..3,
        any::<bool>(),
        any::<bool>(),
        prop::option::of(1u32..90000),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec((0u8..5, 2u8..6, any::<bool>(), any::<bool>()), 0..5),
    )
        .prop_map(
            |(idx, kind, etp_local, itp_local, affinity, udp, dsr, hinted, eps)| SvcSpec {
                idx,
                kind,
                etp_local,
                itp_local,
                affinity,
                udp,
                dsr,
                hinted,
                eps,
            },
        )
}

fn build(spec: &SvcSpec) -> ProxyService {
    let nodes = blog_nodes();
    let protocol = if spec.udp {
        Protocol::Udp
    } else {
        Protocol::Tcp
    };
    let node_port = (spec.kind > 0).then_some(30000 + u16::from(spec.idx));
    let mut s = test_service(
        "p",
        &format!("s{}", spec.idx),
        &format!("10.96.1.{}", spec.idx + 1),
        vec![sport(
            Some("p"),
            80 + u16::from(spec.idx % 2),
            TargetPort::Number(8080),
            node_port,
            protocol,
        )],
    );
    s.service_type = [
        ServiceType::ClusterIp,
        ServiceType::NodePort,
        ServiceType::LoadBalancer,
    ][spec.kind as usize];
    if spec.etp_local {
        s.external_traffic_policy = TrafficPolicy::Local;
    }
    if spec.itp_local {
        s.internal_traffic_policy = TrafficPolicy::Local;
    }
    if let Some(t) = spec.affinity {
        s.session_affinity = SessionAffinity::ClientIp { timeout_seconds: t };
    }
    if spec.dsr {
        s.meta
            .annotations
            .insert(LB_MODE_ANNOTATION.into(), "dsr".into());
    }
    if spec.hinted {
        s.meta
            .annotations
            .insert(TOPOLOGY_MODE_ANNOTATION.into(), "Auto".into());
    }
    let mut eps: Vec<Endpoint> = spec
        .eps
        .iter()
        .map(|(n, host, ready, term)| {
            let nd = &nodes[*n as usize];
            let base = u32::from(nd.pod_cidr.expect("set").network());
            let mut e = ep(
                &Ipv4Addr::from(base + u32::from(*host)).to_string(),
                8080,
                &nd.name,
            );
            e.ready = *ready && !*term;
            e.terminating = *term;
            e.serving = *ready;
            if spec.hinted && *ready {
                e.zone_hints = vec![if *n % 2 == 0 { "a".into() } else { "b".into() }];
            }
            e
        })
        .collect();
    eps.sort_by_key(|e| e.ip);
    eps.dedup_by_key(|e| e.ip);
    let mut ps = with_eps(s, eps);
    if spec.kind == 2 {
        ps.load_balancer_ingress = vec![Ipv4Addr::new(10, 169, 1, 40 + spec.idx)];
    }
    if spec.idx.is_multiple_of(3) {
        ps.external_ips = vec![Ipv4Addr::new(172, 16, 0, spec.idx)];
    }
    ps
}

#[derive(Clone, Debug)]
enum Op {
    Upsert(SvcSpec),
    Remove(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => svc_spec().prop_map(Op::Upsert),
        1 => (0u8..6).prop_map(Op::Remove),
    ]
}

fn cfg_strategy() -> impl Strategy<Value = ProxyConfig> {
    (
        any::<bool>(),
        any::<bool>(),
        0u8..3,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(all, lbips, kube, dsr, topo)| ProxyConfig {
            proxy_all: all,
            proxy_load_balancer_ips: lbips,
            kube_proxy: [
                None,
                Some(KubeProxyMode::Iptables),
                Some(KubeProxyMode::Ipvs { strict_arp: false }),
            ][kube as usize],
            dsr_enabled: dsr,
            topology_aware_hints: topo,
            skip_services: vec!["p/s5".into()],
            ..blog_cfg()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn incremental_update_equals_full_recompile(
        initial in prop::collection::vec(svc_spec(), 0..5),
        ops in prop::collection::vec(op(), 1..12),
        cfg in cfg_strategy(),
        node_idx in 0usize..5,
    ) {
        let mut nodes = blog_nodes();
        for (i, n) in nodes.iter_mut().enumerate() {
            n.zone = Some(if i % 2 == 0 { "a".into() } else { "b".into() });
        }
        let me = nodes[node_idx].clone();
        // The current Service set, by index (later upserts replace earlier ones).
        let mut current: std::collections::BTreeMap<u8, ProxyService> = Default::default();
        for s in &initial {
            current.insert(s.idx, build(s));
        }
        let start: Vec<ProxyService> = current.values().cloned().collect();
        let mut inc = compile_node(&me, &start, &nodes, &cfg);
        for o in &ops {
            match o {
                Op::Upsert(s) => {
                    let ps = build(s);
                    update_service(&mut inc, &ps);
                    current.insert(s.idx, ps);
                }
                Op::Remove(i) => {
                    remove_service(&mut inc, "p", &format!("s{i}"));
                    current.remove(i);
                }
            }
        }
        let all: Vec<ProxyService> = current.values().cloned().collect();
        let full = compile_node(&me, &all, &nodes, &cfg);
        prop_assert_eq!(&inc, &full);
        prop_assert_eq!(render_antrea(&inc), render_antrea(&full));
        prop_assert_eq!(render_kube_proxy(&inc), render_kube_proxy(&full));
        // Counts agree with the renders.
        let c = rule_counts(&full);
        let ovs = render_antrea(&full);
        prop_assert_eq!(c.antrea_flows, ovs.lines().filter(|l| l.starts_with("table=")).count());
        prop_assert_eq!(c.antrea_groups, ovs.lines().filter(|l| l.starts_with("group_id=")).count());
        let kp = render_kube_proxy(&full);
        prop_assert_eq!(c.iptables_rules, kp.lines().filter(|l| l.starts_with("-A ")).count());
        prop_assert_eq!(c.ipvs_real_servers, kp.lines().filter(|l| l.starts_with("  -> ") && !l.contains("RemoteAddress")).count());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Nodes compiled through one memo (sharing their class's table) install
    /// exactly what each would compile alone: endpoints on some nodes, two
    /// zones, every proxy mode.
    #[test]
    fn nodes_sharing_a_memo_compile_what_each_compiles_alone(
        specs in prop::collection::vec(svc_spec(), 0..6),
        cfg in cfg_strategy(),
    ) {
        let mut nodes = blog_nodes();
        for (i, n) in nodes.iter_mut().enumerate() {
            n.zone = Some(if i % 2 == 0 { "a".into() } else { "b".into() });
        }
        let mut by_idx: std::collections::BTreeMap<u8, ProxyService> = Default::default();
        for s in &specs {
            by_idx.insert(s.idx, build(s));
        }
        let services: Vec<ProxyService> = by_idx.into_values().collect();
        let mut memo = super::ServiceMemo::default();
        for me in &nodes {
            let shared = super::compile_node_with(me, &services, &nodes, &cfg, &mut memo);
            let alone = super::compile::compile_node_alone(me, &services, &nodes, &cfg);
            prop_assert_eq!(&shared, &alone);
            prop_assert!(shared.ports().eq(alone.ports()));
            prop_assert_eq!(shared.port_count(), alone.ports().count());
            prop_assert_eq!(alone.port_count(), alone.ports().count());
            prop_assert_eq!(render_antrea(&shared), render_antrea(&alone));
            prop_assert_eq!(render_kube_proxy(&shared), render_kube_proxy(&alone));
            for port in [53, 80, 443, 8080, 30000, 30080, 31000, 32000] {
                prop_assert_eq!(shared.may_match(port), alone.may_match(port));
            }
        }
        // The nodes of a zone hold one table.
        let a0 = super::compile_node_with(&nodes[0], &services, &nodes, &cfg, &mut memo);
        let a2 = super::compile_node_with(&nodes[2], &services, &nodes, &cfg, &mut memo);
        prop_assert!(std::sync::Arc::ptr_eq(a0.shared(), a2.shared()));
    }
}

// ---- renders ---------------------------------------------------------------------------

#[test]
fn render_antrea_default_snapshot() {
    let r = compile_on(W1, &blog_services(|_| {}), &blog_cfg());
    insta::assert_snapshot!("antrea_default_w1", render_antrea(&r));
}

#[test]
fn render_antrea_proxy_all_snapshot() {
    let cfg = ProxyConfig {
        proxy_all: true,
        kube_proxy: None,
        ..blog_cfg()
    };
    let svcs = blog_services(|s| {
        if s.meta.name == "yelb-ui" {
            s.external_traffic_policy = TrafficPolicy::Local;
            s.session_affinity = SessionAffinity::ClientIp {
                timeout_seconds: 10800,
            };
        }
    });
    let r = compile_on(W1, &svcs, &cfg);
    insta::assert_snapshot!("antrea_proxy_all_etp_local_affinity_w1", render_antrea(&r));
}

#[test]
fn render_kube_proxy_iptables_snapshot() {
    let r = compile_on(W1, &blog_services(|_| {}), &blog_cfg());
    let text = render_kube_proxy(&r);
    // The well-known kube-dns chain name.
    assert!(text.contains(":KUBE-SVC-TCOU7JCQXEZGVUNU - [0:0]"));
    assert!(text.contains("--probability 0.33333333349"));
    insta::assert_snapshot!("kube_proxy_iptables_w1", text);
}

#[test]
fn render_kube_proxy_iptables_etp_local_snapshot() {
    let svcs = blog_services(|s| s.external_traffic_policy = TrafficPolicy::Local);
    let r = compile_on(W1, &svcs, &blog_cfg());
    insta::assert_snapshot!("kube_proxy_iptables_etp_local_w1", render_kube_proxy(&r));
}

#[test]
fn render_kube_proxy_ipvs_snapshot() {
    let cfg = ProxyConfig {
        kube_proxy: Some(KubeProxyMode::Ipvs { strict_arp: true }),
        ..blog_cfg()
    };
    let r = compile_on("k8s-node-vm-3-cl-02", &blog_services(|_| {}), &cfg);
    let text = render_kube_proxy(&r);
    // As in the blog: NodePort on the node IP and on antrea-gw0.
    assert!(text.contains("TCP  10.160.1.27:32611 rr\n"));
    assert!(text.contains("TCP  10.30.69.1:32611 rr\n"));
    assert!(text.contains("  -> 10.30.65.3:53                Masq    1      0          0\n"));
    insta::assert_snapshot!("kube_proxy_ipvs_w3", text);
}

// ---- counting and the synthetic cluster --------------------------------------------------

#[test]
fn synthetic_cluster_is_deterministic_and_counted() {
    let a = synthetic_services(50, 4, 3, 7);
    let b = synthetic_services(50, 4, 3, 7);
    assert_eq!(a.services, b.services);
    assert_eq!(a.nodes.len(), 3);
    let cfg = ProxyConfig::default();
    let r = compile_node(&a.nodes[0], &a.services, &a.nodes, &cfg);
    let c = rule_counts(&r);
    // One group per Service port, at least one ServiceLB flow each.
    assert_eq!(c.antrea_groups, 50);
    assert!(c.antrea_flows > 100);
    assert!(c.iptables_rules > 50 * 4 * 3);
    let ipvs = compile_node(
        &a.nodes[0],
        &a.services,
        &a.nodes,
        &ProxyConfig {
            kube_proxy: Some(KubeProxyMode::Ipvs { strict_arp: true }),
            ..cfg
        },
    );
    let c = rule_counts(&ipvs);
    // 50 ClusterIPs + 10 NodePorts (5 NodePort, 5 LoadBalancer) × 2 node
    // addresses + 5 LoadBalancer IPs.
    assert_eq!(c.ipvs_services, 50 + 10 * 2 + 5);
    assert!(c.ipvs_real_servers >= c.ipvs_services);
}
