//! Flow and group text: parsing Antrea's test-string form (named tables) and the
//! numeric `ovs-ofctl add-flow` form, and printing either, plus the dump-flows
//! line with counters.
//!
//! Printing is canonical and chosen so Antrea's v1.15.1 unit-test strings print
//! back byte for byte: match items in the order written, `ct_state` flags in bit
//! order, registers in hex, ports and protocol numbers in decimal, IPv4 masks as
//! prefix lengths. With [`Style::Numbers`] tables print as numbers and
//! `resubmit:T` as `resubmit(,N)` (for real OVS, where `resubmit:N` names a port).

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::field::{self, Field, FieldRef, Kind};
use super::flow::{
    Action, Bucket, CtAction, CtZone, Flow, Group, GroupType, Learn, LearnSpec, LoadSrc, Match,
    MatchItem, Nat, NatKind, Proto, TableMap,
};

/// How tables are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// `table=Classifier`, `goto_table:UnSNAT`, `resubmit:ServiceLB` (Antrea's tests,
    /// `ovs-ofctl dump-flows --names`).
    Names,
    /// `table=0`, `goto_table:1`, `resubmit(,12)` (`ovs-ofctl add-flow` input).
    Numbers,
}

/// Splits at `sep` outside parentheses and brackets.
fn split_top(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            c if c == sep && depth == 0 => {
                out.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// Finds `actions=` at the top level.
fn find_actions(s: &str) -> Option<usize> {
    let mut depth = 0i32;
    for (i, c) in s.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            _ if depth == 0 && s[i..].starts_with("actions=") => {
                let prev = s[..i].chars().last();
                if prev.is_none() || matches!(prev, Some(' ' | ',')) {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// Parses one flow line (Antrea's form, the numeric add-flow form, or a
/// dump-flows line: `duration=`, `n_packets=`, `n_bytes=`, `*_age=` are ignored).
pub fn parse_flow(line: &str, tables: &TableMap) -> Result<Flow, String> {
    let line = line.trim();
    let at = find_actions(line).ok_or_else(|| format!("`{line}`: no `actions=`"))?;
    let head = line[..at].trim_end().trim_end_matches(',');
    let acts = &line[at + "actions=".len()..];
    let mut cookie = 0u64;
    let mut table = 0u8;
    let mut priority = 32768u16;
    let mut idle_timeout = None;
    let mut hard_timeout = None;
    let mut items = Vec::new();
    for tok in head
        .split([',', ' '])
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        let (k, v) = match tok.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (tok, None),
        };
        match (k, v) {
            ("cookie", Some(v)) => {
                let c = v.split('/').next().unwrap_or(v);
                cookie = u64::try_from(field::parse_num(c)?)
                    .map_err(|_| format!("cookie `{v}` too large"))?
            }
            ("table", Some(v)) => table = tables.resolve(v)?,
            ("priority", Some(v)) => {
                priority = v
                    .parse()
                    .map_err(|_| format!("priority `{v}`: not 0-65535"))?
            }
            ("idle_timeout", Some(v)) => {
                idle_timeout = Some(v.parse().map_err(|_| format!("idle_timeout `{v}`"))?)
            }
            ("hard_timeout", Some(v)) => {
                hard_timeout = Some(v.parse().map_err(|_| format!("hard_timeout `{v}`"))?)
            }
            ("duration" | "n_packets" | "n_bytes" | "idle_age" | "hard_age", Some(_)) => {}
            _ => items.push(parse_match_item(k, v)?),
        }
    }
    let matches = Match::new(items).map_err(|e| format!("`{line}`: {e}"))?;
    let actions = parse_actions(acts, tables).map_err(|e| format!("`{line}`: {e}"))?;
    Ok(Flow {
        cookie,
        table,
        priority,
        idle_timeout,
        hard_timeout,
        matches,
        actions,
    })
}

/// Parses one match item: a protocol shorthand or `field=value[/mask]`.
pub fn parse_match_item(k: &str, v: Option<&str>) -> Result<MatchItem, String> {
    match v {
        None => Proto::from_name(k)
            .map(MatchItem::Proto)
            .ok_or_else(|| format!("`{k}`: unknown match keyword")),
        Some(v) => {
            let field = Field::from_name(k).ok_or_else(|| format!("`{k}`: unknown match field"))?;
            let (value, mask) = if field == Field::InPort {
                (u128::from(parse_port(v)?), field.full_mask())
            } else {
                field::parse_value_mask(field, v)?
            };
            Ok(MatchItem::Field { field, value, mask })
        }
    }
}

fn parse_port(s: &str) -> Result<u32, String> {
    use super::flow::port;
    Ok(match s {
        "LOCAL" => port::LOCAL,
        "IN_PORT" => port::IN_PORT,
        "NORMAL" => port::NORMAL,
        "CONTROLLER" => port::CONTROLLER,
        _ => u32::try_from(field::parse_num(s)?).map_err(|_| format!("port `{s}` too large"))?,
    })
}

/// Parses a comma-separated action list.
pub fn parse_actions(s: &str, tables: &TableMap) -> Result<Vec<Action>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(Vec::new());
    }
    split_top(s, ',')
        .into_iter()
        .map(|a| parse_action(a.trim(), tables))
        .collect()
}

fn paren_body<'a>(s: &'a str, name: &str) -> Option<&'a str> {
    s.strip_prefix(name)?.strip_prefix('(')?.strip_suffix(')')
}

