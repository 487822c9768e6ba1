//! The baseline: the `predict_linear()` rule SREs run today, evaluated by Headroom itself.
//!
//! The node-mixin's `NodeFilesystemSpaceFillingUp` and the kubernetes-mixin's
//! `KubePersistentVolumeFillingUp` fit a least-squares line through the last few hours of a
//! series and fire when the line, extrapolated some hours ahead, crosses a limit. This is
//! that rule, computed the way Prometheus computes `predict_linear(v[window], ahead)`: an
//! ordinary least-squares fit on the samples in `(t - window, t]` (Kahan-summed), its
//! intercept taken at the evaluation time `t`, a constant series predicted as itself, and
//! fewer than two samples giving no prediction.

use crate::duration::PromDuration;
use crate::format;
use crate::model::{CapacityModel, Direction, Threshold};

/// The rule's two parameters (`[replay.baseline]` in the config).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BaselineRule {
    /// How much recent history the line is fitted on (`window`, default 6h).
    pub window: PromDuration,
    /// How far ahead the line is extrapolated (`ahead`, default 24h).
    pub ahead: PromDuration,
}

impl Default for BaselineRule {
    /// The node-mixin's filesystem rule: `predict_linear(...[6h], 24 * 60 * 60)`.
    fn default() -> BaselineRule {
        BaselineRule {
            window: PromDuration::from_secs(6 * 3600),
            ahead: PromDuration::from_secs(24 * 3600),
        }
    }
}

/// What the rule said at one moment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BaselineCall {
    /// The line's value `ahead` after the moment, in the model's unit.
    pub predicted: f64,
    /// Whether it is past the threshold (at or above it; at or below it for a model of what
    /// remains): the rule fires.
    pub fires: bool,
}

impl BaselineRule {
    /// The rule as an SRE would write it for `model`, e.g.
    /// `predict_linear((used)[6h:5m], 86400) >= 0.9 * capacity`.
    pub fn expression(&self, model: &CapacityModel) -> String {
        let comparison = match model.direction {
            Direction::Above => ">=",
            Direction::Below => "<=",
        };
        let limit = match model.threshold {
            Threshold::Fraction(fraction) => format!("{} * capacity", format::number(fraction)),
            Threshold::Absolute(value) => format::number(value),
        };
        format!(
            "predict_linear(({})[{}:{}], {}) {comparison} {limit}",
            model.usage_query().trim(),
            self.window,
            model.step,
            self.ahead.as_secs_f64()
        )
    }

    /// The rule evaluated at `at` on `samples` (time, value), sorted by time, against
    /// `threshold`; `None` with fewer than two finite samples in the window (Prometheus then
    /// returns nothing, and nothing fires).
    pub fn evaluate(
        &self,
        samples: &[(f64, f64)],
        at: f64,
        threshold: f64,
        direction: Direction,
    ) -> Option<BaselineCall> {
        let window = self.window.as_secs_f64();
        let from = samples.partition_point(|(t, _)| *t <= at - window);
        let to = samples.partition_point(|(t, _)| *t <= at);
        let in_window = samples.get(from..to)?;
        let predicted = predict_linear(in_window, at, self.ahead.as_secs_f64())?;
        let fires = match direction {
            Direction::Above => predicted >= threshold,
            Direction::Below => predicted <= threshold,
        };
        Some(BaselineCall { predicted, fires })
    }
}

/// Prometheus' `predict_linear`: the least-squares line through `samples`, with time measured
/// from `at`, read `ahead` seconds after `at`. Non-finite values are left out; `None` with
/// fewer than two samples left.
pub fn predict_linear(samples: &[(f64, f64)], at: f64, ahead: f64) -> Option<f64> {
    let finite: Vec<(f64, f64)> = samples.iter().copied().filter(|(_, v)| v.is_finite()).collect();
    if finite.len() < 2 {
        return None;
    }
    let (slope, intercept) = linear_regression(&finite, at);
    Some(intercept + slope * ahead)
}

