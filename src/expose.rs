//! Headroom's `/metrics`: forecast results per entity, and the daemon's own health.
//!
//! Results are rebuilt into a fresh registry at the end of each cycle, rendered to text once,
//! and swapped in whole, so a scrape never sees half a cycle and entities that disappeared stop
//! being exported. A scrape renders only the self metrics (a long-lived registry) and sends
//! the results text as it is, shared rather than copied: for a replica of 25,000 entities it
//! is tens of megabytes, and Prometheus scrapes every 15 to 60 seconds. Every name is documented in `docs/metrics.md`, and
//! the exposition is checked with `promtool check metrics` in the tests.

use std::sync::RwLock;
use std::sync::atomic::AtomicU64;

use bytes::Bytes;

use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::outcome::{CycleOutcome, EntityStatus};

/// Labels Headroom itself sets on result series; an entity label with one of these names is
/// exported as `exported_<name>` instead.
const RESERVED_LABELS: [&str; 9] = [
    "model",
    "estimate",
    "status",
    "unit",
    "state",
    "currency",
    "scenario",
    "checkpoint",
    "level",
];

type LabelPairs = Vec<(String, String)>;
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
        let scrape_samples = Counter::default();
        registry.register(
            "headroom_scrape_samples",
            "Samples read from exporters by the scrape source",
            scrape_samples.clone(),
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
        }
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
        self.source_queries
            .get_or_create(&vec![("mode", "latest")])
            .inc_by(fetch.latest_queries);
        for seconds in &fetch.query_seconds {
            self.query_duration.observe(*seconds);
        }
        self.store_errors.inc_by(fetch.cache_errors);
    }

    /// Records how many models are loaded.
    pub fn set_models_configured(&self, count: usize) {
        self.models_configured.set(count as i64);
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

/// Everything `/metrics` serves.
#[derive(Debug, Default)]
pub struct Exposition {
    pub self_metrics: SelfMetrics,
    /// The result families of the last published cycle, as text. Valid in both formats: they
    /// are all gauges without units, which the two formats write alike.
    results: RwLock<Bytes>,
}

/// One `/metrics` answer, in pieces: the self metrics rendered now, the results as published
/// (shared with every other scrape), and the format's ending.
pub struct Scrape {
    pub head: Bytes,
    pub results: Bytes,
    pub tail: Bytes,
}

impl Scrape {
    /// The pieces, in order, for a streamed body.
    pub fn into_chunks(self) -> [Bytes; 3] {
        [self.head, self.results, self.tail]
    }

    /// The whole answer as one string (tests and tools; the server streams the pieces).
    pub fn to_text(&self) -> String {
        [&self.head, &self.results, &self.tail]
            .iter()
            .map(|b| String::from_utf8_lossy(b))
            .collect()
    }
}

impl Exposition {
    /// Replaces the result metrics with those of `report`.
    pub fn publish(&self, report: &CycleOutcome) {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode_registry(&mut text, &results_registry(report));
        let text = Bytes::from(text);
        match self.results.write() {
            Ok(mut guard) => *guard = text,
            Err(poisoned) => *poisoned.into_inner() = text,
        }
    }

    /// The exposition in `format`, in pieces.
    pub fn scrape(&self, format: TextFormat) -> Scrape {
        let results = match self.results.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        let mut head = String::with_capacity(8192);
        let _ = encode_registry(&mut head, &self.self_metrics.registry);
        let (head, tail) = match format {
            TextFormat::OpenMetrics => {
                let mut tail = String::new();
                let _ = encode_eof(&mut tail);
                (head, tail)
            }
            TextFormat::Prometheus => (to_prometheus_text(&head), String::new()),
        };
        Scrape {
            head: Bytes::from(head),
            results,
            tail: Bytes::from(tail),
        }
    }

    /// The exposition in `format` as one string.
    pub fn render(&self, format: TextFormat) -> String {
        self.scrape(format).to_text()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_text_names_counters_with_total() {
        let exposition = Exposition::default();
        exposition.self_metrics.record_reload(true);
        let text = exposition.render(TextFormat::Prometheus);
        assert!(text.contains("# TYPE headroom_config_reloads_total counter"), "{text}");
        assert!(
            text.contains("headroom_config_reloads_total{result=\"success\"} 1"),
            "{text}"
        );
        assert!(!text.contains("# EOF"));
        let openmetrics = exposition.render(TextFormat::OpenMetrics);
        assert!(openmetrics.contains("# TYPE headroom_config_reloads counter") && openmetrics.ends_with("# EOF\n"));
    }

    #[test]
    fn published_results_are_served_alike_in_both_formats() {
        let exposition = Exposition::default();
        exposition.publish(&crate::weekly::tests::cycle());
        let openmetrics = exposition.scrape(TextFormat::OpenMetrics);
        let results = String::from_utf8(openmetrics.results.to_vec()).expect("utf-8");
        assert!(results.contains("headroom_runway_seconds{"), "{results}");
        // Sent as published in both formats: that holds only while result families are
        // gauges without units.
        assert_eq!(to_prometheus_text(&results), results);
        assert!(openmetrics.to_text().ends_with("# EOF\n"));
        let classic = exposition.render(TextFormat::Prometheus);
        assert!(classic.contains(&results) && !classic.contains("# EOF"));
        // A new cycle replaces the results whole.
        let mut empty = crate::weekly::tests::cycle();
        empty.models.clear();
        exposition.publish(&empty);
        assert!(
            !exposition
                .render(TextFormat::Prometheus)
                .contains("headroom_runway_seconds{")
        );
    }

    #[test]
    fn negotiation_follows_the_accept_header() {
        let prometheus = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";
        assert_eq!(TextFormat::negotiate(Some(prometheus)), TextFormat::OpenMetrics);
        assert_eq!(TextFormat::negotiate(Some("*/*")), TextFormat::Prometheus);
        assert_eq!(TextFormat::negotiate(None), TextFormat::Prometheus);
    }
}

/// The two text formats `/metrics` can serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextFormat {
    /// OpenMetrics 1.0 (what Prometheus asks for first).
    OpenMetrics,
    /// The classic Prometheus text format 0.0.4 (curl, promtool, older scrapers).
    Prometheus,
}

impl TextFormat {
    /// Picks the format from an HTTP `Accept` header, as the Prometheus Go client does.
    pub fn negotiate(accept: Option<&str>) -> TextFormat {
        match accept {
            Some(accept) if accept.contains("application/openmetrics-text") => TextFormat::OpenMetrics,
            _ => TextFormat::Prometheus,
        }
    }

    /// The `Content-Type` of this format.
    pub fn content_type(self) -> &'static str {
        match self {
            TextFormat::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            TextFormat::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
        }
    }
}