fn parse_action(a: &str, tables: &TableMap) -> Result<Action, String> {
    let simple = match a {
        "IN_PORT" | "in_port" => Some(Action::InPort),
        "LOCAL" | "local" => Some(Action::Local),
        "NORMAL" | "normal" => Some(Action::Normal),
        "drop" => Some(Action::Drop),
        "dec_ttl" => Some(Action::DecTtl),
        "pop_vlan" | "strip_vlan" => Some(Action::PopVlan),
        "controller" | "CONTROLLER" => Some(Action::Controller(None)),
        _ => None,
    };
    if let Some(s) = simple {
        return Ok(s);
    }
    if let Some(t) = a.strip_prefix("goto_table:") {
        return Ok(Action::GotoTable(tables.resolve(t)?));
    }
    if let Some(t) = a.strip_prefix("resubmit:") {
        return Ok(Action::Resubmit {
            port: None,
            table: Some(tables.resolve(t)?),
        });
    }
    if let Some(body) = paren_body(a, "resubmit") {
        let (p, t) = body
            .split_once(',')
            .ok_or_else(|| format!("`{a}`: expected resubmit(PORT,TABLE)"))?;
        let port = if p.trim().is_empty() {
            None
        } else {
            Some(parse_port(p.trim())?)
        };
        let table = if t.trim().is_empty() {
            None
        } else {
            Some(tables.resolve(t.trim())?)
        };
        return Ok(Action::Resubmit { port, table });
    }
    if let Some(rest) = a.strip_prefix("set_field:") {
        let (v, f) = rest
            .rsplit_once("->")
            .ok_or_else(|| format!("`{a}`: expected set_field:VALUE->FIELD"))?;
        let field = Field::from_name(f).ok_or_else(|| format!("`{a}`: unknown field `{f}`"))?;
        let (value, mask) = field::parse_value_mask(field, v)?;
        let mask = if v.contains('/') { Some(mask) } else { None };
        return Ok(Action::SetField { field, value, mask });
    }
    if let Some(rest) = a.strip_prefix("load:") {
        let (src, dst) = parse_load(rest)?;
        return Ok(Action::Load { src, dst });
    }
    if let Some(rest) = a.strip_prefix("move:") {
        let (s, d) = rest
            .split_once("->")
            .ok_or_else(|| format!("`{a}`: expected move:SRC->DST"))?;
        let (src, dst) = (FieldRef::parse(s)?, FieldRef::parse(d)?);
        if src.len != dst.len {
            return Err(format!("`{a}`: source and destination widths differ"));
        }
        return Ok(Action::Move { src, dst });
    }
    if let Some(body) = paren_body(a, "ct") {
        return Ok(Action::Ct(Box::new(parse_ct(body, tables)?)));
    }
    if let Some(g) = a.strip_prefix("group:") {
        return Ok(Action::Group(num_u32(g)?));
    }
    if let Some(body) = paren_body(a, "learn") {
        return Ok(Action::Learn(Box::new(parse_learn(body, tables)?)));
    }
    if let Some(body) = paren_body(a, "conjunction") {
        let (id, kn) = body
            .split_once(',')
            .ok_or_else(|| format!("`{a}`: expected conjunction(ID,K/N)"))?;
        let (k, n) = kn
            .split_once('/')
            .ok_or_else(|| format!("`{a}`: expected conjunction(ID,K/N)"))?;
        let clause: u8 = k.trim().parse().map_err(|_| format!("`{a}`: bad clause"))?;
        let n_clauses: u8 = n
            .trim()
            .parse()
            .map_err(|_| format!("`{a}`: bad clause count"))?;
        if clause == 0 || clause > n_clauses || n_clauses > 64 {
            return Err(format!("`{a}`: clause must be 1..=n, n at most 64"));
        }
        return Ok(Action::Conjunction {
            id: num_u32(id)?,
            clause,
            n_clauses,
        });
    }
    if let Some(p) = a.strip_prefix("output:") {
        if p.contains('[') {
            return Ok(Action::OutputField(FieldRef::parse(p)?));
        }
        return Ok(match p {
            "IN_PORT" => Action::InPort,
            "LOCAL" => Action::Local,
            "NORMAL" => Action::Normal,
            _ => Action::Output(parse_port(p)?),
        });
    }
    if let Some(body) = paren_body(a, "controller") {
        return Ok(Action::Controller(Some(body.to_string())));
    }
    if let Some(m) = a.strip_prefix("mod_dl_src:") {
        return Ok(Action::ModDlSrc(field::parse_mac(m)?));
    }
    if let Some(m) = a.strip_prefix("mod_dl_dst:") {
        return Ok(Action::ModDlDst(field::parse_mac(m)?));
    }
    if let Some(ip) = a.strip_prefix("mod_nw_src:") {
        return Ok(Action::ModNwSrc(parse_ip4(ip)?));
    }
    if let Some(ip) = a.strip_prefix("mod_nw_dst:") {
        return Ok(Action::ModNwDst(parse_ip4(ip)?));
    }
    if let Some(t) = a.strip_prefix("push_vlan:") {
        let t = u16::try_from(field::parse_num(t)?).map_err(|_| format!("`{a}`: bad TPID"))?;
        return Ok(Action::PushVlan(t));
    }
    if let Some(m) = a.strip_prefix("meter:") {
        return Ok(Action::Meter(num_u32(m)?));
    }
    if let Some(n) = a.strip_prefix("note:") {
        return Ok(Action::Note(n.to_string()));
    }
    Err(format!("`{a}`: unknown or unsupported action"))
}

