//! A model with several resources that share one scaling unit (a node pool's CPU, memory and
//! pod slots): each resource is planned on its own, as a model of its own, then joined here
//! per entity.
//!
//! The rules an SRE reconciles by hand when a pool is modelled once per resource:
//! - the **binding** resource is the one that crosses its threshold first (already past it,
//!   then the earliest pessimistic crossing, then the expected one); when none crosses within
//!   the horizon, the one that needs the most units;
//! - the pool needs the **most units any resource needs**, so capacity is removed only when
//!   every resource allows it;
//! - the pool's **cost is counted once** (units × the unit's monthly cost), never once per
//!   resource;
//! - a resource that could not be planned is said (status, reason, caveat), never taken as
//!   headroom.
//!
//! Pure: from the resources' results to the model's, no IO.

use std::collections::BTreeSet;

use crate::format;
use crate::model::{CapacityModel, Scaling};
use crate::outcome::{EntityResult, EntityStatus, ModelOutcome, ResourceResult, ScenarioOutcome};
use crate::recommend::exhaustion::Exhaustion;
use crate::recommend::{Cost, MonthCost, Recommendation, Units, plural};

/// The caveat a recommendation to remove capacity carries: said for the pool only when the
/// pool removes, never because one resource alone would.
const REMOVING: &str = "Removing capacity assumes";
use crate::series::Labels;

/// Joins the outcomes of the resources of one model (in the model file's order, each with its
/// model) into the model's outcome. The model fails when one of its resources failed: a pool
/// planned without one of its resources could miss the one that binds.
pub fn join(name: &str, members: Vec<(&CapacityModel, ModelOutcome)>) -> ModelOutcome {
    let duration_seconds = members.iter().map(|(_, o)| o.duration_seconds).sum();
    let errors: Vec<String> = members
        .iter()
        .filter_map(|(m, o)| o.error.as_ref().map(|e| format!("resource {}: {e}", resource_of(m))))
        .collect();
    if !errors.is_empty() {
        return ModelOutcome {
            model: name.to_string(),
            unit: String::new(),
            error: Some(errors.join("; ")),
            entities: Vec::new(),
            duration_seconds,
            results_from: None,
        };
    }
    let results_from = members
        .iter()
        .filter_map(|(_, o)| o.results_from)
        .min_by(f64::total_cmp);
    let labels: BTreeSet<Labels> = members
        .iter()
        .flat_map(|(_, o)| o.entities.iter().map(|e| e.labels.clone()))
        .collect();
    let scaling = members.first().and_then(|(m, _)| m.scaling.clone());
    let entities = labels
        .into_iter()
        .map(|labels| {
            let resources = members
                .iter()
                .map(|(model, outcome)| ResourceResult {
                    resource: resource_of(model).to_string(),
                    unit: model.unit.clone(),
                    result: outcome
                        .entities
                        .iter()
                        .find(|e| e.labels == labels)
                        .cloned()
                        .unwrap_or_else(|| absent(&labels, model)),
                })
                .collect();
            join_entity(labels, resources, scaling.as_ref())
        })
        .collect();
    ModelOutcome {
        model: name.to_string(),
        unit: String::new(),
        error: None,
        entities,
        duration_seconds,
        results_from,
    }
}

fn resource_of(model: &CapacityModel) -> &str {
    model.member.as_ref().map_or(&model.name, |m| &m.resource)
}

/// An entity one resource's usage query does not answer.
fn absent(labels: &Labels, model: &CapacityModel) -> EntityResult {
    let mut result = EntityResult::new(labels.clone(), model.team.clone());
    result.status = EntityStatus::NoData;
    result.reason = Some(format!(
        "the usage query of resource {} answers no series with these labels",
        resource_of(model)
    ));
    result
}

/// How bad a status is for a pool: the worst of its resources' is the entity's.
fn severity(status: EntityStatus) -> u8 {
    match status {
        EntityStatus::Ok => 0,
        EntityStatus::InsufficientHistory => 1,
        EntityStatus::NoData => 2,
        EntityStatus::Stale => 3,
        EntityStatus::Missing => 4,
        EntityStatus::Error => 5,
    }
}

