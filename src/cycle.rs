//! One planning cycle: for every capacity model, read history, forecast every entity, and
//! find when each crosses its threshold.
//!
//! Queries run one model at a time (a capacity planner must be gentle with the Prometheus it
//! reads); forecasting runs on a rayon pool inside `spawn_blocking`, never on the async
//! runtime's threads. A model that fails (query rejected, source down) is reported and the
//! others carry on.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;

use crate::fetch::{FetchStats, Fetcher, History};
use crate::forecast::accuracy;
use crate::forecast::{self, Forecast, ForecastSummary, Grid, NoForecast};
use crate::model::Direction;
use crate::model::{Capacity, CapacityModel};
use crate::recommend::exhaustion::{Exhaustion, exhaustion};
use crate::recommend::{Recommendation, Situation, recommend};
use crate::scenario::driver;
use crate::scenario::{self, Scenario};
use crate::series::{Labels, Series};
use crate::source::{RangeQuery, SourceError};

/// What happened to one entity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityStatus {
    Ok,
    InsufficientHistory,
    NoData,
    Error,
}

impl EntityStatus {
    /// Every status, in the order metrics list them.
    pub const ALL: [EntityStatus; 4] = [
        EntityStatus::Ok,
        EntityStatus::InsufficientHistory,
        EntityStatus::NoData,
        EntityStatus::Error,
    ];

    /// The stable name used in metrics and JSON.
    pub fn name(self) -> &'static str {
        match self {
            EntityStatus::Ok => "ok",
            EntityStatus::InsufficientHistory => "insufficient_history",
            EntityStatus::NoData => "no_data",
            EntityStatus::Error => "error",
        }
    }
}

/// The result for one entity of one model.
#[derive(Clone, Debug, serde::Serialize)]
pub struct EntityResult {
    pub labels: Labels,
    pub status: EntityStatus,
    /// Why the status is not `ok`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub capacity: Option<f64>,
    /// The threshold in the model's unit.
    pub threshold: Option<f64>,
    /// The last observed value.
    pub current: Option<f64>,
    pub exhaustion: Option<Exhaustion>,
    /// The forecast's summary; for entities not at risk its path is trimmed to the horizon's
    /// point once the cycle has used it.
    #[serde(skip)]
    pub forecast: Option<Arc<ForecastSummary>>,
    /// What to do about it (when a forecast was made).
    pub recommendation: Option<Recommendation>,
    /// The model's team, for filtering and reports.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// The same entity under each configured scenario.
    pub scenarios: Vec<ScenarioOutcome>,
    /// The fit to the model's driver, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<driver::DriverFit>,
    /// Whether the forecast came through the driver (the fit held).
    pub driver_used: bool,
    /// Why the model's driver could not be used for this entity, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver_problem: Option<String>,
    /// The recent history, averaged down to at most [`CHART_POINTS`] points, kept only for
    /// entities at risk (it draws their chart in the weekly report).
    #[serde(skip)]
    pub history: Arc<Vec<(f64, f64)>>,
    /// The latest score of this entity's past forecasts at each checkpoint.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub accuracy: Vec<accuracy::Score>,
    /// Scores computed in this cycle, and this cycle's snapshot, until they are saved.
    #[serde(skip)]
    pub new_scores: Vec<accuracy::Score>,
    #[serde(skip)]
    pub new_snapshot: Option<accuracy::Snapshot>,
}

/// Most history points kept for an at-risk entity's chart.
pub const CHART_POINTS: usize = 240;

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

impl EntityResult {
    /// The baseline's recommendation, then each scenario's, with the scenario's name.
    pub fn recommendations_by_scenario(&self) -> impl Iterator<Item = (&str, Option<&Recommendation>)> {
        std::iter::once(("baseline", self.recommendation.as_ref())).chain(
            self.scenarios
                .iter()
                .map(|o| (o.scenario.as_str(), o.recommendation.as_ref())),
        )
    }
}

/// One entity under one scenario.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ScenarioOutcome {
    pub scenario: String,
    pub exhaustion: Option<Exhaustion>,
    pub recommendation: Option<Recommendation>,
}

/// The result of one model.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ModelOutcome {
    pub model: String,
    pub unit: String,
    /// Set when the whole model failed (its query was rejected, the source was down).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub entities: Vec<EntityResult>,
    pub duration_seconds: f64,
    /// Unix time of the cycle the entities come from: this cycle's, or an earlier one's when
    /// this model failed and its last good results are carried over.
    pub results_from: Option<f64>,
}