fn num_u32(s: &str) -> Result<u32, String> {
    u32::try_from(field::parse_num(s)?).map_err(|_| format!("`{s}`: larger than 32 bits"))
}

fn parse_ip4(s: &str) -> Result<u32, String> {
    s.parse::<Ipv4Addr>()
        .map(u32::from)
        .map_err(|_| format!("`{s}`: not an IPv4 address"))
}

fn parse_load(rest: &str) -> Result<(LoadSrc, FieldRef), String> {
    let (s, d) = rest
        .split_once("->")
        .ok_or_else(|| format!("`load:{rest}`: expected load:SRC->DST"))?;
    let dst = FieldRef::parse(d)?;
    let src = if s.contains('[') {
        let f = FieldRef::parse(s)?;
        if f.len != dst.len {
            return Err(format!(
                "`load:{rest}`: source and destination widths differ"
            ));
        }
        LoadSrc::Field(f)
    } else {
        let v = field::parse_num(s)?;
        if v > field::ones(dst.len) {
            return Err(format!("`load:{rest}`: value wider than the destination"));
        }
        LoadSrc::Imm(v)
    };
    Ok((src, dst))
}

fn parse_ct(body: &str, tables: &TableMap) -> Result<CtAction, String> {
    let mut ct = CtAction {
        commit: false,
        table: None,
        zone: CtZone::Imm(0),
        nat: None,
        exec: Vec::new(),
    };
    for part in split_top(body, ',').into_iter().map(str::trim) {
        if part == "commit" {
            ct.commit = true;
        } else if let Some(t) = part.strip_prefix("table=") {
            ct.table = Some(tables.resolve(t)?);
        } else if let Some(z) = part.strip_prefix("zone=") {
            ct.zone = if z.contains('[') {
                CtZone::Field(FieldRef::parse(z)?)
            } else {
                CtZone::Imm(
                    u16::try_from(field::parse_num(z)?)
                        .map_err(|_| format!("zone `{z}` too large"))?,
                )
            };
        } else if part == "nat" {
            ct.nat = Some(Nat {
                kind: None,
                ip_min: 0,
                ip_max: None,
                port_min: None,
                port_max: None,
                v6: false,
            });
        } else if let Some(n) = paren_body(part, "nat") {
            ct.nat = Some(parse_nat(n)?);
        } else if let Some(e) = paren_body(part, "exec") {
            ct.exec = parse_actions(e, tables)?;
        } else {
            return Err(format!("ct(...): unknown argument `{part}`"));
        }
    }
    Ok(ct)
}

