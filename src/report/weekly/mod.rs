//! The weekly capacity report: what is at risk and by when, ranked by runway; runway by team;
//! right-sizing savings; the finance projection per scenario; and what changed since last
//! week's report. Rendered as HTML with inline PNG charts and as plain text, in one email.
//!
//! [`WeeklyReport::build`] is pure: it takes a cycle and last week's snapshot. [`chart`],
//! [`html`], [`text`] and [`message`] render it; [`due`] decides when it is built and queued.

pub mod chart;
pub mod html;
pub mod message;
pub mod schedule;
pub mod text;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::forecast::PathPoint;
use crate::outcome::{BudgetLine, budget};
use crate::outcome::{CycleOutcome, EntityResult, ModelOutcome};
use crate::recommend::Urgency;
use schedule::Period;

/// Most at-risk entities drawn as charts (the rest are listed in the table).
pub const MAX_CHARTS: usize = 12;

/// A date that moved less than this since last week is not listed as moved.
const MOVED_SECS: f64 = 86_400.0;

/// Everything the report says, computed once and rendered twice.
#[derive(Clone, Debug)]
pub struct WeeklyReport {
    pub period: Period,
    pub generated_at: f64,
    pub source: String,
    /// Entities at risk, most urgent and soonest first.
    pub risks: Vec<RiskRow>,
    pub teams: Vec<TeamRow>,
    pub savings: Vec<SavingRow>,
    pub budget: Vec<BudgetLine>,
    pub changes: WeekChanges,
    /// Entities planned, and how many of them are fine.
    pub planned: usize,
    pub fine: usize,
    /// Models whose last cycle failed, with why: while any is listed the report is
    /// incomplete and says so, in its subject first.
    pub failed_models: Vec<(String, String)>,
    /// Models configured (planned or failed).
    pub models: usize,
    /// Whether this report replaces one that went out incomplete for the same period.
    pub correction: bool,
    /// How right past forecasts were, per model.
    pub accuracy: Vec<AccuracyRow>,
}

/// How right a model's past forecasts were at their longest scored checkpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct AccuracyRow {
    pub model: String,
    pub unit: String,
    pub checkpoint: String,
    pub entities: usize,
    pub median_mase: f64,
    pub coverage_95: f64,
    /// The entity whose forecast missed most: "we said X, it was Y".
    pub worst: Option<(String, crate::forecast::accuracy::Score)>,
}

/// One at-risk entity.
#[derive(Clone, Debug)]
pub struct RiskRow {
    pub key: String,
    pub model: String,
    pub unit: String,
    pub entity: String,
    pub team: Option<String>,
    pub urgency: Urgency,
    pub runway_days: Option<f64>,
    pub earliest_runway_days: Option<f64>,
    pub likely: Option<f64>,
    pub earliest: Option<f64>,
    pub order_by: Option<f64>,
    pub current: Option<f64>,
    pub threshold: Option<f64>,
    /// What to do, in a phrase ("add 2 × disk of 100 GB").
    pub action: String,
    /// Monthly cost after the change, minus now, with its currency.
    pub monthly_cost_change: Option<(f64, String)>,
    pub justification: Vec<String>,
    pub caveats: Vec<String>,
    /// What its chart draws (only for the first [`MAX_CHARTS`] rows).
    pub chart: Option<ChartData>,
}

/// The series a chart draws.
#[derive(Clone, Debug)]
pub struct ChartData {
    pub title: String,
    pub unit: String,
    pub history: Arc<Vec<(f64, f64)>>,
    pub forecast: Vec<PathPoint>,
    pub threshold: Option<f64>,
    pub likely: Option<f64>,
    pub earliest: Option<f64>,
}

/// Runway per team.
#[derive(Clone, Debug, PartialEq)]
pub struct TeamRow {
    pub team: String,
    pub critical: usize,
    pub warning: usize,
    /// The shortest runway among the team's entities, with the entity.
    pub shortest_runway_days: Option<f64>,
    pub shortest: Option<String>,
}

