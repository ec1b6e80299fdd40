//! Egress IP placement: which Node holds each Egress IP.
//!
//! Every Antrea agent computes this independently from the same inputs, so the
//! simulator must reproduce it bit for bit. Two pieces:
//!
//! - [`HashRing`]: the groupcache-derived consistent hash of
//!   `pkg/agent/consistenthash/consistenthash.go`: CRC-32 (IEEE,
//!   Go's `crc32.ChecksumIEEE`), [`DEFAULT_VIRTUAL_NODE_REPLICAS`] replicas per
//!   Node keyed `"<i><nodeName>"`, lookup by `crc32("<ip>")` clockwise with
//!   wrap-around, skipping Nodes that fail a filter. One ring per
//!   ExternalIPPool, whose members are the Nodes that are memberlist-alive AND
//!   match the pool's `nodeSelector` (`pkg/agent/memberlist/cluster.go`
//!   `syncConsistentHash`); the caller chooses the members.
//! - [`place_egresses`]: the scheduler of
//!   `pkg/agent/controller/egress/ip_scheduler.go` (`schedule`): Egresses in
//!   creationTimestamp-then-name order, each taking the first ring Node that
//!   still has room for its IP (`maxEgressIPsPerNode`, default 255, per-Node
//!   annotation override). With enough room placement is a pure function of
//!   hash(IP) and ring membership, so a returning Node takes its IPs back.
//!
//! Blog scenario vectors (computed by this module, asserted in
//! `tests::blog_cluster_vectors`): pool 172.18.181.40-.50, ring members
//! `k8s-node-vm-{1,2,3}-cl-02` (`vm-N` below), capacity not binding:
//!
//! | IP  | all up | vm-1 down | vm-2 down | vm-3 down |
//! |-----|--------|-----------|-----------|-----------|
//! | .40 | vm-2   | vm-2      | vm-1      | vm-2      |
//! | .41 | vm-1   | vm-3      | vm-1      | vm-1      |
//! | .42 | vm-3   | vm-3      | vm-3      | vm-1      |
//! | .43 | vm-2   | vm-2      | vm-3      | vm-2      |
//! | .44 | vm-1   | vm-2      | vm-1      | vm-1      |
//! | .45 | vm-3   | vm-3      | vm-3      | vm-1      |
//! | .46 | vm-3   | vm-3      | vm-3      | vm-1      |
//! | .47 | vm-3   | vm-3      | vm-3      | vm-2      |
//! | .48 | vm-1   | vm-3      | vm-1      | vm-1      |
//! | .49 | vm-3   | vm-3      | vm-3      | vm-2      |
//! | .50 | vm-1   | vm-2      | vm-1      | vm-1      |
//!
//! All up: vm-1 holds .41 .44 .48 .50, vm-2 .40 .43, vm-3 .42 .45 .46 .47 .49.
//! A failed Node's IPs spread over both survivors; the others stay put.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use indexmap::IndexMap;

/// Virtual replicas per Node (`defaultVirtualNodeReplicas`, cluster.go); 50
/// instead of groupcache's usual few to even out the distribution
/// (golang/groupcache#29, cited there).
pub const DEFAULT_VIRTUAL_NODE_REPLICAS: usize = 50;

/// Default `egress.maxEgressIPsPerNode` (`cmd/antrea-agent/options.go`).
pub const DEFAULT_MAX_EGRESS_IPS_PER_NODE: u32 = 255;

/// Upper bound of `maxEgressIPsPerNode` and of the annotation
/// (`MaxEgressIPsPerNodeUpperBound`): Egress marks are 8 bits.
pub const MAX_EGRESS_IPS_PER_NODE_UPPER_BOUND: u32 = 255;

/// Per-Node capacity override (`pkg/agent/types/annotations.go`).
pub const MAX_EGRESS_IPS_ANNOTATION: &str = "node.antrea.io/max-egress-ips";

/// `memberlist.ErrNoNodeAvailable`'s text, for status/AssignmentError output.
pub const NO_NODE_AVAILABLE: &str = "no Node available";

/// Lookup table of the reflected IEEE 802.3 CRC-32 polynomial, built at
/// compile time.
const CRC32_TABLE: [u32; 256] = crc32_table();

const fn crc32_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut bit = 0;
        while bit < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            bit += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

/// CRC-32/ISO-HDLC (IEEE 802.3; reflected polynomial 0xEDB88320, init and
/// xorout 0xFFFFFFFF): Go's `crc32.ChecksumIEEE`, the ring's hash function.
pub fn crc32_ieee(data: &[u8]) -> u32 {
    crc32_update(0xFFFF_FFFF, data) ^ 0xFFFF_FFFF
}

/// The CRC register after feeding `data` (no final xor), so a key can be
/// hashed in pieces without building it.
fn crc32_update(mut c: u32, data: &[u8]) -> u32 {
    for &b in data {
        c = CRC32_TABLE[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8);
    }
    c
}