/// `src=IP[-IP][:PORT[-PORT]]` (IPv6 in brackets when a port follows).
fn parse_nat(s: &str) -> Result<Nat, String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("nat({s}): expected src= or dst="))?;
    let kind = match k {
        "src" => NatKind::Src,
        "dst" => NatKind::Dst,
        _ => return Err(format!("nat({s}): expected src= or dst=")),
    };
    let v6 = v.contains('[') || v.matches(':').count() > 1;
    let (ips, ports) = if v6 {
        match v.strip_prefix('[') {
            Some(r) => {
                let (ips, rest) = r
                    .split_once(']')
                    .ok_or_else(|| format!("nat({s}): missing ]"))?;
                (ips, rest.strip_prefix(':'))
            }
            None => (v, None),
        }
    } else {
        match v.split_once(':') {
            Some((a, p)) => (a, Some(p)),
            None => (v, None),
        }
    };
    let kind_ip = if v6 { Kind::Ip6 } else { Kind::Ip4 };
    let (ip_min, ip_max) = match ips.split_once('-') {
        Some((a, b)) => (
            field::parse_value(kind_ip, a)?,
            Some(field::parse_value(kind_ip, b)?),
        ),
        None => (field::parse_value(kind_ip, ips)?, None),
    };
    let port = |p: &str| {
        p.parse::<u16>()
            .map_err(|_| format!("nat({s}): bad port `{p}`"))
    };
    let (port_min, port_max) = match ports {
        None => (None, None),
        Some(p) => match p.split_once('-') {
            Some((a, b)) => (Some(port(a)?), Some(port(b)?)),
            None => (Some(port(p)?), None),
        },
    };
    Ok(Nat {
        kind: Some(kind),
        ip_min,
        ip_max,
        port_min,
        port_max,
        v6,
    })
}

fn parse_learn(body: &str, tables: &TableMap) -> Result<Learn, String> {
    let mut l = Learn {
        table: 1,
        idle_timeout: None,
        hard_timeout: None,
        fin_idle_timeout: None,
        priority: None,
        delete_learned: false,
        cookie: None,
        specs: Vec::new(),
    };
    let u16v = |k: &str, v: &str| v.parse::<u16>().map_err(|_| format!("learn {k}=`{v}`"));
    for part in split_top(body, ',').into_iter().map(str::trim) {
        if part == "delete_learned" {
            l.delete_learned = true;
            continue;
        }
        if let Some(rest) = part.strip_prefix("load:") {
            let (src, dst) = parse_load(rest)?;
            l.specs.push(LearnSpec::Load { src, dst });
            continue;
        }
        match part.split_once('=') {
            Some(("table", v)) => l.table = tables.resolve(v)?,
            Some(("idle_timeout", v)) => l.idle_timeout = Some(u16v("idle_timeout", v)?),
            Some(("hard_timeout", v)) => l.hard_timeout = Some(u16v("hard_timeout", v)?),
            Some(("fin_idle_timeout", v)) => {
                l.fin_idle_timeout = Some(u16v("fin_idle_timeout", v)?)
            }
            Some(("priority", v)) => l.priority = Some(u16v("priority", v)?),
            Some(("cookie", v)) => {
                l.cookie = Some(
                    u64::try_from(field::parse_num(v)?)
                        .map_err(|_| format!("learn cookie `{v}`"))?,
                )
            }
            Some((k, v)) if k.contains('[') => {
                let dst = FieldRef::parse(k)?;
                let src = FieldRef::parse(v)?;
                l.specs.push(LearnSpec::MatchField {
                    dst,
                    src: Some(src),
                });
            }
            Some((k, v)) => {
                let field =
                    Field::from_name(k).ok_or_else(|| format!("learn: unknown field `{k}`"))?;
                let value = field::parse_value(field.kind(), v)?;
                l.specs.push(LearnSpec::MatchImm { field, value });
            }
            None => l.specs.push(LearnSpec::MatchField {
                dst: FieldRef::parse(part)?,
                src: None,
            }),
        }
    }
    Ok(l)
}

