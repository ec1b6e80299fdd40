//! Tests of manifest parsing: the blog's YAML blocks verbatim, multi-document files,
//! defaults, and errors with their line and column.

use std::net::Ipv4Addr;

use super::*;

const BLOG_CONFIG_EGRESS: &str = include_str!("testdata/blog-1-antrea-config-egress.yaml");
const BLOG_POOL: &str = include_str!("testdata/blog-2-external-ip-pool.yaml");
const BLOG_EGRESS: &str = include_str!("testdata/blog-3-egress.yaml");
const BLOG_PROXYALL_MAPPING: &str =
    include_str!("testdata/blog-4-antrea-config-proxyall-mapping.yaml");
const BLOG_PROXYALL: &str = include_str!("testdata/blog-5-antrea-config-proxyall.yaml");
const BLOG_KUBE_PROXY: &str = include_str!("testdata/blog-6-kube-proxy-fragment.yaml");
const BLOG_L7: &str = include_str!("testdata/blog-7-l7-fragment.yaml");
const BLOG_DEPLOYMENT: &str = include_str!("testdata/blog-8-deployment-fragment.yaml");

fn one(text: &str) -> Object {
    let mut objs = parse_manifests("m.yaml", text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(objs.len(), 1, "{objs:?}");
    objs.remove(0)
}

fn err(text: &str) -> InputError {
    match parse_manifests("m.yaml", text) {
        Ok(objs) => panic!("expected an error, parsed {objs:?}"),
        Err(e) => e,
    }
}

#[track_caller]
fn assert_err_at(text: &str, line: u64, column: u64, needle: &str) {
    let e = err(text);
    assert_eq!((e.line, e.column), (line, column), "{e}");
    assert!(e.message.contains(needle), "{e}");
    assert!(
        !e.message.contains("line "),
        "no stale position in the message: {e}"
    );
}

fn config_map(o: Object) -> ConfigMap {
    match o {
        Object::ConfigMap(c) => c,
        other => panic!("not a ConfigMap: {other:?}"),
    }
}

// ---- the blog, verbatim --------------------------------------------------------

#[test]
fn blog_antrea_config_with_egress_gates() {
    let c = config_map(one(BLOG_CONFIG_EGRESS));
    assert_eq!(c.meta.name, "antrea-config");
    assert_eq!(c.meta.namespace.as_deref(), Some("kube-system"));
    assert_eq!(
        c.get("antrea-agent.conf"),
        Some("featureGates:\n  Egress: true\n  EgressSeparateSubnet: true\n")
    );
    assert_eq!(
        c.get("antrea-controller.conf"),
        Some("featureGates:\n  Egress: true\n")
    );
    // Both values are literal blocks: their lines are the file's, shifted by 4.
    assert_eq!(
        c.value_at["antrea-agent.conf"].layout,
        Layout::Block {
            first_line: 8,
            indent: 4
        }
    );
    assert_eq!(
        c.value_at["antrea-controller.conf"]
            .locate(2, 3)
            .map(|o| (o.line, o.column)),
        Some((13, 7))
    );
}

#[test]
fn blog_pool_and_egress() {
    let pool = one(BLOG_POOL);
    let egress = one(BLOG_EGRESS);
    assert_eq!(
        pool.display_name(),
        "ExternalIPPool/egress-vlan-external-ip-pool"
    );
    assert_eq!(egress.display_name(), "Egress/egress-vlan");
    let (Object::ExternalIPPool(p), Object::Egress(e)) = (&pool, &egress) else {
        panic!("wrong kinds: {pool:?} {egress:?}");
    };
    assert_eq!(
        p.ip_ranges,
        [IpRange::Range {
            start: Ipv4Addr::new(172, 18, 181, 40),
            end: Ipv4Addr::new(172, 18, 181, 50)
        }]
    );
    let info = p.subnet_info.unwrap();
    assert_eq!(info.vlan, 181);
    assert_eq!(info.subnet().to_string(), "172.18.181.0/24");
    assert!(
        p.node_selector
            .matches(&[("egress-role".to_string(), "egress-node".to_string())].into())
    );
    assert_eq!(
        e.external_ip_pool.as_deref(),
        Some("egress-vlan-external-ip-pool")
    );
    assert_eq!(e.status.egress_node.as_deref(), Some("k8s-node-vm-2-cl-02"));
    assert_eq!(e.applied_to.namespace_selector, None);
    insta::assert_debug_snapshot!("blog_pool_and_egress", (pool, egress));
}

#[test]
fn blog_proxyall_mapping_under_data_is_refused_as_the_api_server_does() {
    // The blog's first proxyAll ConfigMap, verbatim: `data: {antreaProxy: {proxyAll:
    // true}}`. ConfigMap values must be strings; the API server refuses the object, so
    // antlab does too, at the offending value.
    let e = err(BLOG_PROXYALL_MAPPING);
    assert_eq!((e.file.as_str(), e.line, e.column), ("m.yaml", 8, 7), "{e}");
    assert!(
        e.message
            .starts_with("ConfigMap kube-system/antrea-config: data.antreaProxy is not a string"),
        "{e}"
    );
    assert!(
        e.message.contains(
            "json: cannot unmarshal object into Go struct field ConfigMap.data of type string"
        ),
        "{e}"
    );
    assert!(e.message.contains("antreaProxy: |"), "{e}");
}

#[test]
fn blog_proxyall_config() {
    let c = config_map(one(BLOG_PROXYALL));
    assert_eq!(
        c.get("antrea-agent.conf"),
        Some(
            "kubeAPIServerOverride: \"https://k8s-dev-cluster-3.domain.int\"\nantreaProxy:\n  proxyAll: true\n"
        )
    );
}

#[test]
fn blog_fragments_without_kind_are_located_errors() {
    // The kube-proxy and L7 snippets are excerpts of `kubectl edit` sessions: no kind,
    // no metadata. They cannot be applied as they are; the error points at the document.
    assert_err_at(BLOG_KUBE_PROXY, 2, 1, "missing kind");
    assert_err_at(BLOG_L7, 1, 1, "missing kind");
    // The Deployment snippet runs into a shell command: a YAML syntax error at that line.
    let e = err(BLOG_DEPLOYMENT);
    assert_eq!(e.line, 9, "{e}");
}

#[test]
fn blog_kube_proxy_config_completed() {
    let text = format!(
        "kind: ConfigMap\nmetadata:\n  name: kube-proxy\n  namespace: kube-system\n{BLOG_KUBE_PROXY}"
    );
    let c = config_map(one(&text));
    let conf = c.get("config.conf").unwrap();
    assert!(conf.starts_with("apiVersion: kubeproxy.config.k8s.io/v1alpha1\nipvs:\n"));
    assert!(conf.contains("  strictARP: true # set to true\n"), "{conf}");
    assert!(
        conf.ends_with("udpTimeout: 0s"),
        "|- strips the final newline: {conf:?}"
    );
}

#[test]
fn blog_l7_config_completed_keeps_trailing_spaces() {
    let text = format!("kind: ConfigMap\nmetadata:\n  name: antrea-config\n{BLOG_L7}");
    let c = config_map(one(&text));
    assert_eq!(
        c.get("antrea-agent.conf"),
        Some("L7FlowExporter: true      \n")
    );
}

#[test]
fn blog_deployment_completed() {
    let head = BLOG_DEPLOYMENT.split("  \n#").next().unwrap();
    let text = format!(
        "{head}  namespace: egress\nspec:\n  selector:\n    matchLabels:\n      app: egress-1\n  template:\n    metadata:\n      labels:\n        app: egress-1\n    spec:\n      containers:\n      - name: ubuntu\n        image: ubuntu:20.04\n        ports:\n        - containerPort: 80\n"
    );
    let Object::Deployment(d) = one(&text) else {
        panic!("not a Deployment")
    };
    assert_eq!(
        d.meta
            .annotations
            .get("visibility.antrea.io/l7-export")
            .map(String::as_str),
        Some("both")
    );
    assert_eq!(d.meta.name, "ubuntu-20-04");
    assert_eq!(d.replicas, 1, "replicas defaults to 1");
    assert_eq!(
        d.template.labels.get("app").map(String::as_str),
        Some("egress-1")
    );
    assert_eq!(d.template.spec.containers[0].ports[0].container_port, 80);
    assert_eq!(
        d.template.spec.containers[0].ports[0].protocol,
        Protocol::Tcp
    );
}

// ---- multi-document files ------------------------------------------------------

const MULTI: &str = "\
# cluster objects
---
apiVersion: v1
kind: Namespace
metadata:
  name: egress
  labels: {team: net}
---
---
# only a comment
---
apiVersion: v1
kind: Node
metadata:
  name: k8s-node-vm-1-cl-02
  labels:
    egress-role: egress-node
...
apiVersion: v1
kind: Pod
metadata:
  name: ubuntu-20-04-59d474f9df-dv9ms
  namespace: egress
  labels: {app: egress-1}
spec:
  nodeName: k8s-node-vm-1-cl-02
  containers:
  - name: ubuntu
    ports:
    - {containerPort: 53, protocol: UDP, name: dns}
status:
  podIP: 10.30.67.5
--- # inline comment after the marker
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: deny-all
  namespace: egress
spec:
  podSelector: {}
  policyTypes: [Ingress]
---
apiVersion: v1
kind: Pod
metadata: {name: bare}
";

#[test]
fn multi_document_file() {
    let objs = parse_manifests("multi.yaml", MULTI).unwrap();
    let names: Vec<String> = objs.iter().map(Object::display_name).collect();
    assert_eq!(
        names,
        [
            "Namespace/egress",
            "Node/k8s-node-vm-1-cl-02",
            "Pod/egress/ubuntu-20-04-59d474f9df-dv9ms",
            "NetworkPolicy/egress/deny-all",
            "Pod/default/bare",
        ]
    );
    let lines: Vec<(u64, u64)> = objs
        .iter()
        .map(|o| (o.meta().origin.line, o.meta().origin.column))
        .collect();
    assert_eq!(lines, [(3, 1), (12, 1), (19, 1), (34, 1), (43, 1)]);
    assert_eq!(objs[0].meta().origin.file, "multi.yaml");
    assert_eq!(
        objs[0].meta().labels.get("team").map(String::as_str),
        Some("net")
    );
    let Object::Pod(p) = &objs[2] else { panic!() };
    assert_eq!(p.spec.node_name.as_deref(), Some("k8s-node-vm-1-cl-02"));
    assert!(!p.spec.host_network);
    assert_eq!(p.status.pod_ip, Some(Ipv4Addr::new(10, 30, 67, 5)));
    assert_eq!(
        p.spec.containers[0].ports[0],
        ContainerPort {
            name: Some("dns".into()),
            container_port: 53,
            protocol: Protocol::Udp
        }
    );
    // A NetworkPolicy is modelled: typed, namespaced, isolating for ingress.
    let Object::NetworkPolicy(np) = &objs[3] else {
        panic!("{:?}", objs[3])
    };
    assert_eq!(np.policy_types, vec![Direction::Ingress]);
    assert!(np.pod_selector.is_empty());
    assert_eq!(objs[3].is_namespaced(), Some(true));
    assert_eq!(objs[4].meta().namespace, None);
    assert_eq!(objs[4].namespace(), Some("default"));
}

#[test]
fn empty_input_has_no_objects() {
    assert!(parse_manifests("e.yaml", "").unwrap().is_empty());
    assert!(
        parse_manifests("e.yaml", "# nothing\n---\n---\n~\n")
            .unwrap()
            .is_empty()
    );
}

#[test]
fn errors_in_later_documents_point_into_the_file() {
    let text = format!(
        "{MULTI}---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: d}}\nspec:\n  replicas: lots\n"
    );
    // MULTI has 45 lines; the Deployment starts at 47, replicas is on 51.
    assert_err_at(&text, 51, 13, "");
    let text = format!(
        "{MULTI}---\napiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nstatus:\n  podIP: 10.0.0.300\n"
    );
    assert_err_at(&text, 51, 10, "not a valid IPv4 address");
}

// ---- error locations -------------------------------------------------------------

const POOL_HEAD: &str = "apiVersion: crd.antrea.io/v1beta1\nkind: ExternalIPPool\nmetadata:\n  name: p\nspec:\n  nodeSelector: {}\n";

/// The API server's CRD schema speaks first, in its own words.
#[test]
fn bad_cidr() {
    let text = format!("{POOL_HEAD}  ipRanges:\n  - cidr: 10.10.0.0/33\n");
    assert_err_at(
        &text,
        8,
        11,
        "ExternalIPPool.crd.antrea.io \"p\" is invalid: spec.ipRanges[0].cidr: Invalid value: \"10.10.0.0/33\": spec.ipRanges[0].cidr in body must be of type cidr: \"10.10.0.0/33\"",
    );
    // Leading zeros pass the schema (Go's sloppy parser) but not the webhook.
    let text = format!("{POOL_HEAD}  ipRanges:\n  - cidr: 010.10.0.0/24\n");
    assert_err_at(&text, 8, 11, "invalid cidr 010.10.0.0/24");
}

#[test]
fn bad_ip() {
    let text = format!("{POOL_HEAD}  ipRanges:\n  - start: 10.10.0.1\n    end: 10.10.0.256\n");
    assert_err_at(
        &text,
        9,
        10,
        "spec.ipRanges[0].end: Invalid value: \"10.10.0.256\": spec.ipRanges[0].end in body must be of type ipv4: \"10.10.0.256\"",
    );
    let text = format!("{POOL_HEAD}  ipRanges:\n  - start: 10.10.0.01\n    end: 10.10.0.9\n");
    assert_err_at(&text, 8, 12, "invalid start ip address 10.10.0.01");
    let text = format!("{POOL_HEAD}  ipRanges:\n  - start: fd00::1\n    end: fd00::9\n");
    assert_err_at(&text, 8, 12, "IPv6");
}

#[test]
fn ip_range_with_cidr_and_start() {
    // {cidr, start}: only the {cidr} branch of the oneOf holds, so the API server
    // accepts it and Antrea uses the cidr.
    let Object::ExternalIPPool(p) = one(&format!(
        "{POOL_HEAD}  ipRanges:\n  - cidr: 10.10.0.0/24\n    start: 10.10.0.1\n"
    )) else {
        panic!()
    };
    assert_eq!(p.ip_ranges[0].to_string(), "10.10.0.0/24");
    let both = format!(
        "{POOL_HEAD}  ipRanges:\n  - cidr: 10.10.0.0/24\n    start: 10.10.0.1\n    end: 10.10.0.2\n"
    );
    assert_err_at(
        &both,
        8,
        5,
        "\"spec.ipRanges[0]\" must validate one and only one schema (oneOf). Found 2 valid alternatives",
    );
    let text = format!("{POOL_HEAD}  ipRanges:\n  - start: 10.10.0.1\n");
    assert_err_at(&text, 8, 5, "Found none valid");
    let text = format!("{POOL_HEAD}  ipRanges:\n  - {{}}\n");
    assert_err_at(&text, 8, 5, "spec.ipRanges[0].cidr: Required value");
    // start > end is the webhook's to refuse, at admission.
    let Object::ExternalIPPool(p) = one(&format!(
        "{POOL_HEAD}  ipRanges:\n  - start: 10.10.0.9\n    end: 10.10.0.1\n"
    )) else {
        panic!()
    };
    assert_eq!(
        crate::engine::ippool::PoolSet::new()
            .validate(&p)
            .unwrap_err()
            .to_string(),
        "range start 10.10.0.9 should not be greater than range end 10.10.0.1"
    );
}

#[test]
fn vlan_out_of_range() {
    let text = format!(
        "{POOL_HEAD}  ipRanges:\n  - cidr: 10.10.0.0/24\n  subnetInfo:\n    gateway: 10.10.0.1\n    prefixLength: 24\n    vlan: 5000\n"
    );
    assert_err_at(
        &text,
        12,
        11,
        "spec.subnetInfo.vlan: Invalid value: 5000: spec.subnetInfo.vlan in body should be less than or equal to 4094",
    );
}

#[test]
fn node_selector_is_required_by_the_crd() {
    let text = "apiVersion: crd.antrea.io/v1beta1\nkind: ExternalIPPool\nmetadata: {name: p}\nspec:\n  ipRanges: [{cidr: 10.0.0.0/24}]\n";
    assert_err_at(
        text,
        5,
        3,
        "ExternalIPPool.crd.antrea.io \"p\" is invalid: spec.nodeSelector: Required value",
    );
}

#[test]
fn subnet_info_checks() {
    let info = |body: &str| {
        format!("{POOL_HEAD}  ipRanges:\n  - cidr: 10.10.0.0/28\n  subnetInfo:\n{body}")
    };
    assert_err_at(
        &info("    gateway: 10.10.0.1\n    prefixLength: 128\n"),
        11,
        19,
        "spec.subnetInfo.prefixLength in body should be less than or equal to 127",
    );
    assert_err_at(
        &info("    prefixLength: 24\n"),
        10,
        5,
        "spec.subnetInfo.gateway: Required value",
    );
    // 32..=127 passes the schema; the webhook refuses it, and ranges outside the subnet.
    let webhook = |body: &str| {
        let Object::ExternalIPPool(p) = one(&info(body)) else {
            panic!()
        };
        crate::engine::ippool::PoolSet::new()
            .validate(&p)
            .map_err(|e| e.to_string())
    };
    assert_eq!(
        webhook("    gateway: 10.10.0.1\n    prefixLength: 32\n"),
        Err("invalid prefixLength 32".into())
    );
    assert_eq!(
        webhook("    gateway: 10.20.0.1\n    prefixLength: 24\n"),
        Err("range [10.10.0.0/28] must be a strict subset of the subnet 10.20.0.1/24".into())
    );
    assert_err_at(
        &info("    gateway: 10.10.0.1\n    prefixLength: 24\n    vlan: x\n"),
        12,
        11,
        "must be of type integer",
    );
    let Object::ExternalIPPool(p) = one(&info("    gateway: 10.10.0.1\n    prefixLength: 24\n"))
    else {
        panic!()
    };
    assert_eq!(p.subnet_info.unwrap().vlan, 0, "vlan defaults to 0");
    assert!(
        p.node_selector.is_empty(),
        "an empty nodeSelector selects all Nodes"
    );
    assert!(p.ip_ranges[0].contains(Ipv4Addr::new(10, 10, 0, 15)));
    assert!(!p.ip_ranges[0].contains(Ipv4Addr::new(10, 10, 0, 16)));
}

#[test]
fn cidr_host_bits_are_cleared() {
    let text = format!("{POOL_HEAD}  ipRanges:\n  - cidr: 10.10.0.77/24\n");
    let Object::ExternalIPPool(p) = one(&text) else {
        panic!()
    };
    assert_eq!(p.ip_ranges[0].to_string(), "10.10.0.0/24");
}

#[test]
fn missing_identity_fields() {
    assert_err_at(
        "apiVersion: v1\nmetadata: {name: x}\n",
        1,
        1,
        "missing kind",
    );
    assert_err_at(
        "kind: Pod\nmetadata: {name: x}\n",
        1,
        1,
        "missing apiVersion",
    );
    assert_err_at("apiVersion: v1\nkind: Pod\n", 1, 1, "missing metadata");
    assert_err_at(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  namespace: a\n",
        4,
        3,
        "missing metadata.name",
    );
    // After a `---`, the document starts on the next line.
    assert_err_at(
        "---\n# c\napiVersion: v1\nmetadata: {name: x}\n",
        3,
        1,
        "missing kind",
    );
}

#[test]
fn api_versions() {
    assert_err_at(
        "apiVersion: crd.antrea.io/v1alpha1\nkind: Egress\nmetadata: {name: e}\n",
        1,
        13,
        "not supported for Egress",
    );
    assert_err_at(
        "apiVersion: v2\nkind: Pod\nmetadata: {name: p}\n",
        1,
        13,
        "antlab reads v1",
    );
    // Another group's "Egress" is somebody else's CRD.
    let o = one("apiVersion: example.com/v1\nkind: Egress\nmetadata: {name: e}\nspec: 7\n");
    assert!(matches!(o, Object::Other { .. }), "{o:?}");
    let o = one(
        "apiVersion: crd.antrea.io/v1alpha2\nkind: Egress\nmetadata: {name: e}\nspec:\n  appliedTo:\n    namespaceSelector: {}\n  egressIP: 10.10.0.5\n",
    );
    let Object::Egress(e) = o else { panic!() };
    assert_eq!(e.egress_ip, Some(Ipv4Addr::new(10, 10, 0, 5)));
    assert_eq!(
        e.applied_to.namespace_selector,
        Some(LabelSelector::default())
    );
    assert_eq!(e.applied_to.pod_selector, None);
    assert_eq!(e.external_ip_pool, None);
}

#[test]
fn egress_checks() {
    let head = "apiVersion: crd.antrea.io/v1beta1\nkind: Egress\nmetadata: {name: e}\n";
    assert_err_at(
        head,
        1,
        1,
        "Egress.crd.antrea.io \"e\" is invalid: spec: Required value",
    );
    assert_err_at(
        &format!(
            "{head}spec:\n  externalIPPool: p\n  appliedTo:\n    podSelector:\n      matchExpressions:\n      - {{key: app, operator: In}}\n"
        ),
        9,
        9,
        "appliedTo.podSelector: values must be non-empty",
    );
    assert_err_at(
        &format!("{head}spec:\n  appliedTo: {{}}\n  egressIP: 10.1.1\n"),
        6,
        13,
        "spec.egressIP in body must be of type ipv4: \"10.1.1\"",
    );
    // The spec's IP is omitted when unset (`omitempty`); "" does not pass the schema.
    assert_err_at(
        &format!("{head}spec:\n  appliedTo: {{}}\n  egressIP: \"\"\n"),
        6,
        13,
        "must be of type ipv4: \"\"",
    );
    // In status, "" means "none".
    let Object::Egress(e) = one(&format!(
        "{head}spec:\n  appliedTo: {{}}\n  externalIPPool: p\nstatus:\n  egressNode: \"\"\n  egressIP: 10.10.0.11\n"
    )) else {
        panic!()
    };
    assert_eq!(e.egress_ip, None);
    assert_eq!(e.status.egress_node, None);
    assert_eq!(e.status.egress_ip, Some(Ipv4Addr::new(10, 10, 0, 11)));
    assert_eq!(
        e.applied_to,
        AppliedTo::default(),
        "empty appliedTo kept as such"
    );
}

// ---- Services ----------------------------------------------------------------------

const SVC_HEAD: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: yelb-ui\n  namespace: yelb\n  annotations:\n    service.antrea.io/external-ip-pool: service-external-ip-pool\n";

#[test]
fn service_fields_and_defaults() {
    let text = format!(
        "{SVC_HEAD}spec:\n  type: LoadBalancer\n  clusterIP: 10.30.48.237\n  selector: {{app: yelb-ui, tier: frontend}}\n  externalTrafficPolicy: Local\n  sessionAffinity: ClientIP\n  ports:\n  - port: 80\n    nodePort: 32611\n  - name: admin\n    port: 8080\n    targetPort: http-admin\n    protocol: UDP\n"
    );
    let Object::Service(s) = one(&text) else {
        panic!()
    };
    assert_eq!(s.service_type, ServiceType::LoadBalancer);
    assert_eq!(
        s.cluster_ip,
        Some(ClusterIp::Ip(Ipv4Addr::new(10, 30, 48, 237)))
    );
    assert_eq!(s.selector.len(), 2);
    assert_eq!(s.external_traffic_policy, TrafficPolicy::Local);
    assert_eq!(s.internal_traffic_policy, TrafficPolicy::Cluster);
    assert_eq!(
        s.session_affinity,
        SessionAffinity::ClientIp {
            timeout_seconds: 10800
        }
    );
    assert_eq!(
        s.ports[0],
        ServicePort {
            name: None,
            port: 80,
            target_port: TargetPort::Number(80),
            node_port: Some(32611),
            protocol: Protocol::Tcp
        }
    );
    assert_eq!(
        s.ports[1].target_port,
        TargetPort::Name("http-admin".into())
    );
    assert_eq!(s.ports[1].protocol, Protocol::Udp);
    assert_eq!(
        s.meta
            .annotations
            .get("service.antrea.io/external-ip-pool")
            .map(String::as_str),
        Some("service-external-ip-pool")
    );
    assert_eq!(s.load_balancer_ip, None);

    let Object::Service(s) = one(&format!(
        "{SVC_HEAD}spec:\n  clusterIP: None\n  ports: [{{port: 53, targetPort: 5353}}]\n"
    )) else {
        panic!()
    };
    assert_eq!(s.service_type, ServiceType::ClusterIp);
    assert_eq!(s.cluster_ip, Some(ClusterIp::Headless));
    assert_eq!(s.ports[0].target_port, TargetPort::Number(5353));
    assert_eq!(s.session_affinity, SessionAffinity::None);
}

#[test]
fn service_errors() {
    let spec = |body: &str| format!("{SVC_HEAD}spec:\n{body}");
    assert_err_at(
        &spec("  type: Loadbalancer\n"),
        9,
        9,
        "unknown Service type \"Loadbalancer\"",
    );
    assert_err_at(
        &spec("  type: ExternalName\n"),
        9,
        9,
        "ExternalName is not modelled",
    );
    assert_err_at(
        &spec("  ports:\n  - port: 0\n"),
        10,
        11,
        "port must be between 1 and 65535",
    );
    assert_err_at(
        &spec("  ports:\n  - port: 80\n    protocol: tcp\n"),
        11,
        15,
        "unsupported protocol",
    );
    assert_err_at(
        &spec("  ports:\n  - port: 80\n    targetPort: \"8080\"\n"),
        11,
        17,
        "neither a port number nor a port name",
    );
    assert_err_at(
        &spec("  ports:\n  - port: 80\n    nodePort: 30080\n"),
        11,
        15,
        "ClusterIP",
    );
    assert_err_at(
        &spec("  externalTrafficPolicy: local\n"),
        9,
        26,
        "expected Cluster or Local",
    );
    assert_err_at(
        &spec("  loadBalancerIP: 10.169.1.x\n"),
        9,
        19,
        "loadBalancerIP",
    );
    assert_err_at(
        &spec(
            "  sessionAffinity: ClientIP\n  sessionAffinityConfig:\n    clientIP:\n      timeoutSeconds: 0\n",
        ),
        12,
        23,
        "timeoutSeconds",
    );
    assert_err_at(
        &spec("  sessionAffinity: Sticky\n"),
        9,
        20,
        "expected None or ClientIP",
    );
}

// ---- Deployments ---------------------------------------------------------------

#[test]
fn deployment_checks() {
    let head = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, namespace: ns}\n";
    assert_err_at(head, 1, 1, "needs spec.selector");
    assert_err_at(
        &format!("{head}spec:\n  replicas: -1\n"),
        5,
        13,
        "replicas must be 0 or more",
    );
    assert_err_at(
        &format!(
            "{head}spec:\n  selector: {{matchLabels: {{app: a}}}}\n  template:\n    metadata:\n      labels: {{app: b}}\n"
        ),
        7,
        5,
        "does not match",
    );
    assert_err_at(
        &format!("{head}spec:\n  selector: {{}}\n  template: {{}}\n"),
        5,
        13,
        "empty selector",
    );
    let Object::Deployment(d) = one(&format!(
        "{head}spec:\n  replicas: 3\n  selector:\n    matchExpressions: [{{key: app, operator: Exists}}]\n  template:\n    metadata:\n      labels: {{app: x}}\n      annotations: {{a: b}}\n    spec:\n      hostNetwork: true\n"
    )) else {
        panic!()
    };
    assert_eq!(d.replicas, 3);
    assert!(d.template.spec.host_network);
    assert_eq!(
        d.template.annotations.get("a").map(String::as_str),
        Some("b")
    );
    assert_eq!(Object::Deployment(d).display_name(), "Deployment/ns/d");
}

