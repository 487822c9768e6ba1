//! Headroom's `/metrics`: forecast results per entity, and the daemon's own health.
//!
//! Results are rebuilt into a fresh registry at the end of each cycle, rendered to text once,
//! and swapped in whole, so a scrape never sees half a cycle and entities that disappeared stop
//! being exported. A scrape renders only the self metrics (a long-lived registry) and sends
//! the results text as it is, shared rather than copied: for a replica of 25,000 entities it
//! is tens of megabytes, and Prometheus scrapes every 15 to 60 seconds. Every name is documented in `docs/metrics.md`, and
//! the exposition is checked with `promtool check metrics` in the tests.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock};

use bytes::Bytes;

use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::label_names::{self, NameStyle};
use crate::outcome::{CycleOutcome, EntityStatus};
use crate::telemetry::SelfMetrics;

/// Labels Headroom itself sets on result series; an entity label with one of these names is
/// exported as `exported_<name>` instead (see [`label_names`]).
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

/// Everything `/metrics` serves.
#[derive(Debug, Default)]
pub struct Exposition {
    pub self_metrics: Arc<SelfMetrics>,
    /// The result families of the last published cycle, as text. Valid in both formats: they
    /// are all gauges without units, which the two formats write alike.
    results: RwLock<Published>,
}

