//! Headroom: a capacity-planning forecasting daemon.
//!
//! The modules are listed bottom to top, in the layers `ARCHITECTURE.md` draws and
//! `tests/it/architecture.rs` enforces: a module imports only its own layer or lower ones.
//! Start with [`plan::entity`] (one entity from history to recommendation), then
//! [`app::cycle`] (a whole cycle) and [`app::daemon`] (the loop).

// Leaves: small values and helpers every layer may use.
pub mod clock;
pub mod duration;
pub mod format;
pub mod net;
pub mod percent;
pub mod series;
pub mod shard;

// The pure core: no IO, no async, no logging (checked transitively).
pub mod model;
pub mod forecast;
pub mod scenario;
pub mod recommend;
pub mod outcome;
pub mod plan;

// Text in: the config and capacity model files.
pub mod config;

// Edges: the state file, renderings of an outcome, history sources, self-metrics, delivery,
// and the HTTP API.
pub mod store;
pub mod report;
pub mod source;
pub mod telemetry;
pub mod delivery;
pub mod api;

// Wiring and the command line.
pub mod app;
pub mod cli;

#[cfg(test)]
pub(crate) mod test_util;