#[test]
fn config_map_non_string_values_are_refused_at_the_value() {
    let head = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  s: \"5\"\n";
    for (value, json) in [
        ("5", "number"),
        ("true", "bool"),
        ("[1]", "array"),
        ("{a: b}", "object"),
    ] {
        let e = err(&format!("{head}  k: {value}\n"));
        assert_eq!((e.line, e.column), (6, 6), "{e}");
        assert!(
            e.message
                .starts_with("ConfigMap default/c: data.k is not a string"),
            "{e}"
        );
        assert!(
            e.message.contains(&format!("cannot unmarshal {json} into")),
            "{e}"
        );
    }
    // null decodes to the empty string, as Go's json does; quoted numbers are strings.
    let c = config_map(one(&format!("{head}  n: ~\n")));
    assert_eq!((c.get("s"), c.get("n")), (Some("5"), Some("")));
}

#[test]
fn config_map_value_layouts() {
    let c = config_map(one(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  plain: a=b\n  quoted: 'x: 1'\n  folded: >\n    x: 1\n    y: 2\n  esc: \"x:\\t1\"\n",
    ));
    let at = |k: &str| c.value_at[k].clone();
    assert_eq!(at("plain").layout, Layout::Line);
    assert_eq!(at("plain").locate(1, 3).map(|o| o.column), Some(12));
    assert_eq!(at("quoted").layout, Layout::Line);
    assert_eq!(
        at("quoted").locate(1, 1).map(|o| (o.line, o.column)),
        Some((6, 12))
    );
    assert_eq!(at("folded").layout, Layout::Opaque);
    assert_eq!(at("folded").locate(1, 1), None);
    assert_eq!(at("esc").layout, Layout::Opaque);
}

