//! ExternalIPPool IPAM: Antrea's allocator and its admission webhook, IPv4 only.
//!
//! Egress IPs and LoadBalancer IPs come out of one shared allocator per pool
//! (`cmd/antrea-controller/controller.go`), so the simulator must hand out the same
//! addresses, in the same order, and report the same `TOTAL`/`USED`, as the real
//! antrea-controller. Sources (antrea HEAD v2.8.0-dev, same at v1.15.0 unless noted):
//! - `pkg/ipam/ipallocator/allocator.go`: `SingleIPAllocator` (one bitmap per range,
//!   lowest free offset first), `MultiIPAllocator` (ranges in spec order).
//! - `pkg/controller/externalippool/controller.go` `createOrUpdateIPAllocator`: a CIDR
//!   skips its network address and, for IPv4, reserves its broadcast address; an
//!   update only appends ranges it has not seen.
//! - `pkg/controller/externalippool/validate.go` and `pkg/controller/validation/ippool.go`:
//!   the CREATE/UPDATE webhook and its exact messages.
//!
//! Quirks kept on purpose (they are what a user sees): a `/32` CIDR has total `-1`;
//! a range is capped at 65536 addresses; with the overlap check off (v1.15) two
//! overlapping ranges can hand out the same IP twice.

use std::net::Ipv4Addr;

use indexmap::IndexMap;

use crate::k8s::{ExternalIPPool, IpRange};

/// Antrea caps every range at this many addresses "in case a big range occupies too
/// much memory" (`NewCIDRAllocator`, `NewIPRangeAllocator`).
pub const MAX_RANGE_SIZE: u64 = 65536;

/// Why a single range refused an address. Messages are `SingleIPAllocator`'s.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    #[error("IP {0} is not in the ipset")]
    NotInIpset(Ipv4Addr),
    #[error("IP {0} is reserved and not available for allocation")]
    Reserved(Ipv4Addr),
    #[error("IP {0} is already allocated")]
    AlreadyAllocated(Ipv4Addr),
    #[error("IP {0} is not allocated")]
    NotAllocated(Ipv4Addr),
    #[error("no available IP")]
    Full,
}

/// A pool-level allocation failure. Messages are `MultiIPAllocator`'s, which is what
/// Antrea's Egress/Service controllers put into their conditions and logs.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AllocError {
    /// Every range is full (`MultiIPAllocator.AllocateNext`).
    #[error("cannot allocate IP in any range")]
    Exhausted,
    /// A requested IP (`egressIP`, `loadBalancerIP`) could not be taken. Antrea reports
    /// only this pool-level message; `reason` is the most specific per-range cause
    /// (already allocated / reserved, else not in the ipset) for diagnostics.
    #[error("cannot allocate IP {ip} in any range")]
    Requested { ip: Ipv4Addr, reason: RangeError },
    /// Releasing an IP no range has allocated (`MultiIPAllocator.Release`).
    #[error("cannot release IP in any range")]
    Release { ip: Ipv4Addr },
    /// The pool does not exist (`ErrExternalIPPoolNotFound`).
    #[error("ExternalIPPool not found")]
    PoolNotFound,
}

/// One `spec.ipRanges` item as Antrea's `SingleIPAllocator`: `max` slots from `base`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeAllocator {
    range: IpRange,
    /// First allocatable address, as an integer (u64 so `255.255.255.255/32`'s
    /// network + 1 does not overflow).
    base: u64,
    /// Number of slots, capped at [`MAX_RANGE_SIZE`].
    max: u64,
    /// IPs inside (or, for a capped CIDR, past the end of) the range never handed out.
    reserved: Vec<Ipv4Addr>,
    /// Bit `i` set = `base + i` allocated.
    bits: Vec<u64>,
    count: usize,
}

impl RangeAllocator {
    /// Builds the allocator the antrea-controller builds for `range`.
    pub fn new(range: IpRange) -> RangeAllocator {
        let (base, max, reserved) = match range {
            IpRange::Cidr(net) => {
                let size = 1u64 << (32 - u32::from(net.prefix_len()));
                // "Start from x.x.x.1": the network address is never allocated.
                let base = u64::from(u32::from(net.network())) + 1;
                // Antrea reserves the IPv4 broadcast address, and `Total()` subtracts it
                // even when the cap or a /32 leaves it outside the slots.
                (base, (size - 1).min(MAX_RANGE_SIZE), vec![net.broadcast()])
            }
            IpRange::Range { start, end } => {
                let (s, e) = (u64::from(u32::from(start)), u64::from(u32::from(end)));
                // start > end is rejected by the parser and the webhook; an empty
                // range is the harmless answer if one slips through.
                let max = if e >= s {
                    (e - s + 1).min(MAX_RANGE_SIZE)
                } else {
                    0
                };
                (s, max, Vec::new())
            }
        };
        RangeAllocator {
            range,
            base,
            max,
            reserved,
            bits: vec![0; max.div_ceil(64) as usize],
            count: 0,
        }
    }