/// Capacity that can go.
#[derive(Clone, Debug, PartialEq)]
pub struct SavingRow {
    pub model: String,
    pub entity: String,
    pub team: Option<String>,
    pub units_removable: i64,
    pub unit_name: String,
    pub monthly_saving: f64,
    pub currency: String,
}

/// What moved since last week's report.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WeekChanges {
    /// The period compared with (none for the first report).
    pub since: Option<String>,
    pub new_risks: Vec<String>,
    /// `(entity, last week's likely date, this week's)`.
    pub moved: Vec<(String, Option<f64>, Option<f64>)>,
    pub cleared: Vec<String>,
}

/// What is kept of a report to compare the next one with.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SnapshotEntry {
    pub key: String,
    pub title: String,
    pub urgency: String,
    pub likely: Option<f64>,
}

impl WeeklyReport {
    /// Builds the report of `period` from `cycle`; `previous` is last week's snapshot with its
    /// period name.
    pub fn build(cycle: &CycleOutcome, period: Period, previous: Option<(String, Vec<SnapshotEntry>)>) -> WeeklyReport {
        let mut entries: Vec<(&ModelOutcome, &EntityResult)> = cycle
            .models
            .iter()
            .flat_map(|m| m.entities.iter().map(move |e| (m, e)))
            .collect();
        let planned = entries.iter().filter(|(_, e)| e.recommendation.is_some()).count();
        entries.retain(|(_, e)| e.recommendation.as_ref().is_some_and(|r| r.urgency != Urgency::Ok));
        entries.sort_by(|(_, a), (_, b)| crate::outcome::most_urgent_first(a, b));
        let risks: Vec<RiskRow> = entries
            .iter()
            .enumerate()
            .filter_map(|(index, (model, entity))| risk_row(model, entity, index < MAX_CHARTS))
            .collect();
        let changes = week_changes(&risks, previous);
        WeeklyReport {
            period,
            generated_at: cycle.evaluated_at,
            source: cycle.source.clone(),
            teams: teams(&risks, cycle),
            savings: savings(cycle),
            budget: budget(cycle),
            fine: planned - risks.len(),
            planned,
            risks,
            changes,
            failed_models: cycle
                .models
                .iter()
                .filter_map(|m| m.error.as_ref().map(|e| (m.model.clone(), e.clone())))
                .collect(),
            models: cycle.models.len(),
            correction: false,
            accuracy: accuracy(cycle),
        }
    }

    /// What the next report compares with.
    pub fn snapshot(&self) -> Vec<SnapshotEntry> {
        self.risks
            .iter()
            .map(|r| SnapshotEntry {
                key: r.key.clone(),
                title: title(&r.model, &r.entity),
                urgency: r.urgency.name().into(),
                likely: r.likely,
            })
            .collect()
    }

    /// The subject line after `prefix`. An incomplete report says so before any count, so
    /// that "0 critical" is never read as an all-clear; a correction says what it is.
    pub fn subject(&self, prefix: &str) -> String {
        let critical = self.risks.iter().filter(|r| r.urgency == Urgency::Critical).count();
        let warning = self.risks.len() - critical;
        let counts = format!("{critical} critical, {warning} warning");
        let counts = match self.incompleteness() {
            Some(missing) => format!("INCOMPLETE, {missing}; {counts} among the rest"),
            None => counts,
        };
        let correction = if self.correction { "Corrected: " } else { "" };
        format!("{correction}{prefix}, {}: {counts}", self.period.name)
    }

    /// Whether the report is incomplete: "N of M models not planned", or `None`.
    pub fn incompleteness(&self) -> Option<String> {
        (!self.failed_models.is_empty())
            .then(|| format!("{} of {} models not planned", self.failed_models.len(), self.models))
    }

    /// The rows that carry a chart, with the chart's index (its file and Content-ID).
    pub fn charts(&self) -> impl Iterator<Item = (usize, &RiskRow, &ChartData)> {
        self.risks
            .iter()
            .filter_map(|r| r.chart.as_ref().map(|c| (r, c)))
            .enumerate()
            .map(|(i, (r, c))| (i + 1, r, c))
    }
}

