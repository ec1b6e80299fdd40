//! [`Program`]: one bridge's OpenFlow state. Tables hold flows in priority order
//! with a classifier per table (OVS-style tuple-space search: flows grouped into
//! subtables by the set of fields and masks they match, each subtable a sorted map
//! from the hash of the masked fields to its flows, probed from the highest
//! priority down), groups, `n_packets`/`n_bytes` per flow and group, and a
//! generation number bumped on every change. The flow cache
//! ([`super::cache`]) keys on a stamp renewed with the generation but unique
//! in the process, so that two clones changed apart never look alike.
//!
//! Ties: among overlapping flows of equal priority (which OVS leaves undefined),
//! the flow added first wins. Adding a flow with the same table, priority and
//! match as an existing one replaces its actions and keeps its counters (the
//! OpenFlow 1.3 `OFPFC_ADD` rule without `reset_counts`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::field::Field;
use super::flow::{Action, Cond, Flow, Group, Match, TableMap};
use super::packet::Packet;
use super::text::{self, Style};

const NS_PER_SEC: u64 = 1_000_000_000;

/// Source of [`Program`] stamps (never printed; only compared for equality).
static STAMPS: AtomicU64 = AtomicU64::new(1);

fn next_stamp() -> u64 {
    STAMPS.fetch_add(1, Ordering::Relaxed)
}

/// A flow's place in a program (valid until the flow is deleted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FlowId {
    pub(crate) table: u8,
    pub(crate) slot: u32,
}

#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub(crate) flow: Arc<Flow>,
    seq: u64,
    pub(crate) n_packets: u64,
    pub(crate) n_bytes: u64,
    /// Absolute expiry time (hard_timeout), ns.
    hard_expiry: Option<u64>,
    idle_ns: Option<u64>,
    last_used: u64,
}

impl Entry {
    fn expiry(&self) -> Option<u64> {
        let idle = self.idle_ns.map(|i| self.last_used.saturating_add(i));
        match (self.hard_expiry, idle) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Flows that match the same fields under the same masks.
#[derive(Clone, Debug)]
struct Subtable {
    /// (field, mask) signature, sorted by field.
    mask: Vec<(Field, u128)>,
    /// Hash of the masked values -> slots, by (priority desc, seq asc).
    buckets: BTreeMap<u64, Vec<u32>>,
    max_priority: u16,
    count: usize,
}

/// One table's flows and classifier.
#[derive(Clone, Debug, Default)]
pub(crate) struct Table {
    entries: Vec<Option<Entry>>,
    free: Vec<u32>,
    subtables: Vec<Subtable>,
    /// Subtable indices by max priority, highest first.
    order: Vec<usize>,
    /// Conjunctive flows (all actions `conjunction(...)`), by (priority desc, seq asc).
    conj: Vec<u32>,
    /// Slots by (priority, hash of the match's conditions); the conditions
    /// themselves are the entry's (not copied here: a large program's flows
    /// would be held twice).
    by_key: BTreeMap<(u16, u64), Vec<u32>>,
    /// Number of flows.
    n_flows: usize,
}

/// The interner's key for a text line.
fn line_hash(line: &str) -> u64 {
    use std::hash::Hasher;
    let mut h = crate::keyhash::WordHasher::default();
    h.write(line.as_bytes());
    h.finish()
}

fn conds_hash(conds: &[Cond]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = crate::keyhash::WordHasher::default();
    conds.hash(&mut h);
    h.finish()
}

impl Table {
    /// The slot of the flow with exactly this priority and these conditions.
    fn find(&self, priority: u16, conds: &[Cond]) -> Option<u32> {
        let key = (priority, conds_hash(conds));
        self.find_in(&key, conds)
    }

    /// The slot under `key` whose flow has exactly `conds`.
    fn find_in(&self, key: &(u16, u64), conds: &[Cond]) -> Option<u32> {
        self.by_key.get(key)?.iter().copied().find(|s| {
            self.entry(*s)
                .is_some_and(|e| e.flow.matches.conds() == conds)
        })
    }

    fn add_key(&mut self, priority: u16, conds: &[Cond], slot: u32) {
        self.by_key
            .entry((priority, conds_hash(conds)))
            .or_default()
            .push(slot);
        self.n_flows += 1;
    }

    /// Forgets the flow with this priority and these conditions; its slot.
    fn remove_key(&mut self, priority: u16, conds: &[Cond]) -> Option<u32> {
        let key = (priority, conds_hash(conds));
        let slot = self.find_in(&key, conds)?;
        if let Some(v) = self.by_key.get_mut(&key) {
            v.retain(|s| *s != slot);
            if v.is_empty() {
                self.by_key.remove(&key);
            }
        }
        self.n_flows -= 1;
        Some(slot)
    }
}

/// Mixes masked field values into a bucket key.
pub(crate) fn mix(h: u64, v: u128) -> u64 {
    let x = (v as u64) ^ ((v >> 64) as u64).rotate_left(29);
    let y = (h ^ x).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    y ^ (y >> 31)
}

fn key_of_conds(conds: &[Cond]) -> u64 {
    conds
        .iter()
        .fold(0x51_7cc1_b727_220a, |h, c| mix(h, c.value & c.mask))
}

/// Does `pkt` satisfy every condition?
pub(crate) fn matches(conds: &[Cond], pkt: &Packet) -> bool {
    conds.iter().all(|c| pkt.get(c.field) & c.mask == c.value)
}

/// Fields (and masks) a lookup consulted: the megaflow's wildcards.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Consulted {
    masks: BTreeMap<Field, u128>,
}

impl Consulted {
    pub(crate) fn add(&mut self, field: Field, mask: u128) {
        *self.masks.entry(field).or_insert(0) |= mask;
    }
    /// (field, mask) pairs, sorted by field.
    pub fn iter(&self) -> impl Iterator<Item = (Field, u128)> + '_ {
        self.masks.iter().map(|(f, m)| (*f, *m))
    }
    pub fn len(&self) -> usize {
        self.masks.len()
    }
    pub fn is_empty(&self) -> bool {
        self.masks.is_empty()
    }
}

