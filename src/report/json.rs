//! A cycle for programs: the JSON of `headroom once --format json`, `/api/v1/cycle`,
//! `/api/v1/recommendations` and `headroom budget --format json`.
//!
//! These documents are public API. They are built from dedicated output types here, never by
//! serialising the core's types, so a change inside the engine cannot change them by
//! accident. Each carries `schema_version` and is described by a JSON Schema in
//! `docs/schemas/`, which the tests validate real outputs against. Times are Unix seconds,
//! values are in the model's unit, and a field that does not apply is `null`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::forecast::SeasonalMode;
use crate::forecast::accuracy::Score;
use crate::outcome::{
    BudgetLine, CycleOutcome, EntityResult, ModelOutcome, ScenarioOutcome, budget, most_urgent_first,
};
use crate::recommend::exhaustion::Exhaustion;
use crate::recommend::{Cost, Recommendation, Units};
use crate::scenario::driver::DriverFit;

/// The version of every document here; raised when a field changes meaning or goes away
/// (adding a field does not raise it).
pub const SCHEMA_VERSION: u32 = 1;

/// A whole cycle: `once --format json` and `/api/v1/cycle` (`docs/schemas/cycle.schema.json`).
#[derive(Debug, Serialize)]
pub struct CycleDocument {
    pub schema_version: u32,
    /// `baseline`, or the scenario this document shows.
    pub scenario: String,
    /// The configured scenarios and how many entities each reached. An entity's `scenarios`
    /// holds only those that change its forecast; elsewhere the baseline is the scenario's
    /// answer.
    pub scenarios: Vec<ScenarioReachDocument>,
    pub evaluated_at: f64,
    pub duration_seconds: f64,
    pub source: String,
    pub source_up: bool,
    pub budget: Vec<BudgetDocumentLine>,
    pub models: Vec<ModelDocument>,
}

/// A configured scenario and how many entities it reached in the cycle.
#[derive(Debug, Serialize)]
pub struct ScenarioReachDocument {
    pub name: String,
    /// Entities one of its changes selects (by model, labels or driver).
    pub entities_matched: usize,
    /// Entities whose forecast it changes within the horizon.
    pub entities_changed: usize,
}

/// One model of a cycle.
#[derive(Debug, Serialize)]
pub struct ModelDocument {
    pub model: String,
    pub unit: String,
    /// Why the whole model failed in this cycle (its entities are then the last good ones).
    pub error: Option<String>,
    /// Unix seconds of the cycle the entities come from.
    pub results_from: Option<f64>,
    pub entities: Vec<EntityDocument>,
}

/// One entity of a model.
#[derive(Debug, Serialize)]
pub struct EntityDocument {
    pub labels: BTreeMap<String, String>,
    /// `ok`, `insufficient_history`, `no_data`, `stale`, `missing` or `error`.
    pub status: &'static str,
    pub reason: Option<String>,
    pub team: Option<String>,
    pub current: Option<f64>,
    /// Unix seconds of the last finite sample in the history window.
    pub last_sample: Option<f64>,
    pub capacity: Option<f64>,
    pub threshold: Option<f64>,
    pub exhaustion: Option<ExhaustionDocument>,
    pub forecast: Option<ForecastDocument>,
    pub recommendation: Option<RecommendationDocument>,
    pub scenarios: Vec<ScenarioDocument>,
    pub driver: Option<DriverDocument>,
    pub driver_used: bool,
    pub driver_problem: Option<String>,
    pub accuracy: Vec<AccuracyDocument>,
    /// The unit of `current`, `capacity`, `threshold` and the forecast when it is not the
    /// model's (a model with several resources: the binding resource's); `null` otherwise.
    pub unit: Option<String>,
    /// For a model with several resources: the resource that binds (see `resources`).
    pub binding: Option<String>,
    /// For a model with several resources: each resource planned alone, in the model file's
    /// order; empty for a model with one.
    pub resources: Vec<ResourceDocument>,
}

/// One resource of an entity of a model with several: the entity's fields for that resource
/// alone (its `unit` always set), and its name.
#[derive(Debug, Serialize)]
pub struct ResourceDocument {
    pub resource: String,
    #[serde(flatten)]
    pub result: EntityDocument,
}

/// When the threshold is crossed.
#[derive(Debug, Serialize)]
pub struct ExhaustionDocument {
    /// First crossing of the expected path within the horizon.
    pub likely: Option<f64>,
    /// First crossing of the pessimistic 95 % bound within the horizon.
    pub earliest: Option<f64>,
    /// The last value is already past the threshold.
    pub exceeded_now: bool,
}

