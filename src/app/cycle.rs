//! One planning cycle: for every capacity model due, read history, plan every entity, and
//! gather the outcome.
//!
//! Queries run one model at a time (a capacity planner must be gentle with the Prometheus it
//! reads); planning runs on a rayon pool inside `spawn_blocking`, never on the async runtime's
//! threads. A model that fails (query rejected, source down) is reported and the others carry
//! on. This is the IO half of a cycle: what happens to one entity is [`crate::plan::entity`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;

use crate::forecast::{self, Grid, accuracy};
use crate::format;
use crate::model::{Capacity, CapacityModel};
use crate::outcome::{CycleOutcome, EntityResult, EntityStatus, ModelOutcome, ScenarioReach};
use crate::plan::inputs::CapacityLookup;
use crate::plan::{self, EarlierResults, ModelContext, PastAccuracy};
use crate::scenario::Scenario;
use crate::series::Labels;
use crate::source::cache::{Fetcher, History};
use crate::source::{Ambiguous, RangeQuery, SourceError};
use crate::store::Store;

/// What a cycle runs with: where history comes from, where accuracy records are kept, and
/// how to forecast.
pub struct Cycle<'a> {
    /// History, through the cache in the state file when there is one.
    pub fetcher: &'a Fetcher<'a>,
    /// Where past forecasts are kept and scored (`None`: accuracy is not tracked).
    pub store: Option<&'a Store>,
    pub settings: &'a forecast::Settings,
    pub scenarios: &'a [Scenario],
    /// The threads that fit forecasts.
    pub pool: &'a Arc<rayon::ThreadPool>,
}

/// Why one model produced no results in a cycle.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ModelFailure {
    #[error(transparent)]
    Source(#[from] SourceError),
    /// Planning itself failed (a bug): said as such, never blamed on the source.
    #[error("planning failed: {0}")]
    Planning(String),
    /// Every series the usage query returned has ended: the source stopped delivering.
    #[error(
        "all {series} series of the usage query are stale: the newest sample is from {} ({} before the planning time, more than stale_after {}); is the source still receiving data?",
        format::time(*newest),
        format::days_or_hours(*age),
        format::days_or_hours(*stale_after)
    )]
    AllStale {
        series: usize,
        newest: f64,
        age: f64,
        stale_after: f64,
    },
    /// The usage query answered none of the series it answered before.
    #[error(
        "the usage query answered none of the {series} series it answered in the last cycle; \
         the source may have lost its data or part of it (their last results are kept)"
    )]
    AllMissing { series: usize },
    /// The usage query answered no series at all (a misspelt metric or label, the wrong
    /// tenant, an empty or rebuilt database, a scrape target not read yet). A model with
    /// nothing to plan is not an all-clear.
    #[error(
        "the usage query returned no series: check its metric name and label matchers against the source \
         (for example in the Prometheus UI); a model with nothing to plan is reported as failed, never as all clear"
    )]
    NoSeries,
}

impl ModelFailure {
    /// The kind counted in `headroom_source_errors_total` (planning failures are not the
    /// source's; a source that answers with nothing but ended series is, as `stale`).
    fn source_kind(&self) -> Option<&'static str> {
        match self {
            ModelFailure::Source(error) => Some(error.kind()),
            ModelFailure::AllStale { .. } => Some("stale"),
            ModelFailure::AllMissing { .. } => Some("missing"),
            ModelFailure::NoSeries => Some("empty"),
            ModelFailure::Planning(_) => None,
        }
    }
}