impl Table {
    fn entry(&self, slot: u32) -> Option<&Entry> {
        self.entries.get(slot as usize).and_then(Option::as_ref)
    }

    fn sort_key(&self, slot: u32) -> (std::cmp::Reverse<u16>, u64) {
        self.entry(slot)
            .map(|e| (std::cmp::Reverse(e.flow.priority), e.seq))
            .unwrap_or((std::cmp::Reverse(0), u64::MAX))
    }

    fn index(&mut self, slot: u32) {
        let Some(e) = self.entry(slot) else { return };
        let prio = e.flow.priority;
        if e.flow.is_conjunctive() {
            let at = self
                .conj
                .partition_point(|s| self.sort_key(*s) < self.sort_key(slot));
            self.conj.insert(at, slot);
            return;
        }
        let conds = e.flow.matches.conds().to_vec();
        let mask: Vec<(Field, u128)> = conds.iter().map(|c| (c.field, c.mask)).collect();
        let key = key_of_conds(&conds);
        let si = match self.subtables.iter().position(|s| s.mask == mask) {
            Some(i) => i,
            None => {
                self.subtables.push(Subtable {
                    mask,
                    buckets: BTreeMap::new(),
                    max_priority: 0,
                    count: 0,
                });
                self.subtables.len() - 1
            }
        };
        let mut list = self.subtables[si].buckets.remove(&key).unwrap_or_default();
        let at = list.partition_point(|s| self.sort_key(*s) < self.sort_key(slot));
        list.insert(at, slot);
        let st = &mut self.subtables[si];
        st.buckets.insert(key, list);
        st.count += 1;
        st.max_priority = st.max_priority.max(prio);
        self.reorder();
    }

    fn unindex(&mut self, slot: u32) {
        let Some(e) = self.entry(slot) else { return };
        if e.flow.is_conjunctive() {
            self.conj.retain(|s| *s != slot);
            return;
        }
        let conds = e.flow.matches.conds();
        let mask: Vec<(Field, u128)> = conds.iter().map(|c| (c.field, c.mask)).collect();
        let key = key_of_conds(conds);
        if let Some(si) = self.subtables.iter().position(|s| s.mask == mask) {
            let mut emptied = false;
            if let Some(list) = self.subtables[si].buckets.get_mut(&key) {
                list.retain(|s| *s != slot);
                emptied = list.is_empty();
            }
            if emptied {
                self.subtables[si].buckets.remove(&key);
            }
            self.subtables[si].count -= 1;
            if self.subtables[si].count == 0 {
                self.subtables.remove(si);
            } else {
                let entries = &self.entries;
                let max = self.subtables[si]
                    .buckets
                    .values()
                    .filter_map(|l| l.first())
                    .filter_map(|s| entries.get(*s as usize).and_then(Option::as_ref))
                    .map(|e| e.flow.priority)
                    .max()
                    .unwrap_or(0);
                self.subtables[si].max_priority = max;
            }
            self.reorder();
        }
    }

    fn reorder(&mut self) {
        let mut order: Vec<usize> = (0..self.subtables.len()).collect();
        order.sort_by_key(|i| (std::cmp::Reverse(self.subtables[*i].max_priority), *i));
        self.order = order;
    }

