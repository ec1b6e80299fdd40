//! The API server's validation of Antrea's ExternalIPPool, Egress, TrafficControl and ExternalNode against their
//! CRD schemas (`build/charts/antrea/crds/externalippool.yaml`, `egress.yaml`, `trafficcontrol.yaml` at
//! v2.7.0), before any webhook sees them: types, `format` (cidr, ipv4, ipv6),
//! `minimum`/`maximum`, `required`, `enum`, label-value `pattern`, `oneOf`/`anyOf`.
//!
//! Messages have the shape kube-apiserver gives them (kube-openapi's validator,
//! apiextensions-apiserver's `kubeOpenAPIResultToFieldErrors`, apimachinery's
//! `field.Error`), e.g.
//! `ExternalIPPool.crd.antrea.io "p" is invalid: spec.subnetInfo.prefixLength: Invalid
//! value: 0: spec.subnetInfo.prefixLength in body should be greater than or equal to 1`;
//! several errors are listed in brackets, as the API server aggregates them. Where
//! kube-openapi picks which failed `oneOf` branch to explain by a match count, antlab
//! explains the branch with the fewest errors (the first on a tie).

use std::net::Ipv6Addr;
use std::sync::OnceLock;

use serde_saphyr::{Location, Spanned};

use super::tree::{FieldPath, Yaml};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum JsonType {
    Object,
    Array,
    String,
    Integer,
}

impl JsonType {
    fn name(self) -> &'static str {
        match self {
            JsonType::Object => "object",
            JsonType::Array => "array",
            JsonType::String => "string",
            JsonType::Integer => "integer",
        }
    }

    fn accepts(self, node: &Yaml) -> bool {
        matches!(
            (self, node),
            (JsonType::Object, Yaml::Map(_))
                | (JsonType::Array, Yaml::Seq(_))
                | (JsonType::String, Yaml::Str(_))
                | (JsonType::Integer, Yaml::Int(_))
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Cidr,
    Ipv4,
    Ipv6,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Cidr => "cidr",
            Format::Ipv4 => "ipv4",
            Format::Ipv6 => "ipv6",
        }
    }

    /// kube-openapi's checks: Go's `net.ParseIP`/`ParseCIDR` "sloppy" variants, which
    /// accept leading zeros in IPv4 octets.
    fn accepts(self, s: &str) -> bool {
        match self {
            Format::Ipv4 => sloppy_ipv4(s),
            Format::Ipv6 => s.contains(':') && s.parse::<Ipv6Addr>().is_ok(),
            Format::Cidr => match s.split_once('/') {
                Some((ip, bits)) => {
                    let max = if sloppy_ipv4(ip) {
                        32
                    } else if ip.parse::<Ipv6Addr>().is_ok() {
                        128
                    } else {
                        return false;
                    };
                    !bits.is_empty()
                        && bits.len() <= 3
                        && bits.bytes().all(|b| b.is_ascii_digit())
                        && bits.parse::<u32>().is_ok_and(|b| b <= max)
                }
                None => false,
            },
        }
    }
}

fn sloppy_ipv4(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 4
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.len() <= 3
                && p.bytes().all(|b| b.is_ascii_digit())
                && p.parse::<u16>().is_ok_and(|v| v <= 255)
        })
}

/// Label values as the CRDs' `pattern` `^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$`.
const LABEL_VALUE_PATTERN: &str = "^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$";

fn label_value_ok(v: &str) -> bool {
    let b = v.as_bytes();
    match b {
        [] => true,
        [one] => one.is_ascii_alphanumeric(),
        [first, middle @ .., last] => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && middle
                    .iter()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        }
    }
}

