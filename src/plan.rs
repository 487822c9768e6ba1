//! Planning one entity: from its history on a grid to its outcome (forecast, exhaustion,
//! recommendation, scenarios, accuracy).
//!
//! This is the core's most important function, and it is pure: it reads no clock, no file
//! and no network, and logs nothing. Everything it needs arrives in a [`ModelContext`] (the
//! same for every entity of a model) and the entity's own grid; everything it finds leaves in
//! its return value. The cycle (`app::cycle`) runs it on a rayon pool, and replay runs it for
//! past moments, with the same results for the same input.

use std::collections::HashMap;
use std::sync::Arc;

use crate::forecast::accuracy;
use crate::forecast::{self, Forecast, ForecastSummary, Grid, NoForecast};
use crate::model::{CapacityModel, Direction};
use crate::outcome::{CycleOutcome, EntityResult, EntityStatus, ScenarioOutcome};
use crate::recommend::exhaustion::exhaustion;
use crate::recommend::{Situation, Urgency, recommend, sizing};
use crate::scenario::driver::{self, DriverFit};
use crate::scenario::{self, Scenario};
use crate::series::{Labels, Series};

/// Most history points kept for an at-risk entity's chart.
pub const CHART_POINTS: usize = 240;

/// Everything planning one model's entities needs, the same for each of them.
pub struct ModelContext {
    pub model: CapacityModel,
    pub settings: forecast::Settings,
    pub scenarios: Vec<Scenario>,
    pub capacities: CapacityLookup,
    /// The driver query's series, when the model has a `[driver]`.
    pub drivers: Vec<Series>,
    /// The instant planned from (Unix seconds).
    pub now: f64,
    /// Past forecasts' scores, and when each entity's last snapshot was kept.
    pub accuracy: PastAccuracy,
    /// The previous cycle's results of this model, when recent enough to reuse.
    pub earlier: Option<EarlierResults>,
}

impl ModelContext {
    /// The model's step in seconds.
    pub fn step(&self) -> f64 {
        self.model.step.as_secs_f64()
    }

    /// Forecast steps to the model's horizon.
    pub fn horizon_steps(&self) -> usize {
        (self.model.horizon.as_secs_f64() / self.step()).ceil() as usize
    }
}

/// Why an entity's capacity cannot be used (the entity is then an error, never planned).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum CapacityProblem {
    #[error("no capacity series matches the labels {0}")]
    NoMatchingSeries(Labels),
    #[error("the capacity series {0} has no recent finite sample")]
    NoRecentSample(Labels),
}

/// Why a model's driver cannot be used for an entity (it is then forecast on its own).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum DriverProblem {
    #[error("none of the {series} series of driver {driver} matches its labels")]
    NoMatchingSeries { driver: String, series: usize },
    #[error("driver {0} has no finite sample")]
    NoSample(String),
    #[error("driver {driver} cannot be fitted ({points} shared points, or it never varies)")]
    CannotFit { driver: String, points: usize },
}

/// Where each entity's capacity comes from.
pub enum CapacityLookup {
    None,
    Constant(f64),
    Series(Vec<Series>),
}

impl CapacityLookup {
    /// The capacity for `labels`: the series with exactly these labels, else the one whose
    /// labels are the largest subset of them (a cluster's capacity for each of its nodes).
    fn for_entity(&self, labels: &Labels) -> Result<Option<f64>, CapacityProblem> {
        match self {
            CapacityLookup::None => Ok(None),
            CapacityLookup::Constant(value) => Ok(Some(*value)),
            CapacityLookup::Series(series) => {
                let candidate = matching_series(series, labels);
                let Some(candidate) = candidate else {
                    return Err(CapacityProblem::NoMatchingSeries(labels.clone()));
                };
                candidate
                    .samples
                    .iter()
                    .rev()
                    .find(|s| s.value.is_finite())
                    .map(|s| Some(s.value))
                    .ok_or_else(|| CapacityProblem::NoRecentSample(candidate.labels.clone()))
            }
        }
    }
}

/// What the state file says about a model's past forecasts.
#[derive(Default)]
pub struct PastAccuracy {
    /// Keep snapshots at all (only with a state file).
    pub enabled: bool,
    /// When each entity's last snapshot was kept.
    pub last_snapshot: HashMap<String, f64>,
    /// Each entity's latest score per checkpoint.
    pub latest: HashMap<String, Vec<accuracy::Score>>,
}

/// The previous cycle's results of one model, found by labels without copying them.
pub struct EarlierResults {
    outcome: Arc<CycleOutcome>,
    model: usize,
    index: HashMap<Labels, usize>,
}