/// One entity from its resources' results.
fn join_entity(labels: Labels, resources: Vec<ResourceResult>, scaling: Option<&Scaling>) -> EntityResult {
    let views: Vec<View<'_>> = resources
        .iter()
        .map(|r| View {
            resource: &r.resource,
            unit: &r.unit,
            result: &r.result,
            exhaustion: r.result.exhaustion,
            recommendation: r.result.recommendation.as_ref(),
        })
        .collect();
    let decided = decide(&views, scaling);
    let scenario_names: Vec<String> = resources
        .iter()
        .flat_map(|r| r.result.scenarios.iter().map(|s| s.scenario.clone()))
        .fold(Vec::new(), |mut names, name| {
            if !names.contains(&name) {
                names.push(name);
            }
            names
        });
    let scenarios = scenario_names
        .into_iter()
        .map(|scenario| {
            let under: Vec<View<'_>> = resources
                .iter()
                .map(|r| {
                    let own = r.result.scenarios.iter().find(|s| s.scenario == scenario);
                    View {
                        resource: &r.resource,
                        unit: &r.unit,
                        result: &r.result,
                        exhaustion: own.map_or(r.result.exhaustion, |s| s.exhaustion),
                        recommendation: own.map_or(r.result.recommendation.as_ref(), |s| s.recommendation.as_ref()),
                    }
                })
                .collect();
            let decided = decide(&under, scaling);
            ScenarioOutcome {
                scenario,
                binding: decided.binding.map(|i| resources[i].resource.clone()),
                exhaustion: decided.binding.and_then(|i| under[i].exhaustion),
                recommendation: decided.recommendation,
            }
        })
        .collect();

    let worst = resources
        .iter()
        .max_by_key(|r| severity(r.result.status))
        .map_or(EntityStatus::Ok, |r| r.result.status);
    let reasons: Vec<String> = resources
        .iter()
        .filter(|r| r.result.status != EntityStatus::Ok)
        .filter_map(|r| r.result.reason.as_ref().map(|why| format!("{}: {why}", r.resource)))
        .collect();
    let source = decided.binding.unwrap_or(0);
    let first = &resources[source];
    let mut entity = EntityResult::new(labels, first.result.team.clone());
    entity.status = worst;
    entity.reason = (!reasons.is_empty()).then(|| reasons.join("; "));
    entity.capacity = first.result.capacity;
    entity.threshold = first.result.threshold;
    entity.current = first.result.current;
    entity.last_sample = resources
        .iter()
        .filter_map(|r| r.result.last_sample)
        .max_by(f64::total_cmp);
    entity.exhaustion = decided.binding.and_then(|i| views[i].exhaustion);
    entity.forecast = first.result.forecast.clone();
    entity.history = std::sync::Arc::clone(&first.result.history);
    entity.accuracy = first.result.accuracy.clone();
    entity.recommendation = decided.recommendation;
    entity.unit = Some(first.unit.clone());
    entity.binding = decided.binding.map(|i| resources[i].resource.clone());
    entity.scenarios = scenarios;
    entity.resources = resources;
    entity
}

/// One resource as seen under the baseline or a scenario.
struct View<'a> {
    resource: &'a str,
    unit: &'a str,
    result: &'a EntityResult,
    exhaustion: Option<Exhaustion>,
    recommendation: Option<&'a Recommendation>,
}

/// The binding resource (an index into the views) and the pool's recommendation.
struct Decided {
    binding: Option<usize>,
    recommendation: Option<Recommendation>,
}