/// Converts OpenMetrics text to the classic format: counter families are named with their
/// `_total` suffix in `# HELP`/`# TYPE`, and the `# EOF` and `# UNIT` lines go.
fn to_prometheus_text(openmetrics: &str) -> String {
    let lines: Vec<&str> = openmetrics.lines().collect();
    let counters: std::collections::HashSet<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in lines {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters.contains(name).then(|| format!("{prefix}{name}_total {tail}"))
        });
        match renamed {
            Some(line) => out.push_str(&line),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// The result metrics of one cycle.
fn results_registry(report: &CycleOutcome) -> Registry {
    let mut registry = Registry::default();
    let exhaustion: Family<LabelPairs, GaugeF64> = Family::default();
    let status: Family<LabelPairs, Gauge> = Family::default();
    let threshold: Family<LabelPairs, GaugeF64> = Family::default();
    let capacity: Family<LabelPairs, GaugeF64> = Family::default();
    let current: Family<LabelPairs, GaugeF64> = Family::default();
    let mase: Family<LabelPairs, GaugeF64> = Family::default();
    let accuracy_mase: Family<LabelPairs, GaugeF64> = Family::default();
    let accuracy_coverage: Family<LabelPairs, GaugeF64> = Family::default();
    let model_up: Family<LabelPairs, Gauge> = Family::default();
    let model_info: Family<LabelPairs, Gauge> = Family::default();
    let model_duration: Family<LabelPairs, GaugeF64> = Family::default();
    let results_from: Family<LabelPairs, GaugeF64> = Family::default();
    let urgency: Family<LabelPairs, Gauge> = Family::default();
    let order_by: Family<LabelPairs, GaugeF64> = Family::default();
    let units_change: Family<LabelPairs, Gauge> = Family::default();
    let monthly_cost: Family<LabelPairs, GaugeF64> = Family::default();
    let runway: Family<LabelPairs, GaugeF64> = Family::default();
    let budget: Family<LabelPairs, GaugeF64> = Family::default();

    for model in &report.models {
        let model_labels = vec![("model".to_string(), model.model.clone())];
        let team = model.entities.iter().find_map(|e| e.team.clone()).unwrap_or_default();
        model_info
            .get_or_create(&vec![
                ("model".to_string(), model.model.clone()),
                ("team".to_string(), team),
                ("unit".to_string(), model.unit.clone()),
            ])
            .set(1);
        model_up
            .get_or_create(&model_labels)
            .set(i64::from(model.error.is_none()));
        model_duration.get_or_create(&model_labels).set(model.duration_seconds);
        if let Some(at) = model.results_from {
            results_from.get_or_create(&model_labels).set(at);
        }
        for entity in &model.entities {
            let mut labels = model_labels.clone();
            labels.extend(entity.labels.iter().map(|(k, v)| {
                let name = if RESERVED_LABELS.contains(&k) {
                    format!("exported_{k}")
                } else {
                    k.to_string()
                };
                (name, v.to_string())
            }));
            for state in EntityStatus::ALL {
                let mut with_status = labels.clone();
                with_status.push(("status".into(), state.name().into()));
                status
                    .get_or_create(&with_status)
                    .set(i64::from(entity.status == state));
            }
            if let Some(value) = entity.threshold {
                threshold.get_or_create(&labels).set(value);
            }
            if let Some(value) = entity.capacity {
                capacity.get_or_create(&labels).set(value);
            }
            if let Some(value) = entity.current {
                current.get_or_create(&labels).set(value);
            }
            if let Some(value) = entity.forecast.as_ref().and_then(|f| f.diagnostics.backtest_mase) {
                mase.get_or_create(&labels).set(value);
            }
            for score in &entity.accuracy {
                let mut with_checkpoint = labels.clone();
                with_checkpoint.push(("checkpoint".into(), score.checkpoint.clone()));
                accuracy_mase.get_or_create(&with_checkpoint).set(score.mase);
                for (level, value) in [("0.8", score.coverage_80), ("0.95", score.coverage_95)] {
                    let mut with_level = with_checkpoint.clone();
                    with_level.push(("level".into(), level.into()));
                    accuracy_coverage.get_or_create(&with_level).set(value);
                }
            }
            // The baseline and every scenario, told apart by the `scenario` label.
            for (scenario, recommendation) in entity.recommendations_by_scenario() {
                let Some(r) = recommendation else { continue };
                let mut labels = labels.clone();
                labels.push(("scenario".into(), scenario.into()));
                urgency.get_or_create(&labels).set(match r.urgency {
                    crate::recommend::Urgency::Ok => 0,
                    crate::recommend::Urgency::Warning => 1,
                    crate::recommend::Urgency::Critical => 2,
                });
                if let Some(t) = r.order_by {
                    order_by.get_or_create(&labels).set(t);
                }
                for (estimate, days) in [("likely", r.runway_days), ("earliest", r.earliest_runway_days)] {
                    if let Some(days) = days {
                        let mut with_estimate = labels.clone();
                        with_estimate.push(("estimate".into(), estimate.into()));
                        runway.get_or_create(&with_estimate).set(days * 86_400.0);
                    }
                }
                if let Some(u) = &r.units {
                    units_change.get_or_create(&labels).set(u.change);
                }
                if let Some(c) = &r.cost {
                    for (state, value) in [("current", c.monthly_current), ("recommended", c.monthly_recommended)] {
                        let mut with_state = labels.clone();
                        with_state.push(("state".into(), state.into()));
                        with_state.push(("currency".into(), c.currency.clone()));
                        monthly_cost.get_or_create(&with_state).set(value);
                    }
                }
            }
            if let Some(x) = entity.exhaustion {
                for (estimate, at) in [("likely", x.likely), ("earliest", x.earliest)] {
                    if let Some(at) = at {
                        let mut with_estimate = labels.clone();
                        with_estimate.push(("estimate".into(), estimate.into()));
                        exhaustion.get_or_create(&with_estimate).set(at);
                    }
                }
            }
        }
    }
    registry.register(
        "headroom_exhaustion_timestamp_seconds",
        "Unix time at which the entity is forecast to cross its threshold (estimate=likely: expected path; estimate=earliest: pessimistic 95% bound); absent when no crossing within the horizon",
        exhaustion,
    );
    registry.register("headroom_forecast_status", "1 for the entity's forecast status of the last cycle (ok, insufficient_history, no_data, error), 0 for the others", status);
    registry.register(
        "headroom_threshold",
        "The entity's exhaustion threshold, in the model's unit",
        threshold,
    );
    registry.register(
        "headroom_capacity",
        "The entity's capacity, in the model's unit",
        capacity,
    );
    registry.register(
        "headroom_usage_last",
        "The last observed value of the entity's usage series, in the model's unit",
        current,
    );
    registry.register(
        "headroom_forecast_accuracy_mase",
        "How wrong the latest scored past forecast was at the checkpoint (1d, 7d after it was made): mean absolute error over the scale of repeating yesterday",
        accuracy_mase,
    );
    registry.register(
        "headroom_forecast_interval_coverage",
        "Share of actual values that fell inside the latest scored past forecast's interval at the given level, up to the checkpoint",
        accuracy_coverage,
    );
    registry.register("headroom_forecast_backtest_mase", "Backtest error of the chosen forecasting method, scaled by the daily seasonal-naive error (MASE; below 1 beats repeating yesterday)", mase);
    registry.register(
        "headroom_model_info",
        "Always 1; the team owning the model and its unit, to join onto per-entity series (runway by team)",
        model_info,
    );
    registry.register(
        "headroom_model_up",
        "1 if the model's queries succeeded in the last cycle, else 0",
        model_up,
    );
    registry.register(
        "headroom_model_duration_seconds",
        "Wall time spent on the model in the last cycle",
        model_duration,
    );
    registry.register(
        "headroom_recommendation_urgency",
        "How soon to act: 0 ok, 1 warning (order-by date within 30 days), 2 critical (order-by date passed or within 7 days, or limit exceeded)",
        urgency,
    );
    registry.register(
        "headroom_order_by_timestamp_seconds",
        "Unix time by which to order capacity: the earliest exhaustion minus the model's lead time",
        order_by,
    );
    registry.register(
        "headroom_recommended_units_change",
        "Scaling units to add (positive) or remove (negative) to keep the pessimistic peak under the target utilisation over the horizon",
        units_change,
    );
    for line in crate::outcome::budget(report) {
        for (month, cost) in &line.months {
            let labels = vec![
                ("model".to_string(), line.model.clone()),
                ("team".to_string(), line.team.clone().unwrap_or_default()),
                ("scenario".to_string(), line.scenario.clone()),
                ("currency".to_string(), line.currency.clone()),
                ("month".to_string(), month.clone()),
            ];
            budget.get_or_create(&labels).set(*cost);
        }
    }
    registry.register(
        "headroom_runway_seconds",
        "Seconds from the cycle's evaluation to the crossing (estimate=likely: expected path; earliest: pessimistic 95 % bound), per scenario; absent when nothing crosses within the horizon",
        runway,
    );
    registry.register(
        "headroom_budget_monthly_cost",
        "Projected cost of a model's capacity for one calendar month (month=YYYY-MM, the next 12), summed over its entities per team, scenario and currency",
        budget,
    );
    registry.register(
        "headroom_monthly_cost",
        "Monthly cost of the entity's capacity in its currency (state=current: today's units; state=recommended: after the recommendation)",
        monthly_cost,
    );
    registry.register(
        "headroom_model_results_timestamp_seconds",
        "Unix time of the cycle the model's results come from; older than the last cycle when the model failed since and its last good results are kept",
        results_from,
    );
    let evaluated: GaugeF64 = Gauge::default();
    evaluated.set(report.evaluated_at);
    registry.register(
        "headroom_cycle_evaluated_timestamp_seconds",
        "The Unix time the last cycle planned from",
        evaluated,
    );
    registry
}
