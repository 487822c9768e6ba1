//! How right past forecasts were: each entity's forecast is kept as a snapshot once a day and
//! scored against what happened once a checkpoint (1 day, 7 days) has passed.
//!
//! The score is MASE (mean absolute error over the checkpoint's span, divided by the
//! in-sample error of repeating the value one day earlier, as the backtest uses) and the share
//! of actual values inside the 80 % and 95 % intervals. A forecast whose recent scores are
//! poor says so in its recommendation's justification, so nobody orders hardware on a model
//! that has been wrong.
//!
//! Pure: snapshots and actual values come in, scores go out; the store keeps them.

use crate::forecast::PathPoint;

/// The horizons forecasts are scored at, with their names in metrics.
pub const CHECKPOINTS: [(&str, f64); 2] = [("1d", 86_400.0), ("7d", 7.0 * 86_400.0)];

/// A new snapshot is kept when the last one is at least this old.
pub const SNAPSHOT_EVERY_SECS: f64 = 86_400.0;

/// A score is recorded only when at least this share of its points has an actual value.
const MIN_OBSERVED_SHARE: f64 = 0.5;

/// MASE above this (twice as wrong as repeating yesterday) is poor.
pub const POOR_MASE: f64 = 2.0;
/// Fewer actual values than this inside the 95 % interval is poor calibration.
pub const POOR_COVERAGE_95: f64 = 0.6;

/// A forecast as made, kept for scoring.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    /// The entity's labels as `{a="b"}`.
    pub entity: String,
    /// Unix seconds of the last observed point the forecast started from.
    pub made_at: f64,
    /// In-sample mean absolute error of the one-day seasonal-naive forecast: the MASE scale.
    pub scale: f64,
    /// The forecast path up to the last checkpoint.
    pub path: Vec<PathPoint>,
}

/// Snapshots to score by entity: each with its checkpoint's name and span in seconds.
pub type DueSnapshots = std::collections::HashMap<String, Vec<(Snapshot, &'static str, f64)>>;

/// How one snapshot did at one checkpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct Score {
    pub entity: String,
    pub made_at: f64,
    /// `1d` or `7d`.
    pub checkpoint: String,
    pub mase: f64,
    pub coverage_80: f64,
    pub coverage_95: f64,
    /// Path points with an actual value.
    pub points: usize,
    /// The forecast and the actual value at the last scored point ("we said X, it was Y").
    pub predicted: f64,
    pub actual: f64,
    pub at: f64,
}

impl Score {
    /// Whether this score says the forecast should not be trusted.
    pub fn is_poor(&self) -> bool {
        self.mase > POOR_MASE || self.coverage_95 < POOR_COVERAGE_95
    }
}

/// The snapshot of a forecast made at `made_at`, keeping the path up to the last checkpoint.
pub fn snapshot(entity: &str, made_at: f64, scale: f64, path: &[PathPoint]) -> Option<Snapshot> {
    let last = CHECKPOINTS[CHECKPOINTS.len() - 1].1;
    let path: Vec<PathPoint> = path
        .iter()
        .copied()
        .filter(|p| p.timestamp > made_at && p.timestamp <= made_at + last + 1.0)
        .collect();
    (scale.is_finite() && scale > 0.0 && !path.is_empty()).then(|| Snapshot {
        entity: entity.to_string(),
        made_at,
        scale,
        path,
    })
}

/// The MASE scale of a history on a grid of `step` seconds: the mean absolute difference
/// between each value and the value one day (or, for short histories, one step) earlier.
pub fn scale(values: &[f64], step: f64) -> f64 {
    let day = (86_400.0 / step).round().max(1.0) as usize;
    let lag = if values.len() > 2 * day { day } else { 1 };
    let diffs: Vec<f64> = values
        .windows(lag + 1)
        .map(|w| (w[lag] - w[0]).abs())
        .filter(|d| d.is_finite())
        .collect();
    if diffs.is_empty() {
        return f64::NAN;
    }
    diffs.iter().sum::<f64>() / diffs.len() as f64
}

/// Scores `snapshot` at the checkpoint named `name`, `span` seconds after it was made, using
/// `actual(t)` for what happened at time `t`. `None` when too few actual values are known.
pub fn score(snapshot: &Snapshot, name: &str, span: f64, actual: impl Fn(f64) -> Option<f64>) -> Option<Score> {
    let window: Vec<&PathPoint> = snapshot
        .path
        .iter()
        .filter(|p| p.timestamp <= snapshot.made_at + span + 1.0)
        .collect();
    let observed: Vec<(&PathPoint, f64)> = window
        .iter()
        .filter_map(|p| actual(p.timestamp).filter(|v| v.is_finite()).map(|v| (*p, v)))
        .collect();
    if window.is_empty() || (observed.len() as f64) < MIN_OBSERVED_SHARE * window.len() as f64 {
        return None;
    }
    let n = observed.len() as f64;
    let mae = observed.iter().map(|(p, a)| (a - p.mean).abs()).sum::<f64>() / n;
    let inside = |lower: fn(&PathPoint) -> f64, upper: fn(&PathPoint) -> f64| {
        observed
            .iter()
            .filter(|(p, a)| *a >= lower(p) && *a <= upper(p))
            .count() as f64
            / n
    };
    let (last, last_actual) = observed[observed.len() - 1];
    Some(Score {
        entity: snapshot.entity.clone(),
        made_at: snapshot.made_at,
        checkpoint: name.to_string(),
        mase: mae / snapshot.scale,
        coverage_80: inside(|p| p.lower_80, |p| p.upper_80),
        coverage_95: inside(|p| p.lower_95, |p| p.upper_95),
        points: observed.len(),
        predicted: last.mean,
        actual: last_actual,
        at: last.timestamp,
    })
}