impl Cycle<'_> {
    /// Runs one cycle over `models`, planning as of `now`; `previous` is the last published
    /// outcome, whose results are reused for entities whose input did not change.
    pub async fn run(&self, models: &[CapacityModel], now: f64, previous: Option<Arc<CycleOutcome>>) -> CycleOutcome {
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
                    .position(|m| m.model == model.model_name() && m.error.is_none())?;
                Some((Arc::clone(p), index))
            });
            let result = self.run_model(model, now, earlier).await;
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
                Err(failure) => {
                    if let ModelFailure::Source(error) = &failure {
                        if error.source_down() {
                            source_up = false;
                        }
                    }
                    if let Some(kind) = failure.source_kind() {
                        *source_errors.entry(kind).or_default() += 1;
                    }
                    tracing::warn!(model = %model.name, error = %failure, "model failed");
                    ModelOutcome {
                        model: model.name.clone(),
                        unit: model.unit.clone(),
                        error: Some(failure.to_string()),
                        entities: Vec::new(),
                        duration_seconds: duration.as_secs_f64(),
                        results_from: None,
                    }
                }
            };
            outcomes.push(outcome);
        }
        // The resources of a model with several become that model's outcome.
        let outcomes = plan::pool::join_all(models, outcomes);
        let scenarios = scenario_reach(self.scenarios, models, &outcomes, previous.as_deref());
        CycleOutcome {
            evaluated_at: now,
            duration_seconds: started.elapsed().as_secs_f64(),
            source: self.fetcher.source().describe(),
            source_up,
            models: outcomes,
            source_errors,
            scenario: None,
            scenarios,
            fetch: self.fetcher.stats(),
        }
    }

    async fn run_model(
        &self,
        model: &CapacityModel,
        now: f64,
        earlier: Option<(Arc<CycleOutcome>, usize)>,
    ) -> Result<(Vec<EntityResult>, usize), ModelFailure> {
        let fetcher = self.fetcher;
        let step = model.step.as_secs_f64();
        // Align the range to the step so consecutive cycles see the same grid.
        let end = (now / step).floor() * step;
        let start = end - model.history.as_secs_f64();
        let mut usage = fetcher
            .owned_history(
                &RangeQuery {
                    query: model.usage_query(),
                    start,
                    end,
                    step,
                },
                // Every resource of an entity on the same replica.
                model.model_name(),
            )
            .await?;
        let capacities = match &model.capacity {
            None => CapacityLookup::None,
            Some(Capacity::Constant(value)) => CapacityLookup::Constant(*value),
            Some(Capacity::Query(query)) => {
                // Over the whole window: a capacity that changed (an online resize) changes
                // how a remaining quantity is read, and the justification says when.
                let series = fetcher
                    .history(&RangeQuery {
                        query: query.clone(),
                        start,
                        end,
                        step,
                    })
                    .await?;
                CapacityLookup::Series {
                    query: query.clone(),
                    series,
                }
            }
        };
        let unit_sizes = match model.member.as_ref().and_then(|m| m.unit_size_query.as_ref()) {
            None => CapacityLookup::None,
            Some(query) => CapacityLookup::Series {
                query: query.clone(),
                series: fetcher
                    .history(&RangeQuery {
                        query: query.clone(),
                        start,
                        end,
                        step,
                    })
                    .await?,
            },
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
        // Entities of the previous cycle, to say which vanished from this answer.
        let resource = model.member.as_ref().map(|m| m.resource.clone());
        let previous_entities: Vec<EntityResult> = earlier
            .as_ref()
            .map(|(outcome, i)| {
                let entities = &outcome.models[*i].entities;
                match &resource {
                    None => entities.clone(),
                    Some(name) => entities.iter().filter_map(|e| e.resource(name).cloned()).collect(),
                }
            })
            .unwrap_or_default();
        // The history cache keeps a series' past when the answer no longer holds it; what it
        // keeps is not planned as live (see `vanished`).
        let before: HashMap<&Labels, &EntityResult> = previous_entities.iter().map(|e| (&e.labels, e)).collect();
        usage.retain(|history| !vanished(history, before.get(history.labels()).copied(), step));
        drop(before);
        let context = ModelContext {
            model: model.clone(),
            settings: ModelContext::settings_for(model, self.settings),
            scenarios: self.scenarios.to_vec(),
            capacities,
            unit_sizes,
            drivers,
            now,
            accuracy: past_accuracy(self.store, &model.name).await,
            // Entities whose data has not changed since the last cycle keep their results
            // (within one step, so no date drifts by more than that).
            earlier: earlier
                .filter(|(outcome, i)| {
                    outcome.models[*i]
                        .results_from
                        .is_some_and(|at| now - at < step && now >= at)
                })
                .map(|(outcome, model)| EarlierResults::new(outcome, model, resource)),
        };
        let pool = Arc::clone(self.pool);
        let store = self.store.cloned();
        let (mut entities, reused) =
            tokio::task::spawn_blocking(move || plan_in_batches(&context, store.as_ref(), &pool, usage, end))
                .await
                .map_err(|e| ModelFailure::Planning(e.to_string()))?;
        mark_ambiguous(fetcher, model, &mut entities);
        entities.extend(missing(&entities, previous_entities, model, now));
        entities.sort_by(|a, b| a.labels.cmp(&b.labels));
        refuse_answer(&entities, model, now, fetcher.shard().is_split())?;
        Ok((entities, reused))
    }
}

/// Why a model's planned answer as a whole is not a result: the usage query answered no
/// series (unless the fleet is `split` over replicas: one may own none), none of the series
/// answered (all missing), or every series has ended (the source stopped delivering).
pub(crate) fn refuse_answer(
    entities: &[EntityResult],
    model: &CapacityModel,
    now: f64,
    split: bool,
) -> Result<(), ModelFailure> {
    if entities.is_empty() && !split {
        return Err(ModelFailure::NoSeries);
    }
    let answered: Vec<&EntityResult> = entities.iter().filter(|e| e.status != EntityStatus::Missing).collect();
    if answered.is_empty() && !entities.is_empty() {
        return Err(ModelFailure::AllMissing { series: entities.len() });
    }
    if !answered.is_empty() && answered.iter().all(|e| e.status == EntityStatus::Stale) {
        let newest = answered
            .iter()
            .filter_map(|e| e.last_sample)
            .fold(f64::NEG_INFINITY, f64::max);
        return Err(ModelFailure::AllStale {
            series: answered.len(),
            newest,
            age: now - newest,
            stale_after: model.stale_after_secs(),
        });
    }
    Ok(())
}