fn title(model: &str, entity: &str) -> String {
    format!("{model} {entity}")
}

fn risk_row(model: &ModelOutcome, entity: &EntityResult, with_chart: bool) -> Option<RiskRow> {
    let recommendation = entity.recommendation.as_ref()?;
    let exhaustion = entity.exhaustion.unwrap_or_default();
    let entity_name = entity.labels.to_string();
    let action = match &recommendation.units {
        Some(units) if units.change > 0 => format!("add {} × {}", units.change, units.unit_name),
        Some(units) if units.change < 0 => format!("remove {} × {}", -units.change, units.unit_name),
        Some(_) => "keep the current units; watch the trend".into(),
        None => match recommendation.capacity_needed {
            Some(needed) => format!(
                "grow capacity to {} {}",
                crate::format::number(needed),
                model.unit_of(entity)
            ),
            None => "plan more capacity".into(),
        },
    };
    // A model with several resources: the entity is named with the resource that binds.
    let entity_name = match &entity.binding {
        Some(resource) => format!("{entity_name} ({resource} binds)"),
        None => entity_name,
    };
    let chart = (with_chart && entity.forecast.is_some()).then(|| ChartData {
        title: title(&model.model, &entity_name),
        unit: model.unit_of(entity).to_string(),
        history: Arc::clone(&entity.history),
        forecast: entity.forecast.as_ref().map(|f| f.path.clone()).unwrap_or_default(),
        threshold: entity.threshold,
        likely: exhaustion.likely,
        earliest: exhaustion.earliest,
    });
    Some(RiskRow {
        key: crate::outcome::entity_key(&model.model, &entity.labels),
        model: model.model.clone(),
        unit: model.unit_of(entity).to_string(),
        entity: entity_name,
        team: entity.team.clone(),
        urgency: recommendation.urgency,
        runway_days: recommendation.runway_days,
        earliest_runway_days: recommendation.earliest_runway_days,
        likely: exhaustion.likely,
        earliest: exhaustion.earliest,
        order_by: recommendation.order_by,
        current: entity.current,
        threshold: entity.threshold,
        action,
        monthly_cost_change: recommendation
            .cost
            .as_ref()
            .map(|c| (c.monthly_recommended - c.monthly_current, c.currency.clone())),
        justification: recommendation.justification.clone(),
        caveats: recommendation.caveats.clone(),
        chart,
    })
}

fn teams(risks: &[RiskRow], cycle: &CycleOutcome) -> Vec<TeamRow> {
    let mut by_team: BTreeMap<String, TeamRow> = BTreeMap::new();
    let name = |team: &Option<String>| team.clone().unwrap_or_else(|| "(no team)".into());
    for entity in cycle.models.iter().flat_map(|m| &m.entities) {
        if entity.recommendation.is_some() {
            let team = name(&entity.team);
            by_team.entry(team.clone()).or_insert_with(|| TeamRow {
                team,
                critical: 0,
                warning: 0,
                shortest_runway_days: None,
                shortest: None,
            });
        }
    }
    for risk in risks {
        let row = by_team.entry(name(&risk.team)).or_insert_with(|| TeamRow {
            team: name(&risk.team),
            critical: 0,
            warning: 0,
            shortest_runway_days: None,
            shortest: None,
        });
        match risk.urgency {
            Urgency::Critical => row.critical += 1,
            _ => row.warning += 1,
        }
        let runway = risk.earliest_runway_days.or(risk.runway_days);
        if runway.is_some_and(|r| row.shortest_runway_days.is_none_or(|s| r < s)) {
            row.shortest_runway_days = runway;
            row.shortest = Some(title(&risk.model, &risk.entity));
        }
    }
    let mut rows: Vec<TeamRow> = by_team.into_values().collect();
    rows.sort_by(|a, b| {
        b.critical
            .cmp(&a.critical)
            .then(
                a.shortest_runway_days
                    .unwrap_or(f64::INFINITY)
                    .total_cmp(&b.shortest_runway_days.unwrap_or(f64::INFINITY)),
            )
            .then(a.team.cmp(&b.team))
    });
    rows
}