    /// The best non-conjunctive flow for `pkt` (highest priority, then first added).
    pub(crate) fn lookup(&self, pkt: &Packet, consulted: &mut Consulted) -> Option<u32> {
        let mut best: Option<(u16, u64, u32)> = None;
        for &si in &self.order {
            let st = &self.subtables[si];
            if let Some((bp, _, _)) = best
                && st.max_priority < bp
            {
                break;
            }
            let mut h = 0x51_7cc1_b727_220a;
            for (f, m) in &st.mask {
                consulted.add(*f, *m);
                h = mix(h, pkt.get(*f) & m);
            }
            let Some(list) = st.buckets.get(&h) else {
                continue;
            };
            for &slot in list {
                let Some(e) = self.entry(slot) else { continue };
                if let Some((bp, _, _)) = best
                    && e.flow.priority < bp
                {
                    break;
                }
                if matches(e.flow.matches.conds(), pkt) {
                    let better = match best {
                        None => true,
                        Some((bp, bs, _)) => {
                            (e.flow.priority, std::cmp::Reverse(e.seq))
                                > (bp, std::cmp::Reverse(bs))
                        }
                    };
                    if better {
                        best = Some((e.flow.priority, e.seq, slot));
                    }
                    break;
                }
            }
        }
        best.map(|(_, _, s)| s)
    }

    /// Conjunctive flows, highest priority first.
    pub(crate) fn conjunctive(&self) -> impl Iterator<Item = (u32, &Flow)> {
        self.conj
            .iter()
            .filter_map(|s| self.entry(*s).map(|e| (*s, &*e.flow)))
    }

    pub(crate) fn flow(&self, slot: u32) -> Option<&Flow> {
        self.entry(slot).map(|e| &*e.flow)
    }

    /// Slots by (priority desc, seq asc).
    fn sorted_slots(&self) -> Vec<u32> {
        let mut v: Vec<u32> = (0..self.entries.len() as u32)
            .filter(|s| self.entry(*s).is_some())
            .collect();
        v.sort_by_key(|s| self.sort_key(*s));
        v
    }
}

/// A group with its counters.
#[derive(Clone, Debug)]
pub(crate) struct GroupEntry {
    pub(crate) group: Arc<Group>,
    pub(crate) n_packets: u64,
    pub(crate) n_bytes: u64,
}

/// Parsed flows by their text, shared by the programs that hold them
/// ([`Program::from_text_shared`]). Lines no program holds any more are
/// dropped now and then, so the interner stays about the size of the
/// distinct flows in use.
#[derive(Clone, Debug, Default)]
pub struct FlowInterner {
    /// The table map the lines were parsed with (a line means another
    /// flow under another map).
    names: Option<TableMap>,
    /// By the hash of their line: (line, parse), usually one.
    flows: BTreeMap<u64, Vec<(String, Arc<Flow>)>>,
    groups: BTreeMap<u64, Vec<(String, Arc<Group>)>>,
    /// Size after the last pruning.
    kept: usize,
    /// Distinct flows and groups held.
    count: usize,
}

impl FlowInterner {
    fn use_names(&mut self, names: &TableMap) {
        if self.names.as_ref() != Some(names) {
            self.flows.clear();
            self.groups.clear();
            self.kept = 0;
            self.count = 0;
            self.names = Some(names.clone());
        }
    }

    fn flow(&mut self, line: &str, names: &TableMap) -> Result<Arc<Flow>, String> {
        intern(&mut self.flows, &mut self.count, line, |l| {
            text::parse_flow(l, names)
        })
    }

    fn group(&mut self, line: &str, names: &TableMap) -> Result<Arc<Group>, String> {
        intern(&mut self.groups, &mut self.count, line, |l| {
            text::parse_group(l, names)
        })
    }

    /// Drops the lines only the interner holds once it has doubled since
    /// the last pruning.
    fn prune(&mut self) {
        if self.len() > 2 * self.kept + 1024 {
            self.count = prune(&mut self.flows) + prune(&mut self.groups);
            self.kept = self.count;
        }
    }

