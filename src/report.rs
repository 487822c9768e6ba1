//! Printing a cycle for people (a table) and for programs (JSON).

use std::fmt::Write;

use crate::format;
use crate::outcome::{BudgetLine, CycleOutcome, EntityStatus, budget, most_urgent_first};

/// The JSON document `headroom once --format json` prints (schema version 1).
pub fn to_json(report: &CycleOutcome) -> serde_json::Value {
    let models: Vec<serde_json::Value> = report
        .models
        .iter()
        .map(|model| {
            let entities: Vec<serde_json::Value> = model
                .entities
                .iter()
                .map(|e| {
                    let forecast = e.forecast.as_ref().map(|f| {
                        let end = f.at_horizon();
                        serde_json::json!({
                            "method": f.diagnostics.method.name(),
                            "seasonal_mode": f.diagnostics.seasonal_mode,
                            "seasonal_periods_seconds": f.diagnostics.periods_secs,
                            "trend_per_day": f.diagnostics.trend_per_day,
                            "seasonal_amplitude": f.diagnostics.seasonal_amplitude,
                            "regime_start": f.diagnostics.regime_start,
                            "backtest_mase": f.diagnostics.backtest_mase,
                            "history_points": f.diagnostics.history_points,
                            "observed_points": f.diagnostics.observed_points,
                            "horizon_end": f.horizon_end,
                            "at_horizon": {
                                "likely": end.map(|p| p.mean),
                                "lower_95": end.map(|p| p.lower_95),
                                "upper_95": end.map(|p| p.upper_95),
                            },
                        })
                    });
                    serde_json::json!({
                        "labels": e.labels,
                        "status": e.status.name(),
                        "reason": e.reason,
                        "current": e.current,
                        "capacity": e.capacity,
                        "threshold": e.threshold,
                        "exhaustion": e.exhaustion.map(|x| serde_json::json!({
                            "likely": x.likely,
                            "earliest": x.earliest,
                            "exceeded_now": x.exceeded_now,
                        })),
                        "forecast": forecast,
                        "team": e.team,
                        "recommendation": e.recommendation,
                        "scenarios": e.scenarios,
                        "driver": e.driver,
                        "driver_used": e.driver_used,
                        "driver_problem": e.driver_problem,
                    })
                })
                .collect();
            serde_json::json!({
                "model": model.model,
                "unit": model.unit,
                "error": model.error,
                "entities": entities,
            })
        })
        .collect();
    serde_json::json!({
        "schema_version": 1,
        "scenario": report.scenario.as_deref().unwrap_or("baseline"),
        "budget": budget(report),
        "evaluated_at": report.evaluated_at,
        "duration_seconds": report.duration_seconds,
        "source": report.source,
        "source_up": report.source_up,
        "models": models,
    })
}

/// The recommendations of a cycle as `GET /api/v1/recommendations` serves them: one entry
/// per planned entity, most urgent first, optionally filtered by model, team and urgency.
pub fn recommendations_json(report: &CycleOutcome, filter: &RecommendationFilter) -> serde_json::Value {
    let mut entries: Vec<(&crate::outcome::ModelOutcome, &crate::outcome::EntityResult)> = report
        .models
        .iter()
        .filter(|m| filter.model.as_deref().is_none_or(|name| name == m.model))
        .flat_map(|m| m.entities.iter().map(move |e| (m, e)))
        .filter(|(_, e)| {
            filter
                .team
                .as_deref()
                .is_none_or(|team| e.team.as_deref() == Some(team))
        })
        .filter(|(_, e)| {
            filter
                .urgency
                .as_deref()
                .is_none_or(|u| e.recommendation.as_ref().is_some_and(|r| r.urgency.name() == u))
        })
        .filter(|(_, e)| e.recommendation.is_some())
        .collect();
    entries.sort_by(|(_, a), (_, b)| most_urgent_first(a, b));
    let items: Vec<serde_json::Value> = entries
        .into_iter()
        .map(|(m, e)| {
            serde_json::json!({
                "model": m.model,
                "unit": m.unit,
                "team": e.team,
                "labels": e.labels,
                "current": e.current,
                "capacity": e.capacity,
                "threshold": e.threshold,
                "recommendation": e.recommendation,
            })
        })
        .collect();
    serde_json::json!({
        "schema_version": 1,
        "evaluated_at": report.evaluated_at,
        "scenario": report.scenario.as_deref().unwrap_or("baseline"),
        "recommendations": items,
    })
}

