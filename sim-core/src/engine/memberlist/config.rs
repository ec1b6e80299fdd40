//! The agent's tunables: memberlist's `DefaultLocalConfig` (`config.go`
//! v0.5.0/v0.6.0) with the two values Antrea sets.

use crate::time::SimDuration;

/// memberlist's `DefaultLocalConfig` values (config.go v0.5.0/v0.6.0), plus the
/// two Antrea sets (`DeadNodeReclaimTime = 10ms`, `Leave(1s)`).
///
/// Read only inside the memberlist module: the agent is the one user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberConfig {
    pub(super) probe_interval: SimDuration,
    pub(super) probe_timeout: SimDuration,
    /// How long a TCP exchange (push/pull, fallback ping) may take.
    pub(super) tcp_timeout: SimDuration,
    pub(super) indirect_checks: usize,
    pub(super) suspicion_mult: u32,
    pub(super) suspicion_max_timeout_mult: u32,
    pub(super) retransmit_mult: u32,
    pub(super) gossip_interval: SimDuration,
    pub(super) gossip_nodes: usize,
    pub(super) gossip_to_the_dead_time: SimDuration,
    /// Zero disables periodic push/pull (joins still push/pull).
    pub(super) push_pull_interval: SimDuration,
    pub(super) awareness_max_multiplier: u32,
    pub(super) udp_buffer_size: usize,
    pub(super) dead_node_reclaim_time: SimDuration,
    pub(super) leave_timeout: SimDuration,
}

impl Default for MemberConfig {
    fn default() -> Self {
        MemberConfig {
            probe_interval: SimDuration::from_secs(1),
            probe_timeout: SimDuration::from_millis(200),
            tcp_timeout: SimDuration::from_secs(1),
            indirect_checks: 1,
            suspicion_mult: 3,
            suspicion_max_timeout_mult: 6,
            retransmit_mult: 2,
            gossip_interval: SimDuration::from_millis(100),
            gossip_nodes: 3,
            gossip_to_the_dead_time: SimDuration::from_secs(15),
            push_pull_interval: SimDuration::from_secs(15),
            awareness_max_multiplier: 8,
            udp_buffer_size: 1400,
            dead_node_reclaim_time: SimDuration::from_millis(10),
            leave_timeout: SimDuration::from_secs(1),
        }
    }
}