/// How many planned entities each scenario selects and changes. A scenario that selects
/// none (a label value that matches no entity, a model with no series) is logged as a warning
/// on the first cycle and whenever it stops matching; `/metrics` counts it every cycle.
fn scenario_reach(
    scenarios: &[Scenario],
    models: &[CapacityModel],
    outcomes: &[ModelOutcome],
    previous: Option<&CycleOutcome>,
) -> Vec<ScenarioReach> {
    scenarios
        .iter()
        .map(|scenario| {
            let (mut matched, mut changed) = (0, 0);
            for outcome in outcomes.iter().filter(|o| o.error.is_none()) {
                // The model, or each resource of a model with several.
                let planned: Vec<&CapacityModel> =
                    models.iter().filter(|m| m.model_name() == outcome.model).collect();
                for entity in &outcome.entities {
                    let reached = planned.iter().any(|m| {
                        let driver = m.driver.as_ref().map(|d| d.name.as_str());
                        scenario.reaches(&m.name, driver, &entity.labels)
                    });
                    if reached {
                        matched += 1;
                    }
                    if entity.scenarios.iter().any(|o| o.scenario == scenario.name) {
                        changed += 1;
                    }
                }
            }
            let matched_before = previous
                .and_then(|p| p.scenarios.iter().find(|r| r.name == scenario.name))
                .map(|r| r.entities_matched);
            if matched == 0 && matched_before != Some(0) {
                tracing::warn!(
                    scenario = %scenario.name,
                    "scenario matches no entity: check its models, labels and drivers against the entities in /api/v1/cycle"
                );
            }
            ScenarioReach {
                name: scenario.name.clone(),
                entities_matched: matched,
                entities_changed: changed,
            }
        })
        .collect()
}

/// Whether a series known from the previous cycle has vanished from the source's answers
/// while the history cache still holds its past: its last sample moved back by more than a
/// step (samples the source returned before are gone from the re-read range), or, already
/// missing, it is still short of the last sample it had. A series that ended keeps its last
/// sample and turns stale instead; one that comes back brings its samples back and is planned
/// again.
fn vanished(history: &History, before: Option<&EntityResult>, step: f64) -> bool {
    let Some((status, Some(last_before))) = before.map(|e| (e.status, e.last_sample)) else {
        return false;
    };
    let slack = if status == EntityStatus::Missing { 0.0 } else { step };
    history.last_sample().is_none_or(|last| last < last_before - slack)
}

/// The entities of the previous cycle that this cycle's answer no longer holds, reported as
/// `missing` (never planned, no urgency) until they come back or their last sample leaves the
/// history window. A series that ends is still in the window (it turns `stale`); one that
/// vanishes from the answer while it was live points at an answer that lost part of the data.
fn missing(
    planned: &[EntityResult],
    previous: Vec<EntityResult>,
    model: &CapacityModel,
    now: f64,
) -> Vec<EntityResult> {
    let present: std::collections::HashSet<&crate::series::Labels> = planned.iter().map(|e| &e.labels).collect();
    let window = model.history.as_secs_f64();
    previous
        .into_iter()
        .filter(|old| !present.contains(&old.labels))
        .filter(|old| old.last_sample.is_some_and(|last| now - last <= window))
        .map(|old| {
            let last = old.last_sample.unwrap_or(now);
            let mut gone = EntityResult::new(old.labels, old.team);
            gone.status = EntityStatus::Missing;
            gone.last_sample = Some(last);
            gone.capacity = old.capacity;
            gone.threshold = old.threshold;
            gone.reason = Some(format!(
                "absent from this cycle's answer, though known before (its last sample was at {}); the source may have lost part of its data",
                format::time(last)
            ));
            gone
        })
        .collect()
}

/// Entities whose usage (or capacity) answer held several series with their labels get an
/// error naming them instead of a result built from one of the copies.
fn mark_ambiguous(fetcher: &Fetcher<'_>, model: &CapacityModel, entities: &mut Vec<EntityResult>) {
    let capacity = match &model.capacity {
        Some(Capacity::Query(query)) => fetcher.ambiguous(query),
        _ => Vec::new(),
    };
    mark_ambiguous_in(model, entities, &fetcher.ambiguous(&model.usage_query()), &capacity);
}

