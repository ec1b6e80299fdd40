//! A walk recorded table by table, printed like `ovs-appctl ofproto/trace`:
//! each pass (the first, then one per ct() recirculation) opens with its flow,
//! each table visited prints ` T. <match>, priority P, cookie C` followed by the
//! actions that ran, resubmits and group buckets nest four columns deeper, and a
//! `Final flow:` closes each pass. The verdict closes the whole trace.

use std::fmt::Write as _;

use super::field::fmt_ct_flags;
use super::verdict::Verdict;

/// One recorded line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraceLine {
    /// A pass begins: its number (0 = the packet as received), the table it
    /// starts at, the ct_state it resumes with, and the packet as a flow string.
    Pass {
        n: u32,
        table: u8,
        ct_state: u8,
        flow: String,
    },
    /// A table matched a flow.
    Table {
        indent: u16,
        table: u8,
        name: Option<String>,
        matched: String,
        priority: u16,
        cookie: u64,
    },
    /// A table had no matching flow (a table miss drops).
    NoMatch {
        indent: u16,
        table: u8,
        name: Option<String>,
    },
    /// An action that ran.
    Action { indent: u16, text: String },
    /// What an action did (a register change, a skipped output, a recirculation).
    Note { indent: u16, text: String },
    /// The packet at the end of a pass.
    Final { flow: String },
}

/// A whole walk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    lines: Vec<TraceLine>,
}

fn pad(out: &mut String, indent: u16) {
    for _ in 0..indent {
        out.push_str("    ");
    }
}

impl Trace {
    pub(crate) fn push(&mut self, l: TraceLine) {
        self.lines.push(l);
    }

    pub fn lines(&self) -> &[TraceLine] {
        &self.lines
    }

    /// The tables visited, in order (id, name).
    pub fn tables(&self) -> Vec<(u8, Option<&str>)> {
        self.lines
            .iter()
            .filter_map(|l| match l {
                TraceLine::Table { table, name, .. } | TraceLine::NoMatch { table, name, .. } => {
                    Some((*table, name.as_deref()))
                }
                _ => None,
            })
            .collect()
    }

    /// The `ofproto/trace`-like printout, ending with the verdict.
    pub fn render(&self, verdict: &Verdict) -> String {
        let mut out = String::new();
        for l in &self.lines {
            match l {
                TraceLine::Pass {
                    n,
                    table,
                    ct_state,
                    flow,
                } => {
                    if *n > 0 {
                        let bar = "=".repeat(79);
                        let _ = writeln!(
                            out,
                            "\n{bar}\nrecirc({n:#x}) - resume conntrack with ct_state={}\n{bar}\n",
                            fmt_ct_flags(*ct_state)
                        );
                    }
                    let _ = writeln!(out, "Flow: {flow}\n\nbridge(\"br-int\")\n----------------");
                    if *n > 0 {
                        let _ = writeln!(out, "    thaw\n        Resuming from table {table}");
                    }
                }
                TraceLine::Table {
                    indent,
                    table,
                    name,
                    matched,
                    priority,
                    cookie,
                } => {
                    pad(&mut out, *indent);
                    let _ = write!(out, "{table:>2}. ");
                    if let Some(n) = name {
                        let _ = write!(out, "{n}: ");
                    }
                    if !matched.is_empty() {
                        let _ = write!(out, "{matched}, ");
                    }
                    let _ = writeln!(out, "priority {priority}, cookie {cookie:#x}");
                }
                TraceLine::NoMatch {
                    indent,
                    table,
                    name,
                } => {
                    pad(&mut out, *indent);
                    let _ = write!(out, "{table:>2}. ");
                    if let Some(n) = name {
                        let _ = write!(out, "{n}: ");
                    }
                    out.push_str("No match.\n");
                    pad(&mut out, *indent);
                    out.push_str("    drop\n");
                }
                TraceLine::Action { indent, text } => {
                    pad(&mut out, *indent);
                    let _ = writeln!(out, "    {text}");
                }
                TraceLine::Note { indent, text } => {
                    pad(&mut out, *indent);
                    let _ = writeln!(out, "     -> {text}");
                }
                TraceLine::Final { flow } => {
                    let _ = writeln!(out, "\nFinal flow: {flow}");
                }
            }
        }
        let _ = writeln!(out, "\nVerdict: {}", verdict_summary(verdict));
        out
    }
}

/// `output:3 (tun_dst=...)`, `NORMAL`, `controller`, or `drop`, comma-separated.
pub fn verdict_summary(v: &Verdict) -> String {
    let mut parts: Vec<String> = v
        .outputs
        .iter()
        .map(|e| match e.tun_dst {
            Some(t) => format!("output:{} (tun_dst={t})", e.port),
            None => format!("output:{}", e.port),
        })
        .collect();
    if v.normal {
        parts.push("NORMAL".into());
    }
    if v.controller {
        parts.push("controller".into());
    }
    if parts.is_empty() {
        parts.push("drop".into());
    }
    parts.join(", ")
}