#[test]
fn inline_config_map_positions_move_with_the_scenario_file() {
    let mut o =
        one("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  k: |\n    a: 1\n");
    o.shift_origins(10, 6);
    let Object::ConfigMap(c) = o else { panic!() };
    assert_eq!(
        c.value_at["k"].locate(1, 1).map(|o| (o.line, o.column)),
        Some((16, 11))
    );
}

#[test]
fn wrong_types_are_errors_at_the_field() {
    assert_err_at(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  hostNetwork: [x]\n",
        5,
        16,
        "",
    );
    assert_err_at(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels: [a]\n",
        5,
        11,
        "",
    );
    assert_err_at(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - ports:\n    - containerPort: 70000\n",
        7,
        22,
        "containerPort must be between 1 and 65535",
    );
}

#[test]
fn cluster_scoped_kinds_ignore_a_namespace() {
    let o = one("apiVersion: v1\nkind: Node\nmetadata: {name: n1, namespace: x}\n");
    assert_eq!(o.namespace(), None);
    assert_eq!(o.display_name(), "Node/n1");
    assert_eq!(o.kind_name(), "Node");
}

#[test]
fn readable_messages() {
    assert_err_at(
        "# c\n- a\n",
        2,
        1,
        "expected a Kubernetes object (a mapping with apiVersion, kind and metadata), found a list",
    );
    assert_err_at("hello\n", 1, 1, "found a string");
    assert_err_at(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  replicas: lots\n",
        5,
        13,
        "expected an integer",
    );
    assert_err_at(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels: [a]\n",
        5,
        11,
        "expected a mapping",
    );
    assert_err_at(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels: {a: ~}\n",
        5,
        15,
        "expected a string, found null",
    );
    assert_err_at("a: [\n", 1, 4, "unclosed bracket");
}