/// How the forecast was made, and where it ends.
#[derive(Debug, Serialize)]
pub struct ForecastDocument {
    /// The method chosen (`docs/forecasting.md` lists them).
    pub method: &'static str,
    /// `additive` or `multiplicative`.
    pub seasonal_mode: &'static str,
    pub seasonal_periods_seconds: Vec<f64>,
    pub trend_per_day: f64,
    pub seasonal_amplitude: f64,
    pub regime_start: Option<f64>,
    pub backtest_mase: Option<f64>,
    pub history_points: usize,
    pub observed_points: usize,
    pub horizon_end: f64,
    pub at_horizon: AtHorizonDocument,
}

/// The forecast at its last step.
#[derive(Debug, Serialize)]
pub struct AtHorizonDocument {
    pub likely: Option<f64>,
    pub lower_95: Option<f64>,
    pub upper_95: Option<f64>,
}

/// What to do (`docs/recommendations.md`).
#[derive(Debug, Serialize)]
pub struct RecommendationDocument {
    /// `ok`, `warning` or `critical`.
    pub urgency: &'static str,
    pub runway_days: Option<f64>,
    pub earliest_runway_days: Option<f64>,
    pub order_by: Option<f64>,
    pub lead_time_days: f64,
    pub horizon_end: f64,
    pub peak_expected: f64,
    pub peak_pessimistic: f64,
    pub capacity_needed: Option<f64>,
    pub target_utilization: f64,
    pub units: Option<UnitsDocument>,
    pub cost: Option<CostDocument>,
    pub justification: Vec<String>,
    pub caveats: Vec<String>,
}

/// Scaling units now and needed.
#[derive(Debug, Serialize)]
pub struct UnitsDocument {
    pub current: f64,
    pub needed: u32,
    pub change: i64,
    pub unit_name: String,
    pub unit_size: f64,
}

/// Monthly cost now and as recommended, and the 12-month projection.
#[derive(Debug, Serialize)]
pub struct CostDocument {
    pub currency: String,
    pub monthly_current: f64,
    pub monthly_recommended: f64,
    pub projection: Vec<MonthDocument>,
}

/// One month of a cost projection.
#[derive(Debug, Serialize)]
pub struct MonthDocument {
    /// `YYYY-MM`.
    pub month: String,
    pub units: u32,
    pub cost: f64,
    /// `forecast`: sized on the forecast's own peak in the month; `trend`: the month reaches
    /// past the forecast horizon, sized on the horizon's peak moved along the trend.
    pub basis: &'static str,
}

/// The entity under one scenario.
#[derive(Debug, Serialize)]
pub struct ScenarioDocument {
    pub scenario: String,
    /// For a model with several resources, the resource that binds under the scenario.
    pub binding: Option<String>,
    pub exhaustion: Option<ExhaustionDocument>,
    pub recommendation: Option<RecommendationDocument>,
}

/// The fit of the resource to its business driver.
#[derive(Debug, Serialize)]
pub struct DriverDocument {
    pub name: String,
    pub intercept: f64,
    pub slope: f64,
    pub r_squared: f64,
    pub residual_std: f64,
    pub points: usize,
}

/// How right a past forecast of this entity was at one checkpoint.
#[derive(Debug, Serialize)]
pub struct AccuracyDocument {
    /// `1d` or `7d`.
    pub checkpoint: String,
    pub made_at: f64,
    pub mase: f64,
    pub coverage_80: f64,
    pub coverage_95: f64,
    pub points: usize,
    pub predicted: f64,
    pub actual: f64,
    pub at: f64,
}

/// One line of the budget: a model and team's projected monthly cost under one scenario.
#[derive(Debug, Serialize)]
pub struct BudgetDocumentLine {
    pub scenario: String,
    pub model: String,
    pub team: Option<String>,
    pub currency: String,
    /// `[YYYY-MM, cost]` for the next 12 months.
    pub months: Vec<(String, f64)>,
    pub total: f64,
}

/// `headroom budget --format json` (`docs/schemas/budget.schema.json`).
#[derive(Debug, Serialize)]
pub struct BudgetDocument {
    pub schema_version: u32,
    pub evaluated_at: f64,
    pub budget: Vec<BudgetDocumentLine>,
}

/// `GET /api/v1/recommendations` (`docs/schemas/recommendations.schema.json`).
#[derive(Debug, Serialize)]
pub struct RecommendationsDocument {
    pub schema_version: u32,
    pub evaluated_at: f64,
    pub scenario: String,
    pub recommendations: Vec<RecommendationEntry>,
}