impl EarlierResults {
    /// The results of model number `model` in `outcome`.
    pub fn new(outcome: Arc<CycleOutcome>, model: usize) -> EarlierResults {
        let index = outcome.models[model]
            .entities
            .iter()
            .enumerate()
            .map(|(i, e)| (e.labels.clone(), i))
            .collect();
        EarlierResults { outcome, model, index }
    }

    fn get(&self, labels: &Labels) -> Option<&EntityResult> {
        let i = *self.index.get(labels)?;
        self.outcome.models[self.model].entities.get(i)
    }

    /// Whether `result` is the earlier one, kept (it shares the earlier forecast).
    pub fn is_kept(&self, result: &EntityResult) -> bool {
        let earlier = self.get(&result.labels).and_then(|e| e.forecast.as_ref());
        earlier
            .zip(result.forecast.as_ref())
            .is_some_and(|(a, b)| Arc::ptr_eq(a, b))
    }
}

/// The accuracy records one entity's planning produced, for the caller to save.
#[derive(Default)]
pub struct AccuracyUpdate {
    /// Scores of past forecasts that came due.
    pub scores: Vec<accuracy::Score>,
    /// This forecast, kept to be scored later (once a day).
    pub snapshot: Option<accuracy::Snapshot>,
}

/// One entity's plan.
pub struct Planned {
    pub result: EntityResult,
    pub accuracy: AccuracyUpdate,
}

/// Plans one entity from its history (`None`: no finite sample in the window); `due` holds
/// its batch's past forecasts to score.
pub fn entity(context: &ModelContext, due: &accuracy::DueSnapshots, labels: Labels, grid: Option<Grid>) -> Planned {
    let model = &context.model;
    let current = grid
        .as_ref()
        .and_then(|g| g.values.iter().rev().find(|v| v.is_finite()).copied());
    let mut result = EntityResult::new(labels, model.team.clone());
    result.current = current;
    let unplanned = |result| Planned {
        result,
        accuracy: AccuracyUpdate::default(),
    };
    match context.capacities.for_entity(&result.labels) {
        Ok(capacity) => result.capacity = capacity,
        Err(reason) => {
            result.status = EntityStatus::Error;
            result.reason = Some(reason.to_string());
            return unplanned(result);
        }
    }
    result.threshold = model.threshold.resolve(result.capacity);
    let Some(mut grid) = grid else {
        result.status = EntityStatus::NoData;
        result.reason = Some("no finite sample in the history window".into());
        return unplanned(result);
    };
    let step = context.step();
    let keep = (model.history.as_secs_f64() / step).ceil() as usize + 1;
    grid.keep_last(keep);
    if let Some(unchanged) = context
        .earlier
        .as_ref()
        .and_then(|e| e.get(&result.labels))
        .filter(|e| same_input(e, &result, &grid))
    {
        return unplanned(unchanged.clone());
    }
    let driver_plan = match model.driver.as_ref() {
        Some(d) => match fit_driver(context, &d.name, &result.labels, &grid, keep) {
            Ok(plan) => Some(plan),
            Err(why) => {
                result.driver_problem = Some(why.to_string());
                None
            }
        },
        None => None,
    };
    match forecast::forecast(&grid, context.horizon_steps(), &context.settings) {
        Ok(own) => {
            let accuracy = plan_forecast(context, due, &mut result, &grid, own, driver_plan);
            Planned { result, accuracy }
        }
        Err(NoForecast::NoData) => {
            result.status = EntityStatus::NoData;
            result.reason = Some(NoForecast::NoData.to_string());
            unplanned(result)
        }
        Err(reason @ NoForecast::InsufficientHistory { .. }) => {
            result.status = EntityStatus::InsufficientHistory;
            result.reason = Some(reason.to_string());
            unplanned(result)
        }
    }
}

/// The entity's driver series and the fit of the resource to it, or why there is none.
fn fit_driver(
    context: &ModelContext,
    name: &str,
    labels: &Labels,
    grid: &Grid,
    keep: usize,
) -> Result<(DriverFit, Grid), DriverProblem> {
    let drivers = &context.drivers;
    let series = matching_series(drivers, labels).ok_or_else(|| DriverProblem::NoMatchingSeries {
        driver: name.to_string(),
        series: drivers.len(),
    })?;
    let mut driver_grid = Grid::from_samples(&series.samples, Some(context.step()))
        .ok_or_else(|| DriverProblem::NoSample(name.to_string()))?;
    driver_grid.keep_last(keep);
    let (resource, driver) = aligned(grid, &driver_grid);
    let fit = driver::fit(name, &resource, &driver).ok_or_else(|| DriverProblem::CannotFit {
        driver: name.to_string(),
        points: resource.len(),
    })?;
    Ok((fit, driver_grid))
}

