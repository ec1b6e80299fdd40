//! [`FlowCache`]: a megaflow-style cache in front of the walk, as OVS's
//! datapath flow table sits in front of `ofproto-dpif-xlate`.
//!
//! ## What an entry is
//! A walk that misses runs the interpreter with recording on. Its key is
//! the union of
//! - the (field, mask) pairs its classifier lookups consulted
//!   ([`Walk::consulted`]: every subtable probed, conjunction clauses,
//!   select groups' 5-tuple), and
//! - what its actions read ([`super::interp`]'s recording): the source bits
//!   of `move`/`load`, a `ct(zone=FIELD)`, `exec` sources, `output:FIELD`,
//!   `in_port` for `IN_PORT` and the skip-the-input-port rule, `dl_type` and
//!   `nw_ttl` for `dec_ttl`, and, for every output, the header fields the
//!   verdict reports (Ethernet addresses, `dl_type`, IPv4 addresses, protocol,
//!   TTL, ports; `tun_dst` on a tunnel port),
//!
//! taken from the packet as it entered (OVS's megaflows match the packet
//! the datapath received, too), plus the `ct()` mode: `Tracked`, or the
//! scripted states in full. Fields an action set to a constant before a
//! lookup read them are still keyed on the packet's own bits: narrower than
//! needed, never wrong. An entry stores the resulting [`Walk`] (verdict and
//! consulted fields) and the flows and groups it hit; a hit returns that walk
//! and counts one packet of the new packet's length on each of those flows
//! and groups, so `n_packets`, `n_bytes` and idle timeouts come out the same
//! as without the cache.
//!
//! Why that is exact: two packets that agree on the key take the same path
//! (each lookup sees the same consulted bits, each branch the same condition),
//! so the actions write the same values, and every value the verdict carries
//! is either written by those actions or read from a keyed field.
//!
//! ## What is not cached
//! A walk is run and not installed when replaying it would not be
//! faithful: it ran `learn` (the learned flow depends on fields and changes
//! the program), or it ran `ct()` in `Tracked` mode (the state, mark, label
//! and NAT come from the conntrack table, which no key covers; OVS matches
//! them after recirculation instead; a per-recirculation-pass cache would be
//! the next step). Scripted `ct()` results are a function of the script, and
//! the script is in the key.
//!
//! ## Invalidation and size
//! Any change of the program (a flow or group added, replaced or deleted, a
//! flow expired, a learned flow, new tunnel ports) renews its stamp
//! ([`Program::generation`] moves with it) and the next run flushes every
//! entry: OVS revalidates its megaflows after a flow-table change, and a
//! flush is the simplest revalidation that is always right. The cache also
//! flushes when it reaches its entry limit (default 200,000, OVS's default
//! `flow-limit`). Entries are grouped by key mask like OVS's dpcls subtables;
//! subtables are probed most-hit first (a hit moves its subtable one place
//! up), and any order gives the same answer because overlapping entries
//! agree.
//!
//! Nothing here iterates a hash table: the index is a pure lookup.

use std::hash::{BuildHasherDefault, Hasher};

use indexmap::IndexMap;

use super::conntrack::{Conntrack, CtMode};
use super::field::Field;
use super::interp::{Walk, walk};
use super::packet::Packet;
use super::program::{Consulted, FlowId, Program, mix};

/// OVS's default `other_config:flow-limit`.
pub const DEFAULT_MAX_ENTRIES: usize = 200_000;

/// The index's keys are already mixed hashes: use them as they are.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = mix(self.0, u128::from(*b));
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type Index = IndexMap<u64, Vec<u32>, BuildHasherDefault<IdHasher>>;

/// The ct() part of a key.
#[derive(Clone, Debug, PartialEq, Eq)]
enum ModeKey {
    Tracked,
    Scripted(Box<[u8]>),
}

impl ModeKey {
    fn of(mode: &CtMode) -> ModeKey {
        match mode {
            CtMode::Tracked => ModeKey::Tracked,
            CtMode::Scripted(l) => ModeKey::Scripted(l.iter().map(|s| s.0).collect()),
        }
    }

    fn is(&self, mode: &CtMode) -> bool {
        match (self, mode) {
            (ModeKey::Tracked, CtMode::Tracked) => true,
            (ModeKey::Scripted(a), CtMode::Scripted(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| *x == y.0)
            }
            _ => false,
        }
    }
}