/// A consistent hash ring of Nodes (Antrea's `consistenthash.Map`).
///
/// The hash input is always the Node's name; a ring may hold the names
/// themselves (`HashRing<String>`, [`HashRing::add`]) or any other key, such
/// as [`super::ids::NodeId`], with the name's replica hashes computed once
/// ([`replica_hashes`], [`HashRing::insert_hashed`]).
///
/// Replicas are ordered by hash only, like Antrea's btree of `replica` items
/// whose `Less` compares hashes: when two replicas hash equal, the later
/// insert replaces the earlier one (`ReplaceOrInsert`), and removing a Node
/// deletes every slot at its replica hashes even if another Node had taken
/// one over (`Delete` matches by hash). Both only matter on a 32-bit
/// collision between two replica keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashRing<K = String> {
    replicas: usize,
    members: BTreeSet<K>,
    ring: BTreeMap<u32, K>,
}

impl Default for HashRing {
    fn default() -> Self {
        HashRing::new()
    }
}

/// `crc32(strconv.Itoa(i) + node)` for each of the
/// [`DEFAULT_VIRTUAL_NODE_REPLICAS`] replicas of `node`: what a ring hashes
/// of a Node, once per Node rather than once per ring built.
pub fn replica_hashes(node: &str) -> Box<[u32]> {
    (0..DEFAULT_VIRTUAL_NODE_REPLICAS)
        .map(|i| replica_hash(i, node))
        .collect()
}

/// `crc32(strconv.Itoa(i) + node)`, hashed in two pieces: rings are
/// rebuilt on every membership change, and formatting the key string
/// for each of 50 replicas per node was most of that cost.
fn replica_hash(i: usize, node: &str) -> u32 {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut v = i;
    loop {
        at -= 1;
        digits[at] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let c = crc32_update(0xFFFF_FFFF, &digits[at..]);
    crc32_update(c, node.as_bytes()) ^ 0xFFFF_FFFF
}

impl<K: Ord + Clone> HashRing<K> {
    pub fn with_replicas(replicas: usize) -> HashRing<K> {
        HashRing {
            replicas,
            members: BTreeSet::new(),
            ring: BTreeMap::new(),
        }
    }

    /// The ring of `members` given with their replica hashes, inserted in
    /// the order given: callers give name order, so that the ring depends on
    /// the member set only (see [`HashRing::from_nodes`]).
    pub fn from_hashed<'h>(members: impl IntoIterator<Item = (K, &'h [u32])>) -> HashRing<K> {
        let mut ring = HashRing::with_replicas(DEFAULT_VIRTUAL_NODE_REPLICAS);
        for (key, hashes) in members {
            ring.insert_hashed(key, hashes);
        }
        ring
    }

    /// Adds a Node's replicas, given as their hashes; a Node already
    /// present is left alone (`Add`).
    pub fn insert_hashed(&mut self, key: K, hashes: &[u32]) {
        if self.members.contains(&key) {
            return;
        }
        for &h in hashes {
            self.ring.insert(h, key.clone());
        }
        self.members.insert(key);
    }

    /// Removes a Node's replicas by hash (`Remove`); unknown Nodes are
    /// ignored.
    pub fn remove_hashed(&mut self, key: &K, hashes: &[u32]) {
        if !self.members.remove(key) {
            return;
        }
        for h in hashes {
            self.ring.remove(h);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Member Nodes, in key order.
    pub fn members(&self) -> impl Iterator<Item = &K> {
        self.members.iter()
    }

    pub fn has(&self, key: &K) -> bool {
        self.members.contains(key)
    }

    /// Replica slots on the ring (members × replicas minus collisions).
    pub fn replica_count(&self) -> usize {
        self.ring.len()
    }

    /// The replicas clockwise from `crc32(key)`: `[pivot, last]` then
    /// `[first, pivot)`, as `GetWithFilters` walks the btree.
    fn walk(&self, key: &str) -> impl Iterator<Item = &K> {
        let h = crc32_ieee(key.as_bytes());
        self.ring
            .range(h..)
            .chain(self.ring.range(..h))
            .map(|(_, n)| n)
    }

    /// The Node owning `key` (an IP string such as `"1.1.1.11"`): the first
    /// Node clockwise that passes `filter` (`GetWithFilters`). Each distinct
    /// Node is offered to `filter` at most once; `None` is Antrea's
    /// `ErrNoNodeAvailable` ([`NO_NODE_AVAILABLE`]).
    pub fn find(&self, key: &str, mut filter: impl FnMut(&K) -> bool) -> Option<&K> {
        // Nodes that failed the filter; few, so a Vec beats a set.
        let mut rejected: Vec<&K> = Vec::new();
        for node in self.walk(key) {
            if rejected.contains(&node) {
                continue;
            }
            if rejected.len() == self.members.len() {
                break;
            }
            if filter(node) {
                return Some(node);
            }
            rejected.push(node);
        }
        None
    }

    /// Every member in the order a lookup of `key` would try them
    /// (`SelectNodesForIP` with no limit): who takes over if the owner goes.
    pub fn find_order(&self, key: &str) -> Vec<&K> {
        let mut out: Vec<&K> = Vec::new();
        for node in self.walk(key) {
            if out.len() == self.members.len() {
                break;
            }
            if !out.contains(&node) {
                out.push(node);
            }
        }
        out
    }
}

/// The ring of Node names.
impl HashRing {
    /// An empty ring with [`DEFAULT_VIRTUAL_NODE_REPLICAS`].
    pub fn new() -> HashRing {
        HashRing::with_replicas(DEFAULT_VIRTUAL_NODE_REPLICAS)
    }

    /// The ring of a pool: Antrea rebuilds it from scratch on every change.
    /// Nodes are inserted in name order so the ring depends on the member set
    /// only; Antrea inserts in informer-cache order, which is unspecified and
    /// would matter only on a replica hash collision.
    pub fn from_nodes<I, S>(nodes: I) -> HashRing
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let sorted: BTreeSet<String> = nodes.into_iter().map(|s| s.as_ref().to_owned()).collect();
        let mut ring = HashRing::new();
        for n in &sorted {
            ring.add(n);
        }
        ring
    }

    /// Adds a Node's replicas; a Node already present is left alone (`Add`).
    pub fn add(&mut self, node: &str) {
        if self.members.contains(node) {
            return;
        }
        let hashes: Vec<u32> = (0..self.replicas).map(|i| replica_hash(i, node)).collect();
        self.insert_hashed(node.to_owned(), &hashes);
    }

    /// Removes a Node's replicas by hash (`Remove`); unknown Nodes are ignored.
    pub fn remove(&mut self, node: &str) {
        if !self.members.contains(node) {
            return;
        }
        let hashes: Vec<u32> = (0..self.replicas).map(|i| replica_hash(i, node)).collect();
        self.remove_hashed(&node.to_owned(), &hashes);
    }

    /// Member Nodes, by name.
    pub fn nodes(&self) -> impl Iterator<Item = &str> {
        self.members.iter().map(String::as_str)
    }

    pub fn contains(&self, node: &str) -> bool {
        self.members.contains(node)
    }

    /// [`HashRing::find`] by name.
    pub fn lookup(&self, key: &str, mut filter: impl FnMut(&str) -> bool) -> Option<&str> {
        self.find(key, |n| filter(n)).map(String::as_str)
    }

    /// The unfiltered owner of `key` (`Get`).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.lookup(key, |_| true)
    }

    /// [`HashRing::find_order`] by name.
    pub fn preference(&self, key: &str) -> Vec<&str> {
        self.find_order(key)
            .into_iter()
            .map(String::as_str)
            .collect()
    }
}

