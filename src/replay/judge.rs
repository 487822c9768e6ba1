//! Judging alerts against what really happened.
//!
//! The truth of an entity is its usage as read over the whole replay (including what came
//! after each moment), its threshold over time, and how far the data reaches. An alert raised
//! at moment `t` says "the usage may be past the threshold within my horizon": it is **true**
//! when a sample from `t`'s own last sample through `t + horizon` is past the threshold,
//! **false** when none is and the data reaches `t + horizon`, and **pending** when the data
//! ends before that: the truth is not known yet, and nothing is guessed.

use crate::model::{Direction, Threshold};

/// The threshold of one entity over time: constant, or following its capacity.
#[derive(Clone, Debug, PartialEq)]
pub enum ThresholdTrack {
    /// No threshold can be resolved (a share of a capacity that is not known).
    None,
    Constant(f64),
    /// A share of a capacity read over time: (from when, capacity), oldest first.
    OfCapacity {
        fraction: f64,
        levels: Vec<(f64, f64)>,
    },
}

impl ThresholdTrack {
    /// The track for a model's `threshold` and an entity's capacity: constant, or its
    /// capacity series' finite, positive samples (time, value), oldest first.
    pub fn new(threshold: Threshold, capacity: Option<Capacity<'_>>) -> ThresholdTrack {
        match (threshold, capacity) {
            (Threshold::Absolute(value), _) => ThresholdTrack::Constant(value),
            (Threshold::Fraction(fraction), Some(Capacity::Constant(value))) => {
                ThresholdTrack::Constant(fraction * value)
            }
            (Threshold::Fraction(fraction), Some(Capacity::Samples(samples))) => {
                let levels: Vec<(f64, f64)> = samples
                    .iter()
                    .copied()
                    .filter(|(_, v)| v.is_finite() && *v > 0.0)
                    .collect();
                if levels.is_empty() {
                    ThresholdTrack::None
                } else {
                    ThresholdTrack::OfCapacity { fraction, levels }
                }
            }
            (Threshold::Fraction(_), None) => ThresholdTrack::None,
        }
    }

    /// The threshold in force at `t`: with a capacity, the share of its last sample at or
    /// before `t` (of its first, before that).
    pub fn at(&self, t: f64) -> Option<f64> {
        match self {
            ThresholdTrack::None => None,
            ThresholdTrack::Constant(value) => Some(*value),
            ThresholdTrack::OfCapacity { fraction, levels } => {
                let after = levels.partition_point(|(start, _)| *start <= t);
                let (_, capacity) = levels[after.saturating_sub(1)];
                Some(fraction * capacity)
            }
        }
    }
}

/// An entity's capacity as the truth needs it.
#[derive(Clone, Copy, Debug)]
pub enum Capacity<'a> {
    Constant(f64),
    /// (time, value), oldest first.
    Samples(&'a [(f64, f64)]),
}

/// What really happened to one entity.
#[derive(Clone, Debug, PartialEq)]
pub struct Truth {
    /// Its usage (time, value) on the model's step, oldest first, finite values only.
    pub samples: Vec<(f64, f64)>,
    pub threshold: ThresholdTrack,
    pub direction: Direction,
    /// How far the truth is known: the entity's newest sample.
    pub known_until: f64,
}

/// The judgement of one alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The usage was past the threshold within the alert's horizon.
    True,
    /// It was not, and the data covers the whole horizon.
    False,
    /// Not known yet: the data ends before the horizon does.
    Pending,
}

impl Verdict {
    /// The stable name used in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::True => "true",
            Verdict::False => "false",
            Verdict::Pending => "pending",
        }
    }
}

impl Truth {
    /// Builds the truth from samples in any order (non-finite values are dropped).
    pub fn new(mut samples: Vec<(f64, f64)>, threshold: ThresholdTrack, direction: Direction) -> Truth {
        samples.retain(|(t, v)| t.is_finite() && v.is_finite());
        samples.sort_by(|a, b| a.0.total_cmp(&b.0));
        let known_until = samples.last().map_or(f64::NEG_INFINITY, |(t, _)| *t);
        Truth {
            samples,
            threshold,
            direction,
            known_until,
        }
    }

    /// Whether the sample (t, value) is past the threshold in force at t.
    pub fn is_past(&self, t: f64, value: f64) -> bool {
        match (self.threshold.at(t), self.direction) {
            (None, _) => false,
            (Some(limit), Direction::Above) => value >= limit,
            (Some(limit), Direction::Below) => value <= limit,
        }
    }

    /// The samples after `since` (exclusive) up to `until` (inclusive).
    fn between(&self, since: f64, until: f64) -> &[(f64, f64)] {
        let from = self.samples.partition_point(|(t, _)| *t <= since);
        let to = self.samples.partition_point(|(t, _)| *t <= until);
        &self.samples[from..to.max(from)]
    }

    /// Judges an alert raised at `at` that claims a crossing within `horizon` seconds; `step`
    /// is the model's step (the moment's own last sample lies within a step before `at`).
    pub fn judge(&self, at: f64, horizon: f64, step: f64) -> Verdict {
        if self
            .between(at - step, at + horizon)
            .iter()
            .any(|&(t, v)| self.is_past(t, v))
        {
            Verdict::True
        } else if self.known_until >= at + horizon {
            Verdict::False
        } else {
            Verdict::Pending
        }
    }

