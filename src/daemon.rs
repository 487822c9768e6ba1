//! The long-running loop: a planning cycle every interval, results published for scraping,
//! and a clean stop on SIGTERM or Ctrl-C.
//!
//! When the source is down the next attempt comes sooner than the interval, with exponential
//! backoff (5 s doubling up to the interval), so Headroom recovers by itself soon after
//! Prometheus comes back, while `/metrics` keeps serving the last good results and
//! `headroom_source_up 0`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::cycle;
use crate::forecast;
use crate::model::CapacityModel;
use crate::server::{AppState, ReloadRequest, router};
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
    /// The config file SIGHUP and `POST /-/reload` re-read (`None`: nothing to reload).
    pub reload_from: Option<PathBuf>,
    pub settings: forecast::Settings,
    pub scenarios: Vec<crate::scenario::Scenario>,
    pub interval: Duration,
    pub listen: SocketAddr,
    pub threads: usize,
    pub clock: Clock,
}

impl Daemon {
    /// Serves HTTP and runs cycles until a stop signal.
    pub async fn run(mut self) -> anyhow::Result<()> {
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

        // Reload requests: SIGHUP and POST /-/reload, answered by this loop between cycles.
        let (reload_tx, mut reload_rx) = tokio::sync::mpsc::channel::<ReloadRequest>(4);
        let hangups = if self.reload_from.is_some() {
            let _ = state.reload.set(reload_tx.clone());
            Some(tokio::spawn(forward_hangups(reload_tx)))
        } else {
            drop(reload_tx);
            None
        };

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
            let next_cycle = tokio::time::Instant::now() + delay;
            let stopping = loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(next_cycle) => break false,
                    _ = stop.wait_for(|stop| *stop) => break true,
                    Some(request) = reload_rx.recv() => {
                        let outcome = self.reload();
                        state.exposition.self_metrics.record_reload(outcome.is_ok());
                        match &outcome {
                            Ok(message) => {
                                tracing::info!("{message}");
                                state.exposition.self_metrics.set_models_configured(self.models.len());
                            }
                            Err(problems) => tracing::error!("reload refused, the previous configuration keeps running:\n{problems}"),
                        }
                        let reloaded = outcome.is_ok();
                        if let Some(respond) = request.respond {
                            let _ = respond.send(outcome);
                        }
                        // A new configuration is planned with at once.
                        if reloaded {
                            break false;
                        }
                    }
                }
            };
            if stopping {
                break;
            }
        }
        tracing::info!("stopping");
        signals.abort();
        if let Some(hangups) = hangups {
            hangups.abort();
        }
        match server.await {
            Ok(result) => result.context("HTTP server failed")?,
            Err(error) => return Err(anyhow::anyhow!("HTTP server task failed: {error}")),
        }
        Ok(())
    }
}

impl Daemon {
    /// Re-reads the config and models; on any problem nothing changes and every problem is
    /// returned. The listen address and thread count stay as started.
    fn reload(&mut self) -> Result<String, String> {
        let Some(path) = &self.reload_from else {
            return Err("this instance has no config file to reload".into());
        };
        let env: std::collections::BTreeMap<String, String> = std::env::vars().collect();
        let (config, models) =
            crate::model::load_config_and_models(path, &env).map_err(|problems| problems.to_string())?;
        let source = Source::from_config(&config.source).map_err(|error| error.to_string())?;
        if config.server.listen != self.listen {
            tracing::warn!(configured = %config.server.listen, serving = %self.listen, "server.listen changes need a restart");
        }
        self.clock = match &source {
            Source::File(file) => Clock::Fixed(file.last_timestamp().unwrap_or_else(cycle::unix_now)),
            Source::Prometheus(_) => Clock::Wall,
        };
        self.source = source;
        self.settings = crate::cli::settings(&config);
        self.scenarios = config.scenarios;
        self.interval = config.schedule.interval.as_std();
        self.models = models;
        Ok(format!(
            "configuration reloaded from {}: {} model(s), {} scenario(s)",
            path.display(),
            self.models.len(),
            self.scenarios.len()
        ))
    }
}

/// Turns each SIGHUP into a reload request.
async fn forward_hangups(sender: tokio::sync::mpsc::Sender<ReloadRequest>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            return;
        };
        while hangups.recv().await.is_some() {
            tracing::info!("SIGHUP received: reloading the configuration");
            if sender.send(ReloadRequest { respond: None }).await.is_err() {
                return;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = sender;
        std::future::pending::<()>().await;
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