/// An Egress the scheduler places: `spec.egressIP` and `spec.externalIPPool`
/// both set (`isEgressSchedulable`); the caller filters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchedulableEgress {
    pub(crate) name: String,
    /// `metadata.creationTimestamp` in Unix seconds (its API precision).
    pub(crate) created: u64,
    /// Hashed as its text; Antrea writes allocated IPs with Go's
    /// `IP.String()`, which matches Rust's `Display` for IPv4.
    pub(crate) ip: IpAddr,
    pub(crate) pool: String,
}

/// How many distinct Egress IPs each Node may hold, across all pools.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capacity<K = String> {
    /// `egress.maxEgressIPsPerNode`.
    pub(crate) default_max: u32,
    /// Valid `node.antrea.io/max-egress-ips` annotations.
    pub(crate) per_node: BTreeMap<K, u32>,
}

impl<K: Ord> Default for Capacity<K> {
    fn default() -> Self {
        Capacity::uniform(DEFAULT_MAX_EGRESS_IPS_PER_NODE)
    }
}

impl<K: Ord> Capacity<K> {
    /// Every Node gets `max`.
    pub fn uniform(max: u32) -> Capacity<K> {
        Capacity {
            default_max: max,
            per_node: BTreeMap::new(),
        }
    }

    /// No limit at all: placement is then pure consistent hashing.
    pub fn unlimited() -> Capacity<K> {
        Capacity::uniform(u32::MAX)
    }

    pub fn max_for<Q>(&self, node: &Q) -> u32
    where
        K: std::borrow::Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.per_node.get(node).copied().unwrap_or(self.default_max)
    }

    /// Records a Node's annotation value; an invalid one is ignored (the
    /// default applies), as `updateNode` does.
    pub fn set_from_annotation(&mut self, node: K, value: &str) {
        match parse_max_egress_ips_annotation(value) {
            Some(v) => {
                self.per_node.insert(node, v);
            }
            None => {
                self.per_node.remove(&node);
            }
        }
    }
}

/// `getMaxEgressIPsFromAnnotation`: Go `strconv.Atoi` (optional sign,
/// decimal) and `0..=255`; anything else is invalid.
pub fn parse_max_egress_ips_annotation(value: &str) -> Option<u32> {
    let v: i64 = value.parse().ok()?;
    u32::try_from(v)
        .ok()
        .filter(|v| *v <= MAX_EGRESS_IPS_PER_NODE_UPPER_BOUND)
}