/// The result of a whole cycle.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CycleReport {
    /// Unix seconds the cycle planned from ("now").
    pub evaluated_at: f64,
    pub duration_seconds: f64,
    pub source: String,
    /// Whether every query reached the source.
    pub source_up: bool,
    pub models: Vec<ModelOutcome>,
    /// Source errors by kind, for self-metrics.
    #[serde(skip)]
    pub source_errors: BTreeMap<&'static str, u64>,
    /// Set on a view of the report under one scenario ([`crate::report::under_scenario`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scenario: Option<String>,
    /// What the cycle asked of its source.
    #[serde(skip)]
    pub fetch: FetchStats,
}

impl CycleReport {
    /// Whether any model failed as a whole.
    pub fn has_failures(&self) -> bool {
        self.models.iter().any(|m| m.error.is_some())
    }

    /// For every model that failed in this cycle, keeps the entities of its last good cycle in
    /// `previous`: a Prometheus outage must not make forecasts (and the alerts on them) vanish.
    /// `results_from` says how old they are.
    pub fn carry_over_failed_models(&mut self, previous: &CycleReport) {
        for model in self.models.iter_mut().filter(|m| m.error.is_some()) {
            if let Some(old) = previous
                .models
                .iter()
                .find(|old| old.model == model.model && old.results_from.is_some())
            {
                model.entities = old.entities.clone();
                model.results_from = old.results_from;
            }
        }
    }
}

impl CycleReport {
    /// Adds the previous results of configured models that were not due in this cycle, so
    /// every configured model stays published; keeps the configuration's order.
    pub fn carry_over_models_not_run(&mut self, previous: &CycleReport, configured: &[&str]) {
        for old in &previous.models {
            if configured.contains(&old.model.as_str()) && !self.models.iter().any(|m| m.model == old.model) {
                self.models.push(old.clone());
            }
        }
        self.models
            .sort_by_key(|m| configured.iter().position(|c| *c == m.model));
    }
}

/// Runs one cycle over every model.
pub async fn run(
    fetcher: &Fetcher<'_>,
    models: &[CapacityModel],
    settings: &forecast::Settings,
    scenarios: &[Scenario],
    pool: &Arc<rayon::ThreadPool>,
    now: f64,
    previous: Option<Arc<CycleReport>>,
) -> CycleReport {
    let started = Instant::now();
    let mut outcomes = Vec::with_capacity(models.len());
    let mut source_up = true;
    let mut source_errors: BTreeMap<&'static str, u64> = BTreeMap::new();
    for (index, model) in models.iter().enumerate() {
        let model_started = Instant::now();
        let earlier = previous.as_ref().and_then(|p| {
            let index = p
                .models
                .iter()
                .position(|m| m.model == model.name && m.error.is_none())?;
            Some((Arc::clone(p), index))
        });
        let result = run_model(fetcher, model, settings, scenarios, pool, now, earlier).await;
        let duration = model_started.elapsed();
        let outcome = match result {
            Ok((entities, reused)) => {
                let exhausting = entities
                    .iter()
                    .filter(|e| e.exhaustion.is_some_and(|x| x.likely.is_some()))
                    .count();
                let done = index + 1;
                let eta_s = started.elapsed().as_secs_f64() / done as f64 * (models.len() - done) as f64;
                tracing::info!(
                    model = %model.name,
                    entities = entities.len(),
                    refitted = entities.len() - reused,
                    reused,
                    exhausting,
                    elapsed_ms = duration.as_millis() as u64,
                    progress = %format!("{done}/{}", models.len()),
                    eta_s = (eta_s * 10.0).round() / 10.0,
                    "model forecast"
                );
                ModelOutcome {
                    model: model.name.clone(),
                    unit: model.unit.clone(),
                    error: None,
                    entities,
                    duration_seconds: duration.as_secs_f64(),
                    results_from: Some(now),
                }
            }
            Err(error) => {
                if error.source_down() {
                    source_up = false;
                }
                *source_errors.entry(error.kind()).or_default() += 1;
                tracing::warn!(model = %model.name, kind = error.kind(), %error, "model failed");
                ModelOutcome {
                    model: model.name.clone(),
                    unit: model.unit.clone(),
                    error: Some(error.to_string()),
                    entities: Vec::new(),
                    duration_seconds: duration.as_secs_f64(),
                    results_from: None,
                }
            }
        };
        outcomes.push(outcome);
    }
    CycleReport {
        evaluated_at: now,
        duration_seconds: started.elapsed().as_secs_f64(),
        source: fetcher.source().describe(),
        source_up,
        models: outcomes,
        source_errors,
        scenario: None,
        fetch: fetcher.stats(),
    }
}