/// The sentence a recommendation carries about past accuracy, from the entity's latest
/// scores (the longest checkpoint first), and whether it is a warning.
pub fn justification(scores: &[Score], unit: &str) -> Option<(String, bool)> {
    let score = CHECKPOINTS
        .iter()
        .rev()
        .find_map(|(name, _)| scores.iter().find(|s| s.checkpoint == *name))?;
    let sentence = format!(
        "Past accuracy: the forecast made {} for {} ahead said {:.4} {unit}, and it was {:.4} (MASE {:.2}, {:.0} % of actual values inside the 95 % interval).",
        crate::format::time(score.made_at),
        score.checkpoint,
        score.predicted,
        score.actual,
        score.mase,
        score.coverage_95 * 100.0
    );
    if score.is_poor() {
        Some((
            format!("Recent forecasts of this entity were poor; check the chart before acting. {sentence}"),
            true,
        ))
    } else {
        Some((sentence, false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(timestamp: f64, mean: f64, half_80: f64, half_95: f64) -> PathPoint {
        PathPoint {
            timestamp,
            mean,
            lower_80: mean - half_80,
            upper_80: mean + half_80,
            lower_95: mean - half_95,
            upper_95: mean + half_95,
        }
    }

    #[test]
    fn mase_and_coverage_match_a_hand_calculation() {
        // Forecast made at t=0: 10, 20, 30, 40 at hours 6, 12, 18, 24, with 80 % half-width 2
        // and 95 % half-width 5. What happened: 11, 23, 29, 47.
        let snapshot = Snapshot {
            entity: "{host=\"a\"}".into(),
            made_at: 0.0,
            scale: 2.0,
            path: vec![
                point(21_600.0, 10.0, 2.0, 5.0),
                point(43_200.0, 20.0, 2.0, 5.0),
                point(64_800.0, 30.0, 2.0, 5.0),
                point(86_400.0, 40.0, 2.0, 5.0),
                point(172_800.0, 50.0, 2.0, 5.0),
            ],
        };
        let actual = |t: f64| match t as i64 {
            21_600 => Some(11.0),
            43_200 => Some(23.0),
            64_800 => Some(29.0),
            86_400 => Some(47.0),
            _ => None,
        };
        let score = score(&snapshot, "1d", 86_400.0, actual).expect("scored");
        // Errors 1, 3, 1, 7: MAE 3, over a scale of 2: MASE 1.5.
        assert_eq!(score.mase, 1.5);
        // Inside ±2: 11 and 29 (2 of 4). Inside ±5: 11, 23, 29 (3 of 4).
        assert_eq!(score.coverage_80, 0.5);
        assert_eq!(score.coverage_95, 0.75);
        assert_eq!(
            (score.points, score.predicted, score.actual, score.at),
            (4, 40.0, 47.0, 86_400.0)
        );
        assert!(!score.is_poor());
        // The 7-day checkpoint has one more point, with no actual value yet: 4 of 5 is enough.
        let week = super::score(&snapshot, "7d", 7.0 * 86_400.0, actual).expect("scored");
        assert_eq!(week.points, 4);
        // With most actual values missing there is no score.
        assert!(super::score(&snapshot, "1d", 86_400.0, |t| (t < 30_000.0).then_some(11.0)).is_none());
    }

    #[test]
    fn the_scale_is_the_error_of_repeating_yesterday() {
        // Hourly steps, 3 days: a daily pattern plus 1 per day of growth: every value is the
        // one 24 steps earlier plus 1, so the one-day naive error is exactly 1.
        let values: Vec<f64> = (0..72).map(|i| (i % 24) as f64 * 10.0 + (i / 24) as f64).collect();
        assert_eq!(scale(&values, 3600.0), 1.0);
        // Too short for a day of lag: one step.
        assert_eq!(scale(&[1.0, 3.0, 6.0], 3600.0), 2.5);
    }

    #[test]
    fn poor_accuracy_is_flagged_in_the_justification() {
        let poor = Score {
            entity: "e".into(),
            made_at: 0.0,
            checkpoint: "7d".into(),
            mase: 3.1,
            coverage_80: 0.2,
            coverage_95: 0.4,
            points: 40,
            predicted: 100.0,
            actual: 160.0,
            at: 604_800.0,
        };
        let (sentence, warning) = justification(std::slice::from_ref(&poor), "bytes").expect("sentence");
        assert!(warning);
        assert!(
            sentence.contains("poor") && sentence.contains("MASE 3.10"),
            "{sentence}"
        );
        let good = Score {
            mase: 0.4,
            coverage_95: 0.95,
            ..poor
        };
        let (sentence, warning) = justification(&[good], "bytes").expect("sentence");
        assert!(!warning && sentence.starts_with("Past accuracy"), "{sentence}");
    }
}