/// Parses a group: `group_id=100,type=select,bucket=bucket_id:0,weight:100,actions=...`.
pub fn parse_group(line: &str, tables: &TableMap) -> Result<Group, String> {
    let mut id = None;
    let mut kind = GroupType::All;
    let mut buckets: Vec<Bucket> = Vec::new();
    let mut in_actions = false;
    for tok in split_top(line.trim(), ',').into_iter().map(str::trim) {
        if let Some(b) = tok.strip_prefix("bucket=") {
            buckets.push(Bucket {
                id: None,
                weight: None,
                actions: Vec::new(),
            });
            in_actions = false;
            if b.is_empty() {
                continue;
            }
            bucket_token(b, &mut buckets, &mut in_actions, tables)?;
            continue;
        }
        if !buckets.is_empty() {
            bucket_token(tok, &mut buckets, &mut in_actions, tables)?;
            continue;
        }
        match tok.split_once('=') {
            Some(("group_id", v)) => id = Some(num_u32(v)?),
            Some(("type", v)) => {
                kind = GroupType::from_name(v).ok_or_else(|| format!("group type `{v}`"))?
            }
            _ => return Err(format!("`{line}`: unexpected `{tok}`")),
        }
    }
    Ok(Group {
        id: id.ok_or_else(|| format!("`{line}`: no group_id"))?,
        kind,
        buckets,
    })
}

fn bucket_token(
    tok: &str,
    buckets: &mut [Bucket],
    in_actions: &mut bool,
    tables: &TableMap,
) -> Result<(), String> {
    let Some(b) = buckets.last_mut() else {
        return Ok(());
    };
    if let Some(a) = tok.strip_prefix("actions=") {
        *in_actions = true;
        b.actions.push(parse_action(a, tables)?);
    } else if *in_actions {
        b.actions.push(parse_action(tok, tables)?);
    } else if let Some(v) = tok.strip_prefix("bucket_id:") {
        b.id = Some(num_u32(v)?);
    } else if let Some(v) = tok.strip_prefix("weight:") {
        b.weight = Some(v.parse().map_err(|_| format!("bucket weight `{v}`"))?);
    } else {
        // A bucket written without `actions=` starts with its first action.
        *in_actions = true;
        b.actions.push(parse_action(tok, tables)?);
    }
    Ok(())
}

// ---------------------------------------------------------------- printing

fn table(out: &mut String, id: u8, tables: &TableMap, style: Style) {
    match (style, tables.name(id)) {
        (Style::Names, Some(n)) => out.push_str(n),
        _ => {
            let _ = write!(out, "{id}");
        }
    }
}

/// The match as written (`ip,reg0=0x0/0x200,nw_dst=10.10.0.0/24`).
pub fn match_to_string(m: &Match) -> String {
    let mut out = String::new();
    for (i, item) in m.items().iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match item {
            MatchItem::Proto(p) => out.push_str(p.name()),
            MatchItem::Field { field, value, mask } => {
                out.push_str(&field.match_name());
                out.push('=');
                field::fmt_value_mask(&mut out, *field, *value, *mask);
            }
        }
    }
    out
}

/// The action list (`drop` when empty).
pub fn actions_to_string(actions: &[Action], tables: &TableMap, style: Style) -> String {
    let mut out = String::new();
    if actions.is_empty() {
        out.push_str("drop");
    }
    for (i, a) in actions.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_action(&mut out, a, tables, style);
    }
    out
}