#[test]
fn crlf_files_split_the_same_way() {
    let crlf = MULTI.replace('\n', "\r\n");
    let objs = parse_manifests("multi.yaml", &crlf).unwrap();
    let at: Vec<(String, u64)> = objs
        .iter()
        .map(|o| (o.display_name(), o.meta().origin.line))
        .collect();
    let lf: Vec<(String, u64)> = parse_manifests("multi.yaml", MULTI)
        .unwrap()
        .iter()
        .map(|o| (o.display_name(), o.meta().origin.line))
        .collect();
    assert_eq!(at, lf);
}

// ---- policies (k8s::policy) -------------------------------------------------------

const NP_HEAD: &str = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: np, namespace: shop}\nspec:\n";
const ACNP_HEAD: &str = "apiVersion: crd.antrea.io/v1beta1\nkind: ClusterNetworkPolicy\nmetadata: {name: acnp}\nspec:\n";

#[test]
fn network_policies_parse_with_the_api_server_s_defaults() {
    let Object::NetworkPolicy(np) = one(&format!(
        "{NP_HEAD}  podSelector: {{matchLabels: {{app: web}}}}\n  egress:\n  - to:\n    - ipBlock: {{cidr: 10.0.0.0/8, except: [10.1.0.0/16]}}\n    ports:\n    - {{port: 8080, endPort: 8090}}\n"
    )) else {
        panic!("not a NetworkPolicy")
    };
    // Egress rules given: both directions isolated (policyTypes default).
    assert_eq!(np.policy_types, vec![Direction::Ingress, Direction::Egress]);
    assert_eq!(
        np.egress[0].peers[0]
            .ip_block
            .as_ref()
            .map(|b| b.except.len()),
        Some(1)
    );
    assert_eq!(
        np.egress[0].ports,
        vec![PolicyService::L4 {
            protocol: Protocol::Tcp,
            port: Some(PolicyPortNumber::Number(8080)),
            end_port: Some(8090),
            source_port: None,
            source_end_port: None,
        }]
    );
    assert_eq!(np.egress[0].origin.line, 7);
}