/// Places every Egress, returning name → Node (`None`: no Node available,
/// or no ring for its pool) in scheduling order.
///
/// `rings` maps pool name → that pool's ring. Egresses are taken by
/// `(created, name)`; a Node accepts an Egress when its distinct IPs, plus
/// one if this IP is not yet there, stay within `capacity` (Egresses sharing
/// an IP count once). Counts span all pools, like the scheduler's single
/// `nodeToIPs`. A pool without a ring is Antrea's "consistentHashMap has not
/// synced" error: also unassigned.
/// The order [`place_egresses`] schedules `egresses` in (oldest first,
/// then by name), as positions in `egresses`: the order of its result.
pub fn scheduling_order(egresses: &[SchedulableEgress]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..egresses.len()).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&egresses[a], &egresses[b]);
        (a.created, &a.name).cmp(&(b.created, &b.name))
    });
    order
}

pub fn place_egresses<K: Ord + Clone>(
    egresses: &[SchedulableEgress],
    rings: &BTreeMap<String, HashRing<K>>,
    capacity: &Capacity<K>,
) -> IndexMap<String, Option<K>> {
    let mut ips_on_node: BTreeMap<K, BTreeSet<IpAddr>> = BTreeMap::new();
    let mut out = IndexMap::new();
    for e in scheduling_order(egresses).into_iter().map(|i| &egresses[i]) {
        let chosen = rings.get(&e.pool).and_then(|ring| {
            let ip = e.ip;
            ring.find(&ip.to_string(), |node| {
                let ips = ips_on_node.get(node);
                let held = ips.map_or(0, BTreeSet::len) as u64;
                let extra = u64::from(!ips.is_some_and(|s| s.contains(&ip)));
                held + extra <= u64::from(capacity.max_for(node))
            })
            .cloned()
        });
        if let Some(node) = &chosen {
            ips_on_node.entry(node.clone()).or_default().insert(e.ip);
        }
        out.insert(e.name.clone(), chosen);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::Ipv4Addr;

    fn eg(name: &str, created: u64, ip: &str, pool: &str) -> SchedulableEgress {
        SchedulableEgress {
            name: name.into(),
            created,
            ip: ip.parse().expect("test IP"),
            pool: pool.into(),
        }
    }

    fn rings(pools: &[(&str, &[&str])]) -> BTreeMap<String, HashRing> {
        pools
            .iter()
            .map(|(p, nodes)| (p.to_string(), HashRing::from_nodes(*nodes)))
            .collect()
    }

    /// name → node, `"-"` for unplaced, for compact assertions.
    fn flat(m: &IndexMap<String, Option<String>>) -> Vec<(String, String)> {
        m.iter()
            .map(|(k, v)| (k.clone(), v.clone().unwrap_or_else(|| "-".into())))
            .collect()
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    /// Bit-at-a-time CRC-32, independent of the table.
    fn crc32_bitwise(data: &[u8]) -> u32 {
        let mut c = !0u32;
        for &b in data {
            c ^= u32::from(b);
            for _ in 0..8 {
                let mask = (c & 1).wrapping_neg();
                c = (c >> 1) ^ (0xEDB8_8320 & mask);
            }
        }
        !c
    }

    #[test]
    fn crc32_check_values() {
        assert_eq!(crc32_ieee(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32_ieee(b""), 0);
        assert_eq!(crc32_ieee(b"a"), 0xE8B7_BE43);
        assert_eq!(
            crc32_ieee(b"The quick brown fox jumps over the lazy dog"),
            0x414F_A339
        );
    }

    #[test]
    fn replicas_are_crc_of_index_then_name() {
        let r = HashRing::from_nodes(["node1", "node2", "node3"]);
        assert_eq!(r.replica_count(), 150);
        assert_eq!(
            r.ring.get(&crc32_ieee(b"0node1")).map(String::as_str),
            Some("node1")
        );
        assert_eq!(
            r.ring.get(&crc32_ieee(b"49node3")).map(String::as_str),
            Some("node3")
        );
        assert!(!r.ring.contains_key(&crc32_ieee(b"50node3")));
    }

    #[test]
    fn antrea_lookup_vectors() {
        let r3 = HashRing::from_nodes(["node1", "node2", "node3"]);
        assert_eq!(r3.get("1.1.1.1"), Some("node1"));
        assert_eq!(r3.get("1.1.1.11"), Some("node3"));
        assert_eq!(r3.get("1.1.1.21"), Some("node1"));
        let r2 = HashRing::from_nodes(["node1", "node2"]);
        assert_eq!(r2.get("1.1.1.1"), Some("node1"));
        assert_eq!(r2.get("1.1.1.11"), Some("node2"));
        assert_eq!(r2.get("1.1.1.21"), Some("node1"));
        assert_eq!(r2.get("1.1.1.5"), Some("node2"));
    }

    /// ip_scheduler_test.go `TestSchedule`: egressA/B/C created at t=1,2,3
    /// with 1.1.1.1, 1.1.1.11, 1.1.1.21 in pool1.
    fn test_schedule_egresses() -> Vec<SchedulableEgress> {
        vec![
            eg("egressA", 1, "1.1.1.1", "pool1"),
            eg("egressB", 2, "1.1.1.11", "pool1"),
            eg("egressC", 3, "1.1.1.21", "pool1"),
        ]
    }

    #[test]
    fn antrea_test_schedule_cases() {
        let e = test_schedule_egresses();
        let n123 = rings(&[("pool1", &["node1", "node2", "node3"])]);
        // "sufficient capacity"
        let got = place_egresses(&e, &n123, &Capacity::uniform(3));
        assert_eq!(
            flat(&got),
            pairs(&[
                ("egressA", "node1"),
                ("egressB", "node3"),
                ("egressC", "node1")
            ])
        );
        // "node specific limit": node1 0, node2 2, node3 0.
        let mut cap = Capacity::uniform(3);
        cap.per_node.insert("node1".into(), 0);
        cap.per_node.insert("node2".into(), 2);
        cap.per_node.insert("node3".into(), 0);
        let got = place_egresses(&e, &n123, &cap);
        assert_eq!(
            flat(&got),
            pairs(&[("egressA", "node2"), ("egressB", "node2"), ("egressC", "-")])
        );
        // "insufficient node capacity": egressC moves to node2.
        let got = place_egresses(&e, &n123, &Capacity::uniform(1));
        assert_eq!(
            flat(&got),
            pairs(&[
                ("egressA", "node1"),
                ("egressB", "node3"),
                ("egressC", "node2")
            ])
        );
        // "insufficient cluster capacity": nodes {node1, node3}.
        let n13 = rings(&[("pool1", &["node1", "node3"])]);
        let got = place_egresses(&e, &n13, &Capacity::uniform(1));
        assert_eq!(
            flat(&got),
            pairs(&[("egressA", "node1"), ("egressB", "node3"), ("egressC", "-")])
        );
    }

    /// ip_scheduler_test.go `TestRun`, step by step (max 2 per Node).
    #[test]
    fn antrea_test_run_sequence() {
        let cap = Capacity::uniform(2);
        let both = rings(&[("pool1", &["node1", "node2"])]);
        let only1 = rings(&[("pool1", &["node1"])]);
        let mut e = test_schedule_egresses();
        let got = place_egresses(&e, &both, &cap);
        assert_eq!(
            flat(&got),
            pairs(&[
                ("egressA", "node1"),
                ("egressB", "node2"),
                ("egressC", "node1")
            ])
        );
        // egressA's IP changes to 1.1.1.5: it hashes to node2.
        e[0].ip = "1.1.1.5".parse().unwrap();
        let got = place_egresses(&e, &both, &cap);
        assert_eq!(
            flat(&got),
            pairs(&[
                ("egressA", "node2"),
                ("egressB", "node2"),
                ("egressC", "node1")
            ])
        );
        // node2 leaves: the two oldest fill node1, egressC is left out.
        let got = place_egresses(&e, &only1, &cap);
        assert_eq!(
            flat(&got),
            pairs(&[("egressA", "node1"), ("egressB", "node1"), ("egressC", "-")])
        );
        // egressA deleted: egressC fits.
        e.remove(0);
        let got = place_egresses(&e, &only1, &cap);
        assert_eq!(
            flat(&got),
            pairs(&[("egressB", "node1"), ("egressC", "node1")])
        );
        // egressD (t=4, 1.1.1.1) has no room.
        e.push(eg("egressD", 4, "1.1.1.1", "pool1"));
        let got = place_egresses(&e, &only1, &cap);
        assert_eq!(got["egressD"], None);
        // node2 returns: egressB moves back, egressD fits on node1.
        let got = place_egresses(&e, &both, &cap);
        assert_eq!(
            flat(&got),
            pairs(&[
                ("egressB", "node2"),
                ("egressC", "node1"),
                ("egressD", "node1")
            ])
        );
        // node1 annotated max 1: egressD goes to node2; an invalid value is ignored.
        let mut cap1 = cap.clone();
        cap1.set_from_annotation("node1".to_string(), "invalid-value");
        assert_eq!(place_egresses(&e, &both, &cap1), got);
        cap1.set_from_annotation("node1".to_string(), "1");
        let got = place_egresses(&e, &both, &cap1);
        assert_eq!(got["egressD"].as_deref(), Some("node2"));
        assert_eq!(got["egressC"].as_deref(), Some("node1"));
    }

    fn pool_vectors(nodes: &[&str]) -> Vec<String> {
        let r = HashRing::from_nodes(nodes);
        (11..=20)
            .map(|i| r.get(&format!("10.10.0.{i}")).unwrap_or("-").to_owned())
            .collect()
    }

    #[test]
    fn derived_pool_vectors() {
        let three = pool_vectors(&["node-1", "node-2", "node-3"]);
        let want: Vec<String> = [3, 3, 2, 2, 3, 3, 1, 2, 3, 2]
            .iter()
            .map(|n| format!("node-{n}"))
            .collect();
        assert_eq!(three, want);
        // node-2 dead: .13 .14 .18 → node-1, .20 → node-3, others unchanged.
        let dead2 = pool_vectors(&["node-1", "node-3"]);
        let mut want_dead2 = want.clone();
        for (idx, n) in [(2, 1), (3, 1), (7, 1), (9, 3)] {
            want_dead2[idx] = format!("node-{n}");
        }
        assert_eq!(dead2, want_dead2);
        // node-4 joins: it takes .11 .12 .15, nothing else moves.
        let four = pool_vectors(&["node-1", "node-2", "node-3", "node-4"]);
        let mut want_four = want.clone();
        for idx in [0, 1, 4] {
            want_four[idx] = "node-4".into();
        }
        assert_eq!(four, want_four);
    }

    const BLOG_NODES: [&str; 3] = [
        "k8s-node-vm-1-cl-02",
        "k8s-node-vm-2-cl-02",
        "k8s-node-vm-3-cl-02",
    ];

    /// The module doc's table: per IP, owner with all up, then with each of
    /// vm-1, vm-2, vm-3 down (Node numbers only).
    #[test]
    fn blog_cluster_vectors() {
        let table: [(u8, [u8; 4]); 11] = [
            (40, [2, 2, 1, 2]),
            (41, [1, 3, 1, 1]),
            (42, [3, 3, 3, 1]),
            (43, [2, 2, 3, 2]),
            (44, [1, 2, 1, 1]),
            (45, [3, 3, 3, 1]),
            (46, [3, 3, 3, 1]),
            (47, [3, 3, 3, 2]),
            (48, [1, 3, 1, 1]),
            (49, [3, 3, 3, 2]),
            (50, [1, 2, 1, 1]),
        ];
        let name = |n: u8| format!("k8s-node-vm-{n}-cl-02");
        let all = HashRing::from_nodes(BLOG_NODES);
        for (last, want) in table {
            let ip = format!("172.18.181.{last}");
            let mut got = vec![all.get(&ip).unwrap().to_owned()];
            for dead in BLOG_NODES {
                let r = HashRing::from_nodes(BLOG_NODES.iter().filter(|n| **n != dead));
                got.push(r.get(&ip).unwrap().to_owned());
            }
            let want: Vec<String> = want.iter().map(|n| name(*n)).collect();
            assert_eq!(got, want, "placement of {ip} (all up, vm-1/2/3 down)");
        }
    }

    #[test]
    fn lookup_tests_each_node_once_and_can_fail() {
        let r = HashRing::from_nodes(["node1", "node2", "node3"]);
        let mut asked: Vec<String> = Vec::new();
        let got = r.lookup("1.1.1.1", |n| {
            asked.push(n.to_owned());
            false
        });
        assert_eq!(got, None);
        asked.sort();
        assert_eq!(asked, ["node1", "node2", "node3"]);
        assert_eq!(HashRing::new().get("1.1.1.1"), None);
        // With the owner filtered out, the next in preference order wins.
        let pref = r.preference("1.1.1.21");
        assert_eq!(pref.len(), 3);
        assert_eq!(pref[0], "node1");
        assert_eq!(r.lookup("1.1.1.21", |n| n != "node1"), Some(pref[1]));
        // With max 1 in TestSchedule, egressC went to node2: its second choice.
        assert_eq!(pref[1], "node2");
    }

    #[test]
    fn add_and_remove_match_rebuild() {
        let mut r = HashRing::new();
        r.add("node2");
        r.add("node1");
        r.add("node1");
        assert_eq!(r, HashRing::from_nodes(["node1", "node2"]));
        r.add("node3");
        r.remove("node2");
        r.remove("nobody");
        assert_eq!(r, HashRing::from_nodes(["node1", "node3"]));
        assert_eq!(r.nodes().collect::<Vec<_>>(), ["node1", "node3"]);
        assert!(r.contains("node3") && !r.contains("node2"));
    }

    /// crc32("8node-9513") == crc32("46node-12000") == 0xcd5ba9c5 (found by
    /// search): one slot, owned by whichever Node was inserted last.
    #[test]
    fn replica_collision_later_insert_wins() {
        const H: u32 = 0xCD5B_A9C5;
        assert_eq!(crc32_ieee(b"8node-9513"), H);
        assert_eq!(crc32_ieee(b"46node-12000"), H);
        // Name order inserts node-12000 first, so node-9513 owns the slot.
        let r = HashRing::from_nodes(["node-9513", "node-12000"]);
        assert_eq!(r.replica_count(), 99);
        assert_eq!(r.ring[&H], "node-9513");
        let mut other = HashRing::new();
        other.add("node-9513");
        other.add("node-12000");
        assert_eq!(other.ring[&H], "node-12000");
        // Removing deletes by hash, even the slot node-9513 took over.
        let mut removed = r.clone();
        removed.remove("node-12000");
        assert_eq!(removed.replica_count(), 49);
        assert!(!removed.ring.contains_key(&H));
        assert!(removed.contains("node-9513"));
    }

    #[test]
    fn shared_ip_counts_once() {
        let r = rings(&[("p", &["node1", "node2", "node3"])]);
        let e = vec![
            eg("a", 1, "1.1.1.1", "p"),
            eg("b", 2, "1.1.1.1", "p"),
            eg("c", 3, "1.1.1.21", "p"),
        ];
        let got = place_egresses(&e, &r, &Capacity::uniform(1));
        assert_eq!(
            flat(&got),
            pairs(&[("a", "node1"), ("b", "node1"), ("c", "node2")])
        );
    }

    #[test]
    fn order_is_timestamp_then_name_not_input_order() {
        let r = rings(&[("p", &["node1", "node2", "node3"])]);
        // Same timestamp: "x" before "y"; "w" is newer.
        let e = vec![
            eg("w", 9, "1.1.1.1", "p"),
            eg("y", 5, "1.1.1.21", "p"),
            eg("x", 5, "1.1.1.1", "p"),
        ];
        let got = place_egresses(&e, &r, &Capacity::uniform(1));
        assert_eq!(
            flat(&got),
            pairs(&[("x", "node1"), ("y", "node2"), ("w", "node1")])
        );
    }

    #[test]
    fn capacity_spans_pools_and_missing_pool_is_unplaced() {
        let r = rings(&[
            ("a", &["node1", "node2", "node3"]),
            ("b", &["node1", "node2"]),
        ]);
        let alone = place_egresses(&[eg("e2", 2, "1.1.1.21", "b")], &r, &Capacity::uniform(1));
        assert_eq!(alone["e2"].as_deref(), Some("node1"));
        let e = vec![
            eg("e1", 1, "1.1.1.1", "a"),
            eg("e2", 2, "1.1.1.21", "b"),
            eg("e3", 3, "1.1.1.11", "nosuchpool"),
        ];
        let got = place_egresses(&e, &r, &Capacity::uniform(1));
        assert_eq!(
            flat(&got),
            pairs(&[("e1", "node1"), ("e2", "node2"), ("e3", "-")])
        );
    }

    #[test]
    fn annotation_parsing_follows_atoi_and_bounds() {
        assert_eq!(parse_max_egress_ips_annotation("1"), Some(1));
        assert_eq!(parse_max_egress_ips_annotation("+5"), Some(5));
        assert_eq!(parse_max_egress_ips_annotation("-0"), Some(0));
        assert_eq!(parse_max_egress_ips_annotation("255"), Some(255));
        assert_eq!(parse_max_egress_ips_annotation("256"), None);
        assert_eq!(parse_max_egress_ips_annotation("-1"), None);
        assert_eq!(parse_max_egress_ips_annotation(" 3"), None);
        assert_eq!(parse_max_egress_ips_annotation("invalid-value"), None);
        assert_eq!(parse_max_egress_ips_annotation(""), None);
        assert_eq!(Capacity::<String>::default().max_for("any"), 255);
    }

    /// Naive ring: replicas in a Vec (later insert replaces an equal hash),
    /// sorted, scanned linearly.
    fn reference_lookup(
        nodes: &BTreeSet<String>,
        key: &str,
        pass: &BTreeSet<String>,
    ) -> Option<String> {
        let mut reps: Vec<(u32, String)> = Vec::new();
        for n in nodes {
            for i in 0..DEFAULT_VIRTUAL_NODE_REPLICAS {
                let h = crc32_bitwise(format!("{i}{n}").as_bytes());
                match reps.iter_mut().find(|(rh, _)| *rh == h) {
                    Some(slot) => slot.1 = n.clone(),
                    None => reps.push((h, n.clone())),
                }
            }
        }
        reps.sort();
        let h = crc32_bitwise(key.as_bytes());
        let start = reps.iter().position(|(rh, _)| *rh >= h).unwrap_or(0);
        (0..reps.len())
            .map(|k| &reps[(start + k) % reps.len()].1)
            .find(|n| pass.contains(*n))
            .cloned()
    }

    fn node_names() -> impl Strategy<Value = BTreeSet<String>> {
        prop::collection::btree_set("[a-z]{1,5}(-[0-9]{1,2})?", 1..7)
    }

    fn ip_key() -> impl Strategy<Value = String> {
        any::<[u8; 4]>().prop_map(|b| Ipv4Addr::from(b).to_string())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

        #[test]
        fn crc32_table_matches_bitwise(data in prop::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_eq!(crc32_ieee(&data), crc32_bitwise(&data));
        }

        #[test]
        fn lookup_matches_reference(
            nodes in node_names(),
            keys in prop::collection::vec(ip_key(), 1..8),
            mask in prop::collection::vec(any::<bool>(), 7),
        ) {
            let pass: BTreeSet<String> = nodes
                .iter()
                .zip(&mask)
                .filter(|(_, m)| **m)
                .map(|(n, _)| n.clone())
                .collect();
            let ring = HashRing::from_nodes(&nodes);
            for key in &keys {
                let mut asked: Vec<String> = Vec::new();
                let got = ring.lookup(key, |n| {
                    asked.push(n.to_owned());
                    pass.contains(n)
                });
                prop_assert_eq!(got.map(str::to_owned), reference_lookup(&nodes, key, &pass));
                let distinct: BTreeSet<&String> = asked.iter().collect();
                prop_assert_eq!(distinct.len(), asked.len(), "a Node was asked twice");
                // Unfiltered owner leads the preference list.
                prop_assert_eq!(ring.get(key), ring.preference(key).first().copied());
            }
        }

        /// A ring of ids whose names were hashed once, inserted in name
        /// order, is the ring of the names: same owners, same preference.
        #[test]
        fn a_ring_of_ids_is_the_ring_of_their_names(
            nodes in node_names(),
            keys in prop::collection::vec(ip_key(), 1..8),
        ) {
            // Ids in reverse name order, so id order is not name order.
            let mut sorted: Vec<&String> = nodes.iter().collect();
            sorted.sort();
            sorted.dedup();
            let id_of = |n: &str| sorted.len() - sorted.iter().position(|s| s.as_str() == n).unwrap();
            let hashes: Vec<Box<[u32]>> = sorted.iter().map(|n| replica_hashes(n)).collect();
            let by_id = HashRing::from_hashed(
                sorted.iter().enumerate().map(|(i, n)| (id_of(n), &*hashes[i])),
            );
            let by_name = HashRing::from_nodes(&nodes);
            prop_assert_eq!(by_id.replica_count(), by_name.replica_count());
            for key in &keys {
                let want: Vec<usize> = by_name.preference(key).into_iter().map(id_of).collect();
                let got: Vec<usize> = by_id.find_order(key).into_iter().copied().collect();
                prop_assert_eq!(got, want);
                prop_assert_eq!(by_id.find(key, |_| true).copied(), by_name.get(key).map(id_of));
            }
        }

        /// Removing a Node moves only the keys it owned, to their next
        /// preference (replica collisions, which break this, are skipped).
        #[test]
        fn removal_moves_only_the_removed_nodes_keys(
            nodes in node_names().prop_filter("two or more", |n| n.len() >= 2),
            pick in any::<prop::sample::Index>(),
            ips in prop::collection::btree_set(any::<[u8; 4]>(), 1..16),
        ) {
            let full = HashRing::from_nodes(&nodes);
            prop_assume!(full.replica_count() == nodes.len() * DEFAULT_VIRTUAL_NODE_REPLICAS);
            let gone = pick.get(&nodes.iter().collect::<Vec<_>>()).to_string();
            let rest = HashRing::from_nodes(nodes.iter().filter(|n| **n != gone));
            let egresses: Vec<SchedulableEgress> = ips
                .iter()
                .enumerate()
                .map(|(i, b)| SchedulableEgress {
                    name: format!("e{i}"),
                    created: i as u64,
                    ip: IpAddr::V4(Ipv4Addr::from(*b)),
                    pool: "p".into(),
                })
                .collect();
            let before = place_egresses(&egresses, &BTreeMap::from([("p".to_string(), full.clone())]), &Capacity::unlimited());
            let after = place_egresses(&egresses, &BTreeMap::from([("p".to_string(), rest)]), &Capacity::unlimited());
            for e in &egresses {
                let (b, a) = (before[&e.name].as_deref(), after[&e.name].as_deref());
                let key = e.ip.to_string();
                prop_assert_eq!(b, full.get(&key));
                if b == Some(gone.as_str()) {
                    prop_assert_eq!(a, full.preference(&key).get(1).copied());
                } else {
                    prop_assert_eq!(a, b);
                }
            }
        }

        /// No Node ever exceeds its capacity, and an Egress is unplaced only
        /// when every ring Node is full.
        #[test]
        fn capacity_is_respected(
            nodes in node_names(),
            ips in prop::collection::vec(0u8..12, 1..24),
            max in 0u32..4,
        ) {
            let ring = HashRing::from_nodes(&nodes);
            let egresses: Vec<SchedulableEgress> = ips
                .iter()
                .enumerate()
                .map(|(i, last)| SchedulableEgress {
                    name: format!("e{i:02}"),
                    created: 0,
                    ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, *last)),
                    pool: "p".into(),
                })
                .collect();
            let got = place_egresses(&egresses, &BTreeMap::from([("p".to_string(), ring)]), &Capacity::uniform(max));
            let mut per_node: BTreeMap<&str, BTreeSet<IpAddr>> = BTreeMap::new();
            for e in &egresses {
                if let Some(n) = got[&e.name].as_deref() {
                    per_node.entry(n).or_default().insert(e.ip);
                }
            }
            for ips in per_node.values() {
                prop_assert!(ips.len() as u32 <= max);
            }
            for e in &egresses {
                if got[&e.name].is_none() {
                    prop_assert!(nodes.iter().all(|n| per_node.get(n.as_str()).map_or(0, BTreeSet::len) as u32 >= max));
                }
            }
        }
    }
}
