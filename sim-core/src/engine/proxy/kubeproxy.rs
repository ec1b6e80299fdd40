//! kube-proxy's rules for one Service port (Kubernetes 1.28).
//!
//! iptables mode (`pkg/proxy/iptables/proxier.go` `syncProxyRules`): nat
//! `KUBE-SERVICES` captures the ClusterIP, external IPs and LoadBalancer IPs,
//! `KUBE-NODEPORTS` the NodePort; `KUBE-EXT-*` handles external destinations
//! (masquerade, or with externalTrafficPolicy Local the pod/host short-circuits),
//! `KUBE-SVC-*` (Cluster policy) and `KUBE-SVL-*` (Local policy) spread over
//! `KUBE-SEP-*` with `statistic --mode random --probability 1/(n-i)`; each
//! `KUBE-SEP-*` masquerades hairpin traffic and DNATs. No endpoints: filter
//! `REJECT` (no endpoints anywhere) or `DROP` (none local for a Local policy).
//! Endpoints are in kube-proxy's order: sorted by their `ip:port` string
//! (`byEndpoint`, endpointslicecache.go). Rule text is iptables-save's
//! normalized form (`-s/-d` first with `/32`, `-p`, then matches), with the
//! statistic probability quantized as the kernel stores it (2^-31 steps).
//! Not modelled: large-cluster mode (comments dropped above 1000 endpoints),
//! `loadBalancerSourceRanges`, health-check node ports.
//!
//! IPVS mode (`pkg/proxy/ipvs/proxier.go`): one virtual server per ClusterIP,
//! external IP, LoadBalancer IP and NodePort × node address (transport IP and
//! `antrea-gw0`, as the blog's `ipvsadm -Ln` shows), scheduler `rr`, weight 1,
//! `persistent <timeout>` for ClientIP affinity; real servers are the Local
//! policy endpoints for a Local policy (IPVS cannot tell pod from external
//! sources, so there is no short-circuit). The iptables/ipset helpers of IPVS
//! mode are not rendered.

use std::net::Ipv4Addr;

use super::chain_hash::{chain_hash, chain_hash_bytes};
use super::rules::{
    Categorized, EndpointRef, IpvsService, KubePortRules, NodeServiceRules, ServicePortRules,
    VipKind,
};
use super::{KubeProxyMode, proto_word};
use crate::k8s::Protocol;

/// An iptables table kube-proxy writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum IptTable {
    Filter,
    Nat,
}

/// One `-A` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IptRule {
    pub(crate) table: IptTable,
    pub(crate) chain: String,
    /// Everything after `-A <chain> `.
    pub(crate) spec: String,
}

/// kube-proxy's masquerade mark (`--iptables-masquerade-bit` 14).
pub const MASQ_MARK: &str = "0x4000";

/// Builds an iptables-save-normalized rule.
#[derive(Default)]
struct Spec {
    src: Option<String>,
    dst: Option<String>,
    proto: Option<&'static str>,
    matches: Vec<String>,
}

impl Spec {
    fn src(mut self, s: impl Into<String>) -> Self {
        self.src = Some(s.into());
        self
    }
    fn dst(mut self, ip: Ipv4Addr) -> Self {
        self.dst = Some(format!("{ip}/32"));
        self
    }
    fn proto(mut self, p: Protocol) -> Self {
        self.proto = Some(proto_word(p));
        self
    }
    fn comment(mut self, c: &str) -> Self {
        self.matches.push(format!("-m comment --comment \"{c}\""));
        self
    }
    fn m(mut self, m: impl Into<String>) -> Self {
        self.matches.push(m.into());
        self
    }
    fn jump(self, target: &str) -> String {
        let mut out = String::with_capacity(96);
        if let Some(s) = &self.src {
            out.push_str(s);
            out.push(' ');
        }
        if let Some(d) = &self.dst {
            out.push_str("-d ");
            out.push_str(d);
            out.push(' ');
        }
        if let Some(p) = self.proto {
            out.push_str("-p ");
            out.push_str(p);
            out.push(' ');
        }
        for m in &self.matches {
            out.push_str(m);
            out.push(' ');
        }
        out.push_str("-j ");
        out.push_str(target);
        out
    }
}

/// `statistic --probability` as iptables-save prints it: the kernel keeps
/// `round(p · 2^31)`.
pub fn probability(n: usize) -> String {
    let scaled = (2147483648.0 / n as f64).round();
    format!("{:.11}", scaled / 2147483648.0)
}

