//! What a planning cycle found: one outcome per model and entity, the value every output
//! reads (`/metrics`, the JSON API, `once`, the weekly report, webhooks, the budget).
//!
//! It lives here, between the core that computes it ([`crate::plan`]) and the edges that
//! render or deliver it, so that no output has to know how a cycle is run. The aggregations
//! that several outputs share (the budget, a scenario's view, the urgency order) live with it.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::forecast::ForecastSummary;
use crate::forecast::accuracy;
use crate::recommend::Recommendation;
use crate::recommend::exhaustion::Exhaustion;
use crate::scenario::driver;
use crate::series::Labels;

/// What happened to one entity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EntityStatus {
    /// Forecast and planned.
    Ok,
    /// Too little history to forecast; an entity already past its threshold is still
    /// critical (its exhaustion says `exceeded_now`).
    InsufficientHistory,
    /// No finite sample in the history window.
    NoData,
    /// Its last sample is older than the model's `stale_after`: the series has ended (a
    /// remount, a removed node). Reported with the time of its last sample, never planned.
    Stale,
    /// Known from an earlier cycle, but absent from this cycle's answer (a partial answer, a
    /// lost store). Reported, never planned, until it comes back or ages out of the window.
    Missing,
    /// Its capacity or another input cannot be used; `reason` says which.
    Error,
}

impl EntityStatus {
    /// Every status, in the order metrics list them.
    pub const ALL: [EntityStatus; 6] = [
        EntityStatus::Ok,
        EntityStatus::InsufficientHistory,
        EntityStatus::NoData,
        EntityStatus::Stale,
        EntityStatus::Missing,
        EntityStatus::Error,
    ];

    /// The stable name used in metrics and JSON.
    pub fn name(self) -> &'static str {
        match self {
            EntityStatus::Ok => "ok",
            EntityStatus::InsufficientHistory => "insufficient_history",
            EntityStatus::NoData => "no_data",
            EntityStatus::Stale => "stale",
            EntityStatus::Missing => "missing",
            EntityStatus::Error => "error",
        }
    }
}

/// The result for one entity of one model.
#[derive(Clone, Debug)]
pub struct EntityResult {
    pub labels: Labels,
    pub status: EntityStatus,
    /// Why the status is not `ok`.
    pub reason: Option<String>,
    pub capacity: Option<f64>,
    /// The threshold in the model's unit.
    pub threshold: Option<f64>,
    /// The last observed value.
    pub current: Option<f64>,
    /// Unix seconds of the last finite sample in the history window.
    pub last_sample: Option<f64>,
    pub exhaustion: Option<Exhaustion>,
    /// The forecast's summary; for entities not at risk its path is trimmed to the horizon's
    /// point once the cycle has used it.
    pub forecast: Option<Arc<ForecastSummary>>,
    /// What to do about it (when a forecast was made).
    pub recommendation: Option<Recommendation>,
    /// The model's team, for filtering and reports.
    pub team: Option<String>,
    /// The same entity under each configured scenario.
    pub scenarios: Vec<ScenarioOutcome>,
    /// The fit to the model's driver, when it has one.
    pub driver: Option<driver::DriverFit>,
    /// Whether the forecast came through the driver (the fit held).
    pub driver_used: bool,
    /// Why the model's driver could not be used for this entity, when it could not.
    pub driver_problem: Option<String>,
    /// The recent history, averaged down to at most `plan::CHART_POINTS` points, kept only for
    /// entities at risk (it draws their chart in the weekly report).
    pub history: Arc<Vec<(f64, f64)>>,
    /// The latest score of this entity's past forecasts at each checkpoint.
    pub accuracy: Vec<accuracy::Score>,
    /// The unit of `capacity`, `threshold`, `current` and the forecast when it is not the
    /// model's: for a model with several resources, the binding resource's.
    pub unit: Option<String>,
    /// For a model with several resources: the resource that binds (crosses its threshold
    /// first, or else needs the most units), whose usage, capacity, exhaustion and forecast
    /// the fields above are.
    pub binding: Option<String>,
    /// For a model with several resources: each resource planned on its own, in the model
    /// file's order (empty for a model with one).
    pub resources: Vec<ResourceResult>,
}

/// One resource of an entity of a model with several.
#[derive(Clone, Debug)]
pub struct ResourceResult {
    /// The resource's name (`cpu`, `memory`, `pods`).
    pub resource: String,
    /// The unit of its values.
    pub unit: String,
    /// The resource planned alone: its usage, capacity, exhaustion, forecast and the units it
    /// alone would need.
    pub result: EntityResult,
}

/// The identity of an entity across cycles: its model's name and its labels.
pub fn entity_key(model: &str, labels: &Labels) -> String {
    format!("{model}{labels}")
}