fn write_load_src(out: &mut String, src: &LoadSrc) {
    match src {
        LoadSrc::Imm(v) => {
            let _ = write!(out, "{v:#x}");
        }
        LoadSrc::Field(f) => {
            let _ = write!(out, "{f}");
        }
    }
}

/// One action as text.
pub fn write_action(out: &mut String, a: &Action, tables: &TableMap, style: Style) {
    match a {
        Action::GotoTable(t) => {
            out.push_str("goto_table:");
            table(out, *t, tables, style);
        }
        Action::Resubmit { port, table: t } => {
            if port.is_none() && style == Style::Names && t.is_some() {
                out.push_str("resubmit:");
                table(out, t.unwrap_or_default(), tables, style);
            } else {
                out.push_str("resubmit(");
                if let Some(p) = port {
                    let _ = write!(out, "{p}");
                }
                out.push(',');
                if let Some(t) = t {
                    table(out, *t, tables, style);
                }
                out.push(')');
            }
        }
        Action::SetField { field, value, mask } => {
            out.push_str("set_field:");
            match mask {
                Some(m) => {
                    field::fmt_value(out, field.kind(), *value);
                    out.push('/');
                    field::fmt_value(out, field.kind(), *m);
                }
                None => field::fmt_value(out, field.kind(), *value),
            }
            out.push_str("->");
            out.push_str(&field.set_field_name());
        }
        Action::Load { src, dst } => {
            out.push_str("load:");
            write_load_src(out, src);
            let _ = write!(out, "->{dst}");
        }
        Action::Move { src, dst } => {
            let _ = write!(out, "move:{src}->{dst}");
        }
        Action::Ct(ct) => write_ct(out, ct, tables, style),
        Action::Group(g) => {
            let _ = write!(out, "group:{g}");
        }
        Action::Learn(l) => write_learn(out, l, tables, style),
        Action::Conjunction {
            id,
            clause,
            n_clauses,
        } => {
            let _ = write!(out, "conjunction({id},{clause}/{n_clauses})");
        }
        Action::Output(p) => {
            let _ = write!(out, "output:{p}");
        }
        Action::OutputField(f) => {
            let _ = write!(out, "output:{f}");
        }
        Action::InPort => out.push_str("IN_PORT"),
        Action::Local => out.push_str("LOCAL"),
        Action::Normal => out.push_str("NORMAL"),
        Action::Drop => out.push_str("drop"),
        Action::DecTtl => out.push_str("dec_ttl"),
        Action::Controller(None) => out.push_str("CONTROLLER:65535"),
        Action::Controller(Some(args)) => {
            let _ = write!(out, "controller({args})");
        }
        Action::ModDlSrc(m) => {
            out.push_str("mod_dl_src:");
            field::fmt_value(out, Kind::Mac, *m);
        }
        Action::ModDlDst(m) => {
            out.push_str("mod_dl_dst:");
            field::fmt_value(out, Kind::Mac, *m);
        }
        Action::ModNwSrc(ip) => {
            let _ = write!(out, "mod_nw_src:{}", Ipv4Addr::from(*ip));
        }
        Action::ModNwDst(ip) => {
            let _ = write!(out, "mod_nw_dst:{}", Ipv4Addr::from(*ip));
        }
        Action::PushVlan(t) => {
            let _ = write!(out, "push_vlan:{t:#x}");
        }
        Action::PopVlan => out.push_str("pop_vlan"),
        Action::Meter(m) => {
            let _ = write!(out, "meter:{m}");
        }
        Action::Note(n) => {
            let _ = write!(out, "note:{n}");
        }
    }
}

/// `src=10.0.0.1`, `dst=10.10.0.100:80`, or "" for a bare `nat` (the contract's
/// `CtCall::nat` text).
pub fn nat_args(n: &Nat) -> String {
    let mut out = String::new();
    let Some(kind) = n.kind else {
        return out;
    };
    out.push_str(match kind {
        NatKind::Src => "src=",
        NatKind::Dst => "dst=",
    });
    let ip = |v: u128| {
        if n.v6 {
            Ipv6Addr::from(v).to_string()
        } else {
            Ipv4Addr::from(v as u32).to_string()
        }
    };
    let bracket = n.v6 && n.port_min.is_some();
    if bracket {
        out.push('[');
    }
    out.push_str(&ip(n.ip_min));
    if let Some(m) = n.ip_max {
        out.push('-');
        out.push_str(&ip(m));
    }
    if bracket {
        out.push(']');
    }
    if let Some(p) = n.port_min {
        let _ = write!(out, ":{p}");
        if let Some(q) = n.port_max {
            let _ = write!(out, "-{q}");
        }
    }
    out
}