async fn run_model(
    fetcher: &Fetcher<'_>,
    model: &CapacityModel,
    settings: &forecast::Settings,
    scenarios: &[Scenario],
    pool: &Arc<rayon::ThreadPool>,
    now: f64,
    earlier: Option<(Arc<CycleReport>, usize)>,
) -> Result<(Vec<EntityResult>, usize), SourceError> {
    let step = model.step.as_secs_f64();
    // Align the range to the step so consecutive cycles see the same grid.
    let end = (now / step).floor() * step;
    let start = end - model.history.as_secs_f64();
    let usage = fetcher
        .owned_history(
            &RangeQuery {
                query: model.usage_query(),
                start,
                end,
                step,
            },
            &model.name,
        )
        .await?;
    let capacities = match &model.capacity {
        None => CapacityLookup::None,
        Some(Capacity::Constant(value)) => CapacityLookup::Constant(*value),
        Some(Capacity::Query(query)) => {
            // Only the latest capacity matters; read a short recent range of it.
            let recent = RangeQuery {
                query: query.clone(),
                start: end - (12.0 * step).max(3600.0),
                end,
                step,
            };
            CapacityLookup::Series(fetcher.direct(&recent).await?)
        }
    };
    let drivers = match &model.driver {
        Some(driver) => {
            fetcher
                .history(&RangeQuery {
                    query: driver.query.clone(),
                    start,
                    end,
                    step,
                })
                .await?
        }
        None => Vec::new(),
    };
    let accuracy = AccuracyState::load(fetcher.cache(), &model.name).await;
    let plan = ModelPlan {
        model: model.clone(),
        settings: settings.clone(),
        scenarios: scenarios.to_vec(),
        capacities,
        drivers,
        step,
        horizon_steps: (model.horizon.as_secs_f64() / step).ceil() as usize,
        now,
        accuracy,
        // Entities whose data has not changed since the last cycle keep their results (within
        // one step, so no date drifts by more than that).
        earlier: earlier
            .filter(|(report, i)| {
                report.models[*i]
                    .results_from
                    .is_some_and(|at| now - at < step && now >= at)
            })
            .map(|(report, model)| {
                let index = report.models[model]
                    .entities
                    .iter()
                    .enumerate()
                    .map(|(i, e)| (e.labels.clone(), i))
                    .collect();
                EarlierResults { report, model, index }
            }),
    };
    let pool = Arc::clone(pool);
    let store = fetcher.cache().cloned();
    let entities = tokio::task::spawn_blocking(move || forecast_in_batches(&plan, store.as_ref(), &pool, usage, end))
        .await
        .map_err(|e| SourceError::Setup(format!("forecasting task failed: {e}")))?;
    let (mut entities, reused) = entities;
    entities.sort_by(|a, b| a.labels.cmp(&b.labels));
    Ok((entities, reused))
}

/// Entities forecast between two visits to the state file. A batch's past forecasts are read
/// before it and its new ones written after it, so the snapshots in memory (a few KB per
/// entity) are a batch's, not a fleet's.
const ENTITIES_PER_BATCH: usize = 2048;