/// Which resource binds, and what the pool needs.
fn decide(views: &[View<'_>], scaling: Option<&Scaling>) -> Decided {
    let planned: Vec<usize> = (0..views.len())
        .filter(|&i| views[i].recommendation.is_some())
        .collect();
    let key = |i: &usize| {
        let x = views[*i].exhaustion.unwrap_or_default();
        let needed = views[*i]
            .recommendation
            .and_then(|r| r.units.as_ref())
            .map_or(0, |u| u.needed);
        (
            !x.exceeded_now,
            OrderedTime(x.earliest),
            OrderedTime(x.likely),
            std::cmp::Reverse(needed),
            *i,
        )
    };
    let Some(binding) = planned.iter().copied().min_by_key(key) else {
        return Decided {
            binding: None,
            recommendation: None,
        };
    };
    let own = views[binding].recommendation.expect("planned");
    let mut pool = own.clone();
    for &i in &planned {
        let other = views[i].recommendation.expect("planned");
        pool.urgency = pool.urgency.max(other.urgency);
        pool.order_by = min_option(pool.order_by, other.order_by);
        pool.runway_days = min_option(pool.runway_days, other.runway_days);
        pool.earliest_runway_days = min_option(pool.earliest_runway_days, other.earliest_runway_days);
    }
    let all_planned = planned.len() == views.len();
    let mut justification = vec![binding_sentence(views, binding, &planned, all_planned)];
    // Units come from the resources that could be sized; one that could not (or could not be
    // planned) may need more, so the pool then never shrinks.
    let sized: Vec<usize> = planned
        .iter()
        .copied()
        .filter(|&i| views[i].recommendation.is_some_and(|r| r.units.is_some()))
        .collect();
    let base = std::iter::once(binding)
        .chain(sized.iter().copied())
        .find(|i| sized.contains(i));
    pool.units = None;
    pool.cost = None;
    if let (Some(scaling), Some(base)) = (scaling, base) {
        let r = views[base].recommendation.expect("planned");
        let base_units = r.units.as_ref().expect("sized");
        let all_sized = sized.len() == views.len();
        let (units, cost, sentence) = pool_units(views, &sized, (base_units, r.cost.as_ref()), scaling, all_sized);
        pool.units = Some(units);
        pool.cost = cost;
        justification.push(sentence);
    }
    justification.extend(
        own.justification
            .iter()
            .map(|s| format!("{}: {s}", views[binding].resource)),
    );
    for &i in planned.iter().filter(|&&i| i != binding) {
        justification.push(headroom_sentence(&views[i]));
    }
    let mut caveats: Vec<String> = Vec::new();
    for view in views {
        match view.recommendation {
            Some(r) => caveats.extend(
                r.caveats
                    .iter()
                    .filter(|c| !c.starts_with(REMOVING))
                    .map(|c| format!("{}: {c}", view.resource)),
            ),
            None => caveats.push(format!(
                "{} could not be planned ({}): the pool may bind on it earlier than this says.",
                view.resource,
                view.result.reason.as_deref().unwrap_or(view.result.status.name())
            )),
        }
    }
    if pool.units.as_ref().is_some_and(|u| u.change < 0) && pool.earliest_runway_days.is_none() {
        caveats.push(format!(
            "{REMOVING} the pessimistic forecast of every resource holds through the horizon; re-check before each step."
        ));
    }
    pool.justification = justification;
    pool.caveats = caveats;
    Decided {
        binding: Some(binding),
        recommendation: Some(pool),
    }
}

/// The units the pool needs (the most any resource needs), its cost counted once, and the
/// sentence that says so.
fn pool_units(
    views: &[View<'_>],
    planned: &[usize],
    (binding_units, binding_cost): (&Units, Option<&Cost>),
    scaling: &Scaling,
    all_sized: bool,
) -> (Units, Option<Cost>, String) {
    let per_resource: Vec<(&str, u32)> = planned
        .iter()
        .filter_map(|&i| Some((views[i].resource, views[i].recommendation?.units.as_ref()?.needed)))
        .collect();
    let needed = per_resource
        .iter()
        .map(|(_, n)| *n)
        .max()
        .unwrap_or(binding_units.needed);
    let current = binding_units.current;
    // A resource that could not be planned may be the one that binds: the pool is never
    // shrunk on the word of the others.
    let needed = if all_sized {
        needed
    } else {
        needed.max(current.round() as u32)
    };
    let units = Units {
        current,
        needed,
        change: i64::from(needed) - current.round() as i64,
        unit_name: binding_units.unit_name.clone(),
        unit_size: binding_units.unit_size,
    };
    let cost = binding_cost.map(|c| {
        let months = c
            .projection
            .iter()
            .map(|month| {
                let units = planned
                    .iter()
                    .filter_map(|&i| views[i].recommendation?.cost.as_ref())
                    .filter_map(|cost| cost.projection.iter().find(|m| m.month == month.month))
                    .map(|m| m.units)
                    .max()
                    .unwrap_or(month.units);
                MonthCost {
                    month: month.month.clone(),
                    units,
                    cost: f64::from(units) * scaling.unit_cost,
                    basis: month.basis,
                }
            })
            .collect();
        Cost {
            currency: c.currency.clone(),
            monthly_current: current.round() * scaling.unit_cost,
            monthly_recommended: f64::from(needed) * scaling.unit_cost,
            projection: months,
        }
    });
    let action = match units.change {
        c if c > 0 => format!("add {c}"),
        c if c < 0 => format!("remove {}", -c),
        _ => "keep them".to_string(),
    };
    let list = per_resource
        .iter()
        .map(|(name, n)| format!("{name} {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sentence = format!(
        "The pool needs {needed} {} (units.needed), the most any resource needs ({list}), against {:.1} now: {action}; it shrinks only where every resource allows, and its cost is counted once (cost).",
        plural(&units.unit_name, i64::from(needed)),
        current,
    );
    (units, cost, sentence)
}

/// Which resource binds, and why.
fn binding_sentence(views: &[View<'_>], binding: usize, planned: &[usize], all_planned: bool) -> String {
    let view = &views[binding];
    // "Before" names only the resources that cross too: the others' headroom has its own
    // sentence.
    let others: Vec<&str> = planned
        .iter()
        .filter(|&&i| i != binding && views[i].exhaustion.is_some_and(|x| x.earliest.is_some()))
        .map(|&i| views[i].resource)
        .collect();
    let against = if others.is_empty() {
        String::new()
    } else {
        format!(" before {}", others.join(" and "))
    };
    match view.exhaustion {
        Some(x) if x.exceeded_now => format!("{} binds: it is already past its threshold (binding).", view.resource),
        Some(Exhaustion { earliest: Some(at), .. }) => format!(
            "{} binds: its pessimistic 95 % bound crosses its threshold first, on {}{against} (binding).",
            view.resource,
            format::date(at)
        ),
        _ => format!(
            "No {}resource crosses its threshold within the horizon; {} needs the most units (binding).",
            if all_planned { "" } else { "planned " },
            view.resource
        ),
    }
}

/// The headroom a resource that does not bind keeps.
fn headroom_sentence(view: &View<'_>) -> String {
    let Some(r) = view.recommendation else {
        return String::new();
    };
    let unit = view.unit;
    let mut sentence = format!(
        "{}: peaks at {} {unit} (pessimistic)",
        view.resource,
        format::number(r.peak_pessimistic)
    );
    if let Some(threshold) = view.result.threshold {
        sentence.push_str(&format!(" against a threshold of {} {unit}", format::number(threshold)));
    }
    match view.exhaustion {
        Some(x) if x.exceeded_now => sentence.push_str(", already past it"),
        Some(Exhaustion { earliest: Some(at), .. }) => {
            sentence.push_str(&format!(", crossing on {} at the earliest", format::date(at)))
        }
        _ => sentence.push_str(", not crossing within the horizon"),
    }
    if let Some(u) = &r.units {
        sentence.push_str(&format!(
            "; alone it would need {} {}",
            u.needed,
            plural(&u.unit_name, i64::from(u.needed))
        ));
    }
    sentence.push('.');
    sentence
}

fn min_option(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// A time where "never" sorts last.
struct OrderedTime(Option<f64>);

impl PartialEq for OrderedTime {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for OrderedTime {}

impl PartialOrd for OrderedTime {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for OrderedTime {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let at = |t: &Option<f64>| t.unwrap_or(f64::INFINITY);
        at(&self.0).total_cmp(&at(&other.0))
    }
}

/// The outcomes of a cycle's models (`outcomes[i]` is `models[i]`'s) with the resources of
/// each model with several joined into that model's outcome, in first-appearance order.
pub fn join_all(models: &[CapacityModel], outcomes: Vec<ModelOutcome>) -> Vec<ModelOutcome> {
    let mut joined: Vec<ModelOutcome> = Vec::new();
    let mut groups: Vec<(String, Vec<(&CapacityModel, ModelOutcome)>)> = Vec::new();
    let mut order: Vec<Result<usize, usize>> = Vec::new(); // Ok: plain outcome, Err: group
    for (model, outcome) in models.iter().zip(outcomes) {
        match &model.member {
            None => {
                order.push(Ok(joined.len()));
                joined.push(outcome);
            }
            Some(member) => match groups.iter_mut().position(|(name, _)| *name == member.model) {
                Some(i) => groups[i].1.push((model, outcome)),
                None => {
                    order.push(Err(groups.len()));
                    groups.push((member.model.clone(), vec![(model, outcome)]));
                }
            },
        }
    }
    let mut plain: Vec<Option<ModelOutcome>> = joined.into_iter().map(Some).collect();
    let mut pools: Vec<Option<ModelOutcome>> = groups
        .into_iter()
        .map(|(name, members)| Some(join(&name, members)))
        .collect();
    order
        .into_iter()
        .filter_map(|slot| match slot {
            Ok(i) => plain[i].take(),
            Err(i) => pools[i].take(),
        })
        .collect()
}

#[cfg(test)]
mod tests;