/// A subset of an OpenAPI v3 schema: what Antrea's two CRDs use.
#[derive(Debug, Default)]
pub(crate) struct Schema {
    ty: Option<JsonType>,
    format: Option<Format>,
    minimum: Option<i64>,
    maximum: Option<i64>,
    required: Vec<&'static str>,
    properties: Vec<(&'static str, Schema)>,
    additional: Option<Box<Schema>>,
    items: Option<Box<Schema>>,
    one_of: Vec<Schema>,
    any_of: Vec<Schema>,
    enumeration: Vec<&'static str>,
    /// `enum` of integers (the TrafficControl CRD's ERSPAN version and dir).
    int_enumeration: Vec<i64>,
    label_value: bool,
    max_length: Option<usize>,
    /// `minItems`/`maxItems` of an array.
    min_items: Option<usize>,
    max_items: Option<usize>,
}

impl Schema {
    pub(crate) fn property(&self, name: &str) -> Option<&Schema> {
        self.properties
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| s)
    }

    pub(crate) fn property_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.properties.iter().map(|(n, _)| *n)
    }

    pub(crate) fn has_properties(&self) -> bool {
        !self.properties.is_empty()
    }

    pub(crate) fn additional_properties(&self) -> Option<&Schema> {
        self.additional.as_deref()
    }

    pub(crate) fn items(&self) -> Option<&Schema> {
        self.items.as_deref()
    }
}

// ---- schema builders ---------------------------------------------------------------

fn object(properties: Vec<(&'static str, Schema)>) -> Schema {
    Schema {
        ty: Some(JsonType::Object),
        properties,
        ..Schema::default()
    }
}

fn string() -> Schema {
    Schema {
        ty: Some(JsonType::String),
        ..Schema::default()
    }
}

fn integer() -> Schema {
    Schema {
        ty: Some(JsonType::Integer),
        ..Schema::default()
    }
}

fn array(items: Schema) -> Schema {
    Schema {
        ty: Some(JsonType::Array),
        items: Some(Box::new(items)),
        ..Schema::default()
    }
}

fn requires(fields: &[&'static str]) -> Schema {
    Schema {
        required: fields.to_vec(),
        ..Schema::default()
    }
}

fn format(f: Format) -> Schema {
    Schema {
        format: Some(f),
        ..Schema::default()
    }
}

/// `type: string` with `oneOf: [{format: ipv4}, {format: ipv6}]`.
fn ip_string() -> Schema {
    Schema {
        one_of: vec![format(Format::Ipv4), format(Format::Ipv6)],
        ..string()
    }
}

fn label_value() -> Schema {
    Schema {
        label_value: true,
        ..string()
    }
}

/// The CRDs' inlined LabelSelector (operators enumerated, values patterned).
fn label_selector() -> Schema {
    object(vec![
        (
            "matchExpressions",
            array(object(vec![
                ("key", string()),
                (
                    "operator",
                    Schema {
                        enumeration: vec!["In", "NotIn", "Exists", "DoesNotExist"],
                        ..string()
                    },
                ),
                ("values", array(label_value())),
            ])),
        ),
        (
            "matchLabels",
            Schema {
                additional: Some(Box::new(label_value())),
                ..object(vec![])
            },
        ),
    ])
}

/// `externalippools.crd.antrea.io` v1beta1.
pub(crate) fn external_ip_pool() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| Schema {
        required: vec!["spec"],
        ..object(vec![
            (
                "spec",
                Schema {
                    required: vec!["ipRanges", "nodeSelector"],
                    ..object(vec![
                        (
                            "ipRanges",
                            array(Schema {
                                one_of: vec![requires(&["cidr"]), requires(&["start", "end"])],
                                ..object(vec![
                                    (
                                        "cidr",
                                        Schema {
                                            format: Some(Format::Cidr),
                                            ..string()
                                        },
                                    ),
                                    ("start", ip_string()),
                                    ("end", ip_string()),
                                ])
                            }),
                        ),
                        (
                            "subnetInfo",
                            Schema {
                                required: vec!["gateway", "prefixLength"],
                                ..object(vec![
                                    ("gateway", ip_string()),
                                    (
                                        "prefixLength",
                                        Schema {
                                            minimum: Some(1),
                                            maximum: Some(127),
                                            ..integer()
                                        },
                                    ),
                                    (
                                        "vlan",
                                        Schema {
                                            minimum: Some(0),
                                            maximum: Some(4094),
                                            ..integer()
                                        },
                                    ),
                                ])
                            },
                        ),
                        ("nodeSelector", label_selector()),
                    ])
                },
            ),
            (
                "status",
                object(vec![(
                    "usage",
                    object(vec![("total", integer()), ("used", integer())]),
                )]),
            ),
        ])
    })
}

