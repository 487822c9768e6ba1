//! The wiring: the only place that joins the edges (sources, store, delivery, HTTP) to the
//! core. Commands and the daemon build what they need here.

pub mod cycle;
pub mod daemon;
pub mod demo;
pub mod forecast_csv;
pub mod timing;