/// Slope and intercept (at `at`) of the least-squares line, as Prometheus computes them:
/// Kahan-compensated sums, and a constant series is its own intercept with slope 0.
fn linear_regression(samples: &[(f64, f64)], at: f64) -> (f64, f64) {
    let first = samples[0].1;
    if samples.iter().all(|(_, v)| *v == first) {
        return (0.0, first);
    }
    let n = samples.len() as f64;
    let (mut sum_x, mut sum_y, mut sum_xy, mut sum_x2) =
        (Kahan::default(), Kahan::default(), Kahan::default(), Kahan::default());
    for &(t, y) in samples {
        let x = t - at;
        sum_x.add(x);
        sum_y.add(y);
        sum_xy.add(x * y);
        sum_x2.add(x * x);
    }
    let (sum_x, sum_y, sum_xy, sum_x2) = (sum_x.total(), sum_y.total(), sum_xy.total(), sum_x2.total());
    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    let intercept = sum_y / n - slope * sum_x / n;
    (slope, intercept)
}

/// A Kahan-Babuška (Neumaier) compensated sum, as Prometheus' `kahanSumInc`.
#[derive(Default)]
struct Kahan {
    sum: f64,
    compensation: f64,
}

impl Kahan {
    fn add(&mut self, value: f64) {
        let t = self.sum + value;
        if t.is_infinite() {
            self.compensation = 0.0;
        } else if self.sum.abs() >= value.abs() {
            self.compensation += (self.sum - t) + value;
        } else {
            self.compensation += (value - t) + self.sum;
        }
        self.sum = t;
    }

    fn total(&self) -> f64 {
        self.sum + self.compensation
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(at: f64, step: f64, points: usize, value_at: impl Fn(f64) -> f64) -> Vec<(f64, f64)> {
        (0..points)
            .map(|i| {
                let t = at - (points - 1 - i) as f64 * step;
                (t, value_at(t))
            })
            .collect()
    }

    #[test]
    fn a_straight_line_is_extrapolated_exactly_from_the_evaluation_time() {
        // 2 units per hour through 100 at t = 36,000 s.
        let value = |t: f64| 100.0 + 2.0 * (t - 36_000.0) / 3600.0;
        let samples = line(36_000.0, 300.0, 73, value);
        let predicted = predict_linear(&samples, 36_000.0, 86_400.0).expect("prediction");
        assert!((predicted - 148.0).abs() < 1e-9, "{predicted}");
        // Evaluated later than the last sample, the intercept moves with the evaluation time.
        let later = predict_linear(&samples, 36_000.0 + 1800.0, 0.0).expect("prediction");
        assert!((later - 101.0).abs() < 1e-9, "{later}");
    }

    #[test]
    fn least_squares_on_noisy_points_matches_the_closed_form() {
        let samples = [(0.0, 1.0), (10.0, 3.0), (20.0, 2.0), (30.0, 6.0)];
        // t̄ = 15, ȳ = 3, Sty = 70, Stt = 500: slope 0.14, the line at 30 is 3 + 0.14 × 15 = 5.1,
        // and 10 s later 5.1 + 1.4.
        let predicted = predict_linear(&samples, 30.0, 10.0).expect("prediction");
        assert!((predicted - 6.5).abs() < 1e-12, "{predicted}");
    }

    #[test]
    fn constant_series_single_samples_and_gaps() {
        assert_eq!(predict_linear(&[(0.0, 5.0), (60.0, 5.0)], 60.0, 1e6), Some(5.0));
        assert_eq!(predict_linear(&[(0.0, 5.0)], 60.0, 1.0), None);
        assert_eq!(predict_linear(&[(0.0, 5.0), (60.0, f64::NAN)], 60.0, 1.0), None);
    }

    #[test]
    fn the_window_is_open_on_the_left_and_fires_by_direction() {
        let rule = BaselineRule {
            window: PromDuration::from_secs(600),
            ahead: PromDuration::from_secs(600),
        };
        // Samples at 0, 300, 600, 900: at 900 the window (300, 900] holds 600 and 900 only.
        let samples = [(0.0, 1000.0), (300.0, 0.0), (600.0, 10.0), (900.0, 20.0)];
        let call = rule
            .evaluate(&samples, 900.0, 35.0, Direction::Above)
            .expect("two samples");
        assert!((call.predicted - 40.0).abs() < 1e-9, "{call:?}");
        assert!(call.fires);
        let below = rule
            .evaluate(&samples, 900.0, 35.0, Direction::Below)
            .expect("two samples");
        assert!(!below.fires);
        assert_eq!(
            rule.evaluate(&samples, 0.0, 35.0, Direction::Above),
            None,
            "one sample in (-600, 0]"
        );
    }
}
