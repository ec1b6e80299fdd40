//! Reading `ovs-appctl ofproto/trace` output (Open vSwitch 3.1) into a
//! [`Verdict`].
//!
//! The trace prints one *pass* per walk: the first, then one per conntrack
//! recirculation (`recirc(0x..) - resume conntrack with ct_state=...`).
//! Each pass starts with a `Flow:` line (the packet as that pass sees it;
//! OVS 3.1 already applies a `nat(dst=..)`/`nat(src=..)` range to it, see
//! "Replacing src/dst IP/ports to simulate NAT"), then the OpenFlow actions
//! that ran, one a line, then `Final flow:` and `Datapath actions:`.
//!
//! Everything is read from the **OpenFlow-level** lines, never from
//! `Datapath actions:`: those name datapath (ODP) port numbers, which differ
//! from OpenFlow ones (OpenFlow port 3 was ODP port 4 here), and they leave
//! out tunnel outputs whose outer route does not resolve (`native tunnel
//! routing failed`), which in this private bridge is every one.
//!
//! Headers at each output are *tracked*: start from the pass's `Flow:` line
//! and apply every header-writing action as it is printed (`set_field:V->F`;
//! `mod_*` and `load` are printed as `set_field` by OVS; `move` is followed by
//! `-> FIELD is now V`; `dec_ttl`). `Final flow:` alone would be wrong for an
//! output followed by further rewrites. The tracking is checked against
//! `Final flow:` at the end of every pass, so a header-writing action this
//! parser does not know is an error, never a silent difference.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use sim_core::openflow::{CtCall, Emitted, Headers, Verdict};

/// `OFPP_IN_PORT`, `OFPP_LOCAL` (OpenFlow 1.5 reserved ports, contract §2).
pub const OFPP_IN_PORT: u32 = 0xffff_fff8;
pub const OFPP_LOCAL: u32 = 0xffff_fffe;

/// A trace that could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("ofproto/trace output, line {line}: {message}")]
pub struct TraceParseError {
    /// 1-based line in the trace text (0: the text as a whole).
    pub line: usize,
    pub message: String,
}

/// Which bucket OVS picked in one `select` group (its hash is not the
/// interpreter's, so the differential test needs to know).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketChoice {
    pub group: u32,
    pub bucket: u32,
}

/// A parsed trace: the verdict and the side facts the comparison needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Traced {
    pub verdict: Verdict,
    /// Every select-group bucket choice, in the order they happened.
    pub buckets: Vec<BucketChoice>,
    /// The flow tables the walk visited, in order (numbers).
    pub tables: Vec<u8>,
    /// The table of the last flow that matched (a `No match.` table is
    /// visited but matched nothing).
    pub last_match: Option<u8>,
    /// `(table, conj_id)` of each conjunction flow that matched.
    pub conjunctions: Vec<(u8, u32)>,
    /// Each `controller(...)` action with the registers as it ran.
    pub packet_ins: Vec<(String, [u32; 8])>,
    /// Beside each output of `verdict.outputs`: the metadata it left with.
    pub output_meta: Vec<OutputMeta>,
}

/// What an output carried beyond [`Headers`]: the packet mark, the tunnel
/// id, the IP protocol and ICMP type/code, as tracked through the walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutputMeta {
    pub pkt_mark: u32,
    pub tun_id: u64,
    pub nw_proto: u8,
    pub icmp: Option<(u8, u8)>,
}

/// The packet state the tracker keeps, by the `Flow:` line's field names
/// (`dl_src`, `nw_src`, `tp_src`, `tun_dst`, `arp_spa`, ...).
type Fields = BTreeMap<String, String>;

fn err(line: usize, message: impl Into<String>) -> TraceParseError {
    TraceParseError {
        line,
        message: message.into(),
    }
}

/// `tcp,in_port=3,dl_src=..` → its `key=value` pairs (bare protocol words
/// such as `tcp` are kept with an empty value).
fn parse_flow_fields(text: &str) -> Fields {
    text.split(',')
        .filter(|t| !t.is_empty())
        .map(|t| match t.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (t.to_string(), String::new()),
        })
        .collect()
}

