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
use crate::format;
use crate::model::{CapacityModel, Direction, Scaling};
use crate::outcome::{CycleOutcome, EntityResult, EntityStatus, ScenarioOutcome};
use crate::recommend::exceeded;
use crate::recommend::exhaustion::{Exhaustion, exhaustion};
use crate::recommend::{Situation, Urgency, recommend, sizing};
use crate::scenario::driver::{self, DriverFit};
use crate::scenario::{self, Scenario};
use crate::series::{Labels, Series};

pub mod inputs;
pub mod pool;

use inputs::{CapacityLookup, DriverProblem, aligned, chart_history, matching_series, value_at};

/// Most history points kept for an at-risk entity's chart.
pub const CHART_POINTS: usize = 240;

/// Everything planning one model's entities needs, the same for each of them.
pub struct ModelContext {
    pub model: CapacityModel,
    pub settings: forecast::Settings,
    pub scenarios: Vec<Scenario>,
    pub capacities: CapacityLookup,
    /// Where each entity's unit size comes from, for a resource whose `unit_size` is a query
    /// (`CapacityLookup::None`: `scaling.unit_size`).
    pub unit_sizes: CapacityLookup,
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
    /// The engine settings for a model's entities: `base` (the config's), with daily and
    /// weekly seasons in the clock of the model's `timezone` (UTC without one).
    pub fn settings_for(model: &CapacityModel, base: &forecast::Settings) -> forecast::Settings {
        forecast::Settings {
            clock: model
                .timezone
                .map_or(forecast::LocalClock::Utc, forecast::LocalClock::Zone),
            ..base.clone()
        }
    }

    /// The model's step in seconds.
    pub fn step(&self) -> f64 {
        self.model.step.as_secs_f64()
    }

    /// Forecast steps to the model's horizon.
    pub fn horizon_steps(&self) -> usize {
        (self.model.horizon.as_secs_f64() / self.step()).ceil() as usize
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
    /// The resource, for a resource of a model with several.
    resource: Option<String>,
    index: HashMap<Labels, usize>,
}

impl EarlierResults {
    /// The results of model number `model` in `outcome` (of its resource `resource`, for a
    /// model with several).
    pub fn new(outcome: Arc<CycleOutcome>, model: usize, resource: Option<String>) -> EarlierResults {
        let index = outcome.models[model]
            .entities
            .iter()
            .enumerate()
            .map(|(i, e)| (e.labels.clone(), i))
            .collect();
        EarlierResults {
            outcome,
            model,
            resource,
            index,
        }
    }

