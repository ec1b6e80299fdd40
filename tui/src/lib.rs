//! # tui: the terminal UI that plays a scenario (ratatui + crossterm)
//!
//! Status: not written yet; tracked as issue 6. The simulator already exposes
//! what the panes will show: `sim_core::sim::World` (devices, ARP/MAC tables,
//! routes, probes with per-attempt paths) and `sim_core::report` (the tables).