impl EntityResult {
    /// An entity with `labels` before planning: status ok, nothing known yet.
    pub fn new(labels: Labels, team: Option<String>) -> EntityResult {
        EntityResult {
            labels,
            status: EntityStatus::Ok,
            reason: None,
            capacity: None,
            threshold: None,
            current: None,
            last_sample: None,
            exhaustion: None,
            forecast: None,
            recommendation: None,
            team,
            scenarios: Vec::new(),
            driver: None,
            driver_used: false,
            driver_problem: None,
            history: Arc::default(),
            accuracy: Vec::new(),
            unit: None,
            binding: None,
            resources: Vec::new(),
        }
    }

    /// The result of resource `name` of this entity, for a model with several.
    pub fn resource(&self, name: &str) -> Option<&EntityResult> {
        self.resources.iter().find(|r| r.resource == name).map(|r| &r.result)
    }

    /// The baseline's recommendation, then that of each scenario that changes this entity's
    /// forecast, with the scenario's name.
    pub fn recommendations_by_scenario(&self) -> impl Iterator<Item = (&str, Option<&Recommendation>)> {
        std::iter::once(("baseline", self.recommendation.as_ref())).chain(
            self.scenarios
                .iter()
                .map(|o| (o.scenario.as_str(), o.recommendation.as_ref())),
        )
    }

    /// The entity's recommendation under `scenario`: the scenario's own where it changes this
    /// entity's forecast, the baseline elsewhere (`baseline` is the baseline).
    pub fn recommendation_under(&self, scenario: &str) -> Option<&Recommendation> {
        match self.scenarios.iter().find(|o| o.scenario == scenario) {
            Some(outcome) => outcome.recommendation.as_ref(),
            None => self.recommendation.as_ref(),
        }
    }
}

/// One entity under one scenario.
#[derive(Clone, Debug)]
pub struct ScenarioOutcome {
    pub scenario: String,
    /// For a model with several resources, the resource that binds under the scenario.
    pub binding: Option<String>,
    pub exhaustion: Option<Exhaustion>,
    pub recommendation: Option<Recommendation>,
}

/// How far a configured scenario reached in a cycle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioReach {
    pub name: String,
    /// Entities one of its changes selects (by model, labels, or the model's driver).
    pub entities_matched: usize,
    /// Entities whose forecast it changes within the horizon (those that carry its result).
    pub entities_changed: usize,
}

/// The result of one model.
#[derive(Clone, Debug)]
pub struct ModelOutcome {
    pub model: String,
    pub unit: String,
    /// Set when the whole model failed (its query was rejected, the source was down).
    pub error: Option<String>,
    pub entities: Vec<EntityResult>,
    pub duration_seconds: f64,
    /// Unix time of the cycle the entities come from: this cycle's, or an earlier one's when
    /// this model failed and its last good results are carried over.
    pub results_from: Option<f64>,
}

impl ModelOutcome {
    /// The unit of `entity`'s values: its own (a model with several resources: the binding
    /// resource's), else the model's.
    pub fn unit_of<'a>(&'a self, entity: &'a EntityResult) -> &'a str {
        entity.unit.as_deref().unwrap_or(&self.unit)
    }
}

/// The result of a whole cycle.
#[derive(Clone, Debug)]
pub struct CycleOutcome {
    /// Unix seconds the cycle planned from ("now").
    pub evaluated_at: f64,
    pub duration_seconds: f64,
    pub source: String,
    /// Whether every query reached the source.
    pub source_up: bool,
    pub models: Vec<ModelOutcome>,
    /// Source errors by kind, for self-metrics.
    pub source_errors: BTreeMap<&'static str, u64>,
    /// Set on a view of the report under one scenario ([`under_scenario`]).
    pub scenario: Option<String>,
    /// The configured scenarios and how many entities each reached. An entity carries a
    /// scenario's result only where the scenario changes its forecast; elsewhere its baseline
    /// is that scenario's answer.
    pub scenarios: Vec<ScenarioReach>,
    /// What the cycle asked of its source.
    pub fetch: FetchStats,
}

impl CycleOutcome {
    /// Whether any model failed as a whole.
    pub fn has_failures(&self) -> bool {
        self.models.iter().any(|m| m.error.is_some())
    }