fn mode_hash(mode: &CtMode) -> u64 {
    match mode {
        CtMode::Tracked => 0x6a09_e667_f3bc_c908,
        CtMode::Scripted(l) => l
            .iter()
            .fold(0xbb67_ae85_84ca_a73b, |h, s| mix(h, u128::from(s.0))),
    }
}

/// One cached walk.
#[derive(Clone, Debug)]
struct Entry {
    /// The packet's masked values of its subtable's fields, in their order.
    values: Box<[u128]>,
    mode: ModeKey,
    walk: Walk,
    flow_hits: Box<[FlowId]>,
    group_hits: Box<[u32]>,
}

/// Entries that share one key mask.
#[derive(Clone, Debug)]
struct Subtable {
    fields: Box<[(Field, u128)]>,
    /// `fields` as (position in [`FlowCache::union`], mask).
    at: Box<[(usize, u128)]>,
    index: Index,
    hits: u64,
}

/// What a cache has done since it was made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Packets answered from an entry.
    pub hits: u64,
    /// Packets walked by the interpreter.
    pub misses: u64,
    /// Misses whose walk could not be cached (`learn`, Tracked `ct()`).
    pub uncacheable: u64,
    /// Flushes because the program changed.
    pub invalidations: u64,
    /// Flushes because the cache was full.
    pub overflows: u64,
}

impl CacheStats {
    /// Hits over all packets, 0 when there were none.
    pub fn hit_rate(&self) -> f64 {
        let n = self.hits + self.misses;
        if n == 0 {
            0.0
        } else {
            self.hits as f64 / n as f64
        }
    }
}

/// A megaflow cache for one [`Program`] (see the module doc).
#[derive(Clone, Debug)]
pub struct FlowCache {
    /// The program stamp the entries were made for.
    stamp: u64,
    subtables: Vec<Subtable>,
    /// Every field some subtable keys on (each read once per lookup).
    union: Vec<Field>,
    entries: Vec<Entry>,
    max_entries: usize,
    stats: CacheStats,
    /// The last uncached walk (what [`FlowCache::run`] returns for it).
    last: Option<Walk>,
    /// The packet's values of `union`.
    vals: Vec<u128>,
    /// Masked values of the subtable being probed.
    buf: Vec<u128>,
}

impl Default for FlowCache {
    fn default() -> FlowCache {
        FlowCache::new()
    }
}

impl FlowCache {
    pub fn new() -> FlowCache {
        FlowCache::with_max_entries(DEFAULT_MAX_ENTRIES)
    }

    /// A cache that flushes when it holds `max` entries (at least 1).
    pub fn with_max_entries(max: usize) -> FlowCache {
        FlowCache {
            stamp: 0,
            subtables: Vec::new(),
            union: Vec::new(),
            entries: Vec::new(),
            max_entries: max.max(1),
            stats: CacheStats::default(),
            last: None,
            vals: Vec::new(),
            buf: Vec::new(),
        }
    }

