//! Replay: what Headroom would have said at past moments, what the `predict_linear` rule said
//! beside it, and how both fared against what really happened.
//!
//! This is the pure half (no IO, no logging): the app reads the source once, plans every
//! moment with [`crate::plan::entity`] exactly as `headroom once --at` does, and hands the
//! plans, the usage and the capacity read over the whole span here. This module evaluates the
//! baseline rule ([`baseline`]), judges every alert of both sides against the truth
//! ([`judge`]) and sums it up per entity and in total ([`summary`]). `docs/replay.md` defines
//! every term.

pub mod baseline;
pub mod judge;
pub mod summary;

use crate::model::{CapacityModel, Direction};
use crate::outcome::{EntityResult, EntityStatus};
use crate::plan::inputs::{CapacityLookup, matching_series};
use crate::recommend::{CRITICAL_WINDOW_SECS, Urgency};
use crate::series::{Labels, Series};

use baseline::{BaselineCall, BaselineRule};
use judge::{Capacity, ThresholdTrack, Truth, Verdict};

/// What one entity's plan at one moment says, as alerting reads it.
#[derive(Clone, Debug, PartialEq)]
pub struct MomentPlan {
    pub status: EntityStatus,
    /// When the expected path crosses the threshold.
    pub likely: Option<f64>,
    /// When the pessimistic 95 % bound does.
    pub earliest: Option<f64>,
    /// The last value was already past the threshold.
    pub exceeded_now: bool,
    /// `None` when the entity was not planned (too little history and not past its threshold,
    /// stale, no data, an error).
    pub urgency: Option<Urgency>,
    pub order_by: Option<f64>,
}

impl MomentPlan {
    /// The part of a planned entity that alerting reads.
    pub fn of(result: &EntityResult) -> MomentPlan {
        let exhaustion = result.exhaustion.unwrap_or_default();
        MomentPlan {
            status: result.status,
            likely: exhaustion.likely,
            earliest: exhaustion.earliest,
            exceeded_now: exhaustion.exceeded_now,
            urgency: result.recommendation.as_ref().map(|r| r.urgency),
            order_by: result.recommendation.as_ref().and_then(|r| r.order_by),
        }
    }

    /// Whether Headroom pages: urgency `critical` (`HeadroomCapacityCritical`; it includes an
    /// order-by date that has passed, `HeadroomExhaustionWithinLeadTime`).
    pub fn alerts(&self) -> bool {
        self.urgency == Some(Urgency::Critical)
    }
}

/// One moment of one model as planned: its entities' plans, or why the whole model failed
/// (as `once --at` would have failed then).
pub type MomentOutcome = Result<Vec<(Labels, MomentPlan)>, String>;

/// The usage and capacity of one model read over the whole replay, for the truth and the
/// baseline.
pub struct ModelData<'a> {
    pub usage: &'a [Series],
    pub capacity: &'a CapacityLookup,
}

/// One model over the replay.
#[derive(Clone, Debug)]
pub struct ModelReplay {
    pub model: String,
    pub unit: String,
    pub direction: Direction,
    /// Seconds between the model's samples.
    pub step: f64,
    /// The model's `[scaling] lead_time` in seconds (0 without one).
    pub lead_time: f64,
    /// How far ahead a Headroom alert looks: the critical window (7 days) plus the lead time.
    pub headroom_horizon: f64,
    /// How far ahead the baseline looks (`ahead`).
    pub baseline_horizon: f64,
    /// The baseline rule as PromQL.
    pub rule: String,
    /// Moments at which the whole model failed, and why.
    pub failures: Vec<(f64, String)>,
    pub entities: Vec<EntityReplay>,
}

/// One entity over the replay.
#[derive(Clone, Debug)]
pub struct EntityReplay {
    pub labels: Labels,
    pub truth: Truth,
    /// Headroom's plan at each moment (`None`: not in that moment's answer, or the model
    /// failed).
    pub plans: Vec<Option<MomentPlan>>,
    /// The baseline at each moment (`None`: fewer than two samples in its window, or no
    /// threshold).
    pub baseline: Vec<Option<BaselineCall>>,
}

/// A whole replay.
#[derive(Clone, Debug)]
pub struct Replay {
    pub from: f64,
    pub to: f64,
    /// Seconds between moments.
    pub every: f64,
    pub moments: Vec<f64>,
    pub rule: BaselineRule,
    pub source: String,
    /// The newest instant any model's data was read up to.
    pub read_until: f64,
    pub models: Vec<ModelReplay>,
}