fn accuracy(cycle: &CycleOutcome) -> Vec<AccuracyRow> {
    let mut rows = Vec::new();
    for model in &cycle.models {
        // The longest checkpoint any entity has been scored at.
        let Some(checkpoint) = crate::forecast::accuracy::CHECKPOINTS
            .iter()
            .rev()
            .map(|(name, _)| *name)
            .find(|name| {
                model
                    .entities
                    .iter()
                    .any(|e| e.accuracy.iter().any(|s| s.checkpoint == *name))
            })
        else {
            continue;
        };
        let scored: Vec<(&EntityResult, &crate::forecast::accuracy::Score)> = model
            .entities
            .iter()
            .filter_map(|e| e.accuracy.iter().find(|s| s.checkpoint == checkpoint).map(|s| (e, s)))
            .collect();
        let mut mases: Vec<f64> = scored.iter().map(|(_, s)| s.mase).collect();
        mases.sort_by(f64::total_cmp);
        let worst = scored
            .iter()
            .max_by(|a, b| a.1.mase.total_cmp(&b.1.mase))
            .map(|(e, s)| (title(&model.model, &e.labels.to_string()), (*s).clone()));
        rows.push(AccuracyRow {
            model: model.model.clone(),
            unit: model.unit.clone(),
            checkpoint: checkpoint.to_string(),
            entities: scored.len(),
            median_mase: mases[mases.len() / 2],
            coverage_95: scored.iter().map(|(_, s)| s.coverage_95).sum::<f64>() / scored.len() as f64,
            worst,
        });
    }
    rows
}

fn savings(cycle: &CycleOutcome) -> Vec<SavingRow> {
    let mut rows: Vec<SavingRow> = cycle
        .models
        .iter()
        .flat_map(|m| m.entities.iter().map(move |e| (m, e)))
        .filter_map(|(model, entity)| {
            let recommendation = entity.recommendation.as_ref()?;
            let units = recommendation.units.as_ref().filter(|u| u.change < 0)?;
            let cost = recommendation.cost.as_ref()?;
            Some(SavingRow {
                model: model.model.clone(),
                entity: entity.labels.to_string(),
                team: entity.team.clone(),
                units_removable: -units.change,
                unit_name: units.unit_name.clone(),
                monthly_saving: cost.monthly_current - cost.monthly_recommended,
                currency: cost.currency.clone(),
            })
        })
        .filter(|row| row.monthly_saving > 0.0)
        .collect();
    rows.sort_by(|a, b| b.monthly_saving.total_cmp(&a.monthly_saving));
    rows
}

fn week_changes(risks: &[RiskRow], previous: Option<(String, Vec<SnapshotEntry>)>) -> WeekChanges {
    let Some((since, previous)) = previous else {
        return WeekChanges::default();
    };
    let before: BTreeMap<&str, &SnapshotEntry> = previous.iter().map(|e| (e.key.as_str(), e)).collect();
    let now: BTreeMap<&str, &RiskRow> = risks.iter().map(|r| (r.key.as_str(), r)).collect();
    let mut changes = WeekChanges {
        since: Some(since),
        ..WeekChanges::default()
    };
    for risk in risks {
        let name = title(&risk.model, &risk.entity);
        match before.get(risk.key.as_str()) {
            None => changes.new_risks.push(name),
            Some(old) => {
                let moved = match (old.likely, risk.likely) {
                    (Some(a), Some(b)) => (a - b).abs() > MOVED_SECS,
                    (None, None) => false,
                    _ => true,
                };
                if moved {
                    changes.moved.push((name, old.likely, risk.likely));
                }
            }
        }
    }
    changes.cleared = previous
        .iter()
        .filter(|old| !now.contains_key(old.key.as_str()))
        .map(|old| old.title.clone())
        .collect();
    changes
}

#[cfg(test)]
mod tests;