    /// For every model that failed in this cycle, keeps the entities of its last good cycle in
    /// `previous`: a Prometheus outage must not make forecasts (and the alerts on them) vanish.
    /// `results_from` says how old they are.
    pub fn carry_over_failed_models(&mut self, previous: &CycleOutcome) {
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

impl CycleOutcome {
    /// Adds the previous results of configured models that were not due in this cycle, so
    /// every configured model stays published; keeps the configuration's order.
    pub fn carry_over_models_not_run(&mut self, previous: &CycleOutcome, configured: &[&str]) {
        for old in &previous.models {
            if configured.contains(&old.model.as_str()) && !self.models.iter().any(|m| m.model == old.model) {
                self.models.push(old.clone());
            }
        }
        self.models
            .sort_by_key(|m| configured.iter().position(|c| *c == m.model));
    }
}

/// One line of the budget: a model and team's projected monthly cost under one scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct BudgetLine {
    pub scenario: String,
    pub model: String,
    pub team: Option<String>,
    pub currency: String,
    /// `(YYYY-MM, cost)` for the next 12 months: the sum of the entities' projections.
    pub months: Vec<(String, f64)>,
    /// The sum of `months`.
    pub total: f64,
}

/// The 12-month budget: each model's entities' cost projections summed per scenario (the
/// baseline first), team and currency. A scenario's line counts every entity: its own result
/// where it changes the entity's forecast, the baseline elsewhere.
pub fn budget(report: &CycleOutcome) -> Vec<BudgetLine> {
    let mut lines: Vec<BudgetLine> = Vec::new();
    let scenarios: Vec<&str> = std::iter::once("baseline")
        .chain(report.scenarios.iter().map(|s| s.name.as_str()))
        .collect();
    for model in &report.models {
        for entity in &model.entities {
            for &scenario in &scenarios {
                let Some(cost) = entity.recommendation_under(scenario).and_then(|r| r.cost.as_ref()) else {
                    continue;
                };
                let position = lines.iter().position(|l| {
                    l.scenario == scenario
                        && l.model == model.model
                        && l.team == entity.team
                        && l.currency == cost.currency
                });
                let line = match position {
                    Some(i) => &mut lines[i],
                    None => {
                        lines.push(BudgetLine {
                            scenario: scenario.to_string(),
                            model: model.model.clone(),
                            team: entity.team.clone(),
                            currency: cost.currency.clone(),
                            months: cost.projection.iter().map(|m| (m.month.clone(), 0.0)).collect(),
                            total: 0.0,
                        });
                        let last = lines.len() - 1;
                        &mut lines[last]
                    }
                };
                for month in &cost.projection {
                    if let Some(slot) = line.months.iter_mut().find(|(name, _)| *name == month.month) {
                        slot.1 += month.cost;
                    }
                }
                line.total = line.months.iter().map(|(_, c)| c).sum();
            }
        }
    }
    lines
}

/// The cycle as seen under scenario `name`: every entity's exhaustion and recommendation are
/// the scenario's ("baseline" or an unknown name leaves the report as it is).
pub fn under_scenario(report: &CycleOutcome, name: &str) -> CycleOutcome {
    let mut view = report.clone();
    for entity in view.models.iter_mut().flat_map(|m| m.entities.iter_mut()) {
        if let Some(outcome) = entity.scenarios.iter().find(|o| o.scenario == name) {
            entity.exhaustion = outcome.exhaustion;
            entity.recommendation = outcome.recommendation.clone();
            if let Some(binding) = outcome.binding.as_ref().filter(|b| entity.binding.as_ref() != Some(b)) {
                // Another resource binds under the scenario: the entity's values are its.
                if let Some(resource) = entity.resources.iter().find(|r| &r.resource == binding) {
                    entity.capacity = resource.result.capacity;
                    entity.threshold = resource.result.threshold;
                    entity.current = resource.result.current;
                    entity.forecast = resource.result.forecast.clone();
                    entity.history = Arc::clone(&resource.result.history);
                    entity.unit = Some(resource.unit.clone());
                }
                entity.binding = Some(binding.clone());
            }
        }
        entity.scenarios.retain(|o| o.scenario == name);
    }
    view.scenario = Some(name.to_string());
    view
}

/// Most urgent first, then the soonest order-by date.
pub(crate) fn most_urgent_first(a: &EntityResult, b: &EntityResult) -> std::cmp::Ordering {
    let urgency = |e: &EntityResult| e.recommendation.as_ref().map(|r| r.urgency);
    let order_by = |e: &EntityResult| {
        e.recommendation
            .as_ref()
            .and_then(|r| r.order_by)
            .unwrap_or(f64::INFINITY)
    };
    urgency(b).cmp(&urgency(a)).then(order_by(a).total_cmp(&order_by(b)))
}

/// What a cycle asked of its source.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FetchStats {
    /// Range queries sent, whole window.
    pub full_queries: u64,
    /// Range queries sent for the new part only.
    pub incremental_queries: u64,
    /// Samples received from the source.
    pub samples: u64,
    /// Wall time of each range query (all its requests), in seconds.
    pub query_seconds: Vec<f64>,
    /// Failed reads or writes of the cache (the cycle went on without it).
    pub cache_errors: u64,
    /// Warnings and informational annotations the source's answers carried.
    pub warnings: u64,
    pub infos: u64,
}
