//! Headroom: a capacity-planning forecasting daemon.
//!
//! See `ARCHITECTURE.md` for the map. In short: [`config`] and [`model`] describe what to
//! watch; a [`source`] reads history; [`forecast`] (pure, synchronous) predicts it;
//! [`exhaustion`] finds when it crosses its limit; [`cycle`] runs all of that for every
//! model; [`expose`] and [`server`] publish the results; [`daemon`] repeats it on a schedule.

pub mod api;
pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod delivery;
pub mod duration;
pub mod forecast;
pub mod format;
pub mod model;
pub mod net;
pub mod outcome;
pub mod percent;
pub mod plan;
pub mod recommend;
pub mod report;
pub mod scenario;
pub mod series;
pub mod shard;
pub mod source;
pub mod store;
pub mod telemetry;
#[cfg(test)]
pub(crate) mod test_util;