    fn get(&self, labels: &Labels) -> Option<&EntityResult> {
        let i = *self.index.get(labels)?;
        let entity = self.outcome.models[self.model].entities.get(i)?;
        match &self.resource {
            None => Some(entity),
            Some(resource) => entity.resource(resource),
        }
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
    // A unit size that cannot be read leaves the resource planned (its date, its urgency,
    // exceeded now) without units: the reason is a caveat, never a reason to go quiet.
    let (scaling, unsized_because) = match entity_scaling(context, &labels) {
        Ok(scaling) => (scaling, None),
        Err(reason) => (None, Some(reason)),
    };
    let mut planned = plan_entity(context, due, labels, grid, scaling);
    if let (Some(reason), Some(recommendation)) = (unsized_because, planned.result.recommendation.as_mut()) {
        recommendation
            .caveats
            .push(format!("No units are sized here: {reason}."));
    }
    planned
}

/// [`entity`] with its scaling decided.
fn plan_entity(
    context: &ModelContext,
    due: &accuracy::DueSnapshots,
    labels: Labels,
    grid: Option<Grid>,
    scaling: Option<Scaling>,
) -> Planned {
    let model = &context.model;
    let mut result = EntityResult::new(labels, model.team.clone());
    let unplanned = |result| Planned {
        result,
        accuracy: AccuracyUpdate::default(),
    };
    let Some(mut grid) = grid else {
        result.status = EntityStatus::NoData;
        result.reason = Some("no finite sample in the history window".into());
        return unplanned(result);
    };
    let step = context.step();
    let keep = (model.history.as_secs_f64() / step).ceil() as usize + 1;
    grid.keep_last(keep);
    let Some(last_index) = grid.values.iter().rposition(|v| v.is_finite()) else {
        result.status = EntityStatus::NoData;
        result.reason = Some("no finite sample in the history window".into());
        return unplanned(result);
    };
    let last_sample = grid.start + last_index as f64 * grid.step;
    result.current = Some(grid.values[last_index]);
    result.last_sample = Some(last_sample);
    // A series whose samples stopped has ended (a remount, a removed node): it is said, never
    // planned as if it were live.
    let stale_after = model.stale_after_secs();
    if context.now - last_sample > stale_after {
        result.status = EntityStatus::Stale;
        result.reason = Some(format!(
            "no sample for {} (the last at {}); its series has ended (stale_after {})",
            format::days_or_hours(context.now - last_sample),
            format::time(last_sample),
            format::days_or_hours(stale_after),
        ));
        return unplanned(result);
    }
    let capacity = match context.capacities.for_entity(&result.labels, context.now, stale_after) {
        Ok(capacity) => capacity,
        Err(reason) => {
            result.status = EntityStatus::Error;
            result.reason = Some(reason.to_string());
            return unplanned(result);
        }
    };
    result.capacity = capacity.as_ref().map(|c| c.now);
    result.threshold = model.threshold.resolve(result.capacity);
    // What remains is forecast as if the capacity had always been today's (an online resize
    // is not a fall in consumption); what is used does not depend on the capacity.
    let raw_grid = match (&capacity, model.direction) {
        (Some(c), Direction::Below) if !c.levels.is_empty() => {
            let raw = grid.clone();
            inputs::remaining_at_todays_capacity(&mut grid, c);
            Some(raw)
        }
        _ => None,
    };
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
            let scored_against = raw_grid.as_ref().unwrap_or(&grid);
            let accuracy = plan_forecast(
                context,
                due,
                &mut result,
                (&grid, scored_against),
                own,
                driver_plan,
                scaling.as_ref(),
            );
            if let (Some(capacity), Some(recommendation)) = (&capacity, result.recommendation.as_mut()) {
                for (at, from, to) in capacity.changes() {
                    let verb = if to > from { "grew" } else { "shrank" };
                    recommendation.justification.push(format!(
                        "Capacity {verb} from {} to {} {} on {}; the forecast is against today's capacity (capacity).",
                        format::number(from),
                        format::number(to),
                        model.unit,
                        format::time(at),
                    ));
                }
            }
            Planned { result, accuracy }
        }
        Err(NoForecast::NoData) => {
            result.status = EntityStatus::NoData;
            result.reason = Some(NoForecast::NoData.to_string());
            unplanned(result)
        }
        Err(reason @ NoForecast::InsufficientHistory { .. }) => {
            result.status = EntityStatus::InsufficientHistory;
            let why = reason.to_string();
            // Too little history qualifies the forecast, never the urgency: an entity already
            // past its threshold is exhausted now.
            if let (Some(threshold), Some(current)) = (result.threshold, result.current) {
                if exceeded::is_past(model.direction, current, threshold) {
                    result.exhaustion = Some(Exhaustion {
                        likely: Some(last_sample),
                        earliest: Some(last_sample),
                        exceeded_now: true,
                    });
                    result.recommendation = Some(exceeded::recommend_exceeded(&exceeded::Unforecast {
                        now: context.now,
                        direction: model.direction,
                        unit: &model.unit,
                        capacity: result.capacity,
                        threshold,
                        current,
                        last_sample,
                        scaling: scaling.as_ref(),
                        why: &why,
                    }));
                }
            }
            result.reason = Some(why);
            unplanned(result)
        }
    }
}

