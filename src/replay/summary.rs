//! The figures of a replay, per entity and in total, for Headroom and the baseline side by
//! side: alert-hours (true, false, pending), crossings warned in time or missed, the median
//! warning lead time, and for Headroom the error of its likely date.

use super::judge::{Verdict, warning_lead};
use super::{EntityReplay, ModelReplay, Replay};

/// How one side (Headroom or the baseline) fared on one entity, or on all of them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SideSummary {
    /// Moments at which it alerted.
    pub alerts: usize,
    /// Each alerting moment counts for the time to the next moment (`every`).
    pub alert_hours: f64,
    pub true_alert_hours: f64,
    pub false_alert_hours: f64,
    /// Alert-hours whose truth is not known yet.
    pub pending_alert_hours: f64,
    /// Crossings judged (those at least the lead time after the replay's start, up to its end).
    pub crossings: usize,
    /// Crossings it warned of at least the model's lead time ahead.
    pub warned_in_time: usize,
    /// Crossings it did not warn of, or warned of too late.
    pub missed: usize,
    /// Warning lead times (seconds) of the crossings it warned of at all.
    pub leads: Vec<f64>,
}

impl SideSummary {
    /// The median warning lead time in hours.
    pub fn median_lead_hours(&self) -> Option<f64> {
        median(&self.leads).map(|s| s / 3600.0)
    }

    fn add(&mut self, other: &SideSummary) {
        self.alerts += other.alerts;
        self.alert_hours += other.alert_hours;
        self.true_alert_hours += other.true_alert_hours;
        self.false_alert_hours += other.false_alert_hours;
        self.pending_alert_hours += other.pending_alert_hours;
        self.crossings += other.crossings;
        self.warned_in_time += other.warned_in_time;
        self.missed += other.missed;
        self.leads.extend_from_slice(&other.leads);
    }
}

/// How far Headroom's likely dates were from the crossings that followed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LikelyError {
    /// Likely date minus the actual crossing (seconds; positive: predicted too late), for each
    /// moment that gave a likely date (not "exceeded now") followed by a crossing in the data.
    pub errors: Vec<f64>,
    /// Moments whose likely date has passed in the data without a crossing.
    pub without_crossing: usize,
    /// Moments whose likely date lies past the data, with no crossing yet: not known.
    pub pending: usize,
}

impl LikelyError {
    /// The median absolute error in days.
    pub fn median_abs_days(&self) -> Option<f64> {
        let absolute: Vec<f64> = self.errors.iter().map(|e| e.abs()).collect();
        median(&absolute).map(|s| s / 86_400.0)
    }

    /// The median signed error in days (positive: predicted too late).
    pub fn median_days(&self) -> Option<f64> {
        median(&self.errors).map(|s| s / 86_400.0)
    }

    fn add(&mut self, other: &LikelyError) {
        self.errors.extend_from_slice(&other.errors);
        self.without_crossing += other.without_crossing;
        self.pending += other.pending;
    }
}

/// Both sides on one entity (or in total).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    pub headroom: SideSummary,
    pub baseline: SideSummary,
    pub likely: LikelyError,
}

impl Summary {
    /// False alert-hours the baseline raised that Headroom did not (negative: Headroom raised
    /// more).
    pub fn false_hours_saved(&self) -> f64 {
        self.baseline.false_alert_hours - self.headroom.false_alert_hours
    }
}

/// The figures of one entity.
pub fn entity(replay: &Replay, model: &ModelReplay, entity: &EntityReplay) -> Summary {
    let hours = replay.every / 3600.0;
    let side =
        |verdict: &dyn Fn(f64, usize) -> Option<Verdict>, fired: &dyn Fn(usize) -> Option<bool>, horizon: f64| {
            let mut summary = SideSummary::default();
            for (index, &at) in replay.moments.iter().enumerate() {
                match verdict(at, index) {
                    None => {}
                    Some(v) => {
                        summary.alerts += 1;
                        summary.alert_hours += hours;
                        match v {
                            Verdict::True => summary.true_alert_hours += hours,
                            Verdict::False => summary.false_alert_hours += hours,
                            Verdict::Pending => summary.pending_alert_hours += hours,
                        }
                    }
                }
            }
            let alerts: Vec<Option<bool>> = (0..replay.moments.len()).map(fired).collect();
            for crossing in entity.truth.crossings(replay.from + model.lead_time, replay.to) {
                summary.crossings += 1;
                match warning_lead(&replay.moments, &alerts, horizon, crossing) {
                    Some(lead) => {
                        summary.leads.push(lead);
                        if lead >= model.lead_time {
                            summary.warned_in_time += 1;
                        } else {
                            summary.missed += 1;
                        }
                    }
                    None => summary.missed += 1,
                }
            }
            summary
        };
    let headroom = side(
        &|at, i| model.headroom_verdict(entity, at, i),
        &|i| entity.plans[i].as_ref().map(|p| p.alerts()),
        model.headroom_horizon,
    );
    let baseline = side(
        &|at, i| model.baseline_verdict(entity, at, i),
        &|i| entity.baseline[i].map(|b| b.fires),
        model.baseline_horizon,
    );
    let mut likely = LikelyError::default();
    for (index, &at) in replay.moments.iter().enumerate() {
        let Some(plan) = entity.plans[index].as_ref().filter(|p| !p.exceeded_now) else {
            continue;
        };
        let Some(predicted) = plan.likely else { continue };
        match entity.truth.first_past_after(at) {
            Some(actual) => likely.errors.push(predicted - actual),
            None if entity.truth.known_until >= predicted => likely.without_crossing += 1,
            None => likely.pending += 1,
        }
    }
    Summary {
        headroom,
        baseline,
        likely,
    }
}

/// The figures of every entity of every model added up (medians over all of them).
pub fn total<'a>(summaries: impl IntoIterator<Item = &'a Summary>) -> Summary {
    let mut total = Summary::default();
    for summary in summaries {
        total.headroom.add(&summary.headroom);
        total.baseline.add(&summary.baseline);
        total.likely.add(&summary.likely);
    }
    total
}

/// The median of `values` (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    Some(if sorted.len().is_multiple_of(2) {
        (sorted[middle - 1] + sorted[middle]) / 2.0
    } else {
        sorted[middle]
    })
}