/// The tracked fields, by the names `Flow:` uses.
const TRACKED: [&str; 10] = [
    "dl_src", "dl_dst", "nw_src", "nw_dst", "nw_ttl", "tp_src", "tp_dst", "tun_dst", "arp_spa",
    "arp_tpa",
];

/// The metadata tracked beside the headers: registers (for a packet-in's
/// reading), `pkt_mark` and `tun_id`, by name.
const METADATA: [&str; 10] = [
    "reg0", "reg1", "reg2", "reg3", "reg4", "reg5", "reg6", "reg7", "pkt_mark", "tun_id",
];

/// A metadata field named in an action → its name in [`METADATA`] and the
/// bit range written (`NXM_NX_REG3[]`, `NXM_NX_REG0[11..12]`, `reg3`).
fn metadata_name(field: &str) -> Option<(&'static str, u32, u32)> {
    let (base, range) = match field.split_once('[') {
        Some((b, r)) => (b, r.strip_suffix(']')?),
        None => (field, ""),
    };
    let name = match base {
        "pkt_mark" | "NXM_NX_PKT_MARK" => "pkt_mark",
        "tun_id" | "NXM_NX_TUN_ID" => "tun_id",
        b => {
            let n = b
                .strip_prefix("reg")
                .or_else(|| b.strip_prefix("NXM_NX_REG"))?
                .parse::<usize>()
                .ok()?;
            *METADATA.get(n).filter(|_| n < 8)?
        }
    };
    let width = if name == "tun_id" { 64 } else { 32 };
    if range.is_empty() {
        return Some((name, 0, width));
    }
    let (lo, hi) = match range.split_once("..") {
        Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
        None => {
            let b = range.parse().ok()?;
            (b, b)
        }
    };
    (lo <= hi && hi < width).then_some((name, lo, hi - lo + 1))
}

/// A header field named in an action (`set_field:..->ip_src`, `-> NXM_OF_IP_SRC[]
/// is now ..`) → its `Flow:` name; None for fields that are not tracked
/// (registers, marks, conntrack fields, metadata).
fn tracked_name(field: &str) -> Option<&'static str> {
    Some(match field {
        "eth_src" | "dl_src" | "NXM_OF_ETH_SRC[]" | "OXM_OF_ETH_SRC[]" => "dl_src",
        "eth_dst" | "dl_dst" | "NXM_OF_ETH_DST[]" | "OXM_OF_ETH_DST[]" => "dl_dst",
        "ip_src" | "nw_src" | "NXM_OF_IP_SRC[]" | "OXM_OF_IPV4_SRC[]" => "nw_src",
        "ip_dst" | "nw_dst" | "NXM_OF_IP_DST[]" | "OXM_OF_IPV4_DST[]" => "nw_dst",
        "nw_ttl" | "NXM_NX_IP_TTL[]" => "nw_ttl",
        "tcp_src" | "udp_src" | "sctp_src" | "tp_src" | "NXM_OF_TCP_SRC[]" | "NXM_OF_UDP_SRC[]"
        | "OXM_OF_TCP_SRC[]" | "OXM_OF_UDP_SRC[]" | "OXM_OF_SCTP_SRC[]" => "tp_src",
        "tcp_dst" | "udp_dst" | "sctp_dst" | "tp_dst" | "NXM_OF_TCP_DST[]" | "NXM_OF_UDP_DST[]"
        | "OXM_OF_TCP_DST[]" | "OXM_OF_UDP_DST[]" | "OXM_OF_SCTP_DST[]" => "tp_dst",
        "tun_dst" | "NXM_NX_TUN_IPV4_DST[]" => "tun_dst",
        "arp_spa" | "NXM_OF_ARP_SPA[]" => "arp_spa",
        "arp_tpa" | "NXM_OF_ARP_TPA[]" => "arp_tpa",
        _ => return None,
    })
}

/// Whether an action field name is a *part* of a tracked field
/// (`NXM_OF_IP_SRC[0..7]`): those writes cannot be tracked from the text.
fn is_partial_tracked(field: &str) -> bool {
    field
        .split_once('[')
        .is_some_and(|(base, rest)| rest != "]" && tracked_name(&format!("{base}[]")).is_some())
}

