//! A node's connection tracking, in the shapes the tools print it:
//! - br-int's conntrack (where br-int executes its program) as
//!   `ovs-appctl dpctl/dump-conntrack` prints it (`lib/ct-dpif.c`,
//!   `ct_dpif_format_entry`): the protocol, the original and reply tuples
//!   (ICMP with `id`, `type` and `code` instead of ports), `zone`,
//!   `timeout` (seconds left), `mark` when not zero, and the TCP state;
//! - the host's conntrack as `conntrack -L` prints it (conntrack-tools):
//!   protocol name and number, seconds left, the TCP state, both tuples,
//!   `mark` and `use`.
//!
//! Both list what is live at the view's time. Not shown: labels, `id`,
//! `[ASSURED]`/`[UNREPLIED]` flags and the kernel's zone on host entries.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use crate::openflow::conntrack::CtRow;
use crate::sim::World;
use crate::sim::nat::CtEntry;
use crate::time::SimTime;

/// The conntrack view of `device`: br-int's connections first when br-int
/// executes a program, then the host's.
pub fn conntrack(world: &World, device: &str) -> Result<String, String> {
    let (id, stack) = super::stack_of(world, device)?;
    let now = world.now();
    let mut out = String::new();
    if let Some(rows) = world.br_int_conntrack_dump(id) {
        let title = format!("br-int of {device} (ovs-appctl dpctl/dump-conntrack)");
        section(&mut out, &title, rows.iter().map(|r| ovs_line(r, now)));
        out.push('\n');
    }
    let rows = stack.conntrack().rows(now);
    let title = format!("{device} (conntrack -L)");
    section(&mut out, &title, rows.iter().map(|e| host_line(e, now)));
    Ok(out)
}

/// `title: N connection(s)`, then the lines.
fn section(out: &mut String, title: &str, lines: impl ExactSizeIterator<Item = String>) {
    let n = lines.len();
    let _ = writeln!(
        out,
        "{title}: {n} connection{}",
        if n == 1 { "" } else { "s" }
    );
    for l in lines {
        let _ = writeln!(out, "{l}");
    }
}

/// Whole seconds from `now` to `until`, as both tools print timeouts.
fn secs_left(now: SimTime, until_ns: u64) -> u64 {
    until_ns.saturating_sub(now.as_nanos()) / 1_000_000_000
}

fn proto_name(p: u8) -> String {
    match p {
        1 => "icmp".into(),
        6 => "tcp".into(),
        17 => "udp".into(),
        n => n.to_string(),
    }
}

/// One tuple, its fields joined by `sep` (`,` for OVS, ` ` for
/// conntrack-tools): ports, or for ICMP echo the type, code and identifier
/// (a request's identifier is its source port, a reply's its destination
/// port). OVS puts the identifier first, conntrack-tools last.
fn tuple(sep: &str, proto: u8, src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16) -> String {
    let mut f = vec![format!("src={src}"), format!("dst={dst}")];
    if proto == 1 {
        let (id, ty) = if dport == 0 { (sport, 8) } else { (dport, 0) };
        let (id, icmp) = (format!("id={id}"), [format!("type={ty}"), "code=0".into()]);
        if sep == "," {
            f.push(id);
            f.extend(icmp);
        } else {
            f.extend(icmp);
            f.push(id);
        }
    } else {
        f.push(format!("sport={sport}"));
        f.push(format!("dport={dport}"));
    }
    f.join(sep)
}

fn ovs_line(r: &CtRow, now: SimTime) -> String {
    let (rs, rsp, rd, rdp) = r.reply;
    let mut line = format!(
        "{},orig=({}),reply=({})",
        proto_name(r.proto),
        tuple(",", r.proto, r.src, r.sport, r.dst, r.dport),
        tuple(",", r.proto, rs, rsp, rd, rdp)
    );
    if r.zone != 0 {
        let _ = write!(line, ",zone={}", r.zone);
    }
    let _ = write!(line, ",timeout={}", secs_left(now, r.expires_ns));
    if r.mark != 0 {
        let _ = write!(line, ",mark={}", r.mark);
    }
    if !r.tcp_state.is_empty() {
        let _ = write!(line, ",protoinfo=(state={})", r.tcp_state);
    }
    line
}

fn host_line(e: &CtEntry, now: SimTime) -> String {
    let o = e.original;
    let r = e.reply;
    let proto = o.proto;
    let state = e
        .tcp_state
        .map_or(String::new(), |s| format!("{} ", s.name()));
    format!(
        "{:<8} {:<2} {} {state}{} {} mark=0 use=1",
        proto_name(proto),
        proto,
        secs_left(now, e.expires().as_nanos()),
        tuple(" ", proto, o.src, o.sport, o.dst, o.dport),
        tuple(" ", proto, r.src, r.sport, r.dst, r.dport),
    )
}