#[test]
fn an_empty_policy_types_list_defaults_like_an_absent_one() {
    let Object::NetworkPolicy(np) = one(&format!(
        "{NP_HEAD}  podSelector: {{}}\n  policyTypes: []\n"
    )) else {
        panic!("not a NetworkPolicy")
    };
    assert_eq!(np.policy_types, vec![Direction::Ingress]);
}

#[test]
fn bad_policies_are_refused_where_they_are_wrong() {
    assert_err_at(
        &format!(
            "{NP_HEAD}  podSelector: {{}}\n  ingress:\n  - from:\n    - ipBlock: {{cidr: 10.0.0.5}}\n"
        ),
        8,
        23,
        "invalid CIDR address: 10.0.0.5",
    );
    assert_err_at(
        &format!(
            "{ACNP_HEAD}  priority: 1\n  appliedTo: [{{podSelector: {{}}}}]\n  egress:\n  - action: Allow\n    toServices: [{{name: web}}]\n"
        ),
        9,
        18,
        "toServices[].namespace: Required value",
    );
    assert_err_at(
        &format!("{NP_HEAD}  podSelector: {{}}\n  ingres: []\n"),
        6,
        3,
        "unknown field `ingres`",
    );
    assert_err_at(
        &format!("{NP_HEAD}  podSelector: {{}}\n  ingress:\n  - ports:\n    - {{endPort: 90}}\n"),
        8,
        17,
        "if `endPort` is specified `port` must be specified",
    );
    assert_err_at(
        &format!(
            "{NP_HEAD}  podSelector: {{}}\n  ingress:\n  - from:\n    - ipBlock: {{cidr: 10.0.0.0/16, except: [10.1.0.0/24]}}\n"
        ),
        8,
        45,
        "except CIDR 10.1.0.0/24 is not a strict subset of CIDR 10.0.0.0/16",
    );
    assert_err_at(
        &format!(
            "{ACNP_HEAD}  priority: 1\n  appliedTo: [{{podSelector: {{}}}}]\n  egress:\n  - action: Allow\n    to: [{{fqdn: \"*.example.com\"}}]\n"
        ),
        9,
        17,
        "egress to an FQDN (`fqdn`) is not modelled by antlab",
    );
    assert_err_at(
        &format!("{ACNP_HEAD}  priority: 1\n  ingress:\n  - action: Allow\n"),
        5,
        3,
        "appliedTo needs to be set in either spec or rules",
    );
    assert_err_at(
        &format!(
            "{ACNP_HEAD}  priority: 1\n  appliedTo: [{{podSelector: {{}}}}]\n  ingress:\n  - action: Permit\n"
        ),
        8,
        13,
        "Unsupported value: \"Permit\"",
    );
    assert_err_at(
        &format!("{ACNP_HEAD}  priority: 0.5\n  appliedTo: [{{podSelector: {{}}}}]\n"),
        5,
        13,
        "spec.priority in body should be between 1 and 10000",
    );
    assert_err_at(
        &format!(
            "{ACNP_HEAD}  priority: 1\n  appliedTo: [{{podSelector: {{}}}}]\n  ingress:\n  - {{name: a, action: Allow}}\n  - {{name: a, action: Drop}}\n"
        ),
        9,
        5,
        "rules names must be unique within the policy",
    );
}