/// From the entity's own forecast (and its driver's, when the fit holds) to its exhaustion,
/// recommendation, accuracy and scenarios.
fn plan_forecast(
    context: &ModelContext,
    due: &accuracy::DueSnapshots,
    result: &mut EntityResult,
    grid: &Grid,
    own: Forecast,
    driver_plan: Option<(DriverFit, Grid)>,
) -> AccuracyUpdate {
    let model = &context.model;
    let horizon_steps = context.horizon_steps();
    let through = driver_plan
        .as_ref()
        .filter(|(fit, _)| fit.r_squared >= driver::MIN_R_SQUARED)
        .and_then(|(fit, driver_grid)| {
            let driver_forecast = forecast::forecast(driver_grid, horizon_steps, &context.settings).ok()?;
            Some((fit, driver_forecast))
        });
    let on_driver = |driver_forecast: &Forecast, fit: &DriverFit| {
        let mut mapped = driver::map(fit, driver_forecast, own.last_value);
        mapped.start = own.start;
        mapped.last_timestamp = own.last_timestamp;
        mapped
    };
    let forecast = match &through {
        Some((fit, driver_forecast)) => on_driver(driver_forecast, fit),
        None => own.clone(),
    };
    result.driver = driver_plan.as_ref().map(|(fit, _)| fit.clone());
    result.driver_used = through.is_some();
    if let Some(threshold) = result.threshold {
        result.exhaustion = Some(exhaustion(&forecast, threshold, model.direction));
    }
    let summary = forecast.summary();
    let peaks = sizing::peaks(&forecast, model.direction, result.capacity);
    let driver_fit = result.driver.clone();
    let situation = Situation {
        now: context.now,
        direction: model.direction,
        unit: &model.unit,
        capacity: result.capacity,
        threshold: result.threshold,
        forecast: &summary,
        peaks: peaks.as_ref(),
        exhaustion: result.exhaustion,
        scaling: model.scaling.as_ref(),
        driver: driver_fit.as_ref(),
        driver_used: result.driver_used,
    };
    let mut recommendation = recommend(&situation);
    if recommendation.urgency != Urgency::Ok {
        result.history = Arc::new(chart_history(grid, CHART_POINTS));
    }
    let update = score_past_forecasts(context, due, result, grid, &summary);
    if let Some((sentence, poor)) = accuracy::justification(&result.accuracy, &model.unit) {
        if poor {
            recommendation.caveats.push(sentence.clone());
        }
        recommendation.justification.push(sentence);
    }
    result.recommendation = Some(recommendation);
    // Each scenario moves the baseline forecast (through the driver when the change is on the
    // driver), then the same rules apply.
    for scenario in &context.scenarios {
        let changes = scenario.changes_for(&model.name, &result.labels);
        let driver_changes = match (&through, &model.driver) {
            (Some(_), Some(d)) => scenario.driver_changes_for(&d.name, &result.labels),
            _ => Vec::new(),
        };
        let outcome = if changes.is_empty() && driver_changes.is_empty() {
            ScenarioOutcome {
                scenario: scenario.name.clone(),
                exhaustion: result.exhaustion,
                recommendation: result.recommendation.clone(),
            }
        } else {
            let base = match &through {
                Some((fit, driver_forecast)) if !driver_changes.is_empty() => {
                    let moved = scenario::apply(driver_forecast, &driver_changes, Direction::Above, None);
                    on_driver(&moved, fit)
                }
                _ => forecast.clone(),
            };
            let changed = scenario::apply(&base, &changes, model.direction, result.capacity);
            let changed_exhaustion = result.threshold.map(|t| exhaustion(&changed, t, model.direction));
            let changed_summary = changed.summary();
            let changed_peaks = sizing::peaks(&changed, model.direction, result.capacity);
            let recommendation = recommend(&Situation {
                forecast: &changed_summary,
                peaks: changed_peaks.as_ref(),
                exhaustion: changed_exhaustion,
                ..situation
            });
            ScenarioOutcome {
                scenario: scenario.name.clone(),
                exhaustion: changed_exhaustion,
                recommendation: Some(recommendation),
            }
        };
        result.scenarios.push(outcome);
    }
    // Entities at risk keep their path for charts; the rest keep only the horizon's point,
    // which is all that is read later (a fleet's paths would be most of the daemon's memory).
    let mut summary = summary;
    if result.recommendation.as_ref().is_none_or(|r| r.urgency == Urgency::Ok) {
        let last = summary.path.pop();
        summary.path = last.into_iter().collect();
    }
    result.forecast = Some(Arc::new(summary));
    update
}