/// [`mark_ambiguous`] with the label sets the usage and the capacity answers held more than
/// once.
pub(crate) fn mark_ambiguous_in(
    model: &CapacityModel,
    entities: &mut Vec<EntityResult>,
    usage_ambiguous: &[Ambiguous],
    capacity_ambiguous: &[Ambiguous],
) {
    let usage = model.usage_query();
    for ambiguous in usage_ambiguous {
        let mut entity = EntityResult::new(ambiguous.labels.clone(), model.team.clone());
        entity.status = crate::outcome::EntityStatus::Error;
        entity.reason = Some(ambiguous.reason(&usage));
        entities.retain(|e| e.labels != ambiguous.labels);
        entities.push(entity);
    }
    if let Some(Capacity::Query(query)) = &model.capacity {
        for ambiguous in capacity_ambiguous {
            for entity in entities.iter_mut().filter(|e| e.labels == ambiguous.labels) {
                *entity = EntityResult::new(ambiguous.labels.clone(), model.team.clone());
                entity.status = crate::outcome::EntityStatus::Error;
                entity.reason = Some(ambiguous.reason(query));
            }
        }
    }
}

/// Entities planned between two visits to the state file. A batch's past forecasts are read
/// before it and its new ones written after it, so the snapshots in memory (a few KB per
/// entity) are a batch's, not a fleet's.
const ENTITIES_PER_BATCH: usize = 2048;

/// An entity's history as the planner takes it: its labels and its grid.
pub(crate) fn on_grid(history: History, step: f64) -> (crate::series::Labels, Option<Grid>) {
    match history {
        History::Samples(series) => {
            let grid = Grid::from_samples(&series.samples, Some(step));
            (series.labels, grid)
        }
        History::Grid(cached) => (
            cached.labels,
            Grid::from_regular(cached.start, cached.step, cached.values),
        ),
    }
}

/// Plans `usage` on `pool` a batch at a time, scoring and saving each batch's accuracy
/// records on the way (on the calling blocking thread). Returns the results and how many of
/// them were the previous cycle's, kept because their input had not changed.
fn plan_in_batches(
    context: &ModelContext,
    store: Option<&Store>,
    pool: &rayon::ThreadPool,
    usage: Vec<History>,
    end: f64,
) -> (Vec<EntityResult>, usize) {
    let model = &context.model.name;
    let step = context.step();
    let mut done = Vec::with_capacity(usage.len());
    let mut reused = 0;
    let mut usage = usage.into_iter();
    let mut failed_saves = 0;
    loop {
        let batch: Vec<History> = usage.by_ref().take(ENTITIES_PER_BATCH).collect();
        if batch.is_empty() {
            break;
        }
        let due = match store.filter(|_| context.accuracy.enabled) {
            Some(store) => {
                let keys: Vec<String> = batch.iter().map(|h| h.labels().to_string()).collect();
                store.due_for_scoring(model, end, &keys).unwrap_or_else(|error| {
                    tracing::warn!(%error, "cannot read past forecasts; this batch's accuracy is not scored");
                    accuracy::DueSnapshots::new()
                })
            }
            None => accuracy::DueSnapshots::new(),
        };
        let planned: Vec<plan::Planned> = pool.install(|| {
            batch
                .into_par_iter()
                .map(|history| {
                    let (labels, grid) = on_grid(history, step);
                    plan::entity(context, &due, labels, grid)
                })
                .collect()
        });
        drop(due);
        let mut scores = Vec::new();
        let mut snapshots = Vec::new();
        let mut results = Vec::with_capacity(planned.len());
        for entity in planned {
            scores.extend(entity.accuracy.scores);
            snapshots.extend(entity.accuracy.snapshot);
            results.push(entity.result);
        }
        if let Some(store) = store {
            let saved = store
                .save_scores(model, &scores)
                .and_then(|()| store.save_snapshots(model, &snapshots));
            if saved.is_err() {
                failed_saves += 1;
            }
        }
        if let Some(earlier) = &context.earlier {
            reused += results.iter().filter(|r| earlier.is_kept(r)).count();
        }
        done.append(&mut results);
    }
    if let Some(store) = store.filter(|_| context.accuracy.enabled) {
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

/// What the state file says about a model's past forecasts (nothing without a state file, or
/// when it cannot be read: accuracy is then not scored this cycle).
async fn past_accuracy(store: Option<&Store>, model: &str) -> PastAccuracy {
    let Some(store) = store.cloned() else {
        return PastAccuracy::default();
    };
    let model = model.to_string();
    let loaded = tokio::task::spawn_blocking(move || {
        Ok::<_, crate::store::StoreError>(PastAccuracy {
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
            PastAccuracy::default()
        }
        Err(error) => {
            tracing::warn!(%error, "accuracy task failed");
            PastAccuracy::default()
        }
    }
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
