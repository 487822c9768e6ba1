//! `headroom replay --format json` (`docs/schemas/replay.schema.json`, `docs/replay.md`).
//!
//! Public API like the documents of [`crate::report::json`]: built from dedicated output
//! types, never by serialising the core's, with `schema_version`. Times are Unix seconds,
//! durations seconds or hours as their names say, values in the model's unit.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Row, rows, total};
use crate::model::Direction;
use crate::replay::Replay;
use crate::replay::judge::Verdict;
use crate::replay::summary::{LikelyError, SideSummary, Summary};
use crate::series::Labels;

/// The version of the replay document.
pub const SCHEMA_VERSION: u32 = 1;

/// A whole replay.
#[derive(Debug, Serialize)]
pub struct ReplayDocument {
    pub schema_version: u32,
    pub from: f64,
    pub to: f64,
    pub every_seconds: f64,
    pub source: String,
    /// How far the data read reaches: alerts whose horizon ends later are pending.
    pub read_until: f64,
    pub baseline: BaselineDocument,
    pub models: Vec<ModelDocument>,
    pub moments: Vec<MomentDocument>,
    /// Per entity, the most false alert-hours saved first.
    pub entities: Vec<EntitySummaryDocument>,
    pub total: SummaryDocument,
}

/// The baseline rule's parameters.
#[derive(Debug, Serialize)]
pub struct BaselineDocument {
    pub window_seconds: f64,
    pub ahead_seconds: f64,
}

/// One model: its alert horizons, the baseline rule as PromQL, and the moments it failed.
#[derive(Debug, Serialize)]
pub struct ModelDocument {
    pub model: String,
    pub unit: String,
    /// `above` (usage grows toward a ceiling) or `below` (what remains falls to a floor).
    pub direction: &'static str,
    pub lead_time_seconds: f64,
    pub headroom_horizon_seconds: f64,
    pub baseline_horizon_seconds: f64,
    pub baseline_rule: String,
    pub failures: Vec<FailureDocument>,
}

/// A moment at which the whole model failed.
#[derive(Debug, Serialize)]
pub struct FailureDocument {
    pub at: f64,
    pub error: String,
}

/// One moment: what each entity's plan and the baseline said.
#[derive(Debug, Serialize)]
pub struct MomentDocument {
    pub at: f64,
    pub entities: Vec<MomentEntityDocument>,
}

/// One entity at one moment.
#[derive(Debug, Serialize)]
pub struct MomentEntityDocument {
    pub model: String,
    pub labels: BTreeMap<String, String>,
    /// The plan's status (`ok`, `insufficient_history`, `no_data`, `stale`, `error`), or
    /// `absent`: not in that moment's answer, or the model failed.
    pub status: &'static str,
    pub likely: Option<f64>,
    pub earliest: Option<f64>,
    /// `ok`, `warning` or `critical`; `null` when not planned.
    pub urgency: Option<&'static str>,
    /// Headroom alerts (urgency `critical`).
    pub headroom_alerts: bool,
    /// `true`, `false` or `pending` when Headroom alerts.
    pub headroom_verdict: Option<&'static str>,
    /// The baseline line's value `ahead` after the moment; `null` with fewer than two
    /// samples in its window or no threshold.
    pub baseline_predicted: Option<f64>,
    pub baseline_fires: bool,
    /// `true`, `false` or `pending` when the baseline fires.
    pub baseline_verdict: Option<&'static str>,
}

/// One entity's figures.
#[derive(Debug, Serialize)]
pub struct EntitySummaryDocument {
    pub model: String,
    pub labels: BTreeMap<String, String>,
    #[serde(flatten)]
    pub summary: SummaryDocument,
}

/// Both sides' figures, side by side.
#[derive(Debug, Serialize)]
pub struct SummaryDocument {
    pub headroom: SideDocument,
    pub baseline: SideDocument,
    /// Baseline false alert-hours minus Headroom's.
    pub false_alert_hours_saved: f64,
    pub likely_error: LikelyErrorDocument,
}

/// One side's figures.
#[derive(Debug, Serialize)]
pub struct SideDocument {
    pub alerts: usize,
    pub alert_hours: f64,
    pub true_alert_hours: f64,
    pub false_alert_hours: f64,
    pub pending_alert_hours: f64,
    pub crossings: usize,
    pub warned_in_time: usize,
    pub missed: usize,
    pub median_lead_hours: Option<f64>,
}