fn parse_int(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = s.split(':');
    for b in &mut out {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

/// A value written to a tracked field, normalised to how `Flow:` prints it
/// (so the end-of-pass check compares like with like).
fn normalise(field: &str, value: &str) -> Option<String> {
    match field {
        "dl_src" | "dl_dst" => parse_mac(value)
            .or_else(|| {
                let n = parse_int(value)?;
                let b = n.to_be_bytes();
                Some([b[2], b[3], b[4], b[5], b[6], b[7]])
            })
            .map(|m| {
                m.iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<Vec<_>>()
                    .join(":")
            }),
        "nw_src" | "nw_dst" | "tun_dst" | "arp_spa" | "arp_tpa" => value
            .parse::<Ipv4Addr>()
            .ok()
            .or_else(|| u32::try_from(parse_int(value)?).ok().map(Ipv4Addr::from))
            .map(|ip| ip.to_string()),
        _ => parse_int(value).map(|n| n.to_string()),
    }
}

/// Splits `a,b(c,d),e` at top-level commas.
fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// `ct(commit,table=14,zone=65520,nat(dst=10.10.1.5:8080),exec(..))`.
fn parse_ct(action: &str, line: usize) -> Result<CtCall, TraceParseError> {
    let inner = action
        .strip_prefix("ct(")
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(|| err(line, format!("unreadable ct action `{action}`")))?;
    let mut ct = CtCall {
        zone: 0,
        commit: false,
        nat: None,
        table: None,
    };
    for arg in split_top(inner) {
        if arg == "commit" {
            ct.commit = true;
        } else if arg == "nat" {
            ct.nat = Some(String::new());
        } else if let Some(n) = arg.strip_prefix("nat(").and_then(|s| s.strip_suffix(')')) {
            ct.nat = Some(n.to_string());
        } else if let Some(z) = arg.strip_prefix("zone=") {
            ct.zone = parse_int(z)
                .and_then(|z| u16::try_from(z).ok())
                .ok_or_else(|| {
                    err(
                        line,
                        format!("ct zone `{z}` is not a number (zones from registers are not read from traces)"),
                    )
                })?;
        } else if let Some(t) = arg.strip_prefix("table=") {
            ct.table = Some(
                parse_int(t)
                    .and_then(|t| u8::try_from(t).ok())
                    .ok_or_else(|| err(line, format!("ct table `{t}` is not a table number")))?,
            );
        }
    }
    Ok(ct)
}

/// An output this walk made, waiting for the comment lines after it (which
/// may say OVS skipped it).
struct PendingOutput {
    /// None: `output:NXM_..[]`, the port comes in `-> output port is N`.
    port: Option<u32>,
    fields: Fields,
    meta: OutputMeta,
}

/// One pass's parsing state.
struct Walk<'a> {
    in_port: u32,
    tunnel_ports: &'a [u32],
    fields: Fields,
    /// [`METADATA`] values, from the pass's `Flow:` line and the writes.
    meta: BTreeMap<&'static str, u64>,
    out: Traced,
    pending: Option<PendingOutput>,
    group: Option<u32>,
}

impl Walk<'_> {
    fn headers(&self, fields: &Fields, line: usize) -> Result<Headers, TraceParseError> {
        let mac = |k: &str| {
            fields
                .get(k)
                .and_then(|v| parse_mac(v))
                .ok_or_else(|| err(line, format!("the flow has no readable {k}")))
        };
        let ip = |k: &str| fields.get(k).and_then(|v| v.parse::<Ipv4Addr>().ok());
        let arp = fields.contains_key("arp");
        Ok(Headers {
            eth_src: mac("dl_src")?,
            eth_dst: mac("dl_dst")?,
            // OVS keeps ARP's SPA/TPA in the IPv4 address fields.
            nw_src: if arp { ip("arp_spa") } else { ip("nw_src") },
            nw_dst: if arp { ip("arp_tpa") } else { ip("nw_dst") },
            nw_ttl: fields.get("nw_ttl").and_then(|v| v.parse().ok()),
            tp_src: fields.get("tp_src").and_then(|v| v.parse().ok()),
            tp_dst: fields.get("tp_dst").and_then(|v| v.parse().ok()),
        })
    }

    fn flush(&mut self, line: usize) -> Result<(), TraceParseError> {
        let Some(p) = self.pending.take() else {
            return Ok(());
        };
        let port = p
            .port
            .ok_or_else(|| err(line, "output to a field without `-> output port is N`"))?;
        let port = if port == OFPP_IN_PORT {
            self.in_port
        } else {
            port
        };
        let tun_dst = if self.tunnel_ports.contains(&port) {
            p.fields
                .get("tun_dst")
                .and_then(|v| v.parse::<Ipv4Addr>().ok())
                .filter(|ip| !ip.is_unspecified())
        } else {
            None
        };
        let headers = self.headers(&p.fields, line)?;
        self.out.verdict.outputs.push(Emitted {
            port,
            tun_dst,
            headers,
        });
        self.out.output_meta.push(p.meta);
        Ok(())
    }

    fn output(&mut self, port: Option<u32>, line: usize) -> Result<(), TraceParseError> {
        self.flush(line)?;
        let num = |k: &str| self.fields.get(k).and_then(|v| parse_int(v));
        let nw_proto = match () {
            _ if self.fields.contains_key("tcp") => 6,
            _ if self.fields.contains_key("udp") => 17,
            _ if self.fields.contains_key("sctp") => 132,
            _ if self.fields.contains_key("icmp") => 1,
            _ => num("nw_proto").unwrap_or(0) as u8,
        };
        let meta = OutputMeta {
            pkt_mark: self.meta.get("pkt_mark").copied().unwrap_or(0) as u32,
            tun_id: self.meta.get("tun_id").copied().unwrap_or(0),
            nw_proto,
            icmp: (nw_proto == 1).then(|| {
                (
                    num("icmp_type").unwrap_or(0) as u8,
                    num("icmp_code").unwrap_or(0) as u8,
                )
            }),
        };
        self.pending = Some(PendingOutput {
            port,
            fields: self.fields.clone(),
            meta,
        });
        Ok(())
    }

    /// The metadata of a `Flow:` line (absent fields are zero).
    fn reset_meta(&mut self) {
        self.meta = METADATA
            .iter()
            .map(|k| {
                (
                    *k,
                    self.fields.get(*k).and_then(|v| parse_int(v)).unwrap_or(0),
                )
            })
            .collect();
    }

    /// A write of `value` (`0x5`, `0x800/0x1800`) to metadata `name`'s bits
    /// `lo..lo+width`.
    fn write_meta(&mut self, name: &'static str, lo: u32, width: u32, value: &str) {
        let (v, mask) = match value.split_once('/') {
            Some((v, m)) => (parse_int(v), parse_int(m)),
            None => (parse_int(value), None),
        };
        let Some(v) = v else { return };
        let field_mask = if width >= 64 {
            u64::MAX
        } else {
            ((1u64 << width) - 1) << lo
        };
        // A masked set_field writes whole-field bits; a ranged load writes
        // its value shifted into the range.
        let (v, m) = match mask {
            Some(m) => (v & m, m),
            None if lo == 0 && width >= 32 => (v, field_mask),
            None => ((v << lo) & field_mask, field_mask),
        };
        let old = self.meta.get(name).copied().unwrap_or(0);
        self.meta.insert(name, (old & !m) | v);
    }

    fn write(&mut self, field: &str, value: &str, line: usize) -> Result<(), TraceParseError> {
        if let Some((name, lo, width)) = metadata_name(field) {
            self.write_meta(name, lo, width, value);
            return Ok(());
        }
        if is_partial_tracked(field) {
            return Err(err(
                line,
                format!("a write to part of header field {field} cannot be tracked"),
            ));
        }
        let Some(name) = tracked_name(field) else {
            return Ok(());
        };
        if value.contains('/') {
            return Err(err(
                line,
                format!("a masked write to header field {field} cannot be tracked"),
            ));
        }
        let v = normalise(name, value)
            .ok_or_else(|| err(line, format!("unreadable value `{value}` for {field}")))?;
        self.fields.insert(name.to_string(), v);
        Ok(())
    }

    /// One line of a pass (indentation already trimmed).
    fn line(&mut self, t: &str, line: usize) -> Result<(), TraceParseError> {
        if let Some(c) = t.strip_prefix("->").or_else(|| t.strip_prefix(">>")) {
            return self.comment(c.trim(), line);
        }
        if let Some((num, _)) = t.split_once(". ")
            && let Ok(table) = num.parse::<u8>()
        {
            // A table header: `12. tcp,nw_dst=.., priority 200` or `16. No match.`
            self.flush(line)?;
            self.out.tables.push(table);
            let rest = &t[num.len() + 2..];
            if !rest.starts_with("No match") {
                self.out.last_match = Some(table);
                if let Some(id) = rest
                    .split([',', ' '])
                    .find_map(|m| m.strip_prefix("conj_id="))
                    .and_then(parse_int)
                    .and_then(|n| u32::try_from(n).ok())
                {
                    self.out.conjunctions.push((table, id));
                }
            }
            return Ok(());
        }
        self.flush(line)?;
        if let Some(p) = t.strip_prefix("output:") {
            let port = match p {
                "IN_PORT" => Some(OFPP_IN_PORT),
                "LOCAL" => Some(OFPP_LOCAL),
                _ => parse_int(p).and_then(|n| u32::try_from(n).ok()),
            };
            return self.output(port, line);
        }
        match t {
            "IN_PORT" => return self.output(Some(OFPP_IN_PORT), line),
            "LOCAL" => return self.output(Some(OFPP_LOCAL), line),
            "NORMAL" => {
                self.out.verdict.normal = true;
                return Ok(());
            }
            _ => {}
        }
        if t.starts_with("controller") || t.starts_with("CONTROLLER") {
            self.out.verdict.controller = true;
            let mut regs = [0u32; 8];
            for (i, r) in regs.iter_mut().enumerate() {
                *r = self.meta.get(METADATA[i]).copied().unwrap_or(0) as u32;
            }
            self.out.packet_ins.push((t.to_string(), regs));
        } else if t.starts_with("ct(") {
            let ct = parse_ct(t, line)?;
            self.out.verdict.cts.push(ct);
        } else if let Some(g) = t.strip_prefix("group:") {
            self.group = Some(
                parse_int(g)
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| err(line, format!("unreadable group `{t}`")))?,
            );
        } else if let Some(sf) = t.strip_prefix("set_field:") {
            let (value, field) = sf
                .rsplit_once("->")
                .ok_or_else(|| err(line, format!("unreadable set_field `{t}`")))?;
            self.write(field, value, line)?;
        } else if let Some(l) = t.strip_prefix("load:") {
            let (value, field) = l
                .rsplit_once("->")
                .ok_or_else(|| err(line, format!("unreadable load `{t}`")))?;
            self.write(field, value, line)?;
        } else if (t == "dec_ttl" || t.starts_with("dec_ttl("))
            && let Some(ttl) = self.fields.get("nw_ttl").and_then(|v| v.parse::<u8>().ok())
        {
            self.fields
                .insert("nw_ttl".into(), ttl.saturating_sub(1).to_string());
        }
        // Everything else (goto_table, resubmit, move — its effect comes in
        // the `is now` comment —, learn, conjunction, note, nat and exec
        // lines under a ct, drop, thaw, bucket) leaves the verdict alone;
        // an unknown header write is caught by the end-of-pass check.
        Ok(())
    }

    fn comment(&mut self, c: &str, line: usize) -> Result<(), TraceParseError> {
        if let Some(p) = c.strip_prefix("output port is ") {
            let port = parse_int(p.trim())
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| err(line, format!("unreadable output port `{p}`")))?;
            if let Some(pending) = &mut self.pending {
                pending.port = Some(port);
            }
        } else if c.starts_with("skipping output to input port")
            || c.starts_with("Nonexistent output port")
        {
            // OVS did not send it: no output.
            self.pending = None;
        } else if let Some(b) = c.strip_prefix("using bucket ") {
            let bucket = parse_int(b.trim())
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| err(line, format!("unreadable bucket `{b}`")))?;
            let group = self
                .group
                .ok_or_else(|| err(line, "a bucket choice with no group before it"))?;
            self.out.buckets.push(BucketChoice { group, bucket });
        } else if let Some((field, value)) = c.split_once(" is now ") {
            self.write(field, value.trim(), line)?;
        }
        Ok(())
    }

    /// `Final flow:` closes a pass: the tracked headers must be what OVS says.
    fn finish_pass(&mut self, final_flow: &str, line: usize) -> Result<(), TraceParseError> {
        self.flush(line)?;
        if final_flow == "unchanged" {
            return Ok(());
        }
        let ovs = parse_flow_fields(final_flow);
        for k in TRACKED {
            let ours = self.fields.get(k);
            let theirs = ovs.get(k);
            if ours != theirs {
                return Err(err(
                    line,
                    format!(
                        "tracked {k}={} but OVS's final flow has {k}={}: an action that writes it was not understood",
                        ours.map_or("(none)", String::as_str),
                        theirs.map_or("(none)", String::as_str)
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Lines that frame passes rather than report actions.
fn is_framing(t: &str) -> bool {
    t.is_empty()
        || t == "thaw"
        || [
            "Megaflow: ",
            "bridge(",
            "----",
            "====",
            "recirc(",
            "Replacing ",
            "Initial flow:",
            "Modified flow:",
            "Resuming from table",
        ]
        .iter()
        .any(|p| t.starts_with(p))
}

/// Parses one `ofproto/trace` output. `tunnel_ports` are the OpenFlow ports
/// whose outputs carry a tunnel destination.
pub fn parse_trace(text: &str, tunnel_ports: &[u32]) -> Result<Traced, TraceParseError> {
    let mut walk: Option<Walk> = None;
    let mut passes = 0;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let t = raw.trim();
        if let Some(f) = t.strip_prefix("Flow: ") {
            let fields = parse_flow_fields(f);
            match &mut walk {
                None => {
                    let in_port = match fields.get("in_port").map(String::as_str) {
                        Some("LOCAL") => OFPP_LOCAL,
                        Some(p) => parse_int(p)
                            .and_then(|n| u32::try_from(n).ok())
                            .ok_or_else(|| err(line, format!("unreadable in_port `{p}`")))?,
                        None => return Err(err(line, "the flow has no in_port")),
                    };
                    let mut w = Walk {
                        in_port,
                        tunnel_ports,
                        fields: fields.into_iter().collect(),
                        meta: BTreeMap::new(),
                        out: Traced {
                            verdict: Verdict::default(),
                            buckets: Vec::new(),
                            tables: Vec::new(),
                            last_match: None,
                            conjunctions: Vec::new(),
                            packet_ins: Vec::new(),
                            output_meta: Vec::new(),
                        },
                        pending: None,
                        group: None,
                    };
                    w.reset_meta();
                    walk = Some(w);
                }
                Some(w) => {
                    w.fields = fields;
                    w.group = None;
                    w.reset_meta();
                }
            }
            passes += 1;
            continue;
        }
        let Some(w) = &mut walk else {
            // Before the first `Flow:` there is nothing of ours (an error
            // from OVS is reported as such by the caller).
            continue;
        };
        if let Some(f) = t.strip_prefix("Final flow: ") {
            w.finish_pass(f, line)?;
        } else if let Some(a) = t.strip_prefix("Datapath actions: ") {
            if a.contains("hash(") && a.contains("recirc(") {
                return Err(err(
                    line,
                    "a select group chose its bucket by dp_hash, which ofproto/trace cannot follow; load groups with selection_method=hash (TraceBridge::load does)",
                ));
            }
        } else if !is_framing(t) {
            w.line(t, line)?;
        }
    }
    let mut w = walk.ok_or_else(|| err(0, format!("no `Flow:` line in:\n{text}")))?;
    if passes == 0 {
        return Err(err(0, "no pass"));
    }
    w.flush(text.lines().count())?;
    Ok(w.out)
}

#[cfg(test)]
mod tests;