/// Forecasts `usage` on `pool` a batch at a time, scoring and saving each batch's accuracy
/// records on the way (on the calling blocking thread). Returns the results and how many of
/// them were the previous cycle's, kept because their input had not changed.
fn forecast_in_batches(
    plan: &ModelPlan,
    store: Option<&crate::store::Store>,
    pool: &rayon::ThreadPool,
    usage: Vec<History>,
    end: f64,
) -> (Vec<EntityResult>, usize) {
    let model = &plan.model.name;
    let mut done = Vec::with_capacity(usage.len());
    let mut reused = 0;
    let mut usage = usage.into_iter();
    let mut failed_saves = 0;
    loop {
        let batch: Vec<History> = usage.by_ref().take(ENTITIES_PER_BATCH).collect();
        if batch.is_empty() {
            break;
        }
        let due = match store.filter(|_| plan.accuracy.enabled) {
            Some(store) => {
                let keys: Vec<String> = batch.iter().map(|h| h.labels().to_string()).collect();
                store.due_for_scoring(model, end, &keys).unwrap_or_else(|error| {
                    tracing::warn!(%error, "cannot read past forecasts; this batch's accuracy is not scored");
                    accuracy::DueSnapshots::new()
                })
            }
            None => accuracy::DueSnapshots::new(),
        };
        let mut results: Vec<EntityResult> =
            pool.install(|| batch.into_par_iter().map(|h| forecast_entity(plan, &due, h)).collect());
        drop(due);
        if let Some(store) = store {
            let scores: Vec<accuracy::Score> = results
                .iter_mut()
                .flat_map(|e| std::mem::take(&mut e.new_scores))
                .collect();
            let snapshots: Vec<accuracy::Snapshot> = results.iter_mut().filter_map(|e| e.new_snapshot.take()).collect();
            let saved = store
                .save_scores(model, &scores)
                .and_then(|()| store.save_snapshots(model, &snapshots));
            if saved.is_err() {
                failed_saves += 1;
            }
        }
        if let Some(earlier) = &plan.earlier {
            reused += results.iter().filter(|r| earlier.is_kept(r)).count();
        }
        done.append(&mut results);
    }
    if let Some(store) = store.filter(|_| plan.accuracy.enabled) {
        let last_checkpoint = accuracy::CHECKPOINTS[accuracy::CHECKPOINTS.len() - 1].1;
        if store
            .prune_accuracy(end - last_checkpoint - 2.0 * 86_400.0, end - 90.0 * 86_400.0)
            .is_err()
        {
            failed_saves += 1;
        }
    }
    if failed_saves > 0 {
        tracing::warn!(
            model = %model,
            failed_saves,
            "cannot save forecast snapshots and scores; they are retried next cycle"
        );
    }
    (done, reused)
}

/// Where each entity's capacity comes from.
enum CapacityLookup {
    None,
    Constant(f64),
    Series(Vec<Series>),
}

impl CapacityLookup {
    /// The capacity for `labels`: the series with exactly these labels, else the one whose
    /// labels are the largest subset of them (a cluster's capacity for each of its nodes).
    fn for_entity(&self, labels: &Labels) -> Result<Option<f64>, String> {
        match self {
            CapacityLookup::None => Ok(None),
            CapacityLookup::Constant(value) => Ok(Some(*value)),
            CapacityLookup::Series(series) => {
                let candidate = matching_series(series, labels);
                let Some(candidate) = candidate else {
                    return Err(format!("no capacity series matches the labels {labels}"));
                };
                candidate
                    .samples
                    .iter()
                    .rev()
                    .find(|s| s.value.is_finite())
                    .map(|s| Some(s.value))
                    .ok_or_else(|| format!("the capacity series {} has no recent finite sample", candidate.labels))
            }
        }
    }
}

/// Everything forecasting one model's entities needs, moved onto the forecasting pool.
struct ModelPlan {
    model: CapacityModel,
    settings: forecast::Settings,
    scenarios: Vec<Scenario>,
    capacities: CapacityLookup,
    /// The driver query's series, when the model has a `[driver]`.
    drivers: Vec<Series>,
    step: f64,
    horizon_steps: usize,
    now: f64,
    /// Past forecasts to score and the scores so far (empty without a state file).
    accuracy: AccuracyState,
    /// The previous cycle's results of this model, when recent enough to reuse.
    earlier: Option<EarlierResults>,
}

/// The previous cycle's results of one model, found by labels without copying them.
struct EarlierResults {
    report: Arc<CycleReport>,
    model: usize,
    index: HashMap<Labels, usize>,
}

impl EarlierResults {
    fn get(&self, labels: &Labels) -> Option<&EntityResult> {
        let i = *self.index.get(labels)?;
        self.report.models[self.model].entities.get(i)
    }

    /// Whether `result` is the earlier one, kept (it shares the earlier forecast).
    fn is_kept(&self, result: &EntityResult) -> bool {
        let earlier = self.get(&result.labels).and_then(|e| e.forecast.as_ref());
        earlier
            .zip(result.forecast.as_ref())
            .is_some_and(|(a, b)| Arc::ptr_eq(a, b))
    }
}

