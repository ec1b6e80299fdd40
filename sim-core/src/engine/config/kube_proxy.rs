//! The `kube-system/kube-proxy` ConfigMap: its `config.conf` is a
//! KubeProxyConfiguration (`kubeproxy.config.k8s.io/v1alpha1`). antlab reads
//! `mode` and `ipvs.strictARP`, spelled as that type's json tags.
//! kube-proxy re-reads it when its Pods restart; antlab applies it at once.

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::embedded::Embedded;
use crate::engine::ClusterState;
use crate::engine::proxy::KubeProxyMode;
use crate::input::InputError;
use crate::k8s::ConfigMap;

#[derive(Debug, Default, Deserialize)]
struct KubeProxyDoc {
    #[serde(rename = "mode", default)]
    mode: Option<Spanned<String>>,
    #[serde(rename = "ipvs", default)]
    ipvs: Option<IpvsDoc>,
}

#[derive(Debug, Default, Deserialize)]
struct IpvsDoc {
    #[serde(rename = "strictARP", default)]
    strict_arp: Option<bool>,
}

/// The mode the ConfigMap asks for; `None` when it has no `config.conf`.
pub fn read(cm: &ConfigMap) -> Result<Option<KubeProxyMode>, InputError> {
    let Some(conf) = Embedded::of(cm, "config.conf") else {
        return Ok(None);
    };
    let doc: KubeProxyDoc = conf.parse()?.unwrap_or_default();
    let strict = doc.ipvs.and_then(|i| i.strict_arp).unwrap_or(false);
    match doc.mode.as_ref().map(|m| m.value.as_str()) {
        Some("ipvs") => Ok(Some(KubeProxyMode::Ipvs { strict_arp: strict })),
        Some("iptables") | Some("") | None => Ok(Some(KubeProxyMode::Iptables)),
        Some(other) => Err(conf.error_on(
            doc.mode.as_ref().expect("matched Some"),
            format!("mode `{other}` is not modelled (iptables or ipvs)"),
        )),
    }
}

/// Applies the `kube-proxy` ConfigMap; returns log lines.
pub fn apply(cluster: &mut ClusterState, cm: &ConfigMap) -> Result<Vec<String>, InputError> {
    let Some(mode) = read(cm)? else {
        return Ok(vec![
            "ConfigMap kube-system/kube-proxy has no config.conf; nothing changes".into(),
        ]);
    };
    if cluster.proxy.kube_proxy.is_none() {
        return Ok(vec![
            "kube-proxy ConfigMap stored; kube-proxy is not running".into(),
        ]);
    }
    cluster.proxy.kube_proxy = Some(mode);
    Ok(vec![format!("kube-proxy restarted with mode {mode:?}")])
}