    pub fn range(&self) -> IpRange {
        self.range
    }

    /// Antrea's `Name()`: `a.b.c.d/p` or `start-end`; used to tell new ranges from old.
    pub fn name(&self) -> String {
        self.range.to_string()
    }

    /// `max - len(reservedIPs)`. Signed because a `/32` gives `0 - 1 = -1` in Antrea
    /// (`Total()` subtracts the reserved broadcast unconditionally) and that is what
    /// `kubectl get eip` shows.
    pub fn total(&self) -> i64 {
        self.max as i64 - self.reserved.len() as i64
    }

    pub fn used(&self) -> usize {
        self.count
    }

    fn offset(&self, ip: Ipv4Addr) -> Option<usize> {
        let ip = u64::from(u32::from(ip));
        (ip >= self.base && ip - self.base < self.max).then(|| (ip - self.base) as usize)
    }

    fn bit(&self, i: usize) -> bool {
        self.bits[i / 64] >> (i % 64) & 1 == 1
    }

    fn set_bit(&mut self, i: usize, on: bool) {
        let mask = 1u64 << (i % 64);
        if on {
            self.bits[i / 64] |= mask;
        } else {
            self.bits[i / 64] &= !mask;
        }
    }

    fn ip_at(&self, i: usize) -> Ipv4Addr {
        // Slots never pass 255.255.255.255: a CIDR's base + max - 1 is at most its
        // broadcast address and a start-end range's at most its end.
        Ipv4Addr::from((self.base + i as u64) as u32)
    }

    /// Antrea's `Has`: inside the slots (a reserved address counts as inside).
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        self.offset(ip).is_some()
    }

    pub fn is_reserved(&self, ip: Ipv4Addr) -> bool {
        self.reserved.contains(&ip)
    }

    pub fn is_allocated(&self, ip: Ipv4Addr) -> bool {
        self.offset(ip).is_some_and(|i| self.bit(i))
    }

    /// Lowest free, unreserved address.
    pub fn allocate_next(&mut self) -> Result<Ipv4Addr, RangeError> {
        if self.count as i64 >= self.total() {
            return Err(RangeError::Full);
        }
        // Antrea scans `i <= max`; the extra step cannot be reached (the count check
        // above fires first), so the scan stops at `max - 1` here.
        for i in 0..self.max as usize {
            let ip = self.ip_at(i);
            if !self.bit(i) && !self.is_reserved(ip) {
                self.set_bit(i, true);
                self.count += 1;
                return Ok(ip);
            }
        }
        Err(RangeError::Full)
    }

    /// Takes a requested address; checks in Antrea's order: in range, reserved, taken.
    pub fn allocate_ip(&mut self, ip: Ipv4Addr) -> Result<(), RangeError> {
        let i = self.offset(ip).ok_or(RangeError::NotInIpset(ip))?;
        if self.is_reserved(ip) {
            return Err(RangeError::Reserved(ip));
        }
        if self.bit(i) {
            return Err(RangeError::AlreadyAllocated(ip));
        }
        self.set_bit(i, true);
        self.count += 1;
        Ok(())
    }

    pub fn release(&mut self, ip: Ipv4Addr) -> Result<(), RangeError> {
        let i = self.offset(ip).ok_or(RangeError::NotInIpset(ip))?;
        if !self.bit(i) {
            return Err(RangeError::NotAllocated(ip));
        }
        self.set_bit(i, false);
        self.count -= 1;
        Ok(())
    }

    /// Allocated addresses, lowest first.
    pub fn allocated(&self) -> Vec<Ipv4Addr> {
        let mut out = Vec::with_capacity(self.count);
        for (w, word) in self.bits.iter().enumerate() {
            let mut word = *word;
            while word != 0 {
                let b = word.trailing_zeros() as usize;
                out.push(self.ip_at(w * 64 + b));
                word &= word - 1;
            }
        }
        out
    }
}

/// One pool's allocator (Antrea's `MultiIPAllocator`): ranges in spec order, new
/// ranges appended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IpPoolAllocator {
    ranges: Vec<RangeAllocator>,
}

impl IpPoolAllocator {
    pub fn new(ranges: &[IpRange]) -> IpPoolAllocator {
        IpPoolAllocator {
            ranges: ranges.iter().copied().map(RangeAllocator::new).collect(),
        }
    }

    /// Appends a range (a pool update that adds `ipRanges`).
    pub fn add_range(&mut self, range: IpRange) {
        self.ranges.push(RangeAllocator::new(range));
    }

    pub fn ranges(&self) -> &[RangeAllocator] {
        &self.ranges
    }

    /// The pool's `status.usage.total`: sum of range totals (may be negative, see
    /// [`RangeAllocator::total`]).
    pub fn total(&self) -> i64 {
        self.ranges.iter().map(RangeAllocator::total).sum()
    }

    /// The pool's `status.usage.used`.
    pub fn used(&self) -> usize {
        self.ranges.iter().map(RangeAllocator::used).sum()
    }