/// The moments of a replay: `from`, then every `every` seconds, up to `to`.
pub fn moments(from: f64, to: f64, every: f64) -> Vec<f64> {
    let valid = every > 0.0 && to >= from && (to - from).is_finite();
    if !valid {
        return Vec::new();
    }
    let count = ((to - from) / every + 1e-9).floor() as usize + 1;
    (0..count).map(|i| from + i as f64 * every).collect()
}

impl ModelReplay {
    /// Gathers one model's plans at each of `moments` (one outcome per moment), evaluates the
    /// baseline and builds each entity's truth from `data`. Entities are those planned at
    /// least once, sorted by labels.
    pub fn new(
        model: &CapacityModel,
        rule: &BaselineRule,
        moments: &[f64],
        outcomes: Vec<MomentOutcome>,
        data: &ModelData<'_>,
    ) -> ModelReplay {
        let lead_time = model.scaling.as_ref().map_or(0.0, |s| s.lead_time.as_secs_f64());
        let mut failures = Vec::new();
        let mut by_entity: std::collections::BTreeMap<Labels, Vec<Option<MomentPlan>>> = Default::default();
        for (index, outcome) in outcomes.into_iter().enumerate() {
            match outcome {
                Ok(plans) => {
                    for (labels, plan) in plans {
                        by_entity.entry(labels).or_insert_with(|| vec![None; moments.len()])[index] = Some(plan);
                    }
                }
                Err(why) => failures.push((moments[index], why)),
            }
        }
        let entities = by_entity
            .into_iter()
            .map(|(labels, plans)| {
                let truth = truth_of(model, &labels, data);
                let baseline = moments
                    .iter()
                    .map(|&at| {
                        let threshold = truth.threshold.at(at)?;
                        rule.evaluate(&truth.samples, at, threshold, model.direction)
                    })
                    .collect();
                EntityReplay {
                    labels,
                    truth,
                    plans,
                    baseline,
                }
            })
            .collect();
        ModelReplay {
            model: model.name.clone(),
            unit: model.unit.clone(),
            direction: model.direction,
            step: model.step.as_secs_f64(),
            lead_time,
            headroom_horizon: CRITICAL_WINDOW_SECS + lead_time,
            baseline_horizon: rule.ahead.as_secs_f64(),
            rule: rule.expression(model),
            failures,
            entities,
        }
    }

    /// Headroom's alert at moment `index` and its verdict (`None`: it did not alert).
    pub fn headroom_verdict(&self, entity: &EntityReplay, at: f64, index: usize) -> Option<Verdict> {
        let plan = entity.plans[index].as_ref()?;
        plan.alerts()
            .then(|| entity.truth.judge(at, self.headroom_horizon, self.step))
    }

    /// The baseline's alert at moment `index` and its verdict (`None`: it did not fire).
    pub fn baseline_verdict(&self, entity: &EntityReplay, at: f64, index: usize) -> Option<Verdict> {
        let call = entity.baseline[index]?;
        call.fires
            .then(|| entity.truth.judge(at, self.baseline_horizon, self.step))
    }
}

/// What really happened to an entity: its usage over the whole read and its threshold over
/// time.
fn truth_of(model: &CapacityModel, labels: &Labels, data: &ModelData<'_>) -> Truth {
    let samples: Vec<(f64, f64)> = data
        .usage
        .iter()
        .find(|s| &s.labels == labels)
        .map(|s| s.samples.iter().map(|x| (x.timestamp, x.value)).collect())
        .unwrap_or_default();
    let capacity_samples: Vec<(f64, f64)>;
    let capacity = match data.capacity {
        CapacityLookup::None => None,
        CapacityLookup::Constant(value) => Some(Capacity::Constant(*value)),
        CapacityLookup::Series { series, .. } => match matching_series(series, labels) {
            Some(found) => {
                capacity_samples = found.samples.iter().map(|x| (x.timestamp, x.value)).collect();
                Some(Capacity::Samples(&capacity_samples))
            }
            None => None,
        },
    };
    Truth::new(samples, ThresholdTrack::new(model.threshold, capacity), model.direction)
}

#[cfg(test)]
mod tests;
