//! The wiring: the only place that joins the edges (sources, store, delivery, HTTP) to the
//! core. Every command and the daemon set themselves up from a configuration here, the same
//! way, so a reload builds exactly what a start builds.

pub mod cycle;
pub mod daemon;
pub mod demo;
mod csv_rows;
pub mod forecast_csv;
pub mod replay;
pub mod timing;

use std::sync::Arc;

use crate::clock::{Clock, UnixSeconds};
use crate::config::{Config, SourceConfig};
use crate::forecast;
use crate::model::CapacityModel;
use crate::outcome::CycleOutcome;
use crate::shard::Shard;
use crate::source::cache::Fetcher;
use crate::source::{Source, SourceError};
use crate::store::StoreError;

/// Why the application could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("cannot set up the history source: {0}")]
    Source(#[from] SourceError),
    /// Says itself which state file and why (without repeating "cannot open").
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot set up delivery: {0}")]
    Delivery(#[from] crate::delivery::DeliveryError),
    #[error("cannot listen on {address}: {source}; is another process using it? choose another with --listen")]
    Listen {
        address: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start the forecasting threads: {0}")]
    Threads(#[from] rayon::ThreadPoolBuildError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("the HTTP server failed: {0}")]
    Server(String),
    #[error("cannot replay: {0}")]
    ReplaySpan(String),
}

/// The engine settings a config asks for.
pub fn engine_settings(config: &Config) -> forecast::Settings {
    forecast::Settings {
        min_history_secs: config.forecast.min_history.as_secs_f64(),
        min_points: config.forecast.min_points,
        backtest_origins: config.forecast.backtest_origins,
        ..forecast::Settings::default()
    }
}

/// The history source a config names, and the clock that goes with it: a dump file is
/// planned as of its last sample, live sources as of the wall clock.
pub fn source_and_clock(config: &Config) -> Result<(Source, Clock), SourceError> {
    let source = Source::from_config(&config.source)?;
    let clock = match (&config.source, &source) {
        (SourceConfig::File { .. }, Source::File(file)) => {
            Clock::Fixed(file.last_timestamp().unwrap_or_else(crate::clock::unix_now))
        }
        _ => Clock::Wall,
    };
    Ok((source, clock))
}

/// One planning cycle of `models` as of `at` (default: the source's clock), without a state
/// file: what `once`, `report` and `budget` print.
pub async fn plan_once(
    config: &Config,
    models: &[CapacityModel],
    at: Option<UnixSeconds>,
    shard: Shard,
) -> Result<CycleOutcome, AppError> {
    let (source, clock) = source_and_clock(config)?;
    let now = clock.or_at(at).now();
    let pool = cycle::build_pool(config.forecast.threads)?;
    if let Source::Scrape(scrape) = &source {
        // One round now, on top of what a running daemon has scraped before.
        let round = scrape.scrape_all(crate::clock::unix_now()).await;
        tracing::info!(
            targets_ok = round.succeeded,
            targets_failed = round.failed,
            samples = round.samples,
            "scraped"
        );
    }
    let fetcher = Fetcher::new(&source, None).with_shard(shard);
    let settings = engine_settings(config);
    let cycle = cycle::Cycle {
        fetcher: &fetcher,
        store: None,
        settings: &settings,
        scenarios: &config.scenarios,
        pool: &pool,
    };
    Ok(cycle.run(models, now, None::<Arc<CycleOutcome>>).await)
}