/// One entity's recommendation, with what it was computed from.
#[derive(Debug, Serialize)]
pub struct RecommendationEntry {
    pub model: String,
    pub unit: String,
    pub team: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub current: Option<f64>,
    pub capacity: Option<f64>,
    pub threshold: Option<f64>,
    /// For a model with several resources: the resource that binds (`unit`, `current`,
    /// `capacity` and `threshold` are its).
    pub binding: Option<String>,
    pub recommendation: RecommendationDocument,
}

/// The document `once --format json` prints and `/api/v1/cycle` serves.
pub fn cycle(outcome: &CycleOutcome) -> CycleDocument {
    CycleDocument {
        schema_version: SCHEMA_VERSION,
        scenario: scenario_name(outcome),
        scenarios: outcome
            .scenarios
            .iter()
            .map(|s| ScenarioReachDocument {
                name: s.name.clone(),
                entities_matched: s.entities_matched,
                entities_changed: s.entities_changed,
            })
            .collect(),
        evaluated_at: outcome.evaluated_at,
        duration_seconds: outcome.duration_seconds,
        source: outcome.source.clone(),
        source_up: outcome.source_up,
        budget: budget_lines(&budget(outcome)),
        models: outcome.models.iter().map(model).collect(),
    }
}

/// The budget document.
pub fn budget_document(outcome: &CycleOutcome) -> BudgetDocument {
    BudgetDocument {
        schema_version: SCHEMA_VERSION,
        evaluated_at: outcome.evaluated_at,
        budget: budget_lines(&budget(outcome)),
    }
}