    pub fn stats(&self) -> CacheStats {
        self.stats
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Distinct key masks (OVS's dpcls subtables, `masks` in `dpctl/show`).
    pub fn masks(&self) -> usize {
        self.subtables.len()
    }

    /// Drops every entry (statistics stay).
    pub fn clear(&mut self) {
        self.subtables.clear();
        self.union.clear();
        self.entries.clear();
    }

    /// [`Program::run`] through the cache (no trace, no pins): the same
    /// walk, the same counters and conntrack updates, the same learned flows,
    /// except that the walk carries no [`Walk::emitted`] packets: an entry
    /// keeps what the key covers (the verdict with its headers), not every
    /// field of the packet that first made it; use [`Program::run`] where
    /// the whole packets are needed (the simulator's br-int does).
    pub fn run(
        &mut self,
        prog: &mut Program,
        ct: &mut Conntrack,
        mode: &CtMode,
        packet: &Packet,
        now_ns: u64,
    ) -> &Walk {
        prog.expire(now_ns);
        ct.set_clock(now_ns);
        if prog.stamp() != self.stamp {
            if !self.entries.is_empty() {
                self.stats.invalidations += 1;
            }
            self.clear();
            self.stamp = prog.stamp();
        }
        let mh = mode_hash(mode);
        if let Some(i) = self.lookup(packet, mode, mh) {
            self.stats.hits += 1;
            let e = &self.entries[i];
            prog.apply_sorted_hits(&e.flow_hits, &e.group_hits, u64::from(packet.len), now_ns);
            return &self.entries[i].walk;
        }
        self.stats.misses += 1;
        let (w, fx, rec) = walk(prog, ct, mode, packet, false, &[], true);
        let rec = rec.unwrap_or_default();
        let cached = if rec.replayable {
            Some(self.insert(packet, mode, mh, w, &rec.reads, &fx))
        } else {
            self.stats.uncacheable += 1;
            self.last = Some(w);
            None
        };
        prog.apply(fx, now_ns);
        match cached {
            Some(i) => &self.entries[i].walk,
            None => self.last.as_ref().expect("set above"),
        }
    }

    /// The entry that matches `pkt`, if any.
    fn lookup(&mut self, pkt: &Packet, mode: &CtMode, mh: u64) -> Option<usize> {
        self.vals.clear();
        self.vals.extend(self.union.iter().map(|f| pkt.get(*f)));
        for si in 0..self.subtables.len() {
            let st = &self.subtables[si];
            self.buf.clear();
            let mut h = mh;
            for (i, m) in st.at.iter() {
                let v = self.vals[*i] & m;
                self.buf.push(v);
                h = mix(h, v);
            }
            let Some(list) = st.index.get(&h) else {
                continue;
            };
            let found = list.iter().copied().find(|&i| {
                let e = &self.entries[i as usize];
                *e.values == *self.buf && e.mode.is(mode)
            });
            if let Some(i) = found {
                self.subtables[si].hits += 1;
                if si > 0 && self.subtables[si].hits > self.subtables[si - 1].hits {
                    self.subtables.swap(si, si - 1);
                }
                return Some(i as usize);
            }
        }
        None
    }

    fn insert(
        &mut self,
        pkt: &Packet,
        mode: &CtMode,
        mh: u64,
        w: Walk,
        reads: &Consulted,
        fx: &super::program::Effects,
    ) -> usize {
        if self.entries.len() >= self.max_entries {
            self.stats.overflows += 1;
            self.clear();
        }
        let mut key = w.consulted.clone();
        for (f, m) in reads.iter() {
            key.add(f, m);
        }
        let fields: Box<[(Field, u128)]> = key.iter().collect();
        let si = match self.subtables.iter().position(|s| s.fields == fields) {
            Some(i) => i,
            None => {
                let mut at = Vec::with_capacity(fields.len());
                for (f, m) in fields.iter() {
                    let i = match self.union.iter().position(|u| u == f) {
                        Some(i) => i,
                        None => {
                            self.union.push(*f);
                            self.union.len() - 1
                        }
                    };
                    at.push((i, *m));
                }
                self.subtables.push(Subtable {
                    fields: fields.clone(),
                    at: at.into_boxed_slice(),
                    index: Index::default(),
                    hits: 0,
                });
                self.subtables.len() - 1
            }
        };
        let values: Box<[u128]> = fields.iter().map(|(f, m)| pkt.get(*f) & m).collect();
        let h = values.iter().fold(mh, |h, v| mix(h, *v));
        let id = self.entries.len();
        self.entries.push(Entry {
            values,
            mode: ModeKey::of(mode),
            walk: w,
            flow_hits: {
                let mut v = fx.flow_hits.clone();
                v.sort_unstable();
                v.into_boxed_slice()
            },
            group_hits: fx.group_hits.clone().into_boxed_slice(),
        });
        self.subtables[si]
            .index
            .entry(h)
            .or_default()
            .push(u32::try_from(id).unwrap_or(u32::MAX));
        id
    }
}

impl Program {
    /// [`Program::run`] through `cache` (no trace): see [`FlowCache::run`].
    pub fn run_cached(
        &mut self,
        cache: &mut FlowCache,
        ct: &mut Conntrack,
        mode: &CtMode,
        packet: &Packet,
        now_ns: u64,
    ) -> Walk {
        cache.run(self, ct, mode, packet, now_ns).clone()
    }
}