    /// Lowest free IP of the first range that has one.
    pub fn allocate_next(&mut self) -> Result<Ipv4Addr, AllocError> {
        self.ranges
            .iter_mut()
            .find_map(|r| r.allocate_next().ok())
            .ok_or(AllocError::Exhausted)
    }

    /// Takes a requested IP from the first range that accepts it.
    pub fn allocate_ip(&mut self, ip: Ipv4Addr) -> Result<(), AllocError> {
        let mut reason = RangeError::NotInIpset(ip);
        for r in &mut self.ranges {
            match r.allocate_ip(ip) {
                Ok(()) => return Ok(()),
                Err(RangeError::NotInIpset(_)) => {}
                Err(e) => {
                    if matches!(reason, RangeError::NotInIpset(_)) {
                        reason = e;
                    }
                }
            }
        }
        Err(AllocError::Requested { ip, reason })
    }

    /// Frees `ip` in the first range that has it allocated.
    pub fn release(&mut self, ip: Ipv4Addr) -> Result<(), AllocError> {
        self.ranges
            .iter_mut()
            .find_map(|r| r.release(ip).ok())
            .ok_or(AllocError::Release { ip })
    }

    /// Antrea's `Has`: some range covers `ip` (reserved addresses included).
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        self.ranges.iter().any(|r| r.contains(ip))
    }

    pub fn is_allocated(&self, ip: Ipv4Addr) -> bool {
        self.ranges.iter().any(|r| r.is_allocated(ip))
    }

    /// Allocated IPs: ranges in spec order, lowest first within a range.
    pub fn allocated(&self) -> Vec<Ipv4Addr> {
        self.ranges.iter().flat_map(|r| r.allocated()).collect()
    }
}

/// An ExternalIPPool CREATE/UPDATE rejected by the webhook (or the API server).
/// `Display` is the admission message; [`PoolError::range_index`] says which
/// `spec.ipRanges` item of the submitted pool it is about, so the caller can point at it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// `subnetInfo.prefixLength` outside 1..=31 (IPv4).
    #[error("invalid prefixLength {0}")]
    InvalidPrefixLength(u8),
    #[error("range start {start} should not be greater than range end {end}")]
    StartAfterEnd {
        index: usize,
        start: Ipv4Addr,
        end: Ipv4Addr,
    },
    /// The subnet is printed as given (gateway, not the masked network), as Antrea does.
    #[error("range [{range}] must be a strict subset of the subnet {gateway}/{prefix_length}")]
    NotInSubnet {
        index: usize,
        range: IpRange,
        gateway: Ipv4Addr,
        prefix_length: u8,
    },
    /// Two ranges of the submitted pool overlap; `other_index` is the earlier one.
    #[error("range [{range}] overlaps with range [{other}]")]
    Overlap {
        index: usize,
        range: IpRange,
        other_index: usize,
        other: IpRange,
    },
    /// A range overlaps a range of another existing pool (since Antrea v2.0.0).
    #[error("range [{range}] overlaps with range [{other}] of ExternalIPPool {pool}")]
    OverlapOtherPool {
        index: usize,
        range: IpRange,
        pool: String,
        other: IpRange,
    },
    /// An UPDATE removed or changed ranges (listed sorted, Go `%v` of a string slice).
    #[error("existing IPRanges [{}] cannot be updated or deleted", .ranges.join(" "))]
    RangesDeleted { ranges: Vec<String> },
    /// API server answer to a CREATE of an existing name.
    #[error("externalippools.crd.antrea.io \"{0}\" already exists")]
    AlreadyExists(String),
    /// API server answer to an UPDATE of a missing name.
    #[error("externalippools.crd.antrea.io \"{0}\" not found")]
    NotFound(String),
}