/// The recommendations of a cycle as `GET /api/v1/recommendations` serves them: one entry
/// per planned entity, most urgent first, optionally filtered by model, team and urgency.
pub fn recommendations(outcome: &CycleOutcome, filter: &RecommendationFilter) -> RecommendationsDocument {
    let mut entries: Vec<(&ModelOutcome, &EntityResult)> = outcome
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
    RecommendationsDocument {
        schema_version: SCHEMA_VERSION,
        evaluated_at: outcome.evaluated_at,
        scenario: scenario_name(outcome),
        recommendations: entries
            .into_iter()
            .filter_map(|(m, e)| {
                Some(RecommendationEntry {
                    model: m.model.clone(),
                    unit: e.unit.clone().unwrap_or_else(|| m.unit.clone()),
                    team: e.team.clone(),
                    labels: labels(e),
                    current: e.current,
                    capacity: e.capacity,
                    threshold: e.threshold,
                    binding: e.binding.clone(),
                    recommendation: recommendation(e.recommendation.as_ref()?),
                })
            })
            .collect(),
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

fn scenario_name(outcome: &CycleOutcome) -> String {
    outcome.scenario.clone().unwrap_or_else(|| "baseline".into())
}

fn model(model: &ModelOutcome) -> ModelDocument {
    ModelDocument {
        model: model.model.clone(),
        unit: model.unit.clone(),
        error: model.error.clone(),
        results_from: model.results_from,
        entities: model.entities.iter().map(entity).collect(),
    }
}

fn labels(entity: &EntityResult) -> BTreeMap<String, String> {
    entity
        .labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn entity(entity: &EntityResult) -> EntityDocument {
    EntityDocument {
        labels: labels(entity),
        status: entity.status.name(),
        reason: entity.reason.clone(),
        team: entity.team.clone(),
        current: entity.current,
        last_sample: entity.last_sample,
        capacity: entity.capacity,
        threshold: entity.threshold,
        exhaustion: entity.exhaustion.as_ref().map(exhaustion),
        forecast: entity.forecast.as_ref().map(|f| {
            let end = f.at_horizon();
            let d = &f.diagnostics;
            ForecastDocument {
                method: d.method.name(),
                seasonal_mode: match d.seasonal_mode {
                    SeasonalMode::Additive => "additive",
                    SeasonalMode::Multiplicative => "multiplicative",
                    SeasonalMode::Growing => "growing",
                },
                seasonal_periods_seconds: d.periods_secs.clone(),
                trend_per_day: d.trend_per_day,
                seasonal_amplitude: d.seasonal_amplitude,
                regime_start: d.regime_start,
                backtest_mase: d.backtest_mase,
                history_points: d.history_points,
                observed_points: d.observed_points,
                horizon_end: f.horizon_end,
                at_horizon: AtHorizonDocument {
                    likely: end.map(|p| p.mean),
                    lower_95: end.map(|p| p.lower_95),
                    upper_95: end.map(|p| p.upper_95),
                },
            }
        }),
        recommendation: entity.recommendation.as_ref().map(recommendation),
        scenarios: entity.scenarios.iter().map(scenario).collect(),
        driver: entity.driver.as_ref().map(driver),
        driver_used: entity.driver_used,
        driver_problem: entity.driver_problem.clone(),
        accuracy: entity.accuracy.iter().map(accuracy).collect(),
        unit: entity.unit.clone(),
        binding: entity.binding.clone(),
        resources: entity
            .resources
            .iter()
            .map(|r| {
                let mut result = self::entity(&r.result);
                result.unit = Some(r.unit.clone());
                ResourceDocument {
                    resource: r.resource.clone(),
                    result,
                }
            })
            .collect(),
    }
}

fn exhaustion(x: &Exhaustion) -> ExhaustionDocument {
    ExhaustionDocument {
        likely: x.likely,
        earliest: x.earliest,
        exceeded_now: x.exceeded_now,
    }
}

/// The public form of a recommendation (also the webhook payload's `recommendation`).
pub fn recommendation(r: &Recommendation) -> RecommendationDocument {
    RecommendationDocument {
        urgency: r.urgency.name(),
        runway_days: r.runway_days,
        earliest_runway_days: r.earliest_runway_days,
        order_by: r.order_by,
        lead_time_days: r.lead_time_days,
        horizon_end: r.horizon_end,
        peak_expected: r.peak_expected,
        peak_pessimistic: r.peak_pessimistic,
        capacity_needed: r.capacity_needed,
        target_utilization: r.target_utilization,
        units: r.units.as_ref().map(units),
        cost: r.cost.as_ref().map(cost),
        justification: r.justification.clone(),
        caveats: r.caveats.clone(),
    }
}

fn units(u: &Units) -> UnitsDocument {
    UnitsDocument {
        current: u.current,
        needed: u.needed,
        change: u.change,
        unit_name: u.unit_name.clone(),
        unit_size: u.unit_size,
    }
}

fn cost(c: &Cost) -> CostDocument {
    CostDocument {
        currency: c.currency.clone(),
        monthly_current: c.monthly_current,
        monthly_recommended: c.monthly_recommended,
        projection: c
            .projection
            .iter()
            .map(|m| MonthDocument {
                month: m.month.clone(),
                units: m.units,
                cost: m.cost,
                basis: m.basis.name(),
            })
            .collect(),
    }
}

fn scenario(s: &ScenarioOutcome) -> ScenarioDocument {
    ScenarioDocument {
        scenario: s.scenario.clone(),
        binding: s.binding.clone(),
        exhaustion: s.exhaustion.as_ref().map(exhaustion),
        recommendation: s.recommendation.as_ref().map(recommendation),
    }
}

fn driver(d: &DriverFit) -> DriverDocument {
    DriverDocument {
        name: d.name.clone(),
        intercept: d.intercept,
        slope: d.slope,
        r_squared: d.r_squared,
        residual_std: d.residual_std,
        points: d.points,
    }
}

fn accuracy(s: &Score) -> AccuracyDocument {
    AccuracyDocument {
        checkpoint: s.checkpoint.clone(),
        made_at: s.made_at,
        mase: s.mase,
        coverage_80: s.coverage_80,
        coverage_95: s.coverage_95,
        points: s.points,
        predicted: s.predicted,
        actual: s.actual,
        at: s.at,
    }
}

fn budget_lines(lines: &[BudgetLine]) -> Vec<BudgetDocumentLine> {
    lines
        .iter()
        .map(|l| BudgetDocumentLine {
            scenario: l.scenario.clone(),
            model: l.model.clone(),
            team: l.team.clone(),
            currency: l.currency.clone(),
            months: l.months.clone(),
            total: l.total,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{check_golden, rich_cycle};

    fn pretty(value: &impl Serialize) -> String {
        serde_json::to_string_pretty(value).expect("json") + "\n"
    }

    #[test]
    fn the_cycle_document_is_as_documented() {
        check_golden("cycle.json", &pretty(&cycle(&rich_cycle())));
    }

    #[test]
    fn the_recommendations_document_is_as_documented() {
        let all = recommendations(&rich_cycle(), &RecommendationFilter::default());
        check_golden("recommendations.json", &pretty(&all));
        let critical = recommendations(
            &rich_cycle(),
            &RecommendationFilter {
                urgency: Some("critical".into()),
                ..RecommendationFilter::default()
            },
        );
        assert_eq!(critical.recommendations.len(), 1);
        assert_eq!(critical.recommendations[0].labels["host"], "b");
    }

    #[test]
    fn the_budget_document_is_as_documented() {
        check_golden("budget.json", &pretty(&budget_document(&rich_cycle())));
    }
}