fn traceflow(text: &str) -> super::Traceflow {
    match one(text) {
        Object::Traceflow(t) => t,
        o => panic!("not a Traceflow: {o:?}"),
    }
}

const TF_HEAD: &str = "apiVersion: crd.antrea.io/v1beta1
kind: Traceflow
metadata: {name: tf}
spec:
  source: {namespace: shop, pod: client}
";

/// The injected packet's protocol as Antrea's preparePacket picks it: the
/// transport header first, then `ipHeader.protocol`, else nothing said.
#[test]
fn a_traceflow_packet_takes_its_protocol_from_the_transport_header_first() {
    let tf = |rest: &str| traceflow(&format!("{TF_HEAD}{rest}"));
    let t = tf(
        "  destination: {namespace: shop, pod: web}\n  packet:\n    transportHeader:\n      udp: {dstPort: 53}\n",
    );
    assert_eq!(t.flow.as_deref(), Some("udp,udp_dst=53"));
    assert_eq!(t.source, Some(("shop".to_string(), "client".to_string())));
    assert_eq!((t.live, t.timeout_s), (None, 20));
    let t = tf(
        "  destination: {namespace: shop, pod: web}\n  packet:\n    ipHeader: {protocol: 6}\n    transportHeader:\n      udp: {srcPort: 5353, dstPort: 53}\n",
    );
    assert_eq!(t.flow.as_deref(), Some("udp,udp_src=5353,udp_dst=53"));
    let t =
        tf("  destination: {namespace: shop, pod: web}\n  packet:\n    ipHeader: {protocol: 6}\n");
    assert_eq!(t.flow.as_deref(), Some("tcp"));
    let t = tf("  destination: {namespace: shop, service: web}\n");
    assert_eq!(t.flow, None);
    assert_eq!(
        t.destination,
        Some(super::TraceflowDestination::Service {
            namespace: "shop".into(),
            name: "web".into()
        })
    );
    let t = tf("  destination: {ip: 10.200.0.10}\n");
    assert_eq!(
        t.destination,
        Some(super::TraceflowDestination::Ip(
            "10.200.0.10".parse().expect("ip")
        ))
    );
}