/// Scores the entity's past forecasts that came due against the history now known, keeps its
/// latest score per checkpoint in `result.accuracy`, and takes a snapshot of this forecast
/// when one is due.
fn score_past_forecasts(
    context: &ModelContext,
    due: &accuracy::DueSnapshots,
    result: &mut EntityResult,
    grid: &Grid,
    summary: &ForecastSummary,
) -> AccuracyUpdate {
    let past = &context.accuracy;
    let key = result.labels.to_string();
    let new_scores: Vec<accuracy::Score> = due
        .get(&key)
        .into_iter()
        .flatten()
        .filter_map(|(snapshot, name, span)| accuracy::score(snapshot, name, *span, |t| value_at(grid, t)))
        .collect();
    let mut scores = past.latest.get(&key).cloned().unwrap_or_default();
    for new in &new_scores {
        scores.retain(|old| old.checkpoint != new.checkpoint || old.made_at > new.made_at);
        if !scores.iter().any(|old| old.checkpoint == new.checkpoint) {
            scores.push(new.clone());
        }
    }
    result.accuracy = scores;
    let snapshot_due = past
        .last_snapshot
        .get(&key)
        .is_none_or(|last| *last <= summary.last_timestamp - accuracy::SNAPSHOT_EVERY_SECS);
    let snapshot = (past.enabled && snapshot_due)
        .then(|| {
            accuracy::snapshot(
                &key,
                summary.last_timestamp,
                accuracy::scale(&grid.values, context.step()),
                &summary.path,
            )
        })
        .flatten();
    AccuracyUpdate {
        scores: new_scores,
        snapshot,
    }
}

/// Whether an earlier result was computed from exactly this history and capacity (the same
/// last point, value and length of the grid): then its forecast is this one.
fn same_input(earlier: &EntityResult, now: &EntityResult, grid: &Grid) -> bool {
    let Some(forecast) = &earlier.forecast else {
        return false;
    };
    let last = grid.start + (grid.values.len().saturating_sub(1)) as f64 * grid.step;
    let last_value = grid.values.last().copied().unwrap_or(f64::NAN);
    earlier.capacity.map(f64::to_bits) == now.capacity.map(f64::to_bits)
        && forecast.last_timestamp == last
        && forecast.last_value.to_bits() == last_value.to_bits()
        && forecast.diagnostics.history_points == grid.values.len()
        && earlier.driver.is_none()
}

/// The value of `grid` at `t`, if there is a sample within half a step.
fn value_at(grid: &Grid, t: f64) -> Option<f64> {
    let index = ((t - grid.start) / grid.step).round();
    if index < 0.0 || (grid.start + index * grid.step - t).abs() > grid.step / 2.0 {
        return None;
    }
    grid.values.get(index as usize).copied().filter(|v| v.is_finite())
}

/// `grid` averaged into at most `points` buckets of (mean time, mean value), gaps skipped.
fn chart_history(grid: &Grid, points: usize) -> Vec<(f64, f64)> {
    let per_bucket = grid.values.len().div_ceil(points.max(1)).max(1);
    grid.values
        .chunks(per_bucket)
        .enumerate()
        .filter_map(|(bucket, values)| {
            let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
            (!finite.is_empty()).then(|| {
                let middle = (bucket * per_bucket) as f64 + (values.len() as f64 - 1.0) / 2.0;
                (
                    grid.start + middle * grid.step,
                    finite.iter().sum::<f64>() / finite.len() as f64,
                )
            })
        })
        .collect()
}

/// The series for an entity with `labels`: the one with exactly these labels, else the one whose
/// labels are the largest subset of them (a cluster's capacity or driver for each of its nodes),
/// else the only series there is (one cluster-wide figure applies to every entity).
fn matching_series<'a>(series: &'a [Series], labels: &Labels) -> Option<&'a Series> {
    series
        .iter()
        .find(|s| &s.labels == labels)
        .or_else(|| {
            series
                .iter()
                .filter(|s| s.labels.iter().all(|(k, v)| labels.get(k) == Some(v)))
                .max_by_key(|s| s.labels.iter().count())
        })
        .or(match series {
            [only] => Some(only),
            _ => None,
        })
}

/// The values of two grids with the same step at the timestamps they share.
fn aligned(a: &Grid, b: &Grid) -> (Vec<f64>, Vec<f64>) {
    let offset = ((b.start - a.start) / a.step).round() as i64;
    let mut left = Vec::new();
    let mut right = Vec::new();
    for (i, &value) in a.values.iter().enumerate() {
        let j = i as i64 - offset;
        if j >= 0 && (j as usize) < b.values.len() {
            left.push(value);
            right.push(b.values[j as usize]);
        }
    }
    (left, right)
}
