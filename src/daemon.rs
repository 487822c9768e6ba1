//! The long-running loop: a planning cycle every interval, results published for scraping,
//! and a clean stop on SIGTERM or Ctrl-C.
//!
//! When the source is down the next attempt comes sooner than the interval, with exponential
//! backoff (5 s doubling up to the interval), so Headroom recovers by itself soon after
//! Prometheus comes back, while `/metrics` keeps serving the last good results and
//! `headroom_source_up 0`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::cycle;
use crate::forecast;
use crate::model::CapacityModel;
use crate::server::{AppState, router};
use crate::source::Source;

/// Where "now" comes from for each cycle.
#[derive(Clone, Copy, Debug)]
pub enum Clock {
    /// The wall clock (live sources).
    Wall,
    /// A fixed instant (a dump file: plan from its last sample).
    Fixed(f64),
}

impl Clock {
    fn now(self) -> f64 {
        match self {
            Clock::Wall => cycle::unix_now(),
            Clock::Fixed(t) => t,
        }
    }
}

/// Everything a daemon needs.
pub struct Daemon {
    pub source: Source,
    pub models: Vec<CapacityModel>,
    pub settings: forecast::Settings,
    pub scenarios: Vec<crate::scenario::Scenario>,
    pub interval: Duration,
    pub listen: SocketAddr,
    pub threads: usize,
    pub clock: Clock,
}

impl Daemon {
    /// Serves HTTP and runs cycles until a stop signal.
    pub async fn run(self) -> anyhow::Result<()> {
        let state = Arc::new(AppState::default());
        state.exposition.self_metrics.set_models_configured(self.models.len());
        let listener = tokio::net::TcpListener::bind(self.listen).await.with_context(|| {
            format!(
                "cannot listen on {}; is another process using it? choose another with --listen",
                self.listen
            )
        })?;
        let address = listener.local_addr().unwrap_or(self.listen);
        tracing::info!(url = %format!("http://{address}/metrics"), models = self.models.len(), source = %self.source.describe(), "headroom is serving");

        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut server_stop = stop_rx.clone();
        let server_state = Arc::clone(&state);
        let server = tokio::spawn(async move {
            axum::serve(listener, router(server_state))
                .with_graceful_shutdown(async move {
                    let _ = server_stop.wait_for(|stop| *stop).await;
                })
                .await
        });
        let signals = tokio::spawn(async move {
            wait_for_stop_signal().await;
            let _ = stop_tx.send(true);
        });

        let pool = cycle::build_pool(self.threads).context("cannot start the forecasting threads")?;
        let mut stop = stop_rx;
        let mut failures_in_a_row: u32 = 0;
        loop {
            let now = self.clock.now();
            tracing::info!(models = self.models.len(), "planning cycle started");
            let report = cycle::run(&self.source, &self.models, &self.settings, &self.scenarios, &pool, now).await;
            let source_up = report.source_up;
            tracing::info!(
                duration_ms = (report.duration_seconds * 1000.0) as u64,
                source_up,
                failed_models = report.models.iter().filter(|m| m.error.is_some()).count(),
                entities = report.models.iter().map(|m| m.entities.len()).sum::<usize>(),
                "planning cycle finished"
            );
            state.publish(report);
            let delay = if source_up {
                failures_in_a_row = 0;
                self.interval
            } else {
                failures_in_a_row += 1;
                let backoff = Duration::from_secs(5).saturating_mul(1 << failures_in_a_row.saturating_sub(1).min(16));
                let delay = backoff.min(self.interval);
                tracing::warn!(
                    retry_in_s = delay.as_secs(),
                    "source down; retrying sooner than the interval"
                );
                delay
            };
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = stop.wait_for(|stop| *stop) => break,
            }
        }
        tracing::info!("stopping");
        signals.abort();
        match server.await {
            Ok(result) => result.context("HTTP server failed")?,
            Err(error) => return Err(anyhow::anyhow!("HTTP server task failed: {error}")),
        }
        Ok(())
    }
}

/// Resolves on SIGTERM, SIGINT or Ctrl-C.
async fn wait_for_stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM received"),
                    _ = tokio::signal::ctrl_c() => tracing::info!("interrupt received"),
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