/// What the state file says about a model's past forecasts.
#[derive(Default)]
struct AccuracyState {
    /// Keep snapshots at all (only with a state file).
    enabled: bool,
    last_snapshot: HashMap<String, f64>,
    latest: HashMap<String, Vec<accuracy::Score>>,
}

impl AccuracyState {
    async fn load(store: Option<&crate::store::Store>, model: &str) -> AccuracyState {
        let Some(store) = store.cloned() else {
            return AccuracyState::default();
        };
        let model = model.to_string();
        let loaded = tokio::task::spawn_blocking(move || {
            Ok::<_, crate::store::StoreError>(AccuracyState {
                enabled: true,
                last_snapshot: store.last_snapshots(&model)?,
                latest: store.latest_scores(&model)?,
            })
        })
        .await;
        match loaded {
            Ok(Ok(state)) => state,
            Ok(Err(error)) => {
                tracing::warn!(%error, "cannot read past forecasts; accuracy is not scored this cycle");
                AccuracyState::default()
            }
            Err(error) => {
                tracing::warn!(%error, "accuracy task failed");
                AccuracyState::default()
            }
        }
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

/// Forecasts one entity; `due` holds its batch's past forecasts to score.
fn forecast_entity(plan: &ModelPlan, due: &accuracy::DueSnapshots, history: History) -> EntityResult {
    let ModelPlan {
        model,
        settings,
        scenarios,
        capacities,
        drivers,
        step,
        horizon_steps,
        now,
        accuracy: past,
        earlier,
    } = plan;
    let (step, horizon_steps, now) = (*step, *horizon_steps, *now);
    let (labels, grid) = match history {
        History::Samples(series) => {
            let grid = Grid::from_samples(&series.samples, Some(step));
            (series.labels, grid)
        }
        History::Grid(cached) => (
            cached.labels,
            Grid::from_regular(cached.start, cached.step, cached.values),
        ),
    };
    let current = grid
        .as_ref()
        .and_then(|g| g.values.iter().rev().find(|v| v.is_finite()).copied());
    let mut result = EntityResult {
        labels,
        status: EntityStatus::Ok,
        reason: None,
        capacity: None,
        threshold: None,
        current,
        exhaustion: None,
        forecast: None,
        recommendation: None,
        team: model.team.clone(),
        scenarios: Vec::new(),
        driver: None,
        driver_used: false,
        driver_problem: None,
        history: Arc::default(),
        accuracy: Vec::new(),
        new_scores: Vec::new(),
        new_snapshot: None,
    };
    match capacities.for_entity(&result.labels) {
        Ok(capacity) => result.capacity = capacity,
        Err(reason) => {
            result.status = EntityStatus::Error;
            result.reason = Some(reason);
            return result;
        }
    }
    result.threshold = model.threshold.resolve(result.capacity);
    let Some(mut grid) = grid else {
        result.status = EntityStatus::NoData;
        result.reason = Some("no finite sample in the history window".into());
        return result;
    };
    let keep = (model.history.as_secs_f64() / step).ceil() as usize + 1;
    grid.keep_last(keep);
    if let Some(unchanged) = earlier
        .as_ref()
        .and_then(|e| e.get(&result.labels))
        .filter(|e| same_input(e, &result, &grid))
    {
        return EntityResult {
            new_scores: Vec::new(),
            new_snapshot: None,
            ..unchanged.clone()
        };
    }
    // A resource that follows a driver: fit it on the history, forecast through it if it holds.
    let driver_plan = model.driver.as_ref().and_then(|d| {
        let fitted = matching_series(drivers, &result.labels)
            .ok_or_else(|| {
                format!(
                    "none of the {} series of driver {} matches its labels",
                    drivers.len(),
                    d.name
                )
            })
            .and_then(|series| {
                let mut driver_grid = Grid::from_samples(&series.samples, Some(step))
                    .ok_or_else(|| format!("driver {} has no finite sample", d.name))?;
                driver_grid.keep_last(keep);
                let (resource, driver) = aligned(&grid, &driver_grid);
                let fit = driver::fit(&d.name, &resource, &driver).ok_or_else(|| {
                    format!(
                        "driver {} cannot be fitted ({} shared points, or it never varies)",
                        d.name,
                        resource.len()
                    )
                })?;
                Ok((fit, driver_grid))
            });
        match fitted {
            Ok(plan) => Some(plan),
            Err(why) => {
                tracing::warn!(model = %model.name, entity = %result.labels, "forecast without its driver: {why}");
                result.driver_problem = Some(why);
                None
            }
        }
    });
    match forecast::forecast(&grid, horizon_steps, settings) {
        Ok(own) => {
            let through = driver_plan
                .as_ref()
                .filter(|(fit, _)| fit.r_squared >= driver::MIN_R_SQUARED)
                .and_then(|(fit, driver_grid)| {
                    let driver_forecast = forecast::forecast(driver_grid, horizon_steps, settings).ok()?;
                    Some((fit, driver_forecast))
                });
            let on_driver = |driver_forecast: &Forecast, fit: &driver::DriverFit| {
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
            let situation = Situation {
                now,
                direction: model.direction,
                unit: &model.unit,
                capacity: result.capacity,
                threshold: result.threshold,
                forecast: &summary,
                exhaustion: result.exhaustion,
                scaling: model.scaling.as_ref(),
                driver: result.driver.as_ref(),
                driver_used: result.driver_used,
            };
            let mut recommendation = recommend(&situation);
            if recommendation.urgency != crate::recommend::Urgency::Ok {
                result.history = Arc::new(chart_history(&grid, CHART_POINTS));
            }
            // How right this entity's past forecasts were, scored against the history now known.
            let key = result.labels.to_string();
            result.new_scores = due
                .get(&key)
                .into_iter()
                .flatten()
                .filter_map(|(snapshot, name, span)| accuracy::score(snapshot, name, *span, |t| value_at(&grid, t)))
                .collect();
            let mut scores = past.latest.get(&key).cloned().unwrap_or_default();
            for new in &result.new_scores {
                scores.retain(|old| old.checkpoint != new.checkpoint || old.made_at > new.made_at);
                if !scores.iter().any(|old| old.checkpoint == new.checkpoint) {
                    scores.push(new.clone());
                }
            }
            if let Some((sentence, poor)) = accuracy::justification(&scores, &model.unit) {
                if poor {
                    recommendation.caveats.push(sentence.clone());
                }
                recommendation.justification.push(sentence);
            }
            result.accuracy = scores;
            let snapshot_due = past
                .last_snapshot
                .get(&key)
                .is_none_or(|last| *last <= summary.last_timestamp - accuracy::SNAPSHOT_EVERY_SECS);
            if past.enabled && snapshot_due {
                result.new_snapshot = accuracy::snapshot(
                    &key,
                    summary.last_timestamp,
                    accuracy::scale(&grid.values, step),
                    &summary.path,
                );
            }
            result.recommendation = Some(recommendation);
            // Each scenario moves the baseline forecast (through the driver when the change is
            // on the driver), then the same rules apply.
            for scenario in scenarios {
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
                    let recommendation = recommend(&Situation {
                        forecast: &changed_summary,
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
            // Entities at risk keep their path for charts; the rest keep only the horizon's
            // point, which is all that is read later (a fleet's paths would be most of the
            // daemon's memory).
            let mut summary = summary;
            if result
                .recommendation
                .as_ref()
                .is_none_or(|r| r.urgency == crate::recommend::Urgency::Ok)
            {
                let last = summary.path.pop();
                summary.path = last.into_iter().collect();
            }
            result.forecast = Some(Arc::new(summary));
        }
        Err(NoForecast::NoData) => {
            result.status = EntityStatus::NoData;
            result.reason = Some(NoForecast::NoData.to_string());
        }
        Err(reason @ NoForecast::InsufficientHistory { .. }) => {
            result.status = EntityStatus::InsufficientHistory;
            result.reason = Some(reason.to_string());
        }
    }
    result
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

/// Builds the rayon pool that fits forecasts (`threads` 0: one per core).
/// Falls back to one thread if the requested number cannot be started; fails only when the
/// OS refuses even that.
pub fn build_pool(threads: usize) -> Result<Arc<rayon::ThreadPool>, rayon::ThreadPoolBuildError> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("headroom-fit-{i}"))
        .build()
        .or_else(|_| rayon::ThreadPoolBuilder::new().num_threads(1).build())
        .map(Arc::new)
}