/// `egresses.crd.antrea.io` v1beta1.
pub(crate) fn egress() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| Schema {
        required: vec!["spec"],
        ..object(vec![
            (
                "spec",
                Schema {
                    required: vec!["appliedTo"],
                    one_of: vec![
                        Schema {
                            any_of: vec![requires(&["egressIP"]), requires(&["externalIPPool"])],
                            ..Schema::default()
                        },
                        Schema {
                            any_of: vec![requires(&["egressIPs"]), requires(&["externalIPPools"])],
                            ..Schema::default()
                        },
                    ],
                    ..object(vec![
                        (
                            "appliedTo",
                            object(vec![
                                ("podSelector", label_selector()),
                                ("namespaceSelector", label_selector()),
                            ]),
                        ),
                        ("egressIP", ip_string()),
                        (
                            "egressIPs",
                            array(Schema {
                                one_of: vec![
                                    Schema {
                                        max_length: Some(0),
                                        ..Schema::default()
                                    },
                                    format(Format::Ipv4),
                                    format(Format::Ipv6),
                                ],
                                ..string()
                            }),
                        ),
                        ("externalIPPool", string()),
                        ("externalIPPools", array(string())),
                        (
                            "bandwidth",
                            Schema {
                                required: vec!["rate", "burst"],
                                ..object(vec![("rate", string()), ("burst", string())])
                            },
                        ),
                    ])
                },
            ),
            (
                "status",
                object(vec![
                    ("egressNode", string()),
                    ("egressIP", string()),
                    (
                        "conditions",
                        array(object(vec![
                            ("type", string()),
                            ("status", string()),
                            ("lastTransitionTime", string()),
                            ("reason", string()),
                            ("message", string()),
                        ])),
                    ),
                ]),
            ),
        ])
    })
}

/// An integer within `min..=max`.
fn integer_in(min: i64, max: i64) -> Schema {
    Schema {
        minimum: Some(min),
        maximum: Some(max),
        ..integer()
    }
}

fn int_enum(values: &[i64]) -> Schema {
    Schema {
        int_enumeration: values.to_vec(),
        ..integer()
    }
}

fn enum_string(values: &[&'static str]) -> Schema {
    Schema {
        enumeration: values.to_vec(),
        ..string()
    }
}

/// A `TrafficControlPort`: exactly one kind; ERSPAN only as a target.
fn traffic_control_port(erspan: bool) -> Schema {
    let named = || Schema {
        required: vec!["name"],
        ..object(vec![("name", string())])
    };
    let udp = || Schema {
        required: vec!["remoteIP"],
        ..object(vec![
            ("remoteIP", ip_string()),
            ("vni", integer_in(0, 16_777_215)),
            ("destinationPort", integer_in(1, 65535)),
        ])
    };
    let mut kinds = vec!["ovsInternal", "device", "geneve", "vxlan", "gre"];
    let mut properties = vec![
        ("ovsInternal", named()),
        ("device", named()),
        ("geneve", udp()),
        ("vxlan", udp()),
        (
            "gre",
            Schema {
                required: vec!["remoteIP"],
                ..object(vec![
                    ("remoteIP", ip_string()),
                    ("key", integer_in(0, 4_294_967_295)),
                ])
            },
        ),
    ];
    if erspan {
        kinds.push("erspan");
        properties.push((
            "erspan",
            Schema {
                required: vec!["remoteIP", "version"],
                ..object(vec![
                    ("remoteIP", ip_string()),
                    ("sessionID", integer_in(0, 1023)),
                    ("version", int_enum(&[1, 2])),
                    ("index", integer()),
                    ("dir", int_enum(&[0, 1])),
                    ("hardwareID", integer()),
                ])
            },
        ));
    }
    Schema {
        one_of: kinds.iter().map(|k| requires(&[k])).collect(),
        ..object(properties)
    }
}

/// `externalnodes.crd.antrea.io` v1alpha1
/// (`build/charts/antrea/crds/externalnode.yaml`).
pub(crate) fn external_node() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| Schema {
        required: vec!["spec"],
        ..object(vec![(
            "spec",
            Schema {
                required: vec!["interfaces"],
                ..object(vec![(
                    "interfaces",
                    Schema {
                        min_items: Some(1),
                        max_items: Some(1),
                        // The CRD writes `required: [ips]` beside the array,
                        // where it checks nothing; the controller refuses a
                        // missing ips later.
                        ..array(Schema {
                            ..object(vec![
                                (
                                    "ips",
                                    Schema {
                                        min_items: Some(1),
                                        ..array(ip_string())
                                    },
                                ),
                                ("name", string()),
                            ])
                        })
                    },
                )])
            },
        )])
    })
}

