//! Loading ahead what the next event will read.
//!
//! In a large lab nearly every event starts with cache misses: the agent
//! whose timer fires, the host a frame arrives at, the frame's bytes, all
//! cold since that device's last event. The event loop knows the next
//! event before it runs this one (the queue's [`Scheduler::peek_hint`]), so
//! it asks the CPU to start loading those first-level structures now; their
//! misses then overlap this event's work instead of stalling the next one.
//! A hint only: it changes no state, and a wrong guess (an earlier event
//! pushed meanwhile) costs a few wasted loads.
//!
//! This is the simulator's one `unsafe` block: `_mm_prefetch` is a
//! `target_feature` function. A prefetch never faults and writes nothing,
//! whatever the address.

use super::{Event, World};
use crate::sched::Scheduler;

/// At most this many cache lines of one structure are loaded ahead.
const MAX_LINES: usize = 16;

impl World {
    /// Starts loading what the next event will read.
    pub(super) fn warm_next(&self) {
        match self.queue.peek_hint() {
            Some(Event::AgentTimer { device, .. }) => {
                if let Some(agent) = self.agents.get(*device) {
                    prefetch(agent);
                }
            }
            Some(Event::Arrive { port, frame, .. }) => {
                if let Some(device) = self.devices.get(port.device.0 as usize) {
                    prefetch(device);
                }
                // Most frames a node gets are its memberlist agent's.
                if let Some(agent) = self.agents.get(port.device) {
                    prefetch(agent);
                }
                prefetch(&frame[..frame.len().min(64)]);
            }
            _ => {}
        }
    }
}

/// Asks the CPU to start loading `v` (its first [`MAX_LINES`] cache lines).
#[allow(unsafe_code)]
fn prefetch<T: ?Sized>(v: &T) {
    let start = (v as *const T).cast::<i8>();
    let lines = std::mem::size_of_val(v).div_ceil(64).min(MAX_LINES);
    for i in 0..lines {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a prefetch neither faults nor writes; the address is a hint.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                start.wrapping_add(64 * i),
            );
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (start, i);
    }
}