    /// Distinct flows and groups held.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The shared parse of `line` in `map`, parsing it on first sight.
fn intern<T>(
    map: &mut BTreeMap<u64, Vec<(String, Arc<T>)>>,
    count: &mut usize,
    line: &str,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<Arc<T>, String> {
    let list = map.entry(line_hash(line)).or_default();
    if let Some((_, v)) = list.iter().find(|(l, _)| l == line) {
        return Ok(Arc::clone(v));
    }
    let v = Arc::new(parse(line)?);
    list.push((line.to_string(), Arc::clone(&v)));
    *count += 1;
    Ok(v)
}

/// Drops the parses only `map` holds; how many are left.
fn prune<T>(map: &mut BTreeMap<u64, Vec<(String, Arc<T>)>>) -> usize {
    map.retain(|_, list| {
        list.retain(|(_, v)| Arc::strong_count(v) > 1);
        !list.is_empty()
    });
    map.values().map(Vec::len).sum()
}

/// A program's rules at one time ([`Program::rules`]): what a loader
/// keeps to tell whether a new program differs from the one it loaded,
/// whatever the running program learned or expired since.
#[derive(Clone, Debug, Default)]
pub struct ProgramRules {
    names: TableMap,
    tunnel_ports: Vec<u32>,
    groups: Vec<(u32, Arc<Group>)>,
    flows: Vec<Arc<Flow>>,
}

impl ProgramRules {
    /// Whether both hold the same rules, as [`Program::bundle_text`] would
    /// print them (groups, then flows, in that order, with the table map
    /// and tunnel ports). Shared parses ([`FlowInterner`]) compare by
    /// address, others field by field.
    pub fn same_as(&self, other: &ProgramRules) -> bool {
        self.names == other.names
            && self.tunnel_ports == other.tunnel_ports
            && self.groups.len() == other.groups.len()
            && self
                .groups
                .iter()
                .zip(&other.groups)
                .all(|((a, ga), (b, gb))| a == b && (Arc::ptr_eq(ga, gb) || ga == gb))
            && self.flows.len() == other.flows.len()
            && self
                .flows
                .iter()
                .zip(&other.flows)
                .all(|(a, b)| Arc::ptr_eq(a, b) || a == b)
    }
}

/// One bridge's flows and groups.
#[derive(Clone, Debug)]
pub struct Program {
    names: TableMap,
    tables: BTreeMap<u8, Table>,
    groups: BTreeMap<u32, GroupEntry>,
    generation: u64,
    /// Process-unique, renewed with every generation bump (see the module doc).
    stamp: u64,
    next_seq: u64,
    timed: BTreeSet<FlowId>,
    next_expiry: u64,
    tunnel_ports: Vec<u32>,
}

/// What one walk changes in the program (applied after the walk).
#[derive(Clone, Debug, Default)]
pub(crate) struct Effects {
    pub(crate) flow_hits: Vec<FlowId>,
    pub(crate) group_hits: Vec<u32>,
    pub(crate) learned: Vec<Flow>,
    pub(crate) bytes: u64,
}

impl Program {
    /// An empty program whose tables are named by `names`. The tunnel port is
    /// ofport 1 (Antrea's `antrea-tun0`, contract section 2); see
    /// [`Program::set_tunnel_ports`].
    pub fn new(names: TableMap) -> Program {
        Program {
            names,
            tables: BTreeMap::new(),
            groups: BTreeMap::new(),
            generation: 0,
            stamp: next_stamp(),
            next_seq: 0,
            timed: BTreeSet::new(),
            next_expiry: u64::MAX,
            tunnel_ports: vec![1],
        }
    }

    /// Parses flow lines and group lines (`group_id=...`); blank lines and `#`
    /// comments are skipped. Errors name the line number.
    pub fn from_text(names: TableMap, text: &str) -> Result<Program, String> {
        Program::from_lines(names, text, |p, l| {
            if l.starts_with("group_id=") {
                text::parse_group(l, &p.names).map(|g| p.add_group(g))
            } else {
                text::parse_flow(l, &p.names).and_then(|f| p.add_flow(f).map(|_| ()))
            }
        })
    }

    /// [`Program::from_text`] with the flow lines parsed once across
    /// programs: a line `interner` has seen under the same table map is
    /// shared, not parsed and stored again. Nodes of one cluster hold most
    /// of their flows alike (every Service's and endpoint's), so a large
    /// cluster keeps one copy of each.
    pub fn from_text_shared(
        names: TableMap,
        text: &str,
        interner: &mut FlowInterner,
    ) -> Result<Program, String> {
        interner.use_names(&names);
        let p = Program::from_lines(names, text, |p, l| {
            if l.starts_with("group_id=") {
                interner.group(l, &p.names).map(|g| p.add_shared_group(g))
            } else {
                interner
                    .flow(l, &p.names)
                    .and_then(|f| p.add_shared_flow_at(f, 0).map(|_| ()))
            }
        })?;
        interner.prune();
        Ok(p)
    }

    /// A program of `text`'s lines, each added by `add` (blank lines and
    /// `#` comments skipped; errors name the line number).
    fn from_lines(
        names: TableMap,
        text: &str,
        mut add: impl FnMut(&mut Program, &str) -> Result<(), String>,
    ) -> Result<Program, String> {
        let mut p = Program::new(names);
        for (i, line) in text.lines().enumerate() {
            let l = line.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            add(&mut p, l).map_err(|e| format!("line {}: {e}", i + 1))?;
        }
        Ok(p)
    }

    pub fn table_names(&self) -> &TableMap {
        &self.names
    }

    /// Ports whose outputs carry `tun_dst` in a verdict (a change of
    /// program: the generation moves).
    pub fn set_tunnel_ports(&mut self, ports: &[u32]) {
        self.touch();
        self.tunnel_ports = ports.to_vec();
    }

    fn touch(&mut self) {
        self.generation += 1;
        self.stamp = next_stamp();
    }

    /// Equal stamps mean the same flows, groups and tunnel ports.
    pub(crate) fn stamp(&self) -> u64 {
        self.stamp
    }

    pub(crate) fn is_tunnel_port(&self, p: u32) -> bool {
        self.tunnel_ports.contains(&p)
    }

    /// Bumped on every flow, group or tunnel-port change (not on counter
    /// updates).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Adds (or replaces) a flow installed at time 0.
    pub fn add_flow(&mut self, flow: Flow) -> Result<FlowId, String> {
        self.add_flow_at(flow, 0)
    }

    /// Adds (or replaces) a flow installed at `now_ns` (timeouts count from it).
    /// Like OVS, `goto_table` must point to a later table.
    pub fn add_flow_at(&mut self, flow: Flow, now_ns: u64) -> Result<FlowId, String> {
        self.add_shared_flow_at(Arc::new(flow), now_ns)
    }

    /// [`Program::add_flow_at`] with a flow that other programs may hold
    /// too ([`FlowInterner`]): one copy of a flow every node has alike.
    pub fn add_shared_flow_at(&mut self, flow: Arc<Flow>, now_ns: u64) -> Result<FlowId, String> {
        for a in &flow.actions {
            if let Action::GotoTable(t) = a
                && *t <= flow.table
            {
                return Err(format!(
                    "goto_table:{t} in table {}: goto_table must go to a later table",
                    flow.table
                ));
            }
        }
        self.touch();
        let table_id = flow.table;
        let hard_expiry = flow
            .hard_timeout
            .filter(|t| *t > 0)
            .map(|t| now_ns + u64::from(t) * NS_PER_SEC);
        let idle_ns = flow
            .idle_timeout
            .filter(|t| *t > 0)
            .map(|t| u64::from(t) * NS_PER_SEC);
        let t = self.tables.entry(table_id).or_default();
        let slot = if let Some(slot) = t.find(flow.priority, flow.matches.conds()) {
            t.unindex(slot);
            let Some(e) = t.entries[slot as usize].as_mut() else {
                return Err("internal: flow index out of step".into());
            };
            e.flow = flow;
            e.hard_expiry = hard_expiry;
            e.idle_ns = idle_ns;
            e.last_used = now_ns;
            t.index(slot);
            slot
        } else {
            let seq = self.next_seq;
            self.next_seq += 1;
            let entry = Entry {
                flow,
                seq,
                n_packets: 0,
                n_bytes: 0,
                hard_expiry,
                idle_ns,
                last_used: now_ns,
            };
            let slot = match t.free.pop() {
                Some(s) => {
                    t.entries[s as usize] = Some(entry);
                    s
                }
                None => {
                    t.entries.push(Some(entry));
                    u32::try_from(t.entries.len() - 1).map_err(|_| "table full".to_string())?
                }
            };
            let (priority, conds) = {
                let f = &t.entries[slot as usize].as_ref().expect("just stored").flow;
                (f.priority, f.matches.conds().to_vec())
            };
            t.add_key(priority, &conds, slot);
            t.index(slot);
            slot
        };
        let id = FlowId {
            table: table_id,
            slot,
        };
        if hard_expiry.is_some() || idle_ns.is_some() {
            self.timed.insert(id);
            if let Some(x) = self.tables[&table_id].entry(slot).and_then(Entry::expiry) {
                self.next_expiry = self.next_expiry.min(x);
            }
        } else {
            self.timed.remove(&id);
        }
        Ok(id)
    }

    /// Parses and adds one flow line.
    pub fn add_flow_text(&mut self, line: &str) -> Result<FlowId, String> {
        let f = text::parse_flow(line, &self.names)?;
        self.add_flow(f)
    }

    /// Deletes the flow with exactly this table, priority and match
    /// (`ovs-ofctl del-flows --strict`). Returns whether one was there.
    pub fn delete_flow_strict(&mut self, table: u8, priority: u16, m: &Match) -> bool {
        let Some(t) = self.tables.get_mut(&table) else {
            return false;
        };
        let Some(slot) = t.remove_key(priority, m.conds()) else {
            return false;
        };
        t.unindex(slot);
        t.entries[slot as usize] = None;
        t.free.push(slot);
        self.timed.remove(&FlowId { table, slot });
        self.touch();
        true
    }

    /// Deletes every flow whose cookie matches `cookie` under `mask`
    /// (`del-flows cookie=C/M`). Returns how many.
    pub fn delete_flows_by_cookie(&mut self, cookie: u64, mask: u64) -> usize {
        let victims: Vec<(u8, u16, Match)> = self
            .flows()
            .filter(|(f, _, _)| f.cookie & mask == cookie & mask)
            .map(|(f, _, _)| (f.table, f.priority, f.matches.clone()))
            .collect();
        for (t, p, m) in &victims {
            self.delete_flow_strict(*t, *p, m);
        }
        victims.len()
    }

    /// Adds or replaces a group (counters reset, as `mod-group` does in OVS).
    pub fn add_group(&mut self, group: Group) {
        self.add_shared_group(Arc::new(group));
    }

    /// [`Program::add_group`] with a group other programs may hold too.
    pub fn add_shared_group(&mut self, group: Arc<Group>) {
        self.touch();
        self.groups.insert(
            group.id,
            GroupEntry {
                group,
                n_packets: 0,
                n_bytes: 0,
            },
        );
    }

    pub fn delete_group(&mut self, id: u32) -> bool {
        self.touch();
        self.groups.remove(&id).is_some()
    }

    pub fn group(&self, id: u32) -> Option<&Group> {
        self.groups.get(&id).map(|g| &*g.group)
    }

    /// (n_packets, n_bytes) of a group.
    pub fn group_counters(&self, id: u32) -> Option<(u64, u64)> {
        self.groups.get(&id).map(|g| (g.n_packets, g.n_bytes))
    }

    pub(crate) fn table(&self, id: u8) -> Option<&Table> {
        self.tables.get(&id)
    }

    /// Every flow with its (n_packets, n_bytes): tables in id order, each by
    /// priority (highest first), then the order added.
    pub fn flows(&self) -> impl Iterator<Item = (&Flow, u64, u64)> {
        self.entries().map(|e| (&*e.flow, e.n_packets, e.n_bytes))
    }

    pub fn group_count(&self) -> usize {
        self.groups.len()
    }

    pub fn flow_count(&self) -> usize {
        self.tables.values().map(|t| t.n_flows).sum()
    }

    /// (n_packets, n_bytes) of a flow.
    pub fn flow_counters(&self, id: FlowId) -> Option<(u64, u64)> {
        self.tables
            .get(&id.table)
            .and_then(|t| t.entry(id.slot))
            .map(|e| (e.n_packets, e.n_bytes))
    }

    /// `ovs-ofctl dump-flows` (names or numbers), one flow a line.
    pub fn dump_flows(&self, style: Style) -> String {
        let mut out = String::new();
        for (f, p, b) in self.flows() {
            out.push(' ');
            out.push_str(&text::flow_dump_line(f, &self.names, style, p, b));
            out.push('\n');
        }
        out
    }

    /// `ovs-ofctl dump-groups`-like lines with counters.
    pub fn dump_groups(&self, style: Style) -> String {
        let mut out = String::new();
        for g in self.groups.values() {
            let _ = writeln!(
                out,
                " {}",
                text::group_to_string(&g.group, &self.names, style)
            );
        }
        out
    }

    /// `ovs-ofctl dump-group-stats`: each group's packet and byte counts
    /// (OVS also prints a duration, a reference count and per-bucket counts,
    /// which the interpreter does not keep).
    pub fn dump_group_stats(&self) -> String {
        let mut out = String::new();
        for (id, g) in &self.groups {
            let _ = writeln!(
                out,
                " group_id={id},packet_count={},byte_count={}",
                g.n_packets, g.n_bytes
            );
        }
        out
    }

    /// What the program holds now (groups, flows in [`Program::flows`]'
    /// order, table map, tunnel ports), counters aside: the flows and
    /// groups shared, not copied. Compare with [`ProgramRules::same_as`].
    pub fn rules(&self) -> ProgramRules {
        ProgramRules {
            names: self.names.clone(),
            tunnel_ports: self.tunnel_ports.clone(),
            groups: self
                .groups
                .iter()
                .map(|(id, g)| (*id, Arc::clone(&g.group)))
                .collect(),
            flows: self.entries().map(|e| Arc::clone(&e.flow)).collect(),
        }
    }

    /// Every flow's entry, in [`Program::flows`]' order.
    fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.tables
            .values()
            .flat_map(|t| t.sorted_slots().into_iter().filter_map(move |s| t.entry(s)))
    }

    /// The whole program as `ovs-ofctl -O OpenFlow15 bundle BR -` input: groups
    /// first (flows refer to them), then flows, numeric tables throughout.
    pub fn bundle_text(&self) -> String {
        let mut out = String::new();
        for g in self.groups.values() {
            let _ = writeln!(
                out,
                "group add {}",
                text::group_to_string(&g.group, &self.names, Style::Numbers)
            );
        }
        for (f, _, _) in self.flows() {
            let _ = writeln!(
                out,
                "flow add {}",
                text::flow_to_string(f, &self.names, Style::Numbers)
            );
        }
        out
    }

    /// Removes flows whose hard or idle timeout has passed at `now_ns`.
    pub fn expire(&mut self, now_ns: u64) -> usize {
        if now_ns < self.next_expiry {
            return 0;
        }
        let mut dead = Vec::new();
        let mut next = u64::MAX;
        for id in &self.timed {
            let Some(e) = self.tables.get(&id.table).and_then(|t| t.entry(id.slot)) else {
                continue;
            };
            match e.expiry() {
                Some(x) if x <= now_ns => {
                    dead.push((id.table, e.flow.priority, e.flow.matches.clone()))
                }
                Some(x) => next = next.min(x),
                None => {}
            }
        }
        self.next_expiry = next;
        for (t, p, m) in &dead {
            self.delete_flow_strict(*t, *p, m);
        }
        dead.len()
    }

    /// Applies a walk's counter updates and learned flows.
    pub(crate) fn apply(&mut self, fx: Effects, now_ns: u64) {
        self.apply_hits(&fx.flow_hits, &fx.group_hits, fx.bytes, now_ns);
        for f in fx.learned {
            // A learned flow that breaks a rule is skipped, as OVS logs and skips it.
            let _ = self.add_flow_at(f, now_ns);
        }
    }

    /// [`Program::apply_hits`] for flow hits sorted by [`FlowId`] (tables
    /// visited in one pass; the counts are the same in any order).
    pub(crate) fn apply_sorted_hits(
        &mut self,
        flow_hits: &[FlowId],
        group_hits: &[u32],
        bytes: u64,
        now_ns: u64,
    ) {
        let mut rest = flow_hits;
        for (tid, t) in self.tables.iter_mut() {
            let Some(first) = rest.first() else { break };
            if first.table > *tid {
                continue;
            }
            let n = rest.partition_point(|id| id.table <= *tid);
            for id in &rest[..n] {
                if id.table != *tid {
                    continue;
                }
                if let Some(e) = t.entries.get_mut(id.slot as usize).and_then(Option::as_mut) {
                    e.n_packets += 1;
                    e.n_bytes += bytes;
                    e.last_used = now_ns;
                }
            }
            rest = &rest[n..];
        }
        self.apply_hits(&[], group_hits, bytes, now_ns);
    }

    /// Counts one packet of `bytes` on each flow and group hit (a flow once
    /// per hit, as a walk does).
    pub(crate) fn apply_hits(
        &mut self,
        flow_hits: &[FlowId],
        group_hits: &[u32],
        bytes: u64,
        now_ns: u64,
    ) {
        for id in flow_hits {
            if let Some(e) = self
                .tables
                .get_mut(&id.table)
                .and_then(|t| t.entries.get_mut(id.slot as usize))
                .and_then(Option::as_mut)
            {
                e.n_packets += 1;
                e.n_bytes += bytes;
                e.last_used = now_ns;
            }
        }
        for g in group_hits {
            if let Some(e) = self.groups.get_mut(g) {
                e.n_packets += 1;
                e.n_bytes += bytes;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> TableMap {
        TableMap::new(&[(0, "Classifier"), (1, "ServiceLB"), (2, "Output")])
    }

    #[test]
    fn replace_keeps_counters_and_bumps_generation() {
        let mut p = Program::new(names());
        let id = p.add_flow_text("cookie=0x1, table=ServiceLB, priority=200,tcp,nw_dst=10.96.0.1,tp_dst=80 actions=group:1").unwrap();
        let g0 = p.generation();
        p.apply(
            Effects {
                flow_hits: vec![id],
                bytes: 60,
                ..Effects::default()
            },
            0,
        );
        assert_eq!(p.flow_counters(id), Some((1, 60)));
        let id2 = p.add_flow_text("cookie=0x1, table=ServiceLB, priority=200,tcp,nw_dst=10.96.0.1,tp_dst=80 actions=group:2").unwrap();
        assert_eq!(id, id2);
        assert_eq!(p.flow_counters(id), Some((1, 60)));
        assert!(p.generation() > g0);
        assert_eq!(p.flow_count(), 1);
    }

    #[test]
    fn goto_table_backwards_is_refused() {
        let mut p = Program::new(names());
        assert!(
            p.add_flow_text("table=Output, priority=1 actions=goto_table:ServiceLB")
                .is_err()
        );
    }

    #[test]
    fn classifier_picks_highest_priority_then_first_added() {
        let mut p = Program::new(names());
        let a = p
            .add_flow_text("table=ServiceLB, priority=100,ip actions=drop")
            .unwrap();
        let b = p
            .add_flow_text("table=ServiceLB, priority=200,ip,nw_dst=10.0.0.0/8 actions=drop")
            .unwrap();
        let c = p
            .add_flow_text("table=ServiceLB, priority=200,ip,nw_src=10.0.0.0/8 actions=drop")
            .unwrap();
        let mut pkt =
            Packet::parse_trace_flow("in_port=3,ip,nw_src=10.1.1.1,nw_dst=10.2.2.2").unwrap();
        let t = p.table(1).unwrap();
        let mut cons = Consulted::default();
        assert_eq!(t.lookup(&pkt, &mut cons), Some(b.slot));
        pkt.set(Field::NwDst, 0xc0a80001);
        assert_eq!(t.lookup(&pkt, &mut cons), Some(c.slot));
        pkt.set(Field::NwSrc, 0xc0a80001);
        assert_eq!(t.lookup(&pkt, &mut cons), Some(a.slot));
        assert!(p.delete_flow_strict(
            1,
            100,
            &p.table(1).unwrap().flow(a.slot).unwrap().matches.clone()
        ));
        assert_eq!(p.table(1).unwrap().lookup(&pkt, &mut cons), None);
    }

    #[test]
    fn bundle_text_is_numeric_with_groups_first() {
        let p = Program::from_text(
            names(),
            "table=Classifier, priority=0 actions=goto_table:ServiceLB\n\
             group_id=1,type=select,bucket=bucket_id:0,weight:100,actions=resubmit:Output\n",
        )
        .unwrap();
        assert_eq!(
            p.bundle_text(),
            "group add group_id=1,type=select,bucket=bucket_id:0,weight:100,actions=resubmit(,2)\n\
             flow add cookie=0x0, table=0, priority=0 actions=goto_table:1\n"
        );
    }

    fn service_lines(n: u32, first_ip: u32) -> String {
        let mut text = String::new();
        for i in 0..n {
            let ip = std::net::Ipv4Addr::from(first_ip + i);
            text.push_str(&format!(
                "table=ServiceLB, priority=200,tcp,nw_dst={ip},tp_dst=80 actions=group:{}\n",
                i + 1
            ));
            text.push_str(&format!(
                "group_id={},type=select,bucket=bucket_id:0,weight:100,actions=output:3\n",
                i + 1
            ));
        }
        text
    }

    /// Programs parsed through one interner share each line's parse; the
    /// lines no program holds go once the interner has doubled.
    #[test]
    fn an_interner_shares_lines_and_lets_unused_ones_go() {
        let mut interner = FlowInterner::default();
        let text = service_lines(600, 0x0a60_0001);
        let a = Program::from_text_shared(names(), &text, &mut interner).unwrap();
        assert_eq!(interner.len(), 1200);
        let b = Program::from_text_shared(names(), &text, &mut interner).unwrap();
        assert_eq!(
            interner.len(),
            1200,
            "the second program parses nothing new"
        );
        let slot_a = a.tables[&1].find(200, a.flows().next().unwrap().0.matches.conds());
        let fa = a.tables[&1].entry(slot_a.unwrap()).unwrap();
        let fb = b.tables[&1].entry(slot_a.unwrap()).unwrap();
        assert!(Arc::ptr_eq(&fa.flow, &fb.flow), "one copy of the flow");
        assert!(Arc::ptr_eq(&a.groups[&1].group, &b.groups[&1].group));
        assert!(a.rules().same_as(&b.rules()));
        assert_eq!(
            a.bundle_text(),
            Program::from_text(names(), &text).unwrap().bundle_text()
        );
        // The 1,200 lines no program holds any more stay until the
        // interner has doubled since its last pruning (at 1,200 lines):
        // then only what a program holds is left.
        drop((a, b));
        let c =
            Program::from_text_shared(names(), &service_lines(1800, 0x0a61_0001), &mut interner)
                .unwrap();
        assert_eq!(interner.len(), 3600, "c's 1,800 flows and 1,800 groups");
        assert_eq!(c.flow_count(), 1800);
        // Another table map means other flows: the interner starts over.
        let other_names = TableMap::new(&[(0, "Classifier"), (2, "ServiceLB"), (3, "Output")]);
        Program::from_text_shared(other_names, &service_lines(1, 0x0a60_0001), &mut interner)
            .unwrap();
        assert_eq!(interner.len(), 2);
    }

    /// Programs compare as their bundle text does, counters aside.
    #[test]
    fn same_rules_follow_the_flows_not_the_counters() {
        let text = format!(
            "table=Classifier, priority=0 actions=goto_table:ServiceLB\n{}",
            service_lines(3, 0x0a60_0001)
        );
        let rules = |t: &str| Program::from_text(names(), t).unwrap().rules();
        let mut a = Program::from_text(names(), &text).unwrap();
        let loaded = a.rules();
        assert!(loaded.same_as(&rules(&text)));
        let mut ct = crate::openflow::Conntrack::new();
        let pkt = Packet::parse_trace_flow("in_port=3,tcp,nw_dst=10.96.0.1,tp_dst=80").unwrap();
        a.run(&mut ct, &crate::openflow::CtMode::Tracked, &pkt, 0, false);
        assert_eq!(
            a.flows().map(|(_, n, _)| n).sum::<u64>(),
            2,
            "two flows counted the packet"
        );
        assert!(a.rules().same_as(&rules(&text)));
        let changed = text.replace("tp_dst=80 actions=group:2", "tp_dst=81 actions=group:2");
        assert!(!rules(&changed).same_as(&loaded));
        let regrouped = text.replace(
            "group_id=3,type=select,bucket=bucket_id:0,weight:100,actions=output:3",
            "group_id=3,type=select,bucket=bucket_id:0,weight:100,actions=output:4",
        );
        assert!(!rules(&regrouped).same_as(&loaded));
        let fewer = text.replace(
            "table=Classifier, priority=0 actions=goto_table:ServiceLB\n",
            "",
        );
        assert!(!rules(&fewer).same_as(&loaded));
        let mut ports = Program::from_text(names(), &text).unwrap();
        ports.set_tunnel_ports(&[7]);
        assert!(!ports.rules().same_as(&loaded));
        assert!(!Program::new(names()).rules().same_as(&loaded));
        // A flow the running program adds (as `learn` does) leaves what was
        // loaded as it was.
        a.add_flow_text("table=Output, priority=5,ip actions=drop")
            .unwrap();
        assert!(!a.rules().same_as(&loaded));
        assert!(loaded.same_as(&rules(&text)));
    }
}