    /// The first time after `at` (exclusive) that the usage is past the threshold, if the
    /// data shows one.
    pub fn first_past_after(&self, at: f64) -> Option<f64> {
        self.between(at, f64::INFINITY)
            .iter()
            .find(|&&(t, v)| self.is_past(t, v))
            .map(|(t, _)| *t)
    }

    /// The crossings in `(since, until]`: each sample past the threshold whose previous
    /// sample was not (the usage must come back before it can cross again).
    pub fn crossings(&self, since: f64, until: f64) -> Vec<f64> {
        self.samples
            .windows(2)
            .filter(|w| !self.is_past(w[0].0, w[0].1) && self.is_past(w[1].0, w[1].1))
            .map(|w| w[1].0)
            .filter(|t| *t > since && *t <= until)
            .collect()
    }
}

/// The warning lead time one side gave before a crossing at `crossing`: from the first
/// moment of the unbroken run of its alerts still firing at the last moment before the
/// crossing, counting only moments whose horizon reaches the crossing. `None`: it was not
/// firing then (the crossing came unannounced). `alerts[i]` is whether it fired at
/// `moments[i]` (`None`: no plan at that moment, which breaks a run).
pub fn warning_lead(moments: &[f64], alerts: &[Option<bool>], horizon: f64, crossing: f64) -> Option<f64> {
    let before = moments.partition_point(|t| *t < crossing);
    let mut first = None;
    for i in (0..before).rev() {
        if moments[i] < crossing - horizon || alerts[i] != Some(true) {
            break;
        }
        first = Some(moments[i]);
    }
    first.map(|t| crossing - t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn truth(values: &[f64], threshold: f64, direction: Direction) -> Truth {
        let samples = values.iter().enumerate().map(|(i, v)| (i as f64 * 100.0, *v)).collect();
        Truth::new(samples, ThresholdTrack::Constant(threshold), direction)
    }

    #[test]
    fn an_alert_is_true_false_or_pending() {
        // Past the threshold (10) at t = 500 only; the data ends at 900.
        let t = truth(
            &[1.0, 2.0, 3.0, 4.0, 5.0, 12.0, 5.0, 4.0, 3.0, 2.0],
            10.0,
            Direction::Above,
        );
        assert_eq!(t.judge(200.0, 300.0, 100.0), Verdict::True, "500 is within (100, 500]");
        assert_eq!(t.judge(100.0, 300.0, 100.0), Verdict::False, "(0, 400] never past");
        assert_eq!(
            t.judge(550.0, 100.0, 100.0),
            Verdict::True,
            "the moment's own sample at 500"
        );
        assert_eq!(
            t.judge(600.0, 400.0, 100.0),
            Verdict::Pending,
            "the data ends at 900, before 1000"
        );
        assert_eq!(t.judge(600.0, 300.0, 100.0), Verdict::False, "the data reaches 900");
        assert_eq!(t.first_past_after(100.0), Some(500.0));
        assert_eq!(t.first_past_after(500.0), None);
    }

    #[test]
    fn crossings_need_the_usage_to_come_back_first() {
        let t = truth(&[11.0, 1.0, 12.0, 13.0, 1.0, 14.0], 10.0, Direction::Above);
        assert_eq!(t.crossings(f64::NEG_INFINITY, f64::INFINITY), vec![200.0, 500.0]);
        assert_eq!(t.crossings(200.0, 500.0), vec![500.0]);
        // What remains falls to a floor.
        let below = truth(&[50.0, 30.0, 9.0, 8.0], 10.0, Direction::Below);
        assert_eq!(below.crossings(f64::NEG_INFINITY, f64::INFINITY), vec![200.0]);
    }

    #[test]
    fn the_threshold_follows_the_capacity_in_force() {
        let capacity = [(0.0, 100.0), (500.0, 200.0)];
        let track = ThresholdTrack::new(Threshold::Fraction(0.9), Some(Capacity::Samples(&capacity)));
        assert_eq!(track.at(-10.0), Some(90.0));
        assert_eq!(track.at(499.0), Some(90.0));
        assert_eq!(track.at(500.0), Some(180.0));
        assert_eq!(
            ThresholdTrack::new(Threshold::Fraction(0.9), None),
            ThresholdTrack::None
        );
        let t = Truth::new(vec![(400.0, 95.0), (600.0, 95.0)], track, Direction::Above);
        assert_eq!(t.crossings(f64::NEG_INFINITY, f64::INFINITY), Vec::<f64>::new());
        assert!(t.is_past(400.0, 95.0) && !t.is_past(600.0, 95.0));
    }

    #[test]
    fn the_lead_time_runs_from_the_start_of_the_run_still_firing() {
        let moments: Vec<f64> = (0..10).map(|i| i as f64 * 10.0).collect();
        let alerts = [false, true, true, false, true, true, true, true, true, true].map(Some);
        // Crossing at 75: the last moment before it is 70; the run 40..70 is unbroken.
        assert_eq!(warning_lead(&moments, &alerts, 1000.0, 75.0), Some(35.0));
        // A horizon of 20 counts only the moments from 55 on.
        assert_eq!(warning_lead(&moments, &alerts, 20.0, 75.0), Some(15.0));
        // Not firing at the last moment before the crossing: unannounced.
        assert_eq!(warning_lead(&moments, &alerts, 1000.0, 35.0), None);
        // A moment without a plan breaks the run.
        let mut gappy = alerts;
        gappy[6] = None;
        assert_eq!(warning_lead(&moments, &gappy, 1000.0, 75.0), Some(5.0));
    }
}