fn write_ct(out: &mut String, ct: &CtAction, tables: &TableMap, style: Style) {
    out.push_str("ct(");
    let mut parts: Vec<String> = Vec::new();
    if ct.commit {
        parts.push("commit".into());
    }
    if let Some(t) = ct.table {
        let mut s = String::from("table=");
        table(&mut s, t, tables, style);
        parts.push(s);
    }
    match &ct.zone {
        CtZone::Imm(z) => parts.push(format!("zone={z}")),
        CtZone::Field(f) => parts.push(format!("zone={f}")),
    }
    if let Some(n) = &ct.nat {
        if n.kind.is_none() {
            parts.push("nat".into());
        } else {
            parts.push(format!("nat({})", nat_args(n)));
        }
    }
    if !ct.exec.is_empty() {
        parts.push(format!(
            "exec({})",
            actions_to_string(&ct.exec, tables, style)
        ));
    }
    out.push_str(&parts.join(","));
    out.push(')');
}

fn write_learn(out: &mut String, l: &Learn, tables: &TableMap, style: Style) {
    out.push_str("learn(table=");
    table(out, l.table, tables, style);
    if let Some(t) = l.idle_timeout {
        let _ = write!(out, ",idle_timeout={t}");
    }
    if let Some(t) = l.hard_timeout {
        let _ = write!(out, ",hard_timeout={t}");
    }
    if let Some(t) = l.fin_idle_timeout {
        let _ = write!(out, ",fin_idle_timeout={t}");
    }
    if let Some(p) = l.priority {
        let _ = write!(out, ",priority={p}");
    }
    if l.delete_learned {
        out.push_str(",delete_learned");
    }
    if let Some(c) = l.cookie {
        let _ = write!(out, ",cookie={c:#x}");
    }
    for s in &l.specs {
        out.push(',');
        match s {
            LearnSpec::MatchImm { field, value } => {
                let _ = write!(out, "{}={value:#x}", field.set_field_name());
            }
            LearnSpec::MatchField { dst, src: None } => {
                let _ = write!(out, "{dst}");
            }
            LearnSpec::MatchField { dst, src: Some(s) } => {
                let _ = write!(out, "{dst}={s}");
            }
            LearnSpec::Load { src, dst } => {
                out.push_str("load:");
                write_load_src(out, src);
                let _ = write!(out, "->{dst}");
            }
        }
    }
    out.push(')');
}

fn flow_head(
    out: &mut String,
    f: &Flow,
    tables: &TableMap,
    style: Style,
    counters: Option<(u64, u64)>,
) {
    let _ = write!(out, "cookie={:#x}, table=", f.cookie);
    table(out, f.table, tables, style);
    if let Some((p, b)) = counters {
        let _ = write!(out, ", n_packets={p}, n_bytes={b}");
    }
    if let Some(t) = f.idle_timeout {
        let _ = write!(out, ", idle_timeout={t}");
    }
    if let Some(t) = f.hard_timeout {
        let _ = write!(out, ", hard_timeout={t}");
    }
    let _ = write!(out, ", priority={}", f.priority);
    let m = match_to_string(&f.matches);
    if !m.is_empty() {
        out.push(',');
        out.push_str(&m);
    }
    out.push_str(" actions=");
    out.push_str(&actions_to_string(&f.actions, tables, style));
}

/// The flow in Antrea's test-string form (or numeric add-flow form).
pub fn flow_to_string(f: &Flow, tables: &TableMap, style: Style) -> String {
    let mut out = String::new();
    flow_head(&mut out, f, tables, style, None);
    out
}

/// The flow as `ovs-ofctl dump-flows` prints it (without `duration=`).
pub fn flow_dump_line(
    f: &Flow,
    tables: &TableMap,
    style: Style,
    n_packets: u64,
    n_bytes: u64,
) -> String {
    let mut out = String::new();
    flow_head(&mut out, f, tables, style, Some((n_packets, n_bytes)));
    out
}

