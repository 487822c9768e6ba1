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

use super::AppError;
use super::cycle::{self, Cycle};
use crate::api::{AppState, ReloadRequest, router};
use crate::app::timing::Timing;
use crate::clock::Clock;
use crate::config::delivery::ReportConfig;
use crate::delivery::Channels;
use crate::delivery::worker::Deliverer;
use crate::forecast;
use crate::model::CapacityModel;
use crate::source::Source;
use crate::store::Store;

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
    /// Required on every endpoint but the health checks, when set.
    pub bearer_token: Option<crate::config::Secret>,
    /// The HTTP server's connection limit and timeouts.
    pub http: crate::config::server::HttpLimits,
    /// Whether `POST /-/reload` works without the API token.
    pub reload_without_token: bool,
    /// The part of the fleet this replica plans.
    pub shard: crate::shard::Shard,
    pub threads: usize,
    pub clock: Clock,
    /// The state file, weekly report and receivers (`None`: results only on HTTP).
    pub outputs: Option<Outputs>,
}

/// What the daemon delivers besides `/metrics`.
#[derive(Clone, Debug)]
pub struct Outputs {
    pub store: Store,
    pub report: ReportConfig,
    pub channels: Channels,
}

/// How soon after a reload the new configuration is planned: reloads in this window share
/// one re-plan.
const RELOAD_SETTLE: Duration = Duration::from_secs(1);

impl Daemon {
    /// The daemon a config file describes: its source and clock, the state file, the
    /// receivers, and the weekly report (whose subject names the shard when the fleet is
    /// split). `listen` overrides `server.listen`.
    pub fn from_config(
        config_path: &std::path::Path,
        config: &crate::config::Config,
        models: Vec<CapacityModel>,
        listen: Option<SocketAddr>,
        shard: crate::shard::Shard,
    ) -> Result<Daemon, AppError> {
        // The state file first: a second daemon on it stops here, before it scrapes, queries
        // or delivers anything.
        let store = Store::open_exclusive(&config.store.path)?;
        let (source, clock) = super::source_and_clock(config)?;
        let channels = Channels::from_config(config)?;
        let mut report = config.report.clone();
        if shard.is_split() {
            report.subject = format!("{} (shard {} of {})", report.subject, shard.index + 1, shard.count);
        }
        Ok(Daemon {
            source,
            models,
            reload_from: Some(config_path.to_path_buf()),
            settings: super::engine_settings(config),
            scenarios: config.scenarios.clone(),
            interval: config.schedule.interval.as_std(),
            listen: listen.unwrap_or(config.server.listen),
            bearer_token: config.server.bearer_token.clone(),
            http: config.server.limits,
            reload_without_token: config.server.reload_without_token,
            shard,
            threads: config.forecast.threads,
            clock,
            outputs: Some(Outputs {
                store,
                report,
                channels,
            }),
        })
    }