#[test]
fn a_bad_traceflow_is_refused_where_it_is_written() {
    let text = |rest: &str| format!("{TF_HEAD}{rest}");
    assert_err_at(
        &text("  destination: {namespace: shop, pod: web}\n  timeout: 301\n"),
        7,
        12,
        "spec.timeout in body should be between 1 and 300",
    );
    assert_err_at(
        &text("  destination: {pod: web}\n"),
        6,
        16,
        "a destination Pod or Service needs its namespace",
    );
    assert_err_at(
        &text("  destination: {namespace: shop, pod: web, ip: 10.0.0.1}\n"),
        6,
        16,
        "exactly one of pod, service or ip",
    );
    assert_err_at(
        &text("  destination: {namespace: shop, pod: web}\n  packet: {ipHeader: {protocol: 50}}\n"),
        7,
        33,
        "ipHeader.protocol 50 is not ICMP (1), TCP (6) or UDP (17)",
    );
    // droppedOnly without liveTraffic: the agent ignores it.
    let ok = text("  destination: {namespace: shop, pod: web}\n  droppedOnly: true\n");
    assert_eq!(traceflow(&ok).flow, None);
    assert_eq!(traceflow(&ok).live, None);
}

/// Live traffic: the source may be left out for a destination Pod, or be
/// an IP; validate.go's messages otherwise.
#[test]
fn a_live_traffic_traceflow_needs_a_source_or_a_destination_pod() {
    let head = "apiVersion: crd.antrea.io/v1beta1\nkind: Traceflow\nmetadata: {name: tf}\nspec:\n";
    let t = traceflow(&format!(
        "{head}  liveTraffic: true\n  droppedOnly: true\n  timeout: 30\n  source: {{ip: 10.0.0.9}}\n  destination: {{namespace: shop, pod: web}}\n"
    ));
    assert_eq!(t.live, Some(super::LiveTraffic { dropped_only: true }));
    assert_eq!(
        (t.source, t.source_ip),
        (None, Some("10.0.0.9".parse().expect("ip")))
    );
    assert_eq!(t.timeout_s, 30);
    let t = traceflow(&format!(
        "{head}  liveTraffic: true\n  source: {{namespace: shop, pod: client}}\n"
    ));
    assert_eq!((t.destination, t.flow), (None, None));
    assert_err_at(
        &format!(
            "{head}  liveTraffic: true\n  source: {{ip: 10.0.0.9}}\n  destination: {{ip: 10.0.0.8}}\n"
        ),
        5,
        3,
        "Traceflow tf has neither source nor destination Pod specified",
    );
    assert_err_at(
        &format!(
            "{head}  source: {{ip: 10.0.0.9}}\n  destination: {{namespace: shop, pod: web}}\n"
        ),
        5,
        16,
        "IP as the source is supported only for live-traffic Traceflow",
    );
    assert_err_at(
        &format!(
            "{head}  destination: {{namespace: shop, pod: web}}\n  source: {{namespace: shop}}\n"
        ),
        6,
        11,
        "source Pod must be specified in non-live-traffic Traceflow",
    );
}

const EXTERNAL_NODE: &str = "apiVersion: crd.antrea.io/v1alpha1
kind: ExternalNode
metadata:
  name: vm1
  namespace: vm-ns
  labels: {role: db}