/// `trafficcontrols.crd.antrea.io` v1alpha2
/// (`build/charts/antrea/crds/trafficcontrol.yaml`).
pub(crate) fn traffic_control() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| Schema {
        required: vec!["spec"],
        ..object(vec![(
            "spec",
            Schema {
                required: vec!["appliedTo", "direction", "action", "targetPort"],
                ..object(vec![
                    (
                        "appliedTo",
                        object(vec![
                            ("podSelector", label_selector()),
                            ("namespaceSelector", label_selector()),
                        ]),
                    ),
                    ("direction", enum_string(&["Ingress", "Egress", "Both"])),
                    ("action", enum_string(&["Mirror", "Redirect"])),
                    ("targetPort", traffic_control_port(true)),
                    ("returnPort", traffic_control_port(false)),
                ])
            },
        )])
    })
}

/// `bgppolicies.crd.antrea.io` v1alpha1 (`build/charts/antrea/crds/bgppolicy.yaml`,
/// Antrea v2.3+: `localASN` from 1; v2.1-2.2 began at 64512). The schema is
/// all the API server checks: no webhook validates a BGPPolicy.
pub(crate) fn bgp_policy() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    let asn = || integer_in(1, 65535);
    S.get_or_init(|| Schema {
        required: vec!["spec"],
        ..object(vec![(
            "spec",
            Schema {
                required: vec!["nodeSelector", "localASN"],
                ..object(vec![
                    ("nodeSelector", label_selector()),
                    ("localASN", asn()),
                    ("listenPort", integer_in(1, 65535)),
                    (
                        "confederation",
                        object(vec![("identifier", asn()), ("memberASNs", array(asn()))]),
                    ),
                    (
                        "advertisements",
                        object(vec![
                            (
                                "service",
                                object(vec![(
                                    "ipTypes",
                                    array(enum_string(&[
                                        "ClusterIP",
                                        "LoadBalancerIP",
                                        "ExternalIP",
                                    ])),
                                )]),
                            ),
                            ("pod", object(vec![])),
                            ("egress", object(vec![])),
                        ]),
                    ),
                    (
                        "bgpPeers",
                        array(Schema {
                            required: vec!["address", "asn"],
                            ..object(vec![
                                ("address", ip_string()),
                                ("port", integer_in(1, 65535)),
                                ("asn", asn()),
                                ("multihopTTL", integer_in(1, 255)),
                                ("gracefulRestartTimeSeconds", integer_in(1, 3600)),
                            ])
                        }),
                    ),
                ])
            },
        )])
    })
}

// ---- validation ------------------------------------------------------------------

/// One `field.Error` as the API server renders it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct FieldError {
    /// Where to point in the file.
    pub(crate) at: Location,
    pub(crate) text: String,
}

/// Validates `object` (the whole document) against `schema`; errors in order.
pub(crate) fn validate(schema: &Schema, object: &Spanned<Yaml>) -> Vec<FieldError> {
    let mut out = Vec::new();
    check(schema, object, &FieldPath::default(), &mut out);
    out
}

/// The API server's rejection message for these errors: `Kind.group "name" is invalid:
/// e` or `... is invalid: [e1, e2]`.
pub(crate) fn invalid_message(qualified_kind: &str, name: &str, errors: &[FieldError]) -> String {
    let texts: Vec<&str> = errors.iter().map(|e| e.text.as_str()).collect();
    let list = if texts.len() == 1 {
        texts[0].to_string()
    } else {
        format!("[{}]", texts.join(", "))
    };
    format!("{qualified_kind} {} is invalid: {list}", go_quote(name))
}