/// The model's `[scaling]` for this entity: with its unit size read from the entity's series
/// when the resource's `unit_size` is a query (the allocatable of its pool's node type).
fn entity_scaling(context: &ModelContext, labels: &Labels) -> Result<Option<Scaling>, String> {
    let Some(scaling) = context.model.scaling.as_ref() else {
        return Ok(None);
    };
    let Some(query) = context.model.member.as_ref().and_then(|m| m.unit_size_query.as_ref()) else {
        return Ok(Some(scaling.clone()));
    };
    let size = context
        .unit_sizes
        .for_entity(labels, context.now, context.model.stale_after_secs())
        .map_err(|problem| {
            format!(
                "unit_size: {}",
                problem.to_string().replacen("capacity", "unit size", 1)
            )
        })?
        .ok_or_else(|| format!("unit_size: the query `{}` was not read", format::query(query)))?;
    if size.now <= scaling.overhead {
        return Err(format!(
            "unit_size: one {} reads {} here, not more than its overhead ({}): it could carry nothing",
            scaling.unit_name,
            format::number(size.now),
            format::number(scaling.overhead)
        ));
    }
    Ok(Some(Scaling {
        unit_size: size.now,
        ..scaling.clone()
    }))
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
    (grid, scored_against): (&Grid, &Grid),
    own: Forecast,
    driver_plan: Option<(DriverFit, Grid)>,
    scaling: Option<&Scaling>,
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
    let sized_until = scaling
        .and_then(|s| s.sizing_horizon)
        .map_or(f64::INFINITY, |h| forecast.last_timestamp + h.as_secs_f64());
    let peaks = sizing::peaks(&forecast, model.direction, result.capacity, sized_until);
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
        scaling,
        driver: driver_fit.as_ref(),
        driver_used: result.driver_used,
    };
    let mut recommendation = recommend(&situation);
    if recommendation.urgency != Urgency::Ok {
        result.history = Arc::new(chart_history(grid, CHART_POINTS));
    }
    let update = score_past_forecasts(context, due, result, scored_against, &summary);
    if let Some((sentence, poor)) = accuracy::justification(&result.accuracy, &model.unit) {
        if poor {
            recommendation.caveats.push(sentence.clone());
        }
        recommendation.justification.push(sentence);
    }
    result.recommendation = Some(recommendation);
    // Each scenario moves the baseline forecast (through the driver when the change is on the
    // driver), then the same rules apply. An entity carries a scenario's result only where
    // the scenario changes its forecast; elsewhere the baseline is that scenario's answer
    // (readers fall back to it: see `EntityResult::recommendation_under`).
    for scenario in &context.scenarios {
        let changes = scenario.changes_for(&model.name, &result.labels);
        let driver_changes = match (&through, &model.driver) {
            (Some(_), Some(d)) => scenario.driver_changes_for(&d.name, &result.labels),
            _ => Vec::new(),
        };
        if changes.is_empty() && driver_changes.is_empty() {
            continue;
        }
        let base = match &through {
            Some((fit, driver_forecast)) if !driver_changes.is_empty() => {
                let moved = scenario::apply(driver_forecast, &driver_changes, Direction::Above, None, context.now);
                on_driver(&moved, fit)
            }
            _ => forecast.clone(),
        };
        let changed = scenario::apply(&base, &changes, model.direction, result.capacity, context.now);
        if changed == forecast {
            // The change starts past the horizon, or moves nothing this entity forecasts.
            continue;
        }
        let changed_exhaustion = result.threshold.map(|t| exhaustion(&changed, t, model.direction));
        let changed_summary = changed.summary();
        let changed_peaks = sizing::peaks(&changed, model.direction, result.capacity, sized_until);
        let recommendation = recommend(&Situation {
            forecast: &changed_summary,
            peaks: changed_peaks.as_ref(),
            exhaustion: changed_exhaustion,
            ..situation
        });
        result.scenarios.push(ScenarioOutcome {
            scenario: scenario.name.clone(),
            binding: None,
            exhaustion: changed_exhaustion,
            recommendation: Some(recommendation),
        });
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A web service busiest at 09:00 in New York (a Gaussian hump on 100, hourly for three
    /// weeks), across the change from EST (-05:00) to EDT (-04:00) on 2026-03-08. Planned
    /// through a model with `timezone = "America/New_York"` (a threshold of 150 that each
    /// peak passes keeps the entity at risk, so its whole path is kept), both forecast days
    /// peak at 13:00 UTC (09:00 EDT).
    #[test]
    fn a_model_with_a_timezone_keeps_its_local_peak_hour_across_daylight_saving() {
        let start = 1_772_150_400.0; // 2026-02-27T00:00:00Z
        let change = 1_772_953_200.0; // 2026-03-08T07:00:00Z
        let hours = 21 * 24;
        let values: Vec<f64> = (0..hours)
            .map(|h| {
                let t = start + h as f64 * 3600.0;
                let offset = if t >= change { -4.0 } else { -5.0 };
                let local_hour = (t / 3600.0 + offset).rem_euclid(24.0);
                100.0 + 60.0 * (-(local_hour - 9.0).powi(2) / 3.0).exp()
            })
            .collect();
        let grid = Grid {
            start,
            step: 3600.0,
            values,
        };
        let now = start + (hours - 1) as f64 * 3600.0;
        let text = "name = \"web\"\nusage = \"x\"\nthreshold = 150\nstep = \"1h\"\nhistory = \"21d\"\nhorizon = \"2d\"\ntimezone = \"America/New_York\"\n";
        let model = crate::config::models::parse(std::path::Path::new("web.toml"), text).expect("model");
        let settings = ModelContext::settings_for(&model, &forecast::Settings::default());
        assert_eq!(settings.clock, forecast::LocalClock::Zone(chrono_tz::America::New_York));
        let context = ModelContext {
            model,
            settings,
            scenarios: Vec::new(),
            capacities: CapacityLookup::None,
            unit_sizes: CapacityLookup::None,
            drivers: Vec::new(),
            now,
            accuracy: PastAccuracy::default(),
            earlier: None,
        };
        let planned = entity(
            &context,
            &accuracy::DueSnapshots::new(),
            Labels::new([("service", "web")]),
            Some(grid),
        );
        let summary = planned.result.forecast.expect("a forecast");
        assert_eq!(summary.path.len(), 48);
        for day in summary.path.chunks(24) {
            let peak = day.iter().max_by(|a, b| a.mean.total_cmp(&b.mean)).expect("a peak");
            assert_eq!((peak.timestamp / 3600.0).rem_euclid(24.0), 13.0, "{day:?}");
        }
    }
}
