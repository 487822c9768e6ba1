//! Headroom's own health: cycles, queries, deliveries, the outbox, reloads, shards.
//!
//! One long-lived registry, shared (`Arc`) by the loop, the source scraper, the delivery
//! worker and the HTTP API, and rendered at each scrape of `/metrics` ahead of the results.
//! Every name is documented in `docs/metrics.md`.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::text::encode_registry;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::outcome::CycleOutcome;

type GaugeF64 = Gauge<f64, AtomicU64>;

/// The daemon's own metrics, updated as it runs.
#[derive(Debug)]
pub struct SelfMetrics {
    registry: Registry,
    cycles: Family<Vec<(&'static str, &'static str)>, Counter>,
    cycle_duration: Histogram,
    last_success: GaugeF64,
    source_up: Gauge,
    series_processed: Family<Vec<(&'static str, &'static str)>, Counter>,
    source_errors: Family<Vec<(&'static str, &'static str)>, Counter>,
    models_configured: Gauge,
    result_series: Gauge,
    reloads: Family<Vec<(&'static str, &'static str)>, Counter>,
    deliveries: Family<Vec<(&'static str, String)>, Counter>,
    outbox: Family<Vec<(&'static str, &'static str)>, Gauge>,
    outbox_oldest_age: GaugeF64,
    store_size: Gauge,
    store_errors: Counter,
    changes_queued: Family<Vec<(&'static str, &'static str)>, Counter>,
    reports_built: Counter,
    samples_fetched: Counter,
    source_queries: Family<Vec<(&'static str, &'static str)>, Counter>,
    query_duration: Histogram,
    overruns: Counter,
    shard: Family<Vec<(&'static str, String)>, Gauge>,
    scrapes: Family<Vec<(&'static str, &'static str)>, Counter>,
    scrape_samples: Counter,
    source_annotations: Family<Vec<(&'static str, &'static str)>, Counter>,
    connections_closed: Family<Vec<(&'static str, &'static str)>, Counter>,
}

impl SelfMetrics {
    /// Registers every self metric.
    pub fn new() -> SelfMetrics {
        let mut registry = Registry::default();
        let cycles = Family::default();
        registry.register(
            "headroom_cycles",
            "Planning cycles run, by result (success: every model forecast; failure: at least one model failed)",
            cycles.clone(),
        );
        let cycle_duration = Histogram::new([0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0]);
        registry.register(
            "headroom_cycle_duration_seconds",
            "Wall time of planning cycles (fetch, forecast, exhaustion)",
            cycle_duration.clone(),
        );
        let last_success = GaugeF64::default();
        registry.register(
            "headroom_last_success_timestamp_seconds",
            "Unix time of the end of the last cycle in which every model was forecast",
            last_success.clone(),
        );
        let source_up = Gauge::default();
        registry.register(
            "headroom_source_up",
            "1 if the last cycle reached the history source for every query, else 0",
            source_up.clone(),
        );
        let series_processed = Family::default();
        registry.register(
            "headroom_series_processed",
            "Series forecast, by resulting status",
            series_processed.clone(),
        );
        let source_errors = Family::default();
        registry.register(
            "headroom_source_errors",
            "Failed source queries (after retries), by kind",
            source_errors.clone(),
        );
        let models_configured = Gauge::default();
        registry.register(
            "headroom_models_configured",
            "Capacity models currently loaded",
            models_configured.clone(),
        );
        let result_series = Gauge::default();
        registry.register(
            "headroom_result_series",
            "Result series on /metrics after the last cycle (entity, scenario, budget and model series; not these self metrics)",
            result_series.clone(),
        );
        let reloads = Family::default();
        registry.register(
            "headroom_config_reloads",
            "Configuration reloads, by result",
            reloads.clone(),
        );
        let deliveries = Family::default();
        registry.register(
            "headroom_deliveries",
            "Delivery attempts of emails and webhooks, by receiver and outcome (delivered, retry, failed)",
            deliveries.clone(),
        );
        let outbox = Family::default();
        registry.register(
            "headroom_outbox_messages",
            "Messages in the durable outbox, by state (pending: still to deliver; failed: given up)",
            outbox.clone(),
        );
        let outbox_oldest_age = GaugeF64::default();
        registry.register(
            "headroom_outbox_oldest_pending_age_seconds",
            "Age of the oldest message still pending delivery (0 when none is pending)",
            outbox_oldest_age.clone(),
        );
        let store_size = Gauge::default();
        registry.register(
            "headroom_store_size_bytes",
            "Size of the state file on disk, including its write-ahead log",
            store_size.clone(),
        );
        let store_errors = Counter::default();
        registry.register(
            "headroom_store_errors",
            "Failed operations on the state file",
            store_errors.clone(),
        );
        let changes_queued = Family::default();
        registry.register(
            "headroom_recommendation_changes",
            "Recommendation changes found and queued for webhooks, by kind",
            changes_queued.clone(),
        );
        let reports_built = Counter::default();
        registry.register(
            "headroom_reports_built",
            "Weekly reports built and queued for email",
            reports_built.clone(),
        );
        let samples_fetched = Counter::default();
        registry.register(
            "headroom_source_samples_fetched",
            "Samples received from the history source (after the first cycle, only what is new)",
            samples_fetched.clone(),
        );
        let source_queries = Family::default();
        registry.register(
            "headroom_source_queries",
            "Range queries sent to the source, by mode (full: the whole history window; incremental: since the cached end; latest: a short recent range, for capacities)",
            source_queries.clone(),
        );
        let query_duration = Histogram::new([0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0]);
        registry.register(
            "headroom_source_query_duration_seconds",
            "Wall time of range queries to the source (all requests of a split query, retries included)",
            query_duration.clone(),
        );
        let overruns = Counter::default();
        registry.register(
            "headroom_cycle_overruns",
            "Planning cycles that took longer than the shortest interval of the models they planned",
            overruns.clone(),
        );
        let shard = Family::default();
        registry.register(
            "headroom_shard",
            "Always 1; index and count say which part of the fleet this replica plans",
            shard.clone(),
        );
        let scrapes = Family::default();
        registry.register(
            "headroom_scrapes",
            "Exporter scrapes by the scrape source, by result",
            scrapes.clone(),
        );
        let source_annotations = Family::default();
        registry.register(
            "headroom_source_annotations",
            "Warnings and informational annotations in the query API's answers (kind=warning: a query layer's warning, or PromQL's; kind=info: informational); each is also logged",
            source_annotations.clone(),
        );
        let scrape_samples = Counter::default();
        registry.register(
            "headroom_scrape_samples",
            "Samples read from exporters by the scrape source",
            scrape_samples.clone(),
        );
        let connections_closed = Family::default();
        registry.register(
            "headroom_http_connections_closed",
            "HTTP connections the server closed itself, by reason (header_timeout: no whole request header in time; limit: the oldest idle one, to make room at server.max_connections; refused: at the limit with every connection busy)",
            connections_closed.clone(),
        );
        let build_info: Family<Vec<(&'static str, &'static str)>, Gauge> = Family::default();
        build_info
            .get_or_create(&vec![("version", env!("CARGO_PKG_VERSION"))])
            .set(1);
        registry.register(
            "headroom_build_info",
            "Always 1; the version label names the running build",
            build_info,
        );
        SelfMetrics {
            registry,
            cycles,
            cycle_duration,
            last_success,
            source_up,
            series_processed,
            source_errors,
            models_configured,
            result_series,
            reloads,
            deliveries,
            outbox,
            outbox_oldest_age,
            store_size,
            store_errors,
            changes_queued,
            reports_built,
            samples_fetched,
            source_queries,
            query_duration,
            overruns,
            shard,
            scrapes,
            scrape_samples,
            source_annotations,
            connections_closed,
        }
    }

    /// Counts a connection the HTTP server closed itself, for `reason`.
    pub fn record_connection_closed(&self, reason: &'static str) {
        self.connections_closed.get_or_create(&vec![("reason", reason)]).inc();
    }

    /// Records a round of the scrape source.
    pub fn record_scrape(&self, round: crate::source::scrape::Round) {
        self.scrapes
            .get_or_create(&vec![("result", "success")])
            .inc_by(u64::from(round.succeeded));
        self.scrapes
            .get_or_create(&vec![("result", "failure")])
            .inc_by(u64::from(round.failed));
        self.scrape_samples.inc_by(round.samples);
    }

    /// Records this replica's shard.
    pub fn set_shard(&self, shard: crate::shard::Shard) {
        self.shard.clear();
        self.shard
            .get_or_create(&vec![
                ("index", shard.index.to_string()),
                ("count", shard.count.to_string()),
            ])
            .set(1);
    }

    /// Counts a cycle that overran its models' interval.
    pub fn record_overrun(&self) {
        self.overruns.inc();
    }

    /// Records one delivery attempt to `receiver` (`email` or a webhook's name).
    pub fn record_delivery(&self, receiver: &str, outcome: &'static str) {
        self.deliveries
            .get_or_create(&vec![
                ("receiver", receiver.to_string()),
                ("outcome", outcome.to_string()),
            ])
            .inc();
    }

    /// Records the outbox's depth and the state file's size.
    pub fn record_outbox(&self, depth: crate::store::outbox::Depth, now: f64, store_bytes: u64) {
        self.outbox
            .get_or_create(&vec![("state", "pending")])
            .set(depth.pending as i64);
        self.outbox
            .get_or_create(&vec![("state", "failed")])
            .set(depth.failed as i64);
        self.outbox_oldest_age
            .set(depth.oldest_pending.map_or(0.0, |oldest| (now - oldest).max(0.0)));
        self.store_size.set(store_bytes as i64);
    }

    /// Counts a failed operation on the state file.
    pub fn record_store_error(&self) {
        self.store_errors.inc();
    }

    /// Counts a queued recommendation change of `kind`.
    pub fn record_change(&self, kind: &'static str) {
        self.changes_queued.get_or_create(&vec![("kind", kind)]).inc();
    }

    /// Counts a weekly report built.
    pub fn record_report_built(&self) {
        self.reports_built.inc();
    }

    /// Records a finished cycle.
    pub fn record_cycle(&self, report: &CycleOutcome) {
        let failed = report.has_failures();
        self.cycles
            .get_or_create(&vec![("result", if failed { "failure" } else { "success" })])
            .inc();
        self.cycle_duration.observe(report.duration_seconds);
        if !failed {
            self.last_success.set(report.evaluated_at + report.duration_seconds);
        }
        self.source_up.set(i64::from(report.source_up));
        for entity in report.models.iter().flat_map(|m| &m.entities) {
            self.series_processed
                .get_or_create(&vec![("status", entity.status.name())])
                .inc();
        }
        for (kind, count) in &report.source_errors {
            self.source_errors.get_or_create(&vec![("kind", *kind)]).inc_by(*count);
        }
        let fetch = &report.fetch;
        self.samples_fetched.inc_by(fetch.samples);
        self.source_queries
            .get_or_create(&vec![("mode", "full")])
            .inc_by(fetch.full_queries);
        self.source_queries
            .get_or_create(&vec![("mode", "incremental")])
            .inc_by(fetch.incremental_queries);
        for seconds in &fetch.query_seconds {
            self.query_duration.observe(*seconds);
        }
        self.store_errors.inc_by(fetch.cache_errors);
        self.source_annotations
            .get_or_create(&vec![("kind", "warning")])
            .inc_by(fetch.warnings);
        self.source_annotations
            .get_or_create(&vec![("kind", "info")])
            .inc_by(fetch.infos);
    }

    /// Records how many models are loaded.
    pub fn set_models_configured(&self, count: usize) {
        self.models_configured.set(count as i64);
    }

    /// Records how many result series the last cycle put on `/metrics`.
    pub fn set_result_series(&self, count: usize) {
        self.result_series.set(count as i64);
    }

    /// Records a configuration reload attempt.
    pub fn record_reload(&self, success: bool) {
        self.reloads
            .get_or_create(&vec![("result", if success { "success" } else { "failure" })])
            .inc();
    }
}

impl Default for SelfMetrics {
    fn default() -> Self {
        SelfMetrics::new()
    }
}

impl SelfMetrics {
    /// Appends the self metrics to `out` in the OpenMetrics text format.
    pub fn encode(&self, out: &mut String) {
        // Writing into a String cannot fail.
        let _ = encode_registry(out, &self.registry);
    }
}