spec:
  interfaces:
    - ips: [\"172.16.100.3\"]
      name: \"\"
";

#[test]
fn an_external_node_is_read_with_its_interface() {
    let Object::ExternalNode(en) = one(EXTERNAL_NODE) else {
        panic!("an ExternalNode");
    };
    assert_eq!(en.meta.namespace.as_deref(), Some("vm-ns"));
    assert_eq!(en.interface, "");
    assert_eq!(
        en.ips,
        ["172.16.100.3".parse::<std::net::Ipv4Addr>().unwrap()]
    );
}

#[test]
fn external_node_interfaces_follow_the_crd() {
    // externalnode.yaml: minItems 1, maxItems 1 (kube-openapi's words).
    let none = EXTERNAL_NODE.replace(
        "  interfaces:\n    - ips: [\"172.16.100.3\"]\n      name: \"\"\n",
        "  interfaces: []\n",
    );
    assert_err_at(
        &none,
        8,
        15,
        "ExternalNode.crd.antrea.io \"vm1\" is invalid: spec.interfaces: Invalid value: 0: spec.interfaces in body should have at least 1 items",
    );
    let two = EXTERNAL_NODE.replace(
        "      name: \"\"\n",
        "      name: a\n    - ips: [\"172.16.100.4\"]\n      name: b\n",
    );
    let e = err(&two);
    assert!(
        e.message
            .contains("spec.interfaces: Too many: 2: must have at most 1 items"),
        "{e}"
    );
    // No IPs: the controller refuses it (the CRD does not).
    let no_ips = EXTERNAL_NODE.replace(
        "    - ips: [\"172.16.100.3\"]\n      name: \"\"\n",
        "    - name: eth0\n",
    );
    assert!(
        err(&no_ips)
            .message
            .contains("failed to get IPs form Interfaces[0] from ExternalNode vm1"),
    );
}

#[test]
fn an_external_entity_selector_is_a_peer_of_its_own() {
    let anp = "apiVersion: crd.antrea.io/v1beta1
kind: NetworkPolicy
metadata: {name: p, namespace: vm-ns}
spec:
  priority: 5
  appliedTo:
    - externalEntitySelector: {matchLabels: {role: db}}
      group: g
  ingress:
    - action: Drop
";
    // validate.go: a group goes with no other peer (an entity selector is one).
    assert_err_at(anp, 8, 14, "group cannot be set with other peers");
    let ok = anp.replace("      group: g\n", "      namespaceSelector: {}\n");
    let Object::AntreaPolicy(p) = one(&ok) else {
        panic!("a policy");
    };
    assert!(p.applied_to[0].external_entity_selector.is_some());
    // In a Kubernetes NetworkPolicy it is an unknown field.
    let k8s = "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: vm-ns}
spec:
  podSelector: {}
  ingress:
    - from:
        - externalEntitySelector: {}
";
    assert!(
        err(k8s)
            .message
            .contains("unknown field \"externalEntitySelector\"")
    );
}

/// A file large enough to be parsed on several threads gives its objects
/// in document order, and the first error in document order.
#[test]
fn a_large_file_parses_in_document_order() {
    let doc =
        |i: usize| format!("---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: ns-{i}\n");
    let text: String = (0..3 * DOCUMENTS_PER_THREAD).map(doc).collect();
    let objs = parse_manifests("m.yaml", &text).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<String> = objs.iter().map(|o| o.meta().name.clone()).collect();
    let want: Vec<String> = (0..3 * DOCUMENTS_PER_THREAD)
        .map(|i| format!("ns-{i}"))
        .collect();
    assert_eq!(names, want);
    // Two broken documents, one early and one late: the early one is
    // reported, at its line.
    let broken = |i: usize| format!("---\napiVersion: v1\nkind: Namespace\nmetadata: [{i}\n");
    let text: String = (0..3 * DOCUMENTS_PER_THREAD)
        .map(|i| {
            if i == 10 || i == 700 {
                broken(i)
            } else {
                doc(i)
            }
        })
        .collect();
    let e = err(&text);
    assert_eq!(e.line, 10 * 5 + 4, "{e}");
}

// ---- BGPPolicy ---------------------------------------------------------------------

/// `docs/bgp-policy.md`'s second example, shortened: Services, Pods and
/// Egresses to two peers.
const BGP_POLICY: &str = "apiVersion: crd.antrea.io/v1alpha1
kind: BGPPolicy
metadata:
  name: advertise-all
spec:
  nodeSelector:
    matchLabels:
      bgp: enabled
  localASN: 64512
  advertisements:
    service:
      ipTypes: [ClusterIP, LoadBalancerIP]
    pod: {}
    egress: {}
  bgpPeers:
    - address: 192.168.77.200
      asn: 65001
    - address: 192.168.77.201
      port: 1179
      asn: 65002
      multihopTTL: 2
      gracefulRestartTimeSeconds: 60
";

#[test]
fn a_bgp_policy_is_read_with_the_schema_defaults() {
    let Object::BgpPolicy(p) = one(BGP_POLICY) else {
        panic!("a BGPPolicy");
    };
    assert_eq!(p.meta.name, "advertise-all");
    assert_eq!((p.local_asn, p.listen_port), (64512, 179));
    assert_eq!(
        p.service_ip_types,
        [ServiceIpType::ClusterIP, ServiceIpType::LoadBalancerIP]
    );
    assert!(p.advertise_pod_cidr && p.advertise_egress);
    assert_eq!(p.confederation, None);
    let first = &p.peers[0];
    assert_eq!(
        (first.port, first.multihop_ttl, first.graceful_restart_secs),
        (179, 1, 120)
    );
    assert_eq!(first.key(), "192.168.77.200-65001");
    let second = &p.peers[1];
    assert_eq!(
        (
            second.port,
            second.asn,
            second.multihop_ttl,
            second.graceful_restart_secs
        ),
        (1179, 65002, 2, 60)
    );
    assert_eq!(Object::BgpPolicy(p).is_namespaced(), Some(false));
    // Nothing advertised, no peers: still a policy (a speaker with no session).
    let bare = "apiVersion: crd.antrea.io/v1alpha1\nkind: BGPPolicy\nmetadata:\n  name: b\nspec:\n  nodeSelector: {}\n  localASN: 65000\n  confederation:\n    memberASNs: [65010]\n";
    let Object::BgpPolicy(b) = one(bare) else {
        panic!("a BGPPolicy");
    };
    assert!(b.service_ip_types.is_empty() && !b.advertise_pod_cidr && b.peers.is_empty());
    let c = b.confederation.expect("a confederation");
    assert_eq!((c.identifier, c.member_asns), (0, vec![65010]));
}

/// Only the CRD's schema checks a BGPPolicy (no webhook): the API server's
/// messages, at the field.
#[test]
fn bgp_policies_are_checked_by_their_schema() {
    let q = "BGPPolicy.crd.antrea.io \"advertise-all\" is invalid: ";
    let asn0 = BGP_POLICY.replace("localASN: 64512", "localASN: 0");
    assert_err_at(
        &asn0,
        9,
        13,
        &format!(
            "{q}spec.localASN: Invalid value: 0: spec.localASN in body should be greater than or equal to 1"
        ),
    );
    let big = BGP_POLICY.replace("localASN: 64512", "localASN: 70000");
    assert_err_at(
        &big,
        9,
        13,
        &format!(
            "{q}spec.localASN: Invalid value: 70000: spec.localASN in body should be less than or equal to 65535"
        ),
    );
    let no_asn = BGP_POLICY.replace("  localASN: 64512\n", "");
    assert!(
        err(&no_asn)
            .message
            .contains("spec.localASN: Required value"),
        "{}",
        err(&no_asn)
    );
    let no_selector = BGP_POLICY.replace(
        "  nodeSelector:\n    matchLabels:\n      bgp: enabled\n",
        "",
    );
    assert!(
        err(&no_selector)
            .message
            .contains("spec.nodeSelector: Required value")
    );
    let node_ip = BGP_POLICY.replace("[ClusterIP, LoadBalancerIP]", "[ClusterIP, NodeIP]");
    let e = err(&node_ip);
    assert!(
        e.message.contains("spec.advertisements.service.ipTypes[1]: Unsupported value: \"NodeIP\": supported values: \"ClusterIP\", \"LoadBalancerIP\", \"ExternalIP\""),
        "{e}"
    );
    assert_eq!((e.line, e.column), (12, 28));
    let ttl = BGP_POLICY.replace("multihopTTL: 2", "multihopTTL: 256");
    assert!(
        err(&ttl).message.contains("spec.bgpPeers[1].multihopTTL: Invalid value: 256: spec.bgpPeers[1].multihopTTL in body should be less than or equal to 255"),
        "{}",
        err(&ttl)
    );
    let gr = BGP_POLICY.replace(
        "gracefulRestartTimeSeconds: 60",
        "gracefulRestartTimeSeconds: 3601",
    );
    assert!(
        err(&gr)
            .message
            .contains("spec.bgpPeers[1].gracefulRestartTimeSeconds: Invalid value: 3601")
    );
    let no_peer_asn = BGP_POLICY.replace("      asn: 65001\n", "");
    assert!(
        err(&no_peer_asn)
            .message
            .contains("spec.bgpPeers[0].asn: Required value")
    );
    let bad_addr = BGP_POLICY.replace("192.168.77.200", "192.168.77.300");
    let e = err(&bad_addr);
    assert!(e.message.contains("spec.bgpPeers[0].address"), "{e}");
    assert_eq!(e.line, 16);
    let unknown = BGP_POLICY.replace("  localASN: 64512\n", "  localASN: 64512\n  holdTime: 9\n");
    assert!(
        err(&unknown)
            .message
            .contains("unknown field \"spec.holdTime\""),
        "{}",
        err(&unknown)
    );
}
