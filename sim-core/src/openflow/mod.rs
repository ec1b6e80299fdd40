//! # openflow: br-int as an OpenFlow program the simulator executes
//!
//! The same flow text the engine compiles for a node (Antrea's pipeline) and real
//! mode loads into OVS is parsed here into a [`Program`] and run packet by packet
//! with OVS's semantics for the fields and actions Antrea uses.
//!
//! ## Module map
//! - [`field`]: fields, widths, match/OXM/NXM names, value text.
//! - [`flow`]: `Match`, `Action`, `Flow`, `Group`/`Bucket`, `TableMap`.
//! - [`text`]: parse and print flows and groups (Antrea's test-string form,
//!   numeric `ovs-ofctl` form, dump-flows lines).
//! - [`program`]: `Program`: tables with priority-ordered flows and a per-table
//!   classifier, groups, counters, a generation number; bundle text.
//! - [`packet`]: `Packet`: headers and metadata a walk sees; ofproto/trace flow
//!   strings; frames.
//! - [`conntrack`]: per-zone connection tracking with NAT; `CtMode`.
//! - [`interp`]: the walk (`Program::run`): tables, actions, ct recirculation,
//!   groups, learn, conjunction.
//! - [`cache`]: `FlowCache`, a megaflow-style cache in front of the walk
//!   (`Program::run_cached`), keyed on what the walk read, flushed when the
//!   program changes.
//! - [`verdict`]: `Verdict`, `Emitted`, `Headers`, `CtCall` (the contract's
//!   normalised outcome).
//! - [`trace`]: a walk recorded table by table, printed like `ofproto/trace`.

pub mod cache;
pub mod conntrack;
pub mod field;
pub mod flow;
pub mod interp;
pub mod packet;
pub mod program;
pub mod text;
pub mod trace;
pub mod verdict;

pub use cache::{CacheStats, FlowCache};
pub use conntrack::{Conntrack, CtMode, CtState};
pub use field::{Field, FieldRef};
pub use flow::{Action, Flow, Group, Match, TableMap};
pub use interp::{PacketIn, Walk};
pub use packet::Packet;
pub use program::{FlowId, FlowInterner, Program};
pub use text::Style;
pub use trace::Trace;
pub use verdict::{CtCall, Emitted, Headers, Verdict};