/// The group as Antrea's tests write it (and `ovs-ofctl add-group` accepts).
pub fn group_to_string(g: &Group, tables: &TableMap, style: Style) -> String {
    let mut out = format!("group_id={},type={}", g.id, g.kind.name());
    for b in &g.buckets {
        out.push_str(",bucket=");
        let mut parts: Vec<String> = Vec::new();
        if let Some(id) = b.id {
            parts.push(format!("bucket_id:{id}"));
        }
        if let Some(w) = b.weight {
            parts.push(format!("weight:{w}"));
        }
        parts.push(format!(
            "actions={}",
            actions_to_string(&b.actions, tables, style)
        ));
        out.push_str(&parts.join(","));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables() -> TableMap {
        TableMap::new(&[
            (0, "Classifier"),
            (1, "UnSNAT"),
            (2, "ServiceLB"),
            (3, "EndpointDNAT"),
            (4, "SessionAffinity"),
        ])
    }

    #[test]
    fn numeric_form_uses_numbers_and_resubmit_parens() {
        let t = tables();
        let f = parse_flow(
            "cookie=0x1, table=ServiceLB, priority=200,tcp,nw_dst=10.96.0.1,tp_dst=80 actions=resubmit:EndpointDNAT,ct(commit,table=UnSNAT,zone=65520,nat(dst=10.10.0.5:8080)),goto_table:EndpointDNAT",
            &t,
        )
        .unwrap();
        assert_eq!(
            flow_to_string(&f, &t, Style::Numbers),
            "cookie=0x1, table=2, priority=200,tcp,nw_dst=10.96.0.1,tp_dst=80 actions=resubmit(,3),ct(commit,table=1,zone=65520,nat(dst=10.10.0.5:8080)),goto_table:3"
        );
        // And the numeric form parses back to the same flow.
        let g = parse_flow(&flow_to_string(&f, &t, Style::Numbers), &t).unwrap();
        assert_eq!(f, g);
    }

    #[test]
    fn bad_text_is_an_error_not_a_panic() {
        let t = tables();
        for bad in [
            "priority=1",
            "table=Nowhere, priority=1 actions=drop",
            "priority=1,nw_dst=10.0.0.300 actions=drop",
            "priority=1,ip,arp actions=drop",
            "priority=1 actions=frobnicate",
            "priority=1 actions=move:NXM_NX_REG0[0..3]->NXM_NX_REG1[0..4]",
            "priority=1 actions=load:0x10->NXM_NX_REG0[0..3]",
            "priority=1 actions=conjunction(1,3/2)",
        ] {
            assert!(parse_flow(bad, &t).is_err(), "{bad}");
        }
    }

    #[test]
    fn dump_flows_line_has_counters_and_parses_back() {
        let t = tables();
        let f = parse_flow("cookie=0x1010000000000, table=Classifier, priority=200,in_port=1 actions=set_field:0x1/0xf->reg0,goto_table:UnSNAT", &t).unwrap();
        let line = flow_dump_line(&f, &t, Style::Names, 3, 294);
        assert_eq!(
            line,
            "cookie=0x1010000000000, table=Classifier, n_packets=3, n_bytes=294, priority=200,in_port=1 actions=set_field:0x1/0xf->reg0,goto_table:UnSNAT"
        );
        assert_eq!(parse_flow(&line, &t).unwrap(), f);
    }

    #[test]
    fn groups_round_trip() {
        let t = tables();
        // Test_client_InstallServiceGroup, client_test.go (v1.15.1), with ServiceLB.
        let s = "group_id=100,type=select,bucket=bucket_id:0,weight:100,actions=set_field:0x4000000/0x4000000->reg4,set_field:0xa0a0064->reg3,set_field:0x50/0xffff->reg4,resubmit:ServiceLB,bucket=bucket_id:1,weight:100,actions=set_field:0xa0a0065->reg3,set_field:0x50/0xffff->reg4,resubmit:ServiceLB";
        let g = parse_group(s, &t).unwrap();
        assert_eq!(g.buckets.len(), 2);
        assert_eq!(g.buckets[1].actions.len(), 3);
        assert_eq!(group_to_string(&g, &t, Style::Names), s);
    }
}