impl PoolError {
    /// Index into the submitted pool's `spec.ipRanges`, when the error is about one.
    pub fn range_index(&self) -> Option<usize> {
        match self {
            PoolError::StartAfterEnd { index, .. }
            | PoolError::NotInSubnet { index, .. }
            | PoolError::Overlap { index, .. }
            | PoolError::OverlapOtherPool { index, .. } => Some(*index),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
struct PoolEntry {
    spec: ExternalIPPool,
    allocator: IpPoolAllocator,
}

/// Every ExternalIPPool of the cluster with its allocator, behind Antrea's webhook.
#[derive(Clone, Debug)]
pub struct PoolSet {
    pools: IndexMap<String, PoolEntry>,
    check_overlap: bool,
}

impl Default for PoolSet {
    fn default() -> Self {
        PoolSet::new()
    }
}

fn ranges_overlap(a: IpRange, b: IpRange) -> bool {
    let ((s1, e1), (s2, e2)) = (a.bounds(), b.bounds());
    s1 <= e2 && e1 >= s2
}

impl PoolSet {
    /// Antrea v2.x behaviour: overlapping ranges are rejected.
    pub fn new() -> PoolSet {
        PoolSet::with_check_overlap(true)
    }

    /// `check_overlap = false` is Antrea v1.15.x, whose webhook checked overlaps
    /// neither within a pool nor across pools (added in v2.0.0); such pools can then
    /// hand out one IP twice, as the real controller did.
    pub fn with_check_overlap(check_overlap: bool) -> PoolSet {
        PoolSet {
            pools: IndexMap::new(),
            check_overlap,
        }
    }

    /// The CREATE/UPDATE checks of `validateIPRangesAndSubnetInfoForExternalIPPool`, in
    /// its order: prefixLength, then per range (start <= end, inside subnet, overlap
    /// with earlier ranges), then overlap with every other pool.
    pub fn validate(&self, pool: &ExternalIPPool) -> Result<(), PoolError> {
        if let Some(info) = &pool.subnet_info
            && !(1..=31).contains(&info.prefix_length)
        {
            return Err(PoolError::InvalidPrefixLength(info.prefix_length));
        }
        for (index, &range) in pool.ip_ranges.iter().enumerate() {
            if let IpRange::Range { start, end } = range
                && start > end
            {
                return Err(PoolError::StartAfterEnd { index, start, end });
            }
            if let Some(info) = &pool.subnet_info {
                let subnet = info.subnet();
                let (first, last) = range.bounds();
                if !subnet.contains(&first) || !subnet.contains(&last) {
                    return Err(PoolError::NotInSubnet {
                        index,
                        range,
                        gateway: info.gateway,
                        prefix_length: info.prefix_length,
                    });
                }
            }
            if !self.check_overlap {
                continue;
            }
            let mut earlier = pool.ip_ranges[..index].iter().enumerate();
            if let Some((other_index, &other)) = earlier.find(|(_, o)| ranges_overlap(range, **o)) {
                return Err(PoolError::Overlap {
                    index,
                    range,
                    other_index,
                    other,
                });
            }
        }
        if !self.check_overlap {
            return Ok(());
        }
        for (index, &range) in pool.ip_ranges.iter().enumerate() {
            let others = self.pools.iter().filter(|(n, _)| **n != pool.meta.name);
            for (name, entry) in others {
                let hit = entry
                    .spec
                    .ip_ranges
                    .iter()
                    .find(|o| ranges_overlap(range, **o));
                if let Some(&other) = hit {
                    return Err(PoolError::OverlapOtherPool {
                        index,
                        range,
                        pool: name.clone(),
                        other,
                    });
                }
            }
        }
        Ok(())
    }

    /// Admits a new pool and builds its allocator.
    pub fn create(&mut self, pool: &ExternalIPPool) -> Result<(), PoolError> {
        if self.pools.contains_key(&pool.meta.name) {
            return Err(PoolError::AlreadyExists(pool.meta.name.clone()));
        }
        self.validate(pool)?;
        self.pools.insert(
            pool.meta.name.clone(),
            PoolEntry {
                spec: pool.clone(),
                allocator: IpPoolAllocator::new(&pool.ip_ranges),
            },
        );
        Ok(())
    }

    /// Admits a change to an existing pool. Existing ranges must stay (compared by
    /// their text, as Antrea does; antlab's CIDRs are already normalised, so
    /// `10.0.0.1/24` → `10.0.0.0/24` counts as unchanged here but not in Antrea).
    /// New ranges are appended to the allocator; allocations are kept.
    pub fn update(&mut self, pool: &ExternalIPPool) -> Result<(), PoolError> {
        let Some(old) = self.pools.get(&pool.meta.name) else {
            return Err(PoolError::NotFound(pool.meta.name.clone()));
        };
        self.validate(pool)?;
        let new_names: Vec<String> = pool.ip_ranges.iter().map(|r| r.to_string()).collect();
        let mut deleted: Vec<String> = old
            .spec
            .ip_ranges
            .iter()
            .map(|r| r.to_string())
            .filter(|n| !new_names.contains(n))
            .collect();
        deleted.sort();
        deleted.dedup();
        if !deleted.is_empty() {
            return Err(PoolError::RangesDeleted { ranges: deleted });
        }
        let entry = self
            .pools
            .get_mut(&pool.meta.name)
            .ok_or_else(|| PoolError::NotFound(pool.meta.name.clone()))?;
        // createOrUpdateIPAllocator: names known before this update are skipped.
        let known: Vec<String> = entry.allocator.ranges.iter().map(|r| r.name()).collect();
        for range in &pool.ip_ranges {
            if !known.contains(&range.to_string()) {
                entry.allocator.add_range(*range);
            }
        }
        entry.spec = pool.clone();
        Ok(())
    }

    /// `kubectl apply`: create, or update if the name exists.
    pub fn apply(&mut self, pool: &ExternalIPPool) -> Result<(), PoolError> {
        if self.pools.contains_key(&pool.meta.name) {
            self.update(pool)
        } else {
            self.create(pool)
        }
    }

    /// Removes a pool (always admitted) and returns the IPs that were in use, so the
    /// caller can clear the Egresses/Services holding them. `None` if no such pool.
    pub fn delete(&mut self, name: &str) -> Option<Vec<Ipv4Addr>> {
        self.pools
            .shift_remove(name)
            .map(|e| e.allocator.allocated())
    }

    pub fn get(&self, name: &str) -> Option<&ExternalIPPool> {
        self.pools.get(name).map(|e| &e.spec)
    }

    pub fn allocator(&self, name: &str) -> Option<&IpPoolAllocator> {
        self.pools.get(name).map(|e| &e.allocator)
    }

    /// Pool names in creation order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.pools.keys().map(String::as_str)
    }

    pub fn allocate_next(&mut self, pool: &str) -> Result<Ipv4Addr, AllocError> {
        self.entry_mut(pool)?.allocate_next()
    }

    pub fn allocate_ip(&mut self, pool: &str, ip: Ipv4Addr) -> Result<(), AllocError> {
        self.entry_mut(pool)?.allocate_ip(ip)
    }

    pub fn release(&mut self, pool: &str, ip: Ipv4Addr) -> Result<(), AllocError> {
        self.entry_mut(pool)?.release(ip)
    }

    fn entry_mut(&mut self, pool: &str) -> Result<&mut IpPoolAllocator, AllocError> {
        self.pools
            .get_mut(pool)
            .map(|e| &mut e.allocator)
            .ok_or(AllocError::PoolNotFound)
    }

    /// The first pool (creation order) that has `ip` allocated.
    pub fn allocated_by(&self, ip: Ipv4Addr) -> Option<&str> {
        self.pools
            .iter()
            .find(|(_, e)| e.allocator.is_allocated(ip))
            .map(|(n, _)| n.as_str())
    }

    /// `status.usage` as `(total, used)`.
    pub fn usage(&self, name: &str) -> Option<(i64, usize)> {
        self.pools
            .get(name)
            .map(|e| (e.allocator.total(), e.allocator.used()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::{LabelSelector, Object, ObjectMeta, SubnetInfo, parse_manifests};
    use proptest::prelude::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }
    fn cidr(s: &str) -> IpRange {
        IpRange::Cidr(s.parse().unwrap())
    }
    fn span(a: &str, b: &str) -> IpRange {
        IpRange::Range {
            start: ip(a),
            end: ip(b),
        }
    }
    fn pool(name: &str, ranges: &[IpRange]) -> ExternalIPPool {
        ExternalIPPool {
            meta: ObjectMeta::named(name),
            ip_ranges: ranges.to_vec(),
            subnet_info: None,
            node_selector: LabelSelector::default(),
        }
    }
    fn with_subnet(mut p: ExternalIPPool, gw: &str, prefix_length: u8) -> ExternalIPPool {
        p.subnet_info = Some(SubnetInfo {
            gateway: ip(gw),
            prefix_length,
            vlan: 0,
        });
        p
    }
    fn total(r: IpRange) -> i64 {
        IpPoolAllocator::new(&[r]).total()
    }

    #[test]
    fn blog_pool_total_is_eleven() {
        let text = include_str!("../k8s/testdata/blog-2-external-ip-pool.yaml");
        let objs = parse_manifests("pool.yaml", text).unwrap();
        let Object::ExternalIPPool(p) = &objs[0] else {
            panic!("not a pool: {objs:?}");
        };
        let mut set = PoolSet::new();
        set.create(p).unwrap();
        assert_eq!(set.usage(&p.meta.name), Some((11, 0)));
        assert_eq!(set.allocate_next(&p.meta.name), Ok(ip("172.18.181.40")));
        assert_eq!(set.usage(&p.meta.name), Some((11, 1)));
        assert_eq!(total(span("172.18.181.40", "172.18.181.50")), 11);
    }

    #[test]
    fn cidr_totals_follow_the_controller() {
        assert_eq!(total(cidr("10.0.0.0/24")), 254);
        assert_eq!(total(cidr("10.0.0.0/28")), 14);
        assert_eq!(total(cidr("10.0.0.0/30")), 2);
        assert_eq!(total(cidr("10.0.0.0/31")), 0);
        // Antrea's quirk: max 0, one reserved broadcast, Total() = -1.
        assert_eq!(total(cidr("10.0.0.7/32")), -1);
        assert_eq!(total(cidr("255.255.255.255/32")), -1);
    }

    #[test]
    fn ranges_are_capped_at_65536() {
        assert_eq!(total(span("10.0.0.0", "10.255.255.255")), 65536);
        assert_eq!(total(span("10.0.0.0", "10.0.255.255")), 65536);
        assert_eq!(total(span("10.0.0.0", "10.1.0.0")), 65536);
        // /16: 65535 slots minus broadcast; /15: capped 65536 slots, broadcast still
        // subtracted although it lies past the slots.
        assert_eq!(total(cidr("10.0.0.0/16")), 65534);
        assert_eq!(total(cidr("10.0.0.0/15")), 65535);
        assert_eq!(total(cidr("0.0.0.0/0")), 65535);
        let mut a = IpPoolAllocator::new(&[span("10.0.0.0", "10.1.0.0")]);
        assert!(a.contains(ip("10.0.255.255")));
        assert!(!a.contains(ip("10.1.0.0")));
        assert_eq!(
            a.allocate_ip(ip("10.1.0.0")),
            Err(AllocError::Requested {
                ip: ip("10.1.0.0"),
                reason: RangeError::NotInIpset(ip("10.1.0.0"))
            })
        );
    }

    #[test]
    fn capped_cidr_counts_its_far_broadcast_like_antrea() {
        // 10.0.0.0/15: slots 10.0.0.1..=10.1.0.0, broadcast 10.1.255.255 outside them
        // but still subtracted, so AllocateNext calls it full one slot early while a
        // requested IP can still take that slot (used then exceeds total, as in Antrea).
        let mut a = IpPoolAllocator::new(&[cidr("10.0.0.0/15")]);
        let base = u32::from(ip("10.0.0.1"));
        for i in 0..65535 {
            a.allocate_ip(Ipv4Addr::from(base + i)).unwrap();
        }
        assert_eq!(a.allocate_next(), Err(AllocError::Exhausted));
        assert_eq!(a.allocate_ip(ip("10.1.0.0")), Ok(()));
        assert_eq!((a.total(), a.used()), (65535, 65536));
    }

    #[test]
    fn antrea_allocator_test_vector_with_broadcast_reserved() {
        let a = IpPoolAllocator::new(&[span("1.1.1.10", "1.1.1.20"), cidr("10.10.10.128/30")]);
        let names: Vec<String> = a.ranges().iter().map(RangeAllocator::name).collect();
        assert_eq!(names, ["1.1.1.10-1.1.1.20", "10.10.10.128/30"]);
        assert_eq!(a.total(), 11 + 2);
    }

    #[test]
    fn allocation_order_spans_ranges_and_reuses_lowest() {
        let mut a = IpPoolAllocator::new(&[span("10.0.0.10", "10.0.0.11"), cidr("10.0.1.0/30")]);
        let got: Vec<Ipv4Addr> = (0..4).map(|_| a.allocate_next().unwrap()).collect();
        assert_eq!(
            got,
            [
                ip("10.0.0.10"),
                ip("10.0.0.11"),
                ip("10.0.1.1"),
                ip("10.0.1.2")
            ]
        );
        // Network .0 and broadcast .3 are never handed out.
        assert_eq!(a.allocate_next(), Err(AllocError::Exhausted));
        assert_eq!(
            a.allocate_next().unwrap_err().to_string(),
            "cannot allocate IP in any range"
        );
        assert_eq!(a.used(), 4);
        a.release(ip("10.0.1.1")).unwrap();
        a.release(ip("10.0.0.11")).unwrap();
        assert_eq!(a.used(), 2);
        // The first non-full range wins, lowest free first.
        assert_eq!(a.allocate_next(), Ok(ip("10.0.0.11")));
        assert_eq!(a.allocate_next(), Ok(ip("10.0.1.1")));
        assert_eq!(
            a.allocated(),
            [
                ip("10.0.0.10"),
                ip("10.0.0.11"),
                ip("10.0.1.1"),
                ip("10.0.1.2")
            ]
        );
        assert_eq!(
            a.release(ip("10.0.1.1"))
                .and_then(|_| a.release(ip("10.0.1.1"))),
            Err(AllocError::Release { ip: ip("10.0.1.1") })
        );
        assert_eq!(
            AllocError::Release { ip: ip("1.2.3.4") }.to_string(),
            "cannot release IP in any range"
        );
    }

    #[test]
    fn requested_ip_errors() {
        let mut a = IpPoolAllocator::new(&[cidr("10.0.1.0/29"), span("10.0.2.5", "10.0.2.6")]);
        a.allocate_ip(ip("10.0.2.6")).unwrap();
        assert!(a.is_allocated(ip("10.0.2.6")));
        // Requested IPs don't disturb lowest-first for the rest.
        assert_eq!(a.allocate_next(), Ok(ip("10.0.1.1")));
        let err = |a: &mut IpPoolAllocator, s: &str| a.allocate_ip(ip(s)).unwrap_err();
        let e = err(&mut a, "10.0.2.6");
        assert_eq!(e.to_string(), "cannot allocate IP 10.0.2.6 in any range");
        let AllocError::Requested { reason, .. } = e else {
            panic!("{e:?}")
        };
        assert_eq!(reason.to_string(), "IP 10.0.2.6 is already allocated");
        let AllocError::Requested { reason, .. } = err(&mut a, "10.0.1.7") else {
            panic!()
        };
        assert_eq!(
            reason.to_string(),
            "IP 10.0.1.7 is reserved and not available for allocation"
        );
        // The network address is outside the slots, not "reserved".
        let AllocError::Requested { reason, .. } = err(&mut a, "10.0.1.0") else {
            panic!()
        };
        assert_eq!(reason.to_string(), "IP 10.0.1.0 is not in the ipset");
        let AllocError::Requested { reason, .. } = err(&mut a, "10.0.3.1") else {
            panic!()
        };
        assert_eq!(reason, RangeError::NotInIpset(ip("10.0.3.1")));
        assert!(a.contains(ip("10.0.1.7")));
        assert!(!a.contains(ip("10.0.1.0")));
        assert_eq!(a.used(), 2);
    }

    #[test]
    fn gateway_is_not_excluded_from_a_cidr() {
        let mut set = PoolSet::new();
        set.create(&with_subnet(
            pool("p", &[cidr("10.0.0.0/30")]),
            "10.0.0.1",
            24,
        ))
        .unwrap();
        assert_eq!(set.allocate_next("p"), Ok(ip("10.0.0.1")));
    }

    #[test]
    fn webhook_prefix_length() {
        let set = PoolSet::new();
        for bad in [0u8, 32, 42] {
            let e = set
                .validate(&with_subnet(pool("p", &[]), "10.0.0.1", bad))
                .unwrap_err();
            assert_eq!(e.to_string(), format!("invalid prefixLength {bad}"));
            assert_eq!(e.range_index(), None);
        }
        for ok in [1u8, 31] {
            set.validate(&with_subnet(pool("p", &[]), "10.0.0.1", ok))
                .unwrap();
        }
    }

    #[test]
    fn webhook_subnet_and_order() {
        let set = PoolSet::new();
        let p = with_subnet(
            pool(
                "p",
                &[
                    span("10.10.10.5", "10.10.10.9"),
                    span("10.10.20.10", "10.10.20.40"),
                ],
            ),
            "10.10.10.0",
            24,
        );
        let e = set.validate(&p).unwrap_err();
        assert_eq!(
            e.to_string(),
            "range [10.10.20.10-10.10.20.40] must be a strict subset of the subnet 10.10.10.0/24"
        );
        assert_eq!(e.range_index(), Some(1));
        // Printed with the gateway as given, like Antrea.
        let p = with_subnet(pool("p", &[cidr("10.20.0.0/16")]), "10.20.0.1", 24);
        assert_eq!(
            set.validate(&p).unwrap_err().to_string(),
            "range [10.20.0.0/16] must be a strict subset of the subnet 10.20.0.1/24"
        );
        let e = set
            .validate(&pool("p", &[span("10.10.20.0", "10.10.10.0")]))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "range start 10.10.20.0 should not be greater than range end 10.10.10.0"
        );
        assert_eq!(e.range_index(), Some(0));
    }

    #[test]
    fn webhook_overlap_within_and_across_pools() {
        let mut set = PoolSet::new();
        let e = set
            .create(&pool("p", &[cidr("10.10.10.0/24"), cidr("10.10.0.0/16")]))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "range [10.10.0.0/16] overlaps with range [10.10.10.0/24]"
        );
        assert_eq!(e.range_index(), Some(1));
        assert!(matches!(e, PoolError::Overlap { other_index: 0, .. }));
        assert!(set.get("p").is_none());

        set.create(&pool("bar", &[span("10.20.30.10", "10.20.30.50")]))
            .unwrap();
        let e = set
            .create(&pool("foo", &[cidr("10.99.0.0/24"), cidr("10.20.30.0/24")]))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "range [10.20.30.0/24] overlaps with range [10.20.30.10-10.20.30.50] of ExternalIPPool bar"
        );
        assert_eq!(e.range_index(), Some(1));
        // Touching but not overlapping is fine; a pool never overlaps itself on update.
        set.create(&pool("foo", &[span("10.20.30.51", "10.20.30.60")]))
            .unwrap();
        set.update(&pool(
            "foo",
            &[
                span("10.20.30.51", "10.20.30.60"),
                span("10.20.30.61", "10.20.30.61"),
            ],
        ))
        .unwrap();
    }

    #[test]
    fn v1_15_has_no_overlap_check_and_can_double_allocate() {
        let mut set = PoolSet::with_check_overlap(false);
        set.create(&pool(
            "a",
            &[cidr("10.0.0.0/30"), span("10.0.0.1", "10.0.0.1")],
        ))
        .unwrap();
        set.create(&pool("b", &[span("10.0.0.2", "10.0.0.2")]))
            .unwrap();
        assert_eq!(set.allocate_next("a"), Ok(ip("10.0.0.1")));
        assert_eq!(set.allocate_next("a"), Ok(ip("10.0.0.2")));
        // The second range of "a" hands out .1 again, as Antrea v1.15 would.
        assert_eq!(set.allocate_next("a"), Ok(ip("10.0.0.1")));
        assert_eq!(set.allocate_next("b"), Ok(ip("10.0.0.2")));
        assert_eq!(set.allocated_by(ip("10.0.0.2")), Some("a"));
    }

    #[test]
    fn update_appends_ranges_and_rejects_removals() {
        let mut set = PoolSet::new();
        let r1 = span("10.10.20.1", "10.10.20.2");
        let r2 = cidr("10.10.30.0/30");
        set.create(&pool("p", &[r1])).unwrap();
        assert_eq!(set.allocate_next("p"), Ok(ip("10.10.20.1")));
        assert_eq!(set.allocate_next("p"), Ok(ip("10.10.20.2")));
        assert_eq!(set.allocate_next("p"), Err(AllocError::Exhausted));
        // New range first in the spec: still appended after the existing one.
        set.update(&pool("p", &[r2, r1])).unwrap();
        assert_eq!(set.usage("p"), Some((4, 2)));
        assert_eq!(set.allocate_next("p"), Ok(ip("10.10.30.1")));
        assert_eq!(set.allocated_by(ip("10.10.30.1")), Some("p"));
        let e = set
            .update(&pool("p", &[span("10.10.20.1", "10.10.20.3")]))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "existing IPRanges [10.10.20.1-10.10.20.2 10.10.30.0/30] cannot be updated or deleted"
        );
        assert_eq!(e.range_index(), None);
        assert_eq!(set.usage("p"), Some((4, 3)));
        assert_eq!(
            set.update(&pool("q", &[])).unwrap_err().to_string(),
            "externalippools.crd.antrea.io \"q\" not found"
        );
        assert_eq!(
            set.create(&pool("p", &[r1, r2])).unwrap_err().to_string(),
            "externalippools.crd.antrea.io \"p\" already exists"
        );
    }