/// `ip:port` as text, without allocating, for kube-proxy's string order.
fn text_key(ip: Ipv4Addr, port: u16) -> ([u8; 21], usize) {
    fn push_num(v: u32, buf: &mut [u8; 21], n: &mut usize) {
        let mut digits = [0u8; 5];
        let mut k = 0;
        let mut v = v;
        loop {
            digits[k] = b'0' + (v % 10) as u8;
            k += 1;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        while k > 0 {
            k -= 1;
            buf[*n] = digits[k];
            *n += 1;
        }
    }
    let mut buf = [0u8; 21];
    let mut n = 0;
    for (i, o) in ip.octets().iter().enumerate() {
        if i > 0 {
            buf[n] = b'.';
            n += 1;
        }
        push_num(u32::from(*o), &mut buf, &mut n);
    }
    buf[n] = b':';
    n += 1;
    push_num(u32::from(port), &mut buf, &mut n);
    (buf, n)
}

fn sort_kube(v: Option<Vec<EndpointRef>>) -> Option<Vec<EndpointRef>> {
    v.map(|mut v| {
        v.sort_by(|a, b| {
            let (ka, na) = text_key(a.ip, a.port);
            let (kb, nb) = text_key(b.ip, b.port);
            ka[..na].cmp(&kb[..nb])
        });
        v
    })
}

pub(crate) fn compile_port(
    rules: &NodeServiceRules,
    r: &ServicePortRules,
    cats: Categorized,
    mode: KubeProxyMode,
) -> KubePortRules {
    let cats = Categorized {
        cluster: sort_kube(cats.cluster),
        local: sort_kube(cats.local),
        ..cats
    };
    let mut out = KubePortRules {
        mode,
        cats,
        svc_chain: String::new(),
        svl_chain: String::new(),
        ext_chain: String::new(),
        sep_chains: Vec::new(),
        ipvs: Vec::new(),
    };
    match mode {
        KubeProxyMode::Iptables => {
            // Chain names are hashes: computed once here, the rule text only
            // when rendered or counted.
            let base = format!("{}{}", r.name, proto_word(r.protocol));
            out.svc_chain = format!("KUBE-SVC-{}", chain_hash(&base));
            out.svl_chain = format!("KUBE-SVL-{}", chain_hash(&base));
            out.ext_chain = format!("KUBE-EXT-{}", chain_hash(&base));
            let mut seps: Vec<((Ipv4Addr, u16), String)> = out
                .cats
                .cluster
                .iter()
                .flatten()
                .chain(out.cats.local.iter().flatten())
                .map(|e| {
                    let (k, n) = text_key(e.ip, e.port);
                    let mut input = base.clone().into_bytes();
                    input.extend_from_slice(&k[..n]);
                    (
                        (e.ip, e.port),
                        format!("KUBE-SEP-{}", chain_hash_bytes(&input)),
                    )
                })
                .collect();
            seps.sort();
            seps.dedup_by(|a, b| a.0 == b.0);
            out.sep_chains = seps;
        }
        KubeProxyMode::Ipvs { .. } => ipvs_port(rules, r, &mut out),
    }
    out
}

fn ipvs_port(rules: &NodeServiceRules, r: &ServicePortRules, out: &mut KubePortRules) {
    let reals = |local: bool| -> Vec<(Ipv4Addr, u16)> {
        let list = if local {
            &out.cats.local
        } else {
            &out.cats.cluster
        };
        list.iter().flatten().map(|e| (e.ip, e.port)).collect()
    };
    let internal = reals(r.itp_local);
    let external = reals(r.etp_local);
    let vs = |kind, vip, port, reals: &Vec<(Ipv4Addr, u16)>| IpvsService {
        protocol: r.protocol,
        vip,
        port,
        kind,
        persistent: r.affinity_seconds,
        reals: reals.clone(),
    };
    let mut v = vec![vs(VipKind::ClusterIp, r.cluster_ip, r.port, &internal)];
    for ip in &r.external_ips {
        v.push(vs(VipKind::ExternalIp, *ip, r.port, &external));
    }
    for ip in &r.lb_ips {
        v.push(vs(VipKind::LoadBalancerIp, *ip, r.port, &external));
    }
    if let Some(np) = r.node_port {
        for ip in rules.node.kube_nodeport_addresses(&rules.cfg) {
            v.push(vs(VipKind::NodePort, ip, np, &external));
        }
    }
    out.ipvs = v;
}

/// The iptables rules of one Service port (iptables mode): the chains it
/// declares and its `-A` lines in kube-proxy's write order.
pub(crate) fn iptables_rules(
    rules: &NodeServiceRules,
    r: &ServicePortRules,
    k: &KubePortRules,
) -> (Vec<(IptTable, String)>, Vec<IptRule>) {
    let spn = r.name.to_string();
    let proto = proto_word(r.protocol);
    let (svc_chain, svl_chain, ext_chain) = (&k.svc_chain, &k.svl_chain, &k.ext_chain);
    let cluster_cidr = rules.cfg.cluster_cidr;
    let mut out_rules: Vec<IptRule> = Vec::new();

    let cluster: &[EndpointRef] = k.cats.cluster.as_deref().unwrap_or(&[]);
    let local: &[EndpointRef] = k.cats.local.as_deref().unwrap_or(&[]);
    let has_endpoints = k.cats.has_any;
    let uses_cluster_chain = !cluster.is_empty() && r.uses_cluster_endpoints();
    let uses_local_chain = !local.is_empty() && r.uses_local_endpoints();
    let (internal_chain, has_internal) = if r.itp_local {
        (svl_chain, has_endpoints && !local.is_empty())
    } else {
        (svc_chain, has_endpoints)
    };
    let (external_policy_chain, has_external) = if r.etp_local {
        (svl_chain, has_endpoints && !local.is_empty())
    } else {
        (svc_chain, has_endpoints)
    };
    let uses_ext_chain = has_endpoints && r.externally_accessible();
    let (int_target, int_comment, ext_target, ext_comment) = if !has_endpoints {
        let c = format!("{spn} has no endpoints");
        let t = "REJECT --reject-with icmp-port-unreachable";
        (t, c.clone(), t, c)
    } else {
        let c = format!("{spn} has no local endpoints");
        ("DROP", c.clone(), "DROP", c)
    };

    let mut nat = |chain: &str, spec: String| {
        out_rules.push(IptRule {
            table: IptTable::Nat,
            chain: chain.to_string(),
            spec,
        })
    };
    let mut filt: Vec<IptRule> = Vec::new();
    let mut filter = |chain: &str, spec: String| {
        filt.push(IptRule {
            table: IptTable::Filter,
            chain: chain.to_string(),
            spec,
        })
    };
    let dport = format!("-m {proto} --dport {}", r.port);

    // ClusterIP.
    let cip = Spec::default()
        .dst(r.cluster_ip)
        .proto(r.protocol)
        .comment(&format!("{spn} cluster IP"))
        .m(dport.clone());
    if has_internal {
        nat("KUBE-SERVICES", clone_spec(&cip).jump(internal_chain));
    } else {
        filter(
            "KUBE-SERVICES",
            Spec::default()
                .dst(r.cluster_ip)
                .proto(r.protocol)
                .comment(&int_comment)
                .m(dport.clone())
                .jump(int_target),
        );
    }
    // External IPs and LoadBalancer IPs.
    for (ips, what) in [
        (&r.external_ips, "external IP"),
        (&r.lb_ips, "loadbalancer IP"),
    ] {
        for ip in ips.iter() {
            if has_endpoints {
                nat(
                    "KUBE-SERVICES",
                    Spec::default()
                        .dst(*ip)
                        .proto(r.protocol)
                        .comment(&format!("{spn} {what}"))
                        .m(dport.clone())
                        .jump(ext_chain),
                );
            }
            if !has_external {
                filter(
                    "KUBE-EXTERNAL-SERVICES",
                    Spec::default()
                        .dst(*ip)
                        .proto(r.protocol)
                        .comment(&ext_comment)
                        .m(dport.clone())
                        .jump(ext_target),
                );
            }
        }
    }
    // NodePort.
    if let Some(np) = r.node_port {
        if has_endpoints {
            nat(
                "KUBE-NODEPORTS",
                Spec::default()
                    .proto(r.protocol)
                    .comment(&spn)
                    .m(format!("-m {proto} --dport {np}"))
                    .jump(ext_chain),
            );
        }
        if !has_external {
            filter(
                "KUBE-EXTERNAL-SERVICES",
                Spec::default()
                    .proto(r.protocol)
                    .comment(&ext_comment)
                    .m("-m addrtype --dst-type LOCAL")
                    .m(format!("-m {proto} --dport {np}"))
                    .jump(ext_target),
            );
        }
    }
    // Masquerade off-cluster traffic to the ClusterIP.
    if has_internal && let Some(cidr) = cluster_cidr {
        nat(
            internal_chain,
            clone_spec(&cip)
                .src(format!("! -s {cidr}"))
                .jump("KUBE-MARK-MASQ"),
        );
    }
    // External destinations.
    let mut chains: Vec<(IptTable, String)> = Vec::new();
    if uses_ext_chain {
        chains.push((IptTable::Nat, ext_chain.clone()));
        if !r.etp_local {
            nat(
                ext_chain,
                Spec::default()
                    .comment(&format!(
                        "masquerade traffic for {spn} external destinations"
                    ))
                    .jump("KUBE-MARK-MASQ"),
            );
        } else {
            if let Some(cidr) = cluster_cidr {
                nat(
                    ext_chain,
                    Spec::default()
                        .src(format!("-s {cidr}"))
                        .comment(&format!("pod traffic for {spn} external destinations"))
                        .jump(svc_chain),
                );
            }
            nat(
                ext_chain,
                Spec::default()
                    .comment(&format!(
                        "masquerade LOCAL traffic for {spn} external destinations"
                    ))
                    .m("-m addrtype --src-type LOCAL")
                    .jump("KUBE-MARK-MASQ"),
            );
            nat(
                ext_chain,
                Spec::default()
                    .comment(&format!(
                        "route LOCAL traffic for {spn} external destinations"
                    ))
                    .m("-m addrtype --src-type LOCAL")
                    .jump(svc_chain),
            );
        }
        if has_external {
            nat(ext_chain, Spec::default().jump(external_policy_chain));
        }
    }
    // Policy chains.
    let sep_of = |e: &EndpointRef| k.sep(e).to_string();
    let mut policy_chain = |chain: &str, eps: &[EndpointRef], nat: &mut dyn FnMut(&str, String)| {
        chains.push((IptTable::Nat, chain.to_string()));
        if let Some(t) = r.affinity_seconds {
            for e in eps {
                let sep = sep_of(e);
                nat(
                    chain,
                    Spec::default()
                        .comment(&format!("{spn} -> {}:{}", e.ip, e.port))
                        .m(format!(
                            "-m recent --rcheck --seconds {t} --reap --name {sep} --mask 255.255.255.255 --rsource"
                        ))
                        .jump(&sep),
                );
            }
        }
        let n = eps.len();
        for (i, e) in eps.iter().enumerate() {
            let mut s = Spec::default().comment(&format!("{spn} -> {}:{}", e.ip, e.port));
            if i + 1 < n {
                s = s.m(format!(
                    "-m statistic --mode random --probability {}",
                    probability(n - i)
                ));
            }
            nat(chain, s.jump(&sep_of(e)));
        }
    };
    if uses_cluster_chain {
        policy_chain(svc_chain, cluster, &mut nat);
    }
    if uses_local_chain {
        policy_chain(svl_chain, local, &mut nat);
    }
    // Endpoint chains: every endpoint reachable from this node.
    let mut reachable: Vec<&EndpointRef> = Vec::new();
    if uses_cluster_chain {
        reachable.extend(cluster.iter());
    }
    if uses_local_chain {
        reachable.extend(local.iter());
    }
    reachable.sort_by_cached_key(|e| format!("{}:{}", e.ip, e.port));
    reachable.dedup_by_key(|e| (e.ip, e.port));
    for e in reachable {
        let sep = sep_of(e);
        chains.push((IptTable::Nat, sep.clone()));
        nat(
            &sep,
            Spec::default()
                .src(format!("-s {}/32", e.ip))
                .comment(&spn)
                .jump("KUBE-MARK-MASQ"),
        );
        let mut s = Spec::default().proto(r.protocol).comment(&spn);
        if r.affinity_seconds.is_some() {
            s = s.m(format!(
                "-m recent --set --name {sep} --mask 255.255.255.255 --rsource"
            ));
        }
        nat(
            &sep,
            s.m(format!("-m {proto}"))
                .jump(&format!("DNAT --to-destination {}:{}", e.ip, e.port)),
        );
    }
    out_rules.extend(filt);
    chains.sort();
    chains.dedup();
    (chains, out_rules)
}

fn clone_spec(s: &Spec) -> Spec {
    Spec {
        src: s.src.clone(),
        dst: s.dst.clone(),
        proto: s.proto,
        matches: s.matches.clone(),
    }
}

/// Chains kube-proxy always declares, per table.
pub const FIXED_FILTER_CHAINS: &[&str] = &[
    "KUBE-EXTERNAL-SERVICES",
    "KUBE-FORWARD",
    "KUBE-NODEPORTS",
    "KUBE-PROXY-FIREWALL",
    "KUBE-SERVICES",
];
pub const FIXED_NAT_CHAINS: &[&str] = &[
    "KUBE-MARK-MASQ",
    "KUBE-NODEPORTS",
    "KUBE-POSTROUTING",
    "KUBE-SERVICES",
];

/// Rules kube-proxy always writes (jumps from the built-in chains and its
/// fixed chains), as (table, chain, spec).
pub fn fixed_rules() -> Vec<(IptTable, &'static str, String)> {
    use IptTable::{Filter, Nat};
    let c = |s: &str| format!("-m comment --comment \"{s}\"");
    vec![
        (
            Filter,
            "INPUT",
            format!(
                "-m conntrack --ctstate NEW {} -j KUBE-PROXY-FIREWALL",
                c("kubernetes load balancer firewall")
            ),
        ),
        (
            Filter,
            "INPUT",
            format!(
                "{} -j KUBE-NODEPORTS",
                c("kubernetes health check service ports")
            ),
        ),
        (
            Filter,
            "INPUT",
            format!(
                "-m conntrack --ctstate NEW {} -j KUBE-EXTERNAL-SERVICES",
                c("kubernetes externally-visible service portals")
            ),
        ),
        (
            Filter,
            "FORWARD",
            format!(
                "-m conntrack --ctstate NEW {} -j KUBE-PROXY-FIREWALL",
                c("kubernetes load balancer firewall")
            ),
        ),
        (
            Filter,
            "FORWARD",
            format!("{} -j KUBE-FORWARD", c("kubernetes forwarding rules")),
        ),
        (
            Filter,
            "FORWARD",
            format!(
                "-m conntrack --ctstate NEW {} -j KUBE-SERVICES",
                c("kubernetes service portals")
            ),
        ),
        (
            Filter,
            "FORWARD",
            format!(
                "-m conntrack --ctstate NEW {} -j KUBE-EXTERNAL-SERVICES",
                c("kubernetes externally-visible service portals")
            ),
        ),
        (
            Filter,
            "OUTPUT",
            format!(
                "-m conntrack --ctstate NEW {} -j KUBE-PROXY-FIREWALL",
                c("kubernetes load balancer firewall")
            ),
        ),
        (
            Filter,
            "OUTPUT",
            format!(
                "-m conntrack --ctstate NEW {} -j KUBE-SERVICES",
                c("kubernetes service portals")
            ),
        ),
        (
            Filter,
            "KUBE-FORWARD",
            "-m conntrack --ctstate INVALID -j DROP".to_string(),
        ),
        (
            Filter,
            "KUBE-FORWARD",
            format!(
                "{} -m mark --mark {MASQ_MARK}/{MASQ_MARK} -j ACCEPT",
                c("kubernetes forwarding rules")
            ),
        ),
        (
            Filter,
            "KUBE-FORWARD",
            format!(
                "{} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
                c("kubernetes forwarding conntrack rule")
            ),
        ),
        (
            Nat,
            "PREROUTING",
            format!("{} -j KUBE-SERVICES", c("kubernetes service portals")),
        ),
        (
            Nat,
            "OUTPUT",
            format!("{} -j KUBE-SERVICES", c("kubernetes service portals")),
        ),
        (
            Nat,
            "POSTROUTING",
            format!("{} -j KUBE-POSTROUTING", c("kubernetes postrouting rules")),
        ),
        (
            Nat,
            "KUBE-MARK-MASQ",
            format!("-j MARK --set-xmark {MASQ_MARK}/{MASQ_MARK}"),
        ),
        (
            Nat,
            "KUBE-POSTROUTING",
            format!("-m mark ! --mark {MASQ_MARK}/{MASQ_MARK} -j RETURN"),
        ),
        (
            Nat,
            "KUBE-POSTROUTING",
            format!("-j MARK --set-xmark {MASQ_MARK}/0x0"),
        ),
        (
            Nat,
            "KUBE-POSTROUTING",
            format!(
                "{} -j MASQUERADE --random-fully",
                c("kubernetes service traffic requiring SNAT")
            ),
        ),
        // Must stay the last rule of KUBE-SERVICES; render puts it there.
        (
            Nat,
            "KUBE-SERVICES",
            format!(
                "{} -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS",
                c("kubernetes service nodeports; NOTE: this must be the last rule in this chain")
            ),
        ),
    ]
}
