//! Integration tests, built as one binary (ripgrep's layout): the real `headroom` executable
//! against real components (Prometheus from Debian's `prometheus` package, backfilled with
//! promtool) that the harness starts on free loopback ports and stops by PID.

mod accuracy;
mod architecture;
mod cli;
mod delivery;
mod deploy_files;
mod drivers;
mod duplicates;
mod faults;
mod field_cases;
mod forecast_csv;
mod fuzz;
mod harness;
mod history;
mod http_limits;
mod incremental;
mod kubernetes;
mod node_pool;
mod prometheus_e2e;
mod recommendations;
mod reload;
mod replay;
mod report_gate;
mod report_cli;
mod scenarios;
mod scheduling;
mod scrape;
mod security;
mod sharding;
mod source_errors;
