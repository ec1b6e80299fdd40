//! One flow and one group of the compiled program, and their text in
//! Antrea's unit-test form (`binding.FlowModToString`, as quoted by
//! pkg/agent/openflow/*_test.go at v1.15.1):
//! `cookie=0x1010000000000, table=Classifier, priority=200,in_port=1 actions=...`.
//!
//! Cookies are built as Antrea's cookie allocator builds them
//! (pkg/agent/openflow/cookie/allocator.go): round id in bits 48..63, the
//! feature category in bits 40..47, an object id (a Service group id for
//! learned flows) in the low 32 bits. The round is [`ROUND`] (1), as in
//! Antrea's tests, so strings compare verbatim.

use std::fmt::Write as _;

use super::tables::{Layout, T};

/// The agent round the cookies carry.
pub const ROUND: u64 = 1;

/// Cookie categories (`cookie.Category`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Category {
    Default = 0,
    PodConnectivity = 1,
    NetworkPolicy = 2,
    Service = 3,
    Egress = 4,
    /// `cookie.ExternalNodeConnectivity`.
    ExternalNodeConnectivity = 8,
}

pub(crate) fn cookie(cat: Category, object: u32) -> u64 {
    (ROUND << 48) | ((cat as u64) << 40) | u64::from(object)
}

/// A flow before it is printed: table, priority, match and action text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Flow {
    pub(crate) table: T,
    pub(crate) priority: u16,
    pub(crate) cookie: u64,
    /// `,`-separated match fields in Antrea's order; empty = match all.
    pub(crate) matches: String,
    pub(crate) actions: String,
}

impl Flow {
    pub(crate) fn new(
        cat: Category,
        table: T,
        priority: u16,
        matches: impl Into<String>,
        actions: impl Into<String>,
    ) -> Flow {
        Flow {
            table,
            priority,
            cookie: cookie(cat, 0),
            matches: matches.into(),
            actions: actions.into(),
        }
    }

    pub(crate) fn with_cookie(mut self, cookie: u64) -> Flow {
        self.cookie = cookie;
        self
    }

    /// The flow's text with table names.
    pub(crate) fn text(&self) -> String {
        let mut s = String::with_capacity(64 + self.matches.len() + self.actions.len());
        let _ = write!(
            s,
            "cookie={:#x}, table={}, priority={}",
            self.cookie,
            self.table.name(),
            self.priority
        );
        if !self.matches.is_empty() {
            s.push(',');
            s.push_str(&self.matches);
        }
        s.push_str(" actions=");
        s.push_str(&self.actions);
        s
    }
}

/// Flows collected by the features, then installed in one go: a flow with
/// the same table, priority and match as an earlier one replaces it, as an
/// OpenFlow add does (Antrea adds the default flows first, then each
/// feature's; `client.initialize`).
pub(crate) struct FlowSet<'a> {
    pub(crate) layout: &'a Layout,
    pub(crate) flows: Vec<Flow>,
}

impl<'a> FlowSet<'a> {
    pub(crate) fn new(layout: &'a Layout) -> Self {
        FlowSet {
            layout,
            flows: Vec::new(),
        }
    }
    pub(crate) fn push(&mut self, f: Flow) {
        self.flows.push(f);
    }
}

/// A select group (`binding.GroupModToString` form, Test_client_InstallServiceGroup),
/// or an `all` group (every bucket gets a copy; no weights).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Group {
    pub(crate) id: u32,
    /// Each bucket's actions, weight 100 in a select group.
    pub(crate) buckets: Vec<String>,
    pub(crate) all: bool,
}

impl Group {
    pub(crate) fn text(&self) -> String {
        let kind = if self.all { "all" } else { "select" };
        let mut s = format!("group_id={},type={kind}", self.id);
        for (i, b) in self.buckets.iter().enumerate() {
            if self.all {
                let _ = write!(s, ",bucket=bucket_id:{i},actions={b}");
            } else {
                let _ = write!(s, ",bucket=bucket_id:{i},weight:100,actions={b}");
            }
        }
        s
    }
}

pub(crate) fn hex_ip(ip: std::net::Ipv4Addr) -> String {
    format!("{:#x}", u32::from(ip))
}