    #[test]
    fn delete_returns_ips_in_use_and_frees_the_ranges() {
        let mut set = PoolSet::new();
        set.create(&pool("p", &[cidr("10.0.0.0/29")])).unwrap();
        set.allocate_ip("p", ip("10.0.0.5")).unwrap();
        set.allocate_next("p").unwrap();
        assert_eq!(set.delete("p"), Some(vec![ip("10.0.0.1"), ip("10.0.0.5")]));
        assert_eq!(set.delete("p"), None);
        assert_eq!(set.usage("p"), None);
        assert_eq!(set.allocated_by(ip("10.0.0.1")), None);
        assert_eq!(set.allocate_next("p"), Err(AllocError::PoolNotFound));
        // Re-created: allocation starts afresh at the lowest IP.
        set.create(&pool("p", &[cidr("10.0.0.0/29")])).unwrap();
        assert_eq!(set.allocate_next("p"), Ok(ip("10.0.0.1")));
    }

    #[derive(Clone, Debug)]
    enum Op {
        Next,
        Take(u8),
        Release(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            Just(Op::Next),
            any::<u8>().prop_map(Op::Take),
            any::<u8>().prop_map(Op::Release),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Offsets are taken from 10.0.0.0 so requests land inside, on the edges and
        /// outside the ranges: a start-end range, a /28 (network and broadcast) and a /31.
        #[test]
        fn allocations_stay_unique_counted_and_inside(ops in prop::collection::vec(op(), 0..200)) {
            let mut a = IpPoolAllocator::new(&[
                span("10.0.0.3", "10.0.0.9"),
                cidr("10.0.0.16/28"),
                cidr("10.0.0.40/31"),
            ]);
            let at = |o: u8| Ipv4Addr::from(u32::from(ip("10.0.0.0")) + u32::from(o % 64));
            let mut live: Vec<Ipv4Addr> = Vec::new();
            for op in ops {
                match op {
                    Op::Next => match a.allocate_next() {
                        Ok(got) => {
                            prop_assert!(!live.contains(&got), "{got} handed out twice");
                            live.push(got);
                        }
                        Err(e) => {
                            prop_assert_eq!(e, AllocError::Exhausted);
                            prop_assert_eq!(live.len() as i64, a.total());
                        }
                    },
                    Op::Take(o) => {
                        let want = at(o);
                        match a.allocate_ip(want) {
                            Ok(()) => {
                                prop_assert!(!live.contains(&want), "{want} handed out twice");
                                live.push(want);
                            }
                            Err(_) => prop_assert!(
                                live.contains(&want) || !a.contains(want)
                                    || a.ranges().iter().any(|r| r.is_reserved(want))
                            ),
                        }
                    }
                    Op::Release(o) => {
                        let ip = at(o);
                        let was = live.contains(&ip);
                        prop_assert_eq!(a.release(ip).is_ok(), was);
                        live.retain(|l| *l != ip);
                    }
                }
                prop_assert_eq!(a.used(), live.len());
                for ip in a.allocated() {
                    prop_assert!(a.contains(ip));
                    prop_assert!(!a.ranges().iter().any(|r| r.is_reserved(ip)));
                    // Network addresses of the CIDRs are never handed out.
                    prop_assert!(ip != at(16) && ip != at(40));
                }
                let mut sorted = a.allocated();
                sorted.sort();
                let mut expect = live.clone();
                expect.sort();
                prop_assert_eq!(sorted, expect);
            }
        }
    }
}