    /// Serves HTTP and runs cycles until a stop signal.
    pub async fn run(mut self) -> Result<(), AppError> {
        let state = Arc::new(AppState::default());
        state.set_api_access(self.bearer_token.clone(), self.reload_without_token);
        state.exposition.self_metrics.set_models_configured(self.models.len());
        state.exposition.self_metrics.set_shard(self.shard);
        let listener = tokio::net::TcpListener::bind(self.listen)
            .await
            .map_err(|source| AppError::Listen {
                address: self.listen,
                source,
            })?;
        let address = listener.local_addr().unwrap_or(self.listen);
        if !address.ip().is_loopback() && self.bearer_token.is_none() {
            tracing::warn!(%address, "listening beyond this machine without an API token: anyone who can reach it reads the fleet's forecasts; set server.bearer_token_file");
        }
        tracing::info!(url = %format!("http://{address}/metrics"), models = self.models.len(), source = %self.source.describe(), shard = self.shard.index, shards = self.shard.count, "headroom is serving");

        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let server_stop = stop_rx.clone();
        let server_state = Arc::clone(&state);
        let server = tokio::spawn(crate::api::serve::serve(
            listener,
            router(Arc::clone(&server_state)),
            self.http,
            Arc::clone(&server_state.exposition.self_metrics),
            server_stop,
        ));
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

        // Delivery: the outbox drains in its own task, woken when a cycle queues something.
        let wake = Arc::new(tokio::sync::Notify::new());
        let mut channels_tx = None;
        let deliverer = match &self.outputs {
            Some(outputs) => {
                let _ = state.report.set(crate::api::ReportSource::new(
                    outputs.store.clone(),
                    outputs.report.clone(),
                ));
                let (tx, rx) = tokio::sync::watch::channel(Arc::new(outputs.channels.clone()));
                channels_tx = Some(tx);
                let deliverer = Deliverer::new(outputs.store.clone(), rx, Arc::clone(&state.exposition.self_metrics))?;
                tracing::info!(
                    store = %outputs.store.path().display(),
                    webhooks = outputs.channels.webhooks.len(),
                    report_recipients = outputs.report.to.len(),
                    "delivery ready"
                );
                Some(tokio::spawn(deliverer.run(stop_rx.clone(), Arc::clone(&wake))))
            }
            None => None,
        };

        let scraper_stop = stop_rx.clone();
        let mut scraper = start_scraper(&self.source, &scraper_stop, &state);

        let pool = cycle::build_pool(self.threads)?;
        let mut stop = stop_rx;
        let mut failures_in_a_row: u32 = 0;
        let mut timing = Timing::default();
        let mut fresh_config = true;
        let mut patience = crate::delivery::weekly::Patience::default();
        loop {
            let started = crate::clock::unix_now();
            let due: Vec<CapacityModel> = timing.due(&self.models, started).into_iter().cloned().collect();
            if !due.is_empty() {
                self.plan(&due, &state, &pool, &mut timing, &mut failures_in_a_row, fresh_config)
                    .await;
                fresh_config = false;
                if let Some(outputs) = &self.outputs {
                    after_cycle(outputs, &state, &mut patience).await;
                    wake.notify_one();
                }
            }
            let next_due = timing
                .next(&self.models)
                .unwrap_or(started + self.interval.as_secs_f64());
            let delay = Duration::from_secs_f64((next_due - crate::clock::unix_now()).clamp(0.0, 86_400.0));
            let mut next_cycle = tokio::time::Instant::now() + delay;
            let stopping = loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(next_cycle) => break false,
                    _ = stop.wait_for(|stop| *stop) => break true,
                    Some(request) = reload_rx.recv() => {
                        // Every request queued meanwhile is answered by this one reload.
                        let mut requests = vec![request];
                        while let Ok(more) = reload_rx.try_recv() {
                            requests.push(more);
                        }
                        if self.answer_reloads(requests, &state, channels_tx.as_ref()) {
                            if let Some(old) = scraper.take() {
                                old.abort();
                            }
                            scraper = start_scraper(&self.source, &scraper_stop, &state);
                            timing.reset();
                            fresh_config = true;
                            // The new configuration is planned shortly: a burst of reloads
                            // makes one re-plan, not one each.
                            next_cycle = next_cycle.min(tokio::time::Instant::now() + RELOAD_SETTLE);
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
        if let Some(deliverer) = deliverer {
            // An attempt in flight finishes (bounded by its timeout); what is still pending
            // stays in the outbox for the next start.
            let abort = deliverer.abort_handle();
            if tokio::time::timeout(Duration::from_secs(15), deliverer).await.is_err() {
                abort.abort();
            }
        }
        if let Some(hangups) = hangups {
            hangups.abort();
        }
        server
            .await
            .map_err(|error| AppError::Server(format!("the server task failed: {error}")))
    }
}

impl Daemon {
    /// Plans the `due` models once, publishes the results (with the last results of the
    /// models not due), and schedules each model's next run.
    async fn plan(
        &self,
        due: &[CapacityModel],
        state: &Arc<AppState>,
        pool: &Arc<rayon::ThreadPool>,
        timing: &mut Timing,
        failures_in_a_row: &mut u32,
        fresh_config: bool,
    ) {
        let started = crate::clock::unix_now();
        let now = self.clock.now();
        tracing::info!(
            models = due.len(),
            configured = self.models.len(),
            "planning cycle started"
        );
        let cache = self.outputs.as_ref().map(|o| &o.store);
        let fetcher = crate::source::cache::Fetcher::new(&self.source, cache).with_shard(self.shard);
        // After a reload nothing is reused: models, scenarios or settings may have changed.
        let previous = if fresh_config { None } else { state.latest() };
        let cycle = Cycle {
            fetcher: &fetcher,
            store: cache,
            settings: &self.settings,
            scenarios: &self.scenarios,
            pool,
        };
        let mut report = cycle.run(due, now, previous).await;
        let source_up = report.source_up;
        tracing::info!(
            duration_ms = (report.duration_seconds * 1000.0) as u64,
            source_up,
            failed_models = report.models.iter().filter(|m| m.error.is_some()).count(),
            entities = report.models.iter().map(|m| m.entities.len()).sum::<usize>(),
            samples_fetched = report.fetch.samples,
            "planning cycle finished"
        );
        let shortest = due
            .iter()
            .map(|m| crate::app::timing::interval_of(m, self.interval))
            .fold(f64::INFINITY, f64::min);
        if report.duration_seconds > shortest {
            state.exposition.self_metrics.record_overrun();
            tracing::warn!(
                duration_s = report.duration_seconds,
                interval_s = shortest,
                "planning cycle overran the shortest interval of its models; the next run starts when due, not doubled"
            );
        }
        if let Some(previous) = state.latest() {
            let mut configured: Vec<&str> = self.models.iter().map(|m| m.model_name()).collect();
            configured.dedup();
            report.carry_over_models_not_run(&previous, &configured);
        }
        // Rendering a fleet's results takes a while: off the threads that serve HTTP.
        let publishing = Arc::clone(state);
        if let Err(error) = tokio::task::spawn_blocking(move || publishing.publish(report)).await {
            tracing::error!(%error, "publishing the cycle's results failed");
        }
        let retry = if source_up {
            *failures_in_a_row = 0;
            None
        } else {
            *failures_in_a_row += 1;
            let backoff = Duration::from_secs(5).saturating_mul(1 << failures_in_a_row.saturating_sub(1).min(16));
            let retry = backoff.min(self.interval);
            tracing::warn!(
                retry_in_s = retry.as_secs(),
                "source down; retrying sooner than the interval"
            );
            Some(retry)
        };
        let latest = state.latest();
        for model in due {
            let failed = latest
                .as_ref()
                .and_then(|r| r.models.iter().find(|m| m.model == model.model_name()))
                .is_some_and(|m| m.error.is_some());
            match retry {
                Some(retry) if failed => timing.retry(model, retry, crate::clock::unix_now()),
                _ => timing.ran(model, self.interval, started),
            }
        }
    }

    /// Reloads once for `requests`, answers each of them, and publishes the new receivers and
    /// report settings; whether the configuration changed.
    fn answer_reloads(
        &mut self,
        requests: Vec<ReloadRequest>,
        state: &Arc<AppState>,
        channels: Option<&tokio::sync::watch::Sender<Arc<Channels>>>,
    ) -> bool {
        let outcome = self.reload();
        state.exposition.self_metrics.record_reload(outcome.is_ok());
        match &outcome {
            Ok(message) => {
                tracing::info!(requests = requests.len(), "{message}");
                state.exposition.self_metrics.set_models_configured(self.models.len());
                state.set_api_access(self.bearer_token.clone(), self.reload_without_token);
                if let (Some(outputs), Some(tx)) = (&self.outputs, channels) {
                    let _ = tx.send(Arc::new(outputs.channels.clone()));
                    if let Some(source) = state.report.get() {
                        if let Ok(mut config) = source.config.write() {
                            *config = outputs.report.clone();
                        }
                    }
                }
            }
            Err(problems) => tracing::error!("reload refused, the previous configuration keeps running:\n{problems}"),
        }
        let answer = outcome.as_ref().map(Clone::clone).map_err(ToString::to_string);
        for respond in requests.into_iter().filter_map(|r| r.respond) {
            let _ = respond.send(answer.clone());
        }
        outcome.is_ok()
    }

    /// Re-reads the config and models; on any problem nothing changes and every problem is
    /// returned. The API token and `reload_without_token` take effect at once; the listen
    /// address, connection limits and thread count stay as started (a warning says so).
    fn reload(&mut self) -> Result<String, ReloadError> {
        let Some(path) = &self.reload_from else {
            return Err(ReloadError::NothingToReload);
        };
        let env: std::collections::BTreeMap<String, String> = std::env::vars().collect();
        let (config, models) = crate::config::load::load(path, &env)?;
        let (source, clock) = super::source_and_clock(&config)?;
        let channels = Channels::from_config(&config)?;
        if config.server.listen != self.listen {
            tracing::warn!(configured = %config.server.listen, serving = %self.listen, "server.listen changes need a restart");
        }
        if config.server.limits != self.http {
            tracing::warn!("server connection limits and timeouts change on restart; the running server keeps its own");
        }
        self.bearer_token = config.server.bearer_token.clone();
        self.reload_without_token = config.server.reload_without_token;
        self.clock = clock;
        self.source = source;
        self.settings = super::engine_settings(&config);
        self.scenarios = config.scenarios.clone();
        self.interval = config.schedule.interval.as_std();
        self.models = models;
        if let Some(outputs) = &mut self.outputs {
            if config.store.path != outputs.store.path() {
                tracing::warn!(configured = %config.store.path.display(), using = %outputs.store.path().display(), "store.path changes need a restart");
            }
            outputs.channels = channels;
            outputs.report = config.report.clone();
        }
        Ok(format!(
            "configuration reloaded from {}: {} model(s), {} scenario(s)",
            path.display(),
            self.models.len(),
            self.scenarios.len()
        ))
    }
}

/// Why a reload was refused (the running configuration keeps running).
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("this instance has no config file to reload")]
    NothingToReload,
    #[error("{0}")]
    Config(#[from] crate::config::problems::Problems),
    #[error("cannot set up the history source: {0}")]
    Source(#[from] crate::source::SourceError),
    #[error("cannot set up delivery: {0}")]
    Delivery(#[from] crate::delivery::DeliveryError),
}

/// Starts scraping exporters in the background when the source is the scrape source.
fn start_scraper(
    source: &Source,
    stop: &tokio::sync::watch::Receiver<bool>,
    state: &Arc<AppState>,
) -> Option<tokio::task::JoinHandle<()>> {
    let Source::Scrape(scrape) = source else {
        return None;
    };
    let state = Arc::clone(state);
    tracing::info!(
        interval_s = scrape.interval().as_secs_f64(),
        "scraping exporters: {}",
        scrape.describe()
    );
    Some(tokio::spawn(scrape.clone().run(stop.clone(), move |round| {
        state.exposition.self_metrics.record_scrape(round);
    })))
}

/// Queues webhook notices for what changed, and the weekly report when it is due.
async fn after_cycle(outputs: &Outputs, state: &Arc<AppState>, patience: &mut crate::delivery::weekly::Patience) {
    let Some(latest) = state.latest() else {
        return;
    };
    let period = outputs.report.schedule.current_period(latest.evaluated_at);
    let deadline = patience.deadline(
        &period,
        latest.evaluated_at,
        outputs.report.wait_for_complete.as_secs_f64(),
    );
    let outputs = outputs.clone();
    let metrics_state = Arc::clone(state);
    let work = tokio::task::spawn_blocking(move || {
        let metrics = &metrics_state.exposition.self_metrics;
        match crate::delivery::queue_changes(&outputs.store, &latest, &outputs.channels, metrics) {
            Ok(0) => {}
            Ok(count) => tracing::info!(
                changes = count,
                webhooks = outputs.channels.webhooks.len(),
                "recommendation changes queued"
            ),
            Err(error) => {
                metrics.record_store_error();
                tracing::error!(%error, "cannot queue recommendation changes; they will be found again next cycle");
            }
        }
        let started = std::time::Instant::now();
        match crate::delivery::weekly::build_if_due(&outputs.store, &latest, &outputs.report, deadline) {
            Ok(crate::delivery::weekly::Outcome::AlreadyBuilt) => {}
            Ok(crate::delivery::weekly::Outcome::Waiting { failed, until }) => {
                tracing::info!(
                    failed_models = failed,
                    until = %crate::format::time(until),
                    "weekly report due, waiting for a cycle in which every model is planned"
                );
            }
            Ok(crate::delivery::weekly::Outcome::Built {
                period,
                emails,
                risks,
                complete,
                correction,
            }) => {
                metrics.record_report_built();
                let elapsed_ms = started.elapsed().as_millis() as u64;
                if complete {
                    tracing::info!(
                        period,
                        emails,
                        risks,
                        correction,
                        elapsed_ms,
                        "weekly report built and queued"
                    );
                } else {
                    tracing::warn!(
                        period,
                        emails,
                        risks,
                        elapsed_ms,
                        "weekly report built and queued INCOMPLETE: some models failed; a corrected report follows once they are planned"
                    );
                }
            }
            Err(error) => {
                metrics.record_store_error();
                tracing::error!(%error, "cannot build the weekly report; trying again after the next cycle");
            }
        }
    });
    if let Err(error) = work.await {
        tracing::error!(%error, "delivery bookkeeping task failed");
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