/// The budget as CSV, one row per month: `scenario,model,team,currency,month,cost`.
pub fn budget_csv(lines: &[BudgetLine]) -> String {
    let mut out = String::from("scenario,model,team,currency,month,cost\n");
    for line in lines {
        for (month, cost) in &line.months {
            let _ = writeln!(
                out,
                "{},{},{},{},{month},{cost:.2}",
                csv_field(&line.scenario),
                csv_field(&line.model),
                csv_field(line.team.as_deref().unwrap_or("")),
                csv_field(&line.currency),
            );
        }
    }
    out
}

/// A CSV field, quoted when it holds a comma, quote or line break.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// Filters of `GET /api/v1/recommendations`; unknown query keys are refused.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecommendationFilter {
    pub model: Option<String>,
    pub team: Option<String>,
    /// `ok`, `warning` or `critical`.
    pub urgency: Option<String>,
    /// `baseline` (the default) or a configured scenario's name.
    pub scenario: Option<String>,
}

/// A plain-text table, one block per model, entities sorted by earliest exhaustion.
pub fn to_table(report: &CycleOutcome) -> String {
    let mut out = String::new();
    let now = report.evaluated_at;
    let _ = writeln!(out, "Headroom forecast at {} from {}", format::time(now), report.source);
    for model in &report.models {
        let _ = writeln!(out);
        if let Some(error) = &model.error {
            let _ = writeln!(out, "{}: FAILED: {error}", model.model);
            continue;
        }
        let _ = writeln!(
            out,
            "{} ({} entities, unit: {})",
            model.model,
            model.entities.len(),
            if model.unit.is_empty() { "-" } else { &model.unit }
        );
        let mut rows: Vec<_> = model.entities.iter().collect();
        rows.sort_by(|a, b| most_urgent_first(a, b));
        let header = [
            "ENTITY",
            "STATUS",
            "URGENCY",
            "NOW",
            "THRESHOLD",
            "LIKELY EXHAUSTION",
            "EARLIEST",
            "ORDER BY",
            "UNITS",
            "METHOD",
            "MASE",
        ];
        const COLUMNS: usize = 11;
        let mut table: Vec<[String; COLUMNS]> = vec![header.map(String::from)];
        for e in rows {
            let (likely, earliest) = match e.exhaustion {
                Some(x) if x.exceeded_now => ("exceeded now".to_string(), "exceeded now".to_string()),
                Some(x) => (format::relative(x.likely, now), format::relative(x.earliest, now)),
                None => ("-".into(), "-".into()),
            };
            let status = match e.status {
                EntityStatus::Ok => "ok".to_string(),
                other => other.name().to_string(),
            };
            let recommendation = e.recommendation.as_ref();
            let urgency = recommendation.map_or("-", |r| r.urgency.name()).to_string();
            let order_by = recommendation
                .and_then(|r| r.order_by)
                .map_or("-".to_string(), |t| format::relative(Some(t), now));
            let units = recommendation
                .and_then(|r| r.units.as_ref())
                .map_or("-".to_string(), |u| match u.change {
                    0 => format!("{} (keep)", u.needed),
                    c => format!("{} ({c:+})", u.needed),
                });
            table.push([
                entity_name(&e.labels),
                status,
                urgency,
                e.current.map(format::number).unwrap_or_else(|| "-".into()),
                e.threshold.map(format::number).unwrap_or_else(|| "-".into()),
                likely,
                earliest,
                order_by,
                units,
                e.forecast
                    .as_ref()
                    .map(|f| f.diagnostics.method.name().to_string())
                    .unwrap_or_else(|| "-".into()),
                e.forecast
                    .as_ref()
                    .and_then(|f| f.diagnostics.backtest_mase)
                    .map(|m| format!("{m:.2}"))
                    .unwrap_or_else(|| "-".into()),
            ]);
        }
        let widths: Vec<usize> = (0..COLUMNS)
            .map(|c| table.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
            .collect();
        for row in &table {
            let line: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
            let _ = writeln!(out, "  {}", line.join("  ").trim_end());
        }
        for e in model.entities.iter().filter(|e| e.reason.is_some()) {
            let _ = writeln!(
                out,
                "  note: {}: {}",
                entity_name(&e.labels),
                e.reason.as_deref().unwrap_or_default()
            );
        }
    }
    out
}

/// A short name for an entity: its label values, joined.
fn entity_name(labels: &crate::series::Labels) -> String {
    if labels.is_empty() {
        return "(all)".into();
    }
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}
