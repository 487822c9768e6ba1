//! What changed in the recommendations since they were last notified, in the terms a webhook
//! speaks: a new risk, urgency up or down, a date that moved, a risk cleared.
//!
//! Pure: it takes the cycle's recommendations and the states last notified, and returns the
//! changes with the states to save. A "risk" is a recommendation of urgency warning or
//! critical; the baseline is compared (scenarios are what-ifs, not news).

use std::collections::HashMap;

use crate::outcome::{CycleOutcome, EntityResult, ModelOutcome};
use crate::recommend::Urgency;
use crate::store::risks::RiskState;

/// The kind of a change, as named in the webhook payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    NewRisk,
    UrgencyUp,
    UrgencyDown,
    DateMoved,
    RiskCleared,
}

impl ChangeKind {
    /// The stable name used in payloads.
    pub fn name(self) -> &'static str {
        match self {
            ChangeKind::NewRisk => "new_risk",
            ChangeKind::UrgencyUp => "urgency_up",
            ChangeKind::UrgencyDown => "urgency_down",
            ChangeKind::DateMoved => "date_moved",
            ChangeKind::RiskCleared => "risk_cleared",
        }
    }
}

/// One change, with the entity as it stands now (absent when it vanished).
#[derive(Clone, Debug)]
pub struct Change<'a> {
    pub kind: ChangeKind,
    pub model: &'a str,
    pub unit: &'a str,
    pub previous: Option<RiskState>,
    pub current: RiskState,
    pub entity: Option<&'a EntityResult>,
}

/// The changes of a cycle and the states to save for them.
#[derive(Debug, Default)]
pub struct Diff<'a> {
    pub changes: Vec<Change<'a>>,
    /// States to write (each change's new state, plus entities seen for the first time).
    pub save: Vec<RiskState>,
    /// Keys of entities no longer reported by a model that ran.
    pub forget: Vec<String>,
}

/// The stable key of an entity of `model`.
pub fn key(model: &str, entity: &EntityResult) -> String {
    crate::outcome::entity_key(model, &entity.labels)
}

/// The state of an entity's baseline recommendation, if it has one.
pub fn state_of(model: &ModelOutcome, entity: &EntityResult) -> Option<RiskState> {
    let recommendation = entity.recommendation.as_ref()?;
    let exhaustion = entity.exhaustion.unwrap_or_default();
    Some(RiskState {
        key: key(&model.model, entity),
        model: model.model.clone(),
        entity: entity.labels.to_string(),
        urgency: recommendation.urgency.name().to_string(),
        likely: exhaustion.likely,
        earliest: exhaustion.earliest,
        order_by: recommendation.order_by,
    })
}

/// Compares `report` with the states last notified. Dates that moved less than
/// `min_date_move_secs` are not a change. Models that failed this cycle are left alone.
pub fn diff<'a>(report: &'a CycleOutcome, notified: &HashMap<String, RiskState>, min_date_move_secs: f64) -> Diff<'a> {
    let mut out = Diff::default();
    let mut seen = std::collections::HashSet::new();
    for model in report.models.iter().filter(|m| m.error.is_none()) {
        for entity in &model.entities {
            let Some(current) = state_of(model, entity) else {
                continue;
            };
            seen.insert(current.key.clone());
            let previous = notified.get(&current.key);
            let kind = match previous {
                None if is_risk(&current.urgency) => Some(ChangeKind::NewRisk),
                None => {
                    out.save.push(current.clone());
                    None
                }
                Some(previous) => change_kind(previous, &current, min_date_move_secs),
            };
            if let Some(kind) = kind {
                out.save.push(current.clone());
                out.changes.push(Change {
                    kind,
                    model: &model.model,
                    unit: model.unit_of(entity),
                    previous: previous.cloned(),
                    current,
                    entity: Some(entity),
                });
            }
        }
    }
    let ran: std::collections::HashSet<&str> = report
        .models
        .iter()
        .filter(|m| m.error.is_none())
        .map(|m| m.model.as_str())
        .collect();
    let mut vanished: Vec<&RiskState> = notified
        .values()
        .filter(|state| ran.contains(state.model.as_str()) && !seen.contains(&state.key))
        .collect();
    vanished.sort_by(|a, b| a.key.cmp(&b.key));
    for state in vanished {
        out.forget.push(state.key.clone());
        if is_risk(&state.urgency) {
            let model = report
                .models
                .iter()
                .find(|m| m.model == state.model)
                .map(|m| (m.model.as_str(), m.unit.as_str()))
                .unwrap_or(("", ""));
            out.changes.push(Change {
                kind: ChangeKind::RiskCleared,
                model: model.0,
                unit: model.1,
                previous: Some(state.clone()),
                current: RiskState {
                    urgency: Urgency::Ok.name().into(),
                    likely: None,
                    earliest: None,
                    order_by: None,
                    ..state.clone()
                },
                entity: None,
            });
        }
    }
    out
}

fn is_risk(urgency: &str) -> bool {
    urgency != Urgency::Ok.name()
}

fn rank(urgency: &str) -> u8 {
    match urgency {
        "critical" => 2,
        "warning" => 1,
        _ => 0,
    }
}

fn change_kind(previous: &RiskState, current: &RiskState, min_move: f64) -> Option<ChangeKind> {
    match (is_risk(&previous.urgency), is_risk(&current.urgency)) {
        (false, false) => None,
        (false, true) => Some(ChangeKind::NewRisk),
        (true, false) => Some(ChangeKind::RiskCleared),
        (true, true) => {
            if rank(&current.urgency) > rank(&previous.urgency) {
                Some(ChangeKind::UrgencyUp)
            } else if rank(&current.urgency) < rank(&previous.urgency) {
                Some(ChangeKind::UrgencyDown)
            } else {
                let date = |s: &RiskState| s.likely.or(s.earliest);
                let moved = match (date(previous), date(current)) {
                    (Some(a), Some(b)) => (a - b).abs() > min_move,
                    (None, None) => false,
                    _ => true,
                };
                moved.then_some(ChangeKind::DateMoved)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(urgency: &str, likely: Option<f64>) -> RiskState {
        RiskState {
            key: "disk{host=\"a\"}".into(),
            model: "disk".into(),
            entity: "{host=\"a\"}".into(),
            urgency: urgency.into(),
            likely,
            earliest: likely.map(|l| l - 86_400.0),
            order_by: None,
        }
    }

    #[test]
    fn each_kind_of_change_is_recognised() {
        let day = 86_400.0;
        let cases = [
            ("ok", None, "warning", Some(10.0 * day), Some(ChangeKind::NewRisk)),
            (
                "warning",
                Some(10.0 * day),
                "critical",
                Some(5.0 * day),
                Some(ChangeKind::UrgencyUp),
            ),
            (
                "critical",
                Some(5.0 * day),
                "warning",
                Some(20.0 * day),
                Some(ChangeKind::UrgencyDown),
            ),
            ("warning", Some(10.0 * day), "ok", None, Some(ChangeKind::RiskCleared)),
            (
                "warning",
                Some(10.0 * day),
                "warning",
                Some(12.5 * day),
                Some(ChangeKind::DateMoved),
            ),
            ("warning", Some(10.0 * day), "warning", Some(10.5 * day), None),
            ("ok", None, "ok", None, None),
        ];
        for (before, before_date, after, after_date, expected) in cases {
            assert_eq!(
                change_kind(&state(before, before_date), &state(after, after_date), day),
                expected,
                "{before} -> {after}"
            );
        }
    }
}