/// Go's `%q` for the strings that appear here.
fn go_quote(s: &str) -> String {
    format!("{s:?}")
}

fn check(s: &Schema, n: &Spanned<Yaml>, path: &FieldPath, out: &mut Vec<FieldError>) {
    let at = n.referenced;
    let invalid = |value: String, detail: String| FieldError {
        at,
        text: format!("{path}: Invalid value: {value}: {detail}"),
    };
    // kube-openapi's validators in order: type, oneOf/anyOf, string, format, number,
    // slice, enum, object.
    if let Some(ty) = s.ty
        && !ty.accepts(&n.value)
    {
        let found = n.value.json_type();
        out.push(invalid(
            go_quote(found),
            format!(
                "{path} in body must be of type {}: {}",
                ty.name(),
                go_quote(found)
            ),
        ));
        return;
    }
    if !s.any_of.is_empty() {
        let results: Vec<Vec<FieldError>> = s.any_of.iter().map(|a| run(a, n, path)).collect();
        if results.iter().all(|r| !r.is_empty()) {
            out.push(composite(
                at,
                format!(
                    "{} must validate at least one schema (anyOf)",
                    go_quote(path.as_str())
                ),
            ));
            out.extend(best(results));
        }
    }
    if !s.one_of.is_empty() {
        let results: Vec<Vec<FieldError>> = s.one_of.iter().map(|a| run(a, n, path)).collect();
        let valid = results.iter().filter(|r| r.is_empty()).count();
        if valid != 1 {
            let found = if valid == 0 {
                "Found none valid".to_string()
            } else {
                format!("Found {valid} valid alternatives")
            };
            out.push(composite(
                at,
                format!(
                    "{} must validate one and only one schema (oneOf). {found}",
                    go_quote(path.as_str())
                ),
            ));
            if valid == 0 {
                out.extend(best(results));
            }
        }
    }
    if let Yaml::Str(v) = &n.value {
        if s.label_value && !label_value_ok(v) {
            out.push(invalid(
                go_quote(v),
                format!("{path} in body should match '{LABEL_VALUE_PATTERN}'"),
            ));
        }
        if let Some(max) = s.max_length
            && v.len() > max
        {
            out.push(FieldError {
                at,
                text: format!("{path}: Too long: may not be more than {max} bytes"),
            });
        }
        if let Some(f) = s.format
            && !f.accepts(v)
        {
            out.push(invalid(
                go_quote(v),
                format!(
                    "{path} in body must be of type {}: {}",
                    f.name(),
                    go_quote(v)
                ),
            ));
        }
        if !s.enumeration.is_empty() && !s.enumeration.contains(&v.as_str()) {
            let supported: Vec<String> = s.enumeration.iter().map(|e| go_quote(e)).collect();
            out.push(FieldError {
                at,
                text: format!(
                    "{path}: Unsupported value: {}: supported values: {}",
                    go_quote(v),
                    supported.join(", ")
                ),
            });
        }
    }
    if let Yaml::Int(v) = n.value {
        if !s.int_enumeration.is_empty() && !s.int_enumeration.iter().any(|e| i128::from(*e) == v) {
            let supported: Vec<String> = s
                .int_enumeration
                .iter()
                .map(|e| go_quote(&e.to_string()))
                .collect();
            out.push(FieldError {
                at,
                text: format!(
                    "{path}: Unsupported value: {v}: supported values: {}",
                    supported.join(", ")
                ),
            });
        }
        if let Some(min) = s.minimum
            && v < i128::from(min)
        {
            out.push(invalid(
                v.to_string(),
                format!("{path} in body should be greater than or equal to {min}"),
            ));
        }
        if let Some(max) = s.maximum
            && v > i128::from(max)
        {
            out.push(invalid(
                v.to_string(),
                format!("{path} in body should be less than or equal to {max}"),
            ));
        }
    }
    if let Yaml::Seq(items) = &n.value {
        // kube-openapi: MinItems as an invalid value, MaxItems as TooMany.
        if let Some(min) = s.min_items
            && items.len() < min
        {
            out.push(invalid(
                items.len().to_string(),
                format!("{path} in body should have at least {min} items"),
            ));
        }
        if let Some(max) = s.max_items
            && items.len() > max
        {
            out.push(FieldError {
                at,
                text: format!(
                    "{path}: Too many: {}: must have at most {max} items",
                    items.len()
                ),
            });
        }
        if let Some(item) = &s.items {
            for (i, v) in items.iter().enumerate() {
                check(item, v, &path.index(i), out);
            }
        }
    }
    if let Yaml::Map(entries) = &n.value {
        for (key, value) in entries {
            if let Some(p) = s.property(&key.value) {
                check(p, value, &path.child(&key.value), out);
            } else if let Some(a) = &s.additional {
                check(a, value, &path.child(&key.value), out);
            }
        }
        for r in &s.required {
            if !entries.iter().any(|(k, _)| k.value == *r) {
                out.push(FieldError {
                    at,
                    text: format!("{}: Required value", path.child(r)),
                });
            }
        }
    }
}