/// How far Headroom's likely dates were from the crossings that followed.
#[derive(Debug, Serialize)]
pub struct LikelyErrorDocument {
    /// Moments whose likely date was followed by a crossing in the data.
    pub dated_moments: usize,
    pub median_abs_error_days: Option<f64>,
    /// Positive: predicted too late.
    pub median_error_days: Option<f64>,
    /// Moments whose likely date passed in the data without a crossing.
    pub without_crossing: usize,
    /// Moments whose likely date lies past the data, with no crossing yet.
    pub pending: usize,
}

fn labels(labels: &Labels) -> BTreeMap<String, String> {
    labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn side(s: &SideSummary) -> SideDocument {
    SideDocument {
        alerts: s.alerts,
        alert_hours: s.alert_hours,
        true_alert_hours: s.true_alert_hours,
        false_alert_hours: s.false_alert_hours,
        pending_alert_hours: s.pending_alert_hours,
        crossings: s.crossings,
        warned_in_time: s.warned_in_time,
        missed: s.missed,
        median_lead_hours: s.median_lead_hours(),
    }
}

fn likely(l: &LikelyError) -> LikelyErrorDocument {
    LikelyErrorDocument {
        dated_moments: l.errors.len(),
        median_abs_error_days: l.median_abs_days(),
        median_error_days: l.median_days(),
        without_crossing: l.without_crossing,
        pending: l.pending,
    }
}

fn summary(s: &Summary) -> SummaryDocument {
    SummaryDocument {
        headroom: side(&s.headroom),
        baseline: side(&s.baseline),
        false_alert_hours_saved: s.false_hours_saved(),
        likely_error: likely(&s.likely),
    }
}

fn verdict(v: Option<Verdict>) -> Option<&'static str> {
    v.map(Verdict::name)
}

/// The document of a replay.
pub fn document(replay: &Replay) -> ReplayDocument {
    let rows: Vec<Row<'_>> = rows(replay);
    let moments = replay
        .moments
        .iter()
        .enumerate()
        .map(|(index, &at)| MomentDocument {
            at,
            entities: replay
                .models
                .iter()
                .flat_map(|model| {
                    model.entities.iter().map(move |entity| {
                        let plan = entity.plans[index].as_ref();
                        let call = entity.baseline[index];
                        MomentEntityDocument {
                            model: model.model.clone(),
                            labels: labels(&entity.labels),
                            status: plan.map_or("absent", |p| p.status.name()),
                            likely: plan.and_then(|p| p.likely),
                            earliest: plan.and_then(|p| p.earliest),
                            urgency: plan.and_then(|p| p.urgency).map(|u| u.name()),
                            headroom_alerts: plan.is_some_and(|p| p.alerts()),
                            headroom_verdict: verdict(model.headroom_verdict(entity, at, index)),
                            baseline_predicted: call.map(|c| c.predicted),
                            baseline_fires: call.is_some_and(|c| c.fires),
                            baseline_verdict: verdict(model.baseline_verdict(entity, at, index)),
                        }
                    })
                })
                .collect(),
        })
        .collect();
    ReplayDocument {
        schema_version: SCHEMA_VERSION,
        from: replay.from,
        to: replay.to,
        every_seconds: replay.every,
        source: replay.source.clone(),
        read_until: replay.read_until,
        baseline: BaselineDocument {
            window_seconds: replay.rule.window.as_secs_f64(),
            ahead_seconds: replay.rule.ahead.as_secs_f64(),
        },
        models: replay
            .models
            .iter()
            .map(|m| ModelDocument {
                model: m.model.clone(),
                unit: m.unit.clone(),
                direction: match m.direction {
                    Direction::Above => "above",
                    Direction::Below => "below",
                },
                lead_time_seconds: m.lead_time,
                headroom_horizon_seconds: m.headroom_horizon,
                baseline_horizon_seconds: m.baseline_horizon,
                baseline_rule: m.rule.clone(),
                failures: m
                    .failures
                    .iter()
                    .map(|(at, error)| FailureDocument {
                        at: *at,
                        error: error.clone(),
                    })
                    .collect(),
            })
            .collect(),
        moments,
        entities: rows
            .iter()
            .map(|row| EntitySummaryDocument {
                model: row.model.model.clone(),
                labels: labels(&row.entity.labels),
                summary: summary(&row.summary),
            })
            .collect(),
        total: summary(&total(&rows)),
    }
}