/// A cycle's results as text, for classic scrapers and, when some label name is not classic,
/// for scrapers that negotiated UTF-8 names.
#[derive(Debug, Default)]
struct Published {
    classic: Bytes,
    utf8: Option<Bytes>,
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
        let render = |style: NameStyle| {
            let mut text = String::new();
            // Writing into a String cannot fail.
            let _ = encode_registry(&mut text, &results_registry(report, style));
            Bytes::from(text)
        };
        let utf8_names = report
            .models
            .iter()
            .flat_map(|m| &m.entities)
            .any(|e| e.labels.iter().any(|(name, _)| !label_names::is_classic(name)));
        let classic = render(NameStyle::Classic);
        let series = classic
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty() && l[0] != b'#')
            .count();
        self.self_metrics.set_result_series(series);
        let published = Published {
            classic,
            utf8: utf8_names.then(|| render(NameStyle::Utf8)),
        };
        match self.results.write() {
            Ok(mut guard) => *guard = published,
            Err(poisoned) => *poisoned.into_inner() = published,
        }
    }

    /// The exposition in `format`, in pieces.
    pub fn scrape(&self, negotiated: Negotiated) -> Scrape {
        let pick = |published: &Published| match (&published.utf8, negotiated.utf8_names) {
            (Some(utf8), true) => utf8.clone(),
            _ => published.classic.clone(),
        };
        let results = match self.results.read() {
            Ok(guard) => pick(&guard),
            Err(poisoned) => pick(&poisoned.into_inner()),
        };
        let format = negotiated.format;
        let mut head = String::with_capacity(8192);
        self.self_metrics.encode(&mut head);
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

    /// The exposition in `format`, classic names, as one string.
    pub fn render(&self, format: TextFormat) -> String {
        self.scrape(Negotiated {
            format,
            utf8_names: false,
        })
        .to_text()
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

/// What a scraper asked for: the format, and whether it reads UTF-8 label names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Negotiated {
    pub format: TextFormat,
    /// The chosen media type carried `escaping=allow-utf-8` (Prometheus 3).
    pub utf8_names: bool,
}

impl Negotiated {
    /// Picks from an HTTP `Accept` header as the Prometheus Go client does: the media range
    /// of highest quality that Headroom can serve, OpenMetrics when it names it, the classic
    /// text format otherwise; UTF-8 names only when that range allows them.
    pub fn from_accept(accept: Option<&str>) -> Negotiated {
        let mut best: Option<(f64, TextFormat, bool)> = None;
        for range in accept.unwrap_or("").split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or("").to_ascii_lowercase();
            let format = match media.as_str() {
                "application/openmetrics-text" => TextFormat::OpenMetrics,
                "text/plain" | "text/*" | "*/*" => TextFormat::Prometheus,
                _ => continue,
            };
            let (mut quality, mut utf8) = (1.0, false);
            for parameter in parts {
                match parameter.split_once('=').map(|(k, v)| (k.trim(), v.trim())) {
                    Some(("q", value)) => quality = value.parse().unwrap_or(0.0),
                    Some(("escaping", "allow-utf-8")) => utf8 = true,
                    _ => {}
                }
            }
            if quality > 0.0 && best.is_none_or(|(q, _, _)| quality > q) {
                best = Some((quality, format, utf8));
            }
        }
        let (_, format, utf8_names) = best.unwrap_or((1.0, TextFormat::Prometheus, false));
        Negotiated { format, utf8_names }
    }

    /// The `Content-Type` of the answer.
    pub fn content_type(self) -> &'static str {
        match (self.format, self.utf8_names) {
            (TextFormat::OpenMetrics, false) => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            (TextFormat::OpenMetrics, true) => {
                "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8"
            }
            (TextFormat::Prometheus, false) => "text/plain; version=0.0.4; charset=utf-8",
            (TextFormat::Prometheus, true) => "text/plain; version=1.0.0; charset=utf-8; escaping=allow-utf-8",
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
fn results_registry(report: &CycleOutcome, style: NameStyle) -> Registry {
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
    let entities: Family<LabelPairs, Gauge> = Family::default();
    let binding: Family<LabelPairs, Gauge> = Family::default();

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
        for state in EntityStatus::ALL {
            let count = model.entities.iter().filter(|e| e.status == state).count();
            let mut with_status = model_labels.clone();
            with_status.push(("status".into(), state.name().into()));
            entities.get_or_create(&with_status).set(count as i64);
        }
        for entity in &model.entities {
            let mut labels = model_labels.clone();
            let keys: Vec<&str> = entity.labels.iter().map(|(k, _)| k).collect();
            // `resource` tells a pool's resources apart: an entity label of that name is then
            // exported as `exported_resource`, as for the other reserved names.
            let mut reserved: Vec<&str> = RESERVED_LABELS.to_vec();
            if !entity.resources.is_empty() {
                reserved.push("resource");
            }
            let names = label_names::exposed_names(&keys, &reserved, style);
            labels.extend(names.into_iter().zip(entity.labels.iter().map(|(_, v)| v.to_string())));
            for state in EntityStatus::ALL {
                let mut with_status = labels.clone();
                with_status.push(("status".into(), state.name().into()));
                status
                    .get_or_create(&with_status)
                    .set(i64::from(entity.status == state));
            }
            // A model with several resources: what each resource measured and forecasts, told
            // apart by the `resource` label; the recommendation below is the pool's.
            let measured: Vec<(LabelPairs, &crate::outcome::EntityResult)> = if entity.resources.is_empty() {
                vec![(labels.clone(), entity)]
            } else {
                entity
                    .resources
                    .iter()
                    .map(|r| {
                        let mut with_resource = labels.clone();
                        with_resource.push(("resource".into(), r.resource.clone()));
                        (with_resource, &r.result)
                    })
                    .collect()
            };
            for (labels, result) in &measured {
                if let Some(value) = result.threshold {
                    threshold.get_or_create(labels).set(value);
                }
                if let Some(value) = result.capacity {
                    capacity.get_or_create(labels).set(value);
                }
                if let Some(value) = result.current {
                    current.get_or_create(labels).set(value);
                }
                if let Some(value) = result.forecast.as_ref().and_then(|f| f.diagnostics.backtest_mase) {
                    mase.get_or_create(labels).set(value);
                }
                for score in &result.accuracy {
                    let mut with_checkpoint = labels.clone();
                    with_checkpoint.push(("checkpoint".into(), score.checkpoint.clone()));
                    accuracy_mase.get_or_create(&with_checkpoint).set(score.mase);
                    for (level, value) in [("0.8", score.coverage_80), ("0.95", score.coverage_95)] {
                        let mut with_level = with_checkpoint.clone();
                        with_level.push(("level".into(), level.into()));
                        accuracy_coverage.get_or_create(&with_level).set(value);
                    }
                }
                if let Some(x) = result.exhaustion {
                    for (estimate, at) in [("likely", x.likely), ("earliest", x.earliest)] {
                        if let Some(at) = at {
                            let mut with_estimate = labels.clone();
                            with_estimate.push(("estimate".into(), estimate.into()));
                            exhaustion.get_or_create(&with_estimate).set(at);
                        }
                    }
                }
            }
            let bindings = std::iter::once(("baseline", entity.binding.as_ref())).chain(
                entity
                    .scenarios
                    .iter()
                    .map(|o| (o.scenario.as_str(), o.binding.as_ref())),
            );
            for (scenario, resource) in bindings {
                if let Some(resource) = resource {
                    let mut with_binding = labels.clone();
                    with_binding.push(("scenario".into(), scenario.into()));
                    with_binding.push(("resource".into(), resource.clone()));
                    binding.get_or_create(&with_binding).set(1);
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
        }
    }
    registry.register(
        "headroom_binding_resource",
        "Always 1, for an entity of a model with several resources: the resource that binds (crosses its threshold first, or else needs the most units), per scenario",
        binding,
    );
    registry.register(
        "headroom_exhaustion_timestamp_seconds",
        "Unix time at which the entity is forecast to cross its threshold (estimate=likely: expected path; estimate=earliest: pessimistic 95% bound); absent when no crossing within the horizon",
        exhaustion,
    );
    registry.register("headroom_forecast_status", "1 for the entity's forecast status of the last cycle (ok, insufficient_history, no_data, stale, missing, error), 0 for the others", status);
    registry.register(
        "headroom_entities",
        "Entities of the model in the last cycle, by status (stale: series that ended; missing: absent from the last answer)",
        entities,
    );
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
    let scenario_entities: Family<LabelPairs, Gauge> = Family::default();
    for reach in &report.scenarios {
        for (kind, count) in [("matched", reach.entities_matched), ("changed", reach.entities_changed)] {
            scenario_entities
                .get_or_create(&vec![
                    ("scenario".to_string(), reach.name.clone()),
                    ("reach".to_string(), kind.to_string()),
                ])
                .set(count as i64);
        }
    }
    registry.register(
        "headroom_scenario_entities",
        "Entities a configured scenario reached in the last cycle (reach=matched: selected by its models, labels or drivers; changed: whose forecast it changes within the horizon, the only ones with per-scenario result series)",
        scenario_entities,
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
        exposition.publish(&crate::test_util::cycle());
        let openmetrics = exposition.scrape(Negotiated {
            format: TextFormat::OpenMetrics,
            utf8_names: false,
        });
        let results = String::from_utf8(openmetrics.results.to_vec()).expect("utf-8");
        assert!(results.contains("headroom_runway_seconds{"), "{results}");
        // Sent as published in both formats: that holds only while result families are
        // gauges without units.
        assert_eq!(to_prometheus_text(&results), results);
        assert!(openmetrics.to_text().ends_with("# EOF\n"));
        let classic = exposition.render(TextFormat::Prometheus);
        assert!(classic.contains(&results) && !classic.contains("# EOF"));
        // A new cycle replaces the results whole.
        let mut empty = crate::test_util::cycle();
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
        let format = |accept: Option<&str>| Negotiated::from_accept(accept).format;
        assert_eq!(format(Some(prometheus)), TextFormat::OpenMetrics);
        assert_eq!(format(Some("*/*")), TextFormat::Prometheus);
        assert_eq!(format(None), TextFormat::Prometheus);
        assert!(!Negotiated::from_accept(Some(prometheus)).utf8_names);
        // Prometheus 3 with UTF-8 names: the OpenMetrics range it prefers allows them.
        let prometheus3 = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1";
        let negotiated = Negotiated::from_accept(Some(prometheus3));
        assert_eq!(negotiated.format, TextFormat::OpenMetrics);
        assert!(negotiated.utf8_names && negotiated.content_type().contains("escaping=allow-utf-8"));
        // The highest quality wins, wherever it stands.
        let text_first = "application/openmetrics-text;q=0.2,text/plain;version=0.0.4;q=0.9";
        assert_eq!(format(Some(text_first)), TextFormat::Prometheus);
    }
}