fn run(s: &Schema, n: &Spanned<Yaml>, path: &FieldPath) -> Vec<FieldError> {
    let mut out = Vec::new();
    check(s, n, path, &mut out);
    out
}

/// A `oneOf`/`anyOf` error that is not a `Validation`: the API server files it under
/// the nil path with an empty value.
fn composite(at: Location, detail: String) -> FieldError {
    FieldError {
        at,
        text: format!("<nil>: Invalid value: \"\": {detail}"),
    }
}

fn best(results: Vec<Vec<FieldError>>) -> Vec<FieldError> {
    results
        .into_iter()
        .filter(|r| !r.is_empty())
        .min_by_key(Vec::len)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(schema: &Schema, text: &str) -> Vec<String> {
        let tree: Spanned<Yaml> = crate::input::from_str(text).unwrap();
        validate(schema, &tree)
            .into_iter()
            .map(|e| e.text)
            .collect()
    }

    const POOL: &str =
        "apiVersion: crd.antrea.io/v1beta1\nkind: ExternalIPPool\nmetadata: {name: p}\n";

    #[test]
    fn a_valid_pool_passes() {
        let text = format!(
            "{POOL}spec:\n  ipRanges: [{{cidr: 10.0.0.0/24}}, {{start: 10.0.1.1, end: 10.0.1.9}}]\n  subnetInfo: {{gateway: 10.0.0.1, prefixLength: 16, vlan: 0}}\n  nodeSelector: {{matchLabels: {{role: egress}}}}\nstatus: {{usage: {{total: 3, used: 1}}}}\n"
        );
        assert_eq!(errors(external_ip_pool(), &text), Vec::<String>::new());
    }

    #[test]
    fn pool_minimum_format_required_and_one_of() {
        let e = errors(
            external_ip_pool(),
            &format!(
                "{POOL}spec:\n  ipRanges: [{{cidr: 10.0.0.0/33}}]\n  subnetInfo: {{gateway: 10.0.0.1, prefixLength: 0}}\n"
            ),
        );
        assert_eq!(
            e,
            [
                "spec.ipRanges[0].cidr: Invalid value: \"10.0.0.0/33\": spec.ipRanges[0].cidr in body must be of type cidr: \"10.0.0.0/33\"",
                "spec.subnetInfo.prefixLength: Invalid value: 0: spec.subnetInfo.prefixLength in body should be greater than or equal to 1",
                "spec.nodeSelector: Required value",
            ]
        );
        let e = errors(
            external_ip_pool(),
            &format!("{POOL}spec:\n  ipRanges: [{{start: 10.0.0.1}}]\n  nodeSelector: {{}}\n"),
        );
        assert_eq!(
            e,
            [
                "<nil>: Invalid value: \"\": \"spec.ipRanges[0]\" must validate one and only one schema (oneOf). Found none valid",
                "spec.ipRanges[0].cidr: Required value",
            ]
        );
        let e = errors(
            external_ip_pool(),
            &format!(
                "{POOL}spec:\n  ipRanges: [{{cidr: 10.0.0.0/24, start: 10.0.0.1, end: 10.0.0.2}}]\n  nodeSelector: {{}}\n"
            ),
        );
        assert_eq!(
            e,
            [
                "<nil>: Invalid value: \"\": \"spec.ipRanges[0]\" must validate one and only one schema (oneOf). Found 2 valid alternatives"
            ]
        );
    }

    #[test]
    fn pool_ip_formats_types_and_selectors() {
        let e = errors(
            external_ip_pool(),
            &format!(
                "{POOL}spec:\n  ipRanges: [{{start: 10.0.0.300, end: 010.0.0.9}}]\n  subnetInfo: {{gateway: 10.0.0.1, prefixLength: \"24\", vlan: 5000}}\n  nodeSelector:\n    matchLabels: {{role: \"-bad\"}}\n    matchExpressions: [{{key: a, operator: Bogus}}]\n"
            ),
        );
        assert_eq!(
            e,
            [
                "<nil>: Invalid value: \"\": \"spec.ipRanges[0].start\" must validate one and only one schema (oneOf). Found none valid",
                "spec.ipRanges[0].start: Invalid value: \"10.0.0.300\": spec.ipRanges[0].start in body must be of type ipv4: \"10.0.0.300\"",
                "spec.subnetInfo.prefixLength: Invalid value: \"string\": spec.subnetInfo.prefixLength in body must be of type integer: \"string\"",
                "spec.subnetInfo.vlan: Invalid value: 5000: spec.subnetInfo.vlan in body should be less than or equal to 4094",
                "spec.nodeSelector.matchLabels.role: Invalid value: \"-bad\": spec.nodeSelector.matchLabels.role in body should match '^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$'",
                "spec.nodeSelector.matchExpressions[0].operator: Unsupported value: \"Bogus\": supported values: \"In\", \"NotIn\", \"Exists\", \"DoesNotExist\"",
            ]
        );
    }

    const EGRESS: &str = "apiVersion: crd.antrea.io/v1beta1\nkind: Egress\nmetadata: {name: e}\n";

    #[test]
    fn egress_needs_an_ip_or_a_pool_and_bandwidth_needs_both_values() {
        let e = errors(egress(), &format!("{EGRESS}spec:\n  appliedTo: {{}}\n"));
        assert_eq!(
            e,
            [
                "<nil>: Invalid value: \"\": \"spec\" must validate one and only one schema (oneOf). Found none valid",
                "<nil>: Invalid value: \"\": \"spec\" must validate at least one schema (anyOf)",
                "spec.egressIP: Required value",
            ]
        );
        assert_eq!(
            errors(
                egress(),
                &format!("{EGRESS}spec:\n  appliedTo: {{}}\n  egressIP: 10.0.0.5\n")
            ),
            Vec::<String>::new(),
            "a static Egress (egressIP, no pool) passes the schema"
        );
        assert_eq!(
            errors(
                egress(),
                &format!(
                    "{EGRESS}spec:\n  appliedTo: {{}}\n  externalIPPool: p\n  bandwidth: {{rate: 10M}}\n"
                )
            ),
            ["spec.bandwidth.burst: Required value"]
        );
        assert_eq!(
            errors(egress(), &format!("{EGRESS}metadata2: x\n")),
            ["spec: Required value"]
        );
    }

    #[test]
    fn label_values_follow_the_pattern() {
        for ok in ["", "a", "a-b.c_d", "A1"] {
            assert!(label_value_ok(ok), "{ok}");
        }
        for bad in ["-a", "a-", "a b", "é"] {
            assert!(!label_value_ok(bad), "{bad}");
        }
        assert!(Format::Ipv4.accepts("010.0.0.1"), "sloppy, as Go < 1.17");
        assert!(!Format::Ipv4.accepts("10.0.0"));
        assert!(Format::Cidr.accepts("fd00::/64"));
        assert!(!Format::Cidr.accepts("10.0.0.0/"));
    }
}
